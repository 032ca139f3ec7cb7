/**
 * One generation of rules in the kernel (see packetfilter.bpf.c): per family, inner maps of exact
 * hosts and of prefixes (a per-CPU hash keyed by length and masked address, or an LPM trie)
 * held by two-slot outer arrays, and the slot's `generations` entry (defaults, which maps, prefix
 * lengths). `installGeneration` fills the idle slot, then writes the live slot number into
 * `state`: every rule and default changes at once.
 */
import { abi, runtime, SyscallError } from "../../index.js";
import { sleepSync } from "../common/lock.js";
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
const ACTION_CODE: Record<Action, number> = { allow: 0, block: 1 };
const RULE_SIZE = 16;
const BPF_F_NO_PREALLOC = 1;
/** Entries per BPF_MAP_UPDATE_BATCH call. */
const BATCH = 8192;

/** The maps of the program that hold generations (by their names in the object). */
export const RULE_MAP_NAMES = ["state", "generations", "summary", "v4_hosts", "v4_prefixes", "v4_prefix_hash", "v6_hosts", "v6_prefixes", "v6_prefix_hash"] as const;
export type RuleMaps = { readonly [K in (typeof RULE_MAP_NAMES)[number]]: runtime.BpfMap };

/** Exact hosts (per-CPU hash), prefixes in an LPM trie, or prefixes of few lengths in a per-CPU hash. */
type Kind = "hosts" | "prefixes" | "prefix_hash";
const KINDS: readonly Kind[] = ["hosts", "prefixes", "prefix_hash"];
const outerName = (family: Family, kind: Kind) => `${family === "ipv4" ? "v4" : "v6"}_${kind}` as const;
const addressBytes = (family: Family): number => (family === "ipv4" ? 4 : 16);

/** A rule as the kernel holds it, with the packets it decided so far. */
export interface RuleState {
  readonly prefix: Prefix;
  readonly action: Action;
  readonly hits: bigint;
}

