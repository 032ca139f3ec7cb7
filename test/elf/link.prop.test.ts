// Invariant: linking N random objects keeps every program's instructions and every symbol (at
// its part's new offset), resolves each object's extern data symbol to the object defining it,
// and the output links again; a global defined twice is a LinkError naming it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode, type Instruction } from "../../src/asm/index.js";
import { LinkError, linkObjects, R_BPF, readCollectionSpec, readElf, SHF, SHN, STB, STT, writeElf } from "../../src/elf/index.js";
import { aluBinary, aluOther } from "../../src/testing/index.js";
import { assertProperty } from "../helpers/property.js";

const exit: Instruction = { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 };
/** `r1 = <symbol> ll`: the relocation fills it. */
const lddw: Instruction = { opcode: 0x18, dst: 1, src: 0, off: 0, imm: 0, imm2: 0 };

interface ObjectPlan {
  readonly programs: Instruction[][];
  readonly data: number[];
}

const plan: fc.Arbitrary<ObjectPlan> = fc.record({
  programs: fc.array(fc.array(fc.oneof(aluBinary, aluOther), { maxLength: 12 }), { minLength: 1, maxLength: 3 }),
  data: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 24 }),
});

/**
 * Object i: programs p<i>_<j> in section "socket" (each loads the next object's variable v<i+1>,
 * an extern here), and variable v<i> in .data.
 */
function build(plans: readonly ObjectPlan[], i: number, order: "little" | "big"): { bytes: Uint8Array; programs: Instruction[][] } {
  const p = plans[i] as ObjectPlan;
  const programs = p.programs.map((body) => [lddw, ...body, exit]);
  const code: Instruction[] = programs.flat();
  let at = 0;
  const symbols = programs.map((prog, j) => {
    const size = prog.reduce((n, ins) => n + (ins.opcode === 0x18 ? 16 : 8), 0);
    const s = { name: `p${i}_${j}`, section: "socket", value: at, size, type: STT.FUNC, bind: STB.GLOBAL };
    at += size;
    return s;
  });
  const next = `v${(i + 1) % plans.length}`;
  const relocations = symbols.map((s) => ({ section: "socket", offset: s.value, symbol: next, type: R_BPF["64_64"] }));
  const own = `v${i}`;
  const bytes = writeElf({
    byteOrder: order,
    sections: [
      { name: "socket", flags: SHF.ALLOC | SHF.EXECINSTR, data: encode(code, order), align: 8 },
      { name: ".data", flags: SHF.ALLOC | SHF.WRITE, data: Uint8Array.from(p.data), align: 4 },
      { name: "license", flags: SHF.ALLOC | SHF.WRITE, data: Buffer.from("GPL\0"), align: 1 },
    ],
    symbols: [
      ...symbols,
      { name: own, section: ".data", value: 0, size: p.data.length, type: STT.OBJECT, bind: STB.GLOBAL },
      ...(next === own ? [] : [{ name: next, section: undefined, value: 0, size: 0, type: STT.NOTYPE, bind: STB.GLOBAL }]),
    ],
    relocations,
  });
  return { bytes, programs };
}

const fields = (i: Instruction) => [i.opcode, i.dst, i.src, i.off, i.imm];

describe("static linker", () => {
  it("linking N random objects keeps every program's instructions and symbols, both byte orders", () => {
    assertProperty(
      fc.property(fc.array(plan, { minLength: 1, maxLength: 4 }), fc.constantFrom("little", "big") as fc.Arbitrary<"little" | "big">, (plans, order) => {
        const objects = plans.map((_, i) => build(plans, i, order));
        const linked = linkObjects(objects.map((o, i) => ({ name: `o${i}.o`, bytes: o.bytes })));
        const elf = readElf(linked);
        expect(elf.byteOrder).toBe(order);
        const socket = elf.sectionByName("socket");
        const data = elf.sectionByName(".data");
        expect(elf.symbols.filter((s) => s.index > 0 && s.sectionIndex === SHN.UNDEF)).toEqual([]);
        let dataBase = 0;
        const dataBases: number[] = [];
        for (const p of plans) {
          dataBase = Math.ceil(dataBase / 4) * 4;
          dataBases.push(dataBase);
          dataBase += p.data.length;
        }
        objects.forEach((o, i) => {
          o.programs.forEach((prog, j) => {
            const sym = elf.symbols.find((s) => s.name === `p${i}_${j}`);
            expect(sym, `p${i}_${j}`).toMatchObject({ type: STT.FUNC, bind: STB.GLOBAL, sectionIndex: socket?.index });
            const bytes = socket?.data.subarray(sym?.value, (sym?.value ?? 0) + (sym?.size ?? 0)) ?? new Uint8Array();
            expect(decode(bytes, order).map(fields)).toEqual(prog.map(fields));
            // Its load of the next object's variable points at that variable.
            const rel = elf.relocationsFor(socket?.index ?? 0).find((r) => r.offset === sym?.value);
            expect(rel?.symbol.name).toBe(`v${(i + 1) % plans.length}`);
          });
          const v = elf.symbols.find((s) => s.name === `v${i}`);
          expect(v).toMatchObject({ value: dataBases[i], size: (plans[i] as ObjectPlan).data.length, sectionIndex: data?.index });
          expect([...(data?.data.subarray(v?.value, (v?.value ?? 0) + (v?.size ?? 0)) ?? [])]).toEqual((plans[i] as ObjectPlan).data);
        });
        // The collection reader sees every program, and the output links again with another copy refused.
        const spec = readCollectionSpec(linked);
        expect(spec.programs.size).toBe(plans.reduce((n, p) => n + p.programs.length, 0));
        let error: unknown;
        try {
          linkObjects([{ name: "ab.o", bytes: linked }, { name: "o0.o", bytes: (objects[0] as { bytes: Uint8Array }).bytes }]);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(LinkError);
        expect((error as LinkError).files).toEqual(["ab.o", "o0.o"]);
        expect((error as LinkError).symbol).toMatch(/^(p0_\d+|v0)$/);
      }),
    );
  });
});
