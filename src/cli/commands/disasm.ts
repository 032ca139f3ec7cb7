import type { Command } from "commander";
import { asm } from "../../index.js";
import { CliError, hexBytes, parseHex, readInput, type Output } from "../io.js";
import { byteOrderOption } from "./options.js";

interface DisasmOptions {
  order: asm.ByteOrder;
  alu32?: boolean;
  decimal?: boolean;
  rawInsn?: boolean;
  lenient?: boolean;
}

export function registerDisasm(program: Command, io: Output): void {
  program
    .command("disasm")
    .description("disassemble BPF instructions to LLVM syntax, as llvm-objdump -d prints them")
    .argument("[file]", "raw instruction bytes or hex text (b7 00 00 00 ..., 0xb7,0x00,...); - or none for stdin", "-")
    .addOption(byteOrderOption())
    .option("--alu32", "print 32-bit loads, stores and atomics with w registers (llvm-objdump --mattr=+alu32)")
    .option("--decimal", "print immediates in decimal, like llvm-mc -disassemble")
    .option("--raw-insn", "show each instruction's bytes too")
    .option("--lenient", "print <unknown> for invalid instructions instead of stopping at the first")
    .addHelpText(
      "after",
      `
Output matches llvm-objdump-19 -d --no-show-raw-insn: slot number, then the instruction.
Instructions LLVM 19 cannot print (load-acquire, store-release; 32-bit fetch atomics without
--alu32) are shown in the syntax later LLVM versions use.

Examples:
  tsebpf disasm prog.bin
  echo 'b7 00 00 00 02 00 00 00 95 00 00 00 00 00 00 00' | tsebpf disasm`,
    )
    .action((file: string, opts: DisasmOptions) => {
      const input = readInput(file);
      const text = input.toString("latin1");
      const bytes = /^[\s0-9a-fA-FxX,#[\]]*$/.test(text.replace(/#[^\n]*/g, "")) ? parseHex(text) : undefined;
      const code = bytes ?? new Uint8Array(input);
      if (code.byteLength % 8 !== 0) {
        throw new CliError(`${file === "-" ? "<stdin>" : file}: ${code.byteLength} bytes is not a whole number of 8-byte instructions`);
      }
      const lines = asm.disassembleBytes(code, {
        order: opts.order,
        alu32: opts.alu32 ?? false,
        hex: !opts.decimal,
        onInvalid: opts.lenient ? "unknown" : "throw",
      });
      for (const line of lines) {
        if (opts.rawInsn) {
          const raw = hexBytes(code.subarray(line.slot * 8, line.slot * 8 + (line.instruction && asm.isWide(line.instruction) ? 16 : 8)));
          io.out(`${String(line.slot).padStart(8)}:\t${raw}\t${line.text}\n`);
        } else {
          io.out(`${asm.objdumpLine(line)}\n`);
        }
      }
    });
}
