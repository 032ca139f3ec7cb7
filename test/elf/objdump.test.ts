/**
 * The object listing against llvm-objdump-19: every fixture object (both byte orders) with and
 * without -r, with every section selected, with alu32; then objects patched at random (instruction
 * bytes, symbols, relocations, CO-RE records, broken BTF) so the rules hold beyond what compilers
 * emit. Without llvm-objdump-19 those comparisons skip; the examples below them run anywhere.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Btf } from "../../src/btf/btf.js";
import { ParseError, SHF, SHT, STT, readElf, type ElfFile, type ElfRelocation } from "../../src/elf/index.js";
import { decodeLikeLlvm, objdump, relocationType, relocationValue, type ObjdumpOptions } from "../../src/elf/objdump.js";
import { describeCoreRelocation, readCoreRelocations, typeName, type CoreRelocationRecord } from "../../src/elf/objdump-core.js";
import { llvmObjdump, llvmMissing } from "../helpers/llvm.js";
import { describeWith } from "../helpers/oracle.js";

const FIXTURES = "test/fixtures";
const objects = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? objects(join(dir, e.name)) : e.name.endsWith(".o") ? [join(dir, e.name)] : [],
  );
const FIXTURE_OBJECTS = objects(FIXTURES).sort();
const read = (path: string) => new Uint8Array(readFileSync(path));

interface Flags {
  readonly reloc?: boolean;
  readonly alu32?: boolean;
  readonly zeroes?: boolean;
  readonly sections?: readonly string[];
}

/** llvm-objdump-19's listing (stdout only). */
function theirs(path: string, flags: Flags = {}): string {
  const args = ["-d", "--no-show-raw-insn"];
  if (flags.reloc) args.push("-r");
  if (flags.alu32) args.push("--mattr=+alu32");
  if (flags.zeroes) args.push("-z");
  for (const s of flags.sections ?? []) args.push("-j", s);
  return execFileSync(llvmObjdump as string, [...args, path], { encoding: "utf8", maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "ignore"] });
}

function ours(path: string, bytes: Uint8Array, flags: Flags = {}): string {
  const options: ObjdumpOptions = {
    path,
    relocations: flags.reloc ?? false,
    alu32: flags.alu32 ?? false,
    disassembleZeroes: flags.zeroes ?? false,
    ...(flags.sections ? { sections: flags.sections } : {}),
  };
  return objdump(bytes, options);
}

/** Expects the whole listing to equal llvm-objdump's; on a difference, names the first differing line. */
function expectSame(path: string, bytes: Uint8Array, flags: Flags, what: string): void {
  const expected = theirs(path, flags);
  const actual = ours(path, bytes, flags);
  if (actual === expected) return;
  const a = actual.split("\n");
  const b = expected.split("\n");
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  expect({ what, line: i + 1, ours: a.slice(i, i + 4) }).toEqual({ what, line: i + 1, ours: b.slice(i, i + 4) });
}

const allSections = (bytes: Uint8Array): string[] => [...new Set(readElf(bytes).sections.slice(1).map((s) => s.name))];

const llvmSkip = llvmObjdump ? "" : " (skipped: llvm-objdump-19 is not installed)";
/** More mutants per test: TSEBPF_OBJDUMP_MUTANTS=20 npx vitest run test/elf/objdump.test.ts */
const SCALE = Math.max(1, Number(process.env.TSEBPF_OBJDUMP_MUTANTS ?? 1));
/** Each mutant runs llvm-objdump a few times (about 15 ms each). */
const TIMEOUT = 60_000 * SCALE;

