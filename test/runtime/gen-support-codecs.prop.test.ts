// Invariant: genSupport's scalarCodec reads and writes each C scalar as a DataView does in either byte order and refuses out-of-range values naming the C type; value/record codecs and GeneratedView check room.
/**
 * The codecs and view base the generated modules share (runtime.genSupport): scalarCodec reads
 * and writes each C scalar as a DataView does in either byte order, refuses a value out of range
 * naming the C type, and is one object per scalar and order; valueCodec/recordCodec check the
 * room and zero the bytes before writing; GeneratedView re-points and refuses a short buffer.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runtime } from "../../src/index.js";
import { CodecError } from "../../src/runtime/codec.js";
import { assertProperty } from "../helpers/property.js";

const { scalarCodec, valueCodec, recordCodec, GeneratedView } = runtime.genSupport;
type ScalarName = keyof runtime.genSupport.ScalarTypes;

/** Each scalar: its size, how a DataView reads it, values in and out of its range. */
const SCALARS: { name: ScalarName; read: (v: DataView, le: boolean) => number | bigint; value: fc.Arbitrary<number | bigint>; outside: (number | bigint)[] }[] = [
  { name: "__u8", read: (v) => v.getUint8(0), value: fc.integer({ min: 0, max: 255 }), outside: [256, -1, 1.5] },
  { name: "__s8", read: (v) => v.getInt8(0), value: fc.integer({ min: -128, max: 127 }), outside: [128, -129] },
  { name: "__u16", read: (v, le) => v.getUint16(0, le), value: fc.integer({ min: 0, max: 65535 }), outside: [65536, -1] },
  { name: "__s16", read: (v, le) => v.getInt16(0, le), value: fc.integer({ min: -32768, max: 32767 }), outside: [32768, -32769] },
  { name: "__u32", read: (v, le) => v.getUint32(0, le), value: fc.integer({ min: 0, max: 4294967295 }), outside: [4294967296, -1] },
  { name: "__s32", read: (v, le) => v.getInt32(0, le), value: fc.integer({ min: -2147483648, max: 2147483647 }), outside: [2147483648, -2147483649] },
  { name: "__u64", read: (v, le) => v.getBigUint64(0, le), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), outside: [2n ** 64n, -1n] },
  { name: "__s64", read: (v, le) => v.getBigInt64(0, le), value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), outside: [2n ** 63n, -(2n ** 63n) - 1n] },
  { name: "void *", read: (v, le) => v.getBigUint64(0, le), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), outside: [2n ** 64n, -1n] },
  { name: "float", read: (v, le) => v.getFloat32(0, le), value: fc.float({ noNaN: true }).map(Math.fround), outside: [] },
  { name: "double", read: (v, le) => v.getFloat64(0, le), value: fc.double({ noNaN: true }), outside: [] },
];

describe("genSupport.scalarCodec", () => {
  for (const s of SCALARS) {
    it(`${s.name}: writes what a DataView reads back, at any offset, in both byte orders; decode gives it back`, () => {
      assertProperty(
        fc.property(s.value, fc.boolean(), fc.integer({ min: 0, max: 16 }), (x, le, offset) => {
          const codec = scalarCodec(s.name, le) as runtime.Codec<number | bigint>;
          const buf = new Uint8Array(offset + codec.size + 3).fill(0xa5);
          codec.encode(x, buf, offset);
          expect(s.read(new DataView(buf.buffer, offset), le)).toBe(x);
          expect(codec.decode(buf, offset)).toBe(x);
          expect(buf.subarray(offset + codec.size)).toEqual(new Uint8Array(3).fill(0xa5));
        }),
        { numRuns: 200 },
      );
    });
    if (s.outside.length > 0) {
      it(`${s.name}: a value out of range is a CodecError naming the type`, () => {
        const codec = scalarCodec(s.name, true) as runtime.Codec<number | bigint>;
        for (const x of s.outside) {
          const buf = new Uint8Array(codec.size);
          expect(() => codec.encode(x, buf)).toThrow(CodecError);
          expect(() => codec.encode(x, buf)).toThrow(new RegExp(`^${s.name.replace("*", "\\*")}: ${String(x)} is not an integer in `));
        }
      });
    }
  }

  it("is one object per scalar and byte order", () => {
    expect(scalarCodec("__u32", true)).toBe(scalarCodec("__u32", true));
    expect(scalarCodec("__u32", true)).not.toBe(scalarCodec("__u32", false));
    expect(scalarCodec("__u32", false).typeName).toBe("__u32");
  });

  it("a buffer too short is a CodecError naming the type and sizes", () => {
    expect(() => scalarCodec("__u64", true).decode(new Uint8Array(7))).toThrow("__u64: needs 8 bytes at offset 0, the buffer has 7");
  });
});

describe("genSupport.valueCodec and recordCodec", () => {
  interface Pair {
    a: number;
    b: number;
  }
  const decode = (v: DataView, o: number): Pair => ({ a: v.getUint8(o), b: v.getUint8(o + 2) });
  const encode = (x: Pair, v: DataView, o: number): void => {
    v.setUint8(o, x.a);
    v.setUint8(o + 2, x.b);
  };

  class PairView extends GeneratedView {
    static readonly size = 4;
    static readonly typeName = "struct pair";
    get a(): number {
      return this.$v.getUint8(this.$o);
    }
    override toObject(): Pair {
      return decode(this.$v, this.$o);
    }
  }

  it("encode zeroes the value's bytes (not beyond) before the members are written; decode reads them back", () => {
    const codec = recordCodec<Pair, "a" | "b", PairView>(4, "struct pair", { a: { offset: 0, size: 1 }, b: { offset: 2, size: 1 } }, decode, encode, PairView);
    const buf = new Uint8Array(6).fill(0xff);
    codec.encode({ a: 1, b: 2 }, buf, 1);
    expect([...buf]).toEqual([0xff, 1, 0, 2, 0, 0xff]);
    expect(codec.decode(buf, 1)).toEqual({ a: 1, b: 2 });
    expect(codec.view(buf, 1).a).toBe(1);
    expect(codec.fields.b).toEqual({ offset: 2, size: 1 });
    const plain = valueCodec<Pair>(4, "struct pair", decode, encode);
    expect(plain.decode(buf, 1)).toEqual({ a: 1, b: 2 });
    expect(() => plain.encode({ a: 1, b: 2 }, new Uint8Array(3))).toThrow("struct pair: needs 4 bytes at offset 0, the buffer has 3");
  });

  it("GeneratedView: at() re-points the same view; a record past the end is a CodecError naming the type", () => {
    const buf = new Uint8Array([9, 0, 0, 0, 8, 0, 0, 0]);
    const view = new PairView(buf);
    expect(view.a).toBe(9);
    expect(view.at(buf, 4)).toBe(view);
    expect(view.a).toBe(8);
    expect(view.toObject()).toEqual({ a: 8, b: 0 });
    expect(() => view.at(buf, 5)).toThrow("struct pair: needs 4 bytes at offset 5, the buffer has 8");
    expect(() => new PairView(new Uint8Array(2))).toThrow(CodecError);
    expect(new PairView().at(new DataView(buf.buffer), 4).a).toBe(8);
  });
});
