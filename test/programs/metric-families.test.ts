/** The family builders the programs' metrics share: a series per instance, one count split by a label. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { byLabel, perInstance } from "../../src/programs/common/metric-families.js";
import { writeExposition } from "../../src/programs/common/metrics.js";
import { assertProperty } from "../helpers/property.js";

describe("metric family builders", () => {
  it("perInstance: one series per instance, in order, labelled and valued by the instance", () => {
    assertProperty(
      fc.property(fc.uniqueArray(fc.record({ name: fc.stringMatching(/^[a-z]{1,8}$/), n: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }), { selector: (s) => s.name, maxLength: 10 }), (instances) => {
        const f = perInstance(instances, (s) => ({ interface: s.name }), "x_total", "X.", "counter", (s) => s.n);
        expect(f).toEqual({ name: "x_total", help: "X.", type: "counter", samples: instances.map((s) => ({ labels: { interface: s.name }, value: s.n })) });
        expect(() => writeExposition([f])).not.toThrow();
      }),
      { numRuns: 100 },
    );
  });

  it("byLabel: a series per key, in the keys' order, with the other labels kept", () => {
    const f = byLabel("c_total", "C.", "counter", "by", { comm: 3, cgroup: 4n }, { engine: "lsm" });
    expect(f.samples).toEqual([
      { labels: { engine: "lsm", by: "comm" }, value: 3 },
      { labels: { engine: "lsm", by: "cgroup" }, value: 4n },
    ]);
    expect(writeExposition([f])).toBe('# HELP c_total C.\n# TYPE c_total counter\nc_total{engine="lsm",by="comm"} 3\nc_total{engine="lsm",by="cgroup"} 4\n');
  });
});
