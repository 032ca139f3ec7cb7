/**
 * The ELF reader on objects clang-19 wrote (test/fixtures/elf, both byte orders), checked field
 * by field against llvm-readelf-19, and on hand-broken copies of them: each must give a
 * ParseError whose message names the section and the byte offset.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  ET,
  EM_BPF,
  ParseError,
  R_BPF,
  SHF,
  SHN,
  SHT,
  STB,
  STT,
  STV,
  StringTable,
  constantName,
  readElf,
  type ElfFile,
  type ElfSection,
} from "../../src/elf/index.js";
import { itWith } from "../helpers/oracle.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/elf/${name}`, import.meta.url));
const FIXTURES = [
  { file: fixture("maps.bpfel.o"), order: "little" as const },
  { file: fixture("maps.bpfeb.o"), order: "big" as const },
];
const load = (file: string) => new Uint8Array(readFileSync(file));

const readelf = (() => {
  const r = spawnSync("llvm-readelf-19", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? "llvm-readelf-19" : undefined;
})();
const readelfMissing = readelf ? undefined : "llvm-readelf-19 is not installed";
const clangMissing = spawnSync("clang-19", ["--version"]).status === 0 ? undefined : "clang-19 is not installed";

// ---- llvm-readelf -S -s -r --wide, parsed -------------------------------------------------

interface ReadelfSection { index: number; name: string; type: string; addr: number; offset: number; size: number; entsize: number; flags: string; link: number; info: number; align: number }
interface ReadelfSymbol { index: number; value: number; size: number; type: string; bind: string; vis: string; ndx: string; name: string }
interface ReadelfRelocation { offset: number; info: bigint; type: string; value: number | undefined; name: string }
interface Readelf { sections: ReadelfSection[]; symbols: ReadelfSymbol[]; relocations: Map<string, { offset: number; entries: ReadelfRelocation[] }> }

function runReadelf(file: string): Readelf {
  const r = spawnSync(readelf as string, ["-S", "-s", "-r", "--wide", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`llvm-readelf failed: ${r.stderr}`);
  const out: Readelf = { sections: [], symbols: [], relocations: new Map() };
  let current: ReadelfRelocation[] | undefined;
  const hex = (s: string) => parseInt(s, 16);
  for (const line of r.stdout.split("\n")) {
    let m = /^\s*\[\s*(\d+)\] (.*?)\s+(\S+)\s+([0-9a-f]{16}) ([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]{2}) +([A-Za-z]*) +(\d+) +(\d+) +(\d+)$/.exec(line);
    if (m) {
      const [, index, name, type, addr, offset, size, entsize, flags, link, info, align] = m as unknown as string[];
      out.sections.push({ index: +index!, name: name!, type: type!, addr: hex(addr!), offset: hex(offset!), size: hex(size!), entsize: hex(entsize!), flags: flags!, link: +link!, info: +info!, align: +align! });
      continue;
    }
    m = /^Relocation section '(.*)' at offset 0x([0-9a-f]+) contains \d+ entries:$/.exec(line);
    if (m) {
      current = [];
      out.relocations.set(m[1]!, { offset: hex(m[2]!), entries: current });
      continue;
    }
    m = /^([0-9a-f]{16})\s+([0-9a-f]{16})\s+(R_BPF_\w+)(?:\s+([0-9a-f]{16})\s+(.*))?$/.exec(line);
    if (m && current) {
      current.push({ offset: hex(m[1]!), info: BigInt(`0x${m[2]}`), type: m[3]!, value: m[4] === undefined ? undefined : hex(m[4]), name: m[5] ?? "" });
      continue;
    }
    m = /^\s*(\d+): ([0-9a-f]{16})\s+(\d+|0x[0-9a-f]+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\w+) ?(.*)$/.exec(line);
    if (m) {
      const [, index, value, size, type, bind, vis, ndx, name] = m as unknown as string[];
      out.symbols.push({ index: +index!, value: hex(value!), size: Number(size), type: type!, bind: bind!, vis: vis!, ndx: ndx!, name: name! });
    }
  }
  return out;
}

/** Section flags as llvm-readelf's GNU style prints them. */
function flagLetters(flags: number): string {
  const letters: [number, string][] = [
    [SHF.WRITE, "W"], [SHF.ALLOC, "A"], [SHF.EXECINSTR, "X"], [SHF.MERGE, "M"], [SHF.STRINGS, "S"],
    [SHF.INFO_LINK, "I"], [SHF.LINK_ORDER, "L"], [SHF.OS_NONCONFORMING, "O"], [SHF.GROUP, "G"],
    [SHF.TLS, "T"], [SHF.COMPRESSED, "C"], [SHF.EXCLUDE, "E"],
  ];
  return letters.filter(([bit]) => (flags & bit) !== 0).map(([, l]) => l).join("");
}

