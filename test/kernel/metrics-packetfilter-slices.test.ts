/**
 * A scrape of a rule set larger than one slice (SLICE_ENTRIES): the rules are read in slices
 * between which the event loop runs (a callback run once per loop turn sees the middle of the read: an ordering
 * assertion, not a timed one), every rule's series comes once with its exact hits, and a scrape
 * across reloads shows the generation it started with, whole.
 */
import { get as httpGet } from "node:http";
import { expect, it } from "vitest";
import { MetricsServer } from "../../src/programs/common/metrics-server.js";
import { formatPrefix, type Family } from "../../src/programs/common/net.js";
import { parseConfig } from "../../src/programs/packetfilter/config.js";
import { PacketFilter, SLICE_ENTRIES, type RuleSnapshot, type RuleState } from "../../src/programs/packetfilter/index.js";
import { packetfilterMetrics, type RuleStream } from "../../src/programs/packetfilter/metrics.js";
import { parseExposition } from "../helpers/exposition.js";
import { seriesOf } from "../helpers/metrics-run.js";
import { describeKernel } from "../helpers/kernel.js";
import { frame } from "../helpers/packets.js";

/** More IPv4 hosts than two slices hold; IPv6 prefixes of more lengths than the hash takes (an LPM trie: no batch reads). */
const V4 = SLICE_ENTRIES * 2 + 1000;
const v4Host = (i: number, third = 0) => `10.${third + ((i >> 16) & 255)}.${(i >> 8) & 255}.${i & 255}`;
const V6 = ["fd00::/8", "fd00:1::/32", "fd00:1:2::/48", "fd00:1:2:3::/64", "fd00:1:2:3:4::/80", "fd00:1:2:3:4:5::/96", "fd00:1:2:3:4:5:6:0/112"];

const config = (third: number) =>
  parseConfig(JSON.stringify({ rules: { interface: "unused", ipv4: { default: "allow", block: Array.from({ length: V4 }, (_, i) => v4Host(i, third)) }, ipv6: { default: "block", allow: V6 } } }));

function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false }, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (d: string) => (body += d));
      r.on("end", () => (r.statusCode === 200 ? resolve(body) : reject(new Error(`status ${r.statusCode}: ${body}`))));
    }).on("error", reject);
  });
}

/** A snapshot that counts the rows it handed out (what a tick looks at). */
class Counted implements RuleStream {
  rows = 0;
  constructor(readonly inner: RuleSnapshot) {}
  async *stream(family: Family): AsyncGenerator<RuleState[]> {
    for await (const rows of this.inner.stream(family)) {
      this.rows += rows.length;
      yield rows;
    }
  }
  rules(family: Family): readonly RuleState[] {
    return this.inner.rules(family);
  }
  close(): void {
    this.inner.close();
  }
}

const expected = (third: number, hits: ReadonlyMap<string, number> = new Map()) => {
  const out: Record<string, number> = {};
  for (let i = 0; i < V4; i++) out[`action=block,family=ipv4,rule=${v4Host(i, third)}`] = hits.get(v4Host(i, third)) ?? 0;
  for (const p of V6) out[`action=allow,family=ipv6,rule=${formatPrefix(parseConfig(JSON.stringify({ rules: { interface: "x", ipv6: { allow: [p] } } })).ipv6.rules[0]!.prefix)}`] = 0;
  return out;
};

/**
 * Calls `fn` once in every turn of the event loop (a chain of immediates), however fast the
 * machine: what sees the read between two slices, where a timer might not be due yet.
 */
function everyTurn(fn: () => void): { stop(): void } {
  let stopped = false;
  const next = () => {
    if (stopped) return;
    fn();
    setImmediate(next);
  };
  setImmediate(next);
  return { stop: () => void (stopped = true) };
}

