/**
 * jittergen's counters as Prometheus metric families, from the status the periodic summary and
 * `status` read (one per instance: every series has its `interface`): per-rule packets matched,
 * selected, dropped, delayed, reordered, duplicated, corrupted and over the rate limit, the delay
 * histogram (the program's log2 microsecond buckets, bounds in seconds), the engine's own
 * counters and the packets the ring to user space had no room for (userspace engine).
 */
import { eventsLost, log2MicrosecondBuckets, type HistogramSample, type MetricFamily, type Sample } from "../common/metrics.js";
import type { JittergenStatus, RuleStatus } from "./index.js";

const RULE_COUNTERS: readonly [keyof RuleStatus & string, string, string][] = [
  ["matched", "tsebpf_jittergen_rule_matched_total", "Packets each rule matched."],
  ["selected", "tsebpf_jittergen_rule_selected_total", "Of those, selected by the rule's percent or loss model."],
  ["dropped", "tsebpf_jittergen_rule_dropped_total", "Packets each rule dropped."],
  ["delayed", "tsebpf_jittergen_rule_delayed_total", "Packets each rule delayed (jitter, reorder)."],
  ["reordered", "tsebpf_jittergen_rule_reordered_total", "Packets each rule held back behind their successors (reorder)."],
  ["duplicated", "tsebpf_jittergen_rule_duplicated_total", "Packets each rule sent twice."],
  ["corrupted", "tsebpf_jittergen_rule_corrupted_total", "Packets each rule corrupted (one payload bit flipped)."],
  ["overlimit", "tsebpf_jittergen_rule_overlimit_total", "Packets over each rule's rate limit."],
];

export function jittergenMetrics(instances: readonly JittergenStatus[]): MetricFamily[] {
  const perRule = RULE_COUNTERS.map(() => [] as Sample[]);
  const ruleInfo: Sample[] = [];
  const delays: HistogramSample[] = [];
  const packets: Sample[] = [];
  const laps: Sample[] = [];
  const released: Sample[] = [];
  const late: HistogramSample[] = [];
  const handed: Sample[] = [];
  const unheld: Sample[] = [];
  const holding: Sample[] = [];
  const flushed: Sample[] = [];
  const sendErrors: Sample[] = [];
  const info: Sample[] = [];
  const lost: { labels: { interface: string }; value: bigint }[] = [];
  for (const s of instances) {
    const at = { interface: s.outIf };
    for (const r of s.rules) {
      const labels = { ...at, rule: r.key };
      RULE_COUNTERS.forEach(([field], i) => perRule[i]?.push({ labels, value: r[field] as bigint }));
      ruleInfo.push({ labels: { ...labels, description: r.description }, value: 1 });
      // The program keeps the sum in ns; status gives its mean (whole ns): mean × count is the sum within count ns.
      delays.push({ labels, ...log2MicrosecondBuckets(r.histogram), sum: (r.meanDelayMs * Number(r.delayed)) / 1e3 });
    }
    packets.push({ labels: at, value: s.packets });
    laps.push({ labels: at, value: s.laps });
    released.push({ labels: at, value: s.released });
    late.push({ labels: at, ...log2MicrosecondBuckets(s.lateHistogram), sum: (s.meanLateMs * Number(s.released)) / 1e3 });
    handed.push({ labels: at, value: s.handed });
    unheld.push({ labels: at, value: s.unheld });
    holding.push({ labels: at, value: s.holding });
    flushed.push({ labels: at, value: s.flushed });
    sendErrors.push({ labels: at, value: s.sendErrors });
    info.push({ labels: { ...at, engine: s.engine }, value: 1 });
    lost.push({ labels: at, value: s.ringFull });
  }
  return [
    { name: "tsebpf_jittergen_packets_total", help: "Packets leaving the interface that jittergen saw.", type: "counter", samples: packets },
    ...RULE_COUNTERS.map(([, name, help], i): MetricFamily => ({ name, help, type: "counter", samples: perRule[i] ?? [] })),
    { name: "tsebpf_jittergen_rule_info", help: "What each rule does (always 1).", type: "gauge", samples: ruleInfo },
    { name: "tsebpf_jittergen_delay_seconds", help: "Delays given by each rule (log2 buckets: bound i is 2^(i+1) microseconds; a delay equal to a bound counts in the next bucket).", type: "histogram", samples: delays },
    { name: "tsebpf_jittergen_laps_total", help: "recirculate engine: laps of held packets.", type: "counter", samples: laps },
    { name: "tsebpf_jittergen_released_total", help: "recirculate and userspace engines: held packets released.", type: "counter", samples: released },
    { name: "tsebpf_jittergen_release_lateness_seconds", help: "recirculate and userspace engines: how late held packets were released (release time minus deadline; log2 buckets as the delays').", type: "histogram", samples: late },
    { name: "tsebpf_jittergen_handed_total", help: "userspace engine: packets copied to user space to be held.", type: "counter", samples: handed },
    { name: "tsebpf_jittergen_unheld_total", help: "userspace engine: packets too large (or GSO) to copy, sent at once undelayed.", type: "counter", samples: unheld },
    { name: "tsebpf_jittergen_holding_packets", help: "userspace engine: packets held now.", type: "gauge", samples: holding },
    { name: "tsebpf_jittergen_flushed_total", help: "userspace engine: held packets sent early at exit.", type: "counter", samples: flushed },
    { name: "tsebpf_jittergen_send_errors_total", help: "userspace engine: packets lost to a failed send.", type: "counter", samples: sendErrors },
    { name: "tsebpf_jittergen_info", help: "The engine each instance runs (always 1).", type: "gauge", samples: info },
    eventsLost("jittergen", lost),
  ];
}
