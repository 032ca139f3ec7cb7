/**
 * jittergen's counters as Prometheus metric families, from the status the periodic summary and
 * `status` read (one per instance: every series has its `interface`): per-rule packets matched,
 * selected, dropped, delayed, reordered, duplicated, corrupted and over the rate limit, the delay
 * histogram (the program's log2 microsecond buckets, bounds in seconds), the engine's own
 * counters and the packets the ring to user space had no room for (userspace engine).
 */
import { perInstance } from "../common/metric-families.js";
import { eventsLost, log2MicrosecondBuckets, type Labels, type MetricFamily, type MetricValue } from "../common/metrics.js";
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
  const at = (s: JittergenStatus): Labels => ({ interface: s.outIf });
  const each = (name: string, help: string, type: "counter" | "gauge", value: (s: JittergenStatus) => MetricValue): MetricFamily => perInstance(instances, at, name, help, type, value);
  const rules = instances.flatMap((s) => s.rules.map((r) => ({ labels: { ...at(s), rule: r.key }, r })));
  return [
    each("tsebpf_jittergen_packets_total", "Packets leaving the interface that jittergen saw.", "counter", (s) => s.packets),
    ...RULE_COUNTERS.map(([field, name, help]): MetricFamily => ({ name, help, type: "counter", samples: rules.map(({ labels, r }) => ({ labels, value: r[field] as bigint })) })),
    { name: "tsebpf_jittergen_rule_info", help: "What each rule does (always 1).", type: "gauge", samples: rules.map(({ labels, r }) => ({ labels: { ...labels, description: r.description }, value: 1 })) },
    {
      name: "tsebpf_jittergen_delay_seconds",
      help: "Delays given by each rule (log2 buckets: bound i is 2^(i+1) microseconds; a delay equal to a bound counts in the next bucket).",
      type: "histogram",
      // The program keeps the sum in ns; status gives its mean (whole ns): mean × count is the sum within count ns.
      samples: rules.map(({ labels, r }) => ({ labels, ...log2MicrosecondBuckets(r.histogram), sum: (r.meanDelayMs * Number(r.delayed)) / 1e3 })),
    },
    each("tsebpf_jittergen_laps_total", "recirculate engine: laps of held packets.", "counter", (s) => s.laps),
    each("tsebpf_jittergen_released_total", "recirculate and userspace engines: held packets released.", "counter", (s) => s.released),
    {
      name: "tsebpf_jittergen_release_lateness_seconds",
      help: "recirculate and userspace engines: how late held packets were released (release time minus deadline; log2 buckets as the delays').",
      type: "histogram",
      samples: instances.map((s) => ({ labels: at(s), ...log2MicrosecondBuckets(s.lateHistogram), sum: (s.meanLateMs * Number(s.released)) / 1e3 })),
    },
    each("tsebpf_jittergen_handed_total", "userspace engine: packets copied to user space to be held.", "counter", (s) => s.handed),
    each("tsebpf_jittergen_unheld_total", "userspace engine: packets too large (or GSO) to copy, sent at once undelayed.", "counter", (s) => s.unheld),
    each("tsebpf_jittergen_holding_packets", "userspace engine: packets held now.", "gauge", (s) => s.holding),
    each("tsebpf_jittergen_flushed_total", "userspace engine: held packets sent early at exit.", "counter", (s) => s.flushed),
    each("tsebpf_jittergen_send_errors_total", "userspace engine: packets lost to a failed send.", "counter", (s) => s.sendErrors),
    { name: "tsebpf_jittergen_info", help: "The engine each instance runs (always 1).", type: "gauge", samples: instances.map((s) => ({ labels: { ...at(s), engine: s.engine }, value: 1 })) },
    eventsLost("jittergen", instances.map((s) => ({ labels: at(s), value: s.ringFull }))),
  ];
}
