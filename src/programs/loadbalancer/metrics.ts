/**
 * The load balancer's counters as Prometheus metric families, from the status the periodic
 * summary and `status` read (one per instance: every series has its `interface`).
 */
import { perInstance } from "../common/metric-families.js";
import { eventsLost, type Labels, type MetricFamily, type MetricValue, type Sample } from "../common/metrics.js";
import type { LoadBalancerStatus } from "./status.js";

export function loadbalancerMetrics(instances: readonly LoadBalancerStatus[]): MetricFamily[] {
  const at = (s: LoadBalancerStatus): Labels => ({ interface: s.info.listenInterface });
  const each = (name: string, help: string, type: "counter" | "gauge", value: (s: LoadBalancerStatus) => MetricValue): MetricFamily => perInstance(instances, at, name, help, type, value);
  const outcomes = instances.flatMap((s): Sample[] => [
    { labels: { ...at(s), outcome: "forwarded" }, value: s.forwarded },
    { labels: { ...at(s), outcome: "unbalanceable" }, value: s.unbalanceable },
    { labels: { ...at(s), outcome: "no_backend" }, value: s.noBackend },
  ]);
  const backends = instances.flatMap((s) => s.backends.map((b) => ({ labels: { ...at(s), backend: b.name, mac: b.mac }, b })));
  const perBackend = (name: string, help: string, value: (b: LoadBalancerStatus["backends"][number]) => MetricValue): MetricFamily => ({
    name,
    help,
    type: "counter",
    samples: backends.map(({ labels, b }) => ({ labels, value: value(b) })),
  });
  return [
    each("tsebpf_loadbalancer_service_packets_total", "Packets to the service (VIP, protocol and port).", "counter", (s) => s.servicePackets),
    {
      name: "tsebpf_loadbalancer_packets_total",
      help: "Packets to the VIP in the service protocol by outcome: forwarded (a service packet sent to a backend), no_backend (a service packet dropped: no backend for its slot) or unbalanceable (no ports to balance on: fragments, IPv6 extension headers; passed, not counted as service packets).",
      type: "counter",
      samples: outcomes,
    },
    perBackend("tsebpf_loadbalancer_backend_packets_total", "Packets forwarded to each backend.", (b) => b.packets),
    perBackend("tsebpf_loadbalancer_backend_bytes_total", "Bytes forwarded to each backend (whole frames).", (b) => b.bytes),
    perBackend("tsebpf_loadbalancer_backend_flows_total", "New flows sent to each backend (TCP SYNs, first UDP packets).", (b) => b.newFlows),
    each("tsebpf_loadbalancer_backends", "Backends configured.", "gauge", (s) => s.backends.length),
    eventsLost("loadbalancer", instances.map((s) => ({ labels: at(s), value: s.samplesLost }))),
  ];
}
