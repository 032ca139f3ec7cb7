import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { expect, it } from "vitest";
import { Btf, dumpRaw } from "../../src/btf/index.js";
import { readElf } from "../../src/elf/index.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { describeWith, itWith, vmlinuxMissing } from "../helpers/oracle.js";

const raw = (file: string) => spawnSync(bpftool as string, ["btf", "dump", "file", file, "format", "raw"], { encoding: "utf8", maxBuffer: 256 << 20 }).stdout;

describeWith(bpftoolMissing)(`BTF raw dump${bpftoolMissing ? ` (skipped: ${bpftoolMissing})` : ""}`, () => {
  itWith(vmlinuxMissing)("prints the kernel's BTF exactly as bpftool does", { timeout: 60_000 }, () => {
    const ours = dumpRaw(new Btf(readFileSync("/sys/kernel/btf/vmlinux"))).split("\n");
    const theirs = raw("/sys/kernel/btf/vmlinux").split("\n");
    // bpftool sign-extends unsigned 32-bit enumerators past 2^31; compare those as 32-bit.
    const norm = (l: string) => l.replace(/val=(\d{10,})$/, (_m, v: string) => `val=${BigInt.asUintN(32, BigInt(v))}`);
    expect(ours.length).toBe(theirs.length);
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) expect(norm(ours[i] as string)).toBe(norm(theirs[i] as string));
  });

  it("prints every fixture's BTF exactly as bpftool does", { timeout: 30_000 }, () => {
    for (const f of readdirSync("test/fixtures").filter((x) => x.endsWith(".o"))) {
      const section = readElf(readFileSync(`test/fixtures/${f}`)).sectionByName(".BTF");
      if (!section) continue;
      expect(dumpRaw(new Btf(section.data)), f).toBe(raw(`test/fixtures/${f}`));
    }
  });
});
