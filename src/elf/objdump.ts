/**
 * The listing `llvm-objdump-19 -d --no-show-raw-insn` prints for a BPF object (with `-r`, its
 * relocations and CO-RE relocations too), line for line. Pure: takes the object's bytes (or a
 * parsed ElfFile) and returns the text.
 *
 * What llvm-objdump does, as found by running it on compiled, assembled and patched objects:
 *
 * - Sections: every section with SHF_EXECINSTR and contents, in section order (with `sections`,
 *   every section of those names, executable or not). A section's header is printed before its
 *   first block, so a section with nothing to show prints nothing.
 * - Blocks: one per address that has a symbol, from there to the next such address or the section
 *   end. Section and file symbols and symbols without a name do not count; a common symbol's
 *   address is its size. When no symbol is at the section start, the section's name stands in
 *   for one there. Of several symbols at one address, the block is named after the last one in
 *   (address, name) order that is not data (STT_OBJECT, STT_COMMON), or the last one when all
 *   are; a block named after a data symbol in an executable section is dumped as data (8 bytes
 *   a line, hex and ASCII).
 * - Instructions: `%8d:\t<text>`, the number being the byte address divided by 8. LLVM's decoder
 *   is more lenient than the kernel (it ignores most unused fields) and stricter in places; what
 *   it cannot decode is `<unknown>`, consuming 8 bytes, or 1 byte when fewer than 8 (16 for lddw)
 *   are left in the section. An instruction may read past its block's end. Runs of 8 or more zero
 *   bytes print as `\t\t...` (skipping a multiple of 4 bytes, never past the next relocation with
 *   `-r`).
 * - Jumps are followed by `<symbol+0xoffset>`: the last symbol (in (address, name) order, data
 *   included) at or before the target in the same section (in a linked object, the sections at
 *   the target's address), else among symbols in no section; targets wrap modulo 2^64.
 * - With `-r`: after each instruction, its CO-RE relocation (from .BTF.ext) and the relocations
 *   whose offset is before the next instruction: `\t\t%016x:  R_BPF_64_64\tsymbol`. Those inside
 *   data blocks are not shown.
 * - A section without contents (SHT_NOBITS, listed only when named) shows `...` for each block.
 */
import { classOf, Class } from "../asm/opcodes.js";
import { formatInstruction, type FormatOptions } from "../asm/format.js";
import type { Instruction, Register } from "../asm/instruction.js";
import { ET, SHF, SHN, SHT, STT } from "./constants.js";
import { readElf, type ElfFile, type ElfRelocation, type ElfSection, type ElfSymbol } from "./reader.js";
import { describeCoreRelocation, findCoreRelocation, readCoreRelocations, type CoreRelocations } from "./objdump-core.js";

export interface ObjdumpOptions {
  /** The file name printed in the header, as llvm-objdump prints the path it was given. */
  readonly path: string;
  /** Print relocations and CO-RE relocations after their instructions (`-r`). */
  readonly relocations?: boolean;
  /** Only these sections, executable or not (`-j NAME`, repeatable). */
  readonly sections?: readonly string[];
  /** Decode with LLVM's alu32 feature: 32-bit loads, stores and atomics with w registers (`--mattr=+alu32`). */
  readonly alu32?: boolean;
  /** Decode runs of zero bytes instead of printing `...` (`-z`). */
  readonly disassembleZeroes?: boolean;
  /** Called for each problem that llvm-objdump reports as a warning (unreadable .BTF or .BTF.ext). */
  readonly onWarning?: (message: string) => void;
  /** Called for each name in `sections` that no section has (llvm-objdump warns and goes on). */
  readonly onMissingSection?: (name: string) => void;
}

/** llvm-objdump's name for each BPF relocation type. */
export const RELOCATION_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "R_BPF_NONE",
  1: "R_BPF_64_64",
  2: "R_BPF_64_ABS64",
  3: "R_BPF_64_ABS32",
  4: "R_BPF_64_NODYLD32",
  10: "R_BPF_64_32",
};

