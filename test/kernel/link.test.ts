/**
 * Linked objects on the real kernel: link_a + link_b linked by tsebpf load, and
 * BPF_PROG_TEST_RUN proves the cross-object calls and the extern variable and map: link_main
 * returns twice(link_add(40, 3)) + link_pick() = 2 * (40 + 3 * 2) + 100 = 192 (link_pick is
 * link_b's strong one, not link_a's weak one) and counts in link_b's map; link_other reaches
 * link_b's own static twice (renamed twice.1), which adds 7 where link_a's does not. bpftool (libbpf) loads the same linked object;
 * bpftool gen object's link (both statics named twice) loads with tsebpf and gives the same results.
 * Legacy maps of two record sizes load too. link_static_a + link_static_b each have a static
 * counter (.bss), seed (.data) and base (.rodata): linked by either linker, each program counts in
 * and reads its own (static_a: base + seed + only_a + counter, 100 + 10 + 3 + 1 = 114 on its
 * first run; static_b: base + seed + counter, 200 + 20 + 2 = 222), set and read by label.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { AmbiguousVariableError, linkObjects, readCollectionSpec, type CollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { ReadOnlyVariableError } from "../../src/runtime/variable.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { describeKernel } from "../helpers/kernel.js";
import { itWith } from "../helpers/oracle.js";

const fixture = (name: string) => ({ name, bytes: readFileSync(`test/fixtures/${name}`) });
const packet = Buffer.alloc(64);

/**
 * link_static_a + link_static_b loaded with b's seed set to 30 and a's base to 101 (`label` names
 * each of a shared name): each program runs twice on its own counter, and b's counter set from
 * user space reaches b's program only.
 */
function expectOwnStatics(spec: CollectionSpec, label: (name: string, side: "a" | "b") => string): void {
  using c = Collection.load(spec, { variables: { [label("seed", "b")]: 30, [label("base", "a")]: 101 } });
  const run = (p: string) => c.program(p).testRun({ data: packet }).returnValue;
  expect([run("static_a"), run("static_a")]).toEqual([101 + 10 + 3 + 1, 101 + 10 + 3 + 2]);
  expect([run("static_b"), run("static_b")]).toEqual([200 + 30 + 2, 200 + 30 + 4]);
  expect(c.variable(label("counter", "a")).get()).toBe(2);
  expect(c.variable(label("counter", "b")).get()).toBe(4);
  expect(c.variable("before").get()).toBe(2n);
  expect(c.variable(label("seed", "a")).get()).toBe(10);
  expect(c.variable(label("base", "b")).get()).toBe(200);
  c.variable(label("counter", "b")).set(100);
  expect(run("static_b")).toBe(200 + 30 + 102);
  expect(run("static_a")).toBe(101 + 10 + 3 + 3);
  expect(c.variable(label("counter", "a")).get()).toBe(3);
  expect(() => c.variable(label("base", "b")).set(1)).toThrow(ReadOnlyVariableError);
}

