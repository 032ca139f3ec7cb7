/**
 * `tsebpf disasm obj.o`: the object listing of llvm-objdump-19 -d [-r] --no-show-raw-insn, run
 * in-process, for every fixture object; its options and its one-line errors.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SHF, SHT, readElf } from "../../src/elf/index.js";
import { objdump } from "../../src/elf/objdump.js";
import { llvmObjdump, llvmMissing } from "../helpers/llvm.js";
import { tsebpf } from "./run.js";
import { describeWith } from "../helpers/oracle.js";

const objects = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? objects(join(dir, e.name)) : e.name.endsWith(".o") ? [join(dir, e.name)] : [],
  );
const FIXTURE_OBJECTS = objects("test/fixtures").sort();
const CORE = "test/fixtures/objdump/core-relos.bpfel.o";
const CALLS = "test/fixtures/objdump/calls.bpfeb.o";

const llvm = (...args: string[]): string =>
  execFileSync(llvmObjdump as string, ["-d", "--no-show-raw-insn", ...args], { encoding: "utf8", maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "ignore"] });

describeWith(llvmMissing)(`tsebpf disasm obj.o prints what llvm-objdump-19 prints${llvmObjdump ? "" : " (skipped: llvm-objdump-19 is not installed)"}`, () => {
  it.each(FIXTURE_OBJECTS)("%s, with and without -r", async (path) => {
    for (const [ours, theirs] of [
      [[], []],
      [["-r"], ["-r"]],
      [["--reloc", "--alu32"], ["-r", "--mattr=+alu32"]],
    ] as const) {
      const r = await tsebpf("disasm", ...ours, path);
      expect(r).toEqual({ code: 0, stdout: llvm(...theirs, path), stderr: "" });
    }
  });

  it("lists several objects of one byte order as llvm-objdump lists them in one run", async () => {
    for (const order of [".bpfel.o", ".bpfeb.o"]) {
      const paths = FIXTURE_OBJECTS.filter((f) => f.endsWith(order));
      expect(paths.length).toBeGreaterThan(10);
      const r = await tsebpf("disasm", "-r", ...paths);
      expect({ order, ...r }).toEqual({ order, code: 0, stdout: llvm("-r", ...paths), stderr: "" });
    }
  });

  it("--section limits the listing to the sections named, executable or not", async () => {
    const r = await tsebpf("disasm", "-r", "--section", "kprobe/enums", "--section", ".BTF.ext", CORE);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(llvm("-r", "-j", "kprobe/enums", "-j", ".BTF.ext", CORE));
    expect(r.stdout).toContain("Disassembly of section kprobe/enums:");
    expect(r.stdout).not.toContain("Disassembly of section kprobe/fields");
  });
});

describe("tsebpf disasm obj.o", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-disasm-object-"));
  const file = (name: string, content: Uint8Array | string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  it("lists an object as the library does, with -r its relocations and CO-RE relocations", async () => {
    const bytes = new Uint8Array(readFileSync(CORE));
    const plain = await tsebpf("disasm", CORE);
    expect(plain).toEqual({ code: 0, stdout: objdump(bytes, { path: CORE }), stderr: "" });
    expect(plain.stdout.startsWith(`\n${CORE}:\tfile format elf64-bpf\n\nDisassembly of section kprobe/fields:\n`)).toBe(true);
    expect(plain.stdout).not.toContain("CO-RE");
    const reloc = await tsebpf("disasm", "-r", CORE);
    expect(reloc.stdout).toBe(objdump(bytes, { path: CORE, relocations: true }));
    expect(reloc.stdout).toContain("\t\t0000000000000020:  CO-RE <byte_off> [6] struct outer::a (0:0)\n");
    expect(reloc.stdout).toContain("\t\t0000000000000000:  CO-RE <enumval_exists> [39] enum small::SMALL_B = -2\n");
  });

  it("shows R_BPF relocations after their instructions and <symbol+offset> after jumps", async () => {
    const r = await tsebpf("disasm", "--reloc", CALLS);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n +\d+:\tcall -0x1\n\t\t[0-9a-f]{16}: {2}R_BPF_64_32\tbpf_task_acquire\n/);
    expect(r.stdout).toMatch(/\n\t\t[0-9a-f]{16}: {2}R_BPF_64_64\t\.rodata\n/);
    expect(r.stdout).toMatch(/goto \+0x1 <visit\+0x28>\n/);
  });

  it("--alu32 prints the 32-bit atomics LLVM 19 reads only with alu32", async () => {
    const plain = await tsebpf("disasm", CALLS);
    const alu32 = await tsebpf("disasm", "--alu32", CALLS);
    expect(plain.stdout).toContain("\t<unknown>\n");
    expect(alu32.stdout).toMatch(/\tlock \*\(u32 \*\)\(r\d \+ 0x0\) \^= w\d\n/);
    expect(alu32.stdout).toMatch(/\tw0 = cmpxchg32_32\(r\d \+ 0x0, w0, w\d\)\n/);
    expect(alu32.stdout).not.toContain("<unknown>");
  });

  it("lists several objects one after the other, each in its own byte order", async () => {
    const paths = [CORE, CALLS, "test/fixtures/tcplife.bpfeb.o", "test/fixtures/tcplife.bpfel.o"];
    const r = await tsebpf("disasm", "--reloc", ...paths);
    const each = paths.map((path) => objdump(new Uint8Array(readFileSync(path)), { path, relocations: true }));
    expect(r).toEqual({ code: 0, stdout: each.join(""), stderr: "" });
    // llvm-objdump-19 would read all four in the first one's byte order; alone, each reads as here.
    if (llvmObjdump) expect(r.stdout).toBe(paths.map((path) => llvm("-r", path)).join(""));
  });

  it("--section with several objects lists the section where it is, and fails only when no object has it", async () => {
    const r = await tsebpf("disasm", "--section", "kprobe/enums", CALLS, CORE);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(objdump(new Uint8Array(readFileSync(CALLS)), { path: CALLS, sections: ["kprobe/enums"] }) + objdump(new Uint8Array(readFileSync(CORE)), { path: CORE, sections: ["kprobe/enums"] }));
    expect(r.stdout).toContain(`\n${CALLS}:\tfile format elf64-bpf\n`);
    expect(r.stdout.match(/Disassembly of section/g)).toEqual(["Disassembly of section"]);
    const none = await tsebpf("disasm", "--section", "nope", CALLS, CORE);
    expect(none).toEqual({ code: 1, stdout: "", stderr: 'tsebpf: no section named "nope" in any of the 2 objects\n' });
  });

  it("with several files, one that cannot be read stops the command before anything is listed", async () => {
    const whole = readFileSync(CORE);
    const truncated = file("several-truncated.o", whole.subarray(0, 200));
    const raw = file("several-raw.hex", "95 00 00 00 00 00 00 00\n");
    const cases: [string[], RegExp][] = [
      [["disasm", CORE, truncated, CALLS], /^tsebpf: .*several-truncated\.o: ELF at offset 0x[0-9a-f]+: section header table .*\n$/],
      [["disasm", CORE, raw], /^tsebpf: .*several-raw\.hex: not an ELF object: raw instructions are disassembled one file at a time\n$/],
      [["disasm", CORE, join(dir, "several-missing.o")], /^tsebpf: .*several-missing\.o: no such file\n$/],
      [["disasm", "--decimal", CORE, CALLS], /^tsebpf: .*core-relos\.bpfel\.o: --decimal applies to raw instructions, not to an ELF object\n$/],
    ];
    for (const [argv, message] of cases) {
      const r = await tsebpf(...argv);
      expect({ argv, code: r.code, stdout: r.stdout }).toEqual({ argv, code: 1, stdout: "" });
      expect(r.stderr).toMatch(message);
    }
  });

  it("with several objects and -r, a relocation that cannot be read stops the command with nothing listed", async () => {
    const bytes = new Uint8Array(readFileSync(CORE));
    const elf = readElf(bytes);
    const rel = elf.sections.find((s) => s.type === SHT.REL && ((elf.sections[s.info]?.flags ?? 0) & SHF.EXECINSTR) !== 0);
    if (!rel) throw new Error(`${CORE} has no relocations of code`);
    bytes.fill(0xff, rel.offset + 12, rel.offset + 16); // entry 0's symbol index (little endian r_info's high half)
    const broken = file("several-broken-rel.o", bytes);
    const r = await tsebpf("disasm", "-r", CALLS, broken);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: "" });
    expect(r.stderr).toMatch(/^tsebpf: .*several-broken-rel\.o: .*relocation entry 0 points at symbol 4294967295.*\n$/);
    // Without -r the relocations are not read: both are listed.
    expect((await tsebpf("disasm", CALLS, broken)).code).toBe(0);
  });

  it("still lists raw instructions and hex text", async () => {
    const hex = file("prog.hex", "b7 00 00 00 02 00 00 00 95 00 00 00 00 00 00 00\n");
    expect((await tsebpf("disasm", hex)).stdout).toBe("       0:\tr0 = 0x2\n       1:\texit\n");
  });

  it("gives one clear line and exit code 1 for a malformed object or options that do not fit", async () => {
    const whole = readFileSync(CORE);
    const cases: [string[], RegExp][] = [
      [["disasm", file("truncated.o", whole.subarray(0, 200))], /^tsebpf: .*truncated\.o: ELF at offset 0x[0-9a-f]+: section header table .*\n$/],
      [["disasm", file("short.o", whole.subarray(0, 10))], /^tsebpf: .*short\.o: ELF at offset 0xa: file is 10 bytes, shorter than the 16-byte ELF identification\n$/],
      [["disasm", "--section", "nope", CORE], /^tsebpf: .*core-relos\.bpfel\.o: no section named "nope"\n$/],
      [["disasm", "--decimal", CORE], /^tsebpf: .*: --decimal applies to raw instructions, not to an ELF object\n$/],
      [["disasm", "--order", "big", CORE], /^tsebpf: .*: --order applies to raw instructions, not to an ELF object\n$/],
      [["disasm", "-r", file("raw.hex", "95 00 00 00 00 00 00 00\n")], /^tsebpf: .*raw\.hex: --reloc needs an ELF object, not raw instructions\n$/],
      [["disasm", join(dir, "missing.o")], /^tsebpf: .*missing\.o: no such file\n$/],
    ];
    for (const [argv, message] of cases) {
      const r = await tsebpf(...argv);
      expect({ argv, code: r.code, stdout: r.stdout }).toEqual({ argv, code: 1, stdout: "" });
      expect(r.stderr).toMatch(message);
    }
  });

  it("warns on stderr when .BTF cannot be read, and lists the rest", async () => {
    const bytes = new Uint8Array(readFileSync(CORE));
    const btfMagic = Buffer.from(bytes).indexOf(Buffer.from([0x9f, 0xeb, 0x01, 0x00]));
    bytes[btfMagic] = 0;
    const broken = file("broken-btf.o", bytes);
    const r = await tsebpf("disasm", "-r", broken);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Disassembly of section kprobe/fields:");
    expect(r.stdout).not.toContain("CO-RE");
    expect(r.stderr).toMatch(/^tsebpf: warning: .*broken-btf\.o: \.BTF: .*magic.*\n$/);
    if (llvmObjdump) expect(r.stdout).toBe(llvm("-r", broken));
  });

  it("--help explains the object listing and its options", async () => {
    const r = await tsebpf("disasm", "--help");
    expect(r.code).toBe(0);
    for (const text of ["-r, --reloc", "--section <name>", "--alu32", "llvm-objdump-19 -d [-r] --no-show-raw-insn", "CO-RE <byte_off>", "[files...]", "Several objects are listed one after the other"]) {
      expect(r.stdout).toContain(text);
    }
  });
});