/**
 * The text of `llvm-objdump-19 -d --no-show-raw-insn [-r] [-j NAME]... [--mattr=+alu32] [-z]`
 * for a BPF object. Throws ParseError for a malformed object.
 */
export function objdump(input: Uint8Array | ElfFile, options: ObjdumpOptions): string {
  const elf = input instanceof Uint8Array ? readElf(input) : input;
  for (const name of options.sections ?? []) {
    if (!elf.sections.some((s) => s.index !== 0 && s.name === name)) options.onMissingSection?.(name);
  }
  const out: string[] = [`\n${options.path}:\tfile format elf64-bpf\n`];
  const symbols = collectSymbols(elf);
  const core = options.relocations ? loadCore(elf, options.onWarning) : undefined;
  for (const section of elf.sections) {
    const selected = options.sections
      ? section.index !== 0 && options.sections.includes(section.name)
      : (section.flags & SHF.EXECINSTR) !== 0 && section.type !== SHT.NOBITS;
    if (!selected) continue;
    disassembleSection(elf, section, symbols, core, options, out);
  }
  return out.join("");
}

/** A symbol as llvm-objdump's disassembler sees it: its name, address and type. */
export interface ListingSymbol {
  readonly name: string;
  readonly address: number;
  readonly type: number;
  /** UTF-8 bytes of the name, for byte-wise ordering. */
  readonly key: Buffer;
}

function listingSymbol(name: string, address: number, type: number): ListingSymbol {
  return { name, address, type, key: Buffer.from(name, "utf8") };
}

/** (address, name, type) order: the order llvm-objdump keeps symbols in. */
function compareSymbols(a: ListingSymbol, b: ListingSymbol): number {
  return a.address - b.address || Buffer.compare(a.key, b.key) || a.type - b.type;
}

interface Symbols {
  /** Per section index, sorted; a section being listed gets its stand-in symbol added here. */
  readonly bySection: Map<number, ListingSymbol[]>;
  /** Symbols in no section (undefined, absolute, common), sorted. */
  readonly absolute: ListingSymbol[];
}

function collectSymbols(elf: ElfFile): Symbols {
  const bySection = new Map<number, ListingSymbol[]>();
  const absolute: ListingSymbol[] = [];
  for (const sym of elf.symbols) {
    if (!countsAsLabel(sym)) continue;
    const index = sym.sectionIndex;
    // LLVM takes a common symbol's value to be its size, an undefined symbol's to be 0.
    const common = sym.type === STT.COMMON || index === SHN.COMMON;
    const value = index === SHN.UNDEF ? 0 : common ? sym.size : sym.value;
    const section = index !== SHN.UNDEF && index < SHN.LORESERVE ? elf.sections[index] : undefined;
    if (!section) {
      absolute.push(listingSymbol(sym.name, value, sym.type));
      continue;
    }
    const address = value + (elf.type === ET.REL ? section.addr : 0);
    const list = bySection.get(index) ?? [];
    list.push(listingSymbol(sym.name, address, sym.type));
    bySection.set(index, list);
  }
  for (const list of bySection.values()) stableSort(list, compareSymbols);
  stableSort(absolute, compareSymbols);
  return { bySection, absolute };
}

function countsAsLabel(sym: ElfSymbol): boolean {
  if (sym.index === 0 || sym.name === "") return false;
  return sym.type !== STT.SECTION && sym.type !== STT.FILE;
}

/** Data symbols: a block named after one is dumped as data, and other symbols win its name. */
const isData = (type: number): boolean => type === STT.OBJECT || type === STT.COMMON;

function stableSort<T>(list: T[], compare: (a: T, b: T) => number): void {
  const indexed = list.map((value, i) => ({ value, i }));
  indexed.sort((a, b) => compare(a.value, b.value) || a.i - b.i);
  indexed.forEach(({ value }, i) => (list[i] = value));
}

interface Core {
  readonly relocations: CoreRelocations;
  /** The section each name stands for in .BTF.ext: the last of that name. */
  readonly sectionIndexByName: ReadonlyMap<string, number>;
}

