/** Benchmark helpers: same-run peers, medians, the result table. */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Figure {
  readonly id: string;
  readonly figure: string;
  readonly tsebpf: string;
  readonly peer: string;
  readonly ratio: number | undefined;
  readonly target: string;
  readonly pass: boolean | undefined;
  readonly note?: string;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export const workdir = mkdtempSync(join(tmpdir(), "tsebpf-bench-"));

/** Compiles a peer C program from bench/peers with gcc; undefined (with the reason) when it cannot. */
export function buildPeer(source: string, libs: string[]): { path?: string; reason?: string } {
  const out = join(workdir, source.replace(/\.c$/, ""));
  const r = spawnSync("gcc", ["-O2", "-o", out, join("bench/peers", source), ...libs], { encoding: "utf8" });
  return r.status === 0 ? { path: out } : { reason: `gcc ${source}: ${r.stderr.trim().split("\n")[0] ?? "failed"}` };
}

export const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`;
