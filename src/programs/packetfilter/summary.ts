/**
 * The summaries of a generation (see packetfilter.bpf.c: summary, summary_hash): per family a
 * bitmap of its hosts and one of its prefixes, each address hashed to one of 2^SUMMARY_BITS
 * bits. The program looks a source address up only where its bit is set, so a packet that no
 * rule matches usually costs no lookup; a set bit of another address only costs the lookup.
 */
import { maskAddress } from "../common/net.js";
import { U32Codec, U64Codec } from "./packetfilter.gen.js";

export const SUMMARY_BITS = 22;
/** 64-bit words per bitmap. */
export const SUMMARY_WORDS = 1 << (SUMMARY_BITS - 6);
export type SummaryKind = "hosts" | "prefixes";

/** summary_hash: the bit of an address (4 or 16 bytes, as in the packet). */
export function summaryHash(address: Uint8Array): number {
  const word = (i: number) => (address[i] ?? 0) | ((address[i + 1] ?? 0) << 8) | ((address[i + 2] ?? 0) << 16) | ((address[i + 3] ?? 0) << 24);
  let h = Math.imul(word(0), 0x9e3779b1);
  if (address.byteLength === 16) {
    h ^= Math.imul(word(4), 0x85ebca77) ^ Math.imul(word(8), 0xc2b2ae3d) ^ Math.imul(word(12), 0x27d4eb2f);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h >>> (32 - SUMMARY_BITS);
}

/**
 * The bitmap of these addresses, as the map's u64 values (U64Codec: little-endian, so bit b of a
 * word is bit b % 8 of its byte b / 8): prefixes are hashed by their first `length` bits (the
 * family's shortest prefix length), hosts whole.
 */
export function summaryBitmap(addresses: Iterable<Uint8Array>, length?: number): Buffer {
  const bytes = Buffer.alloc(SUMMARY_WORDS * U64Codec.size);
  for (const a of addresses) {
    const h = summaryHash(length === undefined ? a : maskAddress(a, length));
    const at = (h >>> 6) * U64Codec.size + ((h & 63) >>> 3);
    bytes[at] = (bytes[at] ?? 0) | (1 << (h & 7));
  }
  return bytes;
}

/** The keys (u32) of one bitmap in the summary map: slot, family (0 IPv4, 1 IPv6), kind. */
export function summaryKeys(slot: number, family: number, kind: SummaryKind): Buffer {
  const base = ((slot * 2 + family) * 2 + (kind === "hosts" ? 0 : 1)) * SUMMARY_WORDS;
  const keys = Buffer.alloc(U32Codec.size * SUMMARY_WORDS);
  const view = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  for (let i = 0; i < SUMMARY_WORDS; i++) U32Codec.encode(base + i, view, U32Codec.size * i);
  return keys;
}
