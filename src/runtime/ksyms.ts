/** Kernel symbol addresses from /proc/kallsyms, for typeless `.ksyms` externs. */
import { existsSync, readFileSync } from "node:fs";

let cached: Map<string, bigint> | undefined;

/** Address of every kernel symbol (the first one of a name; module symbols too). */
export function kallsyms(): Map<string, bigint> {
  if (cached) return cached;
  cached = new Map();
  if (!existsSync("/proc/kallsyms")) return cached;
  for (const line of readFileSync("/proc/kallsyms", "latin1").split("\n")) {
    const [addr, , name] = line.split(/\s+/);
    if (!addr || !name || cached.has(name)) continue;
    cached.set(name, BigInt(`0x${addr}`));
  }
  return cached;
}
