/** bpftool as a test oracle (never a dependency of the library). */
import { spawnSync } from "node:child_process";

export const bpftool = (() => {
  for (const p of ["bpftool", "/usr/sbin/bpftool"]) if (spawnSync(p, ["version"]).status === 0) return p;
  return undefined;
})();

export const bpftoolMissing = bpftool ? undefined : "bpftool is not installed";

/** Runs bpftool with -j and parses its JSON output. */
export function bpftoolJson<T = unknown>(...args: string[]): T {
  const r = spawnSync(bpftool as string, ["-j", ...args], { encoding: "utf8", maxBuffer: 512 << 20 });
  if (r.status !== 0) throw new Error(`bpftool ${args.join(" ")}: ${r.stderr.trim()}`);
  // Integers beyond 2^53 become strings, so that tests can compare them exactly as bigints.
  return JSON.parse(r.stdout.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"')) as T;
}
