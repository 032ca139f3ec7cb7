/**
 * The AF_PACKET and timerfd wrappers: the bytes of sockaddr_ll and itimerspec, range checks
 * before any call, and (through a fake kernel) the socket's steps in order, with the fd closed
 * when a later step fails.
 */
import { describe, expect, it } from "vitest";
import { AF_PACKET, AttrRangeError, SOCK_CLOEXEC, SOCK_RAW, SOL_SOCKET, SO_MARK, SyscallError, itimerspecAt, openPacketSocket, sockaddrLl } from "../../src/syscall/index.js";
import { FakeKernel, installKernel } from "../helpers/fake-kernel.js";

class SocketKernel extends FakeKernel {
  readonly steps: string[] = [];
  bindAnswer = 0;
  markAnswer = 0;
  override socket = (domain: number, type: number, protocol: number) => {
    this.steps.push(`socket ${domain} ${type} ${protocol}`);
    return 40;
  };
  override bind = (fd: number, address: Uint8Array) => {
    this.steps.push(`bind ${fd} ${Buffer.from(address).toString("hex")}`);
    return this.bindAnswer;
  };
  override setsockopt = (fd: number, level: number, option: number, value: Uint8Array) => {
    this.steps.push(`setsockopt ${fd} ${level} ${option} ${new DataView(value.buffer, value.byteOffset).getUint32(0, true).toString(16)}`);
    return this.markAnswer;
  };
  override close = (fd: number) => {
    this.steps.push(`close ${fd}`);
    return 0;
  };
}


describe("AF_PACKET socket", () => {
  it("sockaddr_ll: family, big-endian EtherType, ifindex", () => {
    expect(Buffer.from(sockaddrLl(7, 0x86dd)).toString("hex")).toBe("1100" + "86dd" + "07000000" + "0".repeat(24));
    expect(() => sockaddrLl(-1 - 2 ** 31, 0)).toThrow(AttrRangeError);
    expect(() => sockaddrLl(3, 0x10000)).toThrow(/sockaddr_ll sll_protocol: 65536 does not fit in u16/);
  });

  it("socket, bind to the interface (protocol 0: receives nothing), SO_MARK — in that order", () => {
    const k = installKernel(new SocketKernel());
    expect(openPacketSocket(5, 0x6a697402, "test")).toBe(40);
    expect(k.steps).toEqual([`socket ${AF_PACKET} ${SOCK_RAW | SOCK_CLOEXEC} 0`, `bind 40 ${Buffer.from(sockaddrLl(5, 0)).toString("hex")}`, `setsockopt 40 ${SOL_SOCKET} ${SO_MARK} 6a697402`]);
  });

  it("a failing step is a SyscallError naming it; the socket is closed", () => {
    const k = installKernel(new SocketKernel());
    k.markAnswer = -1; // EPERM
    expect(() => openPacketSocket(5, 1, "test")).toThrow(SyscallError);
    expect(() => openPacketSocket(5, 1, "test")).toThrow(/setsockopt SO_MARK of AF_PACKET test: EPERM: needs CAP_NET_ADMIN/);
    expect(k.steps.at(-1)).toBe("close 40");
    k.markAnswer = 0;
    k.bindAnswer = -19; // ENODEV
    expect(() => openPacketSocket(5, 1, "test")).toThrow(/bind AF_PACKET test to ifindex 5: ENODEV/);
    expect(k.steps.at(-1)).toBe("close 40");
  });

  it("a mark or ifindex out of range is refused before any call", () => {
    const k = installKernel(new SocketKernel());
    expect(() => openPacketSocket(5, 2 ** 32, "test")).toThrow(AttrRangeError);
    expect(() => openPacketSocket(1.5, 1, "test")).toThrow(AttrRangeError);
    expect(k.steps).toEqual([]);
  });
});

describe("timerfd", () => {
  it("itimerspec of an absolute time: it_interval zero, it_value seconds and nanoseconds", () => {
    const v = new DataView(itimerspecAt(12_345_678_901n).buffer);
    expect([v.getBigInt64(0, true), v.getBigInt64(8, true), v.getBigInt64(16, true), v.getBigInt64(24, true)]).toEqual([0n, 0n, 12n, 345_678_901n]);
    expect(Buffer.from(itimerspecAt(0n)).every((b) => b === 0)).toBe(true);
    expect(() => itimerspecAt(-1n)).toThrow(RangeError);
    expect(() => itimerspecAt(2n ** 63n)).toThrow(AttrRangeError);
  });
});
