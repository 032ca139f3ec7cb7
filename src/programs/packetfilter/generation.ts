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
import { u32Key } from "../common/maps.js";
import type { Family, Prefix } from "../common/net.js";
import type { Action, FamilyRules, PacketFilterConfig } from "./config.js";
import { summaryBitmap, summaryKeys } from "./summary.js";

/** Flags of a generation (GEN_* in packetfilter.bpf.c). */
const GEN_DEFAULT_BLOCK: Record<Family, number> = { ipv4: 0x1, ipv6: 0x2 };
const GEN_MAPS: Record<Kind, Record<Family, number>> = {
  hosts: { ipv4: 0x4, ipv6: 0x20 },
  prefixes: { ipv4: 0x8, ipv6: 0x40 },
  prefix_hash: { ipv4: 0x10, ipv6: 0x80 },
};
/** struct generation: flags (u32), count[2], length[2][HASHED_LENGTHS], summary[2]. */
const GENERATION_SIZE = 16;
const GENERATION_SUMMARY = 14;
/** Prefixes of at most this many lengths live in a hash map (one lookup per length); more, in an LPM trie. */
export const HASHED_LENGTHS = 4;
const FAMILY_INDEX: Record<Family, number> = { ipv4: 0, ipv6: 1 };
const FAMILIES = ["ipv4", "ipv6"] as const;
const ACTION_CODE: Record<Action, number> = { allow: 0, block: 1 };
/** struct rule: action, prefixlen, counter (u32 each), reserved, tag (u64). */
export const RULE_SIZE = 24;
const RULE_COUNTER = 8;
const RULE_TAG = 16;
/** struct hit: tag, count (u64 each). */
export const HIT_SIZE = 16;
/** Counters per chunk (per CPU), and the most chunks (HIT_CHUNK*, packetfilter.bpf.c). */
export const HIT_CHUNK_BITS = 12;
export const HIT_CHUNK = 1 << HIT_CHUNK_BITS;
export const HIT_CHUNKS = 16384;
const BPF_F_NO_PREALLOC = 1;
/** Entries per BPF_MAP_UPDATE_BATCH call. */
const BATCH = 8192;

/** The maps of the program that hold generations (by their names in the object). */
export const RULE_MAP_NAMES = ["state", "generations", "summary", "v4_hosts", "v4_prefixes", "v4_prefix_hash", "v6_hosts", "v6_prefixes", "v6_prefix_hash", "hit_chunks"] as const;
export type RuleMaps = { readonly [K in (typeof RULE_MAP_NAMES)[number]]: runtime.BpfMap };

/** Exact hosts (hash), prefixes in an LPM trie, or prefixes of few lengths in a hash. */
type Kind = "hosts" | "prefixes" | "prefix_hash";
const KINDS: readonly Kind[] = ["hosts", "prefixes", "prefix_hash"];
const outerName = (family: Family, kind: Kind) => `${family === "ipv4" ? "v4" : "v6"}_${kind}` as const;
const addressBytes = (family: Family): number => (family === "ipv4" ? 4 : 16);
const keySizeOf = (family: Family, kind: Kind): number => (kind === "hosts" ? 0 : 4) + addressBytes(family);

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
  return maps.state.lookup(u32Key(0))?.readBigUInt64LE(0) ?? 0n;
}

/** The live slot (0 or 1). */
export function liveSlot(maps: RuleMaps): number {
  return Number(liveGeneration(maps) & 1n);
}

/** The flags of the live generation. */
function liveFlags(maps: RuleMaps): number {
  return maps.generations.lookup(u32Key(liveSlot(maps)))?.readUInt32LE(0) ?? 0;
}

/** A rule's key in its map, written at `at`: the address (hosts) or prefix length + address (the others). */
function writeKey(out: Buffer, at: number, prefix: Prefix, kind: Kind): void {
  if (kind === "hosts") {
    out.set(prefix.address, at);
    return;
  }
  out.writeUInt32LE(prefix.length, at);
  out.set(prefix.address, at + 4);
}

