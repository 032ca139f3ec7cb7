/**
 * The running kernel's BTF: vmlinux and, on demand, a module's split BTF. Each is read once per
 * process and parsed lazily (see Btf): the first lookup by name builds the name index.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { Btf } from "../btf/index.js";
import { NotSupportedError } from "./errors.js";

export const KERNEL_BTF_DIR = "/sys/kernel/btf";
const cache = new Map<string, Btf>();

/** The kernel's own BTF (`/sys/kernel/btf/vmlinux`, or another file when given). */
export function kernelBtf(path = `${KERNEL_BTF_DIR}/vmlinux`): Btf {
  const known = cache.get(path);
  if (known) return known;
  if (!existsSync(path)) throw new NotSupportedError("kernel BTF", "5.4", `${path} is missing (CONFIG_DEBUG_INFO_BTF)`);
  const btf = new Btf(readFileSync(path));
  cache.set(path, btf);
  return btf;
}

/** The split BTF of a loaded kernel module, on top of vmlinux's (`dir`: where both are, for tests). */
export function moduleBtf(module: string, dir = KERNEL_BTF_DIR): Btf {
  const path = `${dir}/${module}`;
  const known = cache.get(path);
  if (known) return known;
  if (!existsSync(path)) throw new NotSupportedError(`BTF of module ${module}`, "5.11", `${path} is missing (module not loaded, or no CONFIG_DEBUG_INFO_BTF_MODULES)`);
  const btf = new Btf(readFileSync(path), { base: kernelBtf(`${dir}/vmlinux`) });
  cache.set(path, btf);
  return btf;
}

/** Names of the modules with BTF. */
export function modulesWithBtf(): string[] {
  if (!existsSync(KERNEL_BTF_DIR)) return [];
  return readdirSync(KERNEL_BTF_DIR).filter((n) => n !== "vmlinux").sort();
}

/** Forgets the cached BTF (tests; after a module is loaded or unloaded). */
export function clearKernelBtfCache(): void {
  cache.clear();
}
