/**
 * The chroot guard's counters as Prometheus metric families (the stats map the periodic summary
 * and `status` read): denials by engine, mode and action, the chroots judged, those let through by
 * the allow-lists, the engine and mode running, and the lost events.
 */
import { byLabel } from "../common/metric-families.js";
import { eventsLost, type MetricFamily } from "../common/metrics.js";
import type { Mode } from "./config.js";
import type { Counters } from "./index.js";

export function lsmbpfMetrics(k: Counters, engine: "lsm" | "signal", mode: Mode): MetricFamily[] {
  return [
    {
      name: "tsebpf_lsmbpf_denials_total",
      help: "Chroots into the host's root by containerized processes, by engine, mode and action: denied (lsm, EPERM), killed (signal, SIGKILL), kill_failed (signal) or audited (audit mode: reported only).",
      type: "counter",
      samples: [
        { labels: { engine, mode: "enforce", action: "denied" }, value: k.denied },
        { labels: { engine, mode: "enforce", action: "killed" }, value: k.killed },
        { labels: { engine, mode: "enforce", action: "kill_failed" }, value: k.killFailed },
        { labels: { engine, mode: "audit", action: "audited" }, value: k.audited },
      ],
    },
    { name: "tsebpf_lsmbpf_container_chroots_total", help: "Chroots by containerized processes (signal engine: those that succeeded).", type: "counter", samples: [{ labels: { engine }, value: k.containerChroots }] },
    { name: "tsebpf_lsmbpf_host_root_chroots_total", help: "Of those, chroots into the host's root.", type: "counter", samples: [{ labels: { engine }, value: k.hostRoot }] },
    byLabel("tsebpf_lsmbpf_allowed_total", "Chroots into the host's root let through by the allow-lists, by list (comm, cgroup).", "counter", "by", { comm: k.allowedByComm, cgroup: k.allowedByCgroup }, { engine }),
    { name: "tsebpf_lsmbpf_guard_info", help: "The engine and mode the guard runs with (always 1).", type: "gauge", samples: [{ labels: { engine, mode }, value: 1 }] },
    eventsLost("lsmbpf", k.lost),
  ];
}
