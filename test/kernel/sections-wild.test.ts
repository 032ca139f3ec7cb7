/**
 * Objects from the wild against the real kernel: a program whose section name says nothing loads
 * and runs once its type is set (library and `tsebpf load --type`); programs typed by libbpf
 * 0.x's prefix rules load as they did before libbpf 1.0.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { ProgramType, programTypeName, type ProgramTypeName } from "../../src/abi/index.js";
import { readCollectionSpec, setProgramType, UnspecifiedProgramTypeError } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { probeProgramType } from "../../src/runtime/probe.js";
import { TsebpfError } from "../../src/errors.js";
import { tsebpf } from "../cli/run.js";
import { withNetns } from "../../src/syscall/netns.js";
import { describeKernel, udpReaches, useTopology } from "../helpers/kernel.js";
import { trackOwnObjects } from "../helpers/kernel-objects.js";

const OBJ = "test/fixtures/sections_wild.bpfel.o";
const spec = () => readCollectionSpec(readFileSync(OBJ));
const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_TX = 3;

describeKernel("sections from the wild", () => {
  it("an unspecified program (l4lb-demo) loads as XDP once its type is set, and runs as one", () => {
    const s = spec();
    expect(() => Collection.load(s, { programs: ["balancer_ingress"] })).toThrow(UnspecifiedProgramTypeError);
    setProgramType(s.programs.get("balancer_ingress")!, "xdp");
    setProgramType(s.programs.get("no_prefix")!, ProgramType.XDP);
    using c = Collection.load(s, { programs: ["balancer_ingress", "no_prefix", "xdp_dummy_prog"] });
    const lb = c.program("balancer_ingress");
    expect(lb.info().type).toBe(ProgramType.XDP);
    // bpf_xdp_adjust_head is XDP's alone: the verifier accepted it, so the kernel has it as XDP.
    expect(lb.testRun({ data: new Uint8Array(60) }).returnValue).toBe(XDP_TX);
    expect(lb.testRun({ data: new Uint8Array(64) }).returnValue).toBe(XDP_DROP);
    expect(c.program("no_prefix").testRun({ data: new Uint8Array(60) }).returnValue).toBe(XDP_PASS);
    // xdp_dummy: typed XDP by libbpf 0.x's "xdp" prefix, no type set.
    expect(c.program("xdp_dummy_prog").info().type).toBe(ProgramType.XDP);
    expect(c.program("xdp_dummy_prog").testRun({ data: new Uint8Array(60) }).returnValue).toBe(XDP_PASS);
  });

  const topology = useTopology();

  it("attachAll attaches a program by the type the user set (l4lb-demo as xdp: traffic to the interface stops, and flows again after detach)", () => {
    const { a, b } = topology();
    const s = spec();
    setProgramType(s.programs.get("balancer_ingress")!, "xdp");
    using c = Collection.load(s, { programs: ["balancer_ingress"] });
    expect(udpReaches(a.ns, b.ns, b.ipv4, 42101)).toBe(true);
    const attached = withNetns(b.ns.path, () => c.attachAll({ ifname: b.ifname, xdpMode: "generic" }));
    try {
      expect(attached.size).toBe(1);
      expect(attached.get("balancer_ingress").description).toMatch(/xdp/i);
      expect(b.ns.exec("ip", ["-d", "link", "show", b.ifname])).toMatch(/xdpgeneric/);
      // Not 60 bytes: XDP_DROP.
      expect(udpReaches(a.ns, b.ns, b.ipv4, 42102, 800)).toBe(false);
    } finally {
      attached.close();
    }
    expect(b.ns.exec("ip", ["-d", "link", "show", b.ifname])).not.toMatch(/prog\/xdp/);
    expect(udpReaches(a.ns, b.ns, b.ipv4, 42103)).toBe(true);
  });

  it("programs guessed by libbpf 0.x's prefix rules load with the type 0.x gave them (where this kernel has the type)", () => {
    const s = spec();
    const guessed = [...s.programs.values()].filter((p) => p.kind.typeSource === "legacy");
    expect(guessed.map((p) => p.name)).toEqual(["xdp_dummy_prog", "sk_skb1_prog", "getsockopt_child", "egress_1", "legacy_classifier", "legacy_action", "legacy_socket", "legacy_devmap", "legacy_sk_msg", "legacy_connect4"]);
    for (const p of guessed) {
      const type = programTypeName(p.programType) as ProgramTypeName;
      const probe = probeProgramType(type);
      if (probe.supported) {
        using c = Collection.load(s, { programs: [p.name] });
        expect(c.program(p.name).info().type, p.name).toBe(p.programType);
      } else {
        expect(() => Collection.load(s, { programs: [p.name] }), `${p.name}: ${type} is not supported here (${probe.reason})`).toThrow(TsebpfError);
      }
    }
  });

  it("tsebpf load --type xdp loads the programs without a type; --type NAME=TYPE one of them", async () => {
    const leftNothing = trackOwnObjects();
    const r = await tsebpf("load", OBJ, "--type", "xdp", "-p", "balancer_ingress", "no_prefix", "xdp_dummy_prog", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { programs: { name: string; type: string }[] };
    expect(out.programs.map((p) => [p.name, p.type])).toEqual([["balancer_ingress", "xdp"], ["no_prefix", "xdp"], ["xdp_dummy_prog", "xdp"]]);
    const one = await tsebpf("load", OBJ, "--type", "cls_test_a=tc", "cls_test_b=sched_cls", "-p", "cls_test_a", "cls_test_b", "--json");
    expect(one.stderr).toBe("");
    expect((JSON.parse(one.stdout) as { programs: { type: string }[] }).programs.map((p) => p.type)).toEqual(["sched_cls", "sched_cls"]);
    await leftNothing();
  });
});
