/**
 * Every CO-RE relocation of every object in the repository (every little-endian object under
 * test/, and the programs' objects), resolved by tsebpf against this kernel's BTF, compared with what
 * libbpf (the system's libbpf.so) patched into the same instruction: the same value, or both
 * poisoned. Objects libbpf cannot open, or stops on before relocating, are reported (in the
 * test's output), not failed. Three objects linked by tsebpf link are compared the same way.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { Btf } from "../../src/btf/index.js";
import { CoreError, resolveCoreRelocation } from "../../src/btf/core/index.js";
import { linkObjects, readCollectionSpec, type ProgramSpec } from "../../src/elf/index.js";
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

/** Every little-endian BPF object committed under test/ and src/programs/ (fixtures, objdump and gen fixtures, the programs). */
function objects(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.name.endsWith(".bpfel.o") || (e.name.endsWith(".bpf.o") && dir.startsWith("src/programs"))) found.push(path);
    }
  };
  walk("test");
  walk("src/programs");
  return found.sort();
}

/** tsebpf's outcome of one relocation: the value, "poison", or the CoreError's message. */
type Outcome = { value: bigint } | { poison: true } | { error: string };

/**
 * Relocations by `function|insn|kind`, insn counted from the function's start (as libbpf logs
 * them), each resolved on its own (a CoreError is that relocation's outcome).
 */
function tsebpfOutcomes(path: string, kernel: Btf): Map<string, Outcome> {
  const spec = readCollectionSpec(readFileSync(path));
  const out = new Map<string, Outcome>();
  for (const p of spec.programs.values()) {
    // libbpf relocates only what it loads: a ?-section's program is not.
    if (!p.autoload) continue;
    const where = functionOf(p);
    for (const r of p.coreRelos) {
      const [fn, insn] = where(r.slot);
      const key = `${fn}|${insn}|${r.relo.kind}`;
      try {
        const res = resolveCoreRelocation(spec.btf as Btf, { ...r.relo, insnOff: r.slot * 8 }, kernel, { byteOrder: spec.byteOrder });
        out.set(key, res.poison ? { poison: true } : { value: BigInt(res.target as number | bigint) });
      } catch (e) {
        if (!(e instanceof CoreError)) throw e;
        out.set(key, { error: e.message });
      }
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
    let failures = 0;
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
      // Where libbpf failed a relocation (and stopped), tsebpf fails one of that function's too.
      const stopped = new Set(log.failed.map((f) => f.func));
      for (const func of stopped) {
        failures++;
        const errors = [...ours].filter(([key, o]) => key.startsWith(`${func}|`) && "error" in o);
        if (errors.length === 0) mismatches.push(`${path}: ${func}: libbpf failed a relocation, tsebpf resolved them all`);
      }
      // Every relocation tsebpf resolved was also relocated by libbpf (unless libbpf stopped first).
      const theirs = new Set(log.relos.map((l) => `${l.func}|${l.insn}|${l.kind}`));
      for (const key of ours.keys()) {
        if (!theirs.has(key) && !stopped.has(key.split("|")[0] as string)) mismatches.push(`${path}: ${key}: tsebpf resolved it, libbpf logged nothing for it`);
      }
    }
    if (report.length > 0) console.log(`not compared:\n  ${report.join("\n  ")}`);
    console.log(`compared ${compared} relocations of ${comparedObjects.length} objects with libbpf (and ${failures} functions where both refuse a relocation)`);
    expect(mismatches).toEqual([]);
    expect(comparedObjects).toContain("test/fixtures/core_typedefs.bpfel.o");
    expect(comparedObjects).toContain("test/fixtures/core.bpfel.o");
    expect(compared).toBeGreaterThan(300);
    // The objects tsebpf linked were compared too (their CO-RE records moved with their code).
    for (const path of linked) expect(comparedObjects).toContain(path);
  });
});
