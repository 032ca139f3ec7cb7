/**
 * Objects from the wild (issue 15) on the real kernel: kfuncs and ksyms used as values,
 * libbpf's built-in kconfig externs (LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER),
 * `__ulong()` maps, and undefined symbols resolved to constants before load.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { kernelBtf } from "../../src/runtime/kernel-btf.js";
import { kallsyms } from "../../src/runtime/ksyms.js";
import { describeKernel } from "../helpers/kernel.js";

const spec = (name: string) => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));

describeKernel("kfuncs and ksyms used as values", () => {
  it("bpf_ksym_exists(): true for a kfunc this kernel has, false for a weak one it lacks; ksym addresses non-zero", () => {
    using c = Collection.load(spec("ksym_values"));
    const has = kernelBtf().find("bpf_task_from_pid", "func") !== undefined;
    const typed = kernelBtf().find("bpf_prog_active", "var") !== undefined && kallsyms().has("bpf_prog_active");
    const expected = (has ? 1 : 0) | 4 | (typed ? 8 : 0);
    expect(c.program("ksym_values").testRun({}).returnValue).toBe(expected);
  });
});
