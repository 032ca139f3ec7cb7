/**
 * The load balancer's counters as Prometheus metric families, from the status the periodic
 * summary and `status` read (one per instance: every series has its `interface`).
 */
import { eventsLost, type MetricFamily, type Sample } from "../common/metrics.js";
import type { LoadBalancerStatus } from "./status.js";

export function loadbalancerMetrics(instances: readonly LoadBalancerStatus[]): MetricFamily[] {
  const service: Sample[] = [];
  const outcomes: Sample[] = [];
  const packets: Sample[] = [];
  const bytes: Sample[] = [];
  const flows: Sample[] = [];
  const backends: Sample[] = [];
  const lost: { labels: { interface: string }; value: bigint }[] = [];
  for (const s of instances) {
    const at = { interface: s.info.listenInterface };
    service.push({ labels: at, value: s.servicePackets });
    outcomes.push({ labels: { ...at, outcome: "forwarded" }, value: s.forwarded }, { labels: { ...at, outcome: "unbalanceable" }, value: s.unbalanceable }, { labels: { ...at, outcome: "no_backend" }, value: s.noBackend });
    for (const b of s.backends) {
      const labels = { ...at, backend: b.name, mac: b.mac };
      packets.push({ labels, value: b.packets });
      bytes.push({ labels, value: b.bytes });
      flows.push({ labels, value: b.newFlows });
    }
    backends.push({ labels: at, value: s.backends.length });
    lost.push({ labels: at, value: s.samplesLost });
  }
  return [
    { name: "tsebpf_loadbalancer_service_packets_total", help: "Packets to the service (VIP, protocol and port).", type: "counter", samples: service },
    {
      name: "tsebpf_loadbalancer_packets_total",
      help: "Packets to the VIP in the service protocol by outcome: forwarded (a service packet sent to a backend), no_backend (a service packet dropped: no backend for its slot) or unbalanceable (no ports to balance on: fragments, IPv6 extension headers; passed, not counted as service packets).",
      type: "counter",
      samples: outcomes,
    },
    { name: "tsebpf_loadbalancer_backend_packets_total", help: "Packets forwarded to each backend.", type: "counter", samples: packets },
    { name: "tsebpf_loadbalancer_backend_bytes_total", help: "Bytes forwarded to each backend (whole frames).", type: "counter", samples: bytes },
    { name: "tsebpf_loadbalancer_backend_flows_total", help: "New flows sent to each backend (TCP SYNs, first UDP packets).", type: "counter", samples: flows },
    { name: "tsebpf_loadbalancer_backends", help: "Backends configured.", type: "gauge", samples: backends },
    eventsLost("loadbalancer", lost),
  ];
}
