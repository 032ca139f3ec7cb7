/**
 * comtrace's counters as Prometheus metric families: connections by outcome (the stats map the
 * closing summary reads), the lost events, and — from the connections this process reported —
 * their lifetimes (a histogram) and the application's bytes.
 */
import { byLabel } from "../common/metric-families.js";
import { Histogram, eventsLost, type MetricFamily } from "../common/metrics.js";
import type { Connection, Counters } from "./index.js";

/** Lifetime bucket bounds, seconds: 1 ms to an hour. */
export const DURATION_BOUNDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** What the connections reported so far add up to (fed by the trace's callback). */
export class ConnectionTotals {
  readonly durations = new Histogram(DURATION_BOUNDS);
  txBytes = 0;
  rxBytes = 0;

  add(c: Connection): void {
    this.durations.observe(c.ms / 1000);
    this.txBytes += c.txBytes ?? 0;
    this.rxBytes += c.rxBytes ?? 0;
  }
}

export function comtraceMetrics(k: Counters, totals: ConnectionTotals): MetricFamily[] {
  return [
    byLabel(
      "tsebpf_comtrace_connections_total",
      "Closed TCP connections by outcome: reported, filtered (by the in-kernel filters), lost (no room in the event buffer) or untracked (opened before the trace started).",
      "counter",
      "outcome",
      { reported: k.reported, filtered: k.filtered, lost: k.lost, untracked: k.untracked },
    ),
    { name: "tsebpf_comtrace_connection_duration_seconds", help: "Lifetimes of the connections reported (first SYN to close).", type: "histogram", samples: [totals.durations.sample()] },
    byLabel("tsebpf_comtrace_bytes_total", "The application's bytes of the connections reported: sent (and acknowledged) and received.", "counter", "direction", { sent: totals.txBytes, received: totals.rxBytes }),
    eventsLost("comtrace", k.lost),
  ];
}
