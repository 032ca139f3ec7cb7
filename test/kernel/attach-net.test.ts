import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { readCollectionSpec } from "../../src/elf/index.js";
import { attachTc } from "../../src/runtime/attach-tc.js";
import { attachXdp } from "../../src/runtime/attach-xdp.js";
import { Collection } from "../../src/runtime/collection.js";
import { ifindex, withNetns } from "../../src/syscall/netns.js";
import { describeKernel, udpReaches, useTopology } from "../helpers/kernel.js";

const spec = () => readCollectionSpec(readFileSync("test/fixtures/attach.bpfel.o"));

describeKernel("XDP and TC attachments with real traffic", () => {
  const topology = useTopology();
  let port = 41000;

  for (const netlink of [false, true]) {
    for (const mode of ["generic", "native"] as const) {
      it(`XDP drops traffic and detaching restores it (${netlink ? "netlink" : "bpf_link"}, ${mode})`, () => {
        const { a, b } = topology();
        using c = Collection.load(spec(), { programs: ["xdp_drop"] });
        expect(udpReaches(a.ns, b.ns, b.ipv4, ++port)).toBe(true);
        const att = withNetns(b.ns.path, () => attachXdp(c.program("xdp_drop"), ifindex(b.ifname), { mode, netlink }));
        try {
          expect(att.via).toBe(netlink ? "netlink" : "link");
          const shown = b.ns.exec("ip", ["-d", "link", "show", b.ifname]);
          expect(shown).toMatch(mode === "generic" ? /xdpgeneric/ : /xdp(drv)? /);
          expect(udpReaches(a.ns, b.ns, b.ipv4, ++port, 800)).toBe(false);
        } finally {
          att.close(); // from outside the namespace: the attachment knows where it belongs
        }
        expect(b.ns.exec("ip", ["-d", "link", "show", b.ifname])).not.toMatch(/prog\/xdp/);
        expect(udpReaches(a.ns, b.ns, b.ipv4, ++port)).toBe(true);
      });
    }
  }

  for (const netlink of [false, true]) {
    it(`TC drops traffic and detaching restores it, leaving no qdisc behind (${netlink ? "clsact/cls_bpf" : "TCX"})`, () => {
      const { a, b } = topology();
      using c = Collection.load(spec(), { programs: ["tc_drop"] });
      const att = withNetns(b.ns.path, () => attachTc(c.program("tc_drop"), ifindex(b.ifname), "ingress", { netlink }));
      try {
        expect(att.via).toBe(netlink ? "netlink" : "tcx");
        if (netlink) expect(b.ns.exec("tc", ["filter", "show", "dev", b.ifname, "ingress"])).toMatch(/bpf .*tc_drop.*direct-action/s);
        expect(udpReaches(a.ns, b.ns, b.ipv4, ++port, 800)).toBe(false);
      } finally {
        att.close();
      }
      expect(b.ns.exec("tc", ["qdisc", "show", "dev", b.ifname])).not.toMatch(/clsact/);
      expect(udpReaches(a.ns, b.ns, b.ipv4, ++port)).toBe(true);
    });
  }

  it("TC through clsact/cls_bpf leaves a clsact qdisc that was there before in place, with its own filter", () => {
    const { a, b } = topology();
    const tc = (...args: string[]) => b.ns.exec("tc", args);
    tc("qdisc", "add", "dev", b.ifname, "clsact");
    try {
      // Someone else's filter on the qdisc (classic BPF: this kernel has no other classifier).
      tc("filter", "add", "dev", b.ifname, "egress", "prio", "7", "bpf", "bytecode", "1,6 0 0 0,");
      using c = Collection.load(spec(), { programs: ["tc_drop"] });
      const program = c.program("tc_drop");
      const ingress = withNetns(b.ns.path, () => attachTc(program, ifindex(b.ifname), "ingress", { netlink: true }));
      try {
        const egress = withNetns(b.ns.path, () => attachTc(program, ifindex(b.ifname), "egress", { netlink: true, priority: 3 }));
        try {
          expect([ingress.via, egress.via]).toEqual(["netlink", "netlink"]);
          expect(tc("filter", "show", "dev", b.ifname, "ingress")).toMatch(/bpf .*tc_drop.*direct-action/s);
          expect(tc("filter", "show", "dev", b.ifname, "egress")).toMatch(/pref 3 bpf .*tc_drop.*pref 7 bpf .*bytecode/s);
          expect(udpReaches(a.ns, b.ns, b.ipv4, ++port, 800)).toBe(false);
        } finally {
          egress.close();
        }
      } finally {
        ingress.close();
      }
      // Ours gone, the qdisc and the other filter still there.
      expect(tc("qdisc", "show", "dev", b.ifname)).toMatch(/qdisc clsact ffff:/);
      expect(tc("filter", "show", "dev", b.ifname, "ingress")).not.toMatch(/tc_drop/);
      const egressFilters = tc("filter", "show", "dev", b.ifname, "egress");
      expect(egressFilters).not.toMatch(/tc_drop/);
      expect(egressFilters).toMatch(/pref 7 bpf .*bytecode '1,6 0 0 0'/s);
      expect(udpReaches(a.ns, b.ns, b.ipv4, ++port)).toBe(true);
    } finally {
      b.ns.spawn("tc", ["qdisc", "del", "dev", b.ifname, "clsact"]); // whatever the test left
    }
    expect(tc("qdisc", "show", "dev", b.ifname)).not.toMatch(/clsact/);
  });

  it("an unknown interface gives one clear error", () => {
    expect(() => ifindex("tsebpf-nope0")).toThrow(/interface "tsebpf-nope0": no such device|ENODEV/);
    void spawnSync;
  });
});
