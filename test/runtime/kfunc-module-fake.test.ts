// A kfunc only a module has (not in vmlinux's BTF): found in the module's BTF object, as libbpf
// finds it; the program is loaded with the module's BTF fd — in the ld_imm64's second half for a
// value (bpf_ksym_exists), in fd_array at the call's `off` for a call. Against a fake kernel: this
// machine's kernel has no module BTF.
import { readFileSync } from "node:fs";
import { afterEach, describe, expect } from "vitest";
import { LD_IMM64, PseudoCall, PseudoLd, decode } from "../../src/asm/index.js";
import { Btf, marshalBtf } from "../../src/btf/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { kernelBtf } from "../../src/runtime/kernel-btf.js";
import { clearModuleBtfCache } from "../../src/runtime/kfuncs.js";
import { resolveProgramReferences } from "../../src/runtime/link-program.js";
import { FakeKernel, installFakeKernel } from "../helpers/fake-kernel.js";
import { itWith, vmlinuxMissing } from "../helpers/oracle.js";

afterEach(() => clearModuleBtfCache());

/** A module's split BTF on the running kernel's: `void NAME(void)` for each name; each FUNC's id. */
function moduleBtf(names: readonly string[] = ["bpf_task_from_pid"]): { data: Uint8Array; funcId: number; ids: Map<string, number> } {
  const vmlinux = kernelBtf();
  const stringLength = new DataView(vmlinux.bytes.buffer, vmlinux.bytes.byteOffset, 24).getUint32(20, vmlinux.byteOrder === "little");
  const first = vmlinux.typeCount + 1;
  const data = marshalBtf(
    [{ kind: "func_proto", name: "", returnType: 0, params: [] }, ...names.map((name) => ({ kind: "func" as const, name, type: first, linkage: "global" as const }))],
    { base: { typeCount: vmlinux.typeCount, stringLength } },
  );
  return { data, funcId: first + 1, ids: new Map(names.map((n, i) => [n, first + 1 + i])) };
}

/** Registers the module's BTF object as id 7 of the fake kernel. */
function registerModule(k: FakeKernel, data: Uint8Array): void {
  k.byId.set("BTF:7", (info) => {
    info.setUint32(8, data.byteLength, true);
    info.setUint32(12, 7, true);
    info.setUint32(28, 1, true); // kernel_btf
    k.memoryAt(info.getBigUint64(0, true))?.set(data);
    k.memoryAt(info.getBigUint64(16, true))?.set(Buffer.from("tsebpf_mod\0"));
  });
}

describe("kfuncs in module BTF", () => {
  itWith(vmlinuxMissing)("a kfunc value gets the module's BTF id and fd; the fd is closed after the load", () => {
    const k = installFakeKernel();
    const { data, funcId } = moduleBtf();
    // BTF object 2 cannot be read (skipped); 7 is the module's.
    k.byId.set("BTF:2", () => {});
    registerModule(k, data);
    const spec = readCollectionSpec(readFileSync("test/fixtures/ksym_values.bpfel.o"));
    // A target BTF without the kfunc: only a module has it.
    const target = new Btf(marshalBtf([{ kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]));
    using c = Collection.load(spec, { targetBtf: target });
    expect(c.programs.has("ksym_values")).toBe(true);
    const attr = k.progLoadAttrs[0] as DataView;
    const insns = k.memoryAt(attr.getBigUint64(8, true)) as Uint8Array;
    const loads = decode(insns).filter((i) => i.opcode === LD_IMM64 && i.src === PseudoLd.BTF_ID);
    expect(loads).toHaveLength(1);
    const moduleFd = loads[0]?.imm2 ?? 0;
    expect(loads[0]?.imm).toBe(funcId);
    expect(moduleFd).toBeGreaterThan(0);
    // fd_array: index 0 unused, the module's fd at index 1.
    const fdArray = k.memoryAt(attr.getBigUint64(120, true)) as Uint8Array;
    expect([...new Int32Array(fdArray.buffer, fdArray.byteOffset, 2)]).toEqual([0, moduleFd]);
    expect(k.open.has(moduleFd)).toBe(false); // closed once the program was loaded
    expect(k.calls.filter((x) => x === "BTF_GET_NEXT_ID")).toHaveLength(3); // 2, 7, then the end
  });

  itWith(vmlinuxMissing)("a module kfunc call gets the module's BTF id and, in off, the fd_array index of its fd", () => {
    const k = installFakeKernel();
    const { data, ids } = moduleBtf(["bpf_rcu_read_lock", "bpf_task_acquire", "bpf_task_release", "bpf_rcu_read_unlock"]);
    registerModule(k, data);
    const spec = readCollectionSpec(readFileSync("test/fixtures/externs.bpfel.o"));
    const p = spec.programs.get("externs");
    if (!p) throw new Error("no program externs");
    const target = new Btf(marshalBtf([{ kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]));
    const asked: number[] = [];
    const out = resolveProgramReferences(p, p.instructions, {
      mapFd: () => 3,
      externs: spec.externs,
      kernelBtf: () => target,
      moduleBtfFd: (id) => (asked.push(id), { fd: 42, index: 1 }),
    });
    const calls = out.filter((i) => i.opcode === 0x85 && i.src === PseudoCall.KFUNC);
    expect(calls.map((i) => [i.reference, i.imm, i.off])).toEqual(
      ["bpf_rcu_read_lock", "bpf_task_acquire", "bpf_task_release", "bpf_rcu_read_unlock"].map((n) => [n, ids.get(n), 1]),
    );
    expect(new Set(asked)).toEqual(new Set([7]));
    // Without a module fd source, a kfunc the target lacks is not looked for in modules.
    expect(() => resolveProgramReferences(p, p.instructions, { mapFd: () => 3, externs: spec.externs, kernelBtf: () => target })).toThrow(/kernel function bpf_rcu_read_lock is in neither this kernel's nor a loaded module's BTF/);
  });
});

