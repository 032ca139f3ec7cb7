/**
 * One generation of rules in the kernel (see packetfilter.bpf.c): per family, inner maps of exact
 * hosts and of prefixes (a hash map keyed by length and masked address, or an LPM trie) held by
 * two-slot outer arrays, and the slot's `generations` entry (defaults, which maps, prefix
 * lengths). `installGeneration` fills the idle slot, then writes the new generation's number into
 * `state` (its low bit is the slot): every rule and default changes at once.
 *
 * Hit counts, exact across reloads, by design rather than by timing. A rule's value holds no
 * count, only the number of its counter (an entry per CPU in a chunk of `hit_chunks`) and a tag
 * naming the rule that owns the counter. A rule that stays from one generation to the next
 * (same prefix, same action) keeps its counter and its tag, so the program goes on counting into
 * the very same memory whichever generation a packet saw: a reload moves, copies and waits for
 * no count. Only the program writes counters; user space only reads them, adding the per-CPU
 * entries whose tag is the rule's. Nothing here depends on when old program runs finish.
 *
 * Counters of removed rules are handed out again, and only there do old runs matter: a run that
 * read the previous generation may still count for a rule it has no more. Two things make that
 * harmless:
 *  - a counter is handed out again only once neither slot holds its former rule. A rule that
 *    left in generation J is in generation J-1, which stays in its slot until generation J+1
 *    replaces it; the counter is free from generation J+2 on. So every map that held the former
 *    rule was replaced before the maps of the new owner existed: a run that can still count for
 *    the former rule looked it up before any run that counts for the new owner started.
 *  - the new owner gets a new tag (the number of the generation that hands it the counter;
 *    generation numbers only grow). On one CPU, XDP runs follow each other (softirq, bottom
 *    halves off — what every per-CPU counter relies on), so on each CPU all the former rule's
 *    counts come before the new owner's first; that first count finds another tag and restarts
 *    the CPU's entry (the program does it, not user space), and nothing but the new owner writes
 *    it afterwards.
 * The counts of a removed rule go with it; a rule added again starts from 0. The properties are
 * tested in test/kernel/packetfilter.test.ts (reloads under traffic, counter reuse, random
 * sequences of rule sets).
 */
import { readFileSync } from "node:fs";
import { abi, runtime, SyscallError } from "../../index.js";
import type { Family, Prefix } from "../common/net.js";
import type { Action, FamilyRules, PacketFilterConfig } from "./config.js";
import { GenerationCodec, HitCodec, RuleCodec, U32Codec, U64Codec, V4HostCodec, V4PrefixCodec, V6HostCodec, V6PrefixCodec, type Generation, type Maps } from "./packetfilter.gen.js";
import { summaryBitmap, summaryKeys } from "./summary.js";

/** Flags of a generation (GEN_* in packetfilter.bpf.c). */
const GEN_DEFAULT_BLOCK: Record<Family, number> = { ipv4: 0x1, ipv6: 0x2 };
const GEN_MAPS: Record<Kind, Record<Family, number>> = {
  hosts: { ipv4: 0x4, ipv6: 0x20 },
  prefixes: { ipv4: 0x8, ipv6: 0x40 },
  prefix_hash: { ipv4: 0x10, ipv6: 0x80 },
};
/**
 * Prefixes of at most this many lengths live in a hash map (one lookup per length); more, in an
 * LPM trie. HASHED_LENGTHS of packetfilter.bpf.c: struct generation's `length` holds that many
 * u8 per family, `count` one.
 */
export const HASHED_LENGTHS = GenerationCodec.fields.length.size / GenerationCodec.fields.count.size;
const FAMILY_INDEX: Record<Family, number> = { ipv4: 0, ipv6: 1 };
const FAMILIES = ["ipv4", "ipv6"] as const;
const ACTION_CODE: Record<Action, number> = { allow: 0, block: 1 };
/** Bytes of a struct rule and of a struct hit (their layouts: RuleCodec, HitCodec, generated from the object's BTF). */
const RULE_SIZE = RuleCodec.size;
const HIT_SIZE = HitCodec.size;
/** Where their members are (the bulk paths read them in place). */
const RULE = RuleCodec.fields;
const HIT = HitCodec.fields;
/** Counters per chunk (per CPU), and the most chunks (HIT_CHUNK*, packetfilter.bpf.c). */
export const HIT_CHUNK_BITS = 12;
export const HIT_CHUNK = 1 << HIT_CHUNK_BITS;
export const HIT_CHUNKS = 16384;
const BPF_F_NO_PREALLOC = 1;
/** Entries per BPF_MAP_UPDATE_BATCH call. */
const BATCH = 8192;

