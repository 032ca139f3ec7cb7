/** `tsebpf btf dump` on crafted BTF: a loop or an endless chain is one line and exit 1, never a crash or wrong C. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { marshalBtf, type BtfType } from "../../src/btf/index.js";
import { tsebpf } from "./run.js";

const dir = mkdtempSync(join(tmpdir(), "tsebpf-btf-dump-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const int: BtfType = { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 };
function file(name: string, types: BtfType[]): string {
  const path = join(dir, name);
  writeFileSync(path, marshalBtf(types));
  return path;
}

describe("tsebpf btf dump on crafted BTF", () => {
  it("a typedef loop: one line naming the types, exit 1, nothing on stdout", async () => {
    const path = file("loop.btf", [int, { kind: "typedef", name: "a", type: 3 }, { kind: "typedef", name: "b", type: 2 }]);
    const r = await tsebpf("btf", "dump", path, "--format", "c");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^tsebpf: type [23]: .*(loop|holds itself).*\n$/);
  });

  it("a chain of 100,000 typedefs: legal C, printed in order without recursion (no stack overflow)", async () => {
    const chain: BtfType[] = [int];
    for (let i = 0; i < 100_000; i++) chain.push({ kind: "typedef", name: `t${i}`, type: i + 1 });
    const r = await tsebpf("btf", "dump", file("chain.btf", chain), "--format", "c");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.indexOf("typedef int t0;")).toBeLessThan(r.stdout.indexOf("typedef t0 t1;"));
    expect(r.stdout).toContain("typedef t99998 t99999;");
  });

  it("a struct holding itself by value: one line, exit 1 (no C that cannot compile)", async () => {
    const self: BtfType = { kind: "struct", name: "s", size: 8, bitfields: false, members: [{ name: "i", type: 1, bitOffset: 0, bitSize: 0 }, { name: "self", type: 2, bitOffset: 32, bitSize: 0 }] };
    const r = await tsebpf("btf", "dump", file("self.btf", [int, self]), "--format", "c");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^tsebpf: type 2: .*\n$/);
  });

  it("legal BTF still dumps", async () => {
    const r = await tsebpf("btf", "dump", file("ok.btf", [int, { kind: "typedef", name: "my_int", type: 1 }]), "--format", "c");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("typedef int my_int;");
  });
});
