// Invariant: every section, symbol and instruction written to an object reads back unchanged, both byte orders.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode } from "../../src/asm/index.js";
import { assembleObject } from "../../src/elf/asm-object.js";
import { readElf } from "../../src/elf/reader.js";
import { asmProgram as program } from "../../src/testing/index.js";
import { assertProperty } from "../helpers/property.js";

const fields = (i: { opcode: number; dst: number; src: number; off: number; imm: number; imm2?: number }) => [i.opcode, i.dst, i.src, i.off, i.imm, i.imm2];

describe("ELF write -> read", () => {
  it("every section, symbol and instruction survives, both byte orders", () => {
    assertProperty(
      fc.property(program, fc.constantFrom("little", "big") as fc.Arbitrary<"little" | "big">, (prog, order) => {
        const elf = readElf(assembleObject(prog, order));
        expect(elf.byteOrder).toBe(order);
        for (const s of prog.sections) {
          const section = elf.sectionByName(s.name);
          expect(section, s.name).toBeDefined();
          if (s.instructions.length > 0) {
            expect(decode(section?.data ?? new Uint8Array(), order).map(fields)).toEqual(s.instructions.map(fields));
          } else {
            expect([...(section?.data ?? [])]).toEqual(s.data.map((d) => Number((d as { value: bigint }).value)));
          }
          for (const [name, at] of s.symbols) {
            const sym = elf.symbols.find((y) => y.name === name);
            expect(sym?.sectionIndex).toBe(section?.index);
            expect(sym?.value).toBe(s.instructions.length > 0 ? at * 8 : at);
          }
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
