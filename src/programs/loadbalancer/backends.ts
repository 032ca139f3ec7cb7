/**
 * The backend set of a running (or pinned) balancer: stable ids, generations, the double Maglev
 * table and the instance description, changed live by `apply` — see index.ts.
 */
import { Collection, runtime, type BpfMap } from "../../index.js";
import { arrayValues } from "../common/maps.js";
import { formatMac } from "../common/net.js";
import { MAX_BACKENDS, type LoadBalancerConfig } from "./config.js";
import { maglevTable } from "./maglev.js";
import { decodeSlots, encodeSlots, monotonicSeconds, nextSlots } from "./slots.js";
import { describeInstance, encodeInfo, readInfo } from "./status.js";
import { BackendCodec, BackendCountersCodec, LbControlCodec, U32Codec } from "./loadbalancer.gen.js";

/** What a reload changed. */
export interface ReloadResult {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Same name, new MAC: its flows start over. */
  readonly changed: readonly string[];
}

interface Assigned {
  readonly id: number;
  readonly generation: number;
  readonly mac: string;
}

/**
 * The backends of a loaded collection: each has a stable id (its entry in the backends and
 * counters maps) and a generation. `apply` moves the collection to a new backend set without a
 * moment of a half-written table: new entries first, then the Maglev table into the idle half,
 * then the flip, then the removed backends' entries invalidated (their flows become new flows).
 */
/** The maps a BackendSet writes: a loaded collection's, or a pinned instance's. */
export interface BackendMaps {
  readonly backends: BpfMap;
  readonly counters: BpfMap;
  readonly maglev: BpfMap;
  readonly control: BpfMap;
  readonly info: BpfMap;
}

export class BackendSet {
  private readonly assigned = new Map<string, Assigned>();
  private generation = 0;
  private active = 0;
  private applied = false;
  private readonly maps: BackendMaps;

  constructor(source: Collection | BackendMaps) {
    this.maps =
      source instanceof Collection
        ? { backends: source.map("backends"), counters: source.map("counters"), maglev: source.map("maglev"), control: source.map("control"), info: source.map("info") }
        : source;
  }

  /**
   * The backend set of maps some earlier process filled (a pinned instance): the names, MACs and
   * ids from the info map, the generations from the backends map, the active table half from the
   * control map. Generations go on above every one the backends map holds (a removed backend's
   * entry keeps its generation, invalid), so flows of an earlier backend never match a new one.
   */
  static restore(maps: BackendMaps): BackendSet {
    const set = new BackendSet(maps);
    const info = readInfo(maps.info);
    const generations = new Map<number, number>();
    const backends = typed(maps).backends;
    for (let id = 0; id < maps.backends.maxEntries; id++) {
      const generation = backends.get(id)?.generation ?? 0;
      generations.set(id, generation);
      set.generation = Math.max(set.generation, generation);
    }
    info.backends.forEach((b, position) => {
      const id = b.id ?? position;
      set.assigned.set(b.name, { id, generation: generations.get(id) ?? 0, mac: b.mac });
    });
    set.active = typed(maps).control.get(0)?.active ?? 0;
    set.applied = true;
    return set;
  }

  /** The id of each backend of the configuration last applied, in its order. */
  ids(config: LoadBalancerConfig): number[] {
    return config.backends.map((b) => this.assigned.get(b.name)?.id ?? -1);
  }

