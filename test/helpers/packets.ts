/** Ethernet frames for BPF_PROG_TEST_RUN: IPv4/IPv6 + UDP or TCP, optional VLAN tags. */
import { parseIPv4, parseIPv6 } from "../../src/programs/common/net.js";

export interface FrameOptions {
  readonly src: string;
  readonly dst: string;
  /** 802.1Q / 802.1ad tags, outermost first: [tpid, vid]. */
  readonly vlans?: readonly (readonly [number, number])[];
  readonly srcMac?: Uint8Array;
  readonly dstMac?: Uint8Array;
  readonly protocol?: "udp" | "tcp";
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** Total frame length (padded with zeros; at least the headers). */
  readonly length?: number;
  /** IPv4 options bytes (a multiple of 4): IHL > 5. */
  readonly ipOptions?: Uint8Array;
  /** TCP flags byte (default SYN). */
  readonly tcpFlags?: number;
}

const MAC_A = Uint8Array.from([0x02, 0, 0, 0, 0, 0xa]);
const MAC_B = Uint8Array.from([0x02, 0, 0, 0, 0, 0xb]);

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet frame carrying an IPv4 or IPv6 (by the address text) UDP or TCP header. */
export function frame(o: FrameOptions): Buffer {
  const v6 = o.src.includes(":");
  const src = v6 ? parseIPv6(o.src) : parseIPv4(o.src);
  const dst = v6 ? parseIPv6(o.dst) : parseIPv4(o.dst);
  if (!src || !dst) throw new Error(`bad address ${o.src} or ${o.dst}`);
  const proto = o.protocol ?? "udp";
  const l4 = Buffer.alloc(proto === "udp" ? 8 : 20);
  l4.writeUInt16BE(o.srcPort ?? 40000, 0);
  l4.writeUInt16BE(o.dstPort ?? 9, 2);
  if (proto === "udp") l4.writeUInt16BE(8, 4);
  else {
    l4[12] = 5 << 4;
    l4[13] = o.tcpFlags ?? 0x02;
    l4.writeUInt16BE(65535, 14);
  }
  const options = o.ipOptions ?? new Uint8Array(0);
  let l3: Buffer;
  if (v6) {
    l3 = Buffer.alloc(40);
    l3[0] = 0x60;
    l3.writeUInt16BE(l4.length, 4);
    l3[6] = proto === "udp" ? 17 : 6;
    l3[7] = 64;
    l3.set(src, 8);
    l3.set(dst, 24);
  } else {
    l3 = Buffer.alloc(20 + options.length);
    l3[0] = 0x40 | ((20 + options.length) / 4);
    l3.writeUInt16BE(l3.length + l4.length, 2);
    l3[8] = 64;
    l3[9] = proto === "udp" ? 17 : 6;
    l3.set(src, 12);
    l3.set(dst, 16);
    l3.set(options, 20);
    l3.writeUInt16BE(checksum(l3), 10);
  }
  const tags = o.vlans ?? [];
  const eth = Buffer.alloc(14 + 4 * tags.length);
  eth.set(o.dstMac ?? MAC_B, 0);
  eth.set(o.srcMac ?? MAC_A, 6);
  let at = 12;
  for (const [tpid, vid] of tags) {
    eth.writeUInt16BE(tpid, at);
    eth.writeUInt16BE(vid, at + 2);
    at += 4;
  }
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, at);
  const out = Buffer.concat([eth, l3, l4]);
  return o.length && o.length > out.length ? Buffer.concat([out, Buffer.alloc(o.length - out.length)]) : out;
}
