/**
 * Objects from the wild: every program of every executable section is found, whatever the
 * section is called (test/fixtures/sections_wild.bpf.c), in both byte orders — the same programs
 * libbpf's object open finds, with libbpf's type wherever libbpf 1.x has one.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ProgramType } from "../../src/abi/index.js";
import { UnspecifiedProgramTypeError, checkProgramTypes, loadProblems, readCollectionSpec, setProgramType, type ProgramTypeSource } from "../../src/elf/index.js";
import { libbpfMissing } from "../helpers/libbpf.js";
import { libbpfPrograms } from "../helpers/libbpf-sections.js";
import { itWith } from "../helpers/oracle.js";

const FILE = (order: "bpfel" | "bpfeb") => `test/fixtures/sections_wild.${order}.o`;
const read = (order: "bpfel" | "bpfeb") => readCollectionSpec(readFileSync(FILE(order)));

/** name → [section, typeSource, type]. */
const EXPECTED: Record<string, [string, ProgramTypeSource, keyof typeof ProgramType]> = {
  xdp_dummy_prog: ["xdp_dummy", "legacy", "XDP"],
  balancer_ingress: ["l4lb-demo", "unspecified", "UNSPEC"],
  cls_test_a: ["cls_test", "unspecified", "UNSPEC"],
  cls_test_b: ["cls_test", "unspecified", "UNSPEC"],
  dummy_tp: ["dummy_tracepoint", "unspecified", "UNSPEC"],
  no_prefix: ["no-sec-prefix-xdp", "unspecified", "UNSPEC"],
  optional_unspecified: ["?l4lb-optional", "unspecified", "UNSPEC"],
  sk_skb1_prog: ["sk_skb1", "legacy", "SK_SKB"],
  getsockopt_child: ["cgroup/getsockopt/child", "legacy", "CGROUP_SOCKOPT"],
  egress_1: ["cgroup_skb/egress/1", "legacy", "CGROUP_SKB"],
  legacy_classifier: ["classifier_ingress", "legacy", "SCHED_CLS"],
  legacy_action: ["action_drop", "legacy", "SCHED_ACT"],
  legacy_socket: ["socket1", "legacy", "SOCKET_FILTER"],
  legacy_devmap: ["xdp_devmap/redirect", "legacy", "XDP"],
  legacy_sk_msg: ["sk_msg1", "legacy", "SK_MSG"],
  legacy_connect4: ["cgroup/connect4_x", "legacy", "CGROUP_SOCK_ADDR"],
  sockops_prog: ["sockops", "section", "SOCK_OPS"],
  xdp_strict: ["xdp", "section", "XDP"],
};

describe("sections_wild: every program in every executable section", () => {
  for (const order of ["bpfel", "bpfeb"] as const) {
    it(`finds every program, typed by rule, legacy guess or unspecified (${order})`, () => {
      const spec = read(order);
      const found = Object.fromEntries([...spec.programs.values()].map((p) => [p.name, [p.sectionName, p.kind.typeSource, p.kind.programTypeName]]));
      expect(found).toEqual(EXPECTED);
      for (const p of spec.programs.values()) expect(p.programType, p.name).toBe(ProgramType[EXPECTED[p.name]![2]]);
      // The .text function is a subprogram of the programs that call it, never a program.
      expect(spec.programs.has("packet_length")).toBe(false);
      expect(spec.programs.get("balancer_ingress")!.subprograms).toEqual(["packet_length"]);
      expect(spec.programs.get("no_prefix")!.subprograms).toEqual(["packet_length"]);
      expect(spec.programs.get("optional_unspecified")!.autoload).toBe(false);
    });
  }

  it("reads the same programs from both byte orders", () => {
    const strip = (order: "bpfel" | "bpfeb") => [...read(order).programs.values()].map((p) => ({ name: p.name, section: p.sectionName, kind: p.kind, n: p.instructions.length }));
    expect(strip("bpfeb")).toEqual(strip("bpfel"));
  });

  itWith(libbpfMissing)("finds the programs libbpf's object open finds, with libbpf's type wherever libbpf 1.x has one", () => {
    const libbpf = libbpfPrograms(FILE("bpfel"));
    const spec = read("bpfel");
    expect(libbpf.map((p) => p.name).sort()).toEqual([...spec.programs.keys()].sort());
    for (const l of libbpf) {
      const p = spec.programs.get(l.name)!;
      // libbpf reports the section without the "?" (and autoload false instead).
      expect(p.sectionName.replace(/^\?/, ""), l.name).toBe(l.section);
      expect(p.autoload, l.name).toBe(l.autoload);
      if (l.type !== 0) {
        expect(p.kind.typeSource, l.name).toBe("section");
        expect({ type: p.programType, attach: p.attachType ?? 0 }, l.name).toEqual({ type: l.type, attach: l.attach });
      } else {
        // libbpf 1.x has no type for it: tsebpf guesses by 0.x's rules or leaves it unspecified.
        expect(["legacy", "unspecified"], l.name).toContain(p.kind.typeSource);
      }
    }
    expect(libbpf.filter((p) => p.type === 0).length).toBe(16);
  });

  it("says which programs would not load and why: unspecified type, naming the program, its section and how to set it", () => {
    const spec = read("bpfel");
    for (const p of spec.programs.values()) {
      const problems = loadProblems(spec, p);
      if (p.kind.typeSource === "unspecified") {
        expect(problems, p.name).toEqual([{ kind: "unspecified-type", message: expect.stringContaining(`program ${p.name} (section ${JSON.stringify(p.sectionName)}) has an unspecified type`) }]);
        expect(problems[0]!.message).toMatch(/no section-name rule knows its section; set one before load: --type TYPE or --type NAME=TYPE \(tsebpf load\), setProgramType\(program, TYPE\)/);
      } else {
        expect(problems, p.name).toEqual([]);
      }
    }
    // Set: no problem any more.
    const p = spec.programs.get("balancer_ingress")!;
    setProgramType(p, "xdp");
    expect(loadProblems(spec, p)).toEqual([]);
  });

  it("checkProgramTypes names every unspecified program asked for, and nothing else", () => {
    const spec = read("bpfel");
    const autoload = [...spec.programs.values()].filter((p) => p.autoload).map((p) => p.name);
    let error: unknown;
    try {
      checkProgramTypes(spec, autoload);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnspecifiedProgramTypeError);
    const e = error as UnspecifiedProgramTypeError;
    expect(e.programs.map((p) => p.name).sort()).toEqual(["balancer_ingress", "cls_test_a", "cls_test_b", "dummy_tp", "no_prefix"]);
    expect(e.message).toContain('balancer_ingress (section "l4lb-demo")');
    expect(e.message).toMatch(/have unspecified types: no section-name rule knows their sections; set one before load: --type TYPE/);
    expect(() => checkProgramTypes(spec, ["xdp_dummy_prog", "sockops_prog", "not_there"])).not.toThrow();
    expect(() => checkProgramTypes(spec, ["dummy_tp"])).toThrow(/^program dummy_tp \(section "dummy_tracepoint"\) has an unspecified type: no section-name rule knows its section; set one before load: --type TYPE/);
    for (const name of e.programs.map((p) => p.name)) setProgramType(spec.programs.get(name)!, "xdp");
    expect(() => checkProgramTypes(spec, autoload)).not.toThrow();
  });
});
