/**
 * The XDP load balancer with direct server return, as a library: `LoadBalancer.start(config)`
 * loads the program, fills every map (backends, Maglev table, instance description) and only
 * then attaches it to `listenInterface` in the calling thread's network namespace. `reload(config)`
 * changes the backends while it runs (BackendSet, backends.ts); the service itself needs a new start.
 * A pinned instance is changed from any process with `LoadBalancer.openPinned(ifname)
 * .applyBackends(config)`: the same BackendSet, restored from the pinned maps.
 *
 * Native mode on veth needs two things of the topology (not of this program): an XDP program on
 * the peer veth (else frames sent with XDP_TX are dropped) and TX checksum offload off on the
 * senders (native XDP on veth loses the partial checksum: receivers see bad TCP checksums).
 * Generic mode works anywhere.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import { dirname } from "node:path";
import { BpfMap, Collection, readCollectionSpec, runtime } from "../../index.js";
import { NETWORK_PROGRAM_CAPABILITIES, requireCapabilities } from "../common/capabilities.js";
import { pinState, removeCrashedXdp } from "../common/leftovers.js";
import { isInterfaceName, type Family } from "../common/net.js";
import { pinDirectory, programObjectPath } from "../common/run.js";
import { checkSampleEvery, readSamples } from "../common/samples.js";
import { AUTO_ON_VETH, keyError, type LoadBalancerConfig } from "./config.js";
import { BackendSet, type BackendMaps, type ReloadResult } from "./backends.js";
import { FlowEventCodec, fieldBytes, load, type VariableValues } from "./loadbalancer.gen.js";

export type { ReloadResult } from "./backends.js";
import { describeInstance, readInfo, readStatus, type InstanceInfo, type LoadBalancerStatus, type StatusMaps } from "./status.js";

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
  /**
   * Attach with netlink (IFLA_XDP) instead of a bpf_link. Such an attachment outlives a crashed
   * process; the next start removes it. Cannot be pinned.
   */
  readonly netlink?: boolean;
  /** Report one new flow in this many (`onFlow`); 0 or absent: none. Fixed at load. */
  readonly sampleFlows?: number;
}

/** A sampled new flow (StartOptions.sampleFlows): who it came from and which backend it got. */
export interface FlowSample {
  /** CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns). */
  readonly ns: bigint;
  readonly family: Family;
  readonly source: Uint8Array;
  readonly sourcePort: number;
  /** The backend's id, and its name and MAC in the configuration now. */
  readonly backend: { readonly id: number; readonly name?: string; readonly mac?: string };
}

/** Bytes of a struct flow_event in loadbalancer.bpf.c (its layout: FlowEventCodec, generated). */
const FLOW_EVENT_SIZE = FlowEventCodec.size;

/** A struct flow_event, the backend named from `info` (the instance description). */
/** Throws, naming the capability, when this process cannot load the balancer and attach it (checked before anything is loaded or changed). */
export function requireBalancerCapabilities(effective?: bigint): void {
  requireCapabilities("loadbalancer", NETWORK_PROGRAM_CAPABILITIES, "balancing with XDP", ...(effective === undefined ? [] : [effective]));
}

export function decodeFlowSample(view: DataView, info: InstanceInfo): FlowSample {
  const event = FlowEventCodec.decode(view);
  const family: Family = event.family === 4 ? "ipv4" : "ipv6";
  const id = event.backend;
  const b = info.backends.find((x, position) => (x.id ?? position) === id);
  // The port and the address are in network order: their bytes, as the packet had them.
  const port = fieldBytes(view, 0, FlowEventCodec.fields.sport);
  return {
    ns: event.ns,
    family,
    source: fieldBytes(view, 0, FlowEventCodec.fields.src).slice(0, family === "ipv4" ? 4 : 16),
    sourcePort: ((port[0] ?? 0) << 8) | (port[1] ?? 0),
    backend: { id, ...(b ? { name: b.name, mac: b.mac } : {}) },
  };
}

