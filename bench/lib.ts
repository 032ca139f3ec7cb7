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
  if (r.error) return { reason: `the C peers need gcc and libbpf-dev, and gcc cannot run (${r.error.message}): apt-get install gcc libbpf-dev` };
  if (r.status === 0) return { path: out };
  const error = r.stderr.split("\n").find((l) => /error/.test(l)) ?? r.stderr.trim().split("\n")[0] ?? "failed";
  return { reason: `gcc ${source}: ${error.trim()} (the C peers need gcc and libbpf-dev: apt-get install gcc libbpf-dev)` };
}

export const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`;

/**
 * Like for like on a noisy machine: runs each side once per round, alternating, the order
 * reversed every other round (neither side always first after a pause). Each side's samples.
 */
export function interleaved(rounds: number, sides: readonly (() => number)[]): number[][] {
  const samples = sides.map((): number[] => []);
  for (let r = 0; r < rounds; r++) {
    const order = sides.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) samples[i]?.push((sides[i] as () => number)());
  }
  return samples;
}

/** The median of the per-round ratios ours[i] / theirs[i] (of interleaved rounds). */
export const roundRatio = (ours: readonly number[], theirs: readonly number[]): number =>
  median(ours.map((x, i) => x / (theirs[i] as number)));

/** Runs a built peer; its stdout lines split into numbers. Throws with its stderr when it fails. */
export function peerLines(path: string, args: readonly string[]): number[][] {
  const r = spawnSync(path, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${path.split("/").pop() ?? path} exited ${r.status}: ${(r.stderr ?? "").trim().split("\n")[0] ?? ""}`);
  return r.stdout.trim().split("\n").map((line) => line.trim().split(/\s+/).map(Number));
}
