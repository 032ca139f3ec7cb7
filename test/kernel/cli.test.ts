import { existsSync, readFileSync, rmSync } from "node:fs";
import { readCollectionSpec } from "../../src/elf/index.js";
import { afterAll, expect, it } from "vitest";
import { bpftool, bpftoolJson, bpftoolMissing } from "../helpers/bpftool.js";
import { expectGone, trackOwnObjects } from "../helpers/kernel-objects.js";
import { requireOracle } from "../helpers/oracle.js";
import { describeKernel } from "../helpers/kernel.js";
import { tsebpf } from "../cli/run.js";

const PIN = `/sys/fs/bpf/tsebpf-cli-${process.pid}`;

describeKernel("tsebpf load / prog / map", () => {
  afterAll(() => rmSync(PIN, { recursive: true, force: true }));

  it("load checks every program and releases everything when not pinned", async () => {
    const leftNothing = trackOwnObjects();
    const r = await tsebpf("load", "test/fixtures/globals.bpfel.o", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { programs: { name: string; id: number }[]; maps: { name: string; id: number }[] };
    expect(out.programs).toEqual([expect.objectContaining({ name: "globals", type: "xdp" })]);
    expect(out.maps.map((m) => m.name).sort()).toEqual([".bss", ".data", ".data.custom", ".rodata", ".rodata.custom"]);
    await leftNothing();
    // The very objects the run created (by the ids it printed) are gone from the kernel.
    await expectGone({ programs: out.programs.map((p) => p.id), maps: out.maps.map((m) => m.id) });
  });

  it("load --pin keeps programs and maps; prog and map commands work on them", async () => {
    expect((await tsebpf("load", "test/fixtures/maps.bpfel.o", "--pin", PIN)).code).toBe(0);
    expect(existsSync(`${PIN}/use_maps`)).toBe(true);
    expect(existsSync(`${PIN}/maps/pinned_percpu`)).toBe(true);
    const shown = await tsebpf("prog", "show", "pinned", `${PIN}/tail_b`, "--json");
    expect(shown.stderr).toBe("");
    const show = JSON.parse(shown.stdout);
    expect(show).toMatchObject({ name: "tail_b", type: "xdp" });
    requireOracle(bpftool, bpftoolMissing);
    const theirs = bpftoolJson<{ id: number; name: string; tag: string }>("prog", "show", "id", String(show.id));
    expect(theirs).toMatchObject({ id: show.id, name: "tail_b", tag: show.tag });
    const dump = (await tsebpf("prog", "dump", "xlated", "id", String(show.id))).stdout;
    expect(dump).toMatch(/^ {3}0: \(b4\) w0 = 1\n {3}1: \(95\) exit\n$/);
    const run = await tsebpf("prog", "run", "pinned", `${PIN}/tail_b`, "--json");
    expect(JSON.parse(run.stdout)).toMatchObject({ retval: 1 });

    const pinned = ["pinned", `${PIN}/maps/pinned_percpu`];
    const listed = JSON.parse((await tsebpf("map", "show", ...pinned, "--json")).stdout);
    expect(listed).toMatchObject({ name: "pinned_percpu", type: "percpu_hash", bytes_key: 8, bytes_value: 8, max_entries: 64 });
    expect(listed.id).toBeGreaterThan(0);
  });

  it("map update, lookup, dump and delete with hex bytes", async () => {
    const r1 = await tsebpf("load", "test/fixtures/legacy.bpfel.o", "--pin", `${PIN}/legacy`);
    expect(r1.code).toBe(0);
    const m = ["name", "legacy_hash"];
    expect((await tsebpf("map", "update", ...m, "--key", "01 00 00 00", "--value", "2a 00 00 00 00 00 00 00")).code).toBe(0);
    expect((await tsebpf("map", "lookup", ...m, "--key", "01000000")).stdout).toBe("key: 01 00 00 00  value: 2a 00 00 00 00 00 00 00\n");
    expect((await tsebpf("map", "dump", ...m)).stdout).toBe("key: 01 00 00 00  value: 2a 00 00 00 00 00 00 00\nFound 1 element\n");
    expect((await tsebpf("map", "delete", ...m, "--key", "01 00 00 00")).code).toBe(0);
    const gone = await tsebpf("map", "lookup", ...m, "--key", "01 00 00 00");
    expect(gone).toMatchObject({ code: 1, stderr: 'tsebpf: map "legacy_hash": no entry for key 01 00 00 00\n' });
    rmSync(`${PIN}/legacy`, { recursive: true, force: true });
  });

  it("bad input: one clear line, non-zero exit, nothing left in the kernel", async () => {
    const leftNothing = trackOwnObjects();
    const cases: [string[], RegExp][] = [
      [["load", "/nonexistent.o"], /^tsebpf: \/nonexistent\.o: no such file\n$/],
      [["load", "package.json"], /^tsebpf: ELF.*not an ELF file.*\n$|^tsebpf: ELF.*\n$/],
      [["load", "test/fixtures/maps.bpfel.o", "--pin", "/tmp/tsebpf-not-bpffs"], /^tsebpf: BPF_OBJ_PIN map "pinned_percpu" at \/tmp\/tsebpf-not-bpffs\/maps\/pinned_percpu: EPERM.*\n$/],
      [["map", "dump", "name", "no_such_map_tsebpf"], /^tsebpf: no map named no_such_map_tsebpf\n$/],
      [["map", "lookup", "id", "x", "--key", "00"], /^tsebpf: map id must be a number, not 'x'\n$/],
      [["prog", "show", "id", "999999999"], /^tsebpf: BPF_PROG_GET_FD_BY_ID prog id 999999999: ENOENT\n$/],
    ];
    for (const [argv, message] of cases) {
      const r = await tsebpf(...argv);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.stderr, argv.join(" ")).toMatch(message);
    }
    rmSync("/tmp/tsebpf-not-bpffs", { recursive: true, force: true });
    await leftNothing();
  });
});

describeKernel("tsebpf btf dump --id", () => {
  it("reads BTF loaded with a program back from the kernel, as bpftool does", async () => {
    const { Collection } = await import("../../src/runtime/collection.js");
    using c = Collection.load(readCollectionSpec(readFileSync("test/fixtures/globals.bpfel.o")));
    const id = c.program("globals").info().btfId;
    expect(id).toBeGreaterThan(0);
    const ours = await tsebpf("btf", "dump", "--id", String(id));
    expect(ours.code).toBe(0);
    expect(ours.stdout).toContain("DATASEC '.rodata' size=24");
    const { spawnSync } = await import("node:child_process");
    expect(ours.stdout).toBe(spawnSync(requireOracle(bpftool, bpftoolMissing), ["btf", "dump", "id", String(id)], { encoding: "utf8" }).stdout);
  });
});
