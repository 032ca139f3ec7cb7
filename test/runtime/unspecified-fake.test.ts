/**
 * Programs of unspecified type against a fake kernel: Collection.load refuses them before any
 * system call; with their type set (setProgramType), BPF_PROG_LOAD carries that type and
 * expected attach type.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AttachType, ProgramType } from "../../src/abi/index.js";
import { readCollectionSpec, setProgramType, UnspecifiedProgramTypeError } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { installFakeKernel } from "../helpers/fake-kernel.js";

const spec = () => readCollectionSpec(readFileSync("test/fixtures/sections_wild.bpfel.o"));

describe("unspecified program types and the loader", () => {
  it("refuses every unspecified program asked for before any system call", () => {
    const k = installFakeKernel();
    expect(() => Collection.load(spec())).toThrow(UnspecifiedProgramTypeError);
    expect(() => Collection.load(spec(), { programs: ["xdp_dummy_prog", "cls_test_b"] })).toThrow(/^program cls_test_b \(section "cls_test"\) has an unspecified type/);
    expect(k.calls).toEqual([]);
    expect(k.open.size).toBe(0);
  });

  it("a program not asked for may stay unspecified", () => {
    const k = installFakeKernel();
    const c = Collection.load(spec(), { programs: ["xdp_dummy_prog", "xdp_strict"] });
    expect([...c.programs.keys()]).toEqual(["xdp_dummy_prog", "xdp_strict"]);
    c.close();
    expect(k.open.size).toBe(0);
  });

  it("loads with the type and expected attach type the user set", () => {
    const k = installFakeKernel();
    const s = spec();
    setProgramType(s.programs.get("balancer_ingress")!, "xdp");
    setProgramType(s.programs.get("cls_test_a")!, "tcx/ingress");
    setProgramType(s.programs.get("dummy_tp")!, ProgramType.SOCKET_FILTER);
    const c = Collection.load(s, { programs: ["balancer_ingress", "cls_test_a", "dummy_tp", "getsockopt_child"] });
    const loads = k.progLoadAttrs.map((a) => ({ type: a.getUint32(0, true), attach: a.getUint32(68, true) }));
    expect(loads).toEqual([
      { type: ProgramType.XDP, attach: AttachType.XDP },
      { type: ProgramType.SCHED_CLS, attach: AttachType.TCX_INGRESS },
      { type: ProgramType.SOCKET_FILTER, attach: 0 },
      // guessed by libbpf 0.x's rules: loads as 0.x loaded it
      { type: ProgramType.CGROUP_SOCKOPT, attach: AttachType.CGROUP_GETSOCKOPT },
    ]);
    c.close();
  });

  it("a type assigned to the spec's fields directly loads too", () => {
    const k = installFakeKernel();
    const s = spec();
    const p = s.programs.get("cls_test_b")!;
    p.programType = ProgramType.SCHED_CLS;
    p.attachType = AttachType.TCX_EGRESS;
    const c = Collection.load(s, { programs: ["cls_test_b"] });
    expect(k.progLoadAttrs.map((a) => [a.getUint32(0, true), a.getUint32(68, true)])).toEqual([[ProgramType.SCHED_CLS, AttachType.TCX_EGRESS]]);
    c.close();
  });
});