function loadCore(elf: ElfFile, onWarning: ((message: string) => void) | undefined): Core | undefined {
  // llvm-objdump keeps, of sections of one name, the last: it reads that .BTF and .BTF.ext, and
  // the CO-RE records of a section name belong to that section only.
  const last = new Map<string, ElfSection>();
  for (const s of elf.sections) last.set(s.name, s);
  const btf = last.get(".BTF");
  const ext = last.get(".BTF.ext");
  if (!btf || !ext) return undefined;
  const relocations = readCoreRelocations(btf.data, ext.data, onWarning, new Set(last.keys()));
  return relocations ? { relocations, sectionIndexByName: new Map([...last].map(([name, s]) => [name, s.index])) } : undefined;
}

const hex16 = (value: number): string => value.toString(16).padStart(16, "0");

function disassembleSection(
  elf: ElfFile,
  section: ElfSection,
  all: Symbols,
  core: Core | undefined,
  options: ObjdumpOptions,
  out: string[],
): void {
  const text = (section.flags & SHF.EXECINSTR) !== 0;
  const base = section.addr;
  const end = base + section.size;
  const symbols = all.bySection.get(section.index) ?? [];
  all.bySection.set(section.index, symbols);
  if (symbols.length === 0 || (symbols[0] as ListingSymbol).address !== base) {
    // The section's name stands in for a symbol at its start.
    const standIn = listingSymbol(section.name, base, text ? STT.FUNC : STT.OBJECT);
    const at = symbols.findIndex((s) => compareSymbols(s, standIn) >= 0);
    symbols.splice(at < 0 ? symbols.length : at, 0, standIn);
  }
  // Jump targets: in a relocatable object, this section's symbols; else those of the sections at
  // the target's address. Then symbols in no section.
  const targetLists = (target: bigint): (readonly ListingSymbol[])[] => {
    if (elf.type === ET.REL) return [symbols, all.absolute];
    let best: number | undefined;
    for (const s of elf.sections) if (BigInt(s.addr) <= target && (best === undefined || s.addr > best)) best = s.addr;
    const lists = elf.sections.filter((s) => s.addr === best).map((s) => all.bySection.get(s.index) ?? []);
    return [...lists, all.absolute];
  };
  const relocations = options.relocations ? sortedRelocations(elf, section) : [];
  // Offsets in the section: r_offset, or in a linked object r_offset less the section address
  // (modulo 2^64: an offset before the section is never reached).
  const relOffset = (rel: ElfRelocation): number => {
    const offset = elf.type === ET.REL ? rel.offset : rel.offset - base;
    return offset < 0 ? Infinity : offset;
  };
  const coreRecords = core?.sectionIndexByName.get(section.name) === section.index ? core.relocations.bySection.get(section.name) : undefined;
  const bytes = section.data;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const order = elf.byteOrder;
  const alu32 = options.alu32 ?? false;
  let relCur = 0;
  let printedHeader = false;

  for (let si = 0; si < symbols.length; ) {
    const start = (symbols[si] as ListingSymbol).address;
    const first = si;
    while (si < symbols.length && (symbols[si] as ListingSymbol).address === start) si++;
    const blockEnd = si < symbols.length ? Math.min(end, (symbols[si] as ListingSymbol).address) : end;
    if (start < base || start >= blockEnd) continue;
    const here = symbols.slice(first, si);
    const shown = [...here].reverse().find((s) => !isData(s.type)) ?? (here[here.length - 1] as ListingSymbol);
    if (!printedHeader) {
      out.push(`\nDisassembly of section ${section.name}:\n`);
      printedHeader = true;
    }
    out.push(`\n${hex16(start)} <${shown.name}>:\n`);
    if (section.type === SHT.NOBITS) {
      out.push("...\n");
      continue;
    }
    let index = start - base;
    const stop = blockEnd - base;
    if (text && isData(shown.type)) {
      dumpData(bytes, base, index, stop, out);
      // Relocations inside data are not shown.
      while (relCur < relocations.length && relOffset(relocations[relCur] as ElfRelocation) < stop) relCur++;
      continue;
    }
    while (index < stop) {
      if (!options.disassembleZeroes) {
        let limit = stop - index;
        const next = relocations[relCur];
        if (next !== undefined && relOffset(next) >= index) limit = Math.min(limit, relOffset(next) - index);
        const zeros = skippableZeros(bytes, index, limit);
        if (zeros > 0) {
          out.push("\t\t...\n");
          index += zeros;
          continue;
        }
      }
      const address = base + index;
      const { instruction, size } = decodeLikeLlvm(view, index, order === "little", alu32);
      const step = size === 0 ? 1 : size;
      let line: string;
      if (instruction) {
        line = formatLikeLlvm(instruction, alu32);
        const target = branchTarget(instruction, address);
        if (target !== undefined) {
          const note = annotate(targetLists(target), target);
          if (note !== undefined) line += ` ${note}`;
        }
      } else {
        line = "<unknown>";
      }
      out.push(`${String(Math.floor(address / 8)).padStart(8)}:\t${line}\n`);
      if (coreRecords && core) {
        const record = findCoreRelocation(coreRecords, index);
        if (record) out.push(`\t\t${hex16(index)}:  CO-RE ${describeCoreRelocation(core.relocations.btf, record)}\n`);
      }
      while (relCur < relocations.length && relOffset(relocations[relCur] as ElfRelocation) < index + step) {
        const rel = relocations[relCur++] as ElfRelocation;
        out.push(`\t\t${hex16(base + relOffset(rel))}:  ${relocationType(rel.type)}\t${relocationValue(elf, rel)}\n`);
      }
      index += step;
    }
  }
}

