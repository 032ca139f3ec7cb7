/**
 * The static linker (tsebpf link): the fixtures link_a + link_b (an extern function, variable
 * and map of one defined in the other, a weak function overridden, same-named static
 * functions), legacy maps of two record sizes, CO-RE records moved with their section, typed
 * errors; against `bpftool gen object` (libbpf's linker) where it has an answer (little-endian:
 * libbpf 1.1 links only the host's byte order).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Btf, parseBtfExt, type BtfType } from "../../src/btf/index.js";
import { decode, type Instruction } from "../../src/asm/index.js";
import { LinkError, linkObjects, readCollectionSpec, readElf, relocateProgram, STB, STT, SHN } from "../../src/elf/index.js";
import { describeFunction, readCodeSections } from "../../src/elf/code.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { itWith } from "../helpers/oracle.js";

/** A fixture by its name in test/fixtures, or any object by its path. */
const fixture = (name: string) => {
  const path = name.includes("/") ? name : `test/fixtures/${name}`;
  return { name: path, bytes: readFileSync(path) };
};
const ORDERS = [["el", "little"], ["eb", "big"]] as const;

describe("tsebpf link", () => {
  it("links link_a + link_b: programs, subprograms, maps and variables of both, externs resolved (both byte orders)", () => {
    for (const [o, order] of ORDERS) {
      const linked = linkObjects([fixture(`link_a.bpf${o}.o`), fixture(`link_b.bpf${o}.o`)]);
      const spec = readCollectionSpec(linked);
      expect(spec.byteOrder).toBe(order);
      expect([...spec.programs.keys()].sort()).toEqual(["link_main", "link_other"]);
      expect([...(spec.programs.get("link_main")?.subprograms ?? [])].sort()).toEqual(["link_add", "link_pick", "twice"]);
      // link_b's static twice() keeps its code, under a name of its own in the symbol table.
      expect([...(spec.programs.get("link_other")?.subprograms ?? [])].sort()).toEqual(["link_add", "twice.1"]);
      expect([...spec.maps.keys()].sort()).toEqual([".data", "link_a_only", "link_hits"]);
      expect(spec.maps.get("link_hits")).toMatchObject({ type: 2, keySize: 4, valueSize: 8, maxEntries: 4 });
      const data = spec.maps.get(".data")?.data as Uint8Array;
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      expect(spec.variables.get("link_a_value")).toMatchObject({ map: ".data", offset: 0, size: 4 });
      expect(spec.variables.get("link_scale_base")).toMatchObject({ map: ".data", offset: 4, size: 4 });
      expect([view.getInt32(0, order === "little"), view.getInt32(4, order === "little")]).toEqual([40, 3]);
      expect(spec.license).toBe("GPL");

      const elf = readElf(linked);
      const sym = (name: string) => elf.symbols.filter((s) => s.name === name);
      // Nothing left undefined; the strong link_pick (link_b's, after link_a's weak one) won.
      expect(elf.symbols.filter((s) => s.index > 0 && s.sectionIndex === SHN.UNDEF)).toEqual([]);
      expect(sym("link_pick")).toHaveLength(1);
      expect(sym("link_pick")[0]).toMatchObject({ bind: STB.GLOBAL, type: STT.FUNC });
      const b = readElf(readFileSync(`test/fixtures/link_b.bpf${o}.o`));
      const text = elf.sectionByName(".text");
      const pick = sym("link_pick")[0];
      const bPick = b.symbols.find((s) => s.name === "link_pick");
      const bText = b.sectionByName(".text");
      expect(decode(text?.data.subarray(pick?.value, (pick?.value ?? 0) + (pick?.size ?? 0)) ?? new Uint8Array(), order)).toEqual(
        decode(bText?.data.subarray(bPick?.value, (bPick?.value ?? 0) + (bPick?.size ?? 0)) ?? new Uint8Array(), order),
      );

      // BTF: one DATASEC per section, variables at their new offsets, no extern left.
      const btf = spec.btf as Btf;
      const types = btf.types();
      const datasec = (name: string) => types.find((t): t is Extract<BtfType, { kind: "datasec" }> => t.kind === "datasec" && t.name === name);
      expect(datasec(".data")?.vars.map((v) => [btf.nameOf(v.type), v.offset, v.size])).toEqual([["link_a_value", 0, 4], ["link_scale_base", 4, 4]]);
      expect(datasec(".maps")?.vars.map((v) => [btf.nameOf(v.type), v.offset])).toEqual([["link_a_only", 0], ["link_hits", 32]]);
      expect(datasec(".data")?.size).toBe(8);
      expect(types.filter((t) => (t.kind === "func" || t.kind === "var") && t.linkage === "extern")).toEqual([]);
      // Identical types are kept once: one `int`, one FUNC per global function.
      expect(types.filter((t) => t.kind === "int" && t.name === "int")).toHaveLength(1);
      expect(types.filter((t) => t.kind === "func" && t.name === "link_add")).toHaveLength(1);
      // func_info follows each function to its new place.
      const main = spec.programs.get("link_main");
      expect(main?.funcInfo.map((f) => btf.nameOf(f.typeId))).toEqual(["link_main", ...(main?.subprograms ?? []).map((n) => n.replace(/\.\d+$/, ""))]);
      const other = spec.programs.get("link_other");
      expect(other?.funcInfo.map((f) => btf.nameOf(f.typeId))).toEqual(["link_other", ...(other?.subprograms ?? []).map((n) => n.replace(/\.\d+$/, ""))]);
      expect(other?.lineInfo.length).toBeGreaterThan(0);
      expect(other?.lineInfo.every((l) => l.fileName.endsWith("link_b.bpf.c"))).toBe(true);
    }
  });

  it("DATASEC offsets come from the symbols (clang leaves them 0): several maps and globals per object", () => {
    for (const [o] of ORDERS) {
      const linked = readCollectionSpec(linkObjects([fixture(`core_typedefs.bpf${o}.o`), fixture(`tcplife.bpf${o}.o`)]));
      const alone = readCollectionSpec(readFileSync(`test/fixtures/tcplife.bpf${o}.o`));
      const shape = (m: { name: string; type: number; keySize: number; valueSize: number; maxEntries: number }) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries];
      expect([...linked.maps.values()].filter((m) => m.section === ".maps").map(shape)).toEqual([
        ["out", 2, 4, 8, 32],
        ...[...alone.maps.values()].filter((m) => m.section === ".maps").map(shape),
      ]);
      expect(linked.variables.get("target_port")).toMatchObject({ map: ".rodata", offset: 0, size: 2 });
    }
  });

  it("legacy maps sections whose records differ in size per object (20 and 28 bytes) link and read back", () => {
    for (const [o] of ORDERS) {
      const spec = readCollectionSpec(linkObjects([fixture(`legacy.bpf${o}.o`), fixture(`link_legacy.bpf${o}.o`)]));
      const maps = [...spec.maps.values()].map((m) => [m.name, m.typeName, m.keySize, m.valueSize, m.maxEntries]);
      expect(maps).toEqual([
        ["legacy_hash", "HASH", 4, 8, 16],
        ["legacy_array", "ARRAY", 4, 4, 4],
        ["legacy_wide", "ARRAY", 4, 8, 8],
        ["legacy_wide2", "HASH", 4, 4, 32],
      ]);
      expect([...spec.programs.keys()]).toEqual(["legacy", "legacy_wide_prog"]);
    }
  });

  it("CO-RE records move with their section: core_typedefs linked after link_b resolves as it does alone", () => {
    for (const [o] of ORDERS) {
      const alone = readCollectionSpec(readFileSync(`test/fixtures/core_typedefs.bpf${o}.o`));
      const linked = readCollectionSpec(linkObjects([fixture(`link_b.bpf${o}.o`), fixture(`core_typedefs.bpf${o}.o`)]));
      const before = relocateProgram(alone, alone.programs.get("core_typedefs") as never, alone.btf as Btf);
      const after = relocateProgram(linked, linked.programs.get("core_typedefs") as never, linked.btf as Btf);
      const show = (r: (typeof before.resolutions)[number], btf: Btf) => [r.insnIndex, r.kindName, r.path, r.poison, r.kind === 6 || r.kind === 7 ? btf.nameOf(Number(r.target)) : r.target];
      expect(after.resolutions.map((r) => show(r, linked.btf as Btf))).toEqual(before.resolutions.map((r) => show(r, alone.btf as Btf)));
      expect(after.instructions.length).toBe(before.instructions.length);
    }
  });

  it("refuses two strong definitions (naming both files and the symbol), mixed byte orders, and nothing to link", () => {
    let error: unknown;
    try {
      linkObjects([fixture("link_a.bpfel.o"), fixture("link_b.bpfel.o"), fixture("link_a.bpfel.o")]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LinkError);
    expect((error as LinkError).files).toEqual(["test/fixtures/link_a.bpfel.o", "test/fixtures/link_a.bpfel.o"]);
    expect((error as LinkError).message).toMatch(/^test\/fixtures\/link_a\.bpfel\.o, test\/fixtures\/link_a\.bpfel\.o: symbol (link_main|link_a_only|link_a_value) is defined in both objects/);
    expect(() => linkObjects([fixture("link_a.bpfel.o"), fixture("link_b.bpfeb.o")])).toThrow(/link_b\.bpfeb\.o: is big-endian but test\/fixtures\/link_a\.bpfel\.o is little-endian/);
    expect(() => linkObjects([])).toThrow(LinkError);
    expect(() => linkObjects([{ name: "junk.o", bytes: new Uint8Array(16) }])).toThrow(/^junk\.o: /);
    // A license that differs is refused too.
    const gpl = readFileSync("test/fixtures/link_a.bpfel.o");
    const other = Buffer.from(gpl);
    const lic = readElf(other).sectionByName("license");
    other.set(Buffer.from("BSD"), lic?.offset as number);
    expect(() => linkObjects([{ name: "a.o", bytes: gpl }, { name: "b.o", bytes: other }])).toThrow(/a\.o, b\.o: section license differs \("GPL" vs "BSD"\)/);
  });

  it("an extern declared with another type than its definition is a LinkError naming both files (as libbpf refuses it)", () => {
    for (const [o] of ORDERS) {
      let error: unknown;
      try {
        linkObjects([fixture(`link_bad.bpf${o}.o`), fixture(`link_b.bpf${o}.o`)]);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(LinkError);
      expect((error as LinkError).symbol).toBe("link_hits");
      expect((error as LinkError).message).toBe(
        `test/fixtures/link_bad.bpf${o}.o, test/fixtures/link_b.bpf${o}.o: extern variable or map link_hits is declared with another type than it is defined with`,
      );
    }
  });

  it("one object alone: its weak definition stays weak, its externs stay undefined for a later link", () => {
    const elf = readElf(linkObjects([fixture("link_a.bpfel.o")]));
    const sym = (name: string) => elf.symbols.find((s) => s.name === name);
    expect(sym("link_pick")).toMatchObject({ bind: STB.WEAK, type: STT.FUNC });
    for (const name of ["link_add", "link_scale_base", "link_hits"]) expect(sym(name), name).toMatchObject({ bind: STB.GLOBAL, sectionIndex: SHN.UNDEF });
    // and linking that with link_b gives what linking the originals gives
    const twice = linkObjects([{ name: "a.o", bytes: linkObjects([fixture("link_a.bpfel.o")]) }, fixture("link_b.bpfel.o")]);
    const once = linkObjects([fixture("link_a.bpfel.o"), fixture("link_b.bpfel.o")]);
    const shape = (bytes: Uint8Array) => {
      const spec = readCollectionSpec(bytes);
      return [...spec.programs.values()].map((p) => [p.name, p.subprograms, p.instructions.map((i) => [i.opcode, i.dst, i.src, i.off, i.imm])]);
    };
    expect(shape(twice)).toEqual(shape(once));
  });

  it("two static functions of one name (as libbpf's linker leaves them) are told apart by section and offset", () => {
    for (const [o] of ORDERS) {
      const linked = linkObjects([fixture(`link_a.bpf${o}.o`), fixture(`link_b.bpf${o}.o`)]);
      // Rename link_b's twice.1 to twice in the string table: both functions are named twice.
      const renamed = Uint8Array.from(linked);
      const strtab = readElf(linked).sectionByName(".strtab") as { offset: number; size: number };
      const at = Buffer.from(renamed.buffer, strtab.offset, strtab.size).indexOf("twice.1\0", 0, "latin1");
      expect(at).toBeGreaterThanOrEqual(0);
      renamed[strtab.offset + at + 5] = 0;
      expect(readElf(renamed).symbols.filter((s) => s.name === "twice")).toHaveLength(2);

      const before = readCollectionSpec(linked);
      const after = readCollectionSpec(renamed);
      const strip = (p: { instructions: readonly Instruction[] } | undefined) => p?.instructions.map(({ symbol: _s, reference: _r, ...ins }) => ins);
      for (const name of ["link_main", "link_other"]) expect(strip(after.programs.get(name)), name).toEqual(strip(before.programs.get(name)));
      expect(after.programs.get("link_main")?.subprograms).toEqual(before.programs.get("link_main")?.subprograms);
      expect(after.programs.get("link_other")?.subprograms).toEqual(before.programs.get("link_other")?.subprograms?.map((s) => s.replace(".1", "")));
      // The instructions name each by its place: the label of a name two functions share.
      const calls = (name: string) => after.programs.get(name)?.instructions.filter((i) => i.reference?.startsWith("twice")).map((i) => i.reference) ?? [];
      const labels = [...calls("link_main"), ...calls("link_other")];
      expect(labels).toHaveLength(2);
      for (const l of labels) expect(l).toMatch(/^twice@\.text\+\d+$/);
      expect(new Set(labels).size).toBe(2);
      const [main] = calls("link_main");
      expect(after.programs.get("link_main")?.instructions.filter((i) => i.symbol === main)).toHaveLength(1);
      // Messages name such a function with its place; a name of its own stays bare.
      const fns = [...readCodeSections(readElf(renamed)).values()].flatMap((c) => c.functions);
      const twices = fns.filter((f) => f.name === "twice");
      expect(twices.map(describeFunction)).toEqual(twices.map((f) => `twice (.text+${f.start * 8})`));
      expect(twices.map((f) => f.label)).toEqual(twices.map((f) => `twice@.text+${f.start * 8}`));
      expect(fns.filter((f) => f.name === "link_add").map(describeFunction)).toEqual(["link_add"]);
    }
  });

  it("a linked object links again (the output is a valid input)", () => {
    const ab = linkObjects([fixture("link_a.bpfel.o"), fixture("link_b.bpfel.o")]);
    const again = readCollectionSpec(linkObjects([{ name: "ab.o", bytes: ab }, fixture("core_typedefs.bpfel.o")]));
    expect([...again.programs.keys()].sort()).toEqual(["core_typedefs", "link_main", "link_other"]);
  });
});

describe("tsebpf link against bpftool gen object", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-link-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Object sets both linkers link (little-endian: libbpf 1.1 links only the host's byte order). */
  const SETS: readonly (readonly string[])[] = [
    ["link_a.bpfel.o", "link_b.bpfel.o"],
    ["core.bpfel.o", "tcplife.bpfel.o"],
    ["core_typedefs.bpfel.o", "tcplife.bpfel.o"],
    ["link_b.bpfel.o", "core_run.bpfel.o", "optional.bpfel.o"],
    ["legacy.bpfel.o", "link_legacy.bpfel.o"],
    // Static variables of one name in .bss, .data and .rodata of both (tsebpf renames the second name.1).
    ["link_static_a.bpfel.o", "link_static_b.bpfel.o"],
    // Objects built on vmlinux.h: hundreds of kernel types to merge (760 and 132 after it).
    ["src/programs/comtrace/comtrace.bpf.o", "link_b.bpfel.o"],
    ["src/programs/jittergen/jittergen.bpf.o", "link_b.bpfel.o"],
  ];

  itWith(bpftoolMissing)("same sections, symbols, relocations, BTF types and .BTF.ext records as libbpf's linker", () => {
    type Elf = ReturnType<typeof readElf>;
    const linked = (e: Elf) => e.sections.filter((s) => s.type === 1 && s.name !== ".BTF" && s.name !== ".BTF.ext").map((s) => [s.name, s.size, s.data.length ? Buffer.from(s.data).toString("hex") : ""]);
    const globals = (e: Elf) => e.symbols.filter((s) => s.bind !== STB.LOCAL).map((s) => [s.name, s.type, s.bind, e.sections[s.sectionIndex]?.name, s.value, s.size]).sort();
    const functions = (e: Elf) => e.symbols.filter((s) => s.type === STT.FUNC).map((s) => [e.sections[s.sectionIndex]?.name, s.value, s.size]).sort();
    const relocations = (e: Elf) => e.sections.filter((s) => s.type === 9).flatMap((s) => e.relocations(s).map((x) => [e.sections[s.info]?.name, x.offset, x.type, x.symbol.name || e.sections[x.symbol.sectionIndex]?.name])).sort();
    const btfOf = (e: Elf) => new Btf(e.sectionByName(".BTF")?.data as Uint8Array);
    // A VAR once per name: libbpf's linker keeps one per static variable, tsebpf's merge one for
    // equal static variables of two objects (a blob merged with itself stays one copy); each
    // global-data DATASEC lists every variable at its own offset either way (datasecsOf).
    const typesOf = (e: Elf) => [...new Set(btfOf(e).types().map((t) => `${t.kind} ${t.name}`).filter((x, i, all) => !x.startsWith("var ") || all.indexOf(x) === i))].sort();
    const datasecsOf = (e: Elf) => {
      const btf = btfOf(e);
      // Global data only: libbpf 1.1 lists a .maps variable it placed after another at offset 0.
      return btf.types().flatMap((t) => (t.kind === "datasec" && /^\.(bss|data|rodata)/.test(t.name) ? [`${t.name} ${t.size}: ${t.vars.map((v) => `${btf.nameOf(v.type)}@${v.offset}/${v.size}`).join(" ")}`] : [])).sort();
    };
    const extOf = (e: Elf) => {
      const btf = btfOf(e);
      const ext = parseBtfExt(e.sectionByName(".BTF.ext")?.data as Uint8Array, btf);
      const rows: string[] = [];
      for (const [sec, list] of ext.funcInfo) for (const f of list) rows.push(`func ${sec} ${f.insnOff} ${btf.nameOf(f.typeId)}`);
      for (const [sec, list] of ext.lineInfo) for (const l of list) rows.push(`line ${sec} ${l.insnOff} ${l.fileName}:${l.lineNumber}:${l.column}`);
      for (const [sec, list] of ext.coreRelos) for (const c of list) rows.push(`core ${sec} ${c.insnOff} ${c.kind} ${c.accessStr} ${btf.nameOf(c.typeId)}`);
      return rows.sort();
    };
    SETS.forEach((names, n) => {
      const inputs = names.map(fixture);
      const ref = join(dir, `ref${n}.o`);
      const r = spawnSync(bpftool as string, ["gen", "object", ref, ...inputs.map((i) => i.name)], { encoding: "utf8" });
      expect(r.status, `${names.join(" + ")}: ${r.stderr}`).toBe(0);
      const theirs = readElf(readFileSync(ref));
      const ours = readElf(linkObjects(inputs));
      const what = names.join(" + ");
      // Section contents byte for byte: the same code (relocated addends included) and data.
      expect(linked(ours), what).toEqual(linked(theirs));
      expect(globals(ours), what).toEqual(globals(theirs));
      expect(functions(ours), what).toEqual(functions(theirs));
      expect(relocations(ours), what).toEqual(relocations(theirs));
      // Types deduplicated as far as libbpf's linker does: the same kinds and names.
      expect(typesOf(ours), what).toEqual(typesOf(theirs));
      expect(datasecsOf(ours), what).toEqual(datasecsOf(theirs));
      // func info, line info and CO-RE records at the same places, naming the same types.
      expect(extOf(ours), what).toEqual(extOf(theirs));
      // tsebpf reads libbpf's output as its own (legacy maps of two record sizes included; for
      // link_a + link_b, two static functions both named twice, which tsebpf's linker names
      // twice and twice.1; link_static_a + link_static_b, static variables likewise): the same
      // programs with the same code, maps and variables (each typed).
      const specOf = (bytes: Uint8Array) => {
        const spec = readCollectionSpec(bytes);
        const code = (p: { instructions: readonly Instruction[] }) => p.instructions.map(({ symbol: _s, reference: _r, ...ins }) => ins);
        return {
          programs: [...spec.programs.values()].map((p) => [p.name, p.sectionName, p.subprograms.map((s) => s.replace(/\.\d+$/, "")), code(p)]),
          // In name order: libbpf lists a DATASEC's variables in another order than tsebpf.
          maps: [...spec.maps.values()].map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags]).sort(),
          variables: [...spec.variables.values()].map((v) => [v.name.replace(/\.\d+$/, ""), v.map, v.offset, v.size, v.type !== 0]).sort(),
        };
      };
      expect(specOf(ours.bytes), what).toEqual(specOf(theirs.bytes));
      if (n === 0) {
        // libbpf's two twice()s: each program calls its own object's, told apart by place.
        const spec = readCollectionSpec(theirs.bytes);
        const calls = (name: string) => spec.programs.get(name)?.instructions.filter((i) => i.reference?.startsWith("twice")).map((i) => i.reference);
        expect(spec.programs.get("link_other")?.subprograms, what).toContain("twice");
        expect(calls("link_main")?.[0], what).toMatch(/^twice@\.text\+\d+$/);
        expect(calls("link_other")?.[0], what).toMatch(/^twice@\.text\+\d+$/);
        expect(calls("link_main")?.[0], what).not.toBe(calls("link_other")?.[0]);
      }
    });
    // Both linkers refuse an extern map declared with other attributes than its definition.
    const bad = spawnSync(bpftool as string, ["gen", "object", join(dir, "bad.o"), "test/fixtures/link_bad.bpfel.o", "test/fixtures/link_b.bpfel.o"], { encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/link_hits/);
    expect(() => linkObjects(["link_bad.bpfel.o", "link_b.bpfel.o"].map(fixture))).toThrow(LinkError);
  });
});
