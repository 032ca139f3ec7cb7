/** Address and C string helpers: examples of each rule (RFC 5952 and the input forms). */
import { describe, expect, it } from "vitest";
import { FormatError, cString, formatIP, formatIPv4, formatIPv6, ntohl, ntohs } from "../src/format.js";
import * as tsebpf from "../src/index.js";
import { TsebpfError } from "../src/errors.js";

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** A u32 as a struct field holding these bytes reads on this host. */
const asRead = (bytes: number[]) => new DataView(Uint8Array.from(bytes).buffer).getUint32(0, LE);
const v6 = (text: string) => {
  // Test-side parser of the full form: eight groups, no compression.
  const out = new Uint8Array(16);
  text.split(":").forEach((g, i) => new DataView(out.buffer).setUint16(i * 2, parseInt(g, 16)));
  return out;
};

describe("formatIPv4", () => {
  it("a u32 as read from a struct (network order in memory), its value, bytes and arrays", () => {
    expect(formatIPv4(asRead([127, 0, 0, 1]))).toBe("127.0.0.1");
    expect(formatIPv4(asRead([192, 168, 1, 254]))).toBe("192.168.1.254");
    expect(formatIPv4(0x7f000001, { numeric: true })).toBe("127.0.0.1");
    expect(formatIPv4(0xffffffff)).toBe("255.255.255.255");
    expect(formatIPv4(-1)).toBe("255.255.255.255"); // an s32 read
    expect(formatIPv4(Uint8Array.from([10, 0, 0, 2]))).toBe("10.0.0.2");
    expect(formatIPv4([10, 1, 2, 3])).toBe("10.1.2.3");
  });

  it("refuses what is not an IPv4 address", () => {
    expect(() => formatIPv4(2 ** 32)).toThrow(FormatError);
    expect(() => formatIPv4(1.5)).toThrow(/not a 32-bit integer/);
    expect(() => formatIPv4(new Uint8Array(5))).toThrow(/expected a u32, 4 bytes/);
    expect(() => formatIPv4([1, 2, 3, 300])).toThrow(/element 3 \(300\) is not a byte/);
    expect(() => formatIPv4([1, 2, 3, 4])).not.toThrow();
    expect(new FormatError("x")).toBeInstanceOf(TsebpfError);
  });
});

describe("formatIPv6 (RFC 5952)", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    // A single zero group is not compressed.
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    // The longest run wins; of equal runs, the leftmost.
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    // Lowercase, no leading zeros.
    ["2001:0DB8:000A:00BC:0000:0000:0000:0001", "2001:db8:a:bc::1"],
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["0:0:1:0:0:0:0:0", "0:0:1::"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    // IPv4-mapped in mixed notation; other IPv4-looking forms stay hex.
    ["0:0:0:0:0:ffff:7f00:1", "::ffff:127.0.0.1"],
    ["0:0:0:0:0:ffff:0:0", "::ffff:0.0.0.0"],
    ["0:0:0:0:0:0:7f00:1", "::7f00:1"],
    ["0:0:0:0:ffff:0:7f00:1", "::ffff:0:7f00:1"],
  ];
  it.each(cases)("%s -> %s", (full, text) => {
    expect(formatIPv6(v6(full))).toBe(text);
  });

  it("takes u8[16] as bytes, arrays or a codec's string; u16[8] and u32[4] and __int128 as read; in6_addr objects", () => {
    const bytes = v6("2001:db8:0:0:0:0:2:1");
    const expected = "2001:db8::2:1";
    expect(formatIPv6([...bytes])).toBe(expected);
    expect(formatIPv6(Buffer.from(bytes).toString("latin1"))).toBe(expected);
    expect(formatIPv6(new DataView(bytes.buffer))).toBe(expected);
    const view = new DataView(bytes.buffer);
    const u16 = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => view.getUint16(i * 2, LE));
    const u32 = [0, 1, 2, 3].map((i) => view.getUint32(i * 4, LE));
    expect(formatIPv6(u16)).toBe(expected);
    expect(formatIPv6(u32)).toBe(expected);
    expect(formatIPv6(Uint32Array.from(u32))).toBe(expected);
    const lo = view.getBigUint64(LE ? 0 : 8, LE);
    const hi = view.getBigUint64(LE ? 8 : 0, LE);
    expect(formatIPv6((hi << 64n) | lo)).toBe(expected); // unsigned __int128 read from memory
    expect(formatIPv6(0x20010db8000000000000000000020001n, { numeric: true })).toBe(expected);
    expect(formatIPv6(1n, { numeric: true })).toBe("::1");
    expect(formatIPv6({ in6_u: { u6_addr8: [...bytes], u6_addr16: u16, u6_addr32: u32 } })).toBe(expected);
    expect(formatIPv6({ in6_u: { u6_addr32: u32 } })).toBe(expected);
    expect(formatIPv6({ s6_addr: bytes })).toBe(expected);
  });

  it("refuses what is not an IPv6 address", () => {
    expect(() => formatIPv6(new Uint8Array(15))).toThrow(/IPv6 address: expected 16 bytes/);
    expect(() => formatIPv6({} as never)).toThrow(FormatError);
    expect(() => formatIPv6(1n << 128n)).toThrow(/does not fit in 16 bytes/);
    expect(() => formatIPv6([0, 0, 0, 0, 0, 0, 0, 70000])).toThrow(/not a u16/);
    expect(() => formatIPv6("\u0100".repeat(16))).toThrow(/not a byte/);
  });
});

