import type { Command } from "commander";
// Only the ELF reader and the disassembler (the `tsebpf/asm` entry point's modules), not the
// library's index: `tsebpf disasm` starts without loading the runtime, koffi or BTF → C.
import { disassembleBytes, objdumpLine } from "../../asm/disasm.js";
import type { ByteOrder } from "../../asm/encoding.js";
import { isWide } from "../../asm/instruction.js";
import { objdump } from "../../elf/objdump.js";
import { readElf, type ElfFile } from "../../elf/reader.js";
import { CliError, hexBytes, parseHex, readInput, type Output } from "../io.js";
import { byteOrderOption } from "./options.js";

interface DisasmOptions {
  order: ByteOrder;
  alu32?: boolean;
  decimal?: boolean;
  rawInsn?: boolean;
  lenient?: boolean;
  reloc?: boolean;
  section?: string[];
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const isElf = (bytes: Uint8Array): boolean => ELF_MAGIC.every((b, i) => bytes[i] === b);

export function registerDisasm(program: Command, io: Output): void {
  program
    .command("disasm")
    .description("disassemble ELF objects or raw BPF instructions to LLVM syntax, as llvm-objdump -d prints them")
    .argument("[files...]", "ELF objects, or one file of raw instruction bytes or hex text (b7 00 00 00 ..., 0xb7,0x00,...); - or none for stdin")
    .option("-r, --reloc", "ELF object: show relocations and CO-RE relocations after their instructions (llvm-objdump -r)")
    .option("--section <name>", "ELF object: list only this section, executable or not (llvm-objdump -j); repeatable", collect)
    .option("--alu32", "print 32-bit loads, stores and atomics with w registers (llvm-objdump --mattr=+alu32)")
    .addOption(byteOrderOption())
    .option("--decimal", "raw instructions: print immediates in decimal, like llvm-mc -disassemble")
    .option("--raw-insn", "raw instructions: show each instruction's bytes too")
    .option("--lenient", "raw instructions: print <unknown> for invalid instructions instead of stopping at the first")
    .addHelpText(
      "after",
      `
An ELF object (a file that starts with \\x7fELF) is listed exactly as
llvm-objdump-19 -d [-r] --no-show-raw-insn lists it: every executable section, each symbol's
block, the instructions by slot with <symbol+offset> after jumps, and with -r the relocations
(R_BPF_64_64 map, R_BPF_64_32 call, ...) and the CO-RE relocations from .BTF.ext, e.g.
  CO-RE <byte_off> [17] struct task_struct::pid (0:0)
Several objects are listed one after the other, as llvm-objdump lists several files (each in its
own byte order: llvm-objdump-19 reads every file in the first one's). All are read and listed
before anything is written: one that cannot be read stops the command with nothing listed.
Instructions are shown as LLVM 19 decodes them, <unknown> included (32-bit atomics other than
add need --alu32, as with llvm-objdump --mattr=+alu32).

Raw instructions (anything else) are listed the same way without symbols: slot number, then
the instruction; those LLVM 19 cannot print are shown in the syntax later LLVM versions use.

Examples:
  tsebpf disasm prog.bpf.o
  tsebpf disasm -r --section xdp prog.bpf.o
  tsebpf disasm *.bpf.o
  tsebpf disasm prog.bin
  echo 'b7 00 00 00 02 00 00 00 95 00 00 00 00 00 00 00' | tsebpf disasm`,
    )
    .action(function (this: Command, files: string[], opts: DisasmOptions) {
      const inputs = (files.length === 0 ? ["-"] : files).map((file) => ({ name: file === "-" ? "<stdin>" : file, input: readInput(file) }));
      const raw = inputs.find(({ input }) => !isElf(input));
      if (raw === undefined) {
        for (const [option, flag] of [["decimal", "--decimal"], ["rawInsn", "--raw-insn"], ["lenient", "--lenient"], ["order", "--order"]] as const) {
          if (this.getOptionValueSource(option) === "cli") throw new CliError(`${(inputs[0] as Input).name}: ${flag} applies to raw instructions, not to an ELF object`);
        }
        listObjects(inputs, opts, io);
        return;
      }
      const { name, input } = raw;
      if (inputs.length > 1) throw new CliError(`${name}: not an ELF object: raw instructions are disassembled one file at a time`);
      if (opts.reloc || opts.section) throw new CliError(`${name}: ${opts.reloc ? "--reloc" : "--section"} needs an ELF object, not raw instructions`);
      const text = input.toString("latin1");
      const bytes = /^[\s0-9a-fA-FxX,#[\]]*$/.test(text.replace(/#[^\n]*/g, "")) ? parseHex(text) : undefined;
      const code = bytes ?? new Uint8Array(input);
      if (code.byteLength % 8 !== 0) {
        throw new CliError(`${name}: ${code.byteLength} bytes is not a whole number of 8-byte instructions`);
      }
      const lines = disassembleBytes(code, {
        order: opts.order,
        alu32: opts.alu32 ?? false,
        hex: !opts.decimal,
        onInvalid: opts.lenient ? "unknown" : "throw",
      });
      for (const line of lines) {
        if (opts.rawInsn) {
          const raw = hexBytes(code.subarray(line.slot * 8, line.slot * 8 + (line.instruction && isWide(line.instruction) ? 16 : 8)));
          io.out(`${String(line.slot).padStart(8)}:\t${raw}\t${line.text}\n`);
        } else {
          io.out(`${objdumpLine(line)}\n`);
        }
      }
    });
}

/** A file named on the command line and its bytes. */
interface Input {
  readonly name: string;
  readonly input: Buffer;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * The llvm-objdump listing of ELF objects, one after the other. Every object is parsed (and
 * `--section` names checked) and listed before the first listing is written, so bad input
 * prints nothing else.
 */
function listObjects(inputs: readonly Input[], opts: DisasmOptions, io: Output): void {
  const objects = inputs.map(({ name, input }) => ({ name, elf: withName(name, () => readElf(new Uint8Array(input.buffer, input.byteOffset, input.byteLength))) }));
  for (const section of opts.section ?? []) {
    if (objects.some(({ elf }) => elf.sections.some((s) => s.index !== 0 && s.name === section))) continue;
    // llvm-objdump lists what there is, and warns only of a name no file has.
    const where = objects.length === 1 ? `${(objects[0] as { name: string }).name}: ` : "";
    const which = objects.length === 1 ? "" : ` in any of the ${objects.length} objects`;
    throw new CliError(`${where}no section named ${JSON.stringify(section)}${which}`);
  }
  const listings = objects.map(({ name, elf }) => listObject(elf, name, opts));
  for (const { name, text, warnings } of listings) {
    for (const warning of warnings) io.err(`tsebpf: warning: ${name}: ${warning}\n`);
    io.out(text);
  }
}

/** One object's listing, with the warnings llvm-objdump would print (unreadable .BTF, .BTF.ext). */
function listObject(elf: ElfFile, name: string, opts: DisasmOptions): { name: string; text: string; warnings: string[] } {
  const warnings: string[] = [];
  const text = withName(name, () =>
    objdump(elf, {
      path: name,
      relocations: opts.reloc ?? false,
      alu32: opts.alu32 ?? false,
      ...(opts.section ? { sections: opts.section } : {}),
      onWarning: (message) => warnings.push(message),
    }),
  );
  return { name, text, warnings };
}

/** Runs `read`; an error it throws becomes a CliError that starts with the file's name. */
function withName<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof CliError || !(e instanceof Error)) throw e;
    throw new CliError(`${name}: ${e.message}`);
  }
}