describeWith(llvmMissing)(`objdump: the listing of llvm-objdump-19${llvmSkip}`, () => {
  it("has fixtures of both byte orders, including the objdump ones", () => {
    expect(FIXTURE_OBJECTS.filter((f) => f.includes("/objdump/")).length).toBeGreaterThanOrEqual(6);
    expect(FIXTURE_OBJECTS.some((f) => f.endsWith(".bpfeb.o"))).toBe(true);
  });

  describe.each(FIXTURE_OBJECTS)("%s", (path) => {
    const bytes = read(path);
    it("-d", () => expectSame(path, bytes, {}, "-d"));
    it("-d -r", () => expectSame(path, bytes, { reloc: true }, "-d -r"));
    it("-d -r, every section (-j)", () => expectSame(path, bytes, { reloc: true, sections: allSections(bytes) }, "-d -r -j *"));
    it("-d -r --mattr=+alu32", () => expectSame(path, bytes, { reloc: true, alu32: true }, "alu32"));
  });

  const dir = mkdtempSync(join(tmpdir(), "tsebpf-objdump-"));
  let serial = 0;
  const compareMutant = (bytes: Uint8Array, flagSets: readonly Flags[], what: string) => {
    const path = join(dir, `mutant-${serial++}.o`);
    writeFileSync(path, bytes);
    for (const flags of flagSets) expectSame(path, bytes, flags, `${what} ${JSON.stringify(flags)}`);
  };

  for (const order of ["bpfel", "bpfeb"]) {
    const fixture = (name: string) => read(join(FIXTURES, "objdump", `${name}.${order}.o`));

    it(`random instruction bytes decode like LLVM's decoder (${order})`, () => {
      for (const [k, name] of ["labels", "calls", "core-relos"].entries()) {
        for (let seed = 0; seed < 6 * SCALE; seed++) {
          const bytes = mutateInstructions(fixture(name), random(100000 * k + seed + (order === "bpfeb" ? 99 : 0)));
          compareMutant(bytes, [{}, { reloc: true, zeroes: true }, { alu32: true }], `${name} instructions seed ${seed}`);
        }
      }
    }, TIMEOUT);

    it(`symbols of every type, name and address head blocks as in llvm-objdump (${order})`, () => {
      for (const name of ["labels", "calls"]) {
        for (let seed = 0; seed < 12 * SCALE; seed++) {
          const bytes = mutateSymbols(fixture(name), random(seed + (order === "bpfeb" ? 50000 : 0)));
          compareMutant(bytes, [{}, { reloc: true }], `${name} symbols seed ${seed}`);
        }
      }
    }, TIMEOUT);

    it(`relocations of every type, on symbol 0 and on section symbols (${order})`, () => {
      for (const name of ["labels", "calls"]) {
        for (let seed = 0; seed < 6 * SCALE; seed++) {
          const bytes = mutateRelocations(fixture(name), random(seed + (order === "bpfeb" ? 90000 : 7)));
          compareMutant(bytes, [{ reloc: true }, { reloc: true, sections: allSections(bytes) }], `${name} relocations seed ${seed}`);
        }
      }
    }, TIMEOUT);

    it(`CO-RE records that do not fit the types are described like llvm-objdump (${order})`, () => {
      for (let seed = 0; seed < 16 * SCALE; seed++) {
        const bytes = mutateCoreRecords(fixture("core-relos"), random(seed + (order === "bpfeb" ? 70000 : 0)));
        compareMutant(bytes, [{ reloc: true }], `core-relos records seed ${seed}`);
      }
    }, TIMEOUT);

    it(`unreadable .BTF hides the CO-RE lines, a truncated .BTF.ext keeps those read (${order})`, () => {
      const base = fixture("core-relos");
      const elf = readElf(base);
      const btf = elf.sectionByName(".BTF")!;
      const ext = elf.sectionByName(".BTF.ext")!;
      const badMagic = base.slice();
      badMagic[btf.offset] = 0;
      compareMutant(badMagic, [{ reloc: true }], "bad .BTF magic");
      const long = base.slice();
      new DataView(long.buffer).setUint32(ext.offset + 28, 0xfffff, elf.byteOrder === "little");
      compareMutant(long, [{ reloc: true }], "CO-RE length past the section");
      const wrapped = base.slice();
      new DataView(wrapped.buffer).setUint32(ext.offset + 28, 0xfffffff0, elf.byteOrder === "little");
      compareMutant(wrapped, [{ reloc: true }], "CO-RE end wrapped around 4 GiB");
    });

    it(`.BTF.ext is read as LLVM's BTFParser reads it: version, record size, interrupted lists, section names (${order})`, () => {
      const base = fixture("core-relos");
      const elf = readElf(base);
      const ext = elf.sectionByName(".BTF.ext")!;
      const le = elf.byteOrder === "little";
      const mutant = (edit: (view: DataView, records: number) => void): Uint8Array => {
        const bytes = base.slice();
        const view = new DataView(bytes.buffer);
        edit(view, ext.offset + view.getUint32(ext.offset + 4, le) + view.getUint32(ext.offset + 24, le));
        return bytes;
      };
      compareMutant(mutant((v) => v.setUint8(ext.offset + 2, 2)), [{ reloc: true }], ".BTF.ext version 2");
      // Only 16 bytes of each record are read; a longer size moves on (here: past the end).
      compareMutant(mutant((v, at) => v.setUint32(at, 32, le)), [{ reloc: true }], "record size 32");
      // The first list runs past the section: its records stay in file order, unsorted.
      compareMutant(mutant((v, at) => v.setUint32(at + 8, 0x7fffffff, le)), [{ reloc: true }], "count past the end");
      // A list whose name no section has joins the list before it.
      compareMutant(mutant((v, at) => v.setUint32(at + 12 + v.getUint32(at + 8, le) * v.getUint32(at, le), 1, le)), [{ reloc: true }], "second list of an unknown section");
      // Of two sections of one name, the records belong to the last.
      const shoff = Number(new DataView(base.buffer, base.byteOffset).getBigUint64(0x28, le));
      const types = elf.sectionByName("kprobe/types")!;
      const fields = elf.sectionByName("kprobe/fields")!;
      const dup = mutant((v) => v.setUint32(shoff + types.index * 64, v.getUint32(shoff + fields.index * 64, le), le));
      compareMutant(dup, [{ reloc: true }], "two sections named kprobe/fields");
      const listed = ours("dup.o", dup, { reloc: true }).split("Disassembly of section ").filter((part) => part.startsWith("kprobe/fields:"));
      expect(listed.map((part) => part.includes("CO-RE"))).toEqual([false, true]);
      const badExt = base.slice();
      badExt[ext.offset] = 0;
      compareMutant(badExt, [{ reloc: true }], "bad .BTF.ext magic");
    });
  }
});

