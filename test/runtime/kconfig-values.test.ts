// .kconfig values: libbpf's computed externs, overrides winning over them, and an unknown
// LINUX_* extern named with the ones the loader computes. No kernel: every value here is an
// override or absent (the probes are not asked).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readCollectionSpec, type CollectionSpec, type ExternSpec } from "../../src/elf/index.js";
import { KconfigError, builtinValue, kconfigValues } from "../../src/runtime/kconfig-values.js";
import { kernelVersionCode } from "../../src/runtime/kconfig.js";
import { probeSyscallWrapper } from "../../src/runtime/probe.js";

const spec = () => readCollectionSpec(readFileSync("test/fixtures/kconfig_builtins.bpfel.o"));

/** The spec with one extern renamed (and made weak or not). */
function renamed(s: CollectionSpec, from: string, to: string, weak: boolean): CollectionSpec {
  const externs = new Map<string, ExternSpec>();
  for (const [name, e] of s.externs) externs.set(name === from ? to : name, name === from ? { ...e, name: to, weak } : e);
  return { ...s, externs };
}

describe("kconfig values the loader computes", () => {
  it("overrides win over LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER", () => {
    const s = spec();
    const data = new Uint8Array(s.maps.get(".kconfig")?.valueSize ?? 0);
    kconfigValues(s, data, { LINUX_KERNEL_VERSION: "0x50a00", LINUX_HAS_BPF_COOKIE: "y", LINUX_HAS_SYSCALL_WRAPPER: "n" });
    const at = (n: string) => s.externs.get(n)?.offset as number;
    expect(new DataView(data.buffer).getUint32(at("LINUX_KERNEL_VERSION"), true)).toBe(0x50a00);
    expect([data[at("LINUX_HAS_BPF_COOKIE")], data[at("LINUX_HAS_SYSCALL_WRAPPER")]]).toEqual([1, 0]);
  });

  it("an unknown LINUX_* extern names the computed ones; weak, it stays 0", () => {
    const s = spec();
    const data = new Uint8Array(s.maps.get(".kconfig")?.valueSize ?? 0);
    const overrides = { LINUX_KERNEL_VERSION: "1", LINUX_HAS_BPF_COOKIE: "y" };
    expect(() => kconfigValues(renamed(s, "LINUX_HAS_SYSCALL_WRAPPER", "LINUX_HAS_TSEBPF", false), data, overrides)).toThrow(
      new KconfigError("kconfig extern LINUX_HAS_TSEBPF: not one of the values the loader computes (LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER); declare it __weak or give it in kconfig overrides"),
    );
    data.fill(0xff);
    kconfigValues(renamed(s, "LINUX_HAS_SYSCALL_WRAPPER", "LINUX_HAS_TSEBPF", true), data, overrides);
    expect(data[s.externs.get("LINUX_HAS_SYSCALL_WRAPPER")?.offset as number]).toBe(0xff); // untouched: the map starts zeroed
    expect(builtinValue("LINUX_HAS_TSEBPF")).toBeUndefined();
    expect(builtinValue("LINUX_KERNEL_VERSION")).toBe(String(kernelVersionCode()));
  });

  it("an architecture without a known syscall wrapper prefix answers no, saying so", () => {
    expect(probeSyscallWrapper("sparc64")).toEqual({ supported: false, reason: "no syscall wrapper known for architecture sparc64" });
  });
});
