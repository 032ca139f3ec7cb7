// Invariant: IPv6 addresses and masked prefixes print and parse back to themselves.
import fc from "fast-check";
import { isIPv6 } from "node:net";
import { describe, expect, it } from "vitest";
import { formatIPv6, formatPrefix, maskAddress, parseIPv4, parseIPv6, parseMac, parsePrefix } from "../../src/programs/common/net.js";
import { assertProperty } from "../helpers/property.js";

describe("addresses", () => {
  it("parses IPv4 strictly", () => {
    expect([...(parseIPv4("10.1.2.255") ?? [])]).toEqual([10, 1, 2, 255]);
    for (const bad of ["10.1.2", "10.1.2.3.4", "010.1.2.3", "10.1.2.256", "a.b.c.d", "", "1..2.3"]) expect(parseIPv4(bad), bad).toBeUndefined();
  });

  it("parses IPv6 in every form and prints RFC 5952 text", () => {
    expect(formatIPv6(parseIPv6("fd00:0:0:0:0:0:0:1") ?? new Uint8Array())).toBe("fd00::1");
    expect(formatIPv6(parseIPv6("::") ?? new Uint8Array())).toBe("::");
    expect(formatIPv6(parseIPv6("::ffff:10.0.0.1") ?? new Uint8Array())).toBe("::ffff:a00:1");
    expect(formatIPv6(parseIPv6("2001:db8:0:0:1:0:0:1") ?? new Uint8Array())).toBe("2001:db8::1:0:0:1");
    expect(formatIPv6(parseIPv6("2001:DB8::") ?? new Uint8Array())).toBe("2001:db8::");
    for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", ":::", "fe80::1%eth0", "1.2.3.4::", "1.2.3.4::1", "::1.2.3.4:1"]) expect(parseIPv6(bad), bad).toBeUndefined();
  });

  it("property: IPv6 bytes -> text -> bytes is the identity, and Node agrees the text is IPv6", () => {
    assertProperty(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 8 }), (bytes, zeroGroups) => {
        for (const g of zeroGroups) bytes[2 * g] = bytes[2 * g + 1] = 0;
        const text = formatIPv6(bytes);
        expect(isIPv6(text)).toBe(true);
        expect([...(parseIPv6(text) ?? [])]).toEqual([...bytes]);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: a masked address with its length is a prefix that prints and parses back", () => {
    assertProperty(
      fc.property(fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }), (v4, raw, len) => {
        const family = v4 ? "ipv4" : "ipv6";
        const length = v4 ? len % 33 : len;
        const address = maskAddress(raw.subarray(0, v4 ? 4 : 16), length);
        const text = formatPrefix({ family, address, length });
        const back = parsePrefix(text, family);
        expect(back.ok && [...back.prefix.address]).toEqual([...address]);
        expect(back.ok && back.prefix.length).toBe(length);
      }),
      { numRuns: 2000 },
    );
  });

  it("parses MAC addresses", () => {
    expect([...(parseMac("02:00:0a:ff:00:01") ?? [])]).toEqual([2, 0, 10, 255, 0, 1]);
    expect([...(parseMac("02-00-0A-FF-00-01") ?? [])]).toEqual([2, 0, 10, 255, 0, 1]);
    for (const bad of ["02:00:0a:ff:00", "02:00:0a:ff:00:01:02", "02:00-0a:ff:00:01", "zz:00:0a:ff:00:01"]) expect(parseMac(bad), bad).toBeUndefined();
  });
});
