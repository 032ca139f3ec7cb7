import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Btf, BtfError, marshalBtf, type BtfType } from "../../src/btf/index.js";

const name = fc.oneof(fc.constant(""), fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** A random list of n valid types whose references stay within 0..n. */
const types = fc.integer({ min: 1, max: 30 }).chain((n) => {
  const ref = fc.integer({ min: 0, max: n });
  const linkage = fc.constantFrom("static", "global", "extern") as fc.Arbitrary<"static" | "global" | "extern">;
  const one: fc.Arbitrary<BtfType> = fc.oneof(
    fc.record({ kind: fc.constant("int" as const), name, size: fc.constantFrom(1, 2, 4, 8, 16), signed: fc.boolean(), char: fc.boolean(), bool: fc.boolean(), bitOffset: fc.integer({ min: 0, max: 255 }), bits: fc.integer({ min: 0, max: 128 }) }),
    fc.record({ kind: fc.constant("ptr" as const), name: fc.constant(""), type: ref }),
    fc.record({ kind: fc.constant("array" as const), name: fc.constant(""), type: ref, indexType: ref, nelems: u32 }),
    fc.boolean().chain((bitfields) =>
      fc.record({
        kind: fc.constantFrom("struct" as const, "union" as const), name, size: u32, bitfields: fc.constant(bitfields),
        members: fc.array(fc.record({ name, type: ref, bitOffset: bitfields ? fc.integer({ min: 0, max: 0xffffff }) : u32, bitSize: bitfields ? fc.integer({ min: 0, max: 255 }) : fc.constant(0) }), { maxLength: 5 }),
      }),
    ),
    fc.boolean().chain((signed) =>
      fc.record({ kind: fc.constant("enum" as const), name, size: fc.constantFrom(1, 2, 4), signed: fc.constant(signed), values: fc.array(fc.record({ name, value: signed ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) : u32 }), { maxLength: 4 }) }),
    ),
    fc.boolean().chain((signed) =>
      fc.record({ kind: fc.constant("enum64" as const), name, size: fc.constant(8), signed: fc.constant(signed), values: fc.array(fc.record({ name, value: signed ? fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }) : fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }), { maxLength: 4 }) }),
    ),
    fc.record({ kind: fc.constant("fwd" as const), name, union: fc.boolean() }),
    fc.record({ kind: fc.constantFrom("typedef" as const, "volatile" as const, "const" as const, "restrict" as const, "type_tag" as const), name, type: ref }),
    fc.record({ kind: fc.constant("func" as const), name, type: ref, linkage }),
    fc.record({ kind: fc.constant("func_proto" as const), name: fc.constant(""), returnType: ref, params: fc.array(fc.record({ name, type: ref }), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant("var" as const), name, type: ref, linkage }),
    fc.record({ kind: fc.constant("datasec" as const), name, size: u32, vars: fc.array(fc.record({ type: ref, offset: u32, size: u32 }), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant("float" as const), name, size: fc.constantFrom(4, 8, 16) }),
    fc.record({ kind: fc.constant("decl_tag" as const), name, type: ref, componentIdx: fc.integer({ min: -1, max: 10 }) }),
  );
  return fc.array(one, { minLength: n, maxLength: n });
});

describe("BTF properties", () => {
  it("marshal -> parse gives the same types, both byte orders", () => {
    fc.assert(
      fc.property(types, fc.constantFrom("little", "big") as fc.Arbitrary<"little" | "big">, (ts, order) => {
        const btf = new Btf(marshalBtf(ts, { order }));
        expect(btf.types()).toEqual(ts);
        for (const [i, t] of ts.entries()) if (t.name) expect(btf.idsByName(t.name)).toContain(i + 1);
      }),
      { numRuns: 2_000 },
    );
  });

  it("mutated or truncated BTF only ever raises BtfError", () => {
    const mutated = types.chain((ts) => {
      const bytes = marshalBtf(ts);
      return fc.tuple(
        fc.constant(bytes),
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(bytes.length),
      );
    });
    fc.assert(
      fc.property(mutated, ([bytes, changes, cut]) => {
        const copy = Uint8Array.from(bytes);
        for (const [at, value] of changes) copy[at] = value;
        try {
          const btf = new Btf(copy.subarray(0, cut === 0 ? copy.length : cut));
          for (const id of btf.ids()) {
            btf.type(id);
            btf.nameOf(id);
          }
          btf.idsByName("x");
        } catch (e) {
          if (!(e instanceof BtfError)) throw e;
        }
      }),
      { numRuns: 5_000 },
    );
  });
});
