import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maskAddress } from "../../src/programs/common/net.js";
import { SUMMARY_BITS, SUMMARY_WORDS, summaryBitmap, summaryHash, summaryKeys } from "../../src/programs/packetfilter/summary.js";
import { assertProperty } from "../helpers/property.js";

const address = fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }));
const bit = (bitmap: Buffer, h: number) => (bitmap.readBigUInt64LE(8 * (h >>> 6)) >> BigInt(h & 63)) & 1n;
const popcount = (bitmap: Buffer) => {
  let n = 0;
  for (const byte of bitmap) for (let b = byte; b; b &= b - 1) n++;
  return n;
};

describe("packetfilter summaries (summary.ts)", () => {
  it("hashes IPv4 with one word and IPv6 with four, into SUMMARY_BITS bits", () => {
    // 0.0.0.1 is the little-endian word 0x01000000: times 0x9e3779b1, xor-shift 15, times 0x2c1b3c6d, top 22 bits.
    let h = Math.imul(0x01000000, 0x9e3779b1);
    h ^= h >>> 15;
    expect(summaryHash(Uint8Array.of(0, 0, 0, 1))).toBe(Math.imul(h, 0x2c1b3c6d) >>> (32 - SUMMARY_BITS));
    // An IPv6 address whose last 12 bytes are zero hashes like the IPv4 address of its first 4.
    expect(summaryHash(Uint8Array.from([10, 1, 2, 3, ...new Array(12).fill(0)]))).toBe(summaryHash(Uint8Array.of(10, 1, 2, 3)));
  });

  it("property: every address has its bit, no other bits are set, and prefixes share the bit of their first `length` bits", () => {
    assertProperty(
      fc.property(fc.array(address, { maxLength: 60 }), fc.integer({ min: 1, max: 32 }), (addresses, length) => {
        const hosts = summaryBitmap(addresses);
        expect(hosts.byteLength).toBe(8 * SUMMARY_WORDS);
        const hashes = new Set(addresses.map((a) => summaryHash(a)));
        for (const h of hashes) {
          expect(h).toBeGreaterThanOrEqual(0);
          expect(h).toBeLessThan(2 ** SUMMARY_BITS);
          expect(bit(hosts, h)).toBe(1n);
        }
        expect(popcount(hosts)).toBe(hashes.size);
        const prefixes = summaryBitmap(addresses, length);
        for (const a of addresses) {
          // The same first `length` bits, every later bit flipped.
          const kept = maskAddress(new Uint8Array(a.length).fill(0xff), length);
          const other = Uint8Array.from(a, (b, i) => b ^ (~(kept[i] ?? 0) & 0xff));
          expect(bit(prefixes, summaryHash(maskAddress(other, length)))).toBe(1n);
        }
      }),
    );
  });

  it("keys each of a slot's four bitmaps apart", () => {
    const all = [0, 1].flatMap((slot) => [0, 1].flatMap((family) => (["hosts", "prefixes"] as const).map((kind) => summaryKeys(slot, family, kind))));
    const firsts = all.map((k) => k.readUInt32LE(0));
    expect(firsts).toEqual(Array.from({ length: 8 }, (_, i) => i * SUMMARY_WORDS));
    expect(all.every((k) => k.readUInt32LE(k.length - 4) - k.readUInt32LE(0) === SUMMARY_WORDS - 1)).toBe(true);
  });
});