/** The live slot (0 or 1). */
export function liveSlot(maps: RuleMaps): number {
  return (maps.state.lookup(u32Key(0))?.readUInt32LE(0) ?? 0) & 1;
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

/** A rule's identity across generations: its action and key bytes (as latin1 text, a cheap string). */
const hitsKey = (action: Action, key: Buffer): string => `${action}:${key.toString("latin1")}`;

/** A rule's value: its action, and its hits summed over CPUs (host maps are per-CPU). */
function decodeRule(map: runtime.BpfMap, value: Buffer): { action: Action; hits: bigint } {
  let hits = 0n;
  // Per-CPU maps hold one RULE_SIZE slot per CPU (16 bytes: already 8-byte aligned).
  for (let at = 8; at < value.length; at += RULE_SIZE) hits += value.readBigUInt64LE(at);
  return { action: value.readUInt32LE(0) === ACTION_CODE.block ? "block" : "allow", hits };
}

/** Every entry of an inner map: in batches where the map type has them (hash maps), else one by one (tries). */
function* allEntries(map: runtime.BpfMap): Generator<[Buffer, Buffer]> {
  let batch: runtime.Entries | undefined;
  try {
    batch = runtime.lookupBatch(map);
  } catch (e) {
    if (!(e instanceof SyscallError) || !["EINVAL", "ENOTSUPP", "EOPNOTSUPP"].includes(e.code)) throw e;
  }
  if (!batch) {
    yield* map.entries();
    return;
  }
  for (let i = 0; i < batch.count; i++) {
    yield [batch.keys.subarray(i * map.keySize, (i + 1) * map.keySize), batch.values.subarray(i * map.userValueSize, (i + 1) * map.userValueSize)];
  }
}

/**
 * The inner maps this process put in the outer arrays, by outer map and slot. Reading a slot
 * through them needs no BPF_MAP_GET_FD_BY_ID (which wants CAP_SYS_ADMIN); a filter opened from
 * its pins has none and reopens the maps by id.
 */
export class InnerMaps {
  private readonly maps = new Map<string, runtime.BpfMap>();

  get(outer: string, slot: number): runtime.BpfMap | undefined {
    return this.maps.get(`${outer}/${slot}`);
  }

  /** Records (or forgets) the map now in a slot, closing the one it replaces. */
  set(outer: string, slot: number, map: runtime.BpfMap | undefined): void {
    const key = `${outer}/${slot}`;
    this.maps.get(key)?.close();
    if (map) this.maps.set(key, map);
    else this.maps.delete(key);
  }

  close(): void {
    for (const m of this.maps.values()) m.close();
    this.maps.clear();
  }
}

/** A rule as its inner map holds it. */
interface StoredRule {
  readonly kind: Kind;
  readonly key: Buffer;
  readonly action: Action;
  readonly hits: bigint;
}

/** Calls `use` with each inner map of a family in a slot: one this process made, or reopened by id. */
function forEachInner(maps: RuleMaps, inners: InnerMaps | undefined, family: Family, slot: number, use: (kind: Kind, inner: runtime.BpfMap) => void): void {
  for (const kind of KINDS) {
    const outer = outerName(family, kind);
    const known = inners?.get(outer, slot);
    const id = known ? undefined : maps[outer].lookup(u32Key(slot))?.readUInt32LE(0);
    const inner = known ?? (id ? runtime.BpfMap.fromId(id) : undefined);
    if (!inner) continue;
    try {
      use(kind, inner);
    } finally {
      if (!known) inner.close();
    }
  }
}

/** Every rule of a family in a slot. */
function slotRules(maps: RuleMaps, inners: InnerMaps | undefined, family: Family, slot: number): StoredRule[] {
  const out: StoredRule[] = [];
  forEachInner(maps, inners, family, slot, (kind, inner) => {
    for (const [key, value] of allEntries(inner)) out.push({ kind, key: Buffer.from(key), ...decodeRule(inner, value) });
  });
  return out;
}

/** The live generation's rules of one family, with their hit counts. */
export function readRules(maps: RuleMaps, family: Family, inners?: InnerMaps): RuleState[] {
  return slotRules(maps, inners, family, liveSlot(maps)).map((r) => ({ prefix: prefixOf(r.key, family, r.kind), action: r.action, hits: r.hits }));
}

/** The default actions of the live generation. */
export function readDefaults(maps: RuleMaps): Record<Family, Action> {
  const flags = liveFlags(maps);
  return { ipv4: flags & GEN_DEFAULT_BLOCK.ipv4 ? "block" : "allow", ipv6: flags & GEN_DEFAULT_BLOCK.ipv6 ? "block" : "allow" };
}

/** Creates and fills one inner map; hits carry over from the live generation for unchanged rules. */
function buildInner(family: Family, kind: Kind, rules: FamilyRules["rules"], previous: Map<string, bigint>): runtime.BpfMap {
  const keySize = kind === "hosts" ? addressBytes(family) : 4 + addressBytes(family);
  const map = runtime.BpfMap.create({
    name: `pf_${family === "ipv4" ? "v4" : "v6"}_${kind}`,
    type: kind === "prefixes" ? abi.MapType.LPM_TRIE : abi.MapType.PERCPU_HASH,
    keySize,
    valueSize: RULE_SIZE,
    maxEntries: Math.max(1, rules.length),
    flags: kind === "prefixes" ? BPF_F_NO_PREALLOC : 0,
  });
  try {
    // Per-CPU values hold one 8-byte-aligned slot per CPU: the action in each, carried hits in the first.
    const valueSize = map.userValueSize;
    const chunk = Math.min(rules.length, BATCH);
    const keys = Buffer.alloc(chunk * keySize);
    const values = Buffer.alloc(chunk * valueSize);
    let batch = true;
    for (let start = 0; start < rules.length; start += chunk) {
      const part = rules.slice(start, start + chunk);
      values.fill(0);
      part.forEach((r, i) => {
        writeKey(keys, i * keySize, r.prefix, kind);
        for (let at = i * valueSize; at < (i + 1) * valueSize; at += RULE_SIZE) {
          values.writeUInt32LE(ACTION_CODE[r.action], at);
          values.writeUInt32LE(r.prefix.length, at + 4);
        }
        const carried = previous.size > 0 ? previous.get(hitsKey(r.action, keys.subarray(i * keySize, (i + 1) * keySize))) : undefined;
        if (carried) values.writeBigUInt64LE(carried, i * valueSize + 8);
      });
      const n = part.length;
      if (batch) {
        try {
          runtime.updateBatch(map, keys.subarray(0, n * keySize), values.subarray(0, n * valueSize));
          continue;
        } catch (e) {
          // LPM tries have no batch operations: one entry per call instead.
          if (!(e instanceof SyscallError) || !["EINVAL", "ENOTSUPP", "EOPNOTSUPP"].includes(e.code)) throw e;
          batch = false;
        }
      }
      for (let i = 0; i < n; i++) map.update(keys.subarray(i * keySize, (i + 1) * keySize), values.subarray(i * valueSize, (i + 1) * valueSize));
    }
    return map;
  } catch (e) {
    map.close();
    throw e;
  }
}

/**
 * The rules of a slot's family that have hits, by action and key, to carry into the next
 * generation (rules without hits need nothing: most of a large set).
 */
function liveHits(maps: RuleMaps, inners: InnerMaps | undefined, family: Family, slot: number): Map<string, bigint> {
  const out = new Map<string, bigint>();
  forEachInner(maps, inners, family, slot, (_kind, inner) => {
    for (const [key, value] of allEntries(inner)) {
      const rule = decodeRule(inner, value);
      if (rule.hits > 0n) out.set(hitsKey(rule.action, Buffer.from(key)), rule.hits);
    }
  });
  return out;
}

/**
 * Installs the configuration as the next generation and makes it live in one write. Until the
 * write, packets see the previous generation (or, at first start, pass everything); afterwards,
 * the new one. The previous generation stays in its slot, untouched, until the next install
 * rewrites it: a packet that read the old slot number a moment before finds all it needs there.
 */
export function installGeneration(maps: RuleMaps, config: Pick<PacketFilterConfig, "ipv4" | "ipv6">, inners?: InnerMaps): void {
  const live = liveSlot(maps);
  const next = live ^ 1;
  const generation = Buffer.alloc(GENERATION_SIZE);
  let flags = 0;
  /** The new maps, and each family's hit counts when they were filled. */
  const built: Built[] = [];
  const snapshots = new Map<Family, Map<string, bigint>>();
  try {
    for (const family of ["ipv4", "ipv6"] as const) {
      const f = config[family];
      if (f.default === "block") flags |= GEN_DEFAULT_BLOCK[family];
      const full = addressBytes(family) * 8;
      const previous = liveHits(maps, inners, family, live);
      snapshots.set(family, previous);
      const prefixes = f.rules.filter((r) => r.prefix.length !== full);
      const lengthsUsed = [...new Set(prefixes.map((r) => r.prefix.length))].sort((a, b) => b - a);
      const hashed = lengthsUsed.length <= HASHED_LENGTHS;
      const byKind: Record<Kind, FamilyRules["rules"]> = {
        hosts: f.rules.filter((r) => r.prefix.length === full),
        prefixes: hashed ? [] : prefixes,
        prefix_hash: hashed ? prefixes : [],
      };
      if (hashed) {
        generation[4 + FAMILY_INDEX[family]] = lengthsUsed.length;
        generation.set(lengthsUsed, 6 + FAMILY_INDEX[family] * HASHED_LENGTHS);
      }
      // The summaries of the idle slot (a prefix is summarized by its first `shortest` bits).
      const shortest = lengthsUsed.at(-1) ?? 0;
      generation[GENERATION_SUMMARY + FAMILY_INDEX[family]] = shortest;
      const summaries = [
        { kind: "hosts" as const, bitmap: summaryBitmap(byKind.hosts.map((r) => r.prefix.address)) },
        { kind: "prefixes" as const, bitmap: summaryBitmap(shortest ? prefixes.map((r) => r.prefix.address) : [], shortest) },
      ];
      for (const { kind, bitmap } of summaries) runtime.updateBatch(maps.summary, summaryKeys(next, FAMILY_INDEX[family], kind), bitmap);
      for (const kind of KINDS) {
        const rules = byKind[kind];
        const name = outerName(family, kind);
        if (rules.length === 0) {
          maps[name].delete(u32Key(next));
          inners?.set(name, next, undefined);
          continue;
        }
        const map = buildInner(family, kind, rules, previous);
        built.push({ family, kind, map });
        maps[name].update(u32Key(next), u32Key(map.fd));
        flags |= GEN_MAPS[kind][family];
      }
    }
    generation.writeUInt32LE(flags, 0);
    maps.generations.update(u32Key(next), generation);
    maps.state.update(u32Key(0), u32Key(next));
    carryLateHits(maps, inners, live, built, snapshots);
  } finally {
    for (const b of built) {
      const name = outerName(b.family, b.kind);
      if (inners && inners.get(name, next) !== b.map) inners.set(name, next, b.map);
      else if (!inners) b.map.close(); // the outer array holds it
    }
  }
}

interface Built {
  readonly family: Family;
  readonly kind: Kind;
  readonly map: runtime.BpfMap;
}

/**
 * Hits the old generation counted between the snapshot its successor was filled from and the
 * switch: once no packet can still be in the old slot, they are added to the new maps' entries.
 * (A packet counted in the new entry during that one read-modify-write may still be lost.)
 */
function carryLateHits(maps: RuleMaps, inners: InnerMaps | undefined, old: number, built: readonly Built[], snapshots: Map<Family, Map<string, bigint>>): void {
  sleepSync(10);
  for (const family of ["ipv4", "ipv6"] as const) {
    const before = snapshots.get(family);
    const targets = built.filter((b) => b.family === family);
    if (!before || targets.length === 0) continue;
    for (const [k, hits] of liveHits(maps, inners, family, old)) {
      const late = hits - (before.get(k) ?? 0n);
      if (late <= 0n) continue;
      const key = Buffer.from(k.slice(k.indexOf(":") + 1), "latin1");
      // Host keys are the bare address; prefix keys carry a length (in the hash map or the trie, whichever this generation has).
      const target = targets.find((b) => (b.kind === "hosts") === (key.length === addressBytes(family)));
      const value = target?.map.lookup(key);
      if (!target || !value || (value.readUInt32LE(0) === ACTION_CODE.block ? "block" : "allow") !== k.slice(0, k.indexOf(":"))) continue;
      value.writeBigUInt64LE(value.readBigUInt64LE(8) + late, 8);
      target.map.update(key, value);
    }
  }
}

