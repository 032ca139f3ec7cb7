/** Interface ioctls (MAC address, driver, TX checksum offload) through the kernel seam, against a fake kernel. */
import { afterEach, describe, expect, it } from "vitest";
import { SyscallError, useKernel, type Kernel } from "../../src/syscall/index.js";
import { interfaceDriver, interfaceHardwareAddress, setTxChecksumOffload, txChecksumOffload } from "../../src/syscall/netdev.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

const SIOCGIFHWADDR = 0x8927;
const SIOCETHTOOL = 0x8946;

/** A NIC named eth7 with a MAC, a driver and a TX checksum flag; every ioctl recorded. */
class NicKernel extends FakeKernel {
  readonly ioctls: { request: number; name: string; cmd?: number; data?: number }[] = [];
  readonly sockets: number[] = [];
  txcsum = 1;
  failWith = 0;
  override socket = (domain: number, type: number) => {
    expect(domain).toBe(2); // AF_INET
    expect(type & 0xf).toBe(2); // SOCK_DGRAM
    const fd = 300 + this.sockets.length;
    this.sockets.push(fd);
    this.open.add(fd);
    return fd;
  };
  constructor() {
    super();
    // FakeKernel's ioctl takes no arguments (it only fails): this one answers.
    (this as unknown as Kernel).ioctl = (_fd, request, arg) => this.answer(request, arg);
  }

  private answer(request: number, arg: Uint8Array | number | null): number {
    if (!(arg instanceof Uint8Array)) throw new Error("expected a struct ifreq");
    const req = Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
    expect(req.byteLength).toBe(40);
    const name = req.toString("latin1", 0, req.indexOf(0));
    if (this.failWith) return -this.failWith;
    if (name !== "eth7") return -19;
    if (request === SIOCGIFHWADDR) {
      this.ioctls.push({ request, name });
      req.writeUInt16LE(1, 16); // ARPHRD_ETHER
      req.set([0x02, 0x11, 0x22, 0x33, 0x44, 0x55], 18);
      return 0;
    }
    const data = this.memoryAt(req.readBigUInt64LE(16));
    if (request !== SIOCETHTOOL || !data) return -22;
    const v = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const cmd = v.readUInt32LE(0);
    this.ioctls.push({ request, name, cmd, ...(cmd === 0x17 ? { data: v.readUInt32LE(4) } : {}) });
    if (cmd === 0x03) v.write("veth\0", 4, "latin1");
    else if (cmd === 0x16) v.writeUInt32LE(this.txcsum, 4);
    else if (cmd === 0x17) this.txcsum = v.readUInt32LE(4);
    else return -95;
    return 0;
  }
}

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

const install = (): NicKernel => {
  const k = new NicKernel();
  restore = useKernel(k as unknown as Kernel);
  return k;
};

describe("interface ioctls", () => {
  it("reads the MAC from SIOCGIFHWADDR's sockaddr", () => {
    const k = install();
    expect([...interfaceHardwareAddress("eth7")]).toEqual([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(k.ioctls).toEqual([{ request: SIOCGIFHWADDR, name: "eth7" }]);
  });

  it("reads the driver and gets and sets TX checksum offload through SIOCETHTOOL", () => {
    const k = install();
    expect(interfaceDriver("eth7")).toBe("veth");
    expect(txChecksumOffload("eth7")).toBe(true);
    setTxChecksumOffload("eth7", false);
    expect(txChecksumOffload("eth7")).toBe(false);
    expect(k.ioctls.map((i) => [i.cmd, i.data])).toEqual([[0x03, undefined], [0x16, undefined], [0x17, 0], [0x16, undefined]]);
  });

  it("closes its socket every time, also on failure", () => {
    const k = install();
    interfaceDriver("eth7");
    expect(() => interfaceDriver("eth9")).toThrow(SyscallError);
    expect(k.sockets).toHaveLength(2);
    expect([...k.open].filter((fd) => fd >= 300)).toEqual([]);
  });

  it("errors name the ioctl and the interface; EPERM says which capability", () => {
    const k = install();
    expect(() => interfaceHardwareAddress("eth9")).toThrow('ioctl SIOCGIFHWADDR interface "eth9": ENODEV');
    k.failWith = 1;
    expect(() => setTxChecksumOffload("eth7", false)).toThrow('ioctl SIOCETHTOOL ETHTOOL_STXCSUM interface "eth7": EPERM: needs CAP_NET_ADMIN');
    expect(() => interfaceDriver("a-name-much-too-long")).toThrow(/not a valid interface name/);
  });
});
