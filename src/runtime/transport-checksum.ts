/**
 * The TCP/UDP checksum of an Ethernet frame, written in place. A frame copied at TC egress may
 * hold only the pseudo-header sum in its checksum field (CHECKSUM_PARTIAL: the device was to
 * finish it); sent again from user space it gets no such help, and the receiver would drop it.
 * Pure and self-contained on purpose: its source text is also sent to the packet-release thread
 * (syscall/release-worker.ts), so it refers to nothing outside itself.
 */

/**
 * Computes and writes the full checksum of an IPv4 (unfragmented) or IPv6 (no extension header)
 * TCP or UDP frame, whatever the field held. Returns false, leaving the frame as it was, for
 * anything else, a truncated frame, or an IPv4 UDP datagram sent without a checksum (0).
 */
export function completeTransportChecksum(b: Uint8Array): boolean {
  /** The ones' complement sum of `b[from, to)` (16-bit big-endian words) added to `sum`. */
  const sum16 = (from: number, to: number, sum: number): number => {
    let s = sum;
    let i = from;
    for (; i + 1 < to; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] as number);
    if (i < to) s += (b[i] as number) << 8;
    return s;
  };
  const fold = (s: number): number => {
    let v = s;
    while (v > 0xffff) v = (v & 0xffff) + Math.floor(v / 0x10000);
    return v;
  };
  if (b.length < 14) return false;
  const type = ((b[12] as number) << 8) | (b[13] as number);
  let l4: number;
  let proto: number;
  let pseudo: number;
  let l4len: number;
  if (type === 0x0800) {
    if (b.length < 34 || ((b[14] as number) >> 4) !== 4) return false;
    const ihl = ((b[14] as number) & 0xf) * 4;
    const total = ((b[16] as number) << 8) | (b[17] as number);
    if (ihl < 20 || (((b[20] as number) << 8) | (b[21] as number)) & 0x3fff) return false; // a header shorter than 20 bytes, or a fragment
    proto = b[23] as number;
    l4 = 14 + ihl;
    l4len = Math.min(total, b.length - 14) - ihl;
    pseudo = sum16(26, 34, 0) + proto + l4len;
  } else if (type === 0x86dd) {
    if (b.length < 54) return false;
    proto = b[20] as number;
    l4 = 54;
    l4len = Math.min(((b[18] as number) << 8) | (b[19] as number), b.length - 54);
    pseudo = sum16(22, 54, 0) + proto + l4len;
  } else return false;
  const at = proto === 17 ? 6 : proto === 6 ? 16 : -1;
  if (at < 0 || l4len < at + 2 || l4 + l4len > b.length) return false;
  if (proto === 17 && type === 0x0800 && b[l4 + at] === 0 && b[l4 + at + 1] === 0) return false;
  b[l4 + at] = 0;
  b[l4 + at + 1] = 0;
  let c = 0xffff - fold(sum16(l4, l4 + l4len, pseudo));
  if (c === 0 && proto === 17) c = 0xffff; // UDP: 0 means "no checksum"
  b[l4 + at] = c >> 8;
  b[l4 + at + 1] = c & 0xff;
  return true;
}
