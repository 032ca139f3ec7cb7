/**
 * fast-check arbitraries of ELF objects: a model of small ELF64 relocatable objects (sections,
 * symbols, REL/RELA relocations, either byte order, extended numbering, SHT_SYMTAB_SHNDX), its
 * writer, and BPF objects assembled from random programs.
 */
import fc from "fast-check";
import { type AsmProgram, type AsmSection } from "../asm/index.js";
import { ET, EM_BPF, R_BPF, SHN, SHT } from "../elf/constants.js";
import { assembleObject } from "../elf/asm-object.js";
import { anyInstruction } from "./instructions.js";


/** A section of an ElfModel (index 1 + its position). */
export interface MiniSection { name: string; type: number; flags: number; data: Uint8Array; size: number }
/** A symbol; `section` is a section index of the model (or SHN_ABS). */
export interface MiniSymbol { name: string; value: number; size: number; info: number; other: number; section: number }
export interface MiniRelocation { offset: number; symbol: number; type: number; addend: number }
/** A REL or RELA section for section `target`. */
export interface MiniRelSection { target: number; rela: boolean; entries: MiniRelocation[] }
/** A small ELF64 relocatable object, as the model writeElfModel turns into bytes. */
export interface ElfModel {
  order: "little" | "big";
  /** e_shnum = 0 and e_shstrndx = SHN_XINDEX: the real values live in section 0. */
  extended: boolean;
  /** Symbols' section indices go through an SHT_SYMTAB_SHNDX section. */
  xindex: boolean;
  sections: MiniSection[];
  symbols: MiniSymbol[];
  relocations: MiniRelSection[];
}

/** Section indices of the sections writeElfModel adds after the model's own. */
export function elfModelLayout(m: ElfModel) {
  const rel0 = 1 + m.sections.length;
  const symtab = rel0 + m.relocations.length;
  return { rel0, symtab, strtab: symtab + 1, shstrtab: symtab + 2, shndx: m.xindex ? symtab + 3 : -1, count: symtab + (m.xindex ? 4 : 3) };
}

/** A string table being built. */
class Strings {
  private readonly bytes: number[] = [0];
  private readonly at = new Map<string, number>([["", 0]]);
  add(s: string): number {
    let pos = this.at.get(s);
    if (pos === undefined) {
      pos = this.bytes.length;
      this.bytes.push(...new TextEncoder().encode(s), 0);
      this.at.set(s, pos);
    }
    return pos;
  }
  get data() {
    return Uint8Array.from(this.bytes);
  }
}