function sortedRelocations(elf: ElfFile, section: ElfSection): ElfRelocation[] {
  const list = [...elf.relocationsFor(section)];
  stableSort(list, (a, b) => a.offset - b.offset);
  return list;
}

/** llvm-objdump's name for a relocation type: `R_BPF_64_64`, or `Unknown`. */
export const relocationType = (type: number): string => RELOCATION_TYPE_NAMES[type] ?? "Unknown";

/** What a relocation refers to: the symbol's name, a section symbol's section name, `*ABS*` for symbol 0; RELA addends as `+0x10`. */
export function relocationValue(elf: ElfFile, rel: ElfRelocation): string {
  let text: string;
  if (rel.symbolIndex === 0) text = "*ABS*";
  else if (rel.symbol.type === STT.SECTION) text = elf.sections[rel.symbol.sectionIndex]?.name ?? "";
  else text = rel.symbol.name;
  const addend = rel.addend ?? 0;
  if (addend !== 0) text += `${addend < 0 ? "-" : "+"}0x${Math.abs(addend).toString(16)}`;
  return text;
}

/** Leading zero bytes to skip as `...`: none unless at least 8, else a multiple of 4. */
function skippableZeros(bytes: Uint8Array, index: number, limit: number): number {
  const stop = Math.min(bytes.length, index + limit);
  let n = 0;
  while (index + n < stop && bytes[index + n] === 0) n++;
  return n < 8 ? 0 : n & ~3;
}

/** Data in an executable section: 8 bytes a line, `%8x:` then ` %02x` each, padding, ASCII. */
function dumpData(bytes: Uint8Array, base: number, from: number, to: number, out: string[]): void {
  for (let row = from; row < to; row += 8) {
    const chunk = bytes.subarray(row, Math.min(row + 8, to));
    const hex = [...chunk].map((b) => ` ${b.toString(16).padStart(2, "0")}`).join("");
    const ascii = [...chunk].map((b) => (b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : ".")).join("");
    out.push(`${(base + row).toString(16).padStart(8)}:${hex}${" ".repeat(3 * (8 - chunk.length))}         ${ascii}\n`);
  }
}

const U64 = (1n << 64n) - 1n;

/** The target of a jump (JA, gotol, conditional jumps, may_goto) at `address`, modulo 2^64. */
function branchTarget(ins: Instruction, address: number): bigint | undefined {
  const cls = classOf(ins.opcode);
  if (cls !== Class.JMP && cls !== Class.JMP32) return undefined;
  const op = ins.opcode & 0xf0;
  if (op === 0x80 || op === 0x90) return undefined; // call, callx, exit
  const delta = cls === Class.JMP32 && op === 0x00 ? ins.imm : ins.off;
  return (BigInt(address) + 8n + BigInt(delta) * 8n) & U64;
}

