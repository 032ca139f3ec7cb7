/**
 * Building a program's metric families from what its status holds: a family with one series per
 * instance (`interface` labels, say), and a family splitting one count by a label's values.
 */
import type { Labels, MetricFamily, MetricValue } from "./metrics.js";

/** `name`'s series: one per instance, `value(s)` labelled `labels(s)`. */
export function perInstance<S>(instances: readonly S[], labels: (s: S) => Labels, name: string, help: string, type: "counter" | "gauge", value: (s: S) => MetricValue): MetricFamily {
  return { name, help, type, samples: instances.map((s) => ({ labels: labels(s), value: value(s) })) };
}

/** `name`'s series: one per entry of `values`, labelled `label` = its key (with `labels` besides), in the entries' order. */
export function byLabel(name: string, help: string, type: "counter" | "gauge", label: string, values: Readonly<Record<string, MetricValue>>, labels: Labels = {}): MetricFamily {
  return { name, help, type, samples: Object.entries(values).map(([key, value]) => ({ labels: { ...labels, [label]: key }, value })) };
}
