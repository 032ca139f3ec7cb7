/**
 * A pure ELF64 reader for BPF objects of either byte order. It takes the file's bytes and checks
 * every offset, size, index and string against the file before using it: malformed input gives a
 * ParseError naming the section and byte offset, never another exception, and nothing is
 * allocated by a size read from the file before that size has been checked against the file.
 */
import { ParseError } from "./errors.js";
import {
  EI,
  ELFCLASS,
  ELFDATA,
  ELF64_SIZE,
  ELF_MAGIC,
  EM,
  EM_BPF,
  ET,
  EV_CURRENT,
  R_BPF,
  SHF,
  SHN,
  SHT,
  constantName,
} from "./constants.js";
import { StringTable } from "./string-table.js";

/** Byte order of an ELF object: `bpfel` objects are little endian, `bpfeb` big endian. */
export type ElfByteOrder = "little" | "big";

/** The ELF header's fields, as stored (e_shnum and e_shstrndx before extended numbering). */
export interface ElfHeader {
  readonly e_type: number;
  readonly e_machine: number;
  readonly e_version: number;
  readonly e_entry: number;
  readonly e_phoff: number;
  readonly e_shoff: number;
  readonly e_flags: number;
  readonly e_ehsize: number;
  readonly e_phentsize: number;
  readonly e_phnum: number;
  readonly e_shentsize: number;
  readonly e_shnum: number;
  readonly e_shstrndx: number;
}

/** One section header, with a view of the section's bytes. */
export interface ElfSection {
  /** Index in the section header table. */
  readonly index: number;
  /** Name from the section name table ("" without one). */
  readonly name: string;
  /** sh_name: offset of the name in the section name table. */
  readonly nameOffset: number;
  /** sh_type: one of SHT. */
  readonly type: number;
  /** sh_flags: SHF bits. */
  readonly flags: number;
  readonly addr: number;
  /** sh_offset: where the contents start in the file. */
  readonly offset: number;
  /** sh_size: size in bytes; for SHT_NOBITS the size in memory. */
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
  /** The contents: a view into the file's bytes (empty for SHT_NOBITS and SHT_NULL). */
  readonly data: Uint8Array;
}

/** One entry of the symbol table. */
export interface ElfSymbol {
  /** Index in the symbol table. */
  readonly index: number;
  /** Name from the symbol string table ("" for section symbols and symbol 0). */
  readonly name: string;
  readonly nameOffset: number;
  readonly value: number;
  readonly size: number;
  /** STT value (low 4 bits of st_info). */
  readonly type: number;
  /** STB value (high 4 bits of st_info). */
  readonly bind: number;
  /** STV value (low 2 bits of st_other). */
  readonly visibility: number;
  /** st_other as stored. */
  readonly other: number;
  /** The section the symbol is defined in, or SHN.UNDEF / SHN.ABS / SHN.COMMON (SHN.XINDEX resolved). */
  readonly sectionIndex: number;
}

/** One entry of an SHT_REL or SHT_RELA section. */
export interface ElfRelocation {
  /** Entry number in its relocation section. */
  readonly index: number;
  /** r_offset: byte offset in the target section. */
  readonly offset: number;
  /** Index of the symbol in the symbol table. */
  readonly symbolIndex: number;
  readonly symbol: ElfSymbol;
  /** R_BPF value. */
  readonly type: number;
  /** r_addend, for SHT_RELA entries only (SHT_REL keeps the addend in the relocated field). */
  readonly addend: number | undefined;
  /** Index of the relocation section the entry is in. */
  readonly sectionIndex: number;
}

/** A parsed BPF ELF object. */
export interface ElfFile {
  /** The file's bytes, as given. */
  readonly bytes: Uint8Array;
  readonly byteOrder: ElfByteOrder;
  /** e_type: one of ET.REL, ET.EXEC, ET.DYN. */
  readonly type: number;
  /** e_machine: always EM_BPF. */
  readonly machine: number;
  readonly flags: number;
  readonly header: ElfHeader;
  /** Index of the section name table, extended numbering resolved (0: no section names). */
  readonly e_shstrndx: number;
  readonly sections: readonly ElfSection[];
  /** The SHT_SYMTAB section, if the object has one. */
  readonly symbolTable: ElfSection | undefined;
  /** Entries of the SHT_SYMTAB section (empty without one). */
  readonly symbols: readonly ElfSymbol[];
  /** The first section with this name. */
  sectionByName(name: string): ElfSection | undefined;
  /** Entries of an SHT_REL or SHT_RELA section; ParseError for a malformed entry. */
  relocations(section: ElfSection | number): readonly ElfRelocation[];
  /** Entries of every SHT_REL/SHT_RELA section whose sh_info names the target, in file order. */
  relocationsFor(target: ElfSection | number): readonly ElfRelocation[];
}