describe("objdump: examples", () => {
  const core = read(join(FIXTURES, "objdump/core-relos.bpfel.o"));

  it("starts with the file header and lists the CO-RE relocations with -r", () => {
    const text = ours("core-relos.bpfel.o", core, { reloc: true });
    expect(text.startsWith("\ncore-relos.bpfel.o:\tfile format elf64-bpf\n\nDisassembly of section kprobe/fields:\n\n0000000000000000 <fields>:\n")).toBe(true);
    for (const line of [
      "\t\t0000000000000098:  CO-RE <byte_off> [6] struct outer::in[2].x (0:1:2:0)\n",
      "\t\t0000000000000238:  CO-RE <byte_off> [6] struct outer::<anon 3>.<anon 1>.s2 (0:3:1:1)\n",
      "\t\t00000000000006d8:  CO-RE <byte_off> [6] struct outer::[1].a (1:0)\n",
      "\t\t00000000000004e0:  CO-RE <byte_off> [26] typedef tdef_t::tx (0:0)\n",
      "\t\t0000000000000058:  CO-RE <type_exists> [34] typedef arr4\n",
      "\t\t0000000000000048:  CO-RE <enumval_value> [42] enum flags32::FLAG_HIGH = 18446744071562067968\n",
      "\t\t00000000000000c0:  CO-RE <enumval_value> [43] enum <anon 43>::ANON_Y = 8\n",
    ]) {
      expect(text).toContain(line);
    }
    expect(ours("x.o", core)).not.toContain("CO-RE");
  });

  it("describes records that do not fit the types with the reason", () => {
    const elf = readElf(core);
    const btf = new Btf(elf.sectionByName(".BTF")!.data);
    const d = (typeId: number, accessStr: string, kind: number) => describeCoreRelocation(btf, { insnOff: 0, typeId, accessStr, kind });
    expect(d(6, "0:1:4:0", 0)).toBe("<byte_off> [6] struct outer::in[4].x (0:1:4:0)");
    expect(d(6, "0:99", 0)).toBe("<byte_off> [6] '0:99' <member index 99 for spec sub-string 1 is out of range>");
    expect(d(6, "0:4294967295", 0)).toBe("<byte_off> [6] '0:4294967295' <member index -1 for spec sub-string 1 is out of range>");
    expect(d(6, "0:8:0", 0)).toBe("<byte_off> [6] '0:8:0' <unexpected type kind 2 for spec sub-string 2>");
    expect(d(6, "0x1", 0)).toBe("<byte_off> [6] '0x1' <unexpected spec string delimiter: 'x'>");
    expect(d(6, "-1", 1)).toBe("<byte_sz> [6] '-1' <spec string is not a number>");
    expect(d(6, "", 2)).toBe("<field_exists> [6] '' <field spec too short>");
    expect(d(6, "0:", 0)).toBe("<byte_off> [6] struct outer:: (0:)");
    expect(d(6, "0:1", 8)).toBe("<type_exists> [6] '0:1' <unexpected type-based relocation spec: should be '0'>");
    expect(d(9999, "0", 8)).toBe("<type_exists> [9999] '0' <unknown type id: 9999>");
    expect(d(6, "1", 11)).toBe("<enumval_value> [6] '1' <unexpected type kind for enum relocation: 4>");
    expect(d(6, "0", 13)).toBe("<reloc kind #13> [6] '0' <unknown relocation kind: 13>");
    expect(d(0, "0", 9)).toBe("<type_size> [0] void");
    expect(typeName(btf, 1)).toBe("<anon 1>");
  });

  it("reads the records of .BTF.ext sorted by offset, per section", () => {
    const elf = readElf(core);
    const table = readCoreRelocations(elf.sectionByName(".BTF")!.data, elf.sectionByName(".BTF.ext")!.data);
    const fields = table?.bySection.get("kprobe/fields") ?? [];
    expect(fields.length).toBeGreaterThan(30);
    expect(fields.map((r: CoreRelocationRecord) => r.insnOff)).toEqual([...fields.map((r) => r.insnOff)].sort((a, b) => a - b));
    const warnings: string[] = [];
    expect(readCoreRelocations(new Uint8Array(24), new Uint8Array(0), (w) => warnings.push(w))).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(/^\.BTF: /)]);
  });

  it("reads no CO-RE record when the end of the records (a u32 sum) wraps around, as llvm-objdump", () => {
    const elf = readElf(core);
    const btf = elf.sectionByName(".BTF")!.data;
    const ext = elf.sectionByName(".BTF.ext")!.data.slice();
    const view = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
    const start = view.getUint32(4, true) + view.getUint32(24, true);
    expect(readCoreRelocations(btf, ext)?.bySection.size).toBeGreaterThan(0);
    // start + len = start - 16 (mod 2^32): the end is before the start.
    view.setUint32(28, 0x1_0000_0000 - 16, true);
    const warnings: string[] = [];
    const wrapped = readCoreRelocations(btf, ext, (w) => warnings.push(w));
    expect(wrapped?.bySection.size).toBe(0);
    expect(warnings).toEqual([]);
    // A length that ends past the section without wrapping keeps the records read before the end.
    view.setUint32(28, ext.byteLength - start + 64, true);
    const long = readCoreRelocations(btf, ext, (w) => warnings.push(w));
    expect(long?.bySection.size).toBeGreaterThan(0);
    expect(warnings).toEqual([expect.stringMatching(/^\.BTF\.ext: unexpected end of data at offset 0x/)]);
    const text = ours("wrapped.o", wrappedObject(core), { reloc: true });
    expect(text).toContain("Disassembly of section kprobe/fields:");
    expect(text).not.toContain("CO-RE");
  });

  it("reads records as llvm-objdump: 16 bytes of each, lists sorted once complete, an unknown section's list joins the one before", () => {
    const elf = readElf(core);
    const btf = elf.sectionByName(".BTF")!.data;
    const original = elf.sectionByName(".BTF.ext")!.data;
    const edit = (change: (view: DataView, records: number) => void): Uint8Array => {
      const ext = original.slice();
      const view = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
      change(view, view.getUint32(4, true) + view.getUint32(24, true));
      return ext;
    };
    const clean = readCoreRelocations(btf, original)!;
    const lists = [...clean.bySection.entries()];
    expect(lists.length).toBeGreaterThanOrEqual(3);
    const [firstName, first] = lists[0]!;
    const [secondName, second] = lists[1]!;

    // Record size 20: records overlap, yet each needs only its first 16 bytes.
    const warnings: string[] = [];
    const wide = readCoreRelocations(btf, edit((v, at) => v.setUint32(at, 20, true)), (w) => warnings.push(w))!;
    expect(wide.bySection.get(firstName)!.length).toBe(first.length);
    expect(warnings).toEqual([expect.stringMatching(/^\.BTF\.ext: /)]);

    // A count past the end: the interrupted list keeps file order (llvm-objdump sorts a list once read).
    const long = readCoreRelocations(btf, edit((v, at) => v.setUint32(at + 8, 0x7fffffff, true)), () => {})!;
    const interrupted = long.bySection.get(firstName)!.map((r) => r.insnOff);
    expect(interrupted.length).toBeGreaterThan(first.length);
    expect(interrupted).not.toEqual([...interrupted].sort((a, b) => a - b));

    // The second list renamed to a name no section has: with the section names, it joins the first.
    const renamed = edit((v, at) => v.setUint32(at + 12 + v.getUint32(at + 8, true) * v.getUint32(at, true), 1, true));
    const names = new Set(elf.sections.map((s) => s.name));
    const joined = readCoreRelocations(btf, renamed, () => {}, names)!;
    expect(joined.bySection.has(secondName)).toBe(false);
    expect(joined.bySection.get(firstName)!.length).toBe(first.length + second.length);
    expect(joined.bySection.get(firstName)!.map((r) => r.insnOff)).toEqual([...first, ...second].map((r) => r.insnOff).sort((a, b) => a - b));
    // Without the section names, lists are kept by their own names.
    expect(readCoreRelocations(btf, renamed)!.bySection.get(firstName)!.length).toBe(first.length);

    // Version 2 and a header shorter than 8 bytes: no records, one warning each.
    for (const change of [(v: DataView) => v.setUint8(2, 2), (v: DataView) => v.setUint32(4, 7, true)]) {
      const seen: string[] = [];
      expect(readCoreRelocations(btf, edit(change), (w) => seen.push(w))!.bySection.size).toBe(0);
      expect(seen).toEqual([expect.stringMatching(/^\.BTF\.ext: (unsupported version 2|header length 7 is smaller than 8)$/)]);
    }
  });

  it("dumps data in executable sections and names blocks after the preferred symbol", () => {
    const text = ours("labels.o", read(join(FIXTURES, "objdump/labels.bpfel.o")), { reloc: true });
    expect(text).toContain(
      [
        "0000000000000088 <table>:",
        "      88: 00 00 00 00 00 00 00 00         ........",
        "      90: 00 00 00 00 42 50 46 21         ....BPF!",
        "      98: 30 31 32 33 34 35 36 37         01234567",
        "      a0: 38 39 61 62 63 64 65 66         89abcdef",
        "      a8: 67 68 69 6a 7f 80 20            ghij.. ",
        "",
        "00000000000000af <after_table>:",
        "      21:\t<unknown>",
      ].join("\n"),
    );
    // Four symbols at 0xcf: the last non-object one in name order.
    expect(text).toContain("00000000000000cf <alias_g>:\n      25:\tr0 = 0x0\n\t\t...\n");
    expect(text).toContain("\t\t000000000000010b:  R_BPF_64_ABS64\tfar_away\n");
    expect(text).toContain("       1:\tgoto -0x3 <end_label+0xffffffffffffffc0>\n");
    expect(text).not.toContain("section empty");
  });

  it("decodes like LLVM 19: lenient about unused fields, <unknown> where LLVM is", () => {
    const word = (hex: string) => new DataView(Uint8Array.from(Buffer.from(hex.replace(/ /g, ""), "hex")).buffer);
    // exit with registers set: LLVM ignores them; exit with an immediate: LLVM does not decode it.
    expect(decodeLikeLlvm(word("95 21 00 00 00 00 00 00"), 0, true, false).instruction).toBeDefined();
    expect(decodeLikeLlvm(word("95 00 00 00 01 00 00 00"), 0, true, false)).toEqual({ instruction: undefined, size: 8 });
    // 32-bit atomic fetch-add: without alu32 LLVM 19 reads it as a plain add.
    const fetchAdd = decodeLikeLlvm(word("c3 21 00 00 01 00 00 00"), 0, true, false).instruction;
    expect(fetchAdd?.imm).toBe(0);
    // lddw needs 16 bytes: with 8 left, nothing is consumed (llvm-objdump skips one byte).
    expect(decodeLikeLlvm(word("18 01 00 00 00 00 00 00"), 0, true, false)).toEqual({ instruction: undefined, size: 0 });
    expect(decodeLikeLlvm(word("18 01 01 00 00 00 00 00 00 00 00 00 00 00 00 00"), 0, true, false)).toEqual({ instruction: undefined, size: 8 });
  });

  it("names relocation types and what they refer to like llvm-objdump", () => {
    expect([0, 1, 2, 3, 4, 10, 11].map(relocationType)).toEqual([
      "R_BPF_NONE",
      "R_BPF_64_64",
      "R_BPF_64_ABS64",
      "R_BPF_64_ABS32",
      "R_BPF_64_NODYLD32",
      "R_BPF_64_32",
      "Unknown",
    ]);
    const elf = { sections: [{ name: "" }, { name: ".text" }] } as unknown as ElfFile;
    const rel = (symbolIndex: number, type: number, name: string, addend: number | undefined) =>
      ({ symbolIndex, symbol: { type, name, sectionIndex: 1 }, addend }) as unknown as ElfRelocation;
    expect(relocationValue(elf, rel(0, STT.NOTYPE, "", undefined))).toBe("*ABS*");
    expect(relocationValue(elf, rel(3, STT.SECTION, "", undefined))).toBe(".text");
    expect(relocationValue(elf, rel(4, STT.OBJECT, "map", 16))).toBe("map+0x10");
    expect(relocationValue(elf, rel(4, STT.FUNC, "f", -8))).toBe("f-0x8");
  });

  it("rejects a malformed object with a ParseError", () => {
    expect(() => objdump(read("package.json"), { path: "package.json" })).toThrow(ParseError);
    expect(() => objdump(core.subarray(0, 200), { path: "x" })).toThrow(ParseError);
  });

  it("reports sections it was asked for but the object lacks", () => {
    const missing: string[] = [];
    const text = objdump(core, { path: "x.o", sections: ["nope", "kprobe/types"], onMissingSection: (n) => missing.push(n) });
    expect(missing).toEqual(["nope"]);
    expect(text).toContain("Disassembly of section kprobe/types:");
    expect(text).not.toContain("kprobe/fields");
  });
});

