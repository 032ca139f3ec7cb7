import { describe, expect, it } from "vitest";
import { tsebpf } from "./run.js";

describe("tsebpf inspect", () => {
  it("prints programs, maps, variables and relocation counts as JSON", async () => {
    const r = await tsebpf("inspect", "test/fixtures/maps.bpfel.o", "--json");
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(Object.keys(info)).toEqual(expect.arrayContaining(["programs", "maps", "variables"]));
    expect(info.programs).toContainEqual(expect.objectContaining({ name: "use_maps", section: "xdp", type: "xdp", attachType: "xdp" }));
    expect(info.maps).toContainEqual(expect.objectContaining({ name: "outer", type: "array_of_maps", innerMap: { type: "array", keySize: 4, valueSize: 4, maxEntries: 1 } }));
    expect(info.maps).toContainEqual(expect.objectContaining({ name: "jump_table", contents: [{ key: 0, value: "tail_a" }, { key: 2, value: "tail_b" }] }));
    expect(info.relocations.maps).toBeGreaterThanOrEqual(10);
  });

  it("prints a readable summary", async () => {
    const r = await tsebpf("inspect", "test/fixtures/globals.bpfeb.o");
    expect(r.stdout).toContain("big endian");
    expect(r.stdout).toMatch(/threshold\s+\.rodata\s+0\s+4\s+const volatile __u32/);
    expect(r.stdout).toMatch(/relocations: 0 maps, 9 data/);
  });

  it("--help says how variables are named (labels where linked statics share a name)", async () => {
    const r = await tsebpf("inspect", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/"variables" names each by its label: its name, or name@section\+offset where static variables\s+of linked objects share the name/);
  });

  it("gives one clear line for a file that is not an object", async () => {
    const r = await tsebpf("inspect", "package.json");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsebpf: ELF.*\n$/);
  });
});
