/** `tsebpf inspect` on a struct_ops object: the maps, their struct and the program at each member. */
import { describe, expect, it } from "vitest";
import { tsebpf } from "./run.js";

describe.each(["bpfel", "bpfeb"])("tsebpf inspect struct_ops.%s.o", (order) => {
  it("--json: structOps per map (struct, link, members with their programs)", async () => {
    const r = await tsebpf("inspect", `test/fixtures/struct_ops.${order}.o`, "--json");
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.maps).toContainEqual(expect.objectContaining({
      name: "tsebpf_cc", type: "struct_ops", flags: 0,
      structOps: { struct: "tcp_congestion_ops", link: false, members: [
        { member: "ssthresh", program: "tsebpf_ssthresh" }, { member: "cong_avoid", program: "tsebpf_cong_avoid" },
        { member: "undo_cwnd", program: "tsebpf_undo_cwnd" }, { member: "init", program: "tsebpf_init" },
      ] },
    }));
    expect(info.maps).toContainEqual(expect.objectContaining({ name: "tsebpf_cc_link", flags: 0x2000, structOps: expect.objectContaining({ link: true }) }));
    expect(info.programs.filter((p: { type: string }) => p.type === "struct_ops")).toHaveLength(4);
    // Other maps have no structOps key.
    expect(info.maps.find((m: { name: string }) => m.name === ".bss")).not.toHaveProperty("structOps");
  });

  it("text: a struct_ops table, one row per filled member", async () => {
    const r = await tsebpf("inspect", `test/fixtures/struct_ops.${order}.o`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("\nstruct_ops:\n");
    expect(r.stdout).toMatch(/tsebpf_cc\s+tcp_congestion_ops\s+map update\s+init\s+tsebpf_init/);
    expect(r.stdout).toMatch(/tsebpf_cc_link\s+tcp_congestion_ops\s+link\s+undo_cwnd\s+tsebpf_undo_cwnd/);
  });

  it("--help says what the struct_ops table shows", async () => {
    const r = await tsebpf("inspect", "--help");
    expect(r.stdout).toMatch(/"struct_ops" lists each \.struct_ops \/ \.struct_ops\.link map/);
  });
});

describe("tsebpf inspect without struct_ops", () => {
  it("prints no struct_ops table", async () => {
    const r = await tsebpf("inspect", "test/fixtures/maps.bpfel.o");
    expect(r.stdout).not.toContain("struct_ops:");
  });
});
