/**
 * Linked objects on the real kernel: link_a + link_b linked by tsebpf load, and
 * BPF_PROG_TEST_RUN proves the cross-object calls and the extern variable and map: link_main
 * returns twice(link_add(40, 3)) + link_pick() = 2 * (40 + 3 * 2) + 100 = 192 (link_pick is
 * link_b's strong one, not link_a's weak one) and counts in link_b's map; link_other reaches
 * link_b's own static twice (renamed twice.1), which adds 7 where link_a's does not. bpftool (libbpf) loads the same linked object;
 * bpftool gen object's link (both statics named twice) loads with tsebpf and gives the same results.
 * Legacy maps of two record sizes load too.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { linkObjects, readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { describeKernel } from "../helpers/kernel.js";
import { itWith } from "../helpers/oracle.js";

const fixture = (name: string) => ({ name, bytes: readFileSync(`test/fixtures/${name}`) });
const packet = Buffer.alloc(64);

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
