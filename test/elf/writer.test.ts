import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { assemble } from "../../src/asm/index.js";
import { assembleObject } from "../../src/elf/asm-object.js";
import { readCollectionSpec } from "../../src/elf/collection.js";
import { readElf } from "../../src/elf/reader.js";
import { llvmMc, llvmObjdump, llvmMissing } from "../helpers/llvm.js";
import { itWith } from "../helpers/oracle.js";

const SOURCE = `
	.text
	.globl	helper
helper:
	r0 = r1
	r0 *= r0
	exit

	.section	xdp,"ax"
	.globl	xdp_prog
xdp_prog:
	r6 = r1
	r1 = 3
	call helper
	if r0 > 8 goto drop
	r0 = 2
	exit
drop:
	r1 = counter ll
	lock *(u64 *)(r1 + 0) += r0
	r0 = 1
	exit

	.data
	.globl	counter
counter:
	.quad 0

	.section	license,"aw"
	.asciz	"GPL"
`;

const dir = mkdtempSync(join(tmpdir(), "tsebpf-writer-"));

describe("ELF writer", () => {
  for (const order of ["little", "big"] as const) {
    it(`writes an object that tsebpf reads back as a collection (${order} endian)`, () => {
      const bytes = assembleObject(assemble(SOURCE), order);
      const elf = readElf(bytes);
      expect(elf.byteOrder).toBe(order);
      expect(elf.sections.map((s) => s.name)).toEqual(["", ".text", "xdp", ".data", "license", ".relxdp", ".symtab", ".strtab", ".shstrtab"]);
      const spec = readCollectionSpec(bytes);
      const prog = spec.programs.get("xdp_prog");
      expect(prog?.subprograms).toEqual(["helper"]);
      expect(prog?.instructions.find((i) => i.reference === ".data")).toMatchObject({ src: 2, imm2: 0 });
      expect(spec.license).toBe("GPL");
      expect(spec.maps.get(".data")?.valueSize).toBe(8);
    });
  }

  itWith(llvmMissing)("writes what llvm-objdump shows exactly like llvm-mc's object for the same text", () => {
    for (const [order, triple] of [["little", "bpfel"], ["big", "bpfeb"]] as const) {
      const src = join(dir, `p-${triple}.s`);
      writeFileSync(src, SOURCE);
      const ours = join(dir, `ours-${triple}.o`);
      const theirs = join(dir, `theirs-${triple}.o`);
      writeFileSync(ours, assembleObject(assemble(SOURCE), order));
      expect(spawnSync(llvmMc as string, [`-triple=${triple}`, "-filetype=obj", src, "-o", theirs]).status).toBe(0);
      const dump = (f: string) =>
        spawnSync(llvmObjdump as string, ["-dr", "--no-show-raw-insn", f], { encoding: "utf8" }).stdout.replace(f, "X").split("\n");
      const a = dump(ours);
      const b = dump(theirs);
      // llvm-mc relocates a call to another section against that section; tsebpf against the
      // function symbol: both are right and resolve to the same target.
      const norm = (lines: string[]) => lines.map((l) => l.replace(/R_BPF_64_32\t\S+/, "R_BPF_64_32\tTARGET"));
      expect(norm(a)).toEqual(norm(b));
      const sections = (f: string) => spawnSync("llvm-readelf-19", ["-S", f], { encoding: "utf8" }).stdout;
      expect(sections(ours)).toMatch(/xdp\s+PROGBITS/);
    }
  });
});