const ndxText = (index: number) => (index === SHN.UNDEF ? "UND" : index === SHN.ABS ? "ABS" : index === SHN.COMMON ? "COM" : String(index));

/** A symbol's name as llvm-readelf prints it: section symbols by their section's name. */
const displayName = (elf: ElfFile, index: number) => {
  const s = elf.symbols[index]!;
  return s.type === STT.SECTION && s.name === "" ? (elf.sections[s.sectionIndex]?.name ?? "") : s.name;
};

// ---- the fixtures --------------------------------------------------------------------------

describe.each(FIXTURES)("readElf($order endian fixture)", ({ file, order }) => {
  const bytes = load(file);
  const elf = readElf(bytes);

  it("reads the header", () => {
    expect(elf.byteOrder).toBe(order);
    expect(elf.type).toBe(ET.REL);
    expect(elf.machine).toBe(EM_BPF);
    expect(elf.bytes).toBe(bytes);
    expect(elf.sections.length).toBe(34);
    expect(elf.sections[elf.e_shstrndx]?.name).toBe(".strtab");
    expect(elf.header.e_shstrndx).toBe(elf.e_shstrndx);
  });

  it("gives each section a view of its bytes", () => {
    const license = elf.sectionByName("license")!;
    expect(new TextDecoder().decode(license.data)).toBe("GPL\0");
    expect(license.data.buffer).toBe(bytes.buffer);
    const bss = elf.sectionByName(".bss")!;
    expect(bss.type).toBe(SHT.NOBITS);
    expect(bss.size).toBe(12);
    expect(bss.data.length).toBe(0);
    const xdp = elf.sectionByName("xdp")!;
    expect(xdp.flags & (SHF.ALLOC | SHF.EXECINSTR)).toBe(SHF.ALLOC | SHF.EXECINSTR);
    expect([...xdp.data]).toEqual([...bytes.subarray(xdp.offset, xdp.offset + xdp.size)]);
    expect(elf.sectionByName("no such section")).toBeUndefined();
  });

  it("reads symbols of every kind", () => {
    const byName = (name: string) => elf.symbols.find((s) => s.name === name)!;
    expect(byName("count")).toMatchObject({ type: STT.FUNC, bind: STB.GLOBAL, size: 160, sectionIndex: elf.sectionByName("xdp")!.index });
    expect(byName("bump")).toMatchObject({ type: STT.FUNC, bind: STB.LOCAL, size: 104 });
    expect(byName("counters")).toMatchObject({ type: STT.OBJECT, size: 32, sectionIndex: elf.sectionByName(".maps")!.index });
    expect(byName("maps.c")).toMatchObject({ type: STT.FILE, sectionIndex: SHN.ABS });
    expect(byName("LINUX_KERNEL_VERSION")).toMatchObject({ bind: STB.WEAK, sectionIndex: SHN.UNDEF });
    expect(byName("bpf_rcu_read_lock")).toMatchObject({ bind: STB.GLOBAL, sectionIndex: SHN.UNDEF });
    expect(byName("hidden_seen")).toMatchObject({ visibility: STV.HIDDEN, value: 8, sectionIndex: elf.sectionByName(".bss")!.index });
    expect(elf.symbols.map((s) => s.index)).toEqual(elf.symbols.map((_, i) => i));
  });

  it("reads relocations, and finds them by their target section", () => {
    const tc = elf.sectionByName("tc")!;
    const relocs = elf.relocationsFor(tc);
    expect(relocs.map((r) => [r.offset, r.type, r.symbol.name || displayName(elf, r.symbolIndex)])).toEqual([
      [0x00, R_BPF["64_32"], "bpf_rcu_read_lock"],
      [0x08, R_BPF["64_64"], "LINUX_KERNEL_VERSION"],
      [0x20, R_BPF["64_64"], "hidden_seen"],
      [0x48, R_BPF["64_32"], ".text"],
      [0x50, R_BPF["64_64"], "limit"],
    ]);
    expect(relocs.every((r) => r.addend === undefined && r.sectionIndex === elf.sectionByName(".reltc")!.index)).toBe(true);
    expect(elf.relocations(elf.sectionByName(".reltc")!.index)).toBe(elf.relocations(elf.sectionByName(".reltc")!));
    expect(elf.relocationsFor(elf.sectionByName("license")!)).toEqual([]);
    expect(elf.relocationsFor(elf.sectionByName(".BTF")!).map((r) => r.type)).toContain(R_BPF["64_NODYLD32"]);
  });

  it("rejects misuse of the API with TypeError and RangeError", () => {
    expect(() => elf.relocations(elf.sectionByName("xdp")!)).toThrow(TypeError);
    expect(() => elf.relocations(999)).toThrow(RangeError);
    expect(() => elf.relocationsFor({ ...elf.sectionByName("xdp")! })).toThrow(RangeError);
  });

  itWith(readelfMissing)(`matches llvm-readelf -S${readelfMissing ? ` (skipped: ${readelfMissing})` : ""}`, () => {
    const theirs = runReadelf(file);
    expect(theirs.sections.length).toBe(elf.sections.length);
    const ours = elf.sections.map((s: ElfSection) => ({
      index: s.index, name: s.name, type: constantName(SHT, s.type) ?? `0x${s.type.toString(16)}`, addr: s.addr, offset: s.offset,
      size: s.size, entsize: s.entsize, flags: flagLetters(s.flags), link: s.link, info: s.info, align: s.addralign,
    }));
    expect(ours).toEqual(theirs.sections);
  });

  itWith(readelfMissing)(`matches llvm-readelf -s${readelfMissing ? ` (skipped: ${readelfMissing})` : ""}`, () => {
    const theirs = runReadelf(file);
    expect(theirs.symbols.length).toBe(25);
    const ours = elf.symbols.map((s) => ({
      index: s.index, value: s.value, size: s.size, type: constantName(STT, s.type), bind: constantName(STB, s.bind),
      vis: constantName(STV, s.visibility), ndx: ndxText(s.sectionIndex), name: displayName(elf, s.index),
    }));
    expect(ours).toEqual(theirs.symbols);
  });

  itWith(readelfMissing)(`matches llvm-readelf -r${readelfMissing ? ` (skipped: ${readelfMissing})` : ""}`, () => {
    const theirs = runReadelf(file);
    const relSections = elf.sections.filter((s) => s.type === SHT.REL || s.type === SHT.RELA);
    expect(relSections.map((s) => s.name)).toEqual([...theirs.relocations.keys()]);
    for (const s of relSections) {
      const expected = theirs.relocations.get(s.name)!;
      expect(s.offset).toBe(expected.offset);
      const ours = elf.relocations(s).map((r) => ({
        offset: r.offset, info: (BigInt(r.symbolIndex) << 32n) | BigInt(r.type), type: `R_BPF_${constantName(R_BPF, r.type)}`,
        value: r.symbol.value, name: displayName(elf, r.symbolIndex),
      }));
      expect(ours, s.name).toEqual(expected.entries);
    }
  });
});