/** The maps of the program that hold generations (by their names in the object). */
export const RULE_MAP_NAMES = ["state", "generations", "summary", "v4_hosts", "v4_prefixes", "v4_prefix_hash", "v6_hosts", "v6_prefixes", "v6_prefix_hash", "hit_chunks"] as const satisfies readonly (keyof Maps)[];
export type RuleMaps = Pick<Maps, (typeof RULE_MAP_NAMES)[number]>;

/** Exact hosts (hash), prefixes in an LPM trie, or prefixes of few lengths in a hash. */
type Kind = "hosts" | "prefixes" | "prefix_hash";
const KINDS: readonly Kind[] = ["hosts", "prefixes", "prefix_hash"];
const outerName = (family: Family, kind: Kind) => `${family === "ipv4" ? "v4" : "v6"}_${kind}` as const;
const addressBytes = (family: Family): number => (family === "ipv4" ? 4 : 16);

/** The key of a hosts map (struct v4_host, v6_host: the address) and of the prefix maps (struct v4_prefix, v6_prefix: length, address). */
const HOST_CODEC = { ipv4: V4HostCodec, ipv6: V6HostCodec } as const;
const PREFIX_CODEC = { ipv4: V4PrefixCodec, ipv6: V6PrefixCodec } as const;
const keySizeOf = (family: Family, kind: Kind): number => (kind === "hosts" ? HOST_CODEC : PREFIX_CODEC)[family].size;

/** The maps `installGeneration` reads and writes, with the generated codecs of their keys and values. */
function typed(maps: RuleMaps) {
  return {
    state: new runtime.TypedMap(maps.state, U32Codec, U64Codec),
    generations: new runtime.TypedMap(maps.generations, U32Codec, GenerationCodec),
    /** An outer map: the inner map's fd goes in, its id comes out. */
    outer: (name: OuterName | "hit_chunks") => new runtime.TypedMap(maps[name], U32Codec, U32Codec),
  };
}
type OuterName = ReturnType<typeof outerName>;