// ---- mutations -------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rnd: () => number, list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;

const OPCODES = [
  0x04, 0x07, 0x0c, 0x0f, 0x14, 0x17, 0x34, 0x37, 0x3c, 0x3f, 0x84, 0x87, 0x8c, 0x94, 0x9f, 0xb4, 0xb7, 0xbc, 0xbf, 0xd4,
  0xd7, 0xdc, 0xdf, 0x05, 0x06, 0x0d, 0x15, 0x1d, 0x16, 0x85, 0x8d, 0x86, 0x95, 0x96, 0xe5, 0xe6, 0xf5, 0x18, 0x20, 0x38,
  0x40, 0x58, 0x61, 0x79, 0x81, 0x99, 0x62, 0x7a, 0x63, 0x7b, 0xc3, 0xdb, 0xcb, 0xd3, 0x00, 0xff,
];
const OFFSETS = [0, 1, -1, 2, 8, 16, 32, -3, 0x7fff, -0x8000];
const IMMEDIATES = [0, 1, -1, 16, 32, 64, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1, 0x03, 0xe0, 0x100, 0x110, 0x7fffffff, -0x80000000];

function mutateInstructions(original: Uint8Array, rnd: () => number): Uint8Array {
  const bytes = original.slice();
  const elf = readElf(bytes);
  const le = elf.byteOrder === "little";
  const view = new DataView(bytes.buffer);
  for (const s of elf.sections) {
    if ((s.flags & SHF.EXECINSTR) === 0 || s.type === SHT.NOBITS || s.size < 8) continue;
    const words = Math.floor(s.size / 8);
    for (let n = Math.max(1, Math.floor(words / 4)); n > 0; n--) {
      const pos = s.offset + 8 * Math.floor(rnd() * words) + (rnd() < 0.1 ? Math.floor(rnd() * 8) : 0);
      if (pos + 8 > s.offset + s.size) continue;
      if (rnd() < 0.08) {
        bytes.fill(0, pos, Math.min(s.offset + s.size, pos + 8 + Math.floor(rnd() * 16)));
        continue;
      }
      const reg = () => (rnd() < 0.8 ? Math.floor(rnd() * 12) : Math.floor(rnd() * 16));
      const dst = reg();
      const src = reg();
      view.setUint8(pos, rnd() < 0.9 ? pick(rnd, OPCODES) : Math.floor(rnd() * 256));
      view.setUint8(pos + 1, le ? (src << 4) | dst : (dst << 4) | src);
      view.setInt16(pos + 2, rnd() < 0.7 ? pick(rnd, OFFSETS) : Math.floor(rnd() * 65536) - 32768, le);
      view.setInt32(pos + 4, rnd() < 0.7 ? pick(rnd, IMMEDIATES) : Math.floor(rnd() * 2 ** 32) | 0, le);
    }
  }
  return bytes;
}

