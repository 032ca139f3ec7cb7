// Invariant: well-formed objects read back as written; mutated or truncated objects read consistently or raise ParseError, nothing else.
/**
 * Properties of the ELF reader:
 *  - random well-formed mini objects (both byte orders, REL and RELA, extended section numbering,
 *    SHT_SYMTAB_SHNDX) read back exactly as they were written;
 *  - byte-mutated and truncated copies of the fixtures and of such mini objects either read, with
 *    every section, symbol and relocation consistent with the file, or throw ParseError: never
 *    another exception, never a hang.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ET, EM_BPF, ParseError, R_BPF, SHN, SHT, readElf, type ElfFile } from "../../src/elf/index.js";
import { assertProperty, propertyRuns } from "../helpers/property.js";

// ---- a writer of small ELF64 objects -------------------------------------------------------

interface MiniSection { name: string; type: number; flags: number; data: Uint8Array; size: number }
interface MiniSymbol { name: string; value: number; size: number; info: number; other: number; section: number }
interface MiniRelocation { offset: number; symbol: number; type: number; addend: number }
interface MiniRelSection { target: number; rela: boolean; entries: MiniRelocation[] }
interface Mini {
  order: "little" | "big";
  /** e_shnum = 0 and e_shstrndx = SHN_XINDEX: the real values live in section 0. */
  extended: boolean;
  /** Symbols' section indices go through an SHT_SYMTAB_SHNDX section. */
  xindex: boolean;
  sections: MiniSection[];
  symbols: MiniSymbol[];
  relocations: MiniRelSection[];
}

/** Section indices of the sections `writeElf` adds after the user's. */
function layout(m: Mini) {
  const rel0 = 1 + m.sections.length;
  const symtab = rel0 + m.relocations.length;
  return { rel0, symtab, strtab: symtab + 1, shstrtab: symtab + 2, shndx: m.xindex ? symtab + 3 : -1, count: symtab + (m.xindex ? 4 : 3) };
}

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

