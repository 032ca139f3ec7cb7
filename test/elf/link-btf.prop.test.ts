// Invariant: merging arbitrary BTF blobs (loops, every kind) gives, for each input type, an output
// type of the same shape whose references are the merged ids of the input's references; the
// same blob given twice merges into one copy; the merged types marshal and parse back.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Btf, marshalBtf, type BtfType } from "../../src/btf/index.js";
import { mergeBtf } from "../../src/elf/link/btf.js";
import { typeRefs, withRefs } from "../../src/elf/link/btf-types.js";
import { btfBlob } from "../btf/arbitrary-btf.js";
import { assertProperty } from "../helpers/property.js";

/** Inputs without DATASECs or externs (those are rebuilt or replaced, not kept as they are). */
const plain = (types: readonly BtfType[]): boolean =>
  types.every((t) => t.kind !== "datasec" && !((t.kind === "func" || t.kind === "var") && t.linkage === "extern"));

const parsed = (bytes: Uint8Array): Btf | undefined => {
  try {
    return new Btf(bytes);
  } catch {
    return undefined;
  }
};

describe("merging BTF", () => {
  it("each input type maps to an equal type; a blob merged with itself is kept once", () => {
    assertProperty(
      fc.property(fc.array(btfBlob({ order: "little" }), { minLength: 1, maxLength: 3 }), (blobs) => {
        const btfs = blobs.map((b) => parsed(b.bytes));
        fc.pre(btfs.every((b) => b !== undefined) && blobs.every((b) => plain(b.types)));
        const inputs = [...btfs, btfs[0]].map((btf) => ({ btf, sectionBase: () => undefined }));
        const merged = mergeBtf(inputs, new Map());
        inputs.forEach((input, i) => {
          const types = (input.btf as Btf).types();
          types.forEach((t, k) => {
            const id = merged.idOf(i, k + 1);
            const out = merged.types[id - 1] as BtfType;
            expect(out, `input ${i} type ${k + 1}`).toEqual(withRefs(t, typeRefs(t).map((r) => merged.idOf(i, r))));
          });
        });
        const first = (btfs[0] as Btf).typeCount;
        for (let k = 1; k <= first; k++) expect(merged.idOf(inputs.length - 1, k)).toBe(merged.idOf(0, k));
        expect(merged.types.length).toBeLessThanOrEqual(btfs.reduce((n, b) => n + (b as Btf).typeCount, 0));
        const back = new Btf(marshalBtf(merged.types));
        expect(back.types()).toEqual(merged.types);
      }),
    );
  });
});
