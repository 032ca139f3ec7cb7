/**
 * Network device ioctls on an AF_INET datagram socket: the hardware address (SIOCGIFHWADDR), the
 * driver's name (ETHTOOL_GDRVINFO, `ethtool -i`) and TX checksum offload (ETHTOOL_GTXCSUM and
 * ETHTOOL_STXCSUM, what `ethtool -K IF tx` does). They act in the network namespace of the calling thread, where the socket is opened.
 */
import { SyscallError } from "./errors.js";
import { kernel } from "./kernel.js";
import { SOCK_CLOEXEC } from "./socket.js";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SIOCGIFHWADDR = 0x8927;
const SIOCETHTOOL = 0x8946;
const ETHTOOL_GDRVINFO = 0x03;
const ETHTOOL_GTXCSUM = 0x16;
const ETHTOOL_STXCSUM = 0x17;
const IFNAMSIZ = 16;
/** struct ifreq: the name, then a 24-byte union (sockaddr, or a pointer for SIOCETHTOOL). */
const IFREQ_SIZE = 40;

function ifreq(name: string): Buffer {
  const buf = Buffer.alloc(IFREQ_SIZE);
  const bytes = Buffer.from(name, "latin1");
  if (bytes.byteLength === 0 || bytes.byteLength >= IFNAMSIZ) throw new SyscallError(19 /* ENODEV */, { syscall: "ioctl", object: `interface "${name}"`, hint: "not a valid interface name" });
  bytes.copy(buf, 0);
  return buf;
}

function withSocket<T>(fn: (fd: number) => T): T {
  const k = kernel();
  const fd = k.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError(-fd, { syscall: "socket", object: "AF_INET datagram socket for interface ioctls" });
  try {
    return fn(fd);
  } finally {
    k.close(fd);
  }
}

function ioctl(fd: number, request: number, req: Buffer, what: string): void {
  const r = kernel().ioctl(fd, request, req);
  if (r < 0) throw new SyscallError(-r, { syscall: "ioctl", object: what, ...(r === -1 ? { hint: "needs CAP_NET_ADMIN" } : {}) });
}

/** The interface's hardware (MAC) address, 6 bytes for Ethernet. */
export function interfaceHardwareAddress(name: string): Uint8Array {
  return withSocket((fd) => {
    const req = ifreq(name);
    ioctl(fd, SIOCGIFHWADDR, req, `SIOCGIFHWADDR interface "${name}"`);
    // ifr_hwaddr: struct sockaddr at 16 (sa_family u16, then the address in sa_data).
    return Uint8Array.from(req.subarray(18, 24));
  });
}

/** SIOCETHTOOL with `data` as the command's struct (its first u32 is the command). */
function ethtool(name: string, data: Buffer, what: string): void {
  withSocket((fd) => {
    const req = ifreq(name);
    req.writeBigUInt64LE(kernel().address(data), 16); // ifr_data
    ioctl(fd, SIOCETHTOOL, req, `SIOCETHTOOL ${what} interface "${name}"`);
    void data; // referenced until the call returned
  });
}

/** The interface's driver (`veth`, `virtio_net`, `bridge` …), as `ethtool -i` shows it. */
export function interfaceDriver(name: string): string {
  // struct ethtool_drvinfo: cmd, then driver[32], version[32], fw_version[32], bus_info[32] …
  const info = Buffer.alloc(196);
  info.writeUInt32LE(ETHTOOL_GDRVINFO, 0);
  ethtool(name, info, "ETHTOOL_GDRVINFO");
  const driver = info.subarray(4, 36);
  const end = driver.indexOf(0);
  return driver.toString("latin1", 0, end < 0 ? driver.byteLength : end);
}

function ethtoolValue(name: string, cmd: number, data: number, what: string): number {
  const value = Buffer.alloc(8); // struct ethtool_value { u32 cmd; u32 data; }
  value.writeUInt32LE(cmd, 0);
  value.writeUInt32LE(data >>> 0, 4);
  ethtool(name, value, what);
  return value.readUInt32LE(4);
}

/** Whether TX checksum offload is on (ETHTOOL_GTXCSUM). */
export const txChecksumOffload = (name: string): boolean => ethtoolValue(name, ETHTOOL_GTXCSUM, 0, "ETHTOOL_GTXCSUM") !== 0;

/** Turns TX checksum offload on or off (ETHTOOL_STXCSUM; needs CAP_NET_ADMIN). */
export function setTxChecksumOffload(name: string, on: boolean): void {
  ethtoolValue(name, ETHTOOL_STXCSUM, on ? 1 : 0, "ETHTOOL_STXCSUM");
}
