/**
 * Netlink encoding and decoding without a kernel: attributes (alignment, nesting), messages,
 * NLMSG_ERROR with extended acknowledgements, dumps, malformed replies — the socket side
 * driven through a fake kernel that answers requests with hand-built datagrams.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  NLA_F_NESTED,
  NLMSGERR_ATTR,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F,
  NetlinkDecodeError,
  NetlinkError,
  NetlinkSocket,
  align4,
  attrsToTree,
  decodeAttrs,
  decodeDoneMessage,
  decodeErrorMessage,
  decodeMessages,
  encodeAttrs,
  encodeMessage,
  messageAttrs,
  nla,
  type NlAttrSpec,
  type NlMessage,
} from "../../src/syscall/netlink.js";
import { AttrRangeError } from "../../src/syscall/errors.js";
import { NoSuchInterfaceError, ifindex } from "../../src/syscall/netns.js";
import { RTM, XDP_FLAGS, clsBpfList, xdpAttach, xdpQuery } from "../../src/syscall/rtnetlink.js";
import { useKernel } from "../../src/syscall/kernel.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, le);
  return b;
};
const s32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, le);
  return b;
};
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
};
/** A raw nlmsghdr, with a length of our choosing (for malformed messages). */
const header = (len: number, type: number, flags: number, seq: number) => {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, len, le);
  v.setUint16(4, type, le);
  v.setUint16(6, flags, le);
  v.setUint32(8, seq, le);
  return b;
};

describe("netlink attributes", () => {
  it("pads every attribute to 4 bytes and records the unpadded length", () => {
    const bytes = encodeAttrs([nla.u8(1, 0xab), nla.u16(2, 0x1234), nla.string(3, "abc"), nla.string(4, "abcd"), nla.flag(5)]);
    // u8: 5 -> 8; u16: 6 -> 8; "abc\0": 8; "abcd\0": 9 -> 12; flag: 4.
    expect(bytes.byteLength).toBe(8 + 8 + 8 + 12 + 4);
    const v = new DataView(bytes.buffer);
    expect([v.getUint16(0, le), v.getUint16(2, le)]).toEqual([5, 1]);
    expect([...bytes.subarray(5, 8)]).toEqual([0, 0, 0]); // padding is zero
    expect([v.getUint16(8, le), v.getUint16(16, le), v.getUint16(24, le), v.getUint16(36, le)]).toEqual([6, 8, 9, 4]);
    const attrs = decodeAttrs(bytes);
    expect(attrs.list.map((a) => a.type)).toEqual([1, 2, 3, 4, 5]);
    expect(attrs.get(1)?.u8()).toBe(0xab);
    expect(attrs.get(2)?.u16()).toBe(0x1234);
    expect(attrs.get(3)?.string()).toBe("abc");
    expect(attrs.get(4)?.string()).toBe("abcd");
    expect(attrs.get(5)?.payload.byteLength).toBe(0);
    expect(attrs.has(6)).toBe(false);
  });

  it("round-trips payloads of every length modulo 4, and every scalar kind", () => {
    for (let n = 0; n < 12; n++) {
      const payload = Uint8Array.from({ length: n }, (_, i) => i + 1);
      const bytes = encodeAttrs([nla.bytes(7, payload), nla.u32(8, 0xdeadbeef)]);
      expect(bytes.byteLength).toBe(align4(4 + n) + 8);
      const attrs = decodeAttrs(bytes);
      expect([...(attrs.get(7)?.payload ?? [])]).toEqual([...payload]);
      expect(attrs.get(8)?.u32()).toBe(0xdeadbeef);
    }
    const attrs = decodeAttrs(encodeAttrs([nla.s32(1, -1), nla.u64(2, 0x0123456789abcdefn), nla.be16(3, 0x0800), nla.be32(4, 0x0a000001)]));
    expect(attrs.get(1)?.s32()).toBe(-1);
    expect(attrs.get(1)?.u32()).toBe(0xffffffff);
    expect(attrs.get(2)?.u64()).toBe(0x0123456789abcdefn);
    // NLA_F_NET_BYTEORDER: big-endian on the wire, read back as numbers.
    expect(attrs.get(3)?.u16()).toBe(0x0800);
    expect([...(attrs.get(3)?.payload ?? [])]).toEqual([0x08, 0x00]);
    expect(attrs.get(4)?.u32()).toBe(0x0a000001);
  });

  it("nests attributes (NLA_F_NESTED) and decodes them into a tree", () => {
    const spec: NlAttrSpec[] = [
      nla.string(3, "veth0"),
      nla.nested(43, [nla.s32(1, 5), nla.u32(3, XDP_FLAGS.SKB_MODE), nla.nested(9, [nla.u8(1, 7), nla.flag(2)])]),
      nla.u8(4, 1),
    ];
    const bytes = encodeAttrs(spec);
    const v = new DataView(bytes.buffer);
    // veth0\0 is 6 bytes: attribute 10, padded to 12; the nest follows.
    expect(v.getUint16(12 + 2, le)).toBe(43 | NLA_F_NESTED);
    // Nest length: its header + 8 + 8 + (4 + 8 + 4) = 36.
    expect(v.getUint16(12, le)).toBe(4 + 8 + 8 + 16);
    const tree = attrsToTree(decodeAttrs(bytes));
    expect(tree).toEqual([
      { type: 3, payload: [..."veth0\0"].map((c) => c.charCodeAt(0)) },
      {
        type: 43,
        children: [
          { type: 1, payload: [...s32(5)] },
          { type: 3, payload: [...u32(2)] },
          { type: 9, children: [{ type: 1, payload: [7] }, { type: 2, payload: [] }] },
        ],
      },
      { type: 4, payload: [1] },
    ]);
    const nest = decodeAttrs(bytes).get(43);
    expect(nest?.flags).toBe(NLA_F_NESTED);
    expect(nest?.children?.get(9)?.nested().get(1)?.u8()).toBe(7);
  });

  it("decodes nests sent without NLA_F_NESTED on request (as the kernel sends IFLA_XDP)", () => {
    const bytes = encodeAttrs([nla.nested(43, [nla.u8(2, 2), nla.u32(6, 42)], false)]);
    const a = decodeAttrs(bytes).get(43);
    expect(a?.flags).toBe(0);
    expect(a?.children).toBeUndefined();
    expect(a?.nested().get(6)?.u32()).toBe(42);
  });

  it("refuses attributes larger than 64 KiB", () => {
    expect(() => encodeAttrs([nla.bytes(1, new Uint8Array(70000))])).toThrow(RangeError);
  });
});

