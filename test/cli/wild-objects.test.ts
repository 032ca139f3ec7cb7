// tsebpf inspect and load on objects with undefined symbols (issue 15): listed, refused by load
// before anything is created, resolvable with --const.
import { describe, expect, it } from "vitest";
import { tsebpf } from "./run.js";

describe("undefined symbols in the CLI", () => {
  it("inspect --json lists each program's unresolved references and why it would not load", async () => {
    const r = await tsebpf("inspect", "test/fixtures/unresolved.bpfeb.o", "--json");
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as { programs: { name: string; unresolved: unknown[]; wouldNotLoad: { kind: string; message: string }[] }[]; relocations: Record<string, number> };
    const p = (name: string) => info.programs.find((x) => x.name === name);
    expect(p("uses_const")?.unresolved).toEqual([{ symbol: "MY_CONST", instruction: 0, kind: "load" }]);
    expect(p("uses_const")?.wouldNotLoad).toEqual([{ kind: "unresolved-symbol", message: expect.stringMatching(/^program uses_const: unresolved symbol MY_CONST \(instruction 0\); resolve it to a constant before load: --const MY_CONST=VALUE/) }]);
    expect(p("calls_undefined")?.wouldNotLoad.map((w) => w.message)).toEqual([expect.stringMatching(/unresolved symbol not_defined .*calls but does not define/)]);
    expect(p("plain")).toMatchObject({ unresolved: [], wouldNotLoad: [] });
    expect(info.relocations.unresolved).toBe(5);
  });

  it("inspect lists them as a table and under 'would not load'", async () => {
    const r = await tsebpf("inspect", "test/fixtures/unresolved.bpfel.o");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/unresolved symbols:\n\s*PROGRAM\s+SYMBOL\s+INSN\s+KIND\n/);
    expect(r.stdout).toMatch(/uses_two\s+OTHER_CONST\s+\d+\s+load/);
    expect(r.stdout).toMatch(/calls_undefined\s+not_defined\s+\d+\s+call/);
    expect(r.stdout).toMatch(/would not load:\n(.*\n)*\s+program uses_forward: unresolved symbol forward_declared/);
    expect(r.stdout).toMatch(/relocations: .*5 unresolved/);
  });

  it("load refuses in one line naming the symbol; --const rejects what it cannot resolve", async () => {
    const r = await tsebpf("load", "test/fixtures/unresolved.bpfel.o", "-p", "uses_const");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsebpf: program "uses_const": unresolved symbol MY_CONST \(instruction 0, a 64-bit load\).*--const MY_CONST=VALUE.*\n$/);
    const bad = await tsebpf("load", "test/fixtures/unresolved.bpfel.o", "--const", "MY_CONST=abc");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^tsebpf: --const: expected NAME=INTEGER, not 'MY_CONST=abc'\n$/);
    const unknown = await tsebpf("load", "test/fixtures/unresolved.bpfel.o", "--const", "NOPE=1");
    expect(unknown.stderr).toMatch(/^tsebpf: --const NOPE=1: no unresolved symbol "NOPE" in this object \(there are: MY_CONST, OTHER_CONST, forward_declared, not_defined\)\n$/);
    const call = await tsebpf("load", "test/fixtures/unresolved.bpfel.o", "--const", "not_defined=1");
    expect(call.stderr).toMatch(/^tsebpf: --const not_defined=1: program "calls_undefined": symbol not_defined is called .*only a 64-bit load takes a constant\n$/);
  });

  it("--help of load and inspect say how", async () => {
    expect((await tsebpf("load", "--help")).stdout).toMatch(/--const <name=value\.\.\.>/);
    expect((await tsebpf("inspect", "--help")).stdout).toMatch(/unresolved symbols/);
  });
});