/** The model as ELF bytes: sections, then REL/RELA, .symtab, .strtab, .shstrtab (and .symtab_shndx). */
export function writeElfModel(m: ElfModel): Uint8Array {
  const le = m.order === "little";
  const L = elfModelLayout(m);
  const shstr = new Strings();
  const str = new Strings();
  type Header = { name: string; type: number; flags?: number; data: Uint8Array; size?: number; link?: number; info?: number; entsize?: number };
  const headers: Header[] = m.sections.map((s) =>
    s.type === SHT.NOBITS ? { ...s, data: new Uint8Array(0) } : { ...s, size: s.data.length },
  );
  const blob = (n: number, fill: (v: DataView) => void) => {
    const b = new Uint8Array(n);
    fill(new DataView(b.buffer));
    return b;
  };
  const u64 = (v: DataView, pos: number, x: number) => v.setBigUint64(pos, BigInt(x), le);
  for (const r of m.relocations) {
    const size = r.rela ? 24 : 16;
    headers.push({
      name: `${r.rela ? ".rela" : ".rel"}${m.sections[r.target - 1]!.name}`, type: r.rela ? SHT.RELA : SHT.REL, link: L.symtab, info: r.target, entsize: size,
      data: blob(r.entries.length * size, (v) =>
        r.entries.forEach((e, i) => {
          u64(v, i * size, e.offset);
          v.setBigUint64(i * size + 8, (BigInt(e.symbol) << 32n) | BigInt(e.type), le);
          if (r.rela) v.setBigInt64(i * size + 16, BigInt(e.addend), le);
        }),
      ),
    });
  }
  const symbols = [{ name: "", value: 0, size: 0, info: 0, other: 0, section: 0 }, ...m.symbols];
  const direct = (s: number) => !m.xindex || s === SHN.ABS || s === 0;
  headers.push({
    name: ".symtab", type: SHT.SYMTAB, link: L.strtab, info: symbols.length, entsize: 24,
    data: blob(symbols.length * 24, (v) =>
      symbols.forEach((s, i) => {
        v.setUint32(i * 24, str.add(s.name), le);
        v.setUint8(i * 24 + 4, s.info);
        v.setUint8(i * 24 + 5, s.other);
        v.setUint16(i * 24 + 6, direct(s.section) ? s.section : SHN.XINDEX, le);
        u64(v, i * 24 + 8, s.value);
        u64(v, i * 24 + 16, s.size);
      }),
    ),
  });
  headers.push({ name: ".strtab", type: SHT.STRTAB, data: str.data });
  const names = [...headers.map((h) => h.name), ".shstrtab", ".symtab_shndx"].map((n) => shstr.add(n));
  headers.push({ name: ".shstrtab", type: SHT.STRTAB, data: shstr.data });
  if (m.xindex) {
    headers.push({
      name: ".symtab_shndx", type: SHT.SYMTAB_SHNDX, link: L.symtab, entsize: 4,
      data: blob(symbols.length * 4, (v) => symbols.forEach((s, i) => v.setUint32(i * 4, direct(s.section) ? 0 : s.section, le))),
    });
  }
  // Contents after the ELF header, 8-aligned, then the section header table.
  let pos = 64;
  const offsets = headers.map((h) => {
    pos = Math.ceil(pos / 8) * 8;
    const at = pos;
    pos += h.data.length;
    return at;
  });
  const shoff = Math.ceil(pos / 8) * 8;
  const out = new Uint8Array(shoff + L.count * 64);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, le ? 1 : 2, 1]);
  v.setUint16(16, ET.REL, le);
  v.setUint16(18, EM_BPF, le);
  v.setUint32(20, 1, le);
  u64(v, 40, shoff);
  v.setUint16(52, 64, le);
  v.setUint16(58, 64, le);
  v.setUint16(60, m.extended ? 0 : L.count, le);
  v.setUint16(62, m.extended ? SHN.XINDEX : L.shstrtab, le);
  if (m.extended) {
    u64(v, shoff + 32, L.count);
    v.setUint32(shoff + 40, L.shstrtab, le);
  }
  headers.forEach((h, k) => {
    const p = shoff + (k + 1) * 64;
    out.set(h.data, offsets[k]!);
    v.setUint32(p, names[k]!, le);
    v.setUint32(p + 4, h.type, le);
    u64(v, p + 8, h.flags ?? 0);
    u64(v, p + 24, offsets[k]!);
    u64(v, p + 32, h.size ?? h.data.length);
    v.setUint32(p + 40, h.link ?? 0, le);
    v.setUint32(p + 44, h.info ?? 0, le);
    u64(v, p + 48, 8);
    u64(v, p + 56, h.entsize ?? 0);
  });
  return out;
}


const text = fc.string({ unit: "grapheme", maxLength: 10 }).filter((s) => !s.includes("\0"));
const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const WIDTH: Record<number, number> = { [R_BPF.NONE]: 0, [R_BPF["64_64"]]: 16, [R_BPF["64_ABS64"]]: 8, [R_BPF["64_ABS32"]]: 4, [R_BPF["64_NODYLD32"]]: 4, [R_BPF["64_32"]]: 4 };

/**
 * Random well-formed models: both byte orders, REL and RELA, extended section numbering,
 * SHT_SYMTAB_SHNDX, NOBITS sections, relocations inside their section.
 */
