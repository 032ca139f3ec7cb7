/**
 * The attach target of tracing, LSM and freplace programs as BPF_PROG_LOAD and BPF_LINK_CREATE
 * carry it, seen by a fake kernel: kernel functions from the kernel's BTF, and functions of
 * another BPF program from that program's BTF (read back from the "kernel" by id).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AttachType, Layouts, ProgramType } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { Btf, marshalBtf, type BtfType } from "../../src/btf/index.js";
import { readCollectionSpec, type CollectionSpec } from "../../src/elf/index.js";
import { Collection, attachFreplace, type TargetProgram } from "../../src/runtime/collection.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { ResolveError } from "../../src/runtime/link-program.js";
import { Program } from "../../src/runtime/program.js";
import { clearProbeCache } from "../../src/runtime/probe.js";
import { FakeKernel, installFakeKernel } from "../helpers/fake-kernel.js";

const spec = (name: string): CollectionSpec => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));

/** A stand-in for vmlinux BTF: just the functions and tracepoint the sections fixture names. */
const KERNEL_TYPES: BtfType[] = [
  { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
  { kind: "func_proto", name: "", returnType: 1, params: [] },
  { kind: "func", name: "do_unlinkat", type: 2, linkage: "global" }, // 3
  { kind: "func", name: "security_path_chroot", type: 2, linkage: "global" }, // 4
  { kind: "func", name: "bpf_lsm_path_chroot", type: 2, linkage: "global" }, // 5
  { kind: "typedef", name: "btf_trace_sched_switch", type: 2 }, // 6
  { kind: "func", name: "bpf_iter_task", type: 2, linkage: "global" }, // 7
];
const kernelBtf = () => new Btf(marshalBtf(KERNEL_TYPES));

// struct bpf_attr offsets (uapi): PROG_LOAD and LINK_CREATE.
const L = Layouts.AttrProgLoad.fields;
const progLoad = (v: DataView) => ({
  type: v.getUint32(L.prog_type[0], true),
  expectedAttachType: v.getUint32(L.expected_attach_type[0], true),
  attachBtfId: v.getUint32(L.attach_btf_id[0], true),
  attachProgFd: v.getUint32(L.attach_prog_fd[0], true),
  flags: v.getUint32(L.prog_flags[0], true),
});
const C = Layouts.AttrLinkCreate.fields;
const linkCreate = (v: DataView) => ({
  progFd: v.getUint32(C.prog_fd[0], true),
  targetFd: v.getUint32(C.target_fd[0], true),
  attachType: v.getUint32(C.attach_type[0], true),
  targetBtfId: v.getUint32(C.target_btf_id[0], true),
});


const TARGET_ID = 7;
const TARGET_BTF_ID = 5;
const P = Layouts.BpfProgInfo.fields;
const B = Layouts.BpfBtfInfo.fields;

/**
 * Loads subprogs' "second" (which calls global_add, which calls static square) into the fake
 * kernel and makes the kernel answer for it as a real one would: prog info with its BTF id and
 * func info, and its BTF by id.
 */
function loadTarget(k: FakeKernel, options: { btf?: boolean } = {}): { target: Program; coll: Collection; btf: Btf } {
  const s = spec("subprogs");
  const btf = s.btf as Btf;
  const coll = Collection.load(s, { targetBtf: btf, programs: ["second"] });
  const target = coll.program("second");
  const funcInfo = s.programs.get("second")?.funcInfo ?? [];
  const progInfo = (info: DataView) => {
    info.setUint32(P.id[0], TARGET_ID, true);
    info.setUint32(P.type[0], ProgramType.SCHED_CLS, true);
    Buffer.from("second").forEach((b, i) => info.setUint8(P.name[0] + i, b));
    if (options.btf === false) return;
    info.setUint32(P.btf_id[0], TARGET_BTF_ID, true);
    const wanted = info.getUint32(P.nr_func_info[0], true);
    const out = k.memoryAt(info.getBigUint64(P.func_info[0], true));
    if (out && wanted > 0) {
      funcInfo.slice(0, wanted).forEach((f, i) => {
        new DataView(out.buffer, out.byteOffset).setUint32(i * 8, f.slot, true);
        new DataView(out.buffer, out.byteOffset).setUint32(i * 8 + 4, f.typeId, true);
      });
    }
    info.setUint32(P.nr_func_info[0], funcInfo.length, true);
    info.setUint32(P.func_info_rec_size[0], 8, true);
  };
  k.infoByFd.set(target.fd, progInfo);
  k.byId.set(`PROG:${TARGET_ID}`, progInfo);
  k.byId.set(`BTF:${TARGET_BTF_ID}`, (info) => {
    const out = k.memoryAt(info.getBigUint64(B.btf[0], true));
    if (out) out.set(btf.bytes.subarray(0, out.byteLength));
    info.setUint32(B.btf_size[0], btf.bytes.byteLength, true);
    info.setUint32(B.id[0], TARGET_BTF_ID, true);
  });
  return { target, coll, btf };
}

describe("BPF_PROG_LOAD attach target against a fake kernel", () => {
  it("fentry/fexit/fmod_ret/LSM/tp_btf/iter: attach_btf_id from the kernel's BTF, the expected attach type, no attach_prog_fd", () => {
    const k = installFakeKernel();
    const programs = ["s_fentry", "s_fexit", "s_fmod_ret", "s_lsm", "s_lsm_sleepable", "s_tp_btf", "s_iter"];
    using c = Collection.load(spec("sections"), { targetBtf: kernelBtf(), programs });
    expect(c.programs.size).toBe(programs.length);
    const T = ProgramType;
    expect(k.progLoadAttrs.map(progLoad)).toEqual([
      { type: T.TRACING, expectedAttachType: AttachType.TRACE_FENTRY, attachBtfId: 3, attachProgFd: 0, flags: 0 },
      { type: T.TRACING, expectedAttachType: AttachType.TRACE_FEXIT, attachBtfId: 3, attachProgFd: 0, flags: 0 },
      { type: T.TRACING, expectedAttachType: AttachType.MODIFY_RETURN, attachBtfId: 4, attachProgFd: 0, flags: 0 },
      { type: T.LSM, expectedAttachType: AttachType.LSM_MAC, attachBtfId: 5, attachProgFd: 0, flags: 0 },
      { type: T.LSM, expectedAttachType: AttachType.LSM_MAC, attachBtfId: 5, attachProgFd: 0, flags: 1 << 4 /* BPF_F_SLEEPABLE */ },
      { type: T.TRACING, expectedAttachType: AttachType.TRACE_RAW_TP, attachBtfId: 6, attachProgFd: 0, flags: 0 },
      { type: T.TRACING, expectedAttachType: AttachType.TRACE_ITER, attachBtfId: 7, attachProgFd: 0, flags: 0 },
    ]);
  });

  it("a kernel function missing from the kernel's BTF: ResolveError naming program and function, before any load", () => {
    const k = installFakeKernel();
    const btf = new Btf(marshalBtf(KERNEL_TYPES.slice(0, 2)));
    expect(() => Collection.load(spec("sections"), { targetBtf: btf, programs: ["s_fentry"] })).toThrow(
      /program "s_fentry": kernel function do_unlinkat is not in this kernel's BTF/,
    );
    expect(k.progLoadAttrs).toHaveLength(0);
    expect(k.open.size).toBe(0);
  });

  it("freplace without a target: NotSupportedError that says how to give one", () => {
    installFakeKernel();
    expect(() => Collection.load(spec("sections"), { targetBtf: kernelBtf(), programs: ["s_freplace"] })).toThrow(/attachTargets: \{ s_freplace: \{ program, function \} \}/);
  });

  it("freplace: EXT with attach_prog_fd = the target program and attach_btf_id = its global function in its BTF, expected attach type 0", () => {
    const k = installFakeKernel();
    const { target, coll, btf } = loadTarget(k);
    const globalAdd = btf.find("global_add", "func") as number;
    expect(globalAdd).toBeGreaterThan(0);
    using c = Collection.load(spec("sections"), { targetBtf: kernelBtf(), programs: ["s_freplace"], attachTargets: { s_freplace: { program: target, function: "global_add" } } });
    expect(progLoad(k.progLoadAttrs.at(-1) as DataView)).toEqual({ type: ProgramType.EXT, expectedAttachType: 0, attachBtfId: globalAdd, attachProgFd: target.fd, flags: 0 });
    expect(c.program("s_freplace").type).toBe(ProgramType.EXT);
    // The target was borrowed, not closed.
    expect(k.open.has(target.fd)).toBe(true);
    coll.close();
  });

  it("freplace by target id: the fd opened for the load carries it and is closed afterwards", () => {
    const k = installFakeKernel();
    const { coll, btf } = loadTarget(k);
    const before = new Set(k.open);
    const c = Collection.load(spec("sections"), { targetBtf: kernelBtf(), programs: ["s_freplace"], attachTargets: { s_freplace: { program: { id: TARGET_ID }, function: "global_add" } } });
    const attr = progLoad(k.progLoadAttrs.at(-1) as DataView);
    expect(attr.attachBtfId).toBe(btf.find("global_add", "func"));
    expect(attr.attachProgFd).toBeGreaterThanOrEqual(100); // the fake kernel's fds start at 100
    expect(before.has(attr.attachProgFd)).toBe(false); // a new fd, from PROG_GET_FD_BY_ID
    expect(k.calls).toContain("PROG_GET_FD_BY_ID");
    expect(k.open.has(attr.attachProgFd)).toBe(false);
    expect(k.open.has(c.program("s_freplace").fd)).toBe(true);
    c.close();
    expect(new Set(k.open)).toEqual(before);
    coll.close();
  });

  it("fentry on a BPF program: TRACING with attach_prog_fd, attach_btf_id of the program's own function", () => {
    const k = installFakeKernel();
    const { target, coll, btf } = loadTarget(k);
    using c = Collection.load(spec("sections"), {
      targetBtf: kernelBtf(),
      programs: ["s_fentry", "s_fexit"],
      attachTargets: { s_fentry: { program: target, function: "second" }, s_fexit: { program: { fd: target.fd }, function: "square" } },
    });
    expect(c.programs.size).toBe(2);
    expect(k.progLoadAttrs.slice(-2).map(progLoad)).toEqual([
      { type: ProgramType.TRACING, expectedAttachType: AttachType.TRACE_FENTRY, attachBtfId: btf.find("second", "func"), attachProgFd: target.fd, flags: 0 },
      // fexit may trace a static function; only freplace needs a global one.
      { type: ProgramType.TRACING, expectedAttachType: AttachType.TRACE_FEXIT, attachBtfId: btf.find("square", "func"), attachProgFd: target.fd, flags: 0 },
    ]);
    coll.close();
  });

  it("target functions that cannot be attached: ResolveErrors naming program, target and function; nothing loaded, nothing left open", () => {
    const k = installFakeKernel();
    const { target, coll } = loadTarget(k);
    const before = new Set(k.open);
    const loads = k.progLoadAttrs.length;
    const load = (fn: string | undefined, program: TargetProgram = target) =>
      () => Collection.load(spec("sections"), { targetBtf: kernelBtf(), programs: ["s_freplace"], attachTargets: { s_freplace: { program, ...(fn ? { function: fn } : {}) } } });
    expect(load(undefined)).toThrow(/program "s_freplace" \(freplace\/some_func\): no function some_func in the BTF of target program "second" \(id 7\)/);
    expect(load("square")).toThrow(/function square of target program "second" \(id 7\) is static: freplace replaces only global functions/);
    expect(load("first")).toThrow(/function first is not part of target program "second" \(id 7\) \(its functions: second, global_add, square\)/);
    expect(load("global_add", { id: TARGET_ID + 1 })).toThrow(); // no such program
    expect(load("first")).toThrow(ResolveError);
    expect(k.progLoadAttrs.length).toBe(loads);
    expect(new Set(k.open)).toEqual(before);
    coll.close();
  });

  it("a target program without BTF, a program kind that takes no BPF target, a target for a program not loaded: clear errors", () => {
    const k = installFakeKernel();
    const { target, coll } = loadTarget(k, { btf: false });
    const s = spec("sections");
    const o = { targetBtf: kernelBtf() };
    expect(() => Collection.load(s, { ...o, programs: ["s_freplace"], attachTargets: { s_freplace: { program: target, function: "global_add" } } })).toThrow(
      /target program "second" \(id 7\) has no BTF/,
    );
    expect(() => Collection.load(s, { ...o, programs: ["s_xdp"], attachTargets: { s_xdp: { program: target, function: "second" } } })).toThrow(
      /program "s_xdp" \(xdp\): only freplace, fentry, fexit and fmod_ret programs take a BPF program/,
    );
    expect(() => Collection.load(s, { ...o, programs: ["s_xdp"], attachTargets: { s_freplace: { program: target } } })).toThrow(/attachTargets: program s_freplace is not loaded/);
    expect(() => Collection.load(s, { ...o, programs: ["s_xdp"], attachTargets: { nope: { program: target } } })).toThrow(/attachTargets: program nope is not in this object/);
    coll.close();
    expect(k.open.size).toBe(0);
  });

  it("EPERM on an freplace load while other programs load (the probes prove trampolines refused): NotSupportedError naming the program and its target, nothing left open", () => {
    clearProbeCache();
    const k = installFakeKernel();
    const { coll } = loadTarget(k);
    const before = new Set(k.open);
    k.progLoad = (call) => (call.type === ProgramType.EXT || call.type === ProgramType.TRACING ? { errno: 1 } : {});
    let err: unknown;
    try {
      Collection.load(spec("sections"), { targetBtf: kernelBtf(), programs: ["s_freplace"], attachTargets: { s_freplace: { program: { id: TARGET_ID }, function: "global_add" } } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(/program "s_freplace" \(freplace\/some_func\) on function global_add of program id 7: a program that needs a BPF trampoline/);
    expect(new Set(k.open)).toEqual(before);
    coll.close();
    clearProbeCache();
  });
});

describe("BPF_LINK_CREATE of freplace against a fake kernel", () => {
  const ext = () => Program.load({ name: "ext", type: ProgramType.EXT, instructions: asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]), license: "GPL" });

  it("without a target: the load-time target (target_fd 0, target_btf_id 0, attach type 0)", () => {
    const k = installFakeKernel();
    using prog = ext();
    attachFreplace(prog).close();
    expect(k.linkCreateAttrs.map(linkCreate)).toEqual([{ progFd: prog.fd, targetFd: 0, attachType: 0, targetBtfId: 0 }]);
  });

  it("with a target: target_fd = the target program, target_btf_id = its function in its BTF", () => {
    const k = installFakeKernel();
    const { target, coll, btf } = loadTarget(k);
    using prog = ext();
    const link = attachFreplace(prog, { program: target, function: "global_add" });
    expect(link.description).toBe('freplace program "ext" replacing function global_add of program "second"');
    link.close();
    attachFreplace(prog, { program: { id: TARGET_ID }, function: "global_add" }).close();
    const [byProgram, byId] = k.linkCreateAttrs.map(linkCreate);
    expect(byProgram).toEqual({ progFd: prog.fd, targetFd: target.fd, attachType: 0, targetBtfId: btf.find("global_add", "func") });
    expect(byId?.targetBtfId).toBe(btf.find("global_add", "func"));
    expect(byId?.targetFd).not.toBe(target.fd);
    expect(k.open.has(byId?.targetFd as number)).toBe(false); // the fd opened by id is closed again
    coll.close();
  });

  it("refuses a program that is not EXT, and a target without a function", () => {
    const k = installFakeKernel();
    const { target, coll } = loadTarget(k);
    using prog = ext();
    expect(() => attachFreplace(target)).toThrow(/program "second" is not an freplace \(EXT\) program/);
    expect(() => attachFreplace(prog, { program: target })).toThrow(/freplace program "ext": name the target program's function/);
    expect(k.linkCreateAttrs).toHaveLength(0);
    coll.close();
  });
});
