/**
 * packetfilter's counters as Prometheus metric families: packets and bytes by family, verdict and
 * what decided it (the verdicts map: what the periodic summary reads), every rule's hits and the
 * number of rules (the rule maps: what `status --rules` reads), and the drop samples lost.
 */
import type { MetricFamily, Sample } from "../common/metrics.js";
import { eventsLost } from "../common/metrics.js";
import { formatPrefix, type Family } from "../common/net.js";
import type { Counter, Counters, RuleState } from "./index.js";

const FAMILIES: readonly Family[] = ["ipv4", "ipv6"];

/** The rules of each family with their hits (PacketFilter.rules), or how to read them. */
export type RulesByFamily = Readonly<Record<Family, readonly RuleState[] | (() => readonly RuleState[])>>;

/** Rules read as they are written (PacketFilter.ruleSnapshot): both families from one generation. */
export interface RuleStream {
  /** A family's rules, a slice at a time as they are read, the event loop running between slices. */
  stream(family: Family): AsyncIterable<readonly RuleState[]>;
  /** The same, read at once. */
  rules(family: Family): readonly RuleState[];
  close(): void;
}

/**
 * The families of a filter's counters and rules. Rules given as readers are read when their
 * series are written, one family at a time (each read once). Given an opener of a RuleStream (what
 * a scrape uses), it is opened when the rule series start and closed when they end: the series
 * come as the rules are read, in bounded slices between which the event loop runs, and the rule
 * counts are those of the same read.
 */
export function packetfilterMetrics(c: Counters, rules: RulesByFamily | (() => RuleStream)): MetricFamily[] {
  const rows: [Record<string, string>, Counter][] = [];
  for (const f of FAMILIES) {
    rows.push([{ family: f, verdict: "pass", reason: "rule" }, c[f].passed]);
    rows.push([{ family: f, verdict: "drop", reason: "rule" }, c[f].dropped]);
    rows.push([{ family: f, verdict: "pass", reason: "default" }, c[f].passedByDefault]);
    rows.push([{ family: f, verdict: "drop", reason: "default" }, c[f].droppedByDefault]);
  }
  rows.push([{ family: "other", verdict: "pass", reason: "not_ip" }, c.notIp]);
  rows.push([{ family: "other", verdict: "pass", reason: "malformed" }, c.malformed]);
  const hitSample = (f: Family, r: RuleState): Sample => ({ labels: { family: f, rule: formatPrefix(r.prefix), action: r.action }, value: r.hits });
  const countSamples = (tally: ReadonlyMap<Family, { allow: number; total: number }>): Sample[] =>
    FAMILIES.flatMap((f) => {
      const t = tally.get(f) ?? { allow: 0, total: 0 };
      return [
        { labels: { family: f, action: "allow" }, value: t.allow },
        { labels: { family: f, action: "block" }, value: t.total - t.allow },
      ];
    });
  /** Allow rules and all rules by family, as the hits were written. */
  const tally = new Map<Family, { allow: number; total: number }>();
  let hits: Iterable<Sample> | AsyncIterable<readonly Sample[]>;
  let counts: Iterable<Sample>;
  if (typeof rules === "function") {
    const open = rules;
    hits = {
      [Symbol.asyncIterator]: async function* (): AsyncGenerator<Sample[]> {
        const stream = open();
        try {
          for (const f of FAMILIES) {
            const t = { allow: 0, total: 0 };
            for await (const rows of stream.stream(f)) {
              const samples: Sample[] = [];
              for (const r of rows) {
                t.total++;
                if (r.action === "allow") t.allow++;
                samples.push(hitSample(f, r));
              }
              yield samples;
            }
            tally.set(f, t);
          }
        } finally {
          stream.close();
        }
      },
    };
    counts = {
      [Symbol.iterator]: function* (): Generator<Sample> {
        if (tally.size < FAMILIES.length) {
          // The hits were not written (a caller writing this family alone): one read of its own.
          const stream = open();
          try {
            for (const f of FAMILIES) {
              const list = stream.rules(f);
              tally.set(f, { allow: list.filter((r) => r.action === "allow").length, total: list.length });
            }
          } finally {
            stream.close();
          }
        }
        yield* countSamples(tally);
      },
    };
  } else {
    const read = new Map<Family, readonly RuleState[]>();
    const rulesOf = (f: Family): readonly RuleState[] => {
      let list = read.get(f);
      if (!list) {
        const given = rules[f];
        list = typeof given === "function" ? given() : given;
        read.set(f, list);
      }
      return list;
    };
    // A million rules' series are made as they are written (in pieces, the event loop running between them).
    hits = {
      [Symbol.iterator]: function* (): Generator<Sample> {
        for (const f of FAMILIES) for (const r of rulesOf(f)) yield hitSample(f, r);
      },
    };
    counts = {
      [Symbol.iterator]: function* (): Generator<Sample> {
        for (const f of FAMILIES) {
          const list = rulesOf(f);
          tally.set(f, { allow: list.filter((r) => r.action === "allow").length, total: list.length });
        }
        yield* countSamples(tally);
      },
    };
  }
  return [
    {
      name: "tsebpf_packetfilter_packets_total",
      help: "Packets by address family (other: not IP), verdict (pass, drop) and what decided it (rule, default, not_ip, malformed).",
      type: "counter",
      samples: rows.map(([labels, v]) => ({ labels, value: v.packets })),
    },
    { name: "tsebpf_packetfilter_bytes_total", help: "Bytes of those packets (whole frames).", type: "counter", samples: rows.map(([labels, v]) => ({ labels, value: v.bytes })) },
    { name: "tsebpf_packetfilter_rule_hits_total", help: "Packets each rule decided (its source address or prefix and action).", type: "counter", samples: hits },
    { name: "tsebpf_packetfilter_rules", help: "Rules installed, by address family and action.", type: "gauge", samples: counts },
    eventsLost("packetfilter", c.samplesLost.packets),
  ];
}
