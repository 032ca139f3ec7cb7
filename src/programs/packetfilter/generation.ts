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
import { abi, runtime, SyscallError } from "../../index.js";
import type { Family } from "../common/net.js";
import type { FamilyRules, PacketFilterConfig } from "./config.js";
import { U32Codec, type Generation } from "./packetfilter.gen.js";
import { assignCounters, type Assignment } from "./counter-assignment.js";
import { ACTION_CODE, FAMILIES, FAMILY_INDEX, GEN_DEFAULT_BLOCK, GEN_MAPS, HASHED_LENGTHS, HIT_SIZE, KINDS, RULE_SIZE, addressBytes, keySizeOf, outerName, viewOf, writeKey, writeRule, type Kind } from "./rule-encoding.js";
import { BATCH, hitChunkEntries, liveGeneration, typed, type InnerMaps, type RuleMaps } from "./rule-maps.js";
import { summaryBitmap, summaryKeys } from "./summary.js";

const BPF_F_NO_PREALLOC = 1;

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
