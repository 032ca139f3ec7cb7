/**
 * The XDP load balancer with direct server return, as a library: `LoadBalancer.start(config)`
 * loads the program, fills every map (backends, Maglev table, instance description) and only
 * then attaches it to `listenInterface` in the calling thread's network namespace.
 *
 * Native mode on veth needs two things of the topology (not of this program): an XDP program on
 * the peer veth (else frames sent with XDP_TX are dropped) and TX checksum offload off on the
 * senders (native XDP on veth loses the partial checksum: receivers see bad TCP checksums).
 * Generic mode works anywhere.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import { dirname } from "node:path";
import { BpfMap, Collection, readCollectionSpec, runtime } from "../../index.js";
import { formatAddress, formatMac } from "../common/net.js";
import { pinDirectory, programObjectPath } from "../common/run.js";
import type { LoadBalancerConfig } from "./config.js";
import { maglevTable } from "./maglev.js";
import { encodeInfo, readStatus, type InstanceInfo, type LoadBalancerStatus, type StatusMaps } from "./status.js";

export type { LoadBalancerConfig } from "./config.js";
export { loadConfig, parseConfig } from "./config.js";
export type { LoadBalancerStatus, BackendStatus } from "./status.js";

export type Mode = "native" | "generic" | "auto";
export const MODES: readonly Mode[] = ["native", "generic", "auto"];

export interface StartOptions {
  /** native (driver), generic (skb) or auto (the kernel's choice, but generic on veth). */
  readonly mode?: Mode;
  /** Pin the link and maps under pinDirectory("loadbalancer", listenInterface): it stays after exit. */
  readonly pin?: boolean;
}

const PROGRAM = "xdp_loadbalancer";
const PINNED_MAPS = ["backends", "maglev", "conntrack", "counters", "stats", "info"] as const;
const LINK_PIN = "link";
const IPPROTO = { tcp: 6, udp: 17 } as const;

/** Where an instance on this interface pins its link and maps. */
export const pinPath = (listenInterface: string): string => pinDirectory("loadbalancer", listenInterface);

export class LoadBalancer {
  private attachment: runtime.XdpAttachment | undefined;
  private pinnedAt: string | undefined;

  private constructor(
    private readonly collection: Collection,
    attachment: runtime.XdpAttachment,
    readonly config: LoadBalancerConfig,
    readonly info: InstanceInfo,
  ) {
    this.attachment = attachment;
  }

  /** Loads, configures and attaches. Throws (leaving nothing behind) when any step fails. */
  static start(config: LoadBalancerConfig, options: StartOptions = {}): LoadBalancer {
    const mode = options.mode ?? "auto";
    if (!MODES.includes(mode)) throw new Error(`mode: expected native, generic or auto, not '${String(mode)}'`);
    removeLeftovers(config.listenInterface);
    const index = runtime.ifindex(config.listenInterface);
    const mac = runtime.interfaceMac(config.listenInterface);
    if (mac.byteLength !== 6 || mac.every((b) => b === 0)) throw new Error(`interface "${config.listenInterface}" has no Ethernet address: XDP_TX needs one`);
    const chosen = resolveMode(mode, config.listenInterface);
    const info = describe(config, chosen.description);
    const collection = loadCollection(config, mac, chosen.description);
    let lb: LoadBalancer | undefined;
    try {
      const attachment = runtime.attachXdp(collection.program(PROGRAM), index, chosen.mode ? { mode: chosen.mode } : {});
      lb = new LoadBalancer(collection, attachment, config, info);
      if (options.pin) lb.pin();
      return lb;
    } catch (e) {
      if (lb) lb.stop();
      else collection.close();
      throw e;
    }
  }

  /** Where it is pinned, if it is. */
  get pinned(): string | undefined {
    return this.pinnedAt;
  }

