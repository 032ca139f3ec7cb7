/**
 * rtnetlink attach paths on a real kernel, inside namespaces the test creates: XDP (generic
 * and native, on veth), clsact + cls_bpf, root qdiscs. `ip` and `tc` (run with nsenter) are
 * the oracles; UDP between the namespaces shows the programs really run.
 */
import { readlinkSync } from "node:fs";
import { afterEach, expect, it } from "vitest";
import { AttachType, ProgramType } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { linkCreate } from "../../src/runtime/link.js";
import { Program } from "../../src/runtime/program.js";
import { NetlinkError, NetlinkSocket, messageAttrs } from "../../src/syscall/netlink.js";
import { NoSuchInterfaceError, ifindex, withNetns } from "../../src/syscall/netns.js";
import {
  clsBpfAdd,
  clsBpfDelete,
  clsBpfList,
  clsactAdd,
  clsactDelete,
  clsactExists,
  linkName,
  qdiscList,
  RTM,
  rootQdisc,
  rootQdiscDelete,
  rootQdiscReplace,
  xdpAttach,
  xdpDetach,
  xdpQuery,
} from "../../src/syscall/rtnetlink.js";
import { describeKernel, udpReaches, useTopology, type VethPair } from "../helpers/kernel.js";

const XDP_DROP = 1;
const XDP_PASS = 2;
const TC_ACT_SHOT = 2;

function load(name: string, type: number, r0: number): Program {
  return Program.load({ name, type, instructions: asm.encode([asm.mov64Imm(asm.R0, r0), asm.exit()]), license: "GPL" });
}

let port = 40000 + (process.pid % 2000);
/** Whether UDP from a to b's IPv4 address arrives (a fresh port each time). */
const reaches = (p: VethPair) => udpReaches(p.a.ns, p.b.ns, p.b.ipv4, port++);

/** Whatever a failed test left on both ends: no XDP program, no clsact, the default root qdisc. */
function cleanUp(p: VethPair): void {
  for (const end of [p.a, p.b]) {
    withNetns(end.ns.path, () => {
      const idx = ifindex(end.ifname);
      if (xdpQuery(idx).attached !== "none") for (const mode of ["generic", "native"] as const) xdpDetach(idx, mode);
      if (clsactExists(idx)) clsactDelete(idx);
      if (rootQdisc(idx)?.kind !== "noqueue") rootQdiscDelete(idx);
    });
  }
}