/** `<name>` or `<name+0x18>`: the last symbol at or before the target in the first list that has one (lists sorted by address). */
function annotate(lists: readonly (readonly ListingSymbol[])[], target: bigint): string | undefined {
  // Symbol addresses are below 2^53: past that, every symbol is at or before the target.
  const limit = target > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(target);
  for (const list of lists) {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((list[mid] as ListingSymbol).address <= limit) lo = mid + 1;
      else hi = mid;
    }
    const found = list[lo - 1];
    if (found) {
      const disp = (target - BigInt(found.address)) & U64;
      return disp === 0n ? `<${found.name}>` : `<${found.name}+0x${disp.toString(16)}>`;
    }
  }
  return undefined;
}

/** An instruction as decodeLikeLlvm reads it, or none, and the bytes it takes. */
export interface Decoded {
  readonly instruction: Instruction | undefined;
  readonly size: number;
}

const UNDECODED: Decoded = Object.freeze({ instruction: undefined, size: 8 });
const TOO_SHORT: Decoded = Object.freeze({ instruction: undefined, size: 0 });

function decoded(opcode: number, dst: number, src: number, off: number, imm: number): Decoded {
  return { instruction: { opcode, dst: dst as Register, src, off, imm }, size: 8 };
}

/** r0 to r11: what LLVM's decoder takes for a register (the kernel stops at r10). */
const isReg = (r: number): boolean => r <= 11;

/**
 * Decodes one instruction the way LLVM 19's BPF disassembler does. Returns the instruction with
 * the fields LLVM ignores cleared (so that formatInstruction prints what LLVM prints), or none
 * for bytes LLVM cannot decode; `size` is the bytes consumed (0: fewer bytes left than the
 * instruction needs, llvm-objdump then skips one byte).
 */