function mutateSymbols(original: Uint8Array, rnd: () => number): Uint8Array {
  const bytes = original.slice();
  const elf = readElf(bytes);
  const le = elf.byteOrder === "little";
  const view = new DataView(bytes.buffer);
  const symtab = elf.symbolTable!;
  const names = elf.symbols.map((s) => s.nameOffset);
  const types = [STT.NOTYPE, STT.OBJECT, STT.FUNC, STT.SECTION, STT.FILE, STT.COMMON, STT.TLS, 10];
  for (const sym of elf.symbols.slice(1)) {
    if (rnd() < 0.3) continue;
    const pos = symtab.offset + sym.index * 24;
    const bind = sym.bind; // keep locals before globals
    view.setUint8(pos + 4, (bind << 4) | pick(rnd, types));
    if (rnd() < 0.3) view.setUint32(pos, rnd() < 0.2 ? 0 : pick(rnd, names), le);
    // A common symbol's address is its size.
    if (rnd() < 0.2) view.setUint32(pos + (le ? 16 : 20), 8 * Math.floor(rnd() * 4), le);
    const section = elf.sections[sym.sectionIndex];
    if (section && sym.sectionIndex !== 0 && rnd() < 0.5) {
      const value = rnd() < 0.8 ? 8 * Math.floor(rnd() * (section.size / 8 + 1)) : Math.floor(rnd() * (section.size + 24));
      view.setUint32(pos + (le ? 8 : 12), value, le);
    }
  }
  return bytes;
}

