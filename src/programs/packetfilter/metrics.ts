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

/** The rules of each family with their hits (PacketFilter.rules). */
export type RulesByFamily = Readonly<Record<Family, readonly RuleState[]>>;

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
  // A million rules' series are made as they are written (in pieces, the event loop running between them).
  const hits = function* (): Generator<Sample> {
    for (const f of FAMILIES) for (const r of rules[f]) yield { labels: { family: f, rule: formatPrefix(r.prefix), action: r.action }, value: r.hits };
  };
  const counts: Sample[] = [];
  for (const f of FAMILIES) {
    let allow = 0;
    for (const r of rules[f]) if (r.action === "allow") allow++;
    counts.push({ labels: { family: f, action: "allow" }, value: allow }, { labels: { family: f, action: "block" }, value: rules[f].length - allow });
  }
  return [
    {
      name: "tsebpf_packetfilter_packets_total",
      help: "Packets by address family (other: not IP), verdict (pass, drop) and what decided it (rule, default, not_ip, malformed).",
      type: "counter",
      samples: rows.map(([labels, v]) => ({ labels, value: v.packets })),
    },
    { name: "tsebpf_packetfilter_bytes_total", help: "Bytes of those packets (whole frames).", type: "counter", samples: rows.map(([labels, v]) => ({ labels, value: v.bytes })) },
    { name: "tsebpf_packetfilter_rule_hits_total", help: "Packets each rule decided (its source address or prefix and action).", type: "counter", samples: { [Symbol.iterator]: hits } },
    { name: "tsebpf_packetfilter_rules", help: "Rules installed, by address family and action.", type: "gauge", samples: counts },
    eventsLost("packetfilter", c.samplesLost.packets),
  ];
}
