// Invariant: __ulong(name, V) parses to V in either byte order: map_extra any 64-bit value, other attributes up to 2^32-1 and a ParseError naming the attribute above.
// __ulong(name, V): an enum (enum64 above 32 bits) of one value V; parsed like __uint(name, V),
// map_extra as any 64-bit value, the other attributes up to 32 bits. Both byte orders.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Btf, marshalBtf, type BtfType } from "../../src/btf/index.js";
import { ParseError } from "../../src/elf/errors.js";
import { parseBtfMaps } from "../../src/elf/maps.js";
import { assertProperty } from "../helpers/property.js";

/** BTF of one `.maps` entry `m` declaring type (a __uint) and `member` as __ulong(member, value). */
function mapBtf(member: string, value: bigint, order: "little" | "big"): Btf {
  const wide = value > 0xffffffffn;
  const types: BtfType[] = [
    { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
    { kind: "array", name: "", type: 1, indexType: 1, nelems: 2 }, // BPF_MAP_TYPE_ARRAY
    { kind: "ptr", name: "", type: 2 },
    wide
      ? { kind: "enum64", name: "", size: 8, signed: false, values: [{ name: "__unique_value0", value }] }
      : { kind: "enum", name: "", size: 4, signed: false, values: [{ name: "__unique_value0", value: Number(value) }] },
    { kind: "struct", name: "", size: 16, bitfields: false, members: [{ name: "type", type: 3, bitOffset: 0, bitSize: 0 }, { name: member, type: 4, bitOffset: 64, bitSize: 0 }] },
    { kind: "var", name: "m", type: 5, linkage: "global" },
    { kind: "datasec", name: ".maps", size: 16, vars: [{ type: 6, offset: 0, size: 16 }] },
  ];
  return new Btf(marshalBtf(types, { order }));
}

const orders = fc.constantFrom("little" as const, "big" as const);

describe("__ulong() map attributes", () => {
  it("property: map_extra is the enum's value, any 64-bit unsigned value, either byte order", () => {
    assertProperty(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), orders, (v, order) => {
        const [m] = parseBtfMaps(mapBtf("map_extra", v, order), 16, []);
        expect(m?.mapExtra).toBe(v);
      }),
      { numRuns: 300 },
    );
  });

  it("property: 32-bit attributes take a value up to 2^32-1 and name the attribute above", () => {
    assertProperty(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), orders, (v, order) => {
        const parse = () => parseBtfMaps(mapBtf("max_entries", v, order), 16, []);
        if (v <= 0xffffffffn) expect(parse()[0]?.maxEntries).toBe(Number(v));
        else expect(parse).toThrow(new ParseError(`map m: attribute max_entries is ${v}, more than 32 bits`, { section: ".maps" }));
      }),
      { numRuns: 300 },
    );
  });
});
