/**
 * Filling the `.kconfig` map with the values its externs ask for, typed by their BTF: CONFIG_*
 * from the kernel's configuration, LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE and
 * LINUX_HAS_SYSCALL_WRAPPER computed; overrides win over both.
 */
import { skipModifiers } from "../btf/index.js";
import type { CollectionSpec } from "../elf/index.js";
import { kernelConfig, kernelVersionCode } from "./kconfig.js";
import { probeBpfCookie, probeSyscallWrapper } from "./probe.js";
import { TsebpfError } from "../errors.js";

/** An extern the kernel's configuration cannot satisfy. */
export class KconfigError extends TsebpfError {
  override readonly name = "KconfigError";
}

const TRISTATE: Record<string, number> = { n: 0, y: 1, m: 2 };

/**
 * libbpf's built-in externs, computed by the loader rather than read from the configuration:
 * the running kernel's version code, and two facts learnt by probing (see probe.ts).
 */
const BUILTINS: Readonly<Record<string, () => string>> = {
  LINUX_KERNEL_VERSION: () => String(kernelVersionCode()),
  LINUX_HAS_BPF_COOKIE: () => (probeBpfCookie().supported ? "y" : "n"),
  LINUX_HAS_SYSCALL_WRAPPER: () => (probeSyscallWrapper().supported ? "y" : "n"),
};

/** The value of a built-in `LINUX_*` extern, or undefined for a name the loader does not compute. */
export function builtinValue(name: string): string | undefined {
  return Object.hasOwn(BUILTINS, name) ? (BUILTINS[name] as () => string)() : undefined;
}

/** Writes every `.kconfig` extern's value into `data` (the map's initial value). */
export function kconfigValues(spec: CollectionSpec, data: Uint8Array, overrides: Readonly<Record<string, string>>): void {
  const btf = spec.btf;
  if (!btf) return;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const le = spec.byteOrder === "little";
  for (const ext of spec.externs.values()) {
    if (ext.kind !== "kconfig") continue;
    const variable = btf.type(ext.type) as { type: number } | undefined;
    const t = variable ? btf.type(skipModifiers(btf, variable.type)) : undefined;
    const raw = overrides[ext.name] ?? (ext.name.startsWith("LINUX_") ? builtinValue(ext.name) : kernelConfig().get(ext.name));
    if (raw === undefined) {
      if (ext.weak) continue; // weak and absent: stays 0
      if (ext.name.startsWith("LINUX_")) {
        throw new KconfigError(`kconfig extern ${ext.name}: not one of the values the loader computes (${Object.keys(BUILTINS).join(", ")}); declare it __weak or give it in kconfig overrides`);
      }
      throw new KconfigError(`kconfig extern ${ext.name}: the kernel's configuration has no such option (declare it __weak to allow that)`);
    }
    const fail = (why: string): never => {
      throw new KconfigError(`kconfig extern ${ext.name}: value ${JSON.stringify(raw)} ${why}`);
    };
    if (t?.kind === "array") {
      if (!/^".*"$/.test(raw)) fail("is not a string");
      const bytes = Buffer.from(JSON.parse(raw) as string, "utf8");
      if (bytes.byteLength >= ext.size) fail(`does not fit ${ext.size} bytes`);
      data.set(bytes, ext.offset);
      continue;
    }
    if (t?.kind === "enum") {
      const v = TRISTATE[raw];
      if (v === undefined) fail("is not y, m or n");
      view.setUint32(ext.offset, v as number, le);
      continue;
    }
    if (t?.kind !== "int") fail(`has a type tsebpf cannot fill (${t?.kind ?? "void"})`);
    const int = t as { size: number; bool: boolean; char: boolean };
    let n: bigint;
    if (raw in TRISTATE) {
      if (int.bool && raw === "m") fail("is a module (m): a bool extern takes y or n");
      n = int.char ? BigInt(raw.charCodeAt(0)) : BigInt(TRISTATE[raw] as number);
    } else if (/^-?(0x[0-9a-f]+|\d+)$/i.test(raw)) {
      n = BigInt(raw.startsWith("-") ? -BigInt(raw.slice(1)) : BigInt(raw));
    } else {
      return fail("is not a number");
    }
    const u = BigInt.asUintN(int.size * 8, n);
    if (int.size === 1) view.setUint8(ext.offset, Number(u));
    else if (int.size === 2) view.setUint16(ext.offset, Number(u), le);
    else if (int.size === 4) view.setUint32(ext.offset, Number(u), le);
    else view.setBigUint64(ext.offset, u, le);
  }
}
