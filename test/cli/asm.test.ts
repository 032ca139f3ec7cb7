import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { endianness, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCollectionSpec } from "../../src/elf/index.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { llvmObjdump, llvmMissing } from "../helpers/llvm.js";
import { tsebpf } from "./run.js";
import { itWith } from "../helpers/oracle.js";

const dir = mkdtempSync(join(tmpdir(), "tsebpf-cli-"));
const file = (name: string, content: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

describe("tsebpf asm / disasm", () => {
  const src = file("prog.s", "r0 = 2\nif r1 > 3 goto out\nr1 = 0x100000000 ll\nout:\nexit\n");

  it("asm --hex prints each instruction's encoding", async () => {
    const r = await tsebpf("asm", src, "--hex");
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      "b7 00 00 00 02 00 00 00\n25 01 02 00 03 00 00 00\n18 01 00 00 00 00 00 00 00 00 00 00 01 00 00 00\n95 00 00 00 00 00 00 00\n",
    );
  });

  it("asm -o --raw writes raw bytes that disasm reads back, in both byte orders", async () => {
    for (const order of ["little", "big"]) {
      const out = join(dir, `prog-${order}.bin`);
      expect((await tsebpf("asm", src, "-o", out, "--raw", "--order", order)).code).toBe(0);
      expect(readFileSync(out).length).toBe(40);
      const r = await tsebpf("disasm", out, "--order", order);
      expect(r.stdout).toBe("       0:\tr0 = 0x2\n       1:\tif r1 > 0x3 goto +0x2\n       2:\tr1 = 0x100000000 ll\n       4:\texit\n");
    }
  });

  it("asm -o writes an ELF object with the program", async () => {
    const out = join(dir, "prog.o");
    const xdp = file("xdp.s", '.section xdp,"ax"\nprog:\n r0 = 2\n exit\n.section license,"aw"\n.asciz "GPL"\n');
    expect((await tsebpf("asm", xdp, "-o", out)).code).toBe(0);
    const spec = readCollectionSpec(readFileSync(out));
    expect([...spec.programs.keys()]).toEqual(["prog"]);
    expect(spec.license).toBe("GPL");
  });

  // The object of `asm -o`, as other tools read it (library.md §1: "an ELF object that tsebpf,
  // bpftool and the kernel load").
  const OBJECT_SOURCE = [
    '.section xdp,"ax"',
    "xdp_pass:",
    " r0 = 2",
    " if r1 > 3 goto done",
    " r0 = 0x100000000 ll",
    " call helper",
    "done:",
    " exit",
    '.section .text,"ax"',
    "helper:",
    " r0 = 1",
    " exit",
    '.section license,"aw"',
    '.asciz "GPL"',
    "",
  ].join("\n");

  itWith(bpftoolMissing)(`bpftool reads the object of asm -o${bpftoolMissing ? ` (skipped: ${bpftoolMissing})` : ""}`, async () => {
    // libbpf opens objects of the host's byte order only.
    const order = endianness() === "LE" ? "little" : "big";
    const out = join(dir, "bpftool.o");
    expect((await tsebpf("asm", file("bpftool.s", OBJECT_SOURCE), "-o", out, "--order", order)).code).toBe(0);
    // No BTF in the object, so `bpftool btf dump file` has nothing to read; gen skeleton opens
    // the object with libbpf (ELF header, sections, symbols, relocations, programs) and names
    // each program it found.
    const r = spawnSync(bpftool as string, ["gen", "skeleton", out, "name", "asmobj"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("struct asmobj {");
    expect(r.stdout).toContain("struct bpf_program *xdp_pass;");
    expect(r.stdout).not.toContain("struct bpf_program *helper;"); // a subprogram, not a program
  });

  itWith(llvmMissing)(`llvm-objdump-19 -d shows the object of asm -o as tsebpf disasm does${llvmObjdump ? "" : " (skipped: llvm-objdump-19 is not installed)"}`, async () => {
    for (const order of ["little", "big"]) {
      const out = join(dir, `objdump-${order}.o`);
      expect((await tsebpf("asm", file(`objdump-${order}.s`, OBJECT_SOURCE), "-o", out, "--order", order)).code).toBe(0);
      const theirs = spawnSync(llvmObjdump as string, ["-d", "--no-show-raw-insn", out], { encoding: "utf8" });
      expect(theirs.status).toBe(0);
      const ours = await tsebpf("disasm", out);
      expect(ours.code).toBe(0);
      expect(ours.stdout.trimEnd()).toBe(theirs.stdout.trimEnd());
      expect(ours.stdout).toContain("<xdp_pass>:");
      expect(ours.stdout).toContain("<helper>:");
    }
  });

  it("disasm reads hex text and prints decimal on request", async () => {
    const hex = file("prog.hex", "0xb7,0x00,0x00,0x00,0xff,0xff,0xff,0xff # r0 = -1\n95 00 00 00 00 00 00 00\n");
    const r = await tsebpf("disasm", hex, "--decimal");
    expect(r.stdout).toBe("       0:\tr0 = -1\n       1:\texit\n");
  });

  it("bad input gives one clear line and exit code 1", async () => {
    const cases: [string[], RegExp][] = [
      [["asm", file("bad.s", "r0 = 1\n  r0 += w1\n")], /^tsebpf: .*bad\.s:2:9: both registers of an ALU operation must be r or both w\n$/],
      [["asm", join(dir, "missing.s")], /^tsebpf: .*missing\.s: no such file\n$/],
      [["disasm", file("bad.bin", Buffer.from("9500000000000000ff00000000000000", "hex"))], /^tsebpf: at byte offset 8: unknown opcode 0xff\n$/],
      [["disasm", file("short.bin", Buffer.from("950000", "hex"))], /^tsebpf: .*short\.bin: 3 bytes is not a whole number of 8-byte instructions\n$/],
    ];
    for (const [argv, message] of cases) {
      const r = await tsebpf(...argv);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
    }
  });

  it("disasm --lenient prints <unknown> like llvm-objdump", async () => {
    const bin = file("lenient.bin", Buffer.from("ff000000000000009500000000000000", "hex"));
    const r = await tsebpf("disasm", bin, "--lenient");
    expect(r.stdout).toBe("       0:\t<unknown>\n       1:\texit\n");
  });

  it("helpers lists the helper table", async () => {
    const r = await tsebpf("helpers", "bpf_map_lookup_elem", "--json");
    expect(JSON.parse(r.stdout)).toEqual([
      { id: 1, name: "bpf_map_lookup_elem", prototype: "void *bpf_map_lookup_elem(void *map, const void *key)" },
    ]);
  });

  it("--help names every command", async () => {
    const r = await tsebpf("--help");
    for (const cmd of ["asm", "disasm", "helpers"]) expect(r.stdout).toContain(cmd);
  });
});
