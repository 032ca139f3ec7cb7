// Invariant: variables get unique labels (the name when no other has it, else name@section+offset), and a lookup by name finds the one or lists the labels of all.
/**
 * The naming of global variables (dataVariables, lookupVariable): any set of data symbols, at
 * distinct places, names of a small pool so that many are shared.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { dataVariables, variableLabel, type DataSymbol } from "../../src/elf/data.js";
import { AmbiguousVariableError, lookupVariable } from "../../src/elf/variables.js";
import type { VariableSpec } from "../../src/elf/spec.js";
import { assertProperty } from "../helpers/property.js";

const SECTIONS = [".bss", ".data", ".rodata", ".data.custom"];
const symbols = fc
  .uniqueArray(fc.tuple(fc.constantFrom(...SECTIONS), fc.nat(64).map((n) => n * 4)), { selector: ([s, o]) => `${s}+${o}`, maxLength: 24 })
  .chain((places) =>
    fc.tuple(...places.map(([section, offset]) =>
      fc.record({ name: fc.constantFrom("counter", "seed", "base", "a.1", "x"), global: fc.boolean() }).map((r): DataSymbol => ({ ...r, section, offset, size: 4 })),
    )),
  );

describe("variable labels", () => {
  it("unique labels; a name of its own is its label; a lookup by name finds it or lists every label of that name", () => {
    assertProperty(
      fc.property(symbols, (syms) => {
        const vars = dataVariables(syms, undefined);
        const byLabel = new Map<string, VariableSpec>(vars.map((v) => [v.label, v]));
        expect(byLabel.size).toBe(vars.length);
        for (const v of vars) {
          const same = vars.filter((x) => x.name === v.name);
          expect(v.label).toBe(same.length === 1 ? v.name : variableLabel(v.name, v.map, v.offset));
          expect(lookupVariable(byLabel, v.label, "")).toBe(v);
          if (same.length === 1) {
            expect(lookupVariable(byLabel, v.name, "")).toBe(v);
          } else {
            let error: unknown;
            try {
              lookupVariable(byLabel, v.name, "");
            } catch (e) {
              error = e;
            }
            expect(error).toBeInstanceOf(AmbiguousVariableError);
            expect((error as AmbiguousVariableError).labels).toEqual(same.map((x) => x.label));
            for (const x of same) expect((error as Error).message).toContain(x.label);
          }
        }
      }),
    );
  });

  it("a label is name@section+byteOffset", () => {
    expect(variableLabel("counter", ".bss", 8)).toBe("counter@.bss+8");
  });
});