export function decodeLikeLlvm(
  view: DataView,
  pos: number,
  littleEndian: boolean,
  alu32: boolean,
): Decoded {
  const available = view.byteLength - pos;
  if (available < 8) return TOO_SHORT;
  const opcode = view.getUint8(pos);
  const regs = view.getUint8(pos + 1);
  const dst = (littleEndian ? regs & 0x0f : regs >> 4) as Register;
  const src = littleEndian ? regs >> 4 : regs & 0x0f;
  const off = view.getInt16(pos + 2, littleEndian);
  const imm = view.getInt32(pos + 4, littleEndian);
  // No closures, spreads or shared results made per call: this runs once per instruction, mostly
  // before V8 optimizes it, where those were most of the listing's garbage.
  const bad = UNDECODED;
  const op = opcode & 0xf0;
  const byReg = (opcode & 0x08) !== 0;
  const mode = opcode & 0xe0;
  const size = opcode & 0x18;
  switch (classOf(opcode)) {
    case Class.LD:
      if (opcode === 0x18) {
        if (!isReg(dst) || off !== 0) return bad;
        if (available < 16) return TOO_SHORT;
        // LLVM reads only the high immediate of the second slot; ld_pseudo prints the low one alone.
        const imm2 = src === 0 ? view.getInt32(pos + 12, littleEndian) : 0;
        return { instruction: { opcode, dst, src, off: 0, imm, imm2 }, size: 16 };
      }
      if (opcode === 0x20 || opcode === 0x28 || opcode === 0x30) return decoded(opcode, 0, 0, 0, imm);
      if (opcode === 0x40 || opcode === 0x48 || opcode === 0x50) return isReg(src) ? decoded(opcode, 0, src, 0, 0) : bad;
      return bad;
    case Class.LDX:
      if (mode === 0x60 || (mode === 0x80 && size !== 0x18)) return isReg(dst) && isReg(src) ? decoded(opcode, dst, src, off, 0) : bad;
      return bad;
    case Class.ST:
      return mode === 0x60 && isReg(dst) ? decoded(opcode, dst, 0, off, imm) : bad;
    case Class.STX:
      if (!isReg(dst) || !isReg(src)) return bad;
      if (mode === 0x60) return decoded(opcode, dst, src, off, 0);
      if (mode !== 0xc0 || (size !== 0x00 && size !== 0x18)) return bad;
      return atomic(opcode, dst, src, off, imm, size === 0x00 && !alu32) ?? bad;
    case Class.ALU:
    case Class.ALU64: {
      const is64 = classOf(opcode) === Class.ALU64;
      if (!isReg(dst)) return bad;
      if (op === 0x80) return byReg ? bad : decoded(opcode, dst, 0, 0, 0); // neg
      if (op === 0xd0) {
        if (is64 && byReg) return bad;
        return imm === 16 || imm === 32 || imm === 64 ? decoded(opcode, dst, 0, 0, imm) : bad;
      }
      if (op >= 0xe0) return bad;
      const signedDivision = (op === 0x30 || op === 0x90) && off === 1;
      if (!byReg) return off === 0 || signedDivision ? decoded(opcode, dst, 0, off, imm) : bad;
      if (!isReg(src)) return bad;
      if (op === 0xb0 && is64 && off === 1) return decoded(opcode, dst, src, off, imm); // addr_space_cast
      const movsx = op === 0xb0 && (off === 8 || off === 16 || (is64 && off === 32));
      return off === 0 || signedDivision || movsx ? decoded(opcode, dst, src, off, 0) : bad;
    }
    case Class.JMP:
    case Class.JMP32: {
      const is32 = classOf(opcode) === Class.JMP32;
      if (op === 0x00) return byReg ? bad : is32 ? decoded(opcode, 0, 0, 0, imm) : decoded(opcode, 0, 0, off, 0); // goto, gotol
      if (op === 0x80) return is32 ? bad : byReg ? (isReg(dst) ? decoded(opcode, dst, 0, 0, 0) : bad) : decoded(opcode, 0, 0, 0, imm); // call, callx
      if (op === 0x90) return is32 || byReg || imm !== 0 ? bad : decoded(opcode, 0, 0, 0, 0); // exit
      if (op === 0xe0) return is32 || byReg ? bad : decoded(opcode, 0, 0, off, 0); // may_goto
      if (op === 0xf0 || !isReg(dst)) return bad;
      if (!byReg) return decoded(opcode, dst, 0, off, imm);
      return isReg(src) ? decoded(opcode, dst, src, off, 0) : bad;
    }
  }
  return bad;
}

/** formatInstruction's text, plus the one form it does not know: LLVM's addr_space_cast. */
function formatLikeLlvm(ins: Instruction, alu32: boolean): string {
  if (ins.opcode === 0xbf && ins.off === 1) {
    const hex = (v: number) => `0x${v.toString(16)}`;
    return `r${ins.dst} = addr_space_cast(r${ins.src}, ${hex(ins.imm >>> 16)}, ${hex(ins.imm & 0xffff)})`;
  }
  return formatInstruction(ins, alu32 ? HEX_ALU32 : HEX);
}

const HEX: FormatOptions = { hex: true, alu32: false };
const HEX_ALU32: FormatOptions = { hex: true, alu32: true };

/** BPF_ATOMIC: LLVM looks only at the low byte of imm; without alu32 it knows only the 32-bit add. */
function atomic(
  opcode: number,
  dst: Register,
  src: number,
  off: number,
  imm: number,
  onlyAdd: boolean,
): Decoded | undefined {
  const low = imm & 0xff;
  const operation = low >> 4;
  if (onlyAdd) return operation === 0 ? decoded(opcode, dst, src, off, 0) : undefined;
  const arithmetic = operation === 0x0 || operation === 0x4 || operation === 0x5 || operation === 0xa;
  // The fetch forms (xchg and cmpxchg are fetch-only) need the low nibble to be exactly 1; the
  // plain forms ignore it.
  if ((low & 0x0f) === 1 && (arithmetic || operation === 0xe || operation === 0xf)) return decoded(opcode, dst, src, off, low);
  return arithmetic ? decoded(opcode, dst, src, off, low & 0xf0) : undefined;
}
