/**
 * The load balancer's counters, read from its maps (a running instance's or pinned ones), and
 * their one-line and JSON forms.
 */
import { runtime, type BpfMap } from "../../index.js";
import { formatAddress, formatMac } from "../common/net.js";
import type { LoadBalancerConfig } from "./config.js";
import { BackendCountersCodec, LbStatsCodec, U32Codec, type BackendCounters, type LbStats } from "./loadbalancer.gen.js";

/** What an instance says about itself (the `info` map). */
export interface InstanceInfo {
  readonly listenInterface: string;
  readonly vips: readonly string[];
  readonly protocol: string;
  readonly port: number;
  readonly mode: string;
  readonly tableSize: number;
  /** `id`: the backend's stable index in the backends and counters maps (absent: its position). */
  readonly backends: readonly { readonly name: string; readonly mac: string; readonly id?: number }[];
}

/** The description of an instance with this configuration, mode and backend ids (in config order). */
export function describeInstance(config: LoadBalancerConfig, mode: string, ids: readonly number[]): InstanceInfo {
  const vips = [...(config.vip4 ? [formatAddress(config.vip4, "ipv4")] : []), ...(config.vip6 ? [formatAddress(config.vip6, "ipv6")] : [])];
  return {
    listenInterface: config.listenInterface,
    vips,
    protocol: config.protocol,
    port: config.port,
    mode,
    tableSize: config.tableSize,
    backends: config.backends.map((b, i) => ({ name: b.name, mac: formatMac(b.mac), id: ids[i] ?? i })),
  };
}

export interface BackendStatus {
  /** The backend's id (its index in the backends and counters maps). */
  readonly index: number;
  readonly name: string;
  readonly mac: string;
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly newFlows: bigint;
}

export interface LoadBalancerStatus {
  readonly info: InstanceInfo;
  /** Packets to the service (VIP, protocol, port). */
  readonly servicePackets: bigint;
  /** Of those, sent to a backend (XDP_TX). */
  readonly forwarded: bigint;
  /**
   * Packets of the service protocol to the VIP that carry no ports to balance on (IPv4 and IPv6
   * fragments, IPv6 extension headers), passed to the kernel. Other protocols (ICMP…) are not counted.
   */
  readonly unbalanceable: bigint;
  /** Dropped because no backend was configured for the slot (should stay 0). */
  readonly noBackend: bigint;
  /** New-flow samples (StartOptions.sampleFlows) the ring buffer had no room for. */
  readonly samplesLost: bigint;
  readonly backends: readonly BackendStatus[];
}

/** The maps status reads. */
export interface StatusMaps {
  readonly counters: BpfMap;
  readonly stats: BpfMap;
  readonly info: BpfMap;
}

const key0 = new Uint8Array(4);

export function readInfo(map: BpfMap): InstanceInfo {
  const raw = map.lookup(key0);
  const text = raw ? raw.toString("utf8", 0, Math.max(0, raw.indexOf(0) < 0 ? raw.byteLength : raw.indexOf(0))) : "";
  if (text === "") throw new Error(`map "${map.name}": no instance description (not a tsebpf loadbalancer?)`);
  return JSON.parse(text) as InstanceInfo;
}

export function encodeInfo(info: InstanceInfo, valueSize: number): Buffer {
  const json = Buffer.from(JSON.stringify(info), "utf8");
  if (json.byteLength >= valueSize) throw new Error(`the instance description is ${json.byteLength} bytes, more than the info map's ${valueSize - 1}`);
  const value = Buffer.alloc(valueSize);
  json.copy(value);
  return value;
}

export function readStatus(maps: StatusMaps): LoadBalancerStatus {
  const info = readInfo(maps.info);
  const stats = sumOverCpus(new runtime.TypedMap(maps.stats, U32Codec, LbStatsCodec).getPerCpu(0), { service_packets: 0n, forwarded: 0n, unbalanceable: 0n, no_backend: 0n, samples_lost: 0n });
  const counters = new runtime.TypedMap(maps.counters, U32Codec, BackendCountersCodec);
  const backends = info.backends.map((b, position) => {
    const index = b.id ?? position;
    const c = sumOverCpus(counters.getPerCpu(index), { packets: 0n, bytes: 0n, new_flows: 0n });
    return { index, name: b.name, mac: b.mac, packets: c.packets, bytes: c.bytes, newFlows: c.new_flows };
  });
  return { info, servicePackets: stats.service_packets, forwarded: stats.forwarded, unbalanceable: stats.unbalanceable, noBackend: stats.no_backend, samplesLost: stats.samples_lost, backends };
}

/** Each counter summed over the CPUs' values (zeros when the key is absent). */
function sumOverCpus<T extends LbStats | BackendCounters>(perCpu: readonly T[] | undefined, zero: T): T {
  const sum: Record<string, bigint> = { ...zero };
  for (const cpu of perCpu ?? []) for (const [k, v] of Object.entries(cpu)) sum[k] = (sum[k] ?? 0n) + (v as bigint);
  return sum as unknown as T;
}

/** An address as the host part of `address:port`: IPv6 in brackets (`[fd00::100]`). */
const hostPart = (address: string): string => (address.includes(":") ? `[${address}]` : address);

/**
 * One line: `eth1 10.0.0.100:80/tcp: 120 packets, 118 forwarded | web1 60 pkts 5.1 kB 3 flows | …`
 * (both families: `10.0.0.100:80,[fd00::100]:80/tcp`).
 */
export function formatSummary(s: LoadBalancerStatus): string {
  const service = `${s.info.listenInterface} ${s.info.vips.map((v) => `${hostPart(v)}:${s.info.port}`).join(",")}/${s.info.protocol}`;
  const extra = [s.unbalanceable ? `${s.unbalanceable} unbalanceable` : "", s.noBackend ? `${s.noBackend} without backend` : "", s.samplesLost ? `${s.samplesLost} flow samples lost` : ""].filter(Boolean);
  const head = `${service}: ${s.servicePackets} packets, ${s.forwarded} forwarded${extra.length ? `, ${extra.join(", ")}` : ""}`;
  const parts = s.backends.map((b) => `${b.name === b.mac ? b.mac : `${b.name} (${b.mac})`} ${b.packets} pkts ${formatBytes(b.bytes)} ${b.newFlows} flows`);
  return [head, ...parts].join(" | ");
}

export function formatBytes(n: bigint): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  let v = Number(n);
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** JSON-ready (bigints as numbers when exact, strings otherwise). */
export function statusJson(s: LoadBalancerStatus): Record<string, unknown> {
  const n = (v: bigint): number | string => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
  return {
    interface: s.info.listenInterface,
    vips: s.info.vips,
    protocol: s.info.protocol,
    port: s.info.port,
    mode: s.info.mode,
    service_packets: n(s.servicePackets),
    forwarded: n(s.forwarded),
    unbalanceable: n(s.unbalanceable),
    no_backend: n(s.noBackend),
    samples_lost: n(s.samplesLost),
    backends: s.backends.map((b) => ({ index: b.index, name: b.name, mac: b.mac, packets: n(b.packets), bytes: n(b.bytes), new_flows: n(b.newFlows) })),
  };
}
