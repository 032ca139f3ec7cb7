import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { asm } from "../../index.js";
import { hexBytes, readInput, type Output } from "../io.js";
import { byteOrderOption } from "./options.js";

export function registerAsm(program: Command, io: Output): void {
  program
    .command("asm")
    .description("assemble LLVM-syntax BPF assembly (what llvm-mc -triple=bpf accepts)")
    .argument("<file>", "assembly source, or - for standard input")
    .option("--hex", "print the encoding of each instruction as hex bytes, one per line")
    .option("-o, --output <file>", "write the raw instruction bytes to a file")
    .addOption(byteOrderOption())
    .addHelpText(
      "after",
      `
Without --hex or -o, prints a listing: slot, bytes and the instruction as tsebpf reads it.
Errors name the file, line and column. Labels resolve inside their section; a program with
unresolved map or function references needs an object file (tsebpf asm -o obj.o, coming with
the ELF writer).

Examples:
  tsebpf asm prog.s --hex
  echo 'r0 = 2; exit' | tsebpf asm - --hex`,
    )
    .action((file: string, opts: { hex?: boolean; output?: string; order: asm.ByteOrder }) => {
      const source = file === "-" ? "<stdin>" : file;
      const { sections } = asm.assemble(readInput(file).toString("utf8"), { source });
      const order = opts.order;
      if (opts.output !== undefined) {
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