/** A DataView of all of `bytes` (what the codecs read and write without a view per call). */
const viewOf = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** The (little-endian) u64 at `at`, known to stay below 2^53 (a tag: one per generation), as a number: no bigint made. */
const u64Number = (view: DataView, at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
function setU64Number(view: DataView, at: number, n: number): void {
  view.setUint32(at, n % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(n / 2 ** 32), true);
}

/** How many CPUs this machine can have (the ids bpf_get_smp_processor_id returns are below it). */
export function possibleCpus(): number {
  let highest = 0;
  for (const range of readFileSync("/sys/devices/system/cpu/possible", "utf8").trim().split(",")) {
    highest = Math.max(highest, Number(range.split("-").pop()));
  }
  return highest + 1;
}

/** Entries of a hit chunk on this machine: HIT_CHUNK counters for each CPU. */
export const hitChunkEntries = (): number => possibleCpus() * HIT_CHUNK;

/** A rule as the kernel holds it, with the packets it decided so far. */
export interface RuleState {
  readonly prefix: Prefix;
  readonly action: Action;
  readonly hits: bigint;
}

/** The live generation's number (0: none installed yet). */
function liveGeneration(maps: RuleMaps): bigint {
  return typed(maps).state.get(0) ?? 0n;
}

/** The live slot (0 or 1). */
export function liveSlot(maps: RuleMaps): number {
  return Number(liveGeneration(maps) & 1n);
}

/** The flags of the live generation. */
function liveFlags(maps: RuleMaps): number {
  return typed(maps).generations.get(liveSlot(maps))?.flags ?? 0;
}

/**
 * A rule's key in its map, written at `at` of `out` (`view`, a DataView of it): struct v4_host /
 * v6_host (hosts), v4_prefix / v6_prefix (the others), in place at the codecs' field offsets
 * (see buildInner).
 */
function writeKey(out: Uint8Array, view: DataView, at: number, prefix: Prefix, kind: Kind): void {
  if (kind === "hosts") {
    out.set(prefix.address, at + HOST_CODEC[prefix.family].fields.addr.offset);
    return;
  }
  const key = PREFIX_CODEC[prefix.family].fields;
  view.setUint32(at + key.prefixlen.offset, prefix.length, true);
  out.set(prefix.address, at + key.addr.offset);
}

/** A struct rule written at `at` of `out`, in place at RuleCodec's field offsets (see buildInner). */
function writeRule(out: DataView, at: number, action: number, prefixlen: number, counter: number, tag: number): void {
  out.setUint32(at + RULE.action.offset, action, true);
  out.setUint32(at + RULE.prefixlen.offset, prefixlen, true);
  out.setUint32(at + RULE.counter.offset, counter, true);
  out.setUint32(at + RULE.reserved.offset, 0, true);
  setU64Number(out, at + RULE.tag.offset, tag);
}

/** The key at `at` of an inner map's keys: its address (a copy) and prefix length. */
function readKey(keys: DataView, at: number, family: Family, kind: Kind): { address: Uint8Array; length: number } {
  if (kind === "hosts") return { address: HOST_CODEC[family].decode(keys, at).addr, length: addressBytes(family) * 8 };
  const key = PREFIX_CODEC[family].decode(keys, at);
  return { address: key.addr, length: key.prefixlen };
}

/** A rule's identity across generations: its prefix and action (a number for IPv4, a short string for IPv6). */
type RuleId = number | string;
function ruleId(family: Family, address: Uint8Array, at: number, length: number, action: number): RuleId {
  if (family === "ipv4") {
    const a = (((address[at] ?? 0) << 24) | ((address[at + 1] ?? 0) << 16) | ((address[at + 2] ?? 0) << 8) | (address[at + 3] ?? 0)) >>> 0;
    return a * 128 + length * 2 + action;
  }
  let id = "";
  for (let i = at; i < at + 16; i += 2) id += String.fromCharCode(((address[i] ?? 0) << 8) | (address[i + 1] ?? 0));
  return id + String.fromCharCode(length * 2 + action);
}

/** The identity of the stored rule `i` of an inner map's entries, read in place (no key decoded). */
function storedRuleId(family: Family, stored: Stored, i: number): RuleId {
  const at = i * stored.keySize;
  const action = stored.values.action(i);
  if (stored.kind === "hosts") return ruleId(family, stored.keyBytes, at + HOST_CODEC[family].fields.addr.offset, addressBytes(family) * 8, action);
  const key = PREFIX_CODEC[family].fields;
  return ruleId(family, stored.keyBytes, at + key.addr.offset, stored.keys.getUint32(at + key.prefixlen.offset, true), action);
}

/** Every entry of a map, packed: in batches where the map type has them (hash maps, arrays), else one by one (tries). */
function readEntries(map: runtime.BpfMap): runtime.Entries {
  try {
    return runtime.lookupBatch(map, BATCH);
  } catch (e) {
    if (!(e instanceof SyscallError) || !["EINVAL", "ENOTSUPP", "EOPNOTSUPP"].includes(e.code)) throw e;
  }
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  for (const [k, v] of map.entries()) {
    keys.push(k);
    values.push(v);
  }
  return { keys: Buffer.concat(keys), values: Buffer.concat(values), count: keys.length };
}

/**
 * The inner maps this process put in the outer arrays, by outer map and slot (or chunk). Reading
 * them needs no BPF_MAP_GET_FD_BY_ID (which wants CAP_SYS_ADMIN); a filter opened from its pins
 * has none and reopens the maps by id.
 */
export class InnerMaps {
  private readonly maps = new Map<string, runtime.BpfMap>();
  /** Readers that may still use a map this process replaced (a scrape reading across turns of the event loop). */
  private holds = 0;
  /** Maps replaced while held: closed when the last hold ends. */
  private retired: runtime.BpfMap[] = [];

  get(outer: string, slot: number): runtime.BpfMap | undefined {
    return this.maps.get(`${outer}/${slot}`);
  }

  /** Records (or forgets) the map now in a slot, closing the one it replaces (once no reader holds it). */
  set(outer: string, slot: number, map: runtime.BpfMap | undefined): void {
    const key = `${outer}/${slot}`;
    const old = this.maps.get(key);
    if (old && old !== map) this.retire(old);
    if (map) this.maps.set(key, map);
    else this.maps.delete(key);
  }

  /**
   * Keeps every map known now open until the returned release is called, even if a reload
   * replaces it meanwhile (its fd would otherwise be closed, and its number reused by another
   * map, under the reader's feet).
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0) {
        for (const m of this.retired) m.close();
        this.retired = [];
      }
    };
  }

  private retire(map: runtime.BpfMap): void {
    if (this.holds > 0) this.retired.push(map);
    else map.close();
  }

  close(): void {
    for (const m of this.maps.values()) m.close();
    this.maps.clear();
    for (const m of this.retired) m.close();
    this.retired = [];
  }
}

/** Calls `use` with the inner map in an outer map's slot: one this process made, or reopened by id. */
function withInner<T>(maps: RuleMaps, name: OuterName | "hit_chunks", slot: number, inners: InnerMaps | undefined, use: (inner: runtime.BpfMap) => T): T | undefined {
  const known = inners?.get(name, slot);
  const id = known ? undefined : typed(maps).outer(name).get(slot);
  const inner = known ?? (id ? runtime.BpfMap.fromId(id) : undefined);
  if (!inner) return undefined;
  try {
    return use(inner);
  } finally {
    if (!known) inner.close();
  }
}

/** The rules of one inner map, packed: keys (`keySize` bytes each) and their struct rule values. */
interface Stored {
  readonly kind: Kind;
  readonly keySize: number;
  readonly keyBytes: Uint8Array;
  readonly keys: DataView;
  readonly values: StoredRules;
  readonly count: number;
}

/**
 * Packed struct rule values. The bulk paths (a reload reads every rule of both slots) read the
 * members they need in place, at RuleCodec.fields' offsets: decoding a million rules would make
 * a million objects and bigints for the collector.
 */
class StoredRules {
  private readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.view = viewOf(bytes);
  }

  action(i: number): number {
    return this.view.getUint32(i * RULE_SIZE + RULE.action.offset, true);
  }

  counter(i: number): number {
    return this.view.getUint32(i * RULE_SIZE + RULE.counter.offset, true);
  }

  /** The tag as a number (tags stay far below 2^53: one per generation). */
  tag(i: number): number {
    return u64Number(this.view, i * RULE_SIZE + RULE.tag.offset);
  }
}

/** Every rule of a family in a slot, by inner map. */
function slotRules(maps: RuleMaps, inners: InnerMaps | undefined, family: Family, slot: number): Stored[] {
  const out: Stored[] = [];
  for (const kind of KINDS) {
    const entries = withInner(maps, outerName(family, kind), slot, inners, readEntries);
    if (entries && entries.count > 0) out.push({ kind, keySize: keySizeOf(family, kind), keyBytes: entries.keys, keys: viewOf(entries.keys), values: new StoredRules(entries.values), count: entries.count });
  }
  return out;
}

/** The hit counters' chunks, each read whole once (entries CPU-major, struct hit each). */
class HitReader {
  private readonly chunks = new Map<number, DataView | undefined>();

  constructor(
    private readonly maps: RuleMaps,
    private readonly inners: InnerMaps | undefined,
  ) {}

  /** Whether a counter's chunk was read. */
  has(counter: number): boolean {
    return this.chunks.has(counter >>> HIT_CHUNK_BITS);
  }

  /** A counter's packets: the entries of every CPU that carry the rule's tag (its chunk read first if it was not). */
  hits(counter: number, tag: number): bigint {
    const chunk = this.chunk(counter >>> HIT_CHUNK_BITS);
    if (!chunk) return 0n;
    let sum = 0n;
    const perCpu = HIT_CHUNK * HIT_SIZE;
    // In place, at HitCodec.fields' offsets: a million rules times the CPUs would be as many decoded objects.
    for (let at = (counter & (HIT_CHUNK - 1)) * HIT_SIZE; at < chunk.byteLength; at += perCpu) {
      if (u64Number(chunk, at + HIT.tag.offset) === tag) sum += chunk.getBigUint64(at + HIT.count.offset, true);
    }
    return sum;
  }

  /** Reads a counter's chunk; returns the entries read from the kernel. */
  load(counter: number): number {
    const index = counter >>> HIT_CHUNK_BITS;
    let read = 0;
    const values = withInner(this.maps, "hit_chunks", index, this.inners, (map) => {
      const entries = readEntries(map);
      read = entries.count;
      const keys = viewOf(entries.keys);
      const out = new Uint8Array(map.maxEntries * HIT_SIZE);
      for (let i = 0; i < entries.count; i++) out.set(entries.values.subarray(i * HIT_SIZE, (i + 1) * HIT_SIZE), U32Codec.decode(keys, i * U32Codec.size) * HIT_SIZE);
      return viewOf(out);
    });
    this.chunks.set(index, values);
    return read;
  }

  private chunk(index: number): DataView | undefined {
    if (!this.chunks.has(index)) this.load(index << HIT_CHUNK_BITS);
    return this.chunks.get(index);
  }
}

/**
 * Entries read from the kernel per slice of a rule read (a slice ends before the read that would
 * pass it: one batch of rules, or one chunk of hit counters, at most past it).
 */
export const SLICE_ENTRIES = 4096;

/** A map's entries, a batch (one system call) per step; tries, which have no batch operations, one entry per call, SLICE_ENTRIES per step. */
function* entryBatches(map: runtime.BpfMap): Generator<runtime.Entries> {
  const batches = runtime.lookupBatches(map, SLICE_ENTRIES);
  let first: IteratorResult<runtime.Entries>;
  try {
    first = batches.next();
  } catch (e) {
    if (!(e instanceof SyscallError) || !["EINVAL", "ENOTSUPP", "EOPNOTSUPP"].includes(e.code)) throw e;
    let keys: Buffer[] = [];
    let values: Buffer[] = [];
    for (const [k, v] of map.entries()) {
      keys.push(k);
      values.push(v);
      if (keys.length === SLICE_ENTRIES) {
        yield { keys: Buffer.concat(keys), values: Buffer.concat(values), count: keys.length };
        keys = [];
        values = [];
      }
    }
    if (keys.length > 0) yield { keys: Buffer.concat(keys), values: Buffer.concat(values), count: keys.length };
    return;
  }
  if (first.done) return;
  yield first.value;
  yield* batches;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The rules of one generation, read in bounded slices. Opening it picks the live generation and
 * takes its inner maps of both families (this process's, held against a reload closing them, or
 * reopened by id); every read of the snapshot reads that generation, however many reloads happen
 * while it is read across turns of the event loop: a generation's rule maps never change once
 * installed, and a reload puts new maps in the outer arrays instead of writing into these.
 *
 * Hit counts are read as the slices go (each counter chunk once, when a rule first needs it): a
 * rule's count is the one of that moment. If reloads remove rules meanwhile, the snapshot still
 * lists them; a counter chunk the reload deleted (every rule of it gone) reads as no hits.
 */
export class RuleSnapshot implements Disposable {
  private readonly held = new Map<Family, { kind: Kind; map: runtime.BpfMap; owned: boolean }[]>();
  private readonly hitReader: HitReader;
  private readonly release: () => void;
  private closed = false;
  /** The generation read (its number). */
  readonly generation: bigint;

  constructor(maps: RuleMaps, inners?: InnerMaps) {
    this.generation = liveGeneration(maps);
    const slot = Number(this.generation & 1n);
    this.release = inners?.hold() ?? (() => undefined);
    this.hitReader = new HitReader(maps, inners);
    try {
      for (const family of FAMILIES) {
        const list: { kind: Kind; map: runtime.BpfMap; owned: boolean }[] = [];
        this.held.set(family, list);
        for (const kind of KINDS) {
          const name = outerName(family, kind);
          const known = inners?.get(name, slot);
          if (known) {
            list.push({ kind, map: known, owned: false });
            continue;
          }
          const id = typed(maps).outer(name).get(slot);
          if (id) list.push({ kind, map: runtime.BpfMap.fromId(id), owned: true });
        }
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * A family's rules, a slice per step: each step reads from the kernel at most SLICE_ENTRIES
   * entries (rules in one batch, or hit counters) plus one more read (one batch or one chunk).
   */
  *slices(family: Family): Generator<RuleState[]> {
    for (const { kind, map } of this.held.get(family) ?? []) {
      for (const batch of entryBatches(map)) {
        if (this.closed) throw new Error("packetfilter: the rule snapshot was closed while it was read");
        let read = batch.count;
        let rows: RuleState[] = [];
        const keys = viewOf(batch.keys);
        const values = new StoredRules(batch.values);
        const keySize = keySizeOf(family, kind);
        for (let i = 0; i < batch.count; i++) {
          const counter = values.counter(i);
          if (!this.hitReader.has(counter)) {
            if (read >= SLICE_ENTRIES) {
              yield rows;
              rows = [];
              read = 0;
            }
            read += this.hitReader.load(counter);
          }
          const { address, length } = readKey(keys, i * keySize, family, kind);
          const action = values.action(i) === ACTION_CODE.block ? "block" : "allow";
          rows.push({ prefix: { family, address, length }, action, hits: this.hitReader.hits(counter, values.tag(i)) });
        }
        yield rows;
      }
    }
  }

  /** A family's rules, read at once. */
  rules(family: Family): RuleState[] {
    const out: RuleState[] = [];
    for (const rows of this.slices(family)) for (const r of rows) out.push(r);
    return out;
  }

  /** A family's rules, a slice at a time as they are read, the event loop getting a turn (setImmediate) between slices. */
  async *stream(family: Family): AsyncGenerator<RuleState[]> {
    for (const rows of this.slices(family)) {
      if (rows.length > 0) yield rows;
      await turn();
    }
  }

  /** Releases the maps (those reopened by id are closed; this process's may be closed by a reload again). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const list of this.held.values()) for (const h of list) if (h.owned) h.map.close();
    this.held.clear();
    this.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The live generation's rules of one family, with their hit counts. */
export function readRules(maps: RuleMaps, family: Family, inners?: InnerMaps): RuleState[] {
  using snapshot = new RuleSnapshot(maps, inners);
  return snapshot.rules(family);
}

/** The default actions of the live generation. */
export function readDefaults(maps: RuleMaps): Record<Family, Action> {
  const flags = liveFlags(maps);
  return { ipv4: flags & GEN_DEFAULT_BLOCK.ipv4 ? "block" : "allow", ipv6: flags & GEN_DEFAULT_BLOCK.ipv6 ? "block" : "allow" };
}

/** A set of counter numbers (a bitmap that grows), and where the next free one may be. */
class Counters {
  private bits = new Uint32Array(HIT_CHUNK / 32);
  private cursor = 0;

  add(counter: number): void {
    const word = counter >>> 5;
    if (word >= this.bits.length) {
      const grown = new Uint32Array(Math.max(word + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[word] = (this.bits[word] ?? 0) | (1 << (counter & 31));
  }

  /** The lowest counter not in the set (at or after the last one taken), now taken. */
  take(): number {
    let counter = this.cursor;
    for (;;) {
      const word = counter >>> 5;
      const bits = this.bits[word];
      if (bits === undefined || !((bits >>> (counter & 31)) & 1)) break;
      counter = bits === 0xffffffff ? (word + 1) * 32 : counter + 1;
    }
    if (counter >= HIT_CHUNKS * HIT_CHUNK) throw new Error(`no hit counter is free: more than ${HIT_CHUNKS * HIT_CHUNK} rules, counting those just removed`);
    this.add(counter);
    this.cursor = counter + 1;
    return counter;
  }
}

/**
 * Stored rules by identity: a Map for IPv6's strings; for IPv4's numbers (below 2^39) an
 * open-addressing table in typed arrays, which a million rules fill without a million heap numbers.
 */
class RuleIndex {
  private readonly strings = new Map<string, number>();
  private readonly keys: Float64Array;
  private readonly values: Int32Array;
  /** 32 - log2(capacity): a multiplicative hash's top bits pick the slot. */
  private readonly shift: number;
  private size = 0;

  constructor(expected: number) {
    let bits = 4;
    while (1 << bits < expected * 2) bits++;
    this.shift = 32 - bits;
    this.keys = new Float64Array(1 << bits).fill(-1);
    this.values = new Int32Array(1 << bits);
  }

  get count(): number {
    return this.size + this.strings.size;
  }

  private slot(id: number): number {
    const mask = this.keys.length - 1;
    let at = Math.imul((id % 2 ** 32) ^ Math.imul(Math.floor(id / 2 ** 32), 0x85ebca6b), 0x9e3779b1) >>> this.shift;
    while (this.keys[at] !== -1 && this.keys[at] !== id) at = (at + 1) & mask;
    return at;
  }

  set(id: RuleId, value: number): void {
    if (typeof id === "string") {
      this.strings.set(id, value);
      return;
    }
    const at = this.slot(id);
    if (this.keys[at] === -1) this.size++;
    this.keys[at] = id;
    this.values[at] = value;
  }

  get(id: RuleId): number | undefined {
    if (typeof id === "string") return this.strings.get(id);
    const at = this.slot(id);
    return this.keys[at] === id ? this.values[at] : undefined;
  }
}

/** Each rule's counter and tag in the generation being built, by family (in config order). */
interface Assignment {
  readonly counters: Uint32Array;
  readonly tags: Float64Array;
}

/**
 * Counters for the next generation: a rule the live generation has (same prefix, same action)
 * keeps its counter and tag; a new one gets a counter neither slot holds, tagged `tag`.
 */
function assignCounters(maps: RuleMaps, config: Pick<PacketFilterConfig, "ipv4" | "ipv6">, inners: InnerMaps | undefined, live: number, tag: number): { assigned: Record<Family, Assignment>; used: Set<number>; held: Set<number> } {
  const taken = new Counters();
  /** Chunks the slots' generations use (the only ones that can exist: see deleteUnusedChunks). */
  const held = new Set<number>();
  for (const family of FAMILIES) {
    for (const stored of slotRules(maps, inners, family, live ^ 1)) {
      for (let i = 0; i < stored.count; i++) {
        const counter = stored.values.counter(i);
        taken.add(counter);
        held.add(counter >>> HIT_CHUNK_BITS);
      }
    }
  }
  const assigned = {} as Record<Family, Assignment>;
  /** Rules the live generation does not have, by family. */
  const fresh: [Assignment, number[]][] = [];
  for (const family of FAMILIES) {
    const rules = config[family].rules;
    const a: Assignment = { counters: new Uint32Array(rules.length), tags: new Float64Array(rules.length) };
    assigned[family] = a;
    const added: number[] = [];
    fresh.push([a, added]);
    const stored = slotRules(maps, inners, family, live);
    // Stored rule i of inner map m is m * 2^24 + i (an inner map holds at most capacity, 2^24, rules).
    const index = new RuleIndex(stored.reduce((n, s) => n + s.count, 0));
    stored.forEach((s, m) => {
      for (let i = 0; i < s.count; i++) {
        const counter = s.values.counter(i);
        index.set(storedRuleId(family, s, i), m * 2 ** 24 + i);
        taken.add(counter);
        held.add(counter >>> HIT_CHUNK_BITS);
      }
    });
    rules.forEach((r, j) => {
      const at = index.count ? index.get(ruleId(family, r.prefix.address, 0, r.prefix.length, ACTION_CODE[r.action])) : undefined;
      const s = at === undefined ? undefined : stored[at >>> 24];
      if (at === undefined || !s) {
        added.push(j);
        return;
      }
      a.counters[j] = s.values.counter(at & 0xffffff);
      a.tags[j] = s.values.tag(at & 0xffffff);
    });
  }
  for (const [a, added] of fresh) {
    for (const j of added) {
      a.counters[j] = taken.take();
      a.tags[j] = tag;
    }
  }
  const used = new Set<number>();
  for (const family of FAMILIES) for (const c of assigned[family].counters) used.add(c >>> HIT_CHUNK_BITS);
  return { assigned, used, held };
}

/** Creates the chunks among `used` that do not exist yet; returns their numbers. */
function createChunks(maps: RuleMaps, inners: InnerMaps | undefined, used: Set<number>): number[] {
  const created: number[] = [];
  const entries = hitChunkEntries();
  const chunks = typed(maps).outer("hit_chunks");
  for (const index of used) {
    if (chunks.get(index) !== undefined) continue;
    const chunk = runtime.BpfMap.create({ name: "pf_hits", type: abi.MapType.ARRAY, keySize: U32Codec.size, valueSize: HIT_SIZE, maxEntries: entries });
    try {
      chunks.set(index, chunk.fd);
    } catch (e) {
      chunk.close();
      throw e;
    }
    created.push(index);
    if (inners) inners.set("hit_chunks", index, chunk);
    else chunk.close(); // the outer array holds it
  }
  return created;
}

/** Removes chunks no rule of the live generation uses (a run still counting into one keeps it until it ends). */
function deleteChunks(maps: RuleMaps, inners: InnerMaps | undefined, chunks: Iterable<number>): void {
  const outer = typed(maps).outer("hit_chunks");
  for (const index of chunks) {
    outer.delete(index);
    inners?.set("hit_chunks", index, undefined);
  }
}

/**
 * Creates and fills one inner map. Keys and rules are written in place at the generated codecs'
 * field offsets (writeKey, writeRule): through RuleCodec.encode and the key codecs, a million
 * rules cost 3-4 times as much here (about 150 ms more per million, measured).
 */
function buildInner(family: Family, kind: Kind, rules: FamilyRules["rules"], positions: readonly number[], assigned: Assignment): runtime.BpfMap {
  const keySize = keySizeOf(family, kind);
  const map = runtime.BpfMap.create({
    name: `pf_${family === "ipv4" ? "v4" : "v6"}_${kind}`,
    type: kind === "prefixes" ? abi.MapType.LPM_TRIE : abi.MapType.HASH,
    keySize,
    valueSize: RULE_SIZE,
    maxEntries: Math.max(1, positions.length),
    flags: kind === "prefixes" ? BPF_F_NO_PREALLOC : 0,
  });
  try {
    const chunk = Math.min(positions.length, BATCH);
    const keys = Buffer.alloc(chunk * keySize);
    const values = Buffer.alloc(chunk * RULE_SIZE);
    const keyView = viewOf(keys);
    const valueView = viewOf(values);
    let batch = true;
    for (let start = 0; start < positions.length; start += chunk) {
      const n = Math.min(chunk, positions.length - start);
      for (let i = 0; i < n; i++) {
        const j = positions[start + i] ?? 0;
        const r = rules[j];
        if (!r) continue;
        writeKey(keys, keyView, i * keySize, r.prefix, kind);
        writeRule(valueView, i * RULE_SIZE, ACTION_CODE[r.action], r.prefix.length, assigned.counters[j] ?? 0, assigned.tags[j] ?? 0);
      }
      if (batch) {
        try {
          runtime.updateBatch(map, keys.subarray(0, n * keySize), values.subarray(0, n * RULE_SIZE));
          continue;
        } catch (e) {
          // LPM tries have no batch operations: one entry per call instead.
          if (!(e instanceof SyscallError) || !["EINVAL", "ENOTSUPP", "EOPNOTSUPP"].includes(e.code)) throw e;
          batch = false;
        }
      }
      for (let i = 0; i < n; i++) map.update(keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * RULE_SIZE, (i + 1) * RULE_SIZE));
    }
    return map;
  } catch (e) {
    map.close();
    throw e;
  }
}

interface Built {
  readonly family: Family;
  readonly kind: Kind;
  readonly map: runtime.BpfMap;
}

/**
 * Installs the configuration as the next generation and makes it live in one write. Until the
 * write, packets see the previous generation (or, at first start, pass everything); afterwards,
 * the new one. The previous generation stays in its slot, untouched, until the next install
 * rewrites it: a packet that read the old generation's number a moment before finds all it needs
 * there. Rules that stay keep their hit counters (see the top of this file).
 */
export function installGeneration(maps: RuleMaps, config: Pick<PacketFilterConfig, "ipv4" | "ipv6">, inners?: InnerMaps): void {
  const current = liveGeneration(maps);
  const next = current + 1n;
  const live = Number(current & 1n);
  const idle = live ^ 1;
  const { assigned, used, held } = assignCounters(maps, config, inners, live, Number(next));
  const generation: Generation = { flags: 0, count: new Uint8Array(FAMILIES.length), length: FAMILIES.map(() => new Uint8Array(HASHED_LENGTHS)), summary: new Uint8Array(FAMILIES.length) };
  const { state, generations, outer } = typed(maps);
  let flags = 0;
  /** The new maps. */
  const built: Built[] = [];
  let created: number[] = [];
  let switched = false;
  try {
    created = createChunks(maps, inners, used);
    for (const family of FAMILIES) {
      const f = config[family];
      if (f.default === "block") flags |= GEN_DEFAULT_BLOCK[family];
      const full = addressBytes(family) * 8;
      const byKind: Record<Kind, number[]> = { hosts: [], prefixes: [], prefix_hash: [] };
      const prefixes: number[] = [];
      f.rules.forEach((r, j) => (r.prefix.length === full ? byKind.hosts : prefixes).push(j));
      const lengthsUsed = [...new Set(prefixes.map((j) => f.rules[j]?.prefix.length ?? 0))].sort((a, b) => b - a);
      const hashed = lengthsUsed.length <= HASHED_LENGTHS;
      byKind[hashed ? "prefix_hash" : "prefixes"] = prefixes;
      if (hashed) {
        generation.count[FAMILY_INDEX[family]] = lengthsUsed.length;
        generation.length[FAMILY_INDEX[family]]?.set(lengthsUsed);
      }
      // The summaries of the idle slot (a prefix is summarized by its first `shortest` bits).
      const shortest = lengthsUsed.at(-1) ?? 0;
      generation.summary[FAMILY_INDEX[family]] = shortest;
      const addresses = (positions: number[]) => positions.map((j) => f.rules[j]?.prefix.address ?? new Uint8Array(addressBytes(family)));
      const summaries = [
        { kind: "hosts" as const, bitmap: summaryBitmap(addresses(byKind.hosts)) },
        { kind: "prefixes" as const, bitmap: summaryBitmap(shortest ? addresses(prefixes) : [], shortest) },
      ];
      for (const { kind, bitmap } of summaries) runtime.updateBatch(maps.summary, summaryKeys(idle, FAMILY_INDEX[family], kind), bitmap);
      for (const kind of KINDS) {
        const positions = byKind[kind];
        const name = outerName(family, kind);
        if (positions.length === 0) {
          outer(name).delete(idle);
          inners?.set(name, idle, undefined);
          continue;
        }
        const map = buildInner(family, kind, f.rules, positions, assigned[family]);
        built.push({ family, kind, map });
        outer(name).set(idle, map.fd);
        flags |= GEN_MAPS[kind][family];
      }
    }
    generations.set(idle, { ...generation, flags });
    state.set(0, next);
    switched = true;
    // Chunks only the generations before had: their rules are gone, and so are their counts.
    deleteChunks(maps, inners, [...held].filter((c) => !used.has(c)));
  } finally {
    for (const b of built) {
      const name = outerName(b.family, b.kind);
      if (inners && inners.get(name, idle) !== b.map) inners.set(name, idle, b.map);
      else if (!inners) b.map.close(); // the outer array holds it
    }
    // No generation refers to the chunks a failed install made.
    if (!switched) deleteChunks(maps, inners, created);
  }
}