describeKernel("linked objects load and run", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-link-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("cross-object calls, an extern variable and an extern map work after tsebpf link", () => {
    using c = Collection.load(readCollectionSpec(linkObjects([fixture("link_a.bpfel.o"), fixture("link_b.bpfel.o")])));
    expect(c.program("link_main").testRun({ data: packet }).returnValue).toBe(192);
    expect(c.program("link_main").testRun({ data: packet }).returnValue).toBe(192);
    // link_b's own static twice (x * 2 + 7), not link_a's (x * 2): (1 + 1 * 2) * 2 + 7.
    expect(c.program("link_other").testRun({ data: packet }).returnValue).toBe(13);
    const hits = c.map("link_hits");
    const key = (k: number) => Buffer.from(new Uint32Array([k]).buffer);
    expect((hits.lookup(key(0)) as Buffer).readBigUInt64LE(0)).toBe(2n);
    expect((hits.lookup(key(1)) as Buffer).readBigUInt64LE(0)).toBe(1n);
  });

  it("static variables of one name in both objects (tsebpf link renames the second name.1): each program sees its own", () => {
    expectOwnStatics(readCollectionSpec(linkObjects([fixture("link_static_a.bpfel.o"), fixture("link_static_b.bpfel.o")])), (name, side) => (side === "a" ? name : `${name}.1`));
  });

  itWith(bpftoolMissing)("bpftool gen object's link of link_static_a + link_static_b (statics named alike) loads; each program sees its own, by label", () => {
    const ref = join(dir, "bpftool-static.o");
    const r = spawnSync(bpftool as string, ["gen", "object", ref, "test/fixtures/link_static_a.bpfel.o", "test/fixtures/link_static_b.bpfel.o"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const spec = readCollectionSpec(readFileSync(ref));
    const at = { counter: [".bss+0", ".bss+16"], seed: [".data+0", ".data+8"], base: [".rodata+0", ".rodata+4"] } as Record<string, [string, string]>;
    const label = (name: string, side: "a" | "b") => `${name}@${(at[name] as [string, string])[side === "a" ? 0 : 1]}`;
    // The name alone is refused before anything reaches the kernel, naming the labels.
    expect(() => Collection.load(spec, { variables: { seed: 1 } })).toThrow(AmbiguousVariableError);
    expectOwnStatics(spec, label);
    using c = Collection.load(spec);
    expect(() => c.variable("counter")).toThrow('variable "counter" in this collection names 2 static variables of linked objects: use one of their labels: counter@.bss+0, counter@.bss+16');
    expect(() => c.variable("base@.rodata+4").set(1)).toThrow('Collection.load(spec, { variables: { "base@.rodata+4": … } })');
  });

  it("a program object built on vmlinux.h (comtrace) linked with link_b: every program loads as it does alone, link_b's runs", () => {
    const comtrace = readFileSync("src/programs/comtrace/comtrace.bpf.o");
    const alone = readCollectionSpec(comtrace);
    using c = Collection.load(readCollectionSpec(linkObjects([{ name: "comtrace.bpf.o", bytes: comtrace }, fixture("link_b.bpfel.o")])));
    for (const p of alone.programs.values()) if (p.autoload) expect(c.program(p.name).info().name, p.name).toBe(p.name.slice(0, 15));
    expect(c.program("link_other").testRun({ data: packet }).returnValue).toBe(13);
  });

  it("legacy maps of 20- and 28-byte records, linked, load", () => {
    using c = Collection.load(readCollectionSpec(linkObjects([fixture("legacy.bpfel.o"), fixture("link_legacy.bpfel.o")])));
    expect(c.map("legacy_wide").info()).toMatchObject({ maxEntries: 8, valueSize: 8 });
    expect(c.map("legacy_array").info()).toMatchObject({ maxEntries: 4, valueSize: 4 });
    expect(c.program("legacy_wide_prog").testRun({ data: packet }).returnValue).toBe(2);
  });

  itWith(bpftoolMissing)("bpftool gen object's link of link_a + link_b (two static functions named twice) loads with tsebpf and runs as tsebpf's own link", () => {
    const ref = join(dir, "bpftool-linked.o");
    const r = spawnSync(bpftool as string, ["gen", "object", ref, "test/fixtures/link_a.bpfel.o", "test/fixtures/link_b.bpfel.o"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const spec = readCollectionSpec(readFileSync(ref));
    expect(spec.programs.get("link_other")?.subprograms).toContain("twice");
    using theirs = Collection.load(spec);
    using ours = Collection.load(readCollectionSpec(linkObjects([fixture("link_a.bpfel.o"), fixture("link_b.bpfel.o")])));
    for (const [name, expected] of [["link_main", 192], ["link_other", 13]] as const) {
      const got = theirs.program(name).testRun({ data: packet }).returnValue;
      expect(got, name).toBe(expected);
      expect(got, name).toBe(ours.program(name).testRun({ data: packet }).returnValue);
    }
  });

  itWith(bpftoolMissing)("bpftool prog loadall accepts tsebpf's linked object (libbpf parses its BTF, BTF.ext and relocations)", () => {
    const out = join(dir, "linked.o");
    writeFileSync(out, linkObjects([fixture("link_a.bpfel.o"), fixture("link_b.bpfel.o")]));
    const pin = `/sys/fs/bpf/tsebpf-link-${process.pid}`;
    try {
      const r = spawnSync(bpftool as string, ["prog", "loadall", out, pin], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const shown = spawnSync(bpftool as string, ["-j", "prog", "show", "pinned", `${pin}/link_main`], { encoding: "utf8" });
      expect(JSON.parse(shown.stdout)).toMatchObject({ name: "link_main", type: "socket_filter" });
    } finally {
      rmSync(pin, { recursive: true, force: true });
    }
  });
});
