/**
 * Static variables of one name in objects linked together (link_static_a + link_static_b: a
 * counter in .bss, a seed in .data and a base in .rodata on each side): libbpf's linker keeps
 * both names, tsebpf's renames the second `counter.1`. Either way each is its own variable,
 * told apart by section and offset: a shared name is keyed `name@section+offset`, the name alone
 * is refused listing those labels, and each program's relocations point at its own.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PseudoLd } from "../../src/asm/index.js";
import {
  AmbiguousVariableError,
  getVariable,
  getVariableInteger,
  linkObjects,
  readCollectionSpec,
  readElf,
  setVariable,
  setVariableText,
  type CollectionSpec,
} from "../../src/elf/index.js";
import { NotFoundError } from "../../src/errors.js";
import { generateBindings } from "../../src/gen/index.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { itWith } from "../helpers/oracle.js";
import { tsebpf } from "../cli/run.js";

const ORDERS = [["el", "little"], ["eb", "big"]] as const;
const fixture = (name: string) => ({ name: `test/fixtures/${name}`, bytes: readFileSync(`test/fixtures/${name}`) });
const linked = (o: string) => linkObjects([fixture(`link_static_a.bpf${o}.o`), fixture(`link_static_b.bpf${o}.o`)]);

/** tsebpf's link with its `.1` renames undone in the string table: the names libbpf's linker leaves. */
function sameNames(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  const strtab = readElf(bytes).sectionByName(".strtab") as { offset: number; size: number };
  const table = Buffer.from(out.buffer, strtab.offset, strtab.size);
  for (const name of ["counter", "seed", "base"]) {
    const at = table.indexOf(`${name}.1\0`, 0, "latin1");
    expect(at, name).toBeGreaterThanOrEqual(0);
    table[at + name.length] = 0;
  }
  return out;
}

/** The variables by label: map, offset, type as C. */
const layout = (spec: CollectionSpec) =>
  Object.fromEntries([...spec.variables].map(([label, v]) => [label, { name: v.name, map: v.map, offset: v.offset, typed: v.type !== 0 }]));

/** Offsets of the data each program's 64-bit loads point at, by section (`.bss+16`). */
const dataLoads = (spec: CollectionSpec, program: string) =>
  (spec.programs.get(program)?.instructions ?? []).filter((i) => i.src === PseudoLd.MAP_VALUE && i.reference !== undefined).map((i) => `${i.reference}+${i.imm2}`).sort();

/** What link_static_a + link_static_b read as when both statics keep their names (libbpf's linker). */
function expectSharedNames(spec: CollectionSpec): void {
  expect(layout(spec)).toEqual({
    "counter@.bss+0": { name: "counter", map: ".bss", offset: 0, typed: true },
    before: { name: "before", map: ".bss", offset: 8, typed: true },
    "counter@.bss+16": { name: "counter", map: ".bss", offset: 16, typed: true },
    "base@.rodata+0": { name: "base", map: ".rodata", offset: 0, typed: true },
    "base@.rodata+4": { name: "base", map: ".rodata", offset: 4, typed: true },
    "seed@.data+0": { name: "seed", map: ".data", offset: 0, typed: true },
    only_a: { name: "only_a", map: ".data", offset: 4, typed: true },
    "seed@.data+8": { name: "seed", map: ".data", offset: 8, typed: true },
  });
  // Each program reaches its own: a's at the start of each section, b's after.
  expect(dataLoads(spec, "static_a")).toEqual([".bss+0", ".data+0", ".data+4", ".rodata+0"]);
  expect(dataLoads(spec, "static_b")).toEqual([".bss+16", ".bss+8", ".data+8", ".rodata+4"]);
  // Initial values by label; the name alone is refused, listing the labels.
  expect(getVariableInteger(spec, "seed@.data+0")).toBe(10n);
  expect(getVariableInteger(spec, "seed@.data+8")).toBe(20n);
  expect(getVariableInteger(spec, "base@.rodata+0")).toBe(100n);
  expect(getVariableInteger(spec, "base@.rodata+4")).toBe(200n);
  expect(getVariableInteger(spec, "only_a")).toBe(3n);
  expect(() => getVariable(spec, "seed")).toThrow(AmbiguousVariableError);
  expect(() => getVariable(spec, "seed")).toThrow('variable "seed" in this object names 2 static variables of linked objects: use one of their labels: seed@.data+0, seed@.data+8');
  expect(() => setVariable(spec, "counter", 1)).toThrow(/counter@\.bss\+0, counter@\.bss\+16/);
  expect(() => setVariableText(spec, "base", "1")).toThrow(AmbiguousVariableError);
  expect(() => getVariable(spec, "seed@.data+4")).toThrow(NotFoundError);
  // Setting one leaves the other as it was.
  setVariable(spec, "seed@.data+8", 21);
  setVariableText(spec, "base@.rodata+0", "101");
  expect(getVariableInteger(spec, "seed@.data+8")).toBe(21n);
  expect(getVariableInteger(spec, "seed@.data+0")).toBe(10n);
  expect(getVariableInteger(spec, "base@.rodata+0")).toBe(101n);
  expect(getVariableInteger(spec, "base@.rodata+4")).toBe(200n);
}

