/**
 * ELF64 relocatable object writer for EM_BPF, either byte order: sections, a symbol table and
 * REL relocations — what `llvm-mc -filetype=obj` writes, readable by tsebpf, llvm-objdump,
 * llvm-readelf and bpftool.
 */
import { EM_BPF, ET, SHF, SHT, STB } from "./constants.js";
import { ParseError } from "./errors.js";

export interface WriteSection {
  readonly name: string;
  /** SHT_PROGBITS unless given (SHT_NOBITS for .bss-like sections). */
  readonly type?: number;
  readonly flags: number;
  readonly data: Uint8Array;
  /** For SHT_NOBITS: the size in memory. */
  readonly size?: number;
  readonly align: number;
}

export interface WriteSymbol {
  readonly name: string;
  /** Name of the defining section; undefined for an undefined (external) symbol. */
  readonly section: string | undefined;
  readonly value: number;
  readonly size: number;
  readonly type: number;
  readonly bind: number;
  /** st_other (visibility); 0 unless given. */
  readonly other?: number;
  /**
   * What relocations name the symbol by, when its name is not unique (section symbols, local
   * symbols of the same name from several linked objects); the name otherwise.
   */
  readonly key?: string;
}

export interface WriteRelocation {
  /** The section being relocated. */
  readonly section: string;
  readonly offset: number;
  /** The symbol, by name (or by its `key`, when it has one). */
  readonly symbol: string;
  /** R_BPF_* */
  readonly type: number;
}

export interface WriteObject {
  readonly byteOrder: "little" | "big";
  readonly sections: readonly WriteSection[];
  readonly symbols: readonly WriteSymbol[];
  readonly relocations: readonly WriteRelocation[];
}

