/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016) and the flow hash the BPF program uses.
 *
 * The table has M slots (M prime). Each backend has a preference order of the slots, a
 * permutation given by an offset and a skip derived from its name; backends take turns claiming
 * their next free preferred slot until the table is full. So every backend gets ⌊M/N⌋ or ⌈M/N⌉
 * slots, the table depends only on the set of names (not on their order in the config: two
 * balancers with the same backends agree), and removing a backend moves its slots plus only a
 * few others.
 */
import { FlowKeyCodec } from "./loadbalancer.gen.js";

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

const rotl = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;

function mixWord(h: number, word: number): number {
  let k = Math.imul(word, C1);
  k = Math.imul(rotl(k, 15), C2);
  h ^= k;
  return (Math.imul(rotl(h, 13), 5) + 0xe6546b64) >>> 0;
}

function finish(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86 32-bit of bytes (little-endian words, as the reference implementation). */
export function murmur3(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const words = bytes.byteLength >>> 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < words; i++) h = mixWord(h, view.getUint32(4 * i, true));
  const rest = bytes.byteLength & 3;
  if (rest > 0) {
    let k = 0;
    for (let i = rest - 1; i >= 0; i--) k = (k << 8) | (bytes[4 * words + i] ?? 0);
    k = Math.imul(k, C1);
    k = Math.imul(rotl(k, 15), C2);
    h = (h ^ k) >>> 0;
  }
  return finish(h, bytes.byteLength);
}

/** A flow as the BPF program keys it (struct flow_key, 40 bytes). */
export interface Flow {
  readonly family: 4 | 6;
  /** Network-order address bytes (4 or 16). */
  readonly source: Uint8Array;
  readonly destination: Uint8Array;
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** IP protocol number: 6 TCP, 17 UDP. */
  readonly protocol: number;
}

/** Bytes of a struct flow_key (its layout: FlowKeyCodec, generated from the object's BTF). */
export const FLOW_KEY_SIZE = FlowKeyCodec.size;

/**
 * struct flow_key's bytes: the addresses and ports as the packet has them (network order: the
 * bytes at each member's offset), the protocol and the family, the rest zero.
 */
export function flowKey(flow: Flow): Uint8Array {
  const key = new Uint8Array(FLOW_KEY_SIZE);
  const at = FlowKeyCodec.fields;
  const length = flow.family === 4 ? 4 : 16;
  key.set(flow.source.subarray(0, length), at.src.offset);
  key.set(flow.destination.subarray(0, length), at.dst.offset);
  key.set([flow.sourcePort >> 8, flow.sourcePort & 0xff], at.sport.offset);
  key.set([flow.destinationPort >> 8, flow.destinationPort & 0xff], at.dport.offset);
  key[at.protocol.offset] = flow.protocol;
  key[at.family.offset] = flow.family;
  return key;
}

/**
 * The hash the BPF program picks a flow's Maglev slot by (flow_hash in loadbalancer.bpf.c):
 * murmur3 of the source address and the two ports in network order. The destination and the
 * protocol are the service's, the same for all of a family's flows.
 */
export function flowHash(flow: Flow): number {
  const length = flow.family === 4 ? 4 : 16;
  const bytes = new Uint8Array(length + 4);
  bytes.set(flow.source.subarray(0, length), 0);
  const view = new DataView(bytes.buffer);
  view.setUint16(length, flow.sourcePort, false);
  view.setUint16(length + 2, flow.destinationPort, false);
  return murmur3(bytes, 0);
}

/** The slot of a table of `size` slots a hash picks: ⌊hash · size / 2³²⌋ (no division in the program). */
export const hashSlot = (hash: number, size: number): number => Math.floor((hash * size) / 2 ** 32);

/** The Maglev slot (of a table of `size`) the program picks for a flow. */
export const flowSlot = (flow: Flow, size: number): number => hashSlot(flowHash(flow), size);

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

const OFFSET_SEED = 0x4d41474c; // "MAGL"
const SKIP_SEED = 0x45563031; // "EV01"
const encoder = new TextEncoder();

/**
 * The Maglev table for backends named `names` (distinct), of `size` slots (a prime ≥ the number
 * of backends): slot → index into `names`.
 */
export function maglevTable(names: readonly string[], size: number): Uint32Array {
  if (!isPrime(size)) throw new RangeError(`Maglev table size ${size} is not a prime`);
  const n = names.length;
  if (n === 0) throw new RangeError("Maglev needs at least one backend");
  if (n > size) throw new RangeError(`${n} backends do not fit ${size} slots`);
  if (new Set(names).size !== n) throw new RangeError("Maglev backend names must be distinct");
  // Claim in the order of the names, not of the list: the table depends only on the set.
  const order = names.map((name, index) => ({ name, index })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const position = new Float64Array(n);
  const skip = new Float64Array(n);
  order.forEach(({ name }, i) => {
    const bytes = encoder.encode(name);
    position[i] = murmur3(bytes, OFFSET_SEED) % size;
    skip[i] = (murmur3(bytes, SKIP_SEED) % (size - 1)) + 1;
  });
  const table = new Uint32Array(size);
  const taken = new Uint8Array(size);
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let p = position[i] ?? 0;
      const s = skip[i] ?? 1;
      while (taken[p]) p = (p + s) % size;
      taken[p] = 1;
      table[p] = order[i]?.index ?? 0;
      position[i] = (p + s) % size;
      if (++filled === size) return table;
    }
  }
}

/** How many slots each backend holds. */
export function slotCounts(table: Uint32Array, backends: number): number[] {
  const counts = new Array<number>(backends).fill(0);
  for (const b of table) counts[b] = (counts[b] ?? 0) + 1;
  return counts;
}
