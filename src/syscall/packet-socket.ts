/**
 * AF_PACKET raw sockets that send whole Ethernet frames out of one interface. A frame sent this
 * way goes through dev_queue_xmit, so the interface's TC egress programs and qdiscs see it, and
 * carries the socket's SO_MARK as skb->mark (packet_snd takes the mark from the socket).
 */
import { SyscallError } from "./errors.js";
import { kernel } from "./kernel.js";
import { checkInt } from "./int-range.js";
import { SOCK_CLOEXEC, SOL_SOCKET } from "./socket.js";

export const AF_PACKET = 17;
export const SOCK_RAW = 3;
export const SO_MARK = 36;
/** struct sockaddr_ll. */
export const SOCKADDR_LL_BYTES = 20;

/**
 * struct sockaddr_ll for `ifindex`; `protocol` is the EtherType (host order; written big-endian
 * as sll_protocol), 0 to receive nothing.
 */
export function sockaddrLl(ifindex: number, protocol: number): Uint8Array {
  checkInt("sockaddr_ll", "sll_ifindex", ifindex, "s32");
  checkInt("sockaddr_ll", "sll_protocol", protocol, "u16");
  const b = new Uint8Array(SOCKADDR_LL_BYTES);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_PACKET, true);
  v.setUint16(2, protocol, false);
  v.setInt32(4, ifindex, true);
  return b;
}

/**
 * A raw packet socket bound to `ifindex` (protocol 0: it receives nothing) whose frames carry
 * `mark`; SyscallError naming the step and `what` otherwise (the fd is closed). Needs CAP_NET_RAW,
 * and CAP_NET_ADMIN for SO_MARK. Create it in the interface's network namespace.
 */
export function openPacketSocket(ifindex: number, mark: number, what: string): number {
  checkInt("sockaddr_ll", "sll_ifindex", ifindex, "s32");
  checkInt("setsockopt", "SO_MARK", mark, "u32");
  const k = kernel();
  const fd = k.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError(-fd, { syscall: "socket", object: `AF_PACKET ${what}`, hint: -fd === 1 ? "needs CAP_NET_RAW" : undefined });
  try {
    const b = k.bind(fd, sockaddrLl(ifindex, 0));
    if (b < 0) throw new SyscallError(-b, { syscall: "bind", object: `AF_PACKET ${what} to ifindex ${ifindex}` });
    const value = new Uint8Array(4);
    new DataView(value.buffer).setUint32(0, mark, true);
    const m = k.setsockopt(fd, SOL_SOCKET, SO_MARK, value);
    if (m < 0) throw new SyscallError(-m, { syscall: "setsockopt", object: `SO_MARK of AF_PACKET ${what}`, hint: -m === 1 ? "needs CAP_NET_ADMIN" : undefined });
    return fd;
  } catch (e) {
    k.close(fd);
    throw e;
  }
}