/** Reads an ELF64 BPF object. Throws ParseError for anything malformed or not BPF. */
export function readElf(bytes: Uint8Array): ElfFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { header, byteOrder } = readHeader(bytes, view);
  const le = byteOrder === "little";
  const { sections, shstrndx } = readSections(bytes, view, le, header);
  const symtabs = sections.filter((s) => s.type === SHT.SYMTAB);
  if (symtabs.length > 1) {
    const extra = symtabs[1] as ElfSection;
    throw new ParseError(`a second SHT_SYMTAB section (index ${extra.index}); an object has at most one`, at(extra));
  }
  const symbolTable = symtabs[0];
  const symbols = symbolTable ? parseSymbols(view, le, sections, symbolTable) : [];
  return new ElfObject(bytes, byteOrder, header, shstrndx, sections, symbolTable, symbols, view);
}

/** The location of a section for a ParseError: its name and file offset. */
function at(section: ElfSection, offset = section.offset): { section: string; offset: number } {
  return { section: section.name, offset };
}

/**
 * Reads a u64 as a number: throws ParseError (naming `what` and the offset) when it exceeds
 * Number.MAX_SAFE_INTEGER. `section` names the section for the error.
 */
function readU64(view: DataView, pos: number, le: boolean, what: string, section?: string): number {
  const lo = view.getUint32(le ? pos : pos + 4, le);
  const hi = view.getUint32(le ? pos + 4 : pos, le);
  if (hi > 0x1fffff) {
    const hex = hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
    throw new ParseError(`${what} 0x${hex} is larger than this reader supports (2^53 - 1)`, { section, offset: pos });
  }
  return hi * 0x1_0000_0000 + lo;
}

/** Whether [offset, offset + size) lies inside a file of `length` bytes (no overflow). */
function fits(offset: number, size: number, length: number): boolean {
  return offset <= length && size <= length - offset;
}

function readHeader(bytes: Uint8Array, view: DataView): { header: ElfHeader; byteOrder: ElfByteOrder } {
  const n = bytes.length;
  if (n < EI.NIDENT) throw new ParseError(`file is ${n} bytes, shorter than the 16-byte ELF identification`, { offset: n });
  if (ELF_MAGIC.some((b, i) => bytes[i] !== b)) {
    const found = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new ParseError(`not an ELF file: magic is ${found}, expected 7f 45 4c 46`, { offset: 0 });
  }
  const cls = bytes[EI.CLASS] as number;
  if (cls === ELFCLASS.ELFCLASS32) throw new ParseError("ELFCLASS32 (32-bit) object; BPF objects are ELFCLASS64", { offset: EI.CLASS });
  if (cls !== ELFCLASS.ELFCLASS64) throw new ParseError(`unknown EI_CLASS ${cls}; BPF objects are ELFCLASS64 (2)`, { offset: EI.CLASS });
  const data = bytes[EI.DATA] as number;
  if (data !== ELFDATA.LSB && data !== ELFDATA.MSB) {
    throw new ParseError(`unknown EI_DATA ${data}: expected 1 (little endian) or 2 (big endian)`, { offset: EI.DATA });
  }
  const version = bytes[EI.VERSION] as number;
  if (version !== EV_CURRENT) throw new ParseError(`EI_VERSION is ${version}, expected ${EV_CURRENT}`, { offset: EI.VERSION });
  if (n < ELF64_SIZE.EHDR) throw new ParseError(`file is ${n} bytes, shorter than the 64-byte ELF64 header`, { offset: n });
  const le = data === ELFDATA.LSB;
  const u16 = (pos: number) => view.getUint16(pos, le);
  const u32 = (pos: number) => view.getUint32(pos, le);
  const header: ElfHeader = {
    e_type: u16(16),
    e_machine: u16(18),
    e_version: u32(20),
    e_entry: readU64(view, 24, le, "e_entry"),
    e_phoff: readU64(view, 32, le, "e_phoff"),
    e_shoff: readU64(view, 40, le, "e_shoff"),
    e_flags: u32(48),
    e_ehsize: u16(52),
    e_phentsize: u16(54),
    e_phnum: u16(56),
    e_shentsize: u16(58),
    e_shnum: u16(60),
    e_shstrndx: u16(62),
  };
  if (header.e_machine !== EM_BPF) {
    const name = constantName(EM, header.e_machine);
    const machine = `${header.e_machine}${name ? ` (EM_${name})` : ""}`;
    throw new ParseError(`machine ${machine} is not EM_BPF (${EM_BPF}): not a BPF object`, { offset: 18 });
  }
  if (header.e_type !== ET.REL && header.e_type !== ET.EXEC && header.e_type !== ET.DYN) {
    const name = constantName(ET, header.e_type);
    throw new ParseError(`e_type ${header.e_type}${name ? ` (ET_${name})` : ""} is not ET_REL, ET_EXEC or ET_DYN`, { offset: 16 });
  }
  return { header, byteOrder: le ? "little" : "big" };
}

