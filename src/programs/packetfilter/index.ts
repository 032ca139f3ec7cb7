/**
 * packetfilter: an XDP source-address filter. Loads the program, fills every rule before it
 * attaches (there is never a moment of half a configuration), applies new rules atomically,
 * reports per-verdict and per-rule counters, and detaches on close — unless pinned, in which case
 * it keeps filtering after the process exits until `unpin`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { Collection, readCollectionSpec, runtime, SyscallError } from "../../index.js";
import { NETWORK_PROGRAM_CAPABILITIES, requireCapabilities } from "../common/capabilities.js";
import { ConfigError } from "../common/config.js";
import { pinState, removeCrashedXdp } from "../common/leftovers.js";
import { withLock } from "../common/lock.js";
import { pinDirectory, programObjectPath } from "../common/run.js";
import { checkSampleEvery, readSamples } from "../common/samples.js";
import { maskAddress, type Family, type Prefix } from "../common/net.js";
import type { PacketFilterConfig } from "./config.js";
import { installGeneration } from "./generation.js";
import { InnerMaps, RULE_MAP_NAMES, hitChunkEntries, type RuleMaps } from "./rule-maps.js";
import { RuleSnapshot, readDefaults, readRules, type RuleState } from "./rule-reads.js";
import { CounterCodec, DropEventCodec, U32Codec, load, type Loaded, type Maps as ObjectMaps } from "./packetfilter.gen.js";

export * from "./config.js";
export type { RuleState } from "./rule-reads.js";
export { RuleSnapshot, SLICE_ENTRIES } from "./rule-reads.js";

export const PROGRAM_NAME = "packetfilter";
/** Maps pinned by `--pin`, by their names in the object. */
const PINNED_MAPS = [...RULE_MAP_NAMES, "verdicts"] as const;

export type XdpModeChoice = "native" | "generic" | "auto";

export interface PacketFilterOptions {
  /** native (driver), generic (skb) or auto (native where the driver has it). Default auto. */
  readonly mode?: XdpModeChoice;
  /** Pin the link, program and maps so the filter outlives this process (see `unpin`). */
  readonly pin?: boolean;
  /** Attach with netlink even where bpf_link works. */
  readonly netlink?: boolean;
  /** Report one dropped packet in this many (`onDrop`); 0 or absent: none. Fixed at load. */
  readonly sampleDrops?: number;
}

/** A sampled dropped packet (see PacketFilterOptions.sampleDrops). */
export interface DropSample {
  /** CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns). */
  readonly ns: bigint;
  readonly family: Family;
  readonly source: Uint8Array;
  /** Bytes of the frame. */
  readonly length: number;
  /** The block rule that matched, or undefined: the family's default dropped it. */
  readonly rule?: Prefix;
}

/** A struct drop_event (a ring buffer record; its layout: DropEventCodec, generated) as a DropSample. */
/** Throws, naming the capability, when this process cannot load the filter and attach it (checked before anything is loaded or changed). */
export function requireFilterCapabilities(effective?: bigint): void {
  requireCapabilities("packetfilter", NETWORK_PROGRAM_CAPABILITIES, "filtering packets with XDP", ...(effective === undefined ? [] : [effective]));
}

export function decodeDropSample(view: DataView): DropSample {
  const event = DropEventCodec.decode(view);
  const family: Family = event.family === 4 ? "ipv4" : "ipv6";
  const source = event.src.slice(0, family === "ipv4" ? 4 : 16);
  return {
    ns: event.ns,
    family,
    source,
    length: event.length,
    ...(event.by_default === 1 ? {} : { rule: { family, address: maskAddress(source, event.prefixlen), length: event.prefixlen } }),
  };
}

export interface Counter {
  packets: bigint;
  bytes: bigint;
}

/** Packets by verdict: matched a rule or fell to the default, passed or dropped. */
export interface FamilyCounters {
  readonly passed: Counter;
  readonly dropped: Counter;
  readonly passedByDefault: Counter;
  readonly droppedByDefault: Counter;
}