  apply(config: LoadBalancerConfig, mode: string): ReloadResult {
    const c = this.maps;
    const wanted = new Map(config.backends.map((b) => [b.name, formatMac(b.mac)]));
    const removed = [...this.assigned.keys()].filter((name) => !wanted.has(name));
    const taken = new Set([...this.assigned.values()].map((a) => a.id));
    // Ids free before this change first: a removed backend's id is reused only when none is left
    // (then new flows of its old slots may reach the new backend while the table flips).
    const free = [...Array(MAX_BACKENDS).keys()].filter((id) => !taken.has(id));
    const reusable = removed.map((name) => this.assigned.get(name)?.id ?? -1);
    const next = new Map<string, Assigned>();
    const added: string[] = [];
    const changed: string[] = [];
    const writes: [string, Assigned][] = [];
    for (const [name, mac] of wanted) {
      const old = this.assigned.get(name);
      if (old && old.mac === mac) {
        next.set(name, old);
        continue;
      }
      const id = old ? old.id : (free.shift() ?? reusable.shift());
      if (id === undefined || id < 0) throw new Error(`no free backend id (the program has room for ${MAX_BACKENDS})`);
      const entry = { id, generation: ++this.generation, mac };
      next.set(name, entry);
      writes.push([name, entry]);
      (old ? changed : added).push(name);
    }
    const { backends, counters, control } = typed(c);
    for (const [name, entry] of writes) {
      const mac = Uint8Array.from(config.backends.find((b) => b.name === name)?.mac ?? new Uint8Array(6));
      backends.set(entry.id, { mac, valid: 1, pad: 0, generation: entry.generation });
      counters.set(entry.id, { packets: 0n, bytes: 0n, new_flows: 0n });
    }
    // The table into the idle half (the first time: half 0, before anything runs), its slots
    // carried over from the half in use (slots.ts).
    const ids = config.backends.map((b) => next.get(b.name)?.id ?? 0);
    const table = maglevTable(
      config.backends.map((b) => b.name),
      config.tableSize,
    );
    const size = config.tableSize;
    const target = this.applied ? 1 - this.active : 0;
    const before = this.applied ? decodeSlots(arrayValues(c.maglev, this.active * size, size)) : undefined;
    const generationBefore = new Map([...this.assigned.values()].map((a) => [a.id, a.generation]));
    const after = new Set([...next.values()].map((a) => `${a.id}/${a.generation}`));
    const slots = nextSlots(
      Array.from(table, (backend) => ids[backend] ?? 0),
      before,
      (id) => generationBefore.get(id),
      (b) => after.has(`${b.id}/${b.generation}`),
      // Rounded up: a slot keeps its previous backend at least that long (0: not at all).
      config.previousBackendSeconds === 0 ? 0 : monotonicSeconds() + 1 + config.previousBackendSeconds,
    );
    const keys = Buffer.alloc(U32Codec.size * size);
    for (let slot = 0; slot < size; slot++) U32Codec.encode(target * size + slot, keys, U32Codec.size * slot);
    runtime.updateBatch(c.maglev, keys, encodeSlots(slots));
    control.set(0, { active: target });
    const stillUsed = new Set([...next.values()].map((a) => a.id));
    for (const name of removed) {
      const id = this.assigned.get(name)?.id ?? -1;
      if (id < 0 || stillUsed.has(id)) continue;
      // Invalid, keeping its generation (what `restore` continues from).
      backends.set(id, { mac: new Uint8Array(6), valid: 0, pad: 0, generation: this.assigned.get(name)?.generation ?? 0 });
    }
    const infoMap = c.info;
    infoMap.update(u32(0), encodeInfo(describeInstance(config, mode, ids), infoMap.valueSize));
    this.assigned.clear();
    for (const [name, a] of next) this.assigned.set(name, a);
    this.active = target;
    this.applied = true;
    return { added, removed, changed };
  }
}


/** A u32 key (array index) as the maps take it. */
function u32(n: number): Uint8Array {
  const key = new Uint8Array(U32Codec.size);
  U32Codec.encode(n, key);
  return key;
}

/** The maps a BackendSet writes, with typed keys and values (layouts from loadbalancer.gen.ts). */
function typed(maps: BackendMaps) {
  return {
    backends: new runtime.TypedMap(maps.backends, U32Codec, BackendCodec),
    counters: new runtime.TypedMap(maps.counters, U32Codec, BackendCountersCodec),
    control: new runtime.TypedMap(maps.control, U32Codec, LbControlCodec),
  };
}