/** A section header as stored, before its name and contents are checked. */
type RawSection = Omit<ElfSection, "name" | "data">;

function readSections(
  bytes: Uint8Array,
  view: DataView,
  le: boolean,
  h: ElfHeader,
): { sections: ElfSection[]; shstrndx: number } {
  const n = bytes.length;
  if (h.e_shoff === 0) {
    if (h.e_shnum !== 0) throw new ParseError(`e_shnum is ${h.e_shnum} but there is no section header table (e_shoff is 0)`, { offset: 60 });
    return { sections: [], shstrndx: 0 };
  }
  if (h.e_shentsize !== ELF64_SIZE.SHDR) {
    throw new ParseError(`e_shentsize is ${h.e_shentsize}, expected ${ELF64_SIZE.SHDR}`, { offset: 58 });
  }
  if (!fits(h.e_shoff, ELF64_SIZE.SHDR, n)) {
    throw new ParseError(`section header table starts at 0x${h.e_shoff.toString(16)}, beyond the end of the file (0x${n.toString(16)} bytes)`, { offset: h.e_shoff });
  }
  const first = readRawSection(view, le, h.e_shoff, 0);
  // Extended numbering: section 0 holds the count (e_shnum = 0) and the name table index.
  const count = h.e_shnum !== 0 ? h.e_shnum : first.size;
  if (count > (n - h.e_shoff) / ELF64_SIZE.SHDR) {
    throw new ParseError(
      `section header table of ${count} entries at 0x${h.e_shoff.toString(16)} ends beyond the end of the file (0x${n.toString(16)} bytes)`,
      { offset: h.e_shoff },
    );
  }
  if (count > 0 && first.type !== SHT.NULL) throw new ParseError(`section 0 has type ${first.type}, expected SHT_NULL`, { offset: h.e_shoff + 4 });
  let shstrndx = h.e_shstrndx;
  if (shstrndx === SHN.XINDEX) shstrndx = first.link;
  else if (shstrndx >= SHN.LORESERVE) throw new ParseError(`e_shstrndx 0x${shstrndx.toString(16)} is a reserved index`, { offset: 62 });
  if (shstrndx >= Math.max(count, 1)) {
    throw new ParseError(`section name table index ${shstrndx} is out of range: there are ${count} sections`, { offset: 62 });
  }
  const raw: RawSection[] = [];
  for (let i = 0; i < count; i++) raw.push(i === 0 ? first : readRawSection(view, le, h.e_shoff + i * ELF64_SIZE.SHDR, i));
  const headerAt = (i: number) => h.e_shoff + i * ELF64_SIZE.SHDR;

  // The section name table first: every other name is read from it.
  let names: StringTable | undefined;
  let tableName: string | undefined;
  if (shstrndx !== 0) {
    const s = raw[shstrndx] as RawSection;
    if (s.type !== SHT.STRTAB) throw new ParseError(`section name table (section ${shstrndx}) has type ${s.type}, not SHT_STRTAB`, { offset: headerAt(shstrndx) + 4 });
    if (!fits(s.offset, s.size, n)) {
      throw new ParseError(`section name table (section ${shstrndx}) at 0x${s.offset.toString(16)} of 0x${s.size.toString(16)} bytes ends beyond the end of the file`, { offset: s.offset });
    }
    names = new StringTable(bytes.subarray(s.offset, s.offset + s.size), s.offset);
    tableName = s.nameOffset === 0 ? "" : names.tryGet(s.nameOffset);
  }
  const sections = raw.map((s, i): ElfSection => {
    let name = "";
    if (i !== 0 && s.nameOffset !== 0) {
      if (!names) throw new ParseError(`section ${i} has a name (offset ${s.nameOffset}) but there is no section name table`, { offset: headerAt(i) });
      name = names.get(s.nameOffset, `name of section ${i}`, tableName);
    }
    return section(s, name, EMPTY);
  });
  return { sections: sections.map((s) => checkSection(s, sections, bytes, headerAt(s.index))), shstrndx };
}