it("reads the same content from both byte orders", () => {
  const [le, be] = FIXTURES.map(({ file }) => readElf(load(file))) as [ElfFile, ElfFile];
  const shape = (elf: ElfFile) => ({
    sections: elf.sections.map(({ data: _, ...rest }) => rest),
    symbols: elf.symbols,
    relocations: elf.sections.filter((s) => s.type === SHT.REL).map((s) => elf.relocations(s)),
  });
  expect(shape(be)).toEqual(shape(le));
});

// ---- malformed objects -----------------------------------------------------------------------

const base = load(FIXTURES[0]!.file);
const baseElf = readElf(base);
const section = (name: string) => baseElf.sectionByName(name)!;
/** File offset of a section's header. */
const header = (name: string) => baseElf.header.e_shoff + section(name).index * 64;

/** A copy of the little-endian fixture with `edit` applied to it through a DataView. */
function broken(edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const copy = base.slice();
  edit(new DataView(copy.buffer), copy);
  return copy;
}
const setU64 = (view: DataView, pos: number, value: bigint) => view.setBigUint64(pos, value, true);

/** The ParseError that `fn` throws. */
function parseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error("expected a ParseError, but nothing was thrown");
}

describe("malformed objects give ParseError naming the section and offset", () => {
  it("truncated identification and header", () => {
    const e = parseError(() => readElf(base.subarray(0, 10)));
    expect(e.message).toBe("ELF at offset 0xa: file is 10 bytes, shorter than the 16-byte ELF identification");
    expect(e.offset).toBe(10);
    expect(e.name).toBe("ParseError");
    expect(parseError(() => readElf(base.subarray(0, 40))).message).toBe("ELF at offset 0x28: file is 40 bytes, shorter than the 64-byte ELF64 header");
    expect(parseError(() => readElf(new Uint8Array(0))).offset).toBe(0);
  });

  it("wrong magic", () => {
    const e = parseError(() => readElf(broken((_, b) => (b[1] = 0x45 + 1))));
    expect(e.message).toBe("ELF at offset 0x0: not an ELF file: magic is 7f 46 4c 46, expected 7f 45 4c 46");
  });

  it("ELFCLASS32, unknown class, byte order and version", () => {
    expect(parseError(() => readElf(broken((_, b) => (b[4] = 1)))).message).toBe("ELF at offset 0x4: ELFCLASS32 (32-bit) object; BPF objects are ELFCLASS64");
    expect(parseError(() => readElf(broken((_, b) => (b[4] = 3)))).offset).toBe(4);
    expect(parseError(() => readElf(broken((_, b) => (b[5] = 0)))).message).toMatch(/^ELF at offset 0x5: unknown EI_DATA 0/);
    expect(parseError(() => readElf(broken((_, b) => (b[6] = 2)))).offset).toBe(6);
  });

  it("wrong machine, and an unsupported e_type", () => {
    const e = parseError(() => readElf(broken((v) => v.setUint16(18, 62, true))));
    expect(e.message).toBe("ELF at offset 0x12: machine 62 (EM_X86_64) is not EM_BPF (247): not a BPF object");
    expect(parseError(() => readElf(broken((v) => v.setUint16(18, 4000, true)))).message).toContain("machine 4000 is not EM_BPF");
    expect(parseError(() => readElf(broken((v) => v.setUint16(16, ET.CORE, true)))).message).toBe("ELF at offset 0x10: e_type 4 (ET_CORE) is not ET_REL, ET_EXEC or ET_DYN");
  });

  it("accepts ET_EXEC and ET_DYN, recording the type", () => {
    expect(readElf(broken((v) => v.setUint16(16, ET.DYN, true))).type).toBe(ET.DYN);
    expect(readElf(broken((v) => v.setUint16(16, ET.EXEC, true))).type).toBe(ET.EXEC);
  });

  it("section header table beyond the end of the file", () => {
    const start = base.length - 10;
    const e = parseError(() => readElf(broken((v) => setU64(v, 40, BigInt(start)))));
    expect(e.offset).toBe(start);
    expect(e.message).toBe(`ELF at offset 0x${start.toString(16)}: section header table starts at 0x${start.toString(16)}, beyond the end of the file (0x${base.length.toString(16)} bytes)`);
    const more = parseError(() => readElf(broken((v) => v.setUint16(60, 200, true))));
    expect(more.message).toContain("section header table of 200 entries");
    const huge = parseError(() => readElf(broken((v) => setU64(v, 40, 1n << 60n))));
    expect(huge.message).toBe("ELF at offset 0x28: e_shoff 0x1000000000000000 is larger than this reader supports (2^53 - 1)");
    expect(parseError(() => readElf(base.subarray(0, base.length - 1))).message).toContain("section header table of 34 entries");
    expect(parseError(() => readElf(broken((v) => v.setUint16(58, 40, true)))).message).toBe("ELF at offset 0x3a: e_shentsize is 40, expected 64");
  });

  it("section data beyond the end of the file", () => {
    const e = parseError(() => readElf(broken((v) => setU64(v, header(".text") + 24, BigInt(base.length - 4)))));
    expect(e.section).toBe(".text");
    expect(e.offset).toBe(base.length - 4);
    expect(e.message).toBe(`ELF section ".text" at offset 0x${(base.length - 4).toString(16)}: contents at 0x${(base.length - 4).toString(16)} of 0x68 bytes end beyond the end of the file (0x${base.length.toString(16)} bytes)`);
    const size = parseError(() => readElf(broken((v) => setU64(v, header("xdp") + 32, 0xffff_ffff_ffff_ff00n))));
    expect(size.message).toMatch(/^ELF at offset 0x[0-9a-f]+: sh_size of section 4 0xffffffffffffff00 is larger than this reader supports/);
    // SHT_NOBITS sections occupy no file space: any size is fine.
    expect(readElf(broken((v) => setU64(v, header(".bss") + 32, 1n << 40n))).sectionByName(".bss")!.size).toBe(2 ** 40);
  });

  it("unterminated string tables", () => {
    const strtab = section(".strtab");
    const e = parseError(() => readElf(broken((_, b) => (b[strtab.offset + strtab.size - 1] = 0x78))));
    expect(e.section).toBe(".strtab");
    expect(e.message).toMatch(/^ELF section "\.strtab" at offset 0x[0-9a-f]+: name of (section|symbol) \d+ at offset \d+ is not NUL-terminated inside the string table$/);
    const outside = parseError(() => readElf(broken((v) => v.setUint32(header("xdp"), 0x10000, true))));
    expect(outside.message).toBe(`ELF section ".strtab" at offset 0x${strtab.offset.toString(16)}: name of section 4 is at offset 65536, outside the string table (${strtab.size} bytes)`);
  });

  it("a symbol in a section that does not exist", () => {
    const symtab = section(".symtab");
    const pos = symtab.offset + 16 * 24;
    const e = parseError(() => readElf(broken((v) => v.setUint16(pos + 6, 200, true))));
    expect(e.message).toBe(`ELF section ".symtab" at offset 0x${(pos + 6).toString(16)}: symbol 16 is in section 200 (0xc8), but there are 34 sections`);
    expect(parseError(() => readElf(broken((v) => v.setUint16(pos + 6, 0xff80, true)))).message).toContain("a reserved index no ELF ABI defines");
    expect(parseError(() => readElf(broken((v) => v.setUint16(pos + 6, SHN.XINDEX, true)))).message).toContain("no SHT_SYMTAB_SHNDX entry");
  });

  it("a relocation that points at a symbol that does not exist", () => {
    const rel = section(".rel.text");
    const elf = readElf(broken((v) => v.setUint32(rel.offset + 12, 99, true)));
    const e = parseError(() => elf.relocations(elf.sectionByName(".rel.text")!));
    expect(e.message).toBe(`ELF section ".rel.text" at offset 0x${rel.offset.toString(16)}: relocation entry 0 points at symbol 99, but the symbol table has 25`);
    expect(e).toMatchObject({ section: ".rel.text", offset: rel.offset });
    expect(() => elf.relocationsFor(elf.sectionByName(".text")!)).toThrow(ParseError);
  });

  it("a relocation outside its target section", () => {
    const rel = section(".relxdp");
    const elf = readElf(broken((v) => setU64(v, rel.offset + 16, 0x9en)));
    expect(parseError(() => elf.relocationsFor(elf.sectionByName("xdp")!)).message).toBe(
      `ELF section ".relxdp" at offset 0x${(rel.offset + 16).toString(16)}: relocation entry 1 (type 10) at 0x9e lies outside its target section "xdp" (0xa0 bytes)`,
    );
  });

  it("bad entry sizes", () => {
    const e = parseError(() => readElf(broken((v) => setU64(v, header(".symtab") + 56, 16n))));
    expect(e.message).toBe(`ELF section ".symtab" at offset 0x${(header(".symtab") + 56).toString(16)}: SHT_SYMTAB section has sh_entsize 16, expected 24`);
    const zero = parseError(() => readElf(broken((v) => setU64(v, header(".rel.text") + 56, 0n))));
    expect(zero.message).toContain('ELF section ".rel.text"');
    expect(zero.message).toContain("SHT_REL section has sh_entsize 0, expected 16");
    const ragged = parseError(() => readElf(broken((v) => setU64(v, header(".reltc") + 32, 0x48n))));
    expect(ragged.message).toContain("SHT_REL section size 0x48 is not a multiple of its entry size 16");
  });

  it("bad links, indices and section 0", () => {
    expect(parseError(() => readElf(broken((v) => v.setUint32(header(".symtab") + 40, 2, true)))).message).toContain("sh_link 2 names no string table");
    expect(parseError(() => readElf(broken((v) => v.setUint32(header(".symtab") + 40, 77, true)))).message).toContain("sh_link 77 is out of range: there are 34 sections");
    expect(parseError(() => readElf(broken((v) => v.setUint32(header(".rel.text") + 44, 34, true)))).message).toContain("sh_info 34 names no section");
    expect(parseError(() => readElf(broken((v) => v.setUint32(header(".symtab") + 44, 26, true)))).message).toContain("sh_info 26 (first global symbol) is beyond the 25 symbols");
    expect(parseError(() => readElf(broken((v) => v.setUint16(62, 40, true)))).message).toBe("ELF at offset 0x3e: section name table index 40 is out of range: there are 34 sections");
    expect(parseError(() => readElf(broken((v) => v.setUint16(62, 2, true)))).message).toContain("section name table (section 2) has type 1, not SHT_STRTAB");
    expect(parseError(() => readElf(broken((v) => v.setUint32(baseElf.header.e_shoff + 4, SHT.PROGBITS, true)))).message).toContain("section 0 has type 1, expected SHT_NULL");
    expect(parseError(() => readElf(broken((v) => setU64(v, header(".text") + 48, 6n)))).message).toContain("sh_addralign 6 is not a power of two");
    const rel = readElf(broken((v) => v.setUint32(header(".rel.text") + 40, 1, true)));
    expect(parseError(() => rel.relocations(rel.sectionByName(".rel.text")!)).message).toContain("sh_link 1 is not the symbol table (section 33)");
  });

  it("a second symbol table", () => {
    const e = parseError(() => readElf(broken((v) => v.setUint32(header(".rel.text") + 4, SHT.SYMTAB, true))));
    expect(e.message).toContain("SHT_SYMTAB section has sh_entsize 16, expected 24");
    const copy = broken((v) => {
      // Turn .rel.text into a second, valid symbol table: same entry size and links as .symtab.
      setU64(v, header(".rel.text") + 56, 24n);
      setU64(v, header(".rel.text") + 32, 24n);
      v.setUint32(header(".rel.text") + 4, SHT.SYMTAB, true);
      v.setUint32(header(".rel.text") + 40, 1, true);
      v.setUint32(header(".rel.text") + 44, 1, true);
    });
    expect(parseError(() => readElf(copy)).message).toContain("a second SHT_SYMTAB section (index 33)");
  });
});

