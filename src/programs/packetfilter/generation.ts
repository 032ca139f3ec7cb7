/**
 * One generation of rules in the kernel: for each family, a hash map of exact hosts and an LPM
 * trie of shorter prefixes, held by the two-slot outer arrays; the state word says which slot is
 * live and carries the defaults. `installGeneration` fills the idle slot and flips the word: one
 * 4-byte write switches every rule and default at once.
 */
import { abi, runtime } from "../../index.js";
import type { Family, Prefix } from "../common/net.js";
import type { Action, FamilyRules, PacketFilterConfig } from "./config.js";

const STATE_SLOT = 0x1;
const STATE_DEFAULT_BLOCK: Record<Family, number> = { ipv4: 0x2, ipv6: 0x4 };
const STATE_HOSTS: Record<Family, number> = { ipv4: 0x8, ipv6: 0x20 };
const STATE_PREFIXES: Record<Family, number> = { ipv4: 0x10, ipv6: 0x40 };
const ACTION_CODE: Record<Action, number> = { allow: 0, block: 1 };
const RULE_SIZE = 16;
const BPF_F_NO_PREALLOC = 1;

/** The maps of the program that hold generations (by their names in the object). */
export interface RuleMaps {
  readonly state: runtime.BpfMap;
  readonly v4_hosts: runtime.BpfMap;
  readonly v4_prefixes: runtime.BpfMap;
  readonly v6_hosts: runtime.BpfMap;
  readonly v6_prefixes: runtime.BpfMap;
}
export const RULE_MAP_NAMES = ["state", "v4_hosts", "v4_prefixes", "v6_hosts", "v6_prefixes"] as const;

type Kind = "hosts" | "prefixes";
const outerOf = (maps: RuleMaps, family: Family, kind: Kind): runtime.BpfMap => maps[`${family === "ipv4" ? "v4" : "v6"}_${kind}`];
const addressBytes = (family: Family): number => (family === "ipv4" ? 4 : 16);

/** A rule as the kernel holds it, with the packets it decided so far. */
export interface RuleState {
  readonly prefix: Prefix;
  readonly action: Action;
  readonly hits: bigint;
}