const EMPTY = new Uint8Array(0);

function readRawSection(view: DataView, le: boolean, pos: number, index: number): RawSection {
  const what = (field: string) => `${field} of section ${index}`;
  return {
    index,
    nameOffset: view.getUint32(pos, le),
    type: view.getUint32(pos + 4, le),
    flags: readU64(view, pos + 8, le, what("sh_flags")),
    addr: readU64(view, pos + 16, le, what("sh_addr")),
    offset: readU64(view, pos + 24, le, what("sh_offset")),
    size: readU64(view, pos + 32, le, what("sh_size")),
    link: view.getUint32(pos + 40, le),
    info: view.getUint32(pos + 44, le),
    addralign: readU64(view, pos + 48, le, what("sh_addralign")),
    entsize: readU64(view, pos + 56, le, what("sh_entsize")),
  };
}

/** Entry sizes that section types require. */
const ENTRY_SIZE: ReadonlyMap<number, number> = new Map([
  [SHT.SYMTAB, ELF64_SIZE.SYM],
  [SHT.REL, ELF64_SIZE.REL],
  [SHT.RELA, ELF64_SIZE.RELA],
  [SHT.SYMTAB_SHNDX, ELF64_SIZE.SHNDX],
]);

/** Checks a section's header against the file and the other headers; returns it with its data view. */
function checkSection(s: ElfSection, all: readonly ElfSection[], bytes: Uint8Array, headerPos: number): ElfSection {
  const where = { section: s.name, offset: headerPos };
  const hex = (v: number) => `0x${v.toString(16)}`;
  if (s.link >= all.length) throw new ParseError(`sh_link ${s.link} is out of range: there are ${all.length} sections`, { ...where, offset: headerPos + 40 });
  const infoIsIndex = s.type === SHT.REL || s.type === SHT.RELA || (s.flags & SHF.INFO_LINK) !== 0;
  if (infoIsIndex && s.info >= all.length) {
    throw new ParseError(`sh_info ${s.info} names no section: there are ${all.length} sections`, { ...where, offset: headerPos + 44 });
  }
  if (s.addralign > 1 && 2 ** Math.round(Math.log2(s.addralign)) !== s.addralign) {
    throw new ParseError(`sh_addralign ${s.addralign} is not a power of two`, { ...where, offset: headerPos + 48 });
  }
  const entsize = ENTRY_SIZE.get(s.type);
  if (entsize !== undefined) {
    const type = constantName(SHT, s.type);
    if (s.entsize !== entsize) throw new ParseError(`SHT_${type} section has sh_entsize ${s.entsize}, expected ${entsize}`, { ...where, offset: headerPos + 56 });
    if (s.size % entsize !== 0) throw new ParseError(`SHT_${type} section size ${hex(s.size)} is not a multiple of its entry size ${entsize}`, { ...where, offset: headerPos + 32 });
  }
  if (s.type === SHT.NOBITS || s.type === SHT.NULL) return s;
  if (!fits(s.offset, s.size, bytes.length)) {
    throw new ParseError(
      `contents at ${hex(s.offset)} of ${hex(s.size)} bytes end beyond the end of the file (${hex(bytes.length)} bytes)`,
      { section: s.name, offset: s.offset },
    );
  }
  return section(s, s.name, bytes.subarray(s.offset, s.offset + s.size));
}

/**
 * A section with its name and contents. Written out, not spread: an object spread in code that
 * runs once per section (not yet optimized) costs about 1 KB of garbage each.
 */
function section(s: RawSection, name: string, data: Uint8Array): ElfSection {
  return {
    index: s.index,
    nameOffset: s.nameOffset,
    type: s.type,
    flags: s.flags,
    addr: s.addr,
    offset: s.offset,
    size: s.size,
    link: s.link,
    info: s.info,
    addralign: s.addralign,
    entsize: s.entsize,
    name,
    data,
  };
}