describe("string tables", () => {
  it("decode UTF-8 names, and share one copy of an ASCII table however names overlap", () => {
    const utf8 = new TextEncoder().encode("\0größe\0x\xff\0");
    const t = new StringTable(utf8, 0x100);
    expect([t.get(1, "a", "s"), t.get(3, "b", "s"), t.tryGet(0)]).toEqual(["größe", "öße", ""]);
    expect(t.tryGet(utf8.length)).toBeUndefined();
    // 1 MiB of 'a' with one NUL at the end, and a name at every offset: 2^39 characters in all.
    const big = new Uint8Array(1 << 20).fill(0x61);
    big[big.length - 1] = 0;
    const ascii = new StringTable(big, 0);
    const start = performance.now();
    let total = 0;
    for (let i = 0; i < big.length - 1; i++) total += ascii.get(i, "name", "s").length;
    expect(total).toBe(((big.length - 1) * big.length) / 2);
    expect(performance.now() - start).toBeLessThan(10_000);
  });

  it("refuse to decode overlapping non-ASCII names beyond 4 times the table's size", () => {
    const big = new Uint8Array(1 << 16).fill(0xc3);
    big[big.length - 1] = 0;
    const t = new StringTable(big, 0x40);
    const e = parseError(() => {
      for (let i = 0; i < big.length; i++) t.get(i, `name ${i}`, ".strtab");
    });
    expect(e.message).toMatch(/^ELF section "\.strtab" at offset 0x[0-9a-f]+: name \d+ at offset \d+: the table's names overlap so much that decoding them takes more than 262144 bytes$/);
  });
});

itWith(clangMissing)(`the fixtures rebuild byte for byte with build.sh${clangMissing ? ` (skipped: ${clangMissing})` : ""}`, () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-elf-fixtures-"));
  try {
    const source = dirname(fixture("maps.c"));
    cpSync(source, dir, { recursive: true, filter: (f) => !f.endsWith(".o") });
    const r = spawnSync("sh", [join(dir, "build.sh")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    for (const { file } of FIXTURES) {
      const name = file.slice(file.lastIndexOf("/") + 1);
      expect(Buffer.compare(readFileSync(join(dir, name)), readFileSync(file)), `${name} differs from a fresh build: run test/fixtures/elf/build.sh`).toBe(0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
