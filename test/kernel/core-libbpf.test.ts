/**
 * Every CO-RE relocation of every object in the repository (the fixtures, little-endian, and
 * the programs' objects), resolved by tsebpf against this kernel's BTF, compared with what
 * libbpf (the system's libbpf.so) patched into the same instruction: the same value, or both
 * poisoned. Objects libbpf cannot open, or stops on before relocating, are reported (in the
 * test's output), not failed. Three objects linked by tsebpf link are compared the same way.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { Btf } from "../../src/btf/index.js";
import { CoreError } from "../../src/btf/core/index.js";
import { linkObjects, readCollectionSpec, relocateProgram, type ProgramSpec } from "../../src/elf/index.js";
import { describeWith, vmlinuxMissing } from "../helpers/oracle.js";
import { libbpfLoadLog, libbpfMissing, parseLibbpfCoreLog } from "../helpers/libbpf.js";

/** Objects linked by tsebpf (written to a temporary directory): CO-RE records moved by linking. */
const LINKED: readonly (readonly string[])[] = [
  ["link_a.bpfel.o", "link_b.bpfel.o", "core.bpfel.o"],
  ["core_typedefs.bpfel.o", "tcplife.bpfel.o"],
  ["link_b.bpfel.o", "core_run.bpfel.o", "optional.bpfel.o"],
];

function linkedObjects(dir: string): string[] {
  return LINKED.map((names, i) => {
    const path = join(dir, `linked${i}.o`);
    writeFileSync(path, linkObjects(names.map((n) => ({ name: n, bytes: readFileSync(join("test/fixtures", n)) }))));
    return path;
  });
}

const objects = (): string[] => [
  ...readdirSync("test/fixtures").filter((f) => f.endsWith(".bpfel.o")).map((f) => join("test/fixtures", f)),
  ...readdirSync("src/programs", { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => readdirSync(join("src/programs", d.name)).filter((f) => f.endsWith(".bpf.o")).map((f) => join("src/programs", d.name, f))),
].sort();

/** tsebpf's outcome of one relocation: the value, "poison", or the CoreError's message. */
type Outcome = { value: bigint } | { poison: true } | { error: string };

/** Relocations by `function|insn|kind`, insn counted from the function's start (as libbpf logs them). */
function tsebpfOutcomes(path: string, kernel: Btf): Map<string, Outcome> {
  const spec = readCollectionSpec(readFileSync(path));
  const out = new Map<string, Outcome>();
  for (const p of spec.programs.values()) {
    // libbpf relocates only what it loads: a ?-section's program is not.
    if (!p.autoload) continue;
    const where = functionOf(p);
    let resolutions;
    try {
      resolutions = relocateProgram(spec, p, kernel).resolutions;
    } catch (e) {
      if (!(e instanceof CoreError)) throw e;
      for (const r of p.coreRelos) {
        const [fn, insn] = where(r.slot);
        out.set(`${fn}|${insn}|${r.relo.kind}`, { error: e.message });
      }
      continue;
    }
    for (const r of resolutions) {
      const [fn, insn] = where(r.insnIndex);
      const key = `${fn}|${insn}|${r.kind}`;
      out.set(key, r.poison ? { poison: true } : { value: BigInt(r.target as number | bigint) });
    }
  }
  return out;
}

/** Maps a slot of a linked program to [function name, slot from that function's start]. */
function functionOf(p: ProgramSpec): (slot: number) => [string, number] {
  const names = [p.name, ...p.subprograms];
  const starts = p.funcInfo.map((f) => f.slot);
  if (starts.length !== names.length) return (slot) => [p.name, slot];
  return (slot) => {
    let i = 0;
    while (i + 1 < starts.length && (starts[i + 1] as number) <= slot) i++;
    return [names[i] as string, slot - (starts[i] as number)];
  };
}

const same = (a: bigint, b: bigint): boolean => BigInt.asUintN(64, a) === BigInt.asUintN(64, b) || BigInt.asUintN(32, a) === BigInt.asUintN(32, b);

describeWith(vmlinuxMissing ?? libbpfMissing)("CO-RE: tsebpf against libbpf over every object in the repository", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-core-libbpf-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("every relocation libbpf patched has the same value (or is poisoned) in tsebpf", () => {
    const kernel = new Btf(readFileSync("/sys/kernel/btf/vmlinux"));
    const mismatches: string[] = [];
    const report: string[] = [];
    let compared = 0;
    const comparedObjects: string[] = [];
    const linked = linkedObjects(dir);
    for (const path of [...objects(), ...linked]) {
      const log = parseLibbpfCoreLog(libbpfLoadLog(path));
      if (!log.opened) {
        report.push(`${path}: libbpf cannot open it`);
        continue;
      }
      const ours = tsebpfOutcomes(path, kernel);
      if (ours.size === 0 && log.relos.length === 0) continue;
      if (log.relos.length === 0) {
        report.push(`${path}: libbpf stopped before CO-RE (load ${log.load}); tsebpf resolved ${ours.size} relocations`);
        continue;
      }
      comparedObjects.push(path);
      for (const l of log.relos) {
        const key = `${l.func}|${l.insn}|${l.kind}`;
        const mine = ours.get(key);
        compared++;
        const theirs = l.poison ? "poisoned" : String(l.value);
        if (!mine) mismatches.push(`${path}: ${l.func} insn #${l.insn} kind ${l.kind}: libbpf ${theirs}, tsebpf has no such relocation`);
        else if ("error" in mine) mismatches.push(`${path}: ${l.func} insn #${l.insn} kind ${l.kind}: libbpf ${theirs}, tsebpf CoreError ${mine.error}`);
        else if ("poison" in mine ? !l.poison : l.poison || !same(mine.value, l.value as bigint)) {
          mismatches.push(`${path}: ${l.func} insn #${l.insn} kind ${l.kind}: libbpf ${theirs}, tsebpf ${"poison" in mine ? "poisoned" : mine.value}`);
        }
      }
      // Every relocation tsebpf resolved was also relocated by libbpf.
      const theirs = new Set(log.relos.map((l) => `${l.func}|${l.insn}|${l.kind}`));
      for (const key of ours.keys()) if (!theirs.has(key)) mismatches.push(`${path}: ${key}: tsebpf resolved it, libbpf logged nothing for it`);
    }
    if (report.length > 0) console.log(`not compared:\n  ${report.join("\n  ")}`);
    console.log(`compared ${compared} relocations of ${comparedObjects.length} objects with libbpf`);
    expect(mismatches).toEqual([]);
    expect(comparedObjects).toContain("test/fixtures/core_typedefs.bpfel.o");
    expect(comparedObjects).toContain("test/fixtures/core.bpfel.o");
    expect(compared).toBeGreaterThan(300);
    // The objects tsebpf linked were compared too (their CO-RE records moved with their code).
    for (const path of linked) expect(comparedObjects).toContain(path);
  });
});