/** Reads the SHT_SYMTAB section's entries, names from its sh_link string table. */
function parseSymbols(view: DataView, le: boolean, sections: readonly ElfSection[], symtab: ElfSection): ElfSymbol[] {
  const strtab = sections[symtab.link] as ElfSection;
  const where = (offset: number) => at(symtab, offset);
  if (symtab.link === 0 || strtab.type !== SHT.STRTAB) {
    throw new ParseError(`sh_link ${symtab.link} names no string table (SHT_STRTAB)`, where(symtab.offset));
  }
  const count = symtab.size / ELF64_SIZE.SYM;
  if (symtab.info > count) throw new ParseError(`sh_info ${symtab.info} (first global symbol) is beyond the ${count} symbols`, where(symtab.offset));
  const names = new StringTable(strtab.data, strtab.offset);
  // Extended section indices, used by symbols whose st_shndx is SHN_XINDEX.
  const shndx = sections.find((s) => s.type === SHT.SYMTAB_SHNDX && s.link === symtab.index);
  const symbols: ElfSymbol[] = [];
  for (let i = 0; i < count; i++) {
    const pos = symtab.offset + i * ELF64_SIZE.SYM;
    const nameOffset = view.getUint32(pos, le);
    const info = view.getUint8(pos + 4);
    const other = view.getUint8(pos + 5);
    let sectionIndex = view.getUint16(pos + 6, le);
    if (sectionIndex === SHN.XINDEX) {
      if (!shndx || shndx.size < (i + 1) * ELF64_SIZE.SHNDX) {
        throw new ParseError(`symbol ${i} has st_shndx SHN_XINDEX but no SHT_SYMTAB_SHNDX entry holds its section`, where(pos + 6));
      }
      sectionIndex = view.getUint32(shndx.offset + i * ELF64_SIZE.SHNDX, le);
      if (sectionIndex >= sections.length) {
        throw new ParseError(`symbol ${i} is in section ${sectionIndex} (extended index), but there are ${sections.length} sections`, where(pos + 6));
      }
    } else if (sectionIndex < SHN.LORESERVE ? sectionIndex >= sections.length : !isSpecialIndex(sectionIndex)) {
      const what = sectionIndex < SHN.LORESERVE ? `but there are ${sections.length} sections` : "a reserved index no ELF ABI defines";
      throw new ParseError(`symbol ${i} is in section ${sectionIndex} (0x${sectionIndex.toString(16)}), ${what}`, where(pos + 6));
    }
    symbols.push({
      index: i,
      name: nameOffset === 0 ? "" : names.get(nameOffset, `name of symbol ${i}`, strtab.name),
      nameOffset,
      value: readU64(view, pos + 8, le, `st_value of symbol ${i}`, symtab.name),
      size: readU64(view, pos + 16, le, `st_size of symbol ${i}`, symtab.name),
      type: info & 0xf,
      bind: info >> 4,
      visibility: other & 0x3,
      other,
      sectionIndex,
    });
  }
  return symbols;
}

/** SHN_ABS, SHN_COMMON and the processor- and OS-specific ranges. */
function isSpecialIndex(index: number): boolean {
  return index === SHN.ABS || index === SHN.COMMON || (index >= SHN.LOPROC && index <= SHN.HIOS);
}

/** Bytes each relocation type writes at r_offset, at least: used to check r_offset against the target. */
const RELOCATED_BYTES: ReadonlyMap<number, number> = new Map([
  [R_BPF.NONE, 0],
  [R_BPF["64_64"], 16], // both halves of an lddw
  [R_BPF["64_ABS64"], 8],
  [R_BPF["64_ABS32"], 4],
  [R_BPF["64_NODYLD32"], 4],
  [R_BPF["64_32"], 4], // the call's imm; LLVM before 12 also used it for 32-bit data
]);