export interface Counters {
  readonly ipv4: FamilyCounters;
  readonly ipv6: FamilyCounters;
  /** Frames that are neither IPv4 nor IPv6 (ARP …): always passed. */
  readonly notIp: Counter;
  /** Frames too short for the headers they announce: passed, the stack drops them. */
  readonly malformed: Counter;
  /** Drop samples the ring buffer had no room for (the reader fell behind). */
  readonly samplesLost: Counter;
}

/** The directory `--pin` uses for an interface. */
export const pinPath = (ifname: string): string => pinDirectory(PROGRAM_NAME, ifname);

type Maps = RuleMaps & Pick<ObjectMaps, "verdicts">;

export class PacketFilter {
  private closed = false;

  private constructor(
    readonly ifname: string,
    private readonly maps: Maps,
    /** What holds the program and maps: the loaded collection, or the pins. */
    private readonly owners: { close(): void }[],
    private readonly attachment: runtime.XdpAttachment | undefined,
    /** Where it is pinned (its attachment then outlives this object). */
    readonly pinnedAt: string | undefined,
    /** The XDP program, when this process loaded it (`start`, `load`). */
    readonly program?: runtime.Program,
    /** The inner maps this process made (`start`, `load`): read without reopening them by id. */
    private readonly inners?: InnerMaps,
    /** The drop samples' ring buffer (`start`, `load`). */
    private readonly dropRing?: runtime.BpfMap,
  ) {}

  /**
   * Loads the filter, installs the configuration and only then attaches it to the interface.
   * A packetfilter that an earlier, crashed run left attached through netlink is removed first
   * (a bpf_link goes away with its process by itself); a pinned one must be unpinned first.
   */
  static async start(config: PacketFilterConfig, options: PacketFilterOptions = {}): Promise<PacketFilter> {
    requireFilterCapabilities();
    return await withLock(`packetfilter-${config.interface}`, () => PacketFilter.startLocked(config, options));
  }

  private static startLocked(config: PacketFilterConfig, options: PacketFilterOptions): PacketFilter {
    const index = configuredInterface(config);
    const removed = removeLeftovers(config.interface, index);
    const loaded = loadObject(options.sampleDrops);
    const { collection, maps, programs } = loaded;
    const inners = new InnerMaps();
    let attachment: runtime.XdpAttachment | undefined;
    let pinned: string | undefined;
    try {
      installGeneration(maps, config, inners);
      const mode = options.mode === undefined || options.mode === "auto" ? undefined : options.mode;
      attachment = runtime.attachXdp(programs.packetfilter, index, { ...(mode ? { mode } : {}), ...(options.netlink ? { netlink: true } : {}) });
      if (options.pin) pinned = pinAll(config.interface, collection, attachment);
      const filter = new PacketFilter(config.interface, maps, [inners, loaded], attachment, pinned, programs.packetfilter, inners, maps.drops);
      filter.leftovers = removed;
      return filter;
    } catch (e) {
      attachment?.close();
      // Whatever pinAll managed before it failed (the directory did not exist before: see removeLeftovers).
      if (options.pin) rmSync(pinPath(config.interface), { recursive: true, force: true });
      inners.close();
      loaded.close();
      throw e;
    }
  }

  /**
   * Loads the filter with its rules but attaches it nowhere: for BPF_PROG_TEST_RUN (`program`),
   * benchmarks and checking that this kernel accepts it.
   */
  static load(rules: Pick<PacketFilterConfig, "ipv4" | "ipv6">, options: Pick<PacketFilterOptions, "sampleDrops"> = {}): PacketFilter {
    const loaded = loadObject(options.sampleDrops);
    const { maps, programs } = loaded;
    const inners = new InnerMaps();
    try {
      installGeneration(maps, rules, inners);
      return new PacketFilter("", maps, [inners, loaded], undefined, undefined, programs.packetfilter, inners, maps.drops);
    } catch (e) {
      inners.close();
      loaded.close();
      throw e;
    }
  }

