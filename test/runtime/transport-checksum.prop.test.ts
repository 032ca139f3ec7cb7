// Invariant: completeTransportChecksum leaves a TCP/UDP checksum that verifies against the pseudo-header, changing only that field (a second pass changes nothing); frames it does not handle stay untouched.
/**
 * completeTransportChecksum (the release thread's checksum fix): whatever the checksum field held
 * (the pseudo-header sum a CHECKSUM_PARTIAL frame carries at TC egress, a stale or a random
 * value), the result verifies against a reference built here from an explicit pseudo-header; a
 * second pass changes nothing; frames it does not handle are left untouched.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { completeTransportChecksum } from "../../src/runtime/transport-checksum.js";
import { assertProperty } from "../helpers/property.js";

/** The ones' complement sum (folded to 16 bits) of big-endian 16-bit words, an odd byte padded. */
function onesSum(...parts: Uint8Array[]): number {
  let s = 0;
  for (const p of parts) {
    const b = Buffer.concat([Buffer.from(p), Buffer.alloc(p.length % 2)]);
    for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  }
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

interface Frame {
  readonly bytes: Uint8Array;
  readonly l4: number;
  readonly field: number;
  readonly pseudo: Uint8Array;
}

const frameArb = fc
  .record({
    v6: fc.boolean(),
    tcp: fc.boolean(),
    src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    payload: fc.uint8Array({ maxLength: 1500 }),
    ports: fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 })),
    trailer: fc.uint8Array({ maxLength: 6 }), // Ethernet padding after the IP packet
  })
  .map(({ v6, tcp, src, dst, payload, ports, trailer }): Frame => {
    const header = Buffer.alloc(tcp ? 20 : 8);
    header.writeUInt16BE(ports[0], 0);
    header.writeUInt16BE(ports[1], 2);
    if (tcp) header[12] = 5 << 4;
    else header.writeUInt16BE(8 + payload.length, 4);
    const segment = Buffer.concat([header, payload]);
    const proto = tcp ? 6 : 17;
    let ip: Buffer;
    let pseudo: Buffer;
    if (v6) {
      ip = Buffer.alloc(40);
      ip[0] = 0x60;
      ip.writeUInt16BE(segment.length, 4);
      ip[6] = proto;
      ip[7] = 64;
      ip.set(src, 8);
      ip.set(dst, 24);
      pseudo = Buffer.alloc(40);
      pseudo.set(src, 0);
      pseudo.set(dst, 16);
      pseudo.writeUInt32BE(segment.length, 32);
      pseudo[39] = proto;
    } else {
      ip = Buffer.alloc(20);
      ip[0] = 0x45;
      ip.writeUInt16BE(20 + segment.length, 2);
      ip[8] = 64;
      ip[9] = proto;
      ip.set(src.subarray(0, 4), 12);
      ip.set(dst.subarray(0, 4), 16);
      pseudo = Buffer.alloc(12);
      pseudo.set(src.subarray(0, 4), 0);
      pseudo.set(dst.subarray(0, 4), 4);
      pseudo[9] = proto;
      pseudo.writeUInt16BE(segment.length, 10);
    }
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
    const l4 = 14 + ip.length;
    return { bytes: new Uint8Array(Buffer.concat([eth, ip, segment, trailer])), l4, field: l4 + (tcp ? 16 : 6), pseudo: new Uint8Array(pseudo) };
  });

const segmentOf = (f: Frame, bytes: Uint8Array): Uint8Array => {
  const ipLength = bytes[12] === 0x86 ? 40 : 20;
  const l4len = ipLength === 40 ? (((bytes[18] as number) << 8) | (bytes[19] as number)) : (((bytes[16] as number) << 8) | (bytes[17] as number)) - 20;
  return bytes.subarray(f.l4, f.l4 + l4len);
};

describe("completeTransportChecksum", () => {
  it("the result verifies (pseudo-header + segment sum to 0xffff) whatever the field held: partial sum, zero, random", () => {
    assertProperty(
      fc.property(frameArb, fc.oneof(fc.constant("partial" as const), fc.constant("zero" as const), fc.integer({ min: 1, max: 0xffff })), (f, start) => {
        const b = new Uint8Array(f.bytes);
        const seg = segmentOf(f, b);
        const partial = onesSum(f.pseudo);
        const initial = start === "partial" ? partial : start === "zero" ? 0 : start;
        b[f.field] = initial >> 8;
        b[f.field + 1] = initial & 0xff;
        const isV4Udp = b[12] === 0x08 && b[23] === 17;
        const handled = completeTransportChecksum(b);
        if (isV4Udp && initial === 0) {
          // IPv4 UDP without a checksum stays so.
          expect(handled).toBe(false);
          expect(b).toEqual(Object.assign(new Uint8Array(f.bytes), { [f.field]: 0, [f.field + 1]: 0 }));
          return;
        }
        expect(handled).toBe(true);
        expect(onesSum(f.pseudo, seg)).toBe(0xffff);
        // Only the checksum field changed.
        for (let i = 0; i < b.length; i++) if (i !== f.field && i !== f.field + 1) expect(b[i]).toBe(f.bytes[i]);
        // A second pass changes nothing.
        const again = new Uint8Array(b);
        completeTransportChecksum(again);
        expect(again).toEqual(b);
      }),
      { numRuns: 500 },
    );
  });

  it("leaves other frames alone: ARP, ICMP, IPv4 fragments, truncated headers", () => {
    assertProperty(
      fc.property(frameArb, fc.constantFrom("arp", "icmp", "fragment", "truncated"), (f, kind) => {
        const b = new Uint8Array(f.bytes);
        const v4 = b[12] === 0x08;
        if (kind === "arp") {
          b[12] = 0x08;
          b[13] = 0x06;
        } else if (kind === "icmp") b[v4 ? 23 : 20] = v4 ? 1 : 58;
        else if (kind === "fragment") {
          if (!v4) return;
          b[21] = 1; // fragment offset 8
        }
        const input = kind === "truncated" ? b.subarray(0, v4 ? 30 : 50) : b;
        const before = new Uint8Array(input);
        expect(completeTransportChecksum(input)).toBe(false);
        expect(input).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });
});
