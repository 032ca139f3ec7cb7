/** struct_ops against a kernel's BTF (a stand-in one): layout, value, program targets, and the refused step as NotSupportedError. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Layouts, ProgramType } from "../../src/abi/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { installFakeKernel } from "../helpers/fake-kernel.js";
import { readCollectionSpec, type CollectionSpec, type StructOpsMapSpec } from "../../src/elf/index.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { StructOps, StructOpsError, createStructOpsMap, layoutStructOps, planStructOps, structOpsValue } from "../../src/runtime/struct-ops.js";
import { SyscallError } from "../../src/syscall/index.js";
import { KERNEL_MEMBERS, kernelBtfWith } from "./struct-ops-layout.js";

const spec: CollectionSpec = readCollectionSpec(readFileSync("test/fixtures/struct_ops.bpfel.o"));
const cc = spec.maps.get("tsebpf_cc") as StructOpsMapSpec;
const kernel = kernelBtfWith(KERNEL_MEMBERS.map((m) => m.name));
const FDS: Record<string, number> = { tsebpf_init: 11, tsebpf_ssthresh: 12, tsebpf_cong_avoid: 13, tsebpf_undo_cwnd: 14 };

describe("struct_ops layout against the kernel's BTF", () => {
  it("places program fds at the kernel's function pointers and copies data members by name", () => {
    const layout = layoutStructOps(cc, kernel);
    expect(layout.dataOffset).toBe(8);
    const value = Buffer.from(structOpsValue(layout, (n) => FDS[n]));
    expect(value.byteLength).toBe(layout.valueSize);
    // Kernel order: ssthresh 0, cong_avoid 8, set_state 16, undo_cwnd 24, name 32, owner 48, key 56, flags 60, init 64, release 72.
    expect(value.readBigUInt64LE(8 + 0)).toBe(12n);
    expect(value.readBigUInt64LE(8 + 8)).toBe(13n);
    expect(value.readBigUInt64LE(8 + 16)).toBe(0n);
    expect(value.readBigUInt64LE(8 + 24)).toBe(14n);
    expect(value.subarray(8 + 32, 8 + 48).toString("latin1").replace(/\0+$/, "")).toBe("tsebpf_cc");
    expect(value.readUInt32LE(8 + 60)).toBe(1);
    expect(value.readBigUInt64LE(8 + 64)).toBe(11n);
    expect(value.subarray(0, 8).every((b) => b === 0)).toBe(true);
  });

  it("gives each program the kernel struct's id and the index of its member", () => {
    const plan = planStructOps(spec, () => kernel);
    const id = kernel.find("tcp_congestion_ops", "struct");
    expect(Object.fromEntries([...plan.programs].map(([n, t]) => [n, [t.btfId, t.memberIndex, t.member]]))).toEqual({
      tsebpf_ssthresh: [id, 0, "ssthresh"],
      tsebpf_cong_avoid: [id, 1, "cong_avoid"],
      tsebpf_undo_cwnd: [id, 3, "undo_cwnd"],
      tsebpf_init: [id, 8, "init"],
    });
    expect([...plan.maps.keys()].sort()).toEqual(["tsebpf_cc", "tsebpf_cc_link"]);
  });

  it("an object without struct_ops maps needs no kernel BTF", () => {
    const plain = readCollectionSpec(readFileSync("test/fixtures/maps.bpfel.o"));
    const plan = planStructOps(plain, () => {
      throw new Error("kernel BTF read");
    });
    expect([plan.maps.size, plan.programs.size]).toEqual([0, 0]);
  });

  it("refuses, naming map and member: a member the kernel lacks, a kind or size that differs, a bitfield", () => {
    const without = kernelBtfWith(KERNEL_MEMBERS.map((m) => m.name).filter((n) => n !== "init"));
    expect(() => layoutStructOps(cc, without)).toThrow(StructOpsError);
    expect(() => layoutStructOps(cc, without)).toThrow("map tsebpf_cc: member init of struct tcp_congestion_ops is not in this kernel's struct tcp_congestion_ops");
    const names = KERNEL_MEMBERS.map((m) => m.name);
    expect(() => layoutStructOps(cc, kernelBtfWith(names, { init: "u32" }))).toThrow("member init is a function pointer in the object but not in this kernel's struct tcp_congestion_ops");
    expect(() => layoutStructOps(cc, kernelBtfWith(names, { flags: "fn" }))).toThrow("member flags is a function pointer in this kernel's struct tcp_congestion_ops, data in the object");
    expect(() => layoutStructOps(cc, kernelBtfWith(names, { flags: "ptr" }))).toThrow("member flags is 4 bytes in the object, 8 in this kernel's struct tcp_congestion_ops");
    expect(() => layoutStructOps(cc, kernelBtfWith(names, { flags: "bits" }))).toThrow("member flags of struct tcp_congestion_ops is a bitfield in this kernel");
  });

  it("a member the kernel lacks is fine while the object leaves it empty", () => {
    // tsebpf_cc_link leaves init and flags zero: a kernel without them still takes it.
    const link = spec.maps.get("tsebpf_cc_link") as StructOpsMapSpec;
    const layout = layoutStructOps(link, kernelBtfWith(KERNEL_MEMBERS.map((m) => m.name).filter((n) => n !== "init" && n !== "flags")));
    expect(layout.fills.map((f) => f.member.name)).toEqual(["ssthresh", "cong_avoid", "undo_cwnd", "name"]);
  });

  it("a program the load left out is named when the value is built; an anonymous member may only be empty", () => {
    const layout = layoutStructOps(cc, kernel);
    expect(() => structOpsValue(layout, (n) => (n === "tsebpf_init" ? undefined : FDS[n]))).toThrow("map tsebpf_cc: program tsebpf_init (member init) was not loaded (a struct_ops map needs every program it names: list it in `programs`)");
    const flags = cc.structOps.members.find((m) => m.name === "flags")!;
    const anonymous: StructOpsMapSpec = { ...cc, structOps: { ...cc.structOps, members: cc.structOps.members.map((m) => (m === flags ? { ...m, name: "" } : m)) } };
    expect(() => layoutStructOps(anonymous, kernel)).toThrow(`map tsebpf_cc: the anonymous member at offset ${flags.offset} of struct tcp_congestion_ops holds data`);
    const data = Uint8Array.from(cc.data!);
    data.fill(0, flags.offset, flags.offset + 4);
    expect(layoutStructOps({ ...anonymous, data }, kernel).fills.map((f) => f.member.name)).not.toContain("");
  });

  it("a kernel without the struct, or without bpf_struct_ops_<struct>, is NotSupportedError", () => {
    const other = { ...cc, structOps: { ...cc.structOps, typeName: "sched_ext_ops" } };
    expect(() => layoutStructOps(other, kernel)).toThrow(NotSupportedError);
    expect(() => layoutStructOps(other, kernel)).toThrow("struct_ops sched_ext_ops (map tsebpf_cc) is not supported here: this kernel's BTF has no struct sched_ext_ops");
  });

  it("a program that would fill two different members is refused before anything loads", () => {
    const link = spec.maps.get("tsebpf_cc_link") as StructOpsMapSpec;
    const swapped: StructOpsMapSpec = { ...link, structOps: { ...link.structOps, members: link.structOps.members.map((m) => (m.name === "undo_cwnd" ? { ...m, program: "tsebpf_ssthresh" } : m)) } };
    const s: CollectionSpec = { ...spec, maps: new Map([...spec.maps].map(([k, v]) => [k, k === "tsebpf_cc_link" ? swapped : v])) };
    expect(() => planStructOps(s, () => kernel)).toThrow(/struct_ops program tsebpf_ssthresh fills both tcp_congestion_ops\.(ssthresh|undo_cwnd) and tcp_congestion_ops\.(undo_cwnd|ssthresh)/);
  });
});

describe("registering where the kernel refuses a step", () => {
  /** A struct_ops map whose update the kernel answers with `errno`. */
  const refusing = (name: string, errno: number) => {
    const map = spec.maps.get(name) as StructOpsMapSpec;
    const layout = layoutStructOps(map, kernel);
    const fake = { fd: 99, update: () => { throw new SyscallError(errno, { syscall: "bpf", command: "BPF_MAP_UPDATE_ELEM", object: `map "${name}"` }); }, close: () => undefined };
    return new StructOps(fake as never, layout, structOpsValue(layout, (n) => FDS[n]));
  };

  it("EPERM on the map update is NotSupportedError naming the step and the errno", () => {
    const so = refusing("tsebpf_cc", 1);
    expect(() => so.register()).toThrow(NotSupportedError);
    expect(() => so.register()).toThrow('struct_ops tcp_congestion_ops "tsebpf_cc": registering (the map update builds its BPF trampolines) is not supported here: this kernel refuses it (EPERM)');
    expect(so.registered).toBeUndefined();
  });

  it("EOPNOTSUPP writing a .struct_ops.link map's value names that step", () => {
    expect(() => refusing("tsebpf_cc_link", 95).register()).toThrow(/tsebpf_cc_link": writing its map value \(which builds its BPF trampolines\) is not supported here: this kernel refuses it \(EOPNOTSUPP\)/);
  });

  it("EEXIST says a struct of this name is registered already; other errors stay SyscallErrors", () => {
    expect(() => refusing("tsebpf_cc", 17).register()).toThrow('struct_ops tcp_congestion_ops "tsebpf_cc": the kernel has one of this name registered already (EEXIST)');
    expect(() => refusing("tsebpf_cc", 22).register()).toThrow(SyscallError);
  });
});

