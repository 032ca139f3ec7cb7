// Invariant: formatIPv6/formatIPv4/cString agree with Node's own parsers and decoders.
/**
 * IPv6 text against Node's own parsers: for random addresses (zero runs likely), formatIPv6's
 * text is valid (net.isIPv6), denotes the same address (the WHATWG URL parser serializes it as it
 * serializes the uncompressed form), and is the canonical RFC 5952 form (which for addresses other
 * than IPv4-mapped is exactly the URL serializer's choice of `::`). IPv4 likewise against `net`
 * and `URL`, and cString against Buffer's own decoding.
 */
import { isIPv4, isIPv6 } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cString, formatIPv4, formatIPv6 } from "../src/format.js";
import { assertProperty } from "./helpers/property.js";

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const urlHost = (v6: string) => new URL(`http://[${v6}]/`).hostname.slice(1, -1);

// Groups drawn mostly from 0 so that runs of zeros, ties and single zeros come up often.
const group = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 0xffff, 0xdb8) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
const groups = fc.oneof(
  fc.array(group, { minLength: 8, maxLength: 8 }),
  // IPv4-mapped
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([a, b]) => [0, 0, 0, 0, 0, 0xffff, a, b]),
);
const bytesOf = (gs: number[]) => {
  const out = new Uint8Array(16);
  gs.forEach((g, i) => new DataView(out.buffer).setUint16(i * 2, g));
  return out;
};

describe("formatIPv6 against Node's parsers", () => {
  it("valid, the same address, canonical", () => {
    assertProperty(
      fc.property(groups, (gs) => {
        const text = formatIPv6(bytesOf(gs));
        const full = gs.map((g) => g.toString(16)).join(":");
        expect(isIPv6(text), text).toBe(true);
        expect(urlHost(text), text).toBe(urlHost(full));
        const mapped = gs.slice(0, 5).every((g) => g === 0) && gs[5] === 0xffff;
        if (mapped) {
          expect(text).toMatch(/^::ffff:\d+\.\d+\.\d+\.\d+$/);
          expect(isIPv4(text.slice(7))).toBe(true);
        } else {
          expect(text).toBe(urlHost(full));
        }
        // Never a `::` for one zero group, never uppercase or leading zeros.
        expect(text).not.toMatch(/[A-F]|(^|:)0[0-9a-f]/);
        if (text.includes("::")) expect(text.split(":").filter((x) => x !== "").length).toBeLessThanOrEqual(6 + (mapped ? 1 : 0));
      }),
      { numRuns: 5000 },
    );
  });

  it("every input form of the same address gives the same text", () => {
    assertProperty(
      fc.property(groups, (gs) => {
        const bytes = bytesOf(gs);
        const view = new DataView(bytes.buffer);
        const text = formatIPv6(bytes);
        const int128 = (view.getBigUint64(LE ? 8 : 0, LE) << 64n) | view.getBigUint64(LE ? 0 : 8, LE);
        const numeric = (view.getBigUint64(0) << 64n) | view.getBigUint64(8);
        expect(formatIPv6(int128)).toBe(text);
        expect(formatIPv6(numeric, { numeric: true })).toBe(text);
        expect(formatIPv6([0, 1, 2, 3].map((i) => view.getUint32(i * 4, LE)))).toBe(text);
        expect(formatIPv6(gs, { numeric: true })).toBe(text);
        expect(formatIPv6({ in6_u: { u6_addr8: [...bytes] } })).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("formatIPv4 against Node's parsers", () => {
  it("as read from memory and as a value", () => {
    assertProperty(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
        const text = formatIPv4(b);
        expect(isIPv4(text)).toBe(true);
        expect(new URL(`http://${text}/`).hostname).toBe(text);
        expect(text).toBe([...b].join("."));
        const view = new DataView(b.buffer);
        expect(formatIPv4(view.getUint32(0, LE))).toBe(text);
        expect(formatIPv4(view.getUint32(0), { numeric: true })).toBe(text);
        expect(formatIPv4(view.getInt32(0, LE))).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("cString", () => {
  it("is Buffer's decoding of the bytes before the first NUL", () => {
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const nul = b.indexOf(0);
        const head = Buffer.from(nul < 0 ? b : b.subarray(0, nul));
        expect(cString(b)).toBe(head.toString("utf8"));
        expect(cString(b, { encoding: "latin1" })).toBe(head.toString("latin1"));
        expect(cString(Buffer.from(b).toString("latin1"))).toBe(head.toString("utf8"));
      }),
    );
  });
});