export const elfModel: fc.Arbitrary<ElfModel> = fc
  .record({
    order: fc.constantFrom("little" as const, "big" as const),
    extended: fc.boolean(),
    xindex: fc.boolean(),
    sections: fc.array(
      fc.record({
        name: text,
        type: fc.constantFrom(SHT.PROGBITS, SHT.PROGBITS, SHT.NOBITS),
        flags: fc.integer({ min: 0, max: 0xffffffff }).map((f) => (f & ~0x40) >>> 0), // SHF_INFO_LINK would make sh_info an index
        data: fc.uint8Array({ minLength: 16, maxLength: 64 }),
        size: fc.integer({ min: 16, max: 1 << 20 }),
      }),
      { minLength: 1, maxLength: 5 },
    ),
  })
  .chain((base) => {
    const k = base.sections.length;
    const sizeOf = (i: number) => { const s = base.sections[i - 1]!; return s.type === SHT.NOBITS ? s.size : s.data.length; };
    const section = fc.oneof(fc.integer({ min: 0, max: k }), fc.constant<number>(SHN.ABS));
    const symbol = fc.record({ name: text, value: safe, size: safe, info: fc.integer({ min: 0, max: 255 }), other: fc.integer({ min: 0, max: 255 }), section });
    return fc.array(symbol, { maxLength: 8 }).chain((symbols) => {
      const entry = (target: number) =>
        fc.record({ symbol: fc.integer({ min: 0, max: symbols.length }), type: fc.constantFrom(...Object.values(R_BPF)), addend: fc.maxSafeInteger(), at: fc.nat() })
          .map(({ at, ...e }) => ({ ...e, offset: at % (sizeOf(target) - WIDTH[e.type]! + 1) }));
      const relSection = fc.integer({ min: 1, max: k }).chain((target) =>
        fc.record({ target: fc.constant(target), rela: fc.boolean(), entries: fc.array(entry(target), { maxLength: 6 }) }));
      return fc.record({ relocations: fc.array(relSection, { maxLength: 3 }) }).map(({ relocations }) => ({ ...base, symbols, relocations }));
    });
  });

/** A model with its bytes. */
export interface ElfObject {
  model: ElfModel;
  bytes: Uint8Array;
}

/** Random well-formed ELF objects (elfModel written by writeElfModel). */
export const elfObject: fc.Arbitrary<ElfObject> = elfModel.map((model) => ({ model, bytes: writeElfModel(model) }));

const sectionName = fc.constantFrom("xdp", "tc", "socket", ".text", "kprobe/x", "tracepoint/a/b");
const codeSection = fc
  .tuple(sectionName, fc.array(anyInstruction, { minLength: 1, maxLength: 30 }), fc.boolean())
  .map(([name, instructions, global]): AsmSection => ({
    name,
    instructions,
    data: [],
    symbols: new Map([[`f_${name.replace(/\W/g, "_")}`, 0]]),
    globals: new Set(global ? [`f_${name.replace(/\W/g, "_")}`] : []),
  }));
const dataSection = fc
  .tuple(fc.constantFrom(".data", ".rodata", "license", ".data.x"), fc.array(fc.bigInt({ min: 0n, max: 255n }), { minLength: 1, maxLength: 20 }))
  .map(([name, bytes]): AsmSection => ({
    name,
    instructions: [],
    data: bytes.map((value) => ({ size: 1 as const, value })),
    symbols: new Map([[`d_${name.replace(/\W/g, "_")}`, 0]]),
    globals: new Set(),
  }));

/** Assembler programs: up to five uniquely named code and data sections, one symbol each. */
export const asmProgram: fc.Arbitrary<AsmProgram> = fc
  .uniqueArray(fc.oneof(codeSection, dataSection), { minLength: 1, maxLength: 5, selector: (s) => s.name })
  .map((sections): AsmProgram => ({ sections }));

/** A BPF object written by tsebpf's assembler: the program, the byte order and the bytes. */
export interface BpfObject {
  program: AsmProgram;
  order: "little" | "big";
  bytes: Uint8Array;
}

/** BPF objects of random programs, in either byte order unless one is given. */
export function bpfObject(options: { order?: "little" | "big"; program?: fc.Arbitrary<AsmProgram> } = {}): fc.Arbitrary<BpfObject> {
  const order = options.order ? fc.constant(options.order) : fc.constantFrom("little" as const, "big" as const);
  return fc.tuple(options.program ?? asmProgram, order).map(([program, order]) => ({ program, order, bytes: assembleObject(program, order) }));
}