describe("netlink messages", () => {
  it("encode and decode: header, padded family header, attributes; several per datagram", () => {
    const family = Uint8Array.from([1, 2, 3]); // odd size: padded to 4
    const a = encodeMessage({ type: RTM.SETLINK, flags: NLM_F.REQUEST | NLM_F.ACK, seq: 77, header: family, attrs: [nla.u32(1, 9)] });
    expect(a.byteLength).toBe(16 + 4 + 8);
    const b = encodeMessage({ type: RTM.GETLINK, flags: NLM_F.REQUEST | NLM_F.DUMP, seq: 78, pid: 5, header: new Uint8Array(16) });
    const msgs = decodeMessages(concat(a, b));
    expect(msgs.map((m) => [m.type, m.flags, m.seq, m.pid, m.payload.byteLength])).toEqual([
      [RTM.SETLINK, NLM_F.REQUEST | NLM_F.ACK, 77, 0, 12],
      [RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP, 78, 5, 16],
    ]);
    const first = msgs[0] as NlMessage;
    expect([...first.payload.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
    expect(messageAttrs(first, 3).get(1)?.u32()).toBe(9);
    expect(messageAttrs(msgs[1] as NlMessage, 16).size).toBe(0);
  });

  it("decodes a hand-built NLMSG_ERROR with an extended ack (capped, as with NETLINK_CAP_ACK)", () => {
    const tlvs = encodeAttrs([nla.string(NLMSGERR_ATTR.MSG, "Can't replace active BPF XDP link"), nla.u32(NLMSGERR_ATTR.OFFS, 36)]);
    const payload = concat(s32(-16), header(44, RTM.SETLINK, NLM_F.REQUEST | NLM_F.ACK, 9), tlvs);
    const msg = concat(header(16 + payload.byteLength, NLMSG_ERROR, NLM_F.CAPPED | NLM_F.ACK_TLVS, 9), payload);
    const [m] = decodeMessages(msg);
    const status = decodeErrorMessage(m as NlMessage);
    expect(status).toEqual({
      errno: 16,
      extack: { message: "Can't replace active BPF XDP link", offset: 36 },
      request: { type: RTM.SETLINK, flags: NLM_F.REQUEST | NLM_F.ACK, seq: 9 },
    });
  });

  it("decodes an NLMSG_ERROR that echoes the whole request (no NETLINK_CAP_ACK)", () => {
    const request = encodeMessage({ type: RTM.SETLINK, flags: 5, seq: 3, header: new Uint8Array(16), attrs: [nla.u8(1, 1)] }); // 40 bytes
    const tlvs = encodeAttrs([nla.string(NLMSGERR_ATTR.MSG, "Invalid XDP flags for BPF link attachment"), nla.u32(NLMSGERR_ATTR.MISS_TYPE, 8)]);
    const payload = concat(s32(-22), request, tlvs);
    const [m] = decodeMessages(concat(header(16 + payload.byteLength, NLMSG_ERROR, NLM_F.ACK_TLVS, 3), payload));
    const status = decodeErrorMessage(m as NlMessage);
    expect(status.errno).toBe(22);
    expect(status.extack).toEqual({ message: "Invalid XDP flags for BPF link attachment", missingType: 8 });
  });

  it("an acknowledgement is errno 0; a DONE carries a dump's error", () => {
    const ack = concat(header(36, NLMSG_ERROR, NLM_F.CAPPED, 1), s32(0), header(16, RTM.SETLINK, 5, 1));
    expect(decodeErrorMessage(decodeMessages(ack)[0] as NlMessage)).toMatchObject({ errno: 0, extack: {} });
    const done = concat(header(20, NLMSG_DONE, NLM_F.MULTI, 1), s32(0));
    expect(decodeDoneMessage(decodeMessages(done)[0] as NlMessage).errno).toBe(0);
    const tlvs = encodeAttrs([nla.string(NLMSGERR_ATTR.MSG, "dump failed")]);
    const failed = concat(header(20 + tlvs.byteLength, NLMSG_DONE, NLM_F.MULTI | NLM_F.ACK_TLVS, 1), s32(-95), tlvs);
    expect(decodeDoneMessage(decodeMessages(failed)[0] as NlMessage)).toEqual({ errno: 95, extack: { message: "dump failed" } });
  });

  it("malformed data: NetlinkDecodeError with the offset, never a RangeError from a DataView", () => {
    const cases: Array<() => unknown> = [
      () => decodeMessages(new Uint8Array(7)), // shorter than a header
      () => decodeMessages(header(8, 1, 0, 0)), // nlmsg_len below the header size
      () => decodeMessages(header(64, RTM.NEWLINK, 0, 0)), // runs past the datagram
      () => decodeMessages(concat(header(16, NLMSG_DONE, 0, 0), new Uint8Array(5))), // trailing bytes
      () => decodeAttrs(Uint8Array.from([2, 0, 1, 0])), // nla_len 2 < 4
      () => decodeAttrs(Uint8Array.from([12, 0, 1, 0, 0, 0, 0, 0])), // runs past the end
      () => decodeAttrs(encodeAttrs([nla.bytes(1 | NLA_F_NESTED, Uint8Array.from([9, 0, 1, 0]))])), // bad nest, flagged
      () => decodeAttrs(encodeAttrs([nla.u16(1, 1)])).get(1)?.u32(), // too short for a u32
      () => decodeAttrs(encodeAttrs([nla.flag(1)])).get(1)?.u64(),
      () => decodeErrorMessage(decodeMessages(concat(header(24, NLMSG_ERROR, 0, 0), s32(-1), new Uint8Array(4)))[0] as NlMessage), // short nlmsgerr
      () => decodeErrorMessage(decodeMessages(concat(header(36, NLMSG_ERROR, 0, 0), s32(-1), header(400, 16, 0, 0)))[0] as NlMessage), // echo too long
      () => messageAttrs(decodeMessages(concat(header(24, RTM.NEWQDISC, 0, 0), new Uint8Array(8)))[0] as NlMessage, 20), // short tcmsg
    ];
    for (const [i, c] of cases.entries()) {
      let error: unknown;
      try {
        c();
      } catch (e) {
        error = e;
      }
      expect(error, `case ${i}`).toBeInstanceOf(NetlinkDecodeError);
      expect((error as NetlinkDecodeError).message, `case ${i}`).toMatch(/^malformed netlink data at byte \d+: /);
    }
  });
});

/**
 * A fake kernel with one netlink socket: requests are recorded and answered by `answer`, which
 * returns the datagrams to queue (built with the request's sequence number).
 */
class NetlinkFake extends FakeKernel {
  readonly requests: NlMessage[] = [];
  readonly closed: number[] = [];
  readonly options: Array<[number, number]> = [];
  private queue: Uint8Array[] = [];
  answer: (request: NlMessage) => Uint8Array[] = () => [];
  names = new Map<number, string>([[4, "veth0"]]);

  override socket = (domain: number, type: number) => (domain === 16 && (type & 0xf) === 3 ? 42 : -97);
  override setsockopt = (_fd: number, level: number, option: number) => {
    this.options.push([level, option]);
    return 0;
  };
  override sendto = (fd: number, buf: Uint8Array) => {
    if (fd !== 42) return -9;
    const [m] = decodeMessages(buf.slice());
    this.requests.push(m as NlMessage);
    this.queue.push(...this.answer(m as NlMessage));
    return buf.byteLength;
  };
  override recv = (fd: number, buf: Uint8Array, flags: number) => {
    if (fd !== 42) return -9;
    const next = this.queue[0];
    if (!next) return -11; // EAGAIN: SO_RCVTIMEO ran out
    if (flags & 2 /* MSG_PEEK */) {
      buf.set(next.subarray(0, Math.min(next.byteLength, buf.byteLength)));
      return flags & 0x20 ? next.byteLength : Math.min(next.byteLength, buf.byteLength);
    }
    this.queue.shift();
    buf.set(next.subarray(0, Math.min(next.byteLength, buf.byteLength)));
    return Math.min(next.byteLength, buf.byteLength);
  };
  override ifIndexToName = (index: number) => this.names.get(index);
  override ifNameToIndex = (name: string) => [...this.names].find(([, n]) => n === name)?.[0] ?? -19;

  override close(fd: number): number {
    this.closed.push(fd);
    return 0;
  }
}

const ack = (seq: number, errno = 0, extack: NlAttrSpec[] = []) => {
  const tlvs = encodeAttrs(extack);
  const flags = NLM_F.CAPPED | (tlvs.byteLength ? NLM_F.ACK_TLVS : 0);
  return concat(header(36 + tlvs.byteLength, NLMSG_ERROR, flags, seq), s32(-errno), header(16, 0, 0, seq), tlvs);
};

/** An RTM_NEWLINK reply with the given IFLA_XDP children (sent without NLA_F_NESTED, like the kernel). */
const newlink = (seq: number, xdp: NlAttrSpec[], flags = 0) => encodeMessage({ type: RTM.NEWLINK, flags, seq, header: new Uint8Array(16), attrs: [nla.string(3, "veth0"), nla.nested(43, xdp, false)] });

describe("NetlinkSocket and rtnetlink requests (fake kernel)", () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());
  const install = () => {
    const fake = new NetlinkFake();
    restore = useKernel(fake);
    return fake;
  };

  it("sends RTM_SETLINK with a nested IFLA_XDP and turns the extended ack into the error message", () => {
    const fake = install();
    fake.answer = (r) => [ack(r.seq, 16, [nla.string(NLMSGERR_ATTR.MSG, "Can't replace active BPF XDP link")])];
    let error: unknown;
    try {
      xdpAttach(4, 33, { mode: "generic" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NetlinkError);
    const e = error as NetlinkError;
    expect(e.name).toBe("NetlinkError");
    expect([e.code, e.errno, e.syscall, e.command, e.operation]).toEqual(["EBUSY", 16, "sendmsg", "netlink RTM_SETLINK", "XDP attach on veth0, generic mode"]);
    expect(e.extack?.message).toBe("Can't replace active BPF XDP link");
    expect(e.message).toMatch(/^netlink RTM_SETLINK \(XDP attach on veth0, generic mode\): EBUSY: Can't replace active BPF XDP link; /);

    // The request as sent.
    const [r] = fake.requests;
    expect(r?.type).toBe(RTM.SETLINK);
    expect(r?.flags).toBe(NLM_F.REQUEST | NLM_F.ACK);
    expect(new DataView((r as NlMessage).payload.buffer, (r as NlMessage).payload.byteOffset).getInt32(4, le)).toBe(4); // ifi_index
    const xdp = messageAttrs(r as NlMessage, 16).get(43);
    expect(xdp?.flags).toBe(NLA_F_NESTED);
    expect(xdp?.nested().get(1)?.s32()).toBe(33);
    expect(xdp?.nested().get(3)?.u32()).toBe(XDP_FLAGS.SKB_MODE | XDP_FLAGS.UPDATE_IF_NOEXIST);
    // NETLINK_EXT_ACK and NETLINK_CAP_ACK were asked for; the socket was closed.
    expect(fake.options).toEqual(expect.arrayContaining([[270, 11], [270, 10]]));
    expect(fake.closed).toEqual([42]);
  });

  it("replace with an expected fd: XDP_FLAGS_REPLACE and IFLA_XDP_EXPECTED_FD; success is the ack", () => {
    const fake = install();
    fake.answer = (r) => [ack(r.seq)];
    xdpAttach(4, 33, { mode: "native", expectedFd: 30 });
    const xdp = messageAttrs(fake.requests[0] as NlMessage, 16).get(43)?.nested();
    expect(xdp?.get(3)?.u32()).toBe(XDP_FLAGS.DRV_MODE | XDP_FLAGS.REPLACE);
    expect(xdp?.get(8)?.s32()).toBe(30);
  });

  it("skips replies to other sequence numbers and reads a GET reply before its ack", () => {
    const fake = install();
    fake.answer = (r) => [
      ack(r.seq - 1, 22), // a late answer to an earlier request: ignored
      concat(newlink(r.seq, [nla.u8(2, 2), nla.u32(6, 99), nla.u32(4, 99)]), ack(r.seq)),
    ];
    expect(xdpQuery(4)).toEqual({ attached: "generic", progId: 99, generic: 99 });
    expect(fake.requests[0]?.type).toBe(RTM.GETLINK);
  });

  it("collects a multi-part dump across datagrams until NLMSG_DONE", () => {
    const fake = install();
    const filter = (seq: number, handle: number, name: string, id: number) => {
      const tc = new Uint8Array(20);
      const v = new DataView(tc.buffer);
      v.setInt32(4, 4, le);
      v.setUint32(8, handle, le);
      v.setUint32(12, 0xfffffff2, le);
      v.setUint32(16, ((1 << 16) | (le ? 0x0300 : 0x0003)) >>> 0, le);
      const attrs = handle === 0 ? [nla.string(1, "bpf")] : [nla.string(1, "bpf"), nla.nested(2, [nla.u32(11, id), nla.string(7, name), nla.u32(8, 1)], false)];
      return encodeMessage({ type: RTM.NEWTFILTER, flags: NLM_F.MULTI, seq, header: tc, attrs });
    };
    fake.answer = (r) => [
      concat(filter(r.seq, 0, "", 0), filter(r.seq, 1, "one", 11)),
      concat(filter(r.seq, 2, "two", 12), header(20, NLMSG_DONE, NLM_F.MULTI, r.seq), s32(0)),
    ];
    const list = clsBpfList(4, "ingress");
    expect(list.map((f) => [f.priority, f.handle, f.protocol, f.name, f.programId, f.directAction])).toEqual([
      [1, 1, 3, "one", 11, true],
      [1, 2, 3, "two", 12, true],
    ]);
    expect(fake.requests[0]?.flags).toBe(NLM_F.REQUEST | NLM_F.DUMP);
  });

  it("a failed dump (negative NLMSG_DONE) is a NetlinkError", () => {
    const fake = install();
    const tlvs = encodeAttrs([nla.string(NLMSGERR_ATTR.MSG, "Cannot find specified qdisc")]);
    fake.answer = (r) => [concat(header(20 + tlvs.byteLength, NLMSG_DONE, NLM_F.MULTI | NLM_F.ACK_TLVS, r.seq), s32(-22), tlvs)];
    expect(() => clsBpfList(4, "egress")).toThrow("netlink RTM_GETTFILTER (cls_bpf filter list on veth0 egress): EINVAL: Cannot find specified qdisc; no clsact qdisc on this interface");
  });

  it("malformed replies are NetlinkErrors (EBADMSG) naming the operation", () => {
    const fake = install();
    const attempts: Array<[(seq: number) => Uint8Array[], () => unknown]> = [
      [(seq) => [header(64, NLMSG_ERROR, 0, seq)], () => xdpAttach(4, 1)], // length past the datagram
      [(seq) => [concat(header(20, NLMSG_ERROR, 0, seq), s32(-1))], () => xdpAttach(4, 1)], // short nlmsgerr
      [(seq) => [concat(newlink(seq, [nla.u16(6, 1)]), ack(seq))], () => xdpQuery(4)], // a u16 where a u32 belongs
      [(seq) => [concat(header(24, RTM.NEWLINK, 0, seq), Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0])), ack(seq)], () => xdpQuery(4)], // short ifinfomsg
    ];
    for (const [i, [answer, call]] of attempts.entries()) {
      fake.answer = (r) => answer(r.seq);
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }
      expect(error, `case ${i}`).toBeInstanceOf(NetlinkError);
      expect((error as NetlinkError).code, `case ${i}`).toBe("EBADMSG");
      expect((error as NetlinkError).message, `case ${i}`).toMatch(/^netlink RTM_(SET|GET)LINK \(XDP (attach|query) on veth0.*\): EBADMSG: malformed netlink data at byte \d+/);
    }
  });

  it("no reply: ETIMEDOUT after the receive timeout, not a hang", () => {
    const fake = install();
    fake.answer = () => [];
    expect(() => xdpQuery(4)).toThrow(/\(XDP query on veth0\): ETIMEDOUT: no reply from the kernel within \d+ s/);
    expect(fake.closed).toEqual([42]);
  });

  it("an unknown index is named by number; a missing name is a clear error", () => {
    const fake = install();
    fake.answer = (r) => [ack(r.seq, 19)];
    expect(() => xdpQuery(7)).toThrow("netlink RTM_GETLINK (XDP query on ifindex 7): ENODEV: no interface with this index in this network namespace");
    expect(ifindex("veth0")).toBe(4);
    expect(() => ifindex("veth9")).toThrow(NoSuchInterfaceError);
    expect(() => ifindex("veth9")).toThrow(/^interface "veth9": no such device$/);
  });

  it("a socket is closed once, and refuses use after close", () => {
    const fake = install();
    const s = NetlinkSocket.open();
    s.close();
    s.close();
    expect(fake.closed).toEqual([42]);
    expect(() => s.fd).toThrow(/after close/);
  });
});

describe("netlink headers are range-checked before anything is sent", () => {
  it("nlmsghdr type and flags are u16, pid u32: AttrRangeError naming the field", () => {
    expect(() => encodeMessage({ type: 0x10000, flags: 0, seq: 1 })).toThrow(AttrRangeError);
    expect(() => encodeMessage({ type: 16, flags: -1, seq: 1 })).toThrow(/nlmsghdr nlmsg_flags: -1 does not fit in u16/);
    expect(() => encodeMessage({ type: 16, flags: 0, seq: 1, pid: 2 ** 32 })).toThrow(/nlmsg_pid/);
    expect(encodeMessage({ type: 16, flags: 5, seq: 2 ** 32 + 3 }).byteLength).toBe(16); // a sequence number wraps
  });
});
