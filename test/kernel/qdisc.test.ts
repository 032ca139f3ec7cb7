/**
 * Root qdisc save and restore over netlink (runtime/qdisc.ts, syscall/rtnetlink.ts): a tree made
 * by the test — htb root with a class and a pfifo under it, or tbf — is snapshot, replaced, and
 * restored parameter for parameter (netlink dumps compared, raw options included).
 */
import { afterAll, expect, it } from "vitest";
import { runtime } from "../../src/index.js";
import { encodeAttrs, nla } from "../../src/syscall/netlink.js";
import { createVethPair, describeKernel, NetNs, type VethPair } from "../helpers/kernel.js";

describeKernel("root qdisc snapshot and restore", () => {
  let pair: VethPair | undefined;
  afterAll(() => {
    pair?.a.ns.remove();
    pair?.b.ns.remove();
  });
  const inA = <T>(fn: (index: number) => T): T => {
    pair ??= createVethPair(NetNs.create(), NetNs.create());
    const p = pair;
    return runtime.withNetns(p.a.ns.path, () => fn(runtime.ifindex(p.a.ifname)));
  };
  const dumpText = (index: number) =>
    JSON.stringify([...runtime.qdiscDump(index), ...runtime.tclassDump(index)].map((o) => [o.kind, o.handle, o.parent, parametersHex(o.kind, o.options)]));

  it("the default root (noqueue on veth) comes back by deleting what replaced it", () => {
    inA((index) => {
      const snap = runtime.snapshotRootQdisc(index);
      expect(snap.isDefault).toBe(true);
      expect(snap.root?.kind).toBe("noqueue");
      const before = dumpText(index);
      runtime.replaceRootQdisc(index, "pfifo");
      expect(runtime.snapshotRootQdisc(index).root?.kind).toBe("pfifo");
      expect(runtime.restoreRootQdisc(snap)).toBe(true);
      expect(dumpText(index)).toBe(before);
      expect(runtime.restoreRootQdisc(snap)).toBe(false);
    });
  });

  it("an htb root with a class and a child pfifo, then a tbf root, are restored exactly", () => {
    inA((index) => {
      const glob = Buffer.alloc(20);
      glob.writeUInt32LE(3, 0);
      glob.writeUInt32LE(10, 4);
      glob.writeUInt32LE(0x10, 8);
      runtime.qdiscCreate(index, { kind: "htb", parent: runtime.TC_H_ROOT, handle: 0x10000, options: encodeAttrs([nla.bytes(2, glob)]) }, { replace: true });
      const opt = Buffer.alloc(44);
      opt.writeUInt8(1, 1);
      opt.writeUInt32LE(250_000, 8);
      opt.writeUInt8(1, 13);
      opt.writeUInt32LE(500_000, 20);
      opt.writeUInt32LE(100_000, 24);
      opt.writeUInt32LE(100_000, 28);
      opt.writeUInt32LE(3000, 32);
      opt.writeUInt32LE(1, 40);
      runtime.tclassCreate(index, { kind: "htb", parent: 0x10000, handle: 0x10010, options: encodeAttrs([nla.bytes(1, opt)]) });
      const limit = Buffer.alloc(4);
      limit.writeUInt32LE(77, 0);
      runtime.qdiscCreate(index, { kind: "pfifo", parent: 0x10010, handle: 0x100000, options: limit });
      const before = dumpText(index);
      const snap = runtime.snapshotRootQdisc(index);
      expect(snap.classes.map((c) => c.handle)).toEqual([0x10010]);
      expect(snap.children.map((c) => c.kind)).toEqual(["pfifo"]);
      runtime.replaceRootQdisc(index, "tbf", encodeAttrs([nla.bytes(1, tbfParms())]));
      expect(runtime.restoreRootQdisc(snap)).toBe(true);
      expect(dumpText(index)).toBe(before);

      runtime.replaceRootQdisc(index, "tbf", encodeAttrs([nla.bytes(1, tbfParms())]), 0x20000);
      const tbfBefore = dumpText(index);
      const tbf = runtime.snapshotRootQdisc(index);
      runtime.qdiscDelete(index, runtime.TC_H_ROOT);
      expect(runtime.restoreRootQdisc(tbf)).toBe(true);
      expect(dumpText(index)).toBe(tbfBefore);
    });
  });

  it("fq options encode horizon, horizon drop and flow limit; fq is refused by a kernel without it", () => {
    const o = runtime.fqOptions({ horizonUs: 2_000_000, flowLimit: 500 });
    expect(Buffer.from(o).toString("hex")).toBe("08000e0080841e0005000f000100000008000200f4010000");
    inA((index) => {
      if (runtime.qdiscKindAvailable("fq") === false) expect(() => runtime.replaceRootQdisc(index, "fq", o)).toThrow(/no qdisc kind "fq"/);
    });
  });
});

function tbfParms(): Buffer {
  const q = Buffer.alloc(36);
  q.writeUInt8(1, 1);
  q.writeUInt32LE(1_250_000, 8);
  q.writeUInt32LE(30_000, 24);
  q.writeUInt32LE(100_000, 28);
  return q;
}

/**
 * A qdisc's options as hex, without what is a statistic rather than a parameter: htb's
 * TCA_HTB_INIT (struct tc_htb_glob) ends with direct_pkts, the packets its direct queue has sent
 * (a router solicitation leaving the interface counts).
 */
function parametersHex(kind: string, options: Uint8Array): string {
  const b = Buffer.from(options);
  for (let at = 0; kind === "htb" && at + 4 <= b.length; ) {
    const len = b.readUInt16LE(at);
    const type = b.readUInt16LE(at + 2) & 0x3fff;
    if (len < 4) break;
    if (type === 2 /* TCA_HTB_INIT */ && len >= 24) b.fill(0, at + 20, at + 24);
    at += (len + 3) & ~3;
  }
  return b.toString("hex");
}
