import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Btf, sizeOf, type BtfComposite, type BtfEnum } from "../../src/btf/index.js";
import { POISON_HELPER_ID } from "../../src/btf/core/index.js";
import { readCollectionSpec, relocateProgram } from "../../src/elf/index.js";
import { itWith, vmlinuxMissing } from "../helpers/oracle.js";

const VMLINUX = "/sys/kernel/btf/vmlinux";

describe("CO-RE of a collection's programs", () => {
  it("resolves against the object's own BTF to what clang wrote", () => {
    for (const order of ["el", "eb"]) {
      const spec = readCollectionSpec(readFileSync(`test/fixtures/core.bpf${order}.o`));
      for (const p of spec.programs.values()) {
        const { resolutions } = relocateProgram(spec, p, spec.btf as Btf);
        expect(resolutions.length).toBe(p.coreRelos.length);
        for (const r of resolutions) if (!r.poison && r.kind !== 7 && r.kind !== 6) expect(r.target, r.description).toEqual(r.local);
      }
    }
  });

  itWith(vmlinuxMissing)("resolves against the running kernel's BTF to the kernel's layout", () => {
    const kernel = new Btf(readFileSync(VMLINUX));
    const spec = readCollectionSpec(readFileSync("test/fixtures/core.bpfel.o"));
    const p = spec.programs.get("core_reads");
    const { resolutions, instructions } = relocateProgram(spec, p as never, kernel);
    const task = kernel.type(kernel.find("task_struct", "struct") as number) as BtfComposite;
    const pid = task.members.find((m) => m.name === "pid");
    const byPath = (path: string, kind: number) => resolutions.find((r) => r.path === path && r.kind === kind);
    expect(byPath("struct task_struct::pid", 0)?.target).toBe((pid?.bitOffset ?? 0) / 8);
    const tcp = kernel.type(kernel.find("tcp_ca_state", "enum") as number) as BtfEnum;
    expect(byPath("enum tcp_ca_state::TCP_CA_Loss", 11)?.target).toBe(tcp.values.find((v) => v.name === "TCP_CA_Loss")?.value);
    expect(byPath("struct sock_common", 9)?.target).toBe(sizeOf(kernel, kernel.find("sock_common", "struct") as number));
    // task_struct___old.state does not exist in this kernel: exists = 0, and the read is poisoned.
    expect(resolutions.find((r) => r.path.startsWith("struct task_struct___old::state") && r.kind === 2)?.target).toBe(0);
    expect(instructions.some((i) => i.opcode === 0x85 && i.imm === POISON_HELPER_ID)).toBe(true);
  });
});