/** The state word: live slot, defaults, which maps the live generation has. */
export function readState(maps: RuleMaps): number {
  return maps.state.lookup(u32(0))?.readUInt32LE(0) ?? 0;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** A rule's key in its map: the address (hosts) or prefix length + address (tries). */
function keyOf(prefix: Prefix, kind: Kind): Buffer {
  if (kind === "hosts") return Buffer.from(prefix.address);
  const key = Buffer.alloc(4 + prefix.address.length);
  key.writeUInt32LE(prefix.length, 0);
  key.set(prefix.address, 4);
  return key;
}

function prefixOf(key: Buffer, family: Family, kind: Kind): Prefix {
  if (kind === "hosts") return { family, address: Uint8Array.from(key), length: addressBytes(family) * 8 };
  return { family, address: Uint8Array.from(key.subarray(4)), length: key.readUInt32LE(0) };
}

/** The inner map of a slot, opened by the id the outer array holds (undefined when empty). */
function innerMap(outer: runtime.BpfMap, slot: number): runtime.BpfMap | undefined {
  const id = outer.lookup(u32(slot))?.readUInt32LE(0);
  return id ? runtime.BpfMap.fromId(id) : undefined;
}

/** The live generation's rules of one family, with their hit counts. */
export function readRules(maps: RuleMaps, family: Family): RuleState[] {
  const slot = readState(maps) & STATE_SLOT;
  const out: RuleState[] = [];
  for (const kind of ["hosts", "prefixes"] as const) {
    const inner = innerMap(outerOf(maps, family, kind), slot);
    if (!inner) continue;
    try {
      for (const [key, value] of inner.entries()) {
        out.push({ prefix: prefixOf(key, family, kind), action: value.readUInt32LE(0) === 1 ? "block" : "allow", hits: value.readBigUInt64LE(8) });
      }
    } finally {
      inner.close();
    }
  }
  return out;
}

/** The default actions of the live generation. */
export function readDefaults(maps: RuleMaps): Record<Family, Action> {
  const s = readState(maps);
  return { ipv4: s & STATE_DEFAULT_BLOCK.ipv4 ? "block" : "allow", ipv6: s & STATE_DEFAULT_BLOCK.ipv6 ? "block" : "allow" };
}

/** Creates and fills one inner map; hits carry over from the live generation for unchanged rules. */
function buildInner(family: Family, kind: Kind, rules: FamilyRules["rules"], previous: Map<string, bigint>): runtime.BpfMap {
  const keySize = kind === "hosts" ? addressBytes(family) : 4 + addressBytes(family);
  const map = runtime.BpfMap.create({
    name: `pf_${family === "ipv4" ? "v4" : "v6"}_${kind}`,
    type: kind === "hosts" ? abi.MapType.HASH : abi.MapType.LPM_TRIE,
    keySize,
    valueSize: RULE_SIZE,
    maxEntries: Math.max(1, rules.length),
    flags: kind === "hosts" ? 0 : BPF_F_NO_PREALLOC,
  });
  try {
    const value = Buffer.alloc(RULE_SIZE);
    for (const r of rules) {
      const key = keyOf(r.prefix, kind);
      value.writeUInt32LE(ACTION_CODE[r.action], 0);
      value.writeBigUInt64LE(previous.get(`${r.action}:${key.toString("hex")}`) ?? 0n, 8);
      map.update(key, value);
    }
    return map;
  } catch (e) {
    map.close();
    throw e;
  }
}

/** Hit counts of the live generation, by action and key, to carry into the next one. */
function liveHits(maps: RuleMaps, family: Family, kind: Kind, slot: number): Map<string, bigint> {
  const hits = new Map<string, bigint>();
  const inner = innerMap(outerOf(maps, family, kind), slot);
  if (!inner) return hits;
  try {
    for (const [key, value] of inner.entries()) hits.set(`${value.readUInt32LE(0) === 1 ? "block" : "allow"}:${key.toString("hex")}`, value.readBigUInt64LE(8));
  } finally {
    inner.close();
  }
  return hits;
}

/** Waits this long without returning to the event loop (a program that read the old word has long finished). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Installs the configuration as the next generation and makes it live in one write. Until the
 * write, packets see the previous generation (or, at first start, pass: state 0); afterwards,
 * the new one. The previous generation's maps are released once no packet can still use them.
 */
export function installGeneration(maps: RuleMaps, config: Pick<PacketFilterConfig, "ipv4" | "ipv6">): void {
  const live = readState(maps);
  const liveSlot = live & STATE_SLOT;
  const next = liveSlot ^ 1;
  let word = next;
  for (const family of ["ipv4", "ipv6"] as const) {
    const f = config[family];
    if (f.default === "block") word |= STATE_DEFAULT_BLOCK[family];
    const full = addressBytes(family) * 8;
    for (const kind of ["hosts", "prefixes"] as const) {
      const rules = f.rules.filter((r) => (r.prefix.length === full) === (kind === "hosts"));
      const outer = outerOf(maps, family, kind);
      if (rules.length === 0) {
        outer.delete(u32(next));
        continue;
      }
      using inner = buildInner(family, kind, rules, liveHits(maps, family, kind, liveSlot));
      outer.update(u32(next), u32(inner.fd));
      word |= kind === "hosts" ? STATE_HOSTS[family] : STATE_PREFIXES[family];
    }
  }
  maps.state.update(u32(0), u32(word));
  // A packet that read the old word a moment ago may still look in the old slot: give it time.
  sleepSync(20);
  for (const name of RULE_MAP_NAMES) if (name !== "state") maps[name].delete(u32(liveSlot));
}
