/** `inspect` and `load --type` on programs whose section names say nothing (no kernel needed). */
import { describe, expect, it } from "vitest";
import { tsebpf } from "./run.js";

const OBJ = "test/fixtures/sections_wild.bpfel.o";

describe("tsebpf inspect: unspecified and guessed programs", () => {
  it("--json lists every program with its type source and the reasons it would not load", async () => {
    const r = await tsebpf("inspect", OBJ, "--json");
    expect(r.code).toBe(0);
    const programs = JSON.parse(r.stdout).programs as { name: string; section: string; type: string; typeSource: string; guessed: boolean; attachType: string | null; wouldNotLoad: { kind: string; message: string }[] }[];
    expect(programs).toHaveLength(18);
    expect(programs.find((p) => p.name === "balancer_ingress")).toMatchObject({
      section: "l4lb-demo",
      type: "unspecified",
      typeSource: "unspecified",
      guessed: false,
      attachType: null,
      wouldNotLoad: [{ kind: "unspecified-type", message: expect.stringMatching(/^program balancer_ingress \(section "l4lb-demo"\) has an unspecified type/) }],
    });
    expect(programs.find((p) => p.name === "egress_1")).toMatchObject({ section: "cgroup_skb/egress/1", type: "cgroup_skb", typeSource: "legacy", guessed: true, attachType: "cgroup_inet_egress", wouldNotLoad: [] });
    expect(programs.find((p) => p.name === "xdp_strict")).toMatchObject({ type: "xdp", typeSource: "section", guessed: false, wouldNotLoad: [] });
    expect(programs.filter((p) => p.wouldNotLoad.length > 0).map((p) => p.name)).toEqual(["balancer_ingress", "cls_test_a", "cls_test_b", "dummy_tp", "no_prefix", "optional_unspecified"]);
  });

  it("the table shows unspecified, (guessed), and a would-not-load list", async () => {
    const r = await tsebpf("inspect", "test/fixtures/sections_wild.bpfeb.o");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n {2}cls_test_a +cls_test +unspecified +- /);
    expect(r.stdout).toMatch(/\n {2}xdp_dummy_prog +xdp_dummy +xdp \(guessed\) +xdp /);
    expect(r.stdout).toMatch(/\n {2}getsockopt_child +cgroup\/getsockopt\/child +cgroup_sockopt \(guessed\) +cgroup_getsockopt /);
    expect(r.stdout).toMatch(/\n {2}sockops_prog +sockops +sock_ops +cgroup_sock_ops /);
    expect(r.stdout).toContain('\nwould not load:\n  program balancer_ingress (section "l4lb-demo") has an unspecified type');
  });

  it("an object whose programs all have types has no would-not-load list", async () => {
    const r = await tsebpf("inspect", "test/fixtures/maps.bpfel.o");
    expect(r.stdout).not.toContain("would not load");
  });

  it("--help explains unspecified and guessed types", async () => {
    const r = await tsebpf("inspect", "--help");
    expect(r.stdout).toMatch(/unspecified/);
    expect(r.stdout).toMatch(/guessed/);
    expect(r.stdout).toMatch(/wouldNotLoad/);
  });
});

describe("tsebpf load: unspecified programs before the kernel", () => {
  it("without --type: one line naming every unspecified program, nothing loaded", async () => {
    const r = await tsebpf("load", OBJ);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^tsebpf: programs balancer_ingress \(section "l4lb-demo"\), cls_test_a \(section "cls_test"\), cls_test_b \(section "cls_test"\), dummy_tp \(section "dummy_tracepoint"\), no_prefix \(section "no-sec-prefix-xdp"\) have unspecified types: .*--type TYPE or --type NAME=TYPE.*\n$/);
  });

  it("-p of one unspecified program names just it", async () => {
    const r = await tsebpf("load", OBJ, "-p", "dummy_tp");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsebpf: program dummy_tp \(section "dummy_tracepoint"\) has an unspecified type: no section-name rule knows its section; set one before load: --type TYPE/);
  });

  it("bad --type values: one line naming the value", async () => {
    const cases: [string[], RegExp][] = [
      [["--type", "xdpp"], /^tsebpf: --type xdpp: program type "xdpp": not a known type; give a section name \(xdp, tc, socket, .*\) or a BPF_PROG_TYPE name/],
      [["--type", "nosuch=xdp"], /^tsebpf: --type nosuch=xdp: no program "nosuch" in this object \(there are: xdp_dummy_prog, balancer_ingress, /],
      [["--type", "cls_test_a=bogus"], /^tsebpf: --type cls_test_a=bogus: program type "bogus": not a known type/],
      [["--type", "=xdp"], /^tsebpf: --type: expected TYPE or NAME=TYPE, not '=xdp'/],
      [["--type", "xdp", "tc"], /^tsebpf: --type: one TYPE for the programs without one \(given: xdp, tc\)/],
      [["--type", "cls_test_a=unspec"], /^tsebpf: --type cls_test_a=unspec: program type "unspec": a program cannot be loaded without a type/],
    ];
    for (const [args, message] of cases) {
      const r = await tsebpf("load", OBJ, ...args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stderr.split("\n")).toHaveLength(2);
    }
  });

  it("--type TYPE on an object whose programs all have types is refused (NAME=TYPE overrides)", async () => {
    const r = await tsebpf("load", "test/fixtures/maps.bpfel.o", "--type", "xdp");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsebpf: --type xdp: every program's section name gives its type already; use NAME=TYPE to override one\n$/);
  });

  it("NAME=TYPE for some leaves the others named", async () => {
    const r = await tsebpf("load", OBJ, "--type", "balancer_ingress=xdp", "cls_test_a=tc", "cls_test_b=tc", "no_prefix=xdp");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsebpf: program dummy_tp \(section "dummy_tracepoint"\) has an unspecified type/);
  });

  it("--help documents --type", async () => {
    const r = await tsebpf("load", "--help");
    expect(r.stdout).toMatch(/--type <type\.\.\.> +program type for every program whose section name\s+gives none/);
    expect(r.stdout).toContain("tsebpf load old.o --type xdp");
    expect(r.stdout).toMatch(/--event-type/);
  });
});
