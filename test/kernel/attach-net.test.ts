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

  it("an unknown interface gives one clear error", () => {
    expect(() => ifindex("tsebpf-nope0")).toThrow(/interface "tsebpf-nope0": no such device|ENODEV/);
    void spawnSync;
  });
});