function writeElf(m: Mini): Uint8Array {
  const le = m.order === "little";
  const L = layout(m);
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

// ---- arbitraries ---------------------------------------------------------------------------

const text = fc.string({ unit: "grapheme", maxLength: 10 }).filter((s) => !s.includes("\0"));
const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const WIDTH: Record<number, number> = { [R_BPF.NONE]: 0, [R_BPF["64_64"]]: 16, [R_BPF["64_ABS64"]]: 8, [R_BPF["64_ABS32"]]: 4, [R_BPF["64_NODYLD32"]]: 4, [R_BPF["64_32"]]: 4 };

const mini: fc.Arbitrary<Mini> = fc
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

// ---- properties ----------------------------------------------------------------------------

describe("mini objects read back as written", () => {
  it("sections, symbols and relocations round-trip (1,000 objects)", () => {
    assertProperty(
      fc.property(mini, (m) => {
        const elf = readElf(writeElf(m));
        const L = layout(m);
        expect(elf.byteOrder).toBe(m.order);
        expect(elf.sections.length).toBe(L.count);
        expect(elf.e_shstrndx).toBe(L.shstrtab);
        expect(elf.header.e_shnum).toBe(m.extended ? 0 : L.count);
        m.sections.forEach((s, i) => {
          const got = elf.sections[i + 1]!;
          expect({ name: got.name, type: got.type, flags: got.flags }).toEqual({ name: s.name, type: s.type, flags: s.flags });
          if (s.type === SHT.NOBITS) expect([got.size, got.data.length]).toEqual([s.size, 0]);
          else expect(got.data).toEqual(s.data);
        });
        expect(elf.symbolTable?.index).toBe(L.symtab);
        expect(elf.symbols.slice(1).map(({ name, value, size, sectionIndex, type, bind, other }) => ({ name, value, size, sectionIndex, info: (bind << 4) | type, other })))
          .toEqual(m.symbols.map(({ name, value, size, section, info, other }) => ({ name, value, size, sectionIndex: section, info, other })));
        for (let t = 1; t <= m.sections.length; t++) {
          const expected = m.relocations.filter((r) => r.target === t).flatMap((r) => r.entries.map((e) => ({ ...e, addend: r.rela ? e.addend : undefined })));
          const got = elf.relocationsFor(t).map((r) => ({ offset: r.offset, symbol: r.symbolIndex, type: r.type, addend: r.addend }));
          expect(got).toEqual(expected);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

/** An invariant of a successful read (plain checks: `expect` is too slow for the inner loops). */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`invariant broken: ${what}`);
}

/** Reads and touches everything; "ok" when all is consistent, "error" for a ParseError, else throws. */
function touchAll(bytes: Uint8Array): "ok" | "error" {
  let elf: ElfFile;
  try {
    elf = readElf(bytes);
    for (const s of elf.sections) if (s.type === SHT.REL || s.type === SHT.RELA) elf.relocations(s);
    for (const s of elf.sections) elf.relocationsFor(s);
  } catch (e) {
    if (e instanceof ParseError) {
      check(/^ELF( section ".*")?( at offset 0x[0-9a-f]+)?: ./s.test(e.message), `message names the location: ${e.message}`);
      check(e.offset === undefined || (Number.isSafeInteger(e.offset) && e.offset >= 0), `offset ${e.offset}`);
      return "error";
    }
    throw e;
  }
  for (const s of elf.sections) {
    const empty = s.type === SHT.NOBITS || s.type === SHT.NULL;
    check(s.data.length === (empty ? 0 : s.size), `section ${s.index} data length`);
    if (!empty && s.size > 0) check(s.data.byteOffset - bytes.byteOffset === s.offset, `section ${s.index} data offset`);
    if (!empty) check(s.offset + s.data.length <= bytes.length, `section ${s.index} inside the file`);
    check(typeof s.name === "string", `section ${s.index} name`);
  }
  for (const sym of elf.symbols) {
    check(typeof sym.name === "string", `symbol ${sym.index} name`);
    check(Number.isSafeInteger(sym.value) && Number.isSafeInteger(sym.size), `symbol ${sym.index} value and size`);
    check(sym.sectionIndex < elf.sections.length || sym.sectionIndex >= SHN.LORESERVE, `symbol ${sym.index} section`);
  }
  for (const s of elf.sections) {
    if (s.type !== SHT.REL && s.type !== SHT.RELA) continue;
    for (const r of elf.relocations(s)) {
      check(r.symbol === elf.symbols[r.symbolIndex], `relocation ${s.index}/${r.index} symbol`);
      check(s.info === 0 || r.offset <= elf.sections[s.info]!.size, `relocation ${s.index}/${r.index} offset`);
    }
  }
  return "ok";
}

const fixture = (name: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(`../fixtures/elf/${name}`, import.meta.url))));
const corpus: Uint8Array[] = [
  fixture("maps.bpfel.o"),
  fixture("maps.bpfeb.o"),
  ...fc.sample(mini, { numRuns: 6, seed: 42 }).map(writeElf),
  writeElf({ ...fc.sample(mini, { numRuns: 1, seed: 7 })[0]!, extended: true, xindex: true, order: "big" }),
];

/** Byte ranges worth aiming at in each corpus file: ELF header, section header table, symbols, relocations. */
const targets = corpus.map((bytes) => {
  const elf = readElf(bytes);
  const ranges: [number, number][] = [[0, bytes.length], [0, 64], [elf.header.e_shoff, bytes.length]];
  for (const s of elf.sections) {
    if ([SHT.SYMTAB, SHT.REL, SHT.RELA, SHT.STRTAB, SHT.SYMTAB_SHNDX].includes(s.type as never)) ranges.push([s.offset, s.offset + s.size]);
  }
  return ranges.filter(([a, b]) => b > a);
});

const U64_EDGES = [0n, 1n, 0xffn, 0xffffn, 0xffffffffn, 1n << 53n, (1n << 53n) - 1n, (1n << 63n), (1n << 64n) - 1n];
const mutation = fc.record({
  range: fc.nat(),
  at: fc.nat(),
  width: fc.constantFrom(1, 1, 2, 4, 8),
  value: fc.oneof(fc.constantFrom(...U64_EDGES), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 64n })),
});
/** Mostly no truncation: the truncated-objects property covers cutting on its own. */
const truncation = fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: fc.nat(), weight: 1 });
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(base: number, mutations: Mutation[], cut: number | null): Uint8Array {
  const bytes = corpus[base]!.slice();
  const view = new DataView(bytes.buffer);
  const ranges = targets[base]!;
  for (const { range, at, width, value } of mutations) {
    const [a, b] = ranges[range % ranges.length]!;
    const pos = Math.min(a + (at % (b - a)), bytes.length - width);
    if (pos < 0) continue;
    const little = (at & 1) === 0;
    if (width === 1) view.setUint8(pos, Number(value & 0xffn));
    else if (width === 2) view.setUint16(pos, Number(value & 0xffffn), little);
    else if (width === 4) view.setUint32(pos, Number(value & 0xffffffffn), little);
    else view.setBigUint64(pos, value, little);
  }
  return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
}

/** More cases on demand: `TSEBPF_PROPERTY_RUNS=x20 npx vitest run test/elf/reader.prop.test.ts` (or `make fuzz`). */
const FUZZ_BASE = 10_000;
const FUZZ_RUNS = propertyRuns(FUZZ_BASE);

describe("malformed input only ever raises ParseError", () => {
  const outcomes = { ok: 0, error: 0 };

  it(`byte-mutated objects (${FUZZ_RUNS} cases)`, { timeout: 600_000 }, () => {
    assertProperty(
      fc.property(fc.nat({ max: corpus.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), truncation, (base, ms, cut) => {
        outcomes[touchAll(mutate(base, ms, cut))]++;
      }),
      { numRuns: FUZZ_BASE },
    );
  });

  it(`truncated objects (${propertyRuns(FUZZ_BASE / 5)} cases)`, { timeout: 600_000 }, () => {
    assertProperty(
      fc.property(fc.nat({ max: corpus.length - 1 }), fc.nat(), (base, cut) => {
        const bytes = corpus[base]!;
        outcomes[touchAll(bytes.subarray(0, cut % bytes.length))]++;
      }),
      { numRuns: FUZZ_BASE / 5 },
    );
  });

  it("mutations exercise both outcomes", () => {
    // A sanity check on the generator: the cases must not all fail at the same early check.
    expect(outcomes.ok).toBeGreaterThan(FUZZ_RUNS / 100);
    expect(outcomes.error).toBeGreaterThan(FUZZ_RUNS / 10);
  });
});
