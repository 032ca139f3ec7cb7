/** LLVM 19 tools as test oracles: found on PATH, never a dependency of the library. */
import { execFileSync, spawnSync } from "node:child_process";

function find(name: string): string | undefined {
  for (const candidate of [`${name}-19`, name]) {
    const r = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (r.status === 0 && /LLVM version 19\./.test(r.stdout)) return candidate;
  }
  return undefined;
}

export const llvmMc = find("llvm-mc");
export const llvmObjdump = find("llvm-objdump");
export const clang = (() => {
  const r = spawnSync("clang-19", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? "clang-19" : undefined;
})();

/** Why LLVM-oracle tests cannot run here, or undefined when they can. */
export const llvmMissing = llvmMc && llvmObjdump ? undefined : "llvm-19 (llvm-mc-19, llvm-objdump-19) is not installed";

/** `llvm-mc -show-encoding`: the bytes of each assembled line, in order. */
export function mcEncode(text: string, triple = "bpfel"): { lines: number[][]; stderr: string } {
  const r = spawnSync(llvmMc as string, [`-triple=${triple}`, "-show-encoding"], { input: text, encoding: "utf8", maxBuffer: 64 << 20 });
  const lines: number[][] = [];
  for (const m of r.stdout.matchAll(/# encoding: \[([^\]]*)\]/g)) {
    lines.push((m[1] as string).split(",").map((b) => Number(b)));
  }
  return { lines, stderr: r.stderr };
}

/** `llvm-mc -disassemble`: one text line per instruction. */
export function mcDisassemble(bytes: Uint8Array, options: { triple?: string; alu32?: boolean; hex?: boolean } = {}): string[] {
  const hex = [...bytes].map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");
  const args = ["-disassemble", `-triple=${options.triple ?? "bpfel"}`];
  if (options.alu32) args.push("-mattr=+alu32");
  if (options.hex) args.push("--print-imm-hex");
  const out = execFileSync(llvmMc as string, args, { input: hex, encoding: "utf8", maxBuffer: 64 << 20 });
  return out
    .split("\n")
    .filter((l) => l.startsWith("\t") && l.trim() !== ".text")
    .map((l) => l.slice(1));
}
