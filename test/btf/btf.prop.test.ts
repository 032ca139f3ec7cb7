// Invariant: BTF marshals and parses back unchanged; mutated or arbitrary BTF yields answers or BtfError/CoreError, nothing else.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Btf, BtfError, marshalBtf } from "../../src/btf/index.js";
import { btfTypes, btfTypesWithTowers, picker, walkAll, type WalkOutcome } from "./arbitrary-btf.js";
import { assertProperty } from "../helpers/property.js";

/** A small well-formed object BTF, the local side of CO-RE relocations against arbitrary blobs. */
const local = new Btf(
  marshalBtf([
    { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
    { kind: "struct", name: "a", size: 8, bitfields: false, members: [{ name: "x", type: 1, bitOffset: 0, bitSize: 0 }, { name: "b", type: 3, bitOffset: 32, bitSize: 0 }] },
    { kind: "typedef", name: "b", type: 1 },
    { kind: "ptr", name: "", type: 2 },
    { kind: "enum", name: "c", size: 4, signed: false, values: [{ name: "d", value: 1 }] },
  ]),
);

/**
 * Walks `btf`. A walk gone exponential or round a loop never ends: the property's test timeout is
 * the hang detector (no wall-clock bound per run, which a loaded machine would trip).
 */
function walkBounded(btf: Btf, seed: number): WalkOutcome {
  return walkAll(btf, local, picker(seed));
}

describe("BTF properties", () => {
  it("marshal -> parse gives the same types, both byte orders", () => {
    assertProperty(
      fc.property(btfTypes, fc.constantFrom("little", "big") as fc.Arbitrary<"little" | "big">, (ts, order) => {
        const btf = new Btf(marshalBtf(ts, { order }));
        expect(btf.types()).toEqual(ts);
        for (const [i, t] of ts.entries()) if (t.name) expect(btf.idsByName(t.name)).toContain(i + 1);
      }),
      { numRuns: 2_000 },
    );
  });

  it("mutated or truncated BTF only ever raises BtfError", () => {
    const mutated = btfTypes.chain((ts) => {
      const bytes = marshalBtf(ts);
      return fc.tuple(
        fc.constant(bytes),
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(bytes.length),
      );
    });
    assertProperty(
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

  it("arbitrary types (loops, towers past MAX_TYPE_DEPTH): sizes, alignments, descriptions, the C dump and CO-RE answer or throw BtfError/CoreError", () => {
    const total: WalkOutcome = { dumped: false, sized: 0, resolved: 0, errors: 0 };
    let dumps = 0;
    assertProperty(
      fc.property(btfTypesWithTowers, fc.constantFrom("little", "big") as fc.Arbitrary<"little" | "big">, fc.noShrink(fc.integer()), (ts, order, seed) => {
        const out = walkBounded(new Btf(marshalBtf(ts, { order })), seed);
        if (out.dumped) dumps++;
        total.sized += out.sized;
        total.resolved += out.resolved;
        total.errors += out.errors;
      }),
      { numRuns: 400 },
    );
    // Both outcomes are exercised.
    if (process.env.BTF_DEBUG) console.log({ dumps, ...total });
    expect(dumps).toBeGreaterThan(40);
    expect(total.sized).toBeGreaterThan(1000);
    expect(total.resolved).toBeGreaterThan(400);
    expect(total.errors).toBeGreaterThan(500);
  });

  it("mutated BTF that still parses: the same walks answer or throw BtfError/CoreError", () => {
    const mutated = btfTypesWithTowers.chain((ts) => {
      const bytes = marshalBtf(ts);
      return fc.tuple(fc.constant(bytes), fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.noShrink(fc.integer()));
    });
    assertProperty(
      fc.property(mutated, ([bytes, changes, seed]) => {
        const copy = Uint8Array.from(bytes);
        for (const [at, value] of changes) copy[at] = value;
        let btf: Btf;
        try {
          btf = new Btf(copy);
        } catch (e) {
          if (!(e instanceof BtfError)) throw e;
          return;
        }
        walkBounded(btf, seed);
      }),
      { numRuns: 400 },
    );
  });
});