function prefixOf(key: Buffer, family: Family, kind: Kind): Prefix {
  if (kind === "hosts") return { family, address: Uint8Array.from(key), length: addressBytes(family) * 8 };
  return { family, address: Uint8Array.from(key.subarray(4)), length: key.readUInt32LE(0) };
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

/** The identity of the stored rule `i` of an inner map's entries. */
function storedRuleId(family: Family, stored: Stored, i: number): RuleId {
  const at = i * stored.keySize;
  const length = stored.kind === "hosts" ? addressBytes(family) * 8 : stored.keys.readUInt32LE(at);
  return ruleId(family, stored.keys, stored.kind === "hosts" ? at : at + 4, length, stored.values.readUInt32LE(i * RULE_SIZE));
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

  get(outer: string, slot: number): runtime.BpfMap | undefined {
    return this.maps.get(`${outer}/${slot}`);
  }

  /** Records (or forgets) the map now in a slot, closing the one it replaces. */
  set(outer: string, slot: number, map: runtime.BpfMap | undefined): void {
    const key = `${outer}/${slot}`;
    const old = this.maps.get(key);
    if (old !== map) old?.close();
    if (map) this.maps.set(key, map);
    else this.maps.delete(key);
  }

  close(): void {
    for (const m of this.maps.values()) m.close();
    this.maps.clear();
  }
}

/** Calls `use` with the inner map in an outer map's slot: one this process made, or reopened by id. */
function withInner<T>(outer: runtime.BpfMap, name: string, slot: number, inners: InnerMaps | undefined, use: (inner: runtime.BpfMap) => T): T | undefined {
  const known = inners?.get(name, slot);
  const id = known ? undefined : outer.lookup(u32Key(slot))?.readUInt32LE(0);
  const inner = known ?? (id ? runtime.BpfMap.fromId(id) : undefined);
  if (!inner) return undefined;
  try {
    return use(inner);
  } finally {
    if (!known) inner.close();
  }
}

/** The rules of one inner map, packed: keys (`keySize` bytes each) and struct rule values. */
interface Stored {
  readonly kind: Kind;
  readonly keySize: number;
  readonly keys: Buffer;
  readonly values: Buffer;
  readonly count: number;
}

/** Every rule of a family in a slot, by inner map. */
function slotRules(maps: RuleMaps, inners: InnerMaps | undefined, family: Family, slot: number): Stored[] {
  const out: Stored[] = [];
  for (const kind of KINDS) {
    const name = outerName(family, kind);
    const entries = withInner(maps[name], name, slot, inners, readEntries);
    if (entries && entries.count > 0) out.push({ kind, keySize: keySizeOf(family, kind), ...entries });
  }
  return out;
}

/** A stored rule's counter and tag (tags stay far below 2^53: one per generation). */
const counterOf = (values: Buffer, i: number): number => values.readUInt32LE(i * RULE_SIZE + RULE_COUNTER);
const tagOf = (values: Buffer, i: number): number => values.readUInt32LE(i * RULE_SIZE + RULE_TAG) + values.readUInt32LE(i * RULE_SIZE + RULE_TAG + 4) * 2 ** 32;

/** The hit counters' chunks, read whole on first use (entries CPU-major, struct hit each). */
class HitReader {
  private readonly chunks = new Map<number, Buffer | undefined>();

  constructor(
    private readonly maps: RuleMaps,
    private readonly inners: InnerMaps | undefined,
  ) {}

  /** A counter's packets: the entries of every CPU that carry the rule's tag. */
  hits(counter: number, tag: number): bigint {
    const chunk = this.chunk(counter >>> HIT_CHUNK_BITS);
    if (!chunk) return 0n;
    const low = tag % 2 ** 32;
    const high = Math.floor(tag / 2 ** 32);
    let sum = 0n;
    const perCpu = HIT_CHUNK * HIT_SIZE;
    for (let at = (counter & (HIT_CHUNK - 1)) * HIT_SIZE; at < chunk.length; at += perCpu) {
      if (chunk.readUInt32LE(at) === low && chunk.readUInt32LE(at + 4) === high) sum += chunk.readBigUInt64LE(at + 8);
    }
    return sum;
  }

  private chunk(index: number): Buffer | undefined {
    if (this.chunks.has(index)) return this.chunks.get(index);
    const values = withInner(this.maps.hit_chunks, "hit_chunks", index, this.inners, (map) => {
      const entries = readEntries(map);
      const out = Buffer.alloc(map.maxEntries * HIT_SIZE);
      for (let i = 0; i < entries.count; i++) entries.values.copy(out, entries.keys.readUInt32LE(i * 4) * HIT_SIZE, i * HIT_SIZE, (i + 1) * HIT_SIZE);
      return out;
    });
    this.chunks.set(index, values);
    return values;
  }
}

/** The live generation's rules of one family, with their hit counts. */
export function readRules(maps: RuleMaps, family: Family, inners?: InnerMaps): RuleState[] {
  const hits = new HitReader(maps, inners);
  const out: RuleState[] = [];
  for (const stored of slotRules(maps, inners, family, liveSlot(maps))) {
    for (let i = 0; i < stored.count; i++) {
      const key = stored.keys.subarray(i * stored.keySize, (i + 1) * stored.keySize);
      const action = stored.values.readUInt32LE(i * RULE_SIZE) === ACTION_CODE.block ? "block" : "allow";
      out.push({ prefix: prefixOf(key, family, stored.kind), action, hits: hits.hits(counterOf(stored.values, i), tagOf(stored.values, i)) });
    }
  }
  return out;
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
        taken.add(counterOf(stored.values, i));
        held.add(counterOf(stored.values, i) >>> HIT_CHUNK_BITS);
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
        const counter = counterOf(s.values, i);
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
      a.counters[j] = counterOf(s.values, at & 0xffffff);
      a.tags[j] = tagOf(s.values, at & 0xffffff);
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
  for (const index of used) {
    if (maps.hit_chunks.lookup(u32Key(index))) continue;
    const chunk = runtime.BpfMap.create({ name: "pf_hits", type: abi.MapType.ARRAY, keySize: 4, valueSize: HIT_SIZE, maxEntries: entries });
    try {
      maps.hit_chunks.update(u32Key(index), u32Key(chunk.fd));
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
  for (const index of chunks) {
    maps.hit_chunks.delete(u32Key(index));
    inners?.set("hit_chunks", index, undefined);
  }
}

/** Creates and fills one inner map. */
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
    let batch = true;
    for (let start = 0; start < positions.length; start += chunk) {
      const n = Math.min(chunk, positions.length - start);
      for (let i = 0; i < n; i++) {
        const j = positions[start + i] ?? 0;
        const r = rules[j];
        if (!r) continue;
        writeKey(keys, i * keySize, r.prefix, kind);
        const at = i * RULE_SIZE;
        const tag = assigned.tags[j] ?? 0;
        values.writeUInt32LE(ACTION_CODE[r.action], at);
        values.writeUInt32LE(r.prefix.length, at + 4);
        values.writeUInt32LE(assigned.counters[j] ?? 0, at + RULE_COUNTER);
        values.writeUInt32LE(0, at + 12);
        values.writeUInt32LE(tag % 2 ** 32, at + RULE_TAG);
        values.writeUInt32LE(Math.floor(tag / 2 ** 32), at + RULE_TAG + 4);
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
  const generation = Buffer.alloc(GENERATION_SIZE);
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
        generation[4 + FAMILY_INDEX[family]] = lengthsUsed.length;
        generation.set(lengthsUsed, 6 + FAMILY_INDEX[family] * HASHED_LENGTHS);
      }
      // The summaries of the idle slot (a prefix is summarized by its first `shortest` bits).
      const shortest = lengthsUsed.at(-1) ?? 0;
      generation[GENERATION_SUMMARY + FAMILY_INDEX[family]] = shortest;
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
          maps[name].delete(u32Key(idle));
          inners?.set(name, idle, undefined);
          continue;
        }
        const map = buildInner(family, kind, f.rules, positions, assigned[family]);
        built.push({ family, kind, map });
        maps[name].update(u32Key(idle), u32Key(map.fd));
        flags |= GEN_MAPS[kind][family];
      }
    }
    generation.writeUInt32LE(flags, 0);
    maps.generations.update(u32Key(idle), generation);
    const state = Buffer.alloc(8);
    state.writeBigUInt64LE(next);
    maps.state.update(u32Key(0), state);
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
