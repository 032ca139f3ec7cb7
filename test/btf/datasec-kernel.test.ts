// DATASECs fitted for the kernel: extern VARs out of sections that do not back them, the rest
// in offset order, an extern-only section with no size an empty anonymous STRUCT; ids, strings
// and every other type unchanged. Examples, then a property over random sections.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Btf, fitDatasecsForKernel, marshalBtf, sanitizeForKernel, type BtfLinkage, type BtfType } from "../../src/btf/index.js";
import { assertProperty } from "../helpers/property.js";

const ORDERS = ["little", "big"] as const;
const int: BtfType = { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 };
const v = (name: string, linkage: BtfLinkage): BtfType => ({ kind: "var", name, type: 1, linkage });
const datasecOf = (btf: Btf, name: string) => btf.types().find((t): t is Extract<BtfType, { kind: "datasec" }> => t.kind === "datasec" && t.name === name);

describe("fitDatasecsForKernel", () => {
  it("drops extern VARs from .maps/.data (as clang emits them: offset 0), keeps .kconfig's, sorts by offset; ids and names stay", () => {
    for (const order of ORDERS) {
      const types: BtfType[] = [
        int, // 1
        v("link_hits", "extern"), // 2
        v("link_a_only", "global"), // 3
        { kind: "datasec", name: ".maps", size: 8, vars: [{ type: 2, offset: 0, size: 4 }, { type: 3, offset: 0, size: 4 }] }, // 4
        v("link_scale_base", "extern"), // 5
        v("b", "global"), // 6
        v("a", "static"), // 7
        { kind: "datasec", name: ".data", size: 8, vars: [{ type: 6, offset: 4, size: 4 }, { type: 5, offset: 0, size: 4 }, { type: 7, offset: 0, size: 4 }] }, // 8
        v("CONFIG_HZ", "extern"), // 9
        { kind: "datasec", name: ".kconfig", size: 4, vars: [{ type: 9, offset: 0, size: 4 }] }, // 10
        { kind: "typedef", name: "after", type: 1 }, // 11
      ];
      const blob = marshalBtf(types, { order });
      const btf = new Btf(blob);
      const fitted = new Btf(fitDatasecsForKernel(blob, btf));
      expect(fitted.byteOrder).toBe(order);
      expect(fitted.typeCount).toBe(btf.typeCount);
      for (const id of btf.ids()) expect(fitted.nameOf(id), `id ${id}`).toBe(btf.nameOf(id));
      expect(datasecOf(fitted, ".maps")?.vars).toEqual([{ type: 3, offset: 0, size: 4 }]);
      expect(datasecOf(fitted, ".data")?.vars).toEqual([{ type: 7, offset: 0, size: 4 }, { type: 6, offset: 4, size: 4 }]);
      expect(datasecOf(fitted, ".kconfig")).toEqual(types[9]);
      // The extern VARs themselves stay (sanitizeForKernel makes them globals), as do later types.
      expect(fitted.type(2)).toEqual(types[1]);
      expect(fitted.type(11)).toEqual(types[10]);
      expect(blob).toEqual(marshalBtf(types, { order })); // the input is not changed
    }
  });

  it("a DATASEC of externs only, with no section behind it (size 0), becomes an anonymous empty STRUCT", () => {
    const types: BtfType[] = [int, v("link_hits", "extern"), { kind: "datasec", name: ".maps", size: 0, vars: [{ type: 2, offset: 0, size: 4 }] }];
    const blob = marshalBtf(types);
    const fitted = new Btf(fitDatasecsForKernel(blob, new Btf(blob)));
    expect(fitted.type(3)).toEqual({ kind: "struct", name: "", size: 0, members: [], bitfields: false });
    expect(fitted.type(2)).toEqual(types[1]);
  });

  it("BTF that needs nothing is returned as it is", () => {
    const blob = marshalBtf([int, v("x", "global"), { kind: "datasec", name: ".data", size: 4, vars: [{ type: 2, offset: 0, size: 4 }] }]);
    expect(fitDatasecsForKernel(blob, new Btf(blob))).toBe(blob);
  });

  it("sanitizeForKernel fits DATASECs before its other changes", () => {
    const blob = marshalBtf([int, v("e", "extern"), v("g", "global"), { kind: "datasec", name: ".bss", size: 4, vars: [{ type: 2, offset: 0, size: 4 }, { type: 3, offset: 0, size: 4 }] }]);
    const out = new Btf(sanitizeForKernel(blob, new Btf(blob)));
    expect(datasecOf(out, ".bss")?.vars).toEqual([{ type: 3, offset: 0, size: 4 }]);
    expect(out.type(2)).toMatchObject({ kind: "var", name: "e", linkage: "global" });
  });

  it("property: any DATASEC comes out with its non-extern VARs in offset order, everything else unchanged (both byte orders)", () => {
    const section = fc.record({
      name: fc.constantFrom(".data", ".bss", ".maps", ".rodata", ".kconfig"),
      vars: fc.array(fc.record({ linkage: fc.constantFrom<BtfLinkage>("static", "global", "extern"), size: fc.integer({ min: 1, max: 16 }) }), { maxLength: 8 }),
      order: fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
      sized: fc.boolean(),
      byteOrder: fc.constantFrom(...ORDERS),
    });
    assertProperty(
      fc.property(section, ({ name, vars, order, sized, byteOrder }) => {
        // Non-overlapping offsets for the non-externs; externs at 0, as clang leaves them.
        let end = 0;
        const infos = vars.map((x, i) => {
          const offset = x.linkage === "extern" ? 0 : end;
          if (x.linkage !== "extern") end += x.size;
          return { type: i + 2, offset, size: x.size };
        });
        // Listed in a shuffled order.
        const listed = infos.map((x, i) => ({ x, key: order[i] ?? 0 })).sort((a, b) => a.key - b.key).map((y) => y.x);
        const types: BtfType[] = [
          int,
          ...vars.map((x, i) => v(`v${i}`, x.linkage)),
          { kind: "datasec", name, size: sized ? Math.max(end, 1) : 0, vars: listed },
          { kind: "ptr", name: "", type: 1 },
        ];
        const blob = marshalBtf(types, { order: byteOrder });
        const fitted = new Btf(fitDatasecsForKernel(blob, new Btf(blob)));
        const dsId = vars.length + 2;
        expect(fitted.typeCount).toBe(types.length);
        types.forEach((t, i) => {
          if (i + 1 !== dsId) expect(fitted.type(i + 1)).toEqual(t);
        });
        const got = fitted.type(dsId);
        if (name === ".kconfig") return void expect(got).toEqual(types[dsId - 1]);
        const kept = infos.filter((x) => vars[x.type - 2]?.linkage !== "extern");
        if (kept.length === 0 && !sized) return void expect(got).toEqual({ kind: "struct", name: "", size: 0, members: [], bitfields: false });
        expect(got).toEqual({ kind: "datasec", name, size: sized ? Math.max(end, 1) : 0, vars: kept });
      }),
      { numRuns: 500 },
    );
  });
});
