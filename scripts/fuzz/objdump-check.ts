/**
 * The campaign's cross-check with llvm-objdump-19 (where installed): an object with random bytes
 * written into its executable sections (instructions only: the headers stay valid) disassembles,
 * with relocations, as llvm-objdump prints it, or tsebpf refuses it with a ParseError.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SHF, SHT, readElf } from "../../src/elf/index.js";
import { objdump } from "../../src/elf/objdump.js";
import { TsebpfError } from "../../src/errors.js";

/** llvm-objdump-19 on PATH, or undefined. */
export const llvmObjdump: string | undefined = (() => {
  for (const c of ["llvm-objdump-19", "llvm-objdump"]) {
    const r = spawnSync(c, ["--version"], { encoding: "utf8" });
    if (r.status === 0 && /LLVM version 19\./.test(r.stdout)) return c;
  }
  return undefined;
})();

/** `bytes` with `writes` ([position, byte], positions modulo the executable bytes) applied to the executable sections' contents; undefined when it has none. */
export function mutateInstructions(bytes: Uint8Array, writes: readonly (readonly [number, number])[]): Uint8Array | undefined {
  let elf;
  try {
    elf = readElf(bytes);
  } catch {
    return undefined;
  }
  const code = elf.sections.filter((s) => s.type === SHT.PROGBITS && (s.flags & SHF.EXECINSTR) !== 0 && s.size > 0);
  const total = code.reduce((n, s) => n + s.size, 0);
  if (total === 0) return undefined;
  const out = bytes.slice();
  for (const [pos, value] of writes) {
    let at = pos % total;
    for (const s of code) {
      if (at < s.size) {
        out[s.offset + at] = value;
        break;
      }
      at -= s.size;
    }
  }
  return out;
}

/** Compares tsebpf's listing of `bytes` (written to `dir`) with llvm-objdump's: undefined when they agree or tsebpf refuses the object, else the first differing line. */
export function objdumpMismatch(bytes: Uint8Array, dir: string, name = "cross.o"): string | undefined {
  if (!llvmObjdump) return undefined;
  const path = join(dir, name);
  let ours: string;
  try {
    ours = objdump(bytes, { path, relocations: true });
  } catch (e) {
    if (e instanceof TsebpfError) return undefined;
    return `tsebpf objdump threw ${(e as Error).name}: ${(e as Error).message}`;
  }
  writeFileSync(path, bytes);
  const r = spawnSync(llvmObjdump, ["-d", "--no-show-raw-insn", "-r", path], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) return undefined; // llvm-objdump refuses it too
  if (r.stdout === ours) return undefined;
  const a = ours.split("\n");
  const b = r.stdout.split("\n");
  const line = a.findIndex((l, i) => l !== b[i]);
  const at = line < 0 ? a.length : line;
  return `listing differs from llvm-objdump at line ${at + 1}: tsebpf ${JSON.stringify(a[at] ?? "<end>")}, llvm-objdump ${JSON.stringify(b[at] ?? "<end>")}`;
}
