/**
 * Reading rules back: a generation's rules with their hit counts, in bounded slices (RuleSnapshot:
 * a scrape, across turns of the event loop) or at once (readRules: `status --rules`), and the
 * default actions.
 */
import { runtime } from "../../index.js";
import type { Family, Prefix } from "../common/net.js";
import type { Action } from "./config.js";
import { U32Codec } from "./packetfilter.gen.js";
import { ACTION_CODE, FAMILIES, GEN_DEFAULT_BLOCK, HIT, HIT_CHUNK, HIT_CHUNK_BITS, HIT_SIZE, KINDS, StoredRules, keySizeOf, outerName, readKey, u64Number, viewOf, type Kind } from "./rule-encoding.js";
import { entryBatches, liveFlags, liveGeneration, openInner, readEntries, withInner, type InnerMaps, type RuleMaps } from "./rule-maps.js";

/** A rule as the kernel holds it, with the packets it decided so far. */
export interface RuleState {
  readonly prefix: Prefix;
  readonly action: Action;
  readonly hits: bigint;
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
          const inner = openInner(maps, outerName(family, kind), slot, inners);
          if (inner) list.push({ kind, ...inner });
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
      for (const batch of entryBatches(map, SLICE_ENTRIES)) {
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