describeKernel("packetfilter metrics: rules read in slices", () => {
  it("a scrape larger than one slice lets a timer run between slices and gives every rule's series once, with its hits", async () => {
    using filter = PacketFilter.load(config(0));
    // Hits on two rules, through the program itself.
    const program = filter.program;
    if (!program) throw new Error("no program");
    for (let i = 0; i < 3; i++) expect(program.testRun({ data: frame({ src: v4Host(5), dst: "192.0.2.1" }) }).returnValue).toBe(1);
    expect(program.testRun({ data: frame({ src: v4Host(V4 - 1), dst: "192.0.2.1" }) }).returnValue).toBe(1);
    let stream: Counted | undefined;
    const server = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, () =>
      packetfilterMetrics(filter.counters(), () => {
        stream = new Counted(filter.ruleSnapshot());
        return stream;
      }),
    );
    const seen: number[] = [];
    const ticker = everyTurn(() => seen.push(stream?.rows ?? 0));
    try {
      const body = await scrape(server.url);
      ticker.stop();
      const total = V4 + V6.length;
      // A tick came while the rules were being read: after some rows, before the last.
      expect(seen.some((n) => n > 0 && n < total)).toBe(true);
      expect(stream?.rows).toBe(total);
      // The strict parser refuses a series given twice; the map of series equals the rule set.
      const m = parseExposition(body);
      expect(m.get("tsebpf_packetfilter_rule_hits_total")?.samples.length).toBe(total);
      expect(seriesOf(m, "tsebpf_packetfilter_rule_hits_total")).toEqual(
        expected(
          0,
          new Map([
            [v4Host(5), 3],
            [v4Host(V4 - 1), 1],
          ]),
        ),
      );
      expect(seriesOf(m, "tsebpf_packetfilter_rules")).toEqual({ "action=allow,family=ipv4": 0, "action=block,family=ipv4": V4, "action=allow,family=ipv6": V6.length, "action=block,family=ipv6": 0 });
    } finally {
      ticker.stop();
      await server.close();
    }
  });

  it("a scrape across two reloads shows the generation it started with, whole; the next one, the new rules", async () => {
    using filter = PacketFilter.load(config(0));
    let reloads: Promise<void> | undefined;
    let stream: Counted | undefined;
    const server = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, () =>
      packetfilterMetrics(filter.counters(), () => {
        stream = new Counted(filter.ruleSnapshot());
        return stream;
      }),
    );
    // Once the read is under way: two reloads, the second rewriting the slot the scrape reads.
    let rowsAtReload = 0;
    const ticker = everyTurn(() => {
      if (reloads || (stream?.rows ?? 0) === 0) return;
      rowsAtReload = stream?.rows ?? 0;
      reloads = filter.apply(config(100)).then(() => filter.apply(config(200)));
    });
    try {
      const body = await scrape(server.url);
      ticker.stop();
      expect(reloads).toBeDefined();
      // The reloads came in the middle of the read.
      expect(rowsAtReload).toBeLessThan(V4 + V6.length);
      await reloads;
      expect(seriesOf(parseExposition(body), "tsebpf_packetfilter_rule_hits_total")).toEqual(expected(0));
      const after = parseExposition(await scrape(server.url));
      expect(seriesOf(after, "tsebpf_packetfilter_rule_hits_total")).toEqual(expected(200));
      expect(filter.rules("ipv4").map((r) => formatPrefix(r.prefix)).sort()).toEqual(Array.from({ length: V4 }, (_, i) => v4Host(i, 200)).sort());
    } finally {
      ticker.stop();
      await server.close();
    }
  });
  it("a scrape cut short by the client ends its read: the snapshot is closed before its last rule", async () => {
    using filter = PacketFilter.load(config(0));
    const closedAt: number[] = [];
    const server = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, () =>
      packetfilterMetrics(filter.counters(), () => {
        const stream = new Counted(filter.ruleSnapshot());
        const close = stream.close.bind(stream);
        stream.close = () => {
          closedAt.push(stream.rows);
          close();
        };
        return stream;
      }),
    );
    try {
      await new Promise<void>((resolve) => {
        const req = httpGet(server.url, { agent: false }, (r) => r.once("data", () => (req.destroy(), resolve())));
        req.on("error", () => undefined);
      });
      for (let i = 0; i < 2000 && closedAt.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      expect(closedAt).toHaveLength(1);
      expect(closedAt[0]).toBeLessThan(V4 + V6.length);
      // Nothing left held: the filter reads (and reloads) as before.
      await filter.apply(config(1));
      expect(filter.rules("ipv4")).toHaveLength(V4);
    } finally {
      await server.close();
    }
  });
});