const PROGRAM = "xdp_loadbalancer";
const PINNED_MAPS = ["backends", "maglev", "control", "conntrack", "counters", "stats", "info"] as const;
const LINK_PIN = "link";
const IPPROTO = { tcp: 6, udp: 17 } as const;

/** Where an instance on this interface pins its link and maps (throws for a non-interface name). */
export const pinPath = (listenInterface: string): string => pinDirectory("loadbalancer", listenInterface);
/** The directory holding every instance's pin directory. */
export const PIN_ROOT = dirname(pinPath("lo"));

export class LoadBalancer {
  private attachment: runtime.XdpAttachment | undefined;
  private pinnedAt: string | undefined;
  private current: LoadBalancerConfig;
  private description: InstanceInfo;

  private constructor(
    private readonly collection: Collection,
    private readonly backendSet: BackendSet,
    attachment: runtime.XdpAttachment,
    config: LoadBalancerConfig,
    /** The id of a loadbalancer program an earlier (crashed) run left attached, removed by this start. */
    readonly removedLeftover: number | undefined,
  ) {
    this.attachment = attachment;
    this.current = config;
    this.description = readStatus(statusMaps(collection)).info;
  }

  /** Loads, configures and attaches. Throws (leaving nothing behind) when any step fails. */
  static start(config: LoadBalancerConfig, options: StartOptions = {}): LoadBalancer {
    const mode = options.mode ?? "auto";
    if (!MODES.includes(mode)) throw new Error(`mode: expected native, generic or auto, not '${String(mode)}'`);
    if (options.pin && options.netlink) throw new Error("a netlink attachment cannot be pinned (pinning needs a bpf_link)");
    requireBalancerCapabilities();
    removeLeftovers(config.listenInterface);
    const { index, mac } = listenInterfaceOf(config);
    const chosen = resolveMode(mode, config.listenInterface);
    const leftover = removeCrashedXdp(config.listenInterface, index, { programName: PROGRAM, tool: "loadbalancer", what: "load balancer" })[0];
    const { collection, backendSet } = loadConfigured(config, mac, chosen.description, options.sampleFlows);
    let lb: LoadBalancer | undefined;
    try {
      const attachment = runtime.attachXdp(collection.program(PROGRAM), index, { ...(chosen.mode ? { mode: chosen.mode } : {}), ...(options.netlink ? { netlink: true } : {}) });
      lb = new LoadBalancer(collection, backendSet, attachment, config, leftover);
      if (options.pin) lb.pin();
      return lb;
    } catch (e) {
      if (lb) lb.stop();
      else collection.close();
      throw e;
    }
  }

  /** The configuration in effect. */
  get config(): LoadBalancerConfig {
    return this.current;
  }

  /** What the info map says about this instance. */
  get info(): InstanceInfo {
    return this.description;
  }

  /** Where it is pinned, if it is. */
  get pinned(): string | undefined {
    return this.pinnedAt;
  }

  /**
   * Applies a new backend list while running: kept backends keep their flows, a removed
   * backend's flows become new flows, new flows follow the new Maglev table. The service (vip,
   * port, protocol, interface) and the table sizes need a restart: refused, nothing changes.
   */
  reload(config: LoadBalancerConfig): ReloadResult {
    if (!this.attachment) throw new Error("the load balancer is stopped");
    const restart = serviceChange(serviceOf(this.current), serviceOf(config));
    if (restart) throw new Error(`${restart} changed: restart the load balancer to apply that (the backends were not changed either)`);
    const result = this.backendSet.apply(config, this.description.mode);
    this.current = config;
    this.description = readStatus(statusMaps(this.collection)).info;
    return result;
  }

  /** Pins the link and the maps: the balancer keeps running after this process exits. */
  pin(): string {
    if (!this.attachment) throw new Error("the load balancer is stopped");
    if (this.pinnedAt) return this.pinnedAt;
    const dir = pinPath(this.current.listenInterface);
    const attachment = this.attachment;
    if (!attachment.pin) throw new Error(`${attachment.description}: attached without a bpf_link (netlink), so it cannot be pinned`);
    mkdirSync(dir, { recursive: true });
    try {
      for (const name of PINNED_MAPS) this.collection.map(name).pin(`${dir}/${name}`);
      attachment.pin(`${dir}/${LINK_PIN}`);
    } catch (e) {
      removePinDirectory(this.current.listenInterface);
      throw e;
    }
    this.pinnedAt = dir;
    return dir;
  }

