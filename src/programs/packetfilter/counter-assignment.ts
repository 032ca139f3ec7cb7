/**
 * Hit counters for the next generation (see the top of generation.ts): a rule the live generation
 * has keeps its counter and tag; a new one gets a counter neither slot holds.
 */
import type { Family } from "../common/net.js";
import type { PacketFilterConfig } from "./config.js";
import { ACTION_CODE, FAMILIES, HIT_CHUNK, HIT_CHUNK_BITS, HIT_CHUNKS, HOST_CODEC, KINDS, PREFIX_CODEC, StoredRules, addressBytes, keySizeOf, outerName, viewOf, type Kind } from "./rule-encoding.js";
import { readEntries, withInner, type InnerMaps, type RuleMaps } from "./rule-maps.js";

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

/** The rules of one inner map, packed: keys (`keySize` bytes each) and their struct rule values. */
interface Stored {
  readonly kind: Kind;
  readonly keySize: number;
  readonly keyBytes: Uint8Array;
  readonly keys: DataView;
  readonly values: StoredRules;
  readonly count: number;
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
export interface Assignment {
  readonly counters: Uint32Array;
  readonly tags: Float64Array;
}

/**
 * Counters for the next generation: a rule the live generation has (same prefix, same action)
 * keeps its counter and tag; a new one gets a counter neither slot holds, tagged `tag`.
 */
export function assignCounters(maps: RuleMaps, config: Pick<PacketFilterConfig, "ipv4" | "ipv6">, inners: InnerMaps | undefined, live: number, tag: number): { assigned: Record<Family, Assignment>; used: Set<number>; held: Set<number> } {
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
