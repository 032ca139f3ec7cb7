/**
 * Families whose series come from async iterables (a packetfilter scrape reading its rules in
 * slices): expositionAsync writes the same text as writeExposition does for the same series given
 * at once, refuses what it refuses, and the sync writer names the async family it cannot write.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { expositionAsync, writeExposition, type MetricFamily, type Sample } from "../../src/programs/common/metrics.js";
import { assertProperty } from "../helpers/property.js";

/** The samples in batches of `every`, a turn of the event loop before each. */
async function* slowly(samples: readonly Sample[], every: number): AsyncGenerator<Sample[]> {
  for (let i = 0; i < samples.length; i += every) {
    await new Promise((r) => setImmediate(r));
    yield samples.slice(i, i + every);
  }
}

const collect = async (families: Iterable<MetricFamily>): Promise<string> => {
  let text = "";
  for await (const piece of expositionAsync(families)) text += piece;
  return text;
};

const anySamples = fc.uniqueArray(fc.record({ rule: fc.string({ maxLength: 6 }), value: fc.nat() }), { selector: (s) => s.rule, maxLength: 700 }).map((xs) => xs.map((x) => ({ labels: { rule: x.rule }, value: x.value })));

describe("expositionAsync", () => {
  it("writes async series exactly as the sync writer writes the same series (any count, across piece boundaries)", async () => {
    await assertProperty(
      fc.asyncProperty(anySamples, fc.integer({ min: 1, max: 300 }), async (samples, every) => {
        const sync = writeExposition([
          { name: "t_hits_total", help: "Hits.", type: "counter", samples },
          { name: "t_rules", help: "Rules.", type: "gauge", samples: [{ value: samples.length }] },
        ]);
        const async = await collect([
          { name: "t_hits_total", help: "Hits.", type: "counter", samples: { [Symbol.asyncIterator]: () => slowly(samples, every) } },
          { name: "t_rules", help: "Rules.", type: "gauge", samples: [{ value: samples.length }] },
        ]);
        expect(async).toBe(sync);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses a series given twice in async series; the sync writer names an async family it cannot write", async () => {
    const twice = [{ labels: { rule: "a" }, value: 1 }, { labels: { rule: "a" }, value: 2 }];
    await expect(collect([{ name: "t_total", help: "T.", type: "counter", samples: { [Symbol.asyncIterator]: () => slowly(twice, 1) } }])).rejects.toThrow('metric t_total: series {rule="a"} given twice');
    expect(() => writeExposition([{ name: "t_total", help: "T.", type: "counter", samples: { [Symbol.asyncIterator]: () => slowly([], 1) } }])).toThrow("metric t_total: its series are read asynchronously (write it with expositionAsync)");
  });
});
