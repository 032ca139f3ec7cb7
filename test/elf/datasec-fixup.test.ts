// The reader's DATASEC fixup (src/elf/data.ts), libbpf's rules: a DATASEC clang left at size 0
// gets the ELF section's size and each variable its symbol's offset; one whose size is set (a
// linker's output) is left as it is; an extern (no symbol in the section) stays at 0.
import { describe, expect, it } from "vitest";
import { Btf, marshalBtf, type BtfDatasec, type BtfLinkage, type BtfType } from "../../src/btf/index.js";
import { fixupDatasecs } from "../../src/elf/data.js";

const int: BtfType = { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 };
const v = (name: string, linkage: BtfLinkage): BtfType => ({ kind: "var", name, type: 1, linkage });
const noKconfig = { externs: [], size: 0 };

describe("fixupDatasecs", () => {
  it("fills clang's zeros from the section size and symbols; an extern stays at 0", () => {
    for (const order of ["little", "big"] as const) {
      const types: BtfType[] = [int, v("a", "global"), v("b", "static"), v("e", "extern"), { kind: "datasec", name: ".data", size: 0, vars: [{ type: 2, offset: 0, size: 4 }, { type: 3, offset: 0, size: 4 }, { type: 4, offset: 0, size: 4 }] }];
      const blob = marshalBtf(types, { order });
      const offsets: Record<string, number> = { a: 8, b: 0 };
      const fixed = fixupDatasecs(blob, new Btf(blob), (s) => (s === ".data" ? 12 : undefined), (_s, name) => offsets[name], noKconfig);
      expect(fixed.type(5)).toEqual({ kind: "datasec", name: ".data", size: 12, vars: [{ type: 2, offset: 8, size: 4 }, { type: 3, offset: 0, size: 4 }, { type: 4, offset: 0, size: 4 }] });
    }
  });

  it("a DATASEC whose size is set (linked: two static variables of one name) keeps its offsets", () => {
    const ds: BtfDatasec = { kind: "datasec", name: ".data", size: 8, vars: [{ type: 2, offset: 0, size: 4 }, { type: 3, offset: 4, size: 4 }] };
    const blob = marshalBtf([int, v("counter", "static"), v("counter", "static"), ds]);
    // A lookup by name finds one symbol of the two, at 0: it must not move the second there.
    const fixed = fixupDatasecs(blob, new Btf(blob), () => 8, () => 0, noKconfig);
    expect(fixed.type(4)).toEqual(ds);
  });
});