  /**
   * Calls `callback` with each sampled new flow (StartOptions.sampleFlows) as it arrives, until
   * `signal` aborts; resolves with how many there were. Waiting does not block the event loop.
   */
  async onFlow(callback: (sample: FlowSample) => void, options: { readonly signal?: AbortSignal } = {}): Promise<number> {
    return readSamples(this.collection.map("flows"), FLOW_EVENT_SIZE, (view) => decodeFlowSample(view, this.description), callback, options);
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

  /**
   * Removes a pinned instance (detaching it). False when there was none. Only the pins this
   * program makes, in /sys/fs/bpf/tsebpf/loadbalancer/<listenInterface>, are removed.
   */
  static unpin(listenInterface: string): boolean {
    const dir = pinPath(listenInterface);
    if (!existsSync(dir)) return false;
    removePinDirectory(listenInterface);
    removeIfEmpty(PIN_ROOT);
    return true;
  }

  /**
   * The instance pinned for this interface: "live" when its pinned link is what is attached to
   * the interface (asked in the calling thread's network namespace), "stale" when pins remain
   * but their balancer is no longer attached there (a leftover: the next start removes it),
   * "none". An interface missing here makes no verdict on the pins: "live" (nothing is removed).
   */
  static pinnedState(listenInterface: string): "live" | "stale" | "none" {
    const dir = pinPath(listenInterface);
    return pinState(dir, listenInterface, () => {
      using link = runtime.Link.fromPin(`${dir}/${LINK_PIN}`);
      return link.info().programId;
    });
  }


  /**
   * The instance pinned and attached on this interface, to read and to change its backends
   * (`applyBackends`) from any process. Throws when none is, or when its pins are a leftover.
   */
  static openPinned(listenInterface: string): PinnedLoadBalancer {
    const state = LoadBalancer.pinnedState(listenInterface);
    if (state !== "live") {
      throw new Error(`no load balancer pinned on ${listenInterface}${state === "stale" ? ` (the pins at ${pinPath(listenInterface)} are a leftover: their balancer is no longer attached)` : ` (nothing at ${pinPath(listenInterface)})`}`);
    }
    return PinnedLoadBalancer.open(pinPath(listenInterface));
  }

  /** Interfaces with a pinned instance. */
  static pinnedInterfaces(): string[] {
    if (!existsSync(PIN_ROOT)) return [];
    return readdirSync(PIN_ROOT)
      .filter((name) => isInterfaceName(name) && existsSync(`${PIN_ROOT}/${name}/${LINK_PIN}`))
      .sort();
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

/** What a reload cannot change: the service and the table sizes. */
interface Service {
  readonly listenInterface: string;
  readonly vips: readonly string[];
  readonly port: number;
  readonly protocol: string;
  readonly tableSize: number;
  readonly maxConnections: number;
}

function serviceOf(config: LoadBalancerConfig): Service {
  const { listenInterface, vips, port, protocol, tableSize } = describeInstance(config, "", []);
  return { listenInterface, vips, port, protocol, tableSize, maxConnections: config.maxConnections };
}

/**
 * A pinned instance opened from its pins (`LoadBalancer.openPinned`): `applyBackends` is the
 * foreground run's reload, on the pinned maps. Closing it leaves the instance running.
 */
export class PinnedLoadBalancer {
  private closed = false;

  private constructor(
    /** Its pin directory. */
    readonly pinned: string,
    private readonly maps: BackendMaps & { readonly stats: BpfMap; readonly conntrack: BpfMap },
    private readonly backendSet: BackendSet,
  ) {}

  /** @internal */
  static open(dir: string): PinnedLoadBalancer {
    const opened: BpfMap[] = [];
    try {
      const open = (name: (typeof PINNED_MAPS)[number]) => {
        const m = BpfMap.fromPin(`${dir}/${name}`);
        opened.push(m);
        return m;
      };
      const maps = { backends: open("backends"), counters: open("counters"), maglev: open("maglev"), control: open("control"), info: open("info"), stats: open("stats"), conntrack: open("conntrack") };
      return new PinnedLoadBalancer(dir, maps, BackendSet.restore(maps));
    } catch (e) {
      for (const m of opened) m.close();
      throw e;
    }
  }

  /** What the info map says about it. */
  get info(): InstanceInfo {
    return readInfo(this.maps.info);
  }

  /** The counters now. */
  status(): LoadBalancerStatus {
    return readStatus(this.maps);
  }

  /**
   * Applies a new backend list to the pinned instance, as `LoadBalancer.reload` does to a running
   * one. The service (listenInterface, vip, port, protocol) and the table sizes are fixed when it
   * starts: a change is refused, and nothing changes.
   */
  applyBackends(config: LoadBalancerConfig): ReloadResult {
    if (this.closed) throw new Error("closed");
    const info = this.info;
    const running: Service = { listenInterface: info.listenInterface, vips: info.vips, port: info.port, protocol: info.protocol, tableSize: info.tableSize, maxConnections: this.maps.conntrack.maxEntries };
    const restart = serviceChange(running, serviceOf(config));
    if (restart) {
      throw new Error(`${restart} changed: the pinned load balancer keeps its service; unpin and start again to apply that ('tsebpf loadbalancer --unpin', then --pin); nothing was changed`);
    }
    return this.backendSet.apply(config, info.mode);
  }

  /** Releases this process's fds (the pins keep the balancer running). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of Object.values(this.maps)) m.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The first service setting that differs (what a reload cannot change), or undefined. */
function serviceChange(a: Service, b: Service): string | undefined {
  if (a.listenInterface !== b.listenInterface) return `listenInterface (${a.listenInterface} → ${b.listenInterface})`;
  if (a.vips.join(",") !== b.vips.join(",")) return `vip (${a.vips.join(", ")} → ${b.vips.join(", ")})`;
  if (a.port !== b.port) return `the port (${a.port} → ${b.port})`;
  if (a.protocol !== b.protocol) return `protocol (${a.protocol} → ${b.protocol})`;
  if (a.tableSize !== b.tableSize) return `maglevTableSize (${a.tableSize} → ${b.tableSize})`;
  if (a.maxConnections !== b.maxConnections) return `maxConnections (${a.maxConnections} → ${b.maxConnections})`;
  return undefined;
}

function loadConfigured(config: LoadBalancerConfig, interfaceMac: Uint8Array, mode: string, sampleFlows = 0): { collection: Collection; backendSet: BackendSet } {
  const spec = readCollectionSpec(readFileSync(programObjectPath("loadbalancer")));
  const { collection } = load({
    spec,
    maxEntries: { maglev: 2 * config.tableSize, conntrack: config.maxConnections },
    variables: { ...variables(config, interfaceMac), sample_flows: checkSampleEvery("sampleFlows", sampleFlows) },
  });
  try {
    const backendSet = new BackendSet(collection);
    backendSet.apply(config, mode);
    return { collection, backendSet };
  } catch (e) {
    collection.close();
    throw e;
  }
}

/**
 * The program and its maps, configured, not attached: what `start` attaches (and what tests run
 * with BPF_PROG_TEST_RUN). `interfaceMac` is the source MAC of the frames it sends, and the
 * destination MAC of the frames it balances.
 */
export function loadCollection(config: LoadBalancerConfig, interfaceMac: Uint8Array, mode = "auto", sampleFlows = 0): Collection {
  return loadConfigured(config, interfaceMac, mode, sampleFlows).collection;
}

/** Like loadCollection, with the BackendSet that changes its backends (what `reload` uses). */
export function loadCollectionWithBackends(config: LoadBalancerConfig, interfaceMac: Uint8Array, mode = "auto"): { collection: Collection; backendSet: BackendSet } {
  return loadConfigured(config, interfaceMac, mode);
}

/** The name of the XDP program in the collection. */
export const PROGRAM_NAME = PROGRAM;

/**
 * Pins whose balancer is no longer attached (a run that died while pinning, a link detached or
 * whose interface went away) are a leftover: removed. A pinned instance attached to the interface
 * is refused (two programs cannot share it): change its backends with `openPinned`.
 */
function removeLeftovers(listenInterface: string): void {
  const dir = pinPath(listenInterface);
  const state = LoadBalancer.pinnedState(listenInterface);
  if (state === "none") return;
  if (state === "live") {
    throw new Error(`a load balancer is already pinned on ${listenInterface} (${dir}): stop it with 'tsebpf loadbalancer --unpin' first (or run --pin again to apply new backends to it)`);
  }
  removePinDirectory(listenInterface);
  removeIfEmpty(PIN_ROOT);
}

/**
 * Removes the pins this program makes in its directory for this interface (the link first: the
 * program stops before its maps' pins go), then the directory if that left it empty. Nothing
 * else is touched: no recursive removal, no path built from anything but an interface name.
 */
function removePinDirectory(listenInterface: string): void {
  const dir = pinPath(listenInterface);
  if (dirname(dir) !== PIN_ROOT) throw new Error(`'${listenInterface}': not a pin directory of the load balancer`);
  for (const name of [LINK_PIN, ...PINNED_MAPS]) rmSync(`${dir}/${name}`, { force: true });
  try {
    rmdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code === "ENOTEMPTY") throw new Error(`${dir}: holds files the load balancer did not pin (${readdirSync(dir).join(", ")}): left in place`);
    throw e;
  }
}

/** Removes /sys/fs/bpf/tsebpf/loadbalancer (and /sys/fs/bpf/tsebpf) when nothing else is pinned there. */
function removeIfEmpty(dir: string): void {
  if (dir !== PIN_ROOT) return;
  for (const d of [dir, dirname(dir)]) {
    try {
      rmdirSync(d);
    } catch {
      return; // not empty (another instance or program), or already gone
    }
  }
}

/** The listen interface's index and MAC; an error names the file and key (`lb.yml: listenInterface: …`). */
function listenInterfaceOf(config: LoadBalancerConfig): { index: number; mac: Uint8Array } {
  let index: number;
  let mac: Uint8Array;
  try {
    index = runtime.ifindex(config.listenInterface);
    mac = runtime.interfaceMac(config.listenInterface);
  } catch (e) {
    throw keyError(config, "listenInterface", e instanceof Error ? e.message : String(e), e);
  }
  if (mac.byteLength !== 6 || mac.every((b) => b === 0)) throw keyError(config, "listenInterface", `interface "${config.listenInterface}" has no Ethernet address: XDP_TX needs one`);
  return { index, mac };
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
  return driver === "veth" ? { mode: "generic", description: AUTO_ON_VETH } : { mode: undefined, description: "auto" };
}

/**
 * The program's constants. The addresses and the port are in network order (`__be32`,
 * `__be16`-valued): their bytes as the packet has them, which the typed variables hold as the
 * host-order numbers those bytes make.
 */
function variables(config: LoadBalancerConfig, mac: Uint8Array): Omit<VariableValues, "sample_flows" | "flow_event_type"> {
  return {
    vip4: hostWords(config.vip4 ?? new Uint8Array(4))[0] ?? 0,
    has_vip4: config.vip4 ? 1 : 0,
    vip6: hostWords(config.vip6 ?? new Uint8Array(16)),
    has_vip6: config.vip6 ? 1 : 0,
    service_port: new Uint16Array(Uint8Array.from([config.port >> 8, config.port & 0xff]).buffer)[0] ?? 0,
    service_protocol: IPPROTO[config.protocol],
    if_mac: Uint8Array.from(mac),
    maglev_size: config.tableSize,
  };
}

/** Bytes as the host-order 32-bit words they make. */
function hostWords(bytes: Uint8Array): number[] {
  return [...new Uint32Array(Uint8Array.from(bytes).buffer)];
}

function statusMaps(c: Collection): StatusMaps {
  return { counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") };
}
