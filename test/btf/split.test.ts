import { describe, expect, it } from "vitest";
import { Btf, marshalBtf, sizeOf, type BtfType } from "../../src/btf/index.js";

describe("split BTF", () => {
  it("continues the base's ids and strings", () => {
    const baseTypes: BtfType[] = [
      { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
      { kind: "struct", name: "base_s", size: 4, bitfields: false, members: [{ name: "x", type: 1, bitOffset: 0, bitSize: 0 }] },
    ];
    const baseBytes = marshalBtf(baseTypes);
    const base = new Btf(baseBytes);
    const strLen = new DataView(baseBytes.buffer).getUint32(20, true);
    const splitTypes: BtfType[] = [
      { kind: "ptr", name: "", type: 2 },
      { kind: "struct", name: "mod_s", size: 16, bitfields: false, members: [{ name: "p", type: 3, bitOffset: 0, bitSize: 0 }, { name: "n", type: 1, bitOffset: 64, bitSize: 0 }] },
    ];
    const split = new Btf(marshalBtf(splitTypes, { base: { typeCount: 2, stringLength: strLen } }), { base });
    expect(split.firstId).toBe(3);
    expect(split.typeCount).toBe(4);
    expect(split.type(4)).toEqual(splitTypes[1]);
    expect(split.type(2)).toEqual(baseTypes[1]);
    expect(split.find("base_s", "struct")).toBe(2);
    expect(split.find("mod_s", "struct")).toBe(4);
    expect(sizeOf(split, 3)).toBe(8);
    expect([...split.ids()]).toEqual([3, 4]);
  });
});
