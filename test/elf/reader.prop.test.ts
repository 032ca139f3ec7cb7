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
import { ParseError, SHN, SHT, readElf, type ElfFile } from "../../src/elf/index.js";
import { applyMutations, elfModel, elfModelLayout, mutationTargets, objectMutation, truncation, writeElfModel, type ObjectMutation } from "../../src/testing/index.js";
import { assertProperty, propertyRuns } from "../helpers/property.js";

// ---- properties ----------------------------------------------------------------------------

const readElfModel = (m: Parameters<typeof writeElfModel>[0]) => readElf(writeElfModel(m));

describe("mini objects read back as written", () => {
  it("sections, symbols and relocations round-trip (1,000 objects)", () => {
    assertProperty(
      fc.property(elfModel, (m) => {
        const elf = readElfModel(m);
        const L = elfModelLayout(m);
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
  ...fc.sample(elfModel, { numRuns: 6, seed: 42 }).map(writeElfModel),
  writeElfModel({ ...fc.sample(elfModel, { numRuns: 1, seed: 7 })[0]!, extended: true, xindex: true, order: "big" }),
];

/** Byte ranges worth aiming at in each corpus file: ELF header, section header table, symbols, relocations. */
const targets = corpus.map(mutationTargets);

function mutate(base: number, mutations: ObjectMutation[], cut: number | null): Uint8Array {
  return applyMutations(corpus[base]!, targets[base]!, mutations, cut);
}

/** More cases on demand: `TSEBPF_PROPERTY_RUNS=x20 npx vitest run test/elf/reader.prop.test.ts` (or `make fuzz`). */
const FUZZ_BASE = 10_000;
const FUZZ_RUNS = propertyRuns(FUZZ_BASE);

describe("malformed input only ever raises ParseError", () => {
  const outcomes = { ok: 0, error: 0 };

  it(`byte-mutated objects (${FUZZ_RUNS} cases)`, { timeout: 600_000 }, () => {
    assertProperty(
      fc.property(fc.nat({ max: corpus.length - 1 }), fc.array(objectMutation, { minLength: 1, maxLength: 6 }), truncation, (base, ms, cut) => {
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
