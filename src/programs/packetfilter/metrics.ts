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

/**
 * The families of a filter's counters and rules. Rules given as readers are read when their
 * series are written, one family at a time (each read once): a scrape of a large rule set holds
 * the event loop for one family's read, not both.
 */
export function packetfilterMetrics(c: Counters, rules: RulesByFamily): MetricFamily[] {
  const rows: [Record<string, string>, Counter][] = [];
  for (const f of FAMILIES) {
    rows.push([{ family: f, verdict: "pass", reason: "rule" }, c[f].passed]);
    rows.push([{ family: f, verdict: "drop", reason: "rule" }, c[f].dropped]);
    rows.push([{ family: f, verdict: "pass", reason: "default" }, c[f].passedByDefault]);
    rows.push([{ family: f, verdict: "drop", reason: "default" }, c[f].droppedByDefault]);
  }
  rows.push([{ family: "other", verdict: "pass", reason: "not_ip" }, c.notIp]);
  rows.push([{ family: "other", verdict: "pass", reason: "malformed" }, c.malformed]);
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
  const hits = function* (): Generator<Sample> {
    for (const f of FAMILIES) for (const r of rulesOf(f)) yield { labels: { family: f, rule: formatPrefix(r.prefix), action: r.action }, value: r.hits };
  };
  const counts = function* (): Generator<Sample> {
    for (const f of FAMILIES) {
      let allow = 0;
      const list = rulesOf(f);
      for (const r of list) if (r.action === "allow") allow++;
      yield { labels: { family: f, action: "allow" }, value: allow };
      yield { labels: { family: f, action: "block" }, value: list.length - allow };
    }
  };
  return [
    {
      name: "tsebpf_packetfilter_packets_total",
      help: "Packets by address family (other: not IP), verdict (pass, drop) and what decided it (rule, default, not_ip, malformed).",
      type: "counter",
      samples: rows.map(([labels, v]) => ({ labels, value: v.packets })),
    },
    { name: "tsebpf_packetfilter_bytes_total", help: "Bytes of those packets (whole frames).", type: "counter", samples: rows.map(([labels, v]) => ({ labels, value: v.bytes })) },
    { name: "tsebpf_packetfilter_rule_hits_total", help: "Packets each rule decided (its source address or prefix and action).", type: "counter", samples: { [Symbol.iterator]: hits } },
    { name: "tsebpf_packetfilter_rules", help: "Rules installed, by address family and action.", type: "gauge", samples: { [Symbol.iterator]: counts } },
    eventsLost("packetfilter", c.samplesLost.packets),
  ];
}