describe("static variables of one name in linked objects", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-link-static-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("each input alone: plain names", () => {
    for (const [o] of ORDERS) {
      expect([...readCollectionSpec(fixture(`link_static_a.bpf${o}.o`).bytes).variables.keys()].sort()).toEqual(["base", "counter", "only_a", "seed"]);
      expect([...readCollectionSpec(fixture(`link_static_b.bpf${o}.o`).bytes).variables.keys()].sort()).toEqual(["base", "before", "counter", "seed"]);
    }
  });

  it("tsebpf's link (second statics renamed name.1) reads, every variable typed from its DATASEC entry (both byte orders)", () => {
    for (const [o, order] of ORDERS) {
      const spec = readCollectionSpec(linked(o));
      expect(spec.byteOrder).toBe(order);
      expect(layout(spec)).toEqual({
        counter: { name: "counter", map: ".bss", offset: 0, typed: true },
        before: { name: "before", map: ".bss", offset: 8, typed: true },
        "counter.1": { name: "counter.1", map: ".bss", offset: 16, typed: true },
        base: { name: "base", map: ".rodata", offset: 0, typed: true },
        "base.1": { name: "base.1", map: ".rodata", offset: 4, typed: true },
        seed: { name: "seed", map: ".data", offset: 0, typed: true },
        only_a: { name: "only_a", map: ".data", offset: 4, typed: true },
        "seed.1": { name: "seed.1", map: ".data", offset: 8, typed: true },
      });
      expect(getVariableInteger(spec, "seed")).toBe(10n);
      expect(getVariableInteger(spec, "seed.1")).toBe(20n);
      expect(getVariableInteger(spec, "base.1")).toBe(200n);
      expect(dataLoads(spec, "static_b")).toContain(".bss+16");
    }
  });

  it("the same link with both statics named alike (as libbpf's linker leaves them) reads by label (both byte orders)", () => {
    for (const [o] of ORDERS) expectSharedNames(readCollectionSpec(sameNames(linked(o))));
  });

  itWith(bpftoolMissing)("bpftool gen object's link reads by label, as tsebpf's with the names alike", () => {
    const ref = join(dir, "bpftool-static.o");
    const r = spawnSync(bpftool as string, ["gen", "object", ref, "test/fixtures/link_static_a.bpfel.o", "test/fixtures/link_static_b.bpfel.o"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const bytes = readFileSync(ref);
    expect(readElf(bytes).symbols.filter((s) => s.name === "counter")).toHaveLength(2);
    expectSharedNames(readCollectionSpec(bytes));
  });

  it("tsebpf gen names each variable of a shared name by its label: no property twice", () => {
    const code = generateBindings(readCollectionSpec(sameNames(linked("el"))), { object: { path: "same-names.o" } });
    const keys = (iface: string) => [...(new RegExp(`export interface ${iface} \\{([^}]*)\\}`).exec(code)?.[1] ?? "").matchAll(/^\s+(?:readonly )?("[^"]+"|\w+):/gm)].map((m) => m[1]);
    for (const iface of ["VariableValues", "Variables"]) {
      expect(keys(iface).sort(), iface).toEqual(['"base@.rodata+0"', '"base@.rodata+4"', '"counter@.bss+0"', '"counter@.bss+16"', '"seed@.data+0"', '"seed@.data+8"', "before", "only_a"]);
    }
    expect(code).toContain('collection.variable("counter@.bss+16", ');
  });

  it("inspect lists both with their labels (table and --json)", async () => {
    const path = join(dir, "same-names.o");
    writeFileSync(path, sameNames(linked("el")));
    const r = await tsebpf("inspect", path);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/counter@\.bss\+0\s+\.bss\s+0\s+4\s+int/);
    expect(r.stdout).toMatch(/counter@\.bss\+16\s+\.bss\s+16\s+4\s+int/);
    expect(r.stdout).toMatch(/only_a\s+\.data\s+4\s+4\s+volatile int/);
    const json = await tsebpf("inspect", path, "--json");
    const variables = JSON.parse(json.stdout).variables as { name: string; label: string; offset: number }[];
    expect(variables.filter((v) => v.name === "seed").map((v) => v.label)).toEqual(["seed@.data+0", "seed@.data+8"]);
  });
});
