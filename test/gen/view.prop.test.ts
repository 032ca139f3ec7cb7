// Invariant: every member read through a generated view is what the generated codec decodes.
/**
 * Generated views against the generated decode path: for random layouts (bitfields, unions,
 * anonymous and unnamed nested records, nested arrays, padding), in both byte orders, every
 * member read through a view's getter is what the codec decodes, nested views and array views
 * included; `toObject()` is the decoded value; `at()` re-points one view; short buffers are
 * CodecErrors.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readCollectionSpec, runtime } from "../../src/index.js";
import { generateTypes } from "../../src/gen/index.js";
import { importGenerated, SRC_INDEX, type AnyCodec } from "./generated.js";
import { BtfBuilder, layout } from "./random-layout.js";
import { assertProperty } from "../helpers/property.js";

interface AnyView {
  at(buf: Uint8Array | DataView, offset?: number): AnyView;
  toObject(): unknown;
}
interface AnyViewClass {
  new (buf?: Uint8Array | DataView, offset?: number): AnyView;
  readonly size: number;
  readonly typeName: string;
}
interface AnyArrayView {
  readonly length: number;
  get(i: number): unknown;
  toArray(): unknown[];
  [Symbol.iterator](): Iterator<unknown>;
}

const isArrayView = (x: unknown): x is AnyArrayView => typeof x === "object" && x !== null && typeof (x as AnyArrayView).toArray === "function";
const isView = (x: unknown): x is AnyView => typeof x === "object" && x !== null && typeof (x as AnyView).toObject === "function" && typeof (x as AnyView).at === "function";

/**
 * Checks that what `got` (a getter's value: a scalar, a view, an array view) reads is `want`
 * (the decoded value), member by member and element by element, through the view's own
 * accessors; returns how many leaves were compared.
 */
function sameThroughView(got: unknown, want: unknown, path: string): number {
  if (isView(got)) {
    expect(got.toObject(), path).toEqual(want);
    let n = 0;
    for (const [k, w] of Object.entries(want as Record<string, unknown>)) n += sameThroughView((got as unknown as Record<string, unknown>)[k], w, `${path}.${k}`);
    return n;
  }
  if (isArrayView(got)) {
    const list = want as unknown[];
    expect(got.length, path).toBe(list.length);
    expect(got.toArray(), path).toEqual(list);
    let n = 0;
    list.forEach((w, i) => (n += sameThroughView(got.get(i), w, `${path}[${i}]`)));
    expect([...got].length, path).toBe(list.length);
    expect(() => got.get(list.length), path).toThrow(RangeError);
    expect(() => got.get(-1), path).toThrow(RangeError);
    return n;
  }
  // Scalars, bigints, strings, byte arrays (copies): the decoded value itself.
  expect(got, path).toEqual(want);
  return 1;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) bytes[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
  return bytes;
}

/** Views and codecs of a module agree on `bytes` read at `offset`, for type `name`. */
function agree(mod: Record<string, unknown>, name: string, bytes: Uint8Array, offset: number): number {
  const codec = mod[`${name}Codec`] as AnyCodec & { view(buf: Uint8Array | DataView, offset?: number): AnyView };
  const View = mod[`${name}View`] as AnyViewClass;
  expect(View.size).toBe(codec.size);
  expect(View.typeName).toBe(codec.typeName);
  const want = codec.decode(bytes, offset);
  // From a Uint8Array and a DataView, new and re-pointed.
  const view = new View(bytes, offset);
  const n = sameThroughView(view, want, name);
  sameThroughView(new View(new DataView(bytes.buffer), offset), want, name);
  sameThroughView(codec.view(bytes, offset), want, name);
  const reused = new View();
  expect(reused.at(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset)).toBe(reused);
  expect(reused.toObject()).toEqual(want);
  return n;
}