describe("formatIP, ntohs, ntohl", () => {
  it("picks the family from the form, or from the family number (AF_INET/AF_INET6 too)", () => {
    expect(formatIP(asRead([10, 0, 0, 1]))).toBe("10.0.0.1");
    expect(formatIP(Uint8Array.from([10, 0, 0, 1]))).toBe("10.0.0.1");
    expect(formatIP(v6("0:0:0:0:0:0:0:1"))).toBe("::1");
    expect(formatIP(asRead([10, 0, 0, 1]), 2)).toBe("10.0.0.1");
    expect(formatIP(v6("fe80:0:0:0:0:0:0:1"), 10)).toBe("fe80::1");
    expect(() => formatIP(1, 3)).toThrow(/address family 3/);
  });

  it("ports and u32s in network byte order as read on this host", () => {
    const port = new DataView(Uint8Array.from([0x1f, 0x90]).buffer).getUint16(0, LE); // 8080 in network order
    expect(ntohs(port)).toBe(8080);
    expect(ntohl(asRead([127, 0, 0, 1]))).toBe(0x7f000001);
    expect(ntohl(asRead([255, 0, 0, 1]))).toBe(0xff000001);
    expect(() => ntohs(70000)).toThrow(FormatError);
  });
});

describe("cString", () => {
  it("stops at the first NUL; utf8 by default, latin1 on request", () => {
    expect(cString(Buffer.from("bash\0\0garbage"))).toBe("bash");
    expect(cString(Buffer.from("no nul"))).toBe("no nul");
    expect(cString(new Uint8Array(16))).toBe("");
    expect(cString(Buffer.from("héllo\0x"))).toBe("héllo");
    expect(cString(Buffer.from("héllo\0x"), { encoding: "latin1" })).toBe("hÃ©llo");
    expect(cString([0x68, 0x69, 0, 0x7a])).toBe("hi");
    expect(cString(new DataView(Uint8Array.from([0x61, 0x62, 0, 0x63]).buffer, 0, 4))).toBe("ab");
    // A codec's latin1 string of a char[] re-decoded as UTF-8.
    expect(cString(Buffer.from("naïve\0\0").toString("latin1"))).toBe("naïve");
    expect(cString(Buffer.from([0xff, 0x41, 0]))).toBe("\ufffdA");
    expect(() => cString({} as never)).toThrow(FormatError);
    expect(() => cString("a", { encoding: "ascii" as never })).toThrow(/utf8 or latin1/);
  });

  it("is exported from the package root", () => {
    expect(tsebpf.formatIPv6).toBe(formatIPv6);
    expect(tsebpf.cString).toBe(cString);
    expect(tsebpf.FormatError).toBe(FormatError);
  });
});