describeKernel("withNetns", () => {
  const topology = useTopology();

  it("returns to the original namespace when fn throws; sockets opened inside stay there", () => {
    const { b } = topology();
    const self = () => readlinkSync("/proc/thread-self/ns/net");
    const before = self();
    expect(() =>
      withNetns(b.ns.path, () => {
        expect(self()).not.toBe(before);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(self()).toBe(before);
    expect(() => withNetns("/nonexistent/netns", () => 1)).toThrow(/open network namespace \/nonexistent\/netns: ENOENT/);
    expect(() => withNetns(b.ns.path, async () => 1)).toThrow(/must be synchronous/);
    expect(self()).toBe(before);

    // A socket opened inside keeps talking to that namespace.
    using s = withNetns(b.ns.path, () => NetlinkSocket.open());
    const idx = withNetns(b.ns.path, () => ifindex(b.ifname));
    expect(withNetns(b.ns.path, () => linkName(idx))).toBe(b.ifname);
    const ifinfo = new Uint8Array(16);
    new DataView(ifinfo.buffer).setInt32(4, idx, new Uint8Array(new Uint16Array([1]).buffer)[0] === 1);
    const [reply] = s.request(RTM.GETLINK, 0, ifinfo, [], { operation: "link query from outside" });
    expect(reply && messageAttrs(reply, 16).get(3 /* IFLA_IFNAME */)?.string()).toBe(b.ifname);
  });
});

describeKernel("rtnetlink XDP", () => {
  const topology = useTopology();
  afterEach(() => cleanUp(topology()));

  for (const mode of ["generic", "native"] as const) {
    it(`attaches, queries, refuses a second attach and detaches in ${mode} mode`, () => {
      const pair = topology();
      const { b } = pair;
      using drop = load("xdp_drop", ProgramType.XDP, XDP_DROP);
      using pass = load("xdp_pass", ProgramType.XDP, XDP_PASS);
      const dropId = drop.info().id;
      expect(reaches(pair)).toBe(true);

      const idx = withNetns(b.ns.path, () => ifindex(b.ifname));
      const state = withNetns(b.ns.path, () => {
        xdpAttach(idx, drop.fd, { mode });
        return xdpQuery(idx);
      });
      expect(state.attached).toBe(mode);
      expect(state.progId).toBe(dropId);
      expect(state[mode]).toBe(dropId);

      // Oracle: iproute2 sees the same program in the same mode.
      const shown = b.ns.ip("-d", "link", "show", "dev", b.ifname);
      expect(shown.split("\n")[0]).toContain(mode === "generic" ? " xdpgeneric " : " xdp ");
      expect(shown).toMatch(new RegExp(`prog/xdp id ${dropId} name xdp_drop\\b`));

      expect(reaches(pair)).toBe(false);

      // Without replace, a second program is refused with the kernel's words.
      const refused = (() => {
        try {
          withNetns(b.ns.path, () => xdpAttach(idx, pass.fd, { mode }));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(refused).toBeInstanceOf(NetlinkError);
      const err = refused as NetlinkError;
      expect(err.code).toBe("EBUSY");
      expect(err.syscall).toBe("sendmsg");
      expect(err.extack?.message).toBe("XDP program already attached");
      expect(err.message).toBe(`netlink RTM_SETLINK (XDP attach on ${b.ifname}, ${mode} mode): EBUSY: XDP program already attached; ${"another XDP program is attached in this mode (replace it, or detach it first)"}`);

      // Atomic replace: only while the expected program is the one attached.
      withNetns(b.ns.path, () => xdpAttach(idx, pass.fd, { mode, expectedFd: drop.fd }));
      expect(withNetns(b.ns.path, () => xdpQuery(idx))[mode]).toBe(pass.info().id);
      expect(reaches(pair)).toBe(true);
      expect(() => withNetns(b.ns.path, () => xdpAttach(idx, drop.fd, { mode, expectedFd: drop.fd }))).toThrow(/EEXIST: Active program does not match expected/);
      withNetns(b.ns.path, () => xdpAttach(idx, drop.fd, { mode, replace: true }));
      expect(reaches(pair)).toBe(false);

      withNetns(b.ns.path, () => xdpDetach(idx, mode));
      expect(withNetns(b.ns.path, () => xdpQuery(idx))).toEqual({ attached: "none" });
      expect(b.ns.ip("-d", "link", "show", "dev", b.ifname)).not.toContain("prog/xdp");
      expect(reaches(pair)).toBe(true);
    });
  }

  it("generic and native together are refused (EEXIST) and reported as multi when the kernel allows it", () => {
    const { b } = topology();
    using drop = load("xdp_drop", ProgramType.XDP, XDP_DROP);
    withNetns(b.ns.path, () => {
      const idx = ifindex(b.ifname);
      xdpAttach(idx, drop.fd, { mode: "generic" });
      try {
        expect(() => xdpAttach(idx, drop.fd, { mode: "native" })).toThrow(/EEXIST: Native and generic XDP can't be active at the same time/);
      } finally {
        xdpDetach(idx, "generic");
      }
      expect(xdpQuery(idx).attached).toBe("none");
    });
  });

  it("names the bpf_link that holds the interface", () => {
    const { b } = topology();
    using drop = load("xdp_drop", ProgramType.XDP, XDP_DROP);
    withNetns(b.ns.path, () => {
      const idx = ifindex(b.ifname);
      using _link = linkCreate({ programFd: drop.fd, target: idx, attachType: AttachType.XDP, flags: 2 /* generic */, description: "xdp link" });
      expect(xdpQuery(idx).generic).toBe(drop.info().id);
      expect(() => xdpAttach(idx, drop.fd, { mode: "generic", replace: true })).toThrow(
        `netlink RTM_SETLINK (XDP attach on ${b.ifname}, generic mode): EBUSY: Can't replace active BPF XDP link`,
      );
    });
  });

  it("a bad fd or a program of the wrong type: NetlinkError naming the operation and interface", () => {
    const { b } = topology();
    using shot = load("tc_shot", ProgramType.SCHED_CLS, TC_ACT_SHOT);
    withNetns(b.ns.path, () => {
      const idx = ifindex(b.ifname);
      const attempt = (fd: number) => {
        try {
          xdpAttach(idx, fd, { mode: "generic" });
        } catch (e) {
          return e as NetlinkError;
        }
        throw new Error("attach succeeded");
      };
      const badFd = attempt(1_000_000);
      expect(badFd).toBeInstanceOf(NetlinkError);
      expect(badFd.code).toBe("EBADF");
      expect(badFd.message).toContain(`netlink RTM_SETLINK (XDP attach on ${b.ifname}, generic mode): EBADF`);
      const wrongType = attempt(shot.fd);
      expect(wrongType.code).toBe("EINVAL");
      expect(xdpQuery(idx).attached).toBe("none");
    });
  });

  it("a missing interface: a clear error by name, ENODEV by index", () => {
    const { b } = topology();
    withNetns(b.ns.path, () => {
      expect(() => ifindex("veth9")).toThrow(NoSuchInterfaceError);
      expect(() => ifindex("veth9")).toThrow(/^interface "veth9": no such device$/);
      expect(() => ifindex("a-name-far-too-long")).toThrow(/not a valid interface name/);
      let err: unknown;
      try {
        xdpQuery(999_999);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NetlinkError);
      expect((err as NetlinkError).code).toBe("ENODEV");
      expect((err as NetlinkError).message).toContain("(XDP query on ifindex 999999): ENODEV");
    });
    // The test's own interface is not visible outside its namespace.
    expect(() => ifindex(b.ifname)).toThrow(`interface "${b.ifname}": no such device`);
  });
});

describeKernel("rtnetlink TC", () => {
  const topology = useTopology();
  afterEach(() => cleanUp(topology()));

  it("clsact + cls_bpf direct-action on ingress: tc sees it, traffic drops, then flows after delete", () => {
    const pair = topology();
    const { b } = pair;
    using shot = load("tc_shot", ProgramType.SCHED_CLS, TC_ACT_SHOT);
    const id = shot.info().id;
    expect(reaches(pair)).toBe(true);
    const idx = withNetns(b.ns.path, () => ifindex(b.ifname));

    const added = withNetns(b.ns.path, () => {
      expect(clsactExists(idx)).toBe(false);
      clsactAdd(idx);
      expect(clsactExists(idx)).toBe(true);
      expect(() => clsactAdd(idx)).toThrow(NetlinkError);
      return clsBpfAdd(idx, "ingress", shot.fd, { name: "tc_shot", priority: 1, handle: 1 });
    });
    expect(added).toMatchObject({ ifindex: idx, hook: "ingress", priority: 1, handle: 1, protocol: 3, name: "tc_shot", programId: id, directAction: true });
    expect(added.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(withNetns(b.ns.path, () => clsBpfList(idx, "ingress"))).toEqual([added]);
    expect(withNetns(b.ns.path, () => clsBpfList(idx, "egress"))).toEqual([]);

    // Oracle.
    const shown = b.ns.exec("tc", ["filter", "show", "dev", b.ifname, "ingress"]);
    expect(shown).toMatch(/filter protocol all pref 1 bpf chain 0 handle 0x1 tc_shot direct-action/);
    expect(shown).toContain(`id ${id} name tc_shot tag ${added.tag}`);
    expect(b.ns.exec("tc", ["qdisc", "show", "dev", b.ifname])).toMatch(/qdisc clsact ffff: parent ffff:fff1/);

    expect(reaches(pair)).toBe(false);

    // The same priority and handle again: EEXIST, unless replacing.
    expect(() => withNetns(b.ns.path, () => clsBpfAdd(idx, "ingress", shot.fd, { priority: 1, handle: 1 }))).toThrow(/EEXIST/);

    withNetns(b.ns.path, () => clsBpfDelete(idx, "ingress", { priority: 1, handle: 1 }));
    expect(withNetns(b.ns.path, () => clsBpfList(idx, "ingress"))).toEqual([]);
    expect(b.ns.exec("tc", ["filter", "show", "dev", b.ifname, "ingress"]).trim()).toBe("");
    expect(reaches(pair)).toBe(true);

    withNetns(b.ns.path, () => clsactDelete(idx));
    expect(withNetns(b.ns.path, () => clsactExists(idx))).toBe(false);
    expect(b.ns.exec("tc", ["qdisc", "show", "dev", b.ifname])).not.toContain("clsact");
    expect(() => withNetns(b.ns.path, () => clsactDelete(idx))).toThrow(NetlinkError);
  });

  it("egress, with priority and handle chosen by the kernel", () => {
    const pair = topology();
    const { a } = pair;
    using shot = load("tc_shot", ProgramType.SCHED_CLS, TC_ACT_SHOT);
    using pass = load("tc_pass", ProgramType.SCHED_CLS, 0 /* TC_ACT_OK */);
    const idx = withNetns(a.ns.path, () => ifindex(a.ifname));
    try {
      const [first, second] = withNetns(a.ns.path, () => {
        clsactAdd(idx);
        return [clsBpfAdd(idx, "egress", pass.fd, { name: "tc_pass" }), clsBpfAdd(idx, "egress", shot.fd, { name: "tc_shot" })];
      });
      // The kernel picks 49152 for the first priority, then lower ones (which run first).
      expect(first?.priority).toBe(0xc000);
      expect(first?.handle).toBeGreaterThan(0);
      expect(second?.priority).toBeLessThan(0xc000);
      expect(second?.programId).toBe(shot.info().id);
      const listed = withNetns(a.ns.path, () => clsBpfList(idx, "egress"));
      expect(listed.map((f) => [f.priority, f.handle, f.name, f.programId])).toEqual(
        [second, first].map((f) => [f?.priority, f?.handle, f?.name, f?.programId]),
      );
      const shown = a.ns.exec("tc", ["filter", "show", "dev", a.ifname, "egress"]);
      expect(shown).toContain(`pref ${second?.priority} bpf chain 0 handle 0x${second?.handle.toString(16)} tc_shot direct-action`);
      expect(reaches(pair)).toBe(false);

      // Deleting by priority alone removes that priority's filters.
      withNetns(a.ns.path, () => clsBpfDelete(idx, "egress", { priority: second?.priority ?? 0 }));
      expect(withNetns(a.ns.path, () => clsBpfList(idx, "egress")).map((f) => f.name)).toEqual(["tc_pass"]);
      expect(reaches(pair)).toBe(true);
      // No priority: every filter of the hook.
      withNetns(a.ns.path, () => clsBpfDelete(idx, "egress"));
      expect(withNetns(a.ns.path, () => clsBpfList(idx, "egress"))).toEqual([]);
    } finally {
      withNetns(a.ns.path, () => clsactExists(idx) && clsactDelete(idx));
    }
    expect(a.ns.exec("tc", ["qdisc", "show", "dev", a.ifname])).not.toContain("clsact");
  });

  it("a filter without clsact, or with a bad fd: NetlinkError with the kernel's text", () => {
    const { b } = topology();
    withNetns(b.ns.path, () => {
      const idx = ifindex(b.ifname);
      let err: unknown;
      try {
        clsBpfAdd(idx, "ingress", 1_000_000, { priority: 1 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NetlinkError);
      expect((err as NetlinkError).message).toMatch(new RegExp(`^netlink RTM_NEWTFILTER \\(cls_bpf filter add on ${b.ifname} ingress priority 1\\): E`));
      // The kernel's words ("Parent Qdisc doesn't exists" on 6.x) are in the message.
      expect((err as NetlinkError).extack?.message).toMatch(/qdisc/i);
      expect((err as NetlinkError).message).toContain(`: EINVAL: ${(err as NetlinkError).extack?.message}`);

      clsactAdd(idx);
      try {
        expect(() => clsBpfAdd(idx, "ingress", 1_000_000, { priority: 1 })).toThrow(/EBADF/);
      } finally {
        clsactDelete(idx);
      }
    });
  });

  it("root qdisc: query, replace by kind, delete back to the default", () => {
    const { b } = topology();
    withNetns(b.ns.path, () => {
      const idx = ifindex(b.ifname);
      const before = rootQdisc(idx);
      expect(before?.kind).toBe("noqueue");
      // Kinds that need no options and are always built in (this kernel may lack fq_codel).
      rootQdiscReplace(idx, "pfifo_fast");
      expect(rootQdisc(idx)?.kind).toBe("pfifo_fast");
      expect(b.ns.exec("tc", ["qdisc", "show", "dev", b.ifname])).toMatch(/qdisc pfifo_fast [0-9a-f]+: root/);
      rootQdiscReplace(idx, "pfifo");
      expect(rootQdisc(idx)?.kind).toBe("pfifo");
      expect(qdiscList(idx).map((q) => q.kind)).toContain("pfifo");
      expect(() => rootQdiscReplace(idx, "no_such_qdisc_kind")).toThrow(NetlinkError);
      rootQdiscDelete(idx);
      expect(rootQdisc(idx)?.kind).toBe("noqueue");
      expect(b.ns.exec("tc", ["qdisc", "show", "dev", b.ifname])).toMatch(/qdisc noqueue 0: root/);
    });
  });
});