  /**
   * The filter running on this interface, to read its counters or apply rules: from its pins, or
   * (not pinned) through the program attached there and the maps it uses.
   */
  static open(ifname: string): PacketFilter {
    const dir = pinPath(ifname);
    const pinned = existsSync(`${dir}/program`);
    let ids: Map<string, number> | undefined;
    if (!pinned) {
      const index = interfaceIndex(ifname);
      const state = index === undefined ? undefined : runtime.xdpAttached(index);
      const id = state?.native ?? state?.generic;
      if (id === undefined) throw new Error(`no packetfilter runs on ${ifname}${index === undefined ? " (no such interface here)" : ""}`);
      using program = runtime.Program.fromId(id);
      const info = program.info();
      if (info.name !== PROGRAM_NAME) throw new Error(`the XDP program on ${ifname} is "${info.name}", not a packetfilter`);
      ids = new Map(runtime.listMaps().filter((m) => info.mapIds.includes(m.id)).map((m) => [m.name, m.id]));
    }
    const opened: runtime.BpfMap[] = [];
    try {
      for (const name of PINNED_MAPS) {
        const id = ids?.get(name);
        if (!pinned && id === undefined) throw new Error(`the packetfilter on ${ifname} has no map "${name}" (another version?)`);
        opened.push(pinned ? runtime.BpfMap.fromPin(`${dir}/${name}`) : runtime.BpfMap.fromId(id ?? 0));
      }
    } catch (e) {
      for (const m of opened) m.close();
      throw e;
    }
    const maps = Object.fromEntries(PINNED_MAPS.map((n, i) => [n, opened[i]])) as unknown as Maps;
    return new PacketFilter(ifname, maps, opened, undefined, pinned ? dir : undefined);
  }

  /** Is a filter pinned for this interface ("live", "stale" or "none": see common/leftovers.ts pinState). */
  static pinnedState(ifname: string): "live" | "stale" | "none" {
    const dir = pinPath(ifname);
    return pinState(dir, ifname, () => {
      using program = runtime.Program.fromPin(`${dir}/program`);
      return program.info().id;
    });
  }


  /**
   * Removes a pinned filter: detaches it from the interface (its link, or its netlink attachment)
   * and removes the pins. Returns false when nothing was pinned.
   */
  static unpin(ifname: string): boolean {
    const dir = pinPath(ifname);
    if (!existsSync(dir)) return false;
    if (existsSync(`${dir}/link`)) {
      using link = runtime.Link.fromPin(`${dir}/link`);
      link.detach();
    } else if (existsSync(`${dir}/program`)) {
      // Attached through netlink: detach it, if the interface (and the attachment) still exist.
      using program = runtime.Program.fromPin(`${dir}/program`);
      const index = interfaceIndex(ifname);
      if (index !== undefined) runtime.detachXdpProgram(index, program.info().id);
    }
    rmSync(dir, { recursive: true, force: true });
    return true;
  }

  /** What `start` removed that earlier runs had left (one line each). */
  leftovers: readonly string[] = [];

  /** How it is attached (undefined for a filter opened from its pins). */
  get description(): string | undefined {
    return this.attachment?.description;
  }

  /**
   * Replaces every rule and default at once: packets see either the old rules or the new ones.
   * Rules that stay keep their hit counts, exactly. Resolves once the new rules are live.
   */
  async apply(config: Pick<PacketFilterConfig, "ipv4" | "ipv6">): Promise<void> {
    // Two processes filling the idle slot at once would mix their rules: one at a time.
    const install = () => installGeneration(this.maps, config, this.inners);
    if (this.ifname) await withLock(`packetfilter-${this.ifname}`, install);
    else install();
  }

  /** Packets and bytes by verdict, summed over CPUs. */
  counters(): Counters {
    const verdicts = new runtime.TypedMap(this.maps.verdicts, U32Codec, CounterCodec);
    const read = (i: number): Counter => {
      const sum = { packets: 0n, bytes: 0n };
      for (const cpu of verdicts.getPerCpu(i) ?? []) {
        sum.packets += cpu.packets;
        sum.bytes += cpu.bytes;
      }
      return sum;
    };
    const family = (f: number): FamilyCounters => ({ passed: read(f * 4), dropped: read(f * 4 + 1), passedByDefault: read(f * 4 + 2), droppedByDefault: read(f * 4 + 3) });
    return { ipv4: family(0), ipv6: family(1), notIp: read(8), malformed: read(9), samplesLost: read(10) };
  }

