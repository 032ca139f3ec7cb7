/**
 * The maps that hold generations: their names, typed access to the outer arrays and the live
 * generation, the inner maps this process made (InnerMaps), and reading a map's entries whole or
 * in batches.
 */
import { readFileSync } from "node:fs";
import { runtime, SyscallError } from "../../index.js";
import { GenerationCodec, U32Codec, U64Codec, type Maps } from "./packetfilter.gen.js";
import { HIT_CHUNK, type OuterName } from "./rule-encoding.js";

/** Entries per batch call (BPF_MAP_UPDATE_BATCH; BPF_MAP_LOOKUP_BATCH in readEntries). */
export const BATCH = 8192;

/** The maps of the program that hold generations (by their names in the object). */
export const RULE_MAP_NAMES = ["state", "generations", "summary", "v4_hosts", "v4_prefixes", "v4_prefix_hash", "v6_hosts", "v6_prefixes", "v6_prefix_hash", "hit_chunks"] as const satisfies readonly (keyof Maps)[];
export type RuleMaps = Pick<Maps, (typeof RULE_MAP_NAMES)[number]>;

/** The maps `installGeneration` reads and writes, with the generated codecs of their keys and values. */
export function typed(maps: RuleMaps) {
  return {
    state: new runtime.TypedMap(maps.state, U32Codec, U64Codec),
    generations: new runtime.TypedMap(maps.generations, U32Codec, GenerationCodec),
    /** An outer map: the inner map's fd goes in, its id comes out. */
    outer: (name: OuterName | "hit_chunks") => new runtime.TypedMap(maps[name], U32Codec, U32Codec),
  };
}

/** How many CPUs this machine can have (the ids bpf_get_smp_processor_id returns are below it). */
function possibleCpus(): number {
  let highest = 0;
  for (const range of readFileSync("/sys/devices/system/cpu/possible", "utf8").trim().split(",")) {
    highest = Math.max(highest, Number(range.split("-").pop()));
  }
  return highest + 1;
}

/** Entries of a hit chunk on this machine: HIT_CHUNK counters for each CPU. */
export const hitChunkEntries = (): number => possibleCpus() * HIT_CHUNK;

/** The live generation's number (0: none installed yet). */
export function liveGeneration(maps: RuleMaps): bigint {
  return typed(maps).state.get(0) ?? 0n;
}

/** The live slot (0 or 1). */
function liveSlot(maps: RuleMaps): number {
  return Number(liveGeneration(maps) & 1n);
}

/** The flags of the live generation. */
export function liveFlags(maps: RuleMaps): number {
  return typed(maps).generations.get(liveSlot(maps))?.flags ?? 0;
}

/** A map's entries, a batch (one system call) of `chunk` per step; tries, which have no batch operations, one entry per call, `chunk` per step. */
export function* entryBatches(map: runtime.BpfMap, chunk: number): Generator<runtime.Entries> {
  const batches = runtime.lookupBatches(map, chunk);
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
      if (keys.length === chunk) {
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

/** Every entry of a map, packed (entryBatches' steps, BATCH entries each, at once). */
export function readEntries(map: runtime.BpfMap): runtime.Entries {
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  let count = 0;
  for (const batch of entryBatches(map, BATCH)) {
    keys.push(batch.keys);
    values.push(batch.values);
    count += batch.count;
  }
  return { keys: Buffer.concat(keys), values: Buffer.concat(values), count };
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

/**
 * The inner map in an outer map's slot: one this process made (`owned` false: InnerMaps closes
 * it), or reopened by id (`owned`: the caller closes it).
 */
export function openInner(maps: RuleMaps, name: OuterName | "hit_chunks", slot: number, inners: InnerMaps | undefined): { map: runtime.BpfMap; owned: boolean } | undefined {
  const known = inners?.get(name, slot);
  if (known) return { map: known, owned: false };
  const id = typed(maps).outer(name).get(slot);
  return id ? { map: runtime.BpfMap.fromId(id), owned: true } : undefined;
}

/** Calls `use` with the inner map in an outer map's slot (see openInner). */
export function withInner<T>(maps: RuleMaps, name: OuterName | "hit_chunks", slot: number, inners: InnerMaps | undefined, use: (inner: runtime.BpfMap) => T): T | undefined {
  const inner = openInner(maps, name, slot, inners);
  if (!inner) return undefined;
  try {
    return use(inner.map);
  } finally {
    if (inner.owned) inner.map.close();
  }
}