describe("struct_ops against a fake kernel", () => {
  const field = (attr: DataView, name: keyof typeof Layouts.AttrProgLoad.fields) => attr.getUint32((Layouts.AttrProgLoad.fields[name] as readonly number[])[0] as number, true);

  it("loads each program with attach_btf_id = the kernel struct and expected_attach_type = its member's index, then creates the struct_ops maps", () => {
    const k = installFakeKernel();
    using c = Collection.load(spec, { targetBtf: kernel });
    const id = kernel.find("tcp_congestion_ops", "struct");
    const loaded = k.progLoadAttrs.map((a) => [field(a, "prog_type"), field(a, "attach_btf_id"), field(a, "expected_attach_type")]);
    expect(loaded).toEqual(expect.arrayContaining([[ProgramType.STRUCT_OPS, id, 0], [ProgramType.STRUCT_OPS, id, 1], [ProgramType.STRUCT_OPS, id, 3], [ProgramType.STRUCT_OPS, id, 8]]));
    // .bss, the two struct_ops maps (after the programs), and the BPF_F_MMAPABLE probe.
    expect(k.calls.filter((x) => x === "MAP_CREATE").length).toBeGreaterThanOrEqual(3);
    expect(k.calls.lastIndexOf("MAP_CREATE")).toBeGreaterThan(k.calls.lastIndexOf("PROG_LOAD"));
    expect([...c.structOpsMaps.keys()].sort()).toEqual(["tsebpf_cc", "tsebpf_cc_link"]);
  });

  it("a refused struct_ops map is NotSupportedError naming the step and errno; EINVAL stays a SyscallError", () => {
    const layout = layoutStructOps(cc, kernel);
    const k = installFakeKernel();
    k.fail.set("MAP_CREATE", 1);
    expect(() => createStructOpsMap(layout, 3)).toThrow('struct_ops tcp_congestion_ops "tsebpf_cc": creating its map is not supported here: this kernel refuses it (EPERM)');
    k.fail.set("MAP_CREATE", 22);
    expect(() => createStructOpsMap(layout, 3)).toThrow(SyscallError);
    expect(() => createStructOpsMap(layout, undefined)).toThrow(/the kernel did not take the object's BTF/);
  });
});
