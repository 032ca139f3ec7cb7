import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { marshalBtf, type BtfType } from "../../src/btf/index.js";
import { describe, expect, it } from "vitest";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { clearKernelBtfCache, kernelBtf, moduleBtf, modulesWithBtf } from "../../src/runtime/kernel-btf.js";
import { itWith, vmlinuxMissing } from "../helpers/oracle.js";

describe("kernel BTF", () => {
  itWith(vmlinuxMissing)("is read once per process and shared", () => {
    clearKernelBtfCache();
    const a = kernelBtf();
    expect(kernelBtf()).toBe(a);
    expect(a.find("task_struct", "struct")).toBeGreaterThan(0);
  });

  it("reads module split BTF on top of vmlinux (a loaded module's, else a made-up one)", () => {
    let dir = "/sys/kernel/btf";
    let name = modulesWithBtf()[0];
    if (name === undefined) {
      dir = mkdtempSync(join(tmpdir(), "tsebpf-btf-"));
      name = "fake_module";
      const base: BtfType[] = [{ kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }];
      const baseBytes = marshalBtf(base);
      writeFileSync(join(dir, "vmlinux"), baseBytes);
      const strLen = new DataView(baseBytes.buffer).getUint32(20, true);
      writeFileSync(join(dir, name), marshalBtf([{ kind: "ptr", name: "", type: 1 }], { base: { typeCount: 1, stringLength: strLen } }));
    }
    const m = moduleBtf(name, dir);
    const vmlinux = kernelBtf(join(dir, "vmlinux"));
    expect(m.firstId).toBe(vmlinux.typeCount + 1);
    expect(m.type(1)).toEqual(vmlinux.type(1));
    expect(moduleBtf(name, dir)).toBe(m);
  });

  it("says what is missing when there is no BTF", () => {
    expect(() => kernelBtf("/nonexistent/vmlinux")).toThrow(NotSupportedError);
    expect(() => moduleBtf("no_such_module_xyz")).toThrow(/BTF of module no_such_module_xyz is not supported here/);
  });
});
