import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { clearKernelBtfCache, kernelBtf, moduleBtf, modulesWithBtf } from "../../src/runtime/kernel-btf.js";

describe("kernel BTF", () => {
  it.skipIf(!existsSync("/sys/kernel/btf/vmlinux"))("is read once per process and shared", () => {
    clearKernelBtfCache();
    const a = kernelBtf();
    expect(kernelBtf()).toBe(a);
    expect(a.find("task_struct", "struct")).toBeGreaterThan(0);
  });

  it.skipIf(modulesWithBtf().length === 0)("reads module split BTF on top of vmlinux", () => {
    const name = modulesWithBtf()[0] as string;
    const m = moduleBtf(name);
    expect(m.firstId).toBe(kernelBtf().typeCount + 1);
    expect(m.type(1)).toEqual(kernelBtf().type(1));
  });

  it("says what is missing when there is no BTF", () => {
    expect(() => kernelBtf("/nonexistent/vmlinux")).toThrow(NotSupportedError);
    expect(() => moduleBtf("no_such_module_xyz")).toThrow(/BTF of module no_such_module_xyz is not supported here/);
  });
});