  /**
   * Calls `callback` with each sampled drop (PacketFilterOptions.sampleDrops) as it arrives,
   * until `signal` aborts; resolves with how many there were. Waiting does not block the event
   * loop. Only for a filter this process started or loaded.
   */
  async onDrop(callback: (sample: DropSample) => void, options: { readonly signal?: AbortSignal } = {}): Promise<number> {
    if (!this.dropRing) throw new Error("drop samples are read by the process that started the filter");
    return readSamples(this.dropRing, DropEventCodec.size, decodeDropSample, callback, options);
  }

  /** The live rules of a family with the packets each decided. */
  rules(family: Family): RuleState[] {
    return readRules(this.maps, family, this.inners);
  }

  /**
   * The live generation's rules of both families, to read in bounded slices (RuleSnapshot.stream
   * lets the event loop run between them): what a metrics scrape reads. Close it when done.
   */
  ruleSnapshot(): RuleSnapshot {
    return new RuleSnapshot(this.maps, this.inners);
  }

  /** The live default actions. */
  defaults(): ReturnType<typeof readDefaults> {
    return readDefaults(this.maps);
  }

  /** Detaches (unless pinned: then the pins keep it attached) and releases everything. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      // Pinned, a link stays attached through its pin (closing drops only this fd); a netlink
      // attachment would be detached by close(), so it is left alone.
      if (!this.pinnedAt || this.attachment?.via === "link") this.attachment?.close();
    } finally {
      for (const o of this.owners) o.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The index of the configured interface; a missing one is a configuration error that names where
 * it was configured: `filter.yml: rules.interface: interface "eth9": no such device`.
 */
function configuredInterface(config: Pick<PacketFilterConfig, "interface" | "interfaceFrom">): number {
  try {
    return runtime.ifindex(config.interface);
  } catch (e) {
    if (config.interfaceFrom && e instanceof SyscallError && e.code === "ENODEV") throw new ConfigError(`${config.interfaceFrom}: ${e.message}`, { cause: e });
    throw e;
  }
}

const interfaceIndex = (ifname: string): number | undefined => {
  try {
    return runtime.ifindex(ifname);
  } catch {
    return undefined;
  }
};

/** The object, loaded through its generated loader (packetfilter.gen.ts). */
function loadObject(sampleDrops = 0): Loaded {
  const spec = readCollectionSpec(readFileSync(programObjectPath(PROGRAM_NAME)));
  // Hit chunks hold every CPU's counters: the template of the chunks user space creates.
  const chunk = spec.maps.get("hit_chunks")?.innerMap;
  if (chunk) chunk.maxEntries = hitChunkEntries();
  return load({ spec, variables: { sample_drops: checkSampleEvery("sampleDrops", sampleDrops) } });
}

/** Pins program, maps and link under the interface's pin directory; returns the directory. */
function pinAll(ifname: string, c: Collection, attachment: runtime.XdpAttachment): string {
  const dir = pinPath(ifname);
  mkdirSync(dir, { recursive: true });
  c.program(PROGRAM_NAME).pin(`${dir}/program`);
  for (const name of PINNED_MAPS) c.map(name).pin(`${dir}/${name}`);
  if (attachment.via === "link") attachment.pin?.(`${dir}/link`);
  return dir;
}

/**
 * Before attaching, what earlier runs left: a pin directory whose program is no longer attached
 * (a failed or interrupted --pin) is removed; a packetfilter program attached through netlink
 * that no process holds and no pin accounts for (a run that died) is detached. A live filter —
 * pinned, or held by a running process — and any other program are refused with what to do.
 * Returns a line for each thing removed.
 */
function removeLeftovers(ifname: string, index: number): string[] {
  const removed: string[] = [];
  const dir = pinPath(ifname);
  if (existsSync(dir)) {
    if (PacketFilter.pinnedState(ifname) === "live") {
      throw new Error(`a packetfilter is pinned on ${ifname} (${dir}): update it with --pin, or remove it with --unpin`);
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(`removed ${dir}, pins of an earlier run whose filter is no longer attached`);
  }
  for (const id of removeCrashedXdp(ifname, index, { programName: PROGRAM_NAME, tool: "packetfilter", what: "packetfilter" })) {
    removed.push(`removed a packetfilter (program id ${id}) an earlier run left attached to ${ifname}`);
  }
  return removed;
}