function mutateRelocations(original: Uint8Array, rnd: () => number): Uint8Array {
  const bytes = original.slice();
  const elf = readElf(bytes);
  const le = elf.byteOrder === "little";
  const view = new DataView(bytes.buffer);
  for (const rel of elf.sections.filter((s) => s.type === SHT.REL)) {
    const target = elf.sections[rel.info]!;
    for (const entry of elf.relocations(rel)) {
      const pos = rel.offset + entry.index * 16;
      // Types whose width still fits at the entry's offset (the reader checks it).
      const room = target.size - entry.offset;
      const types = [0, 2, 3, 4, 10, 11, 99, 1].filter((t) => (t === 1 ? room >= 16 : t === 2 ? room >= 8 : t === 0 ? true : room >= 4));
      view.setUint32(pos + (le ? 8 : 12), pick(rnd, types), le);
      if (rnd() < 0.2) view.setUint32(pos + (le ? 12 : 8), 0, le);
      else if (rnd() < 0.3) view.setUint32(pos + (le ? 12 : 8), Math.floor(rnd() * elf.symbols.length), le);
    }
  }
  return bytes;
}

function mutateCoreRecords(original: Uint8Array, rnd: () => number): Uint8Array {
  const bytes = original.slice();
  const elf = readElf(bytes);
  const le = elf.byteOrder === "little";
  const view = new DataView(bytes.buffer);
  const btfSection = elf.sectionByName(".BTF")!;
  const ext = elf.sectionByName(".BTF.ext")!;
  const btf = new Btf(btfSection.data);
  const strLen = view.getUint32(btfSection.offset + 20, le);
  const u32 = (p: number) => view.getUint32(p, le);
  const start = ext.offset + u32(ext.offset + 4) + u32(ext.offset + 24);
  const end = start + u32(ext.offset + 28);
  const recSize = u32(start);
  for (let p = start + 4; p < end; ) {
    const count = u32(p + 4);
    p += 8;
    for (let i = 0; i < count; i++, p += recSize) {
      if (rnd() < 0.4) continue;
      const r = rnd();
      if (r < 0.35) view.setUint32(p + 4, rnd() < 0.1 ? 0xffffffff : Math.floor(rnd() * (btf.typeCount + 3)), le);
      else if (r < 0.75) view.setUint32(p + 8, rnd() < 0.05 ? strLen + 10 : Math.floor(rnd() * strLen), le);
      else view.setUint32(p + 12, rnd() < 0.1 ? 0xfffffff0 : Math.floor(rnd() * 15), le);
    }
  }
  return bytes;
}

/** `object` with its CO-RE record length set so that the records' end wraps around to before their start. */
function wrappedObject(object: Uint8Array): Uint8Array {
  const bytes = object.slice();
  const elf = readElf(bytes);
  const ext = elf.sectionByName(".BTF.ext")!;
  new DataView(bytes.buffer).setUint32(ext.offset + 28, 0xfffffff0, elf.byteOrder === "little");
  return bytes;
}
