import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AttachType, ProgramType } from "../../src/abi/index.js";
import { LEGACY_SECTION_TABLE, ProgramTypeError, kindForType, legacySectionKind, programKind, readCollectionSpec, setProgramType, unspecifiedKind } from "../../src/elf/index.js";
import { assertProperty } from "../helpers/property.js";
import { readFileSync } from "node:fs";

describe("libbpf 0.x prefix rules (legacy fallback)", () => {
  const cases: [string, keyof typeof ProgramType, keyof typeof AttachType | undefined, string][] = [
    ["xdp_dummy", "XDP", "XDP", "xdp*"],
    ["xdp_devmap/redirect", "XDP", "XDP_DEVMAP", "xdp_devmap/*"],
    ["xdp_cpumap/x", "XDP", "XDP_CPUMAP", "xdp_cpumap/*"],
    ["sk_skb1", "SK_SKB", undefined, "sk_skb*"],
    ["sk_msg1", "SK_MSG", "SK_MSG_VERDICT", "sk_msg*"],
    ["lwt_xmit_x", "LWT_XMIT", undefined, "lwt_xmit*"],
    ["sockops_x", "SOCK_OPS", "CGROUP_SOCK_OPS", "sockops*"],
    ["classifier_ingress", "SCHED_CLS", undefined, "classifier*"],
    ["action_drop", "SCHED_ACT", undefined, "action*"],
    ["socket1", "SOCKET_FILTER", undefined, "socket*"],
    ["cgroup_skb/egress/1", "CGROUP_SKB", "CGROUP_INET_EGRESS", "cgroup_skb/egress*"],
    ["cgroup/getsockopt/child", "CGROUP_SOCKOPT", "CGROUP_GETSOCKOPT", "cgroup/getsockopt*"],
    ["cgroup/sock_create_x", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE", "cgroup/sock_create*"],
    ["cgroup/sockx", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE", "cgroup/sock*"],
    ["cgroup/connect4_x", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT", "cgroup/connect4*"],
    ["perf_event_cycles", "PERF_EVENT", undefined, "perf_event*"],
    ["sk_lookup1", "SK_LOOKUP", "SK_LOOKUP", "sk_lookup*"],
  ];
  for (const [name, type, attach, pattern] of cases) {
    it(`guesses ${name}`, () => {
      const k = programKind(name);
      expect(k).toMatchObject({ typeSource: "legacy", pattern, programType: ProgramType[type], programTypeName: type, attachTypeName: attach, autoload: true });
      expect(k.attachType).toBe(attach === undefined ? undefined : AttachType[attach]);
      expect(legacySectionKind(name)).toEqual(k);
    });
  }

  it("applies only where libbpf 1.x's rules do not know the name", () => {
    expect(programKind("xdp")).toMatchObject({ typeSource: "section", pattern: "xdp" });
    expect(programKind("sockops")).toMatchObject({ typeSource: "section" });
    expect(programKind("xdp/foo")).toMatchObject({ typeSource: "section", pattern: "xdp/*" });
    expect(programKind("kprobe/do_sys_open")).toMatchObject({ typeSource: "section", attachTarget: "do_sys_open" });
  });

  it("keeps the ? prefix meaning not autoloaded", () => {
    expect(programKind("?xdp_dummy")).toMatchObject({ typeSource: "legacy", programTypeName: "XDP", autoload: false });
    expect(programKind("?cls_test")).toMatchObject({ typeSource: "unspecified", autoload: false });
  });

  for (const name of ["cls_test", "l4lb-demo", "dummy_tracepoint", "no-sec-prefix-xdp", "prog", "kprobefoo", "tracepointx", "XDP"]) {
    it(`leaves ${name} unspecified`, () => {
      expect(programKind(name)).toEqual(unspecifiedKind(name));
      expect(programKind(name)).toMatchObject({ typeSource: "unspecified", programType: 0, programTypeName: "UNSPEC", attachType: undefined, pattern: "" });
    });
  }

  it("is a prefix match in table order: the first entry a name begins with decides", () => {
    assertProperty(
      fc.property(fc.constantFrom(...LEGACY_SECTION_TABLE), fc.string({ maxLength: 12 }), (entry, tail) => {
        const name = entry.pattern + tail;
        const k = legacySectionKind(name);
        const first = LEGACY_SECTION_TABLE.find((x) => name.startsWith(x.pattern));
        expect(k?.pattern).toBe(`${first?.pattern}*`);
        expect(k?.programTypeName).toBe(first?.type);
      }),
      { numRuns: 500 },
    );
  });
});

describe("setProgramType", () => {
  const spec = () => readCollectionSpec(readFileSync("test/fixtures/sections_wild.bpfel.o"));

  it("sets type, expected attach type and kind from a section name, like bpftool's prog load type", () => {
    const p = spec().programs.get("balancer_ingress")!;
    expect(p.programType).toBe(ProgramType.UNSPEC);
    setProgramType(p, "xdp");
    expect(p).toMatchObject({ programType: ProgramType.XDP, attachType: AttachType.XDP, autoload: true });
    expect(p.kind).toMatchObject({ typeSource: "user", programTypeName: "XDP", attachTypeName: "XDP", pattern: "xdp" });
    setProgramType(p, "cgroup_skb/egress");
    expect(p).toMatchObject({ programType: ProgramType.CGROUP_SKB, attachType: AttachType.CGROUP_INET_EGRESS });
    setProgramType(p, "xdp.frags");
    expect(p.kind.xdpFrags).toBe(true);
    setProgramType(p, "kprobe/do_sys_open");
    expect(p).toMatchObject({ programType: ProgramType.KPROBE, attachTarget: "do_sys_open" });
  });

  it("takes a program type name or number, and an attach type", () => {
    const p = spec().programs.get("cls_test_a")!;
    setProgramType(p, "sched_cls");
    expect(p).toMatchObject({ programType: ProgramType.SCHED_CLS, attachType: undefined });
    expect(p.kind).toMatchObject({ typeSource: "user", programTypeName: "SCHED_CLS" });
    setProgramType(p, "BPF_PROG_TYPE_SOCKET_FILTER");
    expect(p.programType).toBe(ProgramType.SOCKET_FILTER);
    setProgramType(p, ProgramType.SCHED_CLS, { attachType: "TCX_INGRESS" });
    expect(p).toMatchObject({ programType: ProgramType.SCHED_CLS, attachType: AttachType.TCX_INGRESS });
    expect(p.kind.attachTypeName).toBe("TCX_INGRESS");
  });

  it("keeps the program's autoload (a ? section stays not loaded by default)", () => {
    const p = spec().programs.get("optional_unspecified")!;
    setProgramType(p, "xdp");
    expect(p.autoload).toBe(false);
    expect(p.kind.autoload).toBe(false);
  });

  it("refuses an unknown type with one line naming it, and changes nothing", () => {
    const p = spec().programs.get("dummy_tp")!;
    const before = structuredClone({ type: p.programType, kind: p.kind });
    for (const bad of ["xdpp", "unspec", "", "?xdp"]) {
      expect(() => setProgramType(p, bad)).toThrow(ProgramTypeError);
    }
    expect(() => setProgramType(p, "xdpp")).toThrow(/^program type "xdpp": not a known type; give a section name/);
    expect(() => setProgramType(p, 0)).toThrow(ProgramTypeError);
    expect(() => setProgramType(p, 999)).toThrow(/program type "999"/);
    expect(() => setProgramType(p, "xdp", { attachType: 9999 })).toThrow(/not an attach type/);
    expect({ type: p.programType, kind: p.kind }).toEqual(before);
  });

  it("kindForType marks the kind as the user's", () => {
    expect(kindForType("tc")).toMatchObject({ typeSource: "user", programTypeName: "SCHED_CLS" });
    expect(kindForType("LWT_XMIT")).toMatchObject({ typeSource: "user", programTypeName: "LWT_XMIT", attachType: undefined });
  });
});