describe("generated views", () => {
  it("read every member as the codec decodes it: random layouts, random bytes, both byte orders", async () => {
    let leaves = 0;
    await assertProperty(
      fc.asyncProperty(layout, fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom("little" as const, "big" as const), async (l, seed, byteOrder) => {
        const b = new BtfBuilder();
        const { id, size } = b.record(l.union, l.members, "sample");
        const mod = await importGenerated(generateTypes(b.btf(), [id], { byteOrder, importFrom: SRC_INDEX }));
        const bytes = randomBytes(size + 5, seed);
        leaves += agree(mod, "Sample", bytes, 5);
        // Re-pointed over other bytes: reads them, not the first ones.
        const other = randomBytes(size, seed ^ 0x5a5a5a5a);
        const View = mod.SampleView as AnyViewClass;
        const view = new View(bytes, 5);
        expect(view.at(other).toObject()).toEqual((mod.SampleCodec as AnyCodec).decode(other));
      }),
      { numRuns: 80 },
    );
    expect(leaves).toBeGreaterThan(200);
  });

  it("the layouts fixture (unions, bitfields straddling bytes, __int128, enums, nested struct arrays, anonymous members) in both byte orders", async () => {
    for (const order of ["bpfel", "bpfeb"] as const) {
      const btf = readCollectionSpec(readFileSync(`test/gen/fixtures/layouts.${order}.o`)).btf as NonNullable<ReturnType<typeof readCollectionSpec>["btf"]>;
      const mod = await importGenerated(generateTypes(btf, ["record_t", "struct bits", "union number"], { importFrom: SRC_INDEX }));
      for (const seed of [1, 2, 3, 4, 5]) {
        for (const name of ["RecordT", "Bits", "NumberUnion"]) {
          const size = (mod[`${name}Codec`] as AnyCodec).size;
          agree(mod, name, randomBytes(size + 8, seed * 7919), 8);
        }
      }
    }
  });

  it("members named like the view's own methods (at, toObject, constructor) get a trailing _", async () => {
    const b = new BtfBuilder();
    const int = { kind: "int", size: 4, signed: false } as const;
    const { id } = b.record(false, [{ name: "at", field: int }, { name: "toObject", field: int }, { name: "constructor", field: int }, { name: "at_", field: int }], "clash");
    const text = generateTypes(b.btf(), [id], { byteOrder: "little", importFrom: SRC_INDEX });
    expect(text).toContain("the member `at`: its name is the view's own");
    const mod = await importGenerated(text);
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i);
    const view = new (mod.ClashView as AnyViewClass)(bytes) as unknown as Record<string, unknown> & AnyView;
    expect([view.at_, view.toObject_, view.constructor_, view.at__]).toEqual([0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c]);
    expect(view.toObject()).toEqual({ at: 0x03020100, toObject: 0x07060504, constructor: 0x0b0a0908, at_: 0x0f0e0d0c });
    expect(view.at(bytes)).toBe(view);
  });

  it("a buffer too short for the view is a CodecError naming the type and sizes; at() re-points one view record after record", async () => {
    const btf = readCollectionSpec(readFileSync("test/gen/fixtures/layouts.bpfel.o")).btf as NonNullable<ReturnType<typeof readCollectionSpec>["btf"]>;
    const mod = await importGenerated(generateTypes(btf, ["struct bits"], { importFrom: SRC_INDEX }));
    const View = mod.BitsView as AnyViewClass;
    const size = View.size;
    expect(() => new View(new Uint8Array(size - 1))).toThrow(runtime.CodecError);
    expect(() => new View(new Uint8Array(size), 1)).toThrow(`struct bits: needs ${size} bytes at offset 1, the buffer has ${size}`);
    expect(() => new View(new Uint8Array(size)).at(new Uint8Array(size * 2), -1)).toThrow(runtime.CodecError);
    expect(() => new View(new Uint8Array(size)).at(new Uint8Array(size * 2), 0.5)).toThrow(runtime.CodecError);
    // Unpointed: reads fail (no bytes), toObject too.
    expect(() => new View().toObject()).toThrow(RangeError);
    // Record after record of one buffer: the same view, each record's values.
    const bytes = randomBytes(size * 4, 99);
    const view = new View();
    const codec = mod.BitsCodec as AnyCodec;
    for (let i = 0; i < 4; i++) expect(view.at(bytes, i * size).toObject()).toEqual(codec.decode(bytes, i * size));
  });
});
