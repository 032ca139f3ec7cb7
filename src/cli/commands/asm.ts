import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { asm, elf } from "../../index.js";
import { hexBytes, readInput, type Output } from "../io.js";
import { byteOrderOption } from "./options.js";

export function registerAsm(program: Command, io: Output): void {
  program
    .command("asm")
    .description("assemble LLVM-syntax BPF assembly (what llvm-mc -triple=bpf accepts)")
    .argument("<file>", "assembly source, or - for standard input")
    .option("--hex", "print the encoding of each instruction as hex bytes, one per line")
    .option("-o, --output <file>", "write an ELF object (EM_BPF, relocatable) to a file")
    .option("--raw", "with -o: write only the instruction bytes of the single section")
    .addOption(byteOrderOption())
    .addHelpText(
      "after",
      `
Without --hex or -o, prints a listing: slot, bytes and the instruction as tsebpf reads it.
Errors name the file, line and column. Labels resolve inside their section; references to
other sections or undefined symbols become relocations in the object (-o), as llvm-mc makes
them. Sections: .text, .section NAME, .data/.rodata/.bss with .byte/.short/.long/.quad/.zero/
.ascii/.asciz data; .globl marks functions (a program section's first label is one anyway).

Examples:
  tsebpf asm prog.s --hex
  echo 'r0 = 2; exit' | tsebpf asm - --hex
  tsebpf asm xdp.s -o xdp.o && tsebpf disasm xdp.o`,
    )
    .action((file: string, opts: { hex?: boolean; output?: string; raw?: boolean; order: asm.ByteOrder }) => {
      const source = file === "-" ? "<stdin>" : file;
      const program = asm.assemble(readInput(file).toString("utf8"), { source });
      const { sections } = program;
      const order = opts.order;
      if (opts.output !== undefined) {
        if (!opts.raw) {
          writeFileSync(opts.output, elf.assembleObject(program, order));
          return;
        }
        if (sections.length > 1) throw new Error(`${source}: ${sections.length} sections; raw output holds only one`);
        writeFileSync(opts.output, asm.encode(sections[0]?.instructions ?? [], order));
        return;
      }
      for (const section of sections) {
        if (sections.length > 1 || section.name !== ".text") io.out(`${opts.hex ? "# " : ""}section ${section.name}:\n`);
        let slot = 0;
        for (const ins of section.instructions) {
          const bytes = asm.encode([ins], order);
          if (opts.hex) {
            io.out(`${hexBytes(bytes)}\n`);
          } else {
            const ref = ins.reference !== undefined && !asm.isJump(ins) ? `\t; ${ins.reference}` : "";
            io.out(`${String(slot).padStart(8)}:\t${hexBytes(bytes)}\t${asm.formatInstruction(ins, {}, slot)}${ref}\n`);
          }
          slot += asm.slotCount(ins);
        }
      }
    });
}
