/**
 * Assembled text to an object file (`tsebpf asm in.s -o out.o`): code sections with their
 * labels and functions, data sections, and relocations for every reference the assembler could
 * not resolve inside its section — the object llvm-mc would write for the same text.
 */
import { encode, encodeData, isJump, LD_IMM64, PseudoCall, slotCount, type AsmProgram, type Instruction } from "../asm/index.js";
import { R_BPF, SHF, SHT, STB, STT } from "./constants.js";
import { ParseError } from "./errors.js";
import { classifySection } from "./section-names.js";
import { writeElf, type WriteRelocation, type WriteSection, type WriteSymbol } from "./writer.js";

const isCall = (i: Instruction) => i.opcode === 0x85 && i.src === PseudoCall.CALL;

/** Writes an assembled program as an ELF object in the given byte order. */
export function assembleObject(program: AsmProgram, order: "little" | "big" = "little"): Uint8Array {
  const sections: WriteSection[] = [];
  const symbols: WriteSymbol[] = [];
  const relocations: WriteRelocation[] = [];
  const defined = new Map<string, string>(); // symbol -> section
  for (const s of program.sections) for (const name of s.symbols.keys()) defined.set(name, s.name);

  for (const s of program.sections) {
    const isCode = s.instructions.length > 0;
    const bytes = isCode ? encode(s.instructions, order) : encodeData(s.data, order);
    const readOnly = s.name === ".rodata" || s.name.startsWith(".rodata.");
    const bss = s.name === ".bss" || s.name.startsWith(".bss.");
    sections.push({
      name: s.name,
      type: bss ? SHT.NOBITS : SHT.PROGBITS,
      flags: SHF.ALLOC | (isCode ? SHF.EXECINSTR : readOnly ? 0 : SHF.WRITE),
      data: bytes,
      size: bytes.byteLength,
      align: isCode ? 8 : 4,
    });
    // Functions: .globl symbols; in a program section without one, its first label.
    const globals = [...s.symbols].filter(([n]) => s.globals.has(n)).sort((a, b) => a[1] - b[1]);
    if (isCode && globals.length === 0 && classifySection(s.name)) {
      const first = [...s.symbols].find(([, at]) => at === 0);
      if (first) globals.push(first);
    }
    const total = isCode ? bytes.byteLength / 8 : bytes.byteLength;
    const unit = isCode ? 8 : 1;
    for (const [name, at] of s.symbols) {
      const g = globals.findIndex(([n]) => n === name);
      if (g >= 0) {
        const end = globals[g + 1]?.[1] ?? total;
        symbols.push({ name, section: s.name, value: at * unit, size: (end - at) * unit, type: isCode ? STT.FUNC : STT.OBJECT, bind: STB.GLOBAL });
      } else {
        symbols.push({ name, section: s.name, value: at * unit, size: 0, type: STT.NOTYPE, bind: STB.LOCAL });
      }
    }
    for (const name of s.globals) {
      if (!defined.has(name)) symbols.push({ name, section: undefined, value: 0, size: 0, type: STT.NOTYPE, bind: STB.GLOBAL });
    }
    // Relocations for references that leave the section.
    let slot = 0;
    for (const ins of s.instructions) {
      const ref = ins.reference;
      if (ref !== undefined && !isJump(ins) && defined.get(ref) !== s.name) {
        if (ins.opcode !== LD_IMM64 && !isCall(ins)) throw new ParseError(`instruction ${slot} refers to ${ref} but is neither a 64-bit load nor a call`, { section: s.name });
        relocations.push({ section: s.name, offset: slot * 8, symbol: ref, type: ins.opcode === LD_IMM64 ? R_BPF["64_64"] : R_BPF["64_32"] });
        if (!defined.has(ref) && !symbols.some((y) => y.name === ref)) {
          symbols.push({ name: ref, section: undefined, value: 0, size: 0, type: STT.NOTYPE, bind: STB.GLOBAL });
        }
      } else if (ref !== undefined && ins.opcode === LD_IMM64 && !isJump(ins)) {
        // A 64-bit load of a label in its own section: llvm-mc relocates it against the section.
        relocations.push({ section: s.name, offset: slot * 8, symbol: ref, type: R_BPF["64_64"] });
      }
      slot += slotCount(ins);
    }
  }
  return writeElf({ byteOrder: order, sections, symbols, relocations });
}