/** Reads an SHT_REL or SHT_RELA section's entries, checking symbols and offsets. */
function parseRelocations(
  view: DataView,
  le: boolean,
  sections: readonly ElfSection[],
  rel: ElfSection,
  symtab: ElfSection | undefined,
  symbols: readonly ElfSymbol[],
): ElfRelocation[] {
  if (!symtab || rel.link !== symtab.index) {
    throw new ParseError(`sh_link ${rel.link} is not the symbol table (${symtab ? `section ${symtab.index}` : "there is none"})`, at(rel));
  }
  const target = rel.info === 0 ? undefined : (sections[rel.info] as ElfSection);
  const rela = rel.type === SHT.RELA;
  const entsize = rela ? ELF64_SIZE.RELA : ELF64_SIZE.REL;
  const count = rel.size / entsize;
  const entries: ElfRelocation[] = [];
  for (let i = 0; i < count; i++) {
    const pos = rel.offset + i * entsize;
    const offset = readU64(view, pos, le, `r_offset of relocation entry ${i}`, rel.name);
    const symbolIndex = view.getUint32(le ? pos + 12 : pos + 8, le);
    const type = view.getUint32(le ? pos + 8 : pos + 12, le);
    const symbol = symbols[symbolIndex];
    if (!symbol) {
      throw new ParseError(`relocation entry ${i} points at symbol ${symbolIndex}, but the symbol table has ${symbols.length}`, at(rel, pos));
    }
    const width = RELOCATED_BYTES.get(type) ?? 1;
    if (target && !fits(offset, width, target.size)) {
      throw new ParseError(
        `relocation entry ${i} (type ${type}) at 0x${offset.toString(16)} lies outside its target section ${JSON.stringify(target.name)} (0x${target.size.toString(16)} bytes)`,
        at(rel, pos),
      );
    }
    let addend: number | undefined;
    if (rela) {
      const hi = view.getInt32(le ? pos + 20 : pos + 16, le);
      const lo = view.getUint32(le ? pos + 16 : pos + 20, le);
      addend = hi * 0x1_0000_0000 + lo;
      if (!Number.isSafeInteger(addend)) throw new ParseError(`r_addend of relocation entry ${i} is beyond ±(2^53 - 1)`, at(rel, pos + 16));
    }
    entries.push({ index: i, offset, symbolIndex, symbol, type, addend, sectionIndex: rel.index });
  }
  return entries;
}

class ElfObject implements ElfFile {
  readonly type: number;
  readonly machine: number;
  readonly flags: number;
  private byName: Map<string, ElfSection> | undefined;
  private byTarget: Map<number, ElfSection[]> | undefined;
  private readonly relocationCache = new Map<number, readonly ElfRelocation[]>();

  constructor(
    readonly bytes: Uint8Array,
    readonly byteOrder: ElfByteOrder,
    readonly header: ElfHeader,
    readonly e_shstrndx: number,
    readonly sections: readonly ElfSection[],
    readonly symbolTable: ElfSection | undefined,
    readonly symbols: readonly ElfSymbol[],
    private readonly view: DataView,
  ) {
    this.type = header.e_type;
    this.machine = header.e_machine;
    this.flags = header.e_flags;
  }

  sectionByName(name: string): ElfSection | undefined {
    if (!this.byName) {
      this.byName = new Map();
      for (const s of this.sections) if (!this.byName.has(s.name)) this.byName.set(s.name, s);
    }
    return this.byName.get(name);
  }

  relocations(section: ElfSection | number): readonly ElfRelocation[] {
    const s = this.section(section);
    if (s.type !== SHT.REL && s.type !== SHT.RELA) {
      throw new TypeError(`section ${s.index} (${JSON.stringify(s.name)}) is not an SHT_REL or SHT_RELA section`);
    }
    let entries = this.relocationCache.get(s.index);
    if (!entries) {
      entries = parseRelocations(this.view, this.byteOrder === "little", this.sections, s, this.symbolTable, this.symbols);
      this.relocationCache.set(s.index, entries);
    }
    return entries;
  }

  relocationsFor(target: ElfSection | number): readonly ElfRelocation[] {
    const t = this.section(target);
    if (!this.byTarget) {
      this.byTarget = new Map();
      for (const s of this.sections) {
        if ((s.type !== SHT.REL && s.type !== SHT.RELA) || s.info === 0) continue;
        const list = this.byTarget.get(s.info);
        if (list) list.push(s);
        else this.byTarget.set(s.info, [s]);
      }
    }
    return (this.byTarget.get(t.index) ?? []).flatMap((s) => this.relocations(s));
  }

  private section(s: ElfSection | number): ElfSection {
    const index = typeof s === "number" ? s : s.index;
    const found = this.sections[index];
    if (!found || (typeof s !== "number" && found !== s)) throw new RangeError(`section ${index} is not a section of this file`);
    return found;
  }
}
