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
import { kernelVersionCode } from "../../src/runtime/kconfig.js";
import { kallsyms } from "../../src/runtime/ksyms.js";
import { probeBpfCookie, probeSyscallWrapper } from "../../src/runtime/probe.js";
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

describeKernel("libbpf's built-in kconfig externs", () => {
  it("LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER are the probes' answers, in .kconfig and as the program reads them", () => {
    const s = spec("kconfig_builtins");
    using c = Collection.load(s);
    const cookie = probeBpfCookie().supported;
    const wrapper = probeSyscallWrapper().supported;
    // x86-64 has had the wrapper since 4.17, bpf_get_attach_cookie since 5.15: this kernel has both.
    expect(wrapper).toBe(kallsyms().has("__x64_sys_bpf"));
    const kconfig = c.map(".kconfig").lookup(Buffer.alloc(4)) as Buffer;
    const at = (name: string) => s.externs.get(name)?.offset as number;
    expect(kconfig.readUInt32LE(at("LINUX_KERNEL_VERSION"))).toBe(kernelVersionCode());
    expect(kconfig[at("LINUX_HAS_BPF_COOKIE")]).toBe(cookie ? 1 : 0);
    expect(kconfig[at("LINUX_HAS_SYSCALL_WRAPPER")]).toBe(wrapper ? 1 : 0);
    expect(c.program("kconfig_builtins").testRun({}).returnValue).toBe((cookie ? 1 : 0) | (wrapper ? 2 : 0));
    expect(c.variable("seen_version").get()).toBe(kernelVersionCode());
    expect([...c.programs.keys()].sort()).toEqual(["kconfig_builtins", "kill_entry"]);
  });

  it("overrides win over the computed values", () => {
    using c = Collection.load(spec("kconfig_builtins"), { programs: ["kconfig_builtins"], kconfig: { LINUX_HAS_BPF_COOKIE: "n", LINUX_HAS_SYSCALL_WRAPPER: "y" } });
    expect(c.program("kconfig_builtins").testRun({}).returnValue).toBe(2);
  });

  it("loads a program built on usdt.bpf.h (LINUX_HAS_BPF_COOKIE, weak maps)", () => {
    using c = Collection.load(spec("usdt"));
    expect([...c.programs.keys()]).toEqual(["usdt_probe"]);
    expect(c.maps.has("__bpf_usdt_specs")).toBe(true);
  });
});