class Strings {
  private readonly parts: Buffer[] = [Buffer.from([0])];
  private readonly offsets = new Map<string, number>([["", 0]]);
  private length = 1;
  add(s: string): number {
    const known = this.offsets.get(s);
    if (known !== undefined) return known;
    const b = Buffer.from(`${s}\0`, "utf8");
    const off = this.length;
    this.parts.push(b);
    this.offsets.set(s, off);
    this.length += b.byteLength;
    return off;
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

const align = (n: number, a: number) => (a > 1 ? Math.ceil(n / a) * a : n);

/** Writes the object. Throws ParseError (naming the section) for inconsistent input. */
export function writeElf(obj: WriteObject): Uint8Array {
  const le = obj.byteOrder === "little";
  const sectionIndex = new Map<string, number>();
  obj.sections.forEach((s, i) => {
    if (sectionIndex.has(s.name)) throw new ParseError("section is given twice", { section: s.name });
    sectionIndex.set(s.name, i + 1);
  });

  // Symbols: null, locals (with a section symbol per relocated-against section), then globals.
  const symbols = [...obj.symbols];
  for (const s of symbols) {
    if (s.section !== undefined && !sectionIndex.has(s.section)) throw new ParseError(`symbol ${s.name} is in a section that is not written`, { section: s.section });
  }
  const locals = symbols.filter((s) => s.bind === STB.LOCAL);
  const globals = symbols.filter((s) => s.bind !== STB.LOCAL);
  const ordered = [...locals, ...globals];
  const symbolIndex = new Map<string, number>(ordered.map((s, i) => [s.key ?? s.name, i + 1]));

  // Relocation sections, one per relocated section, in section order.
  const relocsBySection = new Map<string, WriteRelocation[]>();
  for (const r of obj.relocations) {
    if (!sectionIndex.has(r.section)) throw new ParseError(`relocation against symbol ${r.symbol} in a section that is not written`, { section: r.section });
    if (!symbolIndex.has(r.symbol)) throw new ParseError(`relocation against unknown symbol ${r.symbol}`, { section: r.section });
    const list = relocsBySection.get(r.section) ?? [];
    list.push(r);
    relocsBySection.set(r.section, list);
  }

  const shstr = new Strings();
  const strtab = new Strings();
  interface Header { name: number; type: number; flags: number; offset: number; size: number; link: number; info: number; align: number; entsize: number; data: Uint8Array }
  const headers: Header[] = [{ name: 0, type: SHT.NULL, flags: 0, offset: 0, size: 0, link: 0, info: 0, align: 0, entsize: 0, data: new Uint8Array() }];
  for (const s of obj.sections) {
    const type = s.type ?? SHT.PROGBITS;
    headers.push({ name: shstr.add(s.name), type, flags: s.flags, offset: 0, size: type === SHT.NOBITS ? (s.size ?? 0) : s.data.byteLength, link: 0, info: 0, align: s.align, entsize: 0, data: type === SHT.NOBITS ? new Uint8Array() : s.data });
  }
  const symtabIndex = headers.length + relocsBySection.size;
  for (const [section, relocs] of [...relocsBySection].sort((a, b) => (sectionIndex.get(a[0]) as number) - (sectionIndex.get(b[0]) as number))) {
    const data = new Uint8Array(relocs.length * 16);
    const v = new DataView(data.buffer);
    relocs.forEach((r, i) => {
      v.setBigUint64(i * 16, BigInt(r.offset), le);
      v.setBigUint64(i * 16 + 8, (BigInt(symbolIndex.get(r.symbol) as number) << 32n) | BigInt(r.type), le);
    });
    headers.push({ name: shstr.add(`.rel${section}`), type: SHT.REL, flags: SHF.INFO_LINK, offset: 0, size: data.byteLength, link: symtabIndex, info: sectionIndex.get(section) as number, align: 8, entsize: 16, data });
  }
  const symData = new Uint8Array((ordered.length + 1) * 24);
  const sv = new DataView(symData.buffer);
  ordered.forEach((s, i) => {
    const p = (i + 1) * 24;
    sv.setUint32(p, strtab.add(s.name), le);
    sv.setUint8(p + 4, (s.bind << 4) | (s.type & 0xf));
    sv.setUint8(p + 5, s.other ?? 0);
    sv.setUint16(p + 6, s.section === undefined ? 0 : (sectionIndex.get(s.section) as number), le);
    sv.setBigUint64(p + 8, BigInt(s.value), le);
    sv.setBigUint64(p + 16, BigInt(s.size), le);
  });
  headers.push({ name: shstr.add(".symtab"), type: SHT.SYMTAB, flags: 0, offset: 0, size: symData.byteLength, link: symtabIndex + 1, info: locals.length + 1, align: 8, entsize: 24, data: symData });
  const strData = strtab.bytes();
  headers.push({ name: shstr.add(".strtab"), type: SHT.STRTAB, flags: 0, offset: 0, size: strData.byteLength, link: 0, info: 0, align: 1, entsize: 0, data: strData });
  const shstrIndex = headers.length;
  const shstrHeader: Header = { name: shstr.add(".shstrtab"), type: SHT.STRTAB, flags: 0, offset: 0, size: 0, link: 0, info: 0, align: 1, entsize: 0, data: new Uint8Array() };
  shstrHeader.data = shstr.bytes();
  shstrHeader.size = shstrHeader.data.byteLength;
  headers.push(shstrHeader);

  // Lay out: ELF header, section contents, section header table.
  let pos = 64;
  for (const h of headers.slice(1)) {
    pos = align(pos, Math.max(1, h.align));
    h.offset = pos;
    pos += h.data.byteLength;
  }
  const shoff = align(pos, 8);
  const out = new Uint8Array(shoff + headers.length * 64);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, le ? 1 : 2, 1, 0]);
  v.setUint16(16, ET.REL, le);
  v.setUint16(18, EM_BPF, le);
  v.setUint32(20, 1, le);
  v.setBigUint64(40, BigInt(shoff), le);
  v.setUint16(52, 64, le);
  v.setUint16(58, 64, le);
  v.setUint16(60, headers.length, le);
  v.setUint16(62, shstrIndex, le);
  headers.forEach((h, i) => {
    out.set(h.data, h.offset);
    const p = shoff + i * 64;
    v.setUint32(p, h.name, le);
    v.setUint32(p + 4, h.type, le);
    v.setBigUint64(p + 8, BigInt(h.flags), le);
    v.setBigUint64(p + 24, BigInt(h.offset), le);
    v.setBigUint64(p + 32, BigInt(h.size), le);
    v.setUint32(p + 40, h.link, le);
    v.setUint32(p + 44, h.info, le);
    v.setBigUint64(p + 48, BigInt(h.align), le);
    v.setBigUint64(p + 56, BigInt(h.entsize), le);
  });
  return out;
}