  /** Pins the link and the maps: the balancer keeps running after this process exits. */
  pin(): string {
    if (!this.attachment) throw new Error("the load balancer is stopped");
    if (this.pinnedAt) return this.pinnedAt;
    const dir = pinPath(this.config.listenInterface);
    const attachment = this.attachment;
    if (!attachment.pin) throw new Error(`${attachment.description}: attached without a bpf_link (old kernel), so it cannot be pinned`);
    mkdirSync(dir, { recursive: true });
    try {
      for (const name of PINNED_MAPS) this.collection.map(name).pin(`${dir}/${name}`);
      attachment.pin(`${dir}/${LINK_PIN}`);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    this.pinnedAt = dir;
    return dir;
  }

  /** The counters now. */
  status(): LoadBalancerStatus {
    return readStatus(statusMaps(this.collection));
  }

  /** Detaches (unless pinned: then the pins keep it running) and releases every fd. */
  stop(): void {
    const a = this.attachment;
    this.attachment = undefined;
    try {
      a?.close();
    } finally {
      this.collection.close();
    }
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  /** Removes a pinned instance (detaching it). False when there was none. */
  static unpin(listenInterface: string): boolean {
    const dir = pinPath(listenInterface);
    if (!existsSync(dir)) return false;
    // The link first: the program stops before its maps' pins go.
    rmSync(`${dir}/${LINK_PIN}`, { force: true });
    rmSync(dir, { recursive: true, force: true });
    removeIfEmpty(dirname(dir));
    return true;
  }

  /** Interfaces with a pinned instance. */
  static pinnedInterfaces(): string[] {
    const root = dirname(pinPath("x"));
    if (!existsSync(root)) return [];
    return readdirSync(root).filter((name) => existsSync(`${root}/${name}/${LINK_PIN}`)).sort();
  }

  /** The counters of a pinned instance. */
  static pinnedStatus(listenInterface: string): LoadBalancerStatus {
    const dir = pinPath(listenInterface);
    if (!existsSync(`${dir}/${LINK_PIN}`)) throw new Error(`no load balancer pinned on ${listenInterface} (nothing at ${dir})`);
    using counters = BpfMap.fromPin(`${dir}/counters`);
    using stats = BpfMap.fromPin(`${dir}/stats`);
    using info = BpfMap.fromPin(`${dir}/info`);
    return readStatus({ counters, stats, info });
  }
}

/**
 * The program and its maps, configured, not attached: what `start` attaches (and what tests run
 * with BPF_PROG_TEST_RUN). `interfaceMac` is the source MAC of the frames it sends.
 */
export function loadCollection(config: LoadBalancerConfig, interfaceMac: Uint8Array, mode = "auto"): Collection {
  const spec = readCollectionSpec(readFileSync(programObjectPath("loadbalancer")));
  const collection = Collection.load(spec, {
    maxEntries: { maglev: config.tableSize, conntrack: config.maxConnections },
    variables: variables(config, interfaceMac),
  });
  try {
    fillMaps(collection, config, describe(config, mode));
    return collection;
  } catch (e) {
    collection.close();
    throw e;
  }
}

/** The name of the XDP program in the collection. */
export const PROGRAM_NAME = PROGRAM;

/**
 * A pin directory without a link is what a run that died while pinning leaves: removed. One with
 * a link is a running pinned instance: refused (two programs cannot share the interface).
 */
function removeLeftovers(listenInterface: string): void {
  const dir = pinPath(listenInterface);
  if (!existsSync(dir)) return;
  if (existsSync(`${dir}/${LINK_PIN}`)) {
    throw new Error(`a load balancer is already pinned on ${listenInterface} (${dir}): stop it with 'tsebpf loadbalancer --unpin' first`);
  }
  rmSync(dir, { recursive: true, force: true });
  removeIfEmpty(dirname(dir));
}

/** Removes /sys/fs/bpf/tsebpf/loadbalancer (and /sys/fs/bpf/tsebpf) when nothing else is pinned there. */
function removeIfEmpty(dir: string): void {
  for (const d of [dir, dirname(dir)]) {
    try {
      rmdirSync(d);
    } catch {
      return; // not empty (another instance or program), or already gone
    }
  }
}

/**
 * `auto`: the kernel's choice (native where the driver has XDP), except on veth, whose native
 * XDP_TX drops every frame unless the peer runs an XDP program too: generic there, which works
 * as is. Ask for native explicitly on a veth topology prepared for it.
 */
function resolveMode(mode: Mode, ifname: string): { mode: runtime.XdpMode | undefined; description: string } {
  if (mode !== "auto") return { mode, description: mode };
  let driver = "";
  try {
    driver = runtime.interfaceDriver(ifname);
  } catch {
    driver = ""; // devices without ethtool support: the kernel decides
  }
  return driver === "veth" ? { mode: "generic", description: "generic (auto on veth)" } : { mode: undefined, description: "auto" };
}

function describe(config: LoadBalancerConfig, mode: string): InstanceInfo {
  const vips = [...(config.vip4 ? [formatAddress(config.vip4, "ipv4")] : []), ...(config.vip6 ? [formatAddress(config.vip6, "ipv6")] : [])];
  return {
    listenInterface: config.listenInterface,
    vips,
    protocol: config.protocol,
    port: config.port,
    mode,
    tableSize: config.tableSize,
    backends: config.backends.map((b) => ({ name: b.name, mac: formatMac(b.mac) })),
  };
}

function variables(config: LoadBalancerConfig, mac: Uint8Array): Record<string, Uint8Array | number> {
  return {
    vip4: config.vip4 ?? new Uint8Array(4),
    has_vip4: config.vip4 ? 1 : 0,
    vip6: config.vip6 ?? new Uint8Array(16),
    has_vip6: config.vip6 ? 1 : 0,
    service_port: Uint8Array.from([config.port >> 8, config.port & 0xff]),
    service_protocol: IPPROTO[config.protocol],
    if_mac: Uint8Array.from(mac),
    backend_count: config.backends.length,
    maglev_size: config.tableSize,
  };
}

function fillMaps(c: Collection, config: LoadBalancerConfig, info: InstanceInfo): void {
  const backends = c.map("backends");
  config.backends.forEach((b, i) => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(i);
    const value = Buffer.alloc(backends.valueSize);
    value.set(b.mac);
    backends.update(key, value);
  });
  const table = maglevTable(
    config.backends.map((b) => b.name),
    config.tableSize,
  );
  const keys = Buffer.alloc(4 * table.length);
  const values = Buffer.alloc(4 * table.length);
  table.forEach((backend, slot) => {
    keys.writeUInt32LE(slot, 4 * slot);
    values.writeUInt32LE(backend, 4 * slot);
  });
  runtime.updateBatch(c.map("maglev"), keys, values);
  const infoMap = c.map("info");
  infoMap.update(new Uint8Array(4), encodeInfo(info, infoMap.valueSize));
}

function statusMaps(c: Collection): StatusMaps {
  return { counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") };
}
