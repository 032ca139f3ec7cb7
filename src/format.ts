/**
 * Small formatting helpers every loader needs for what BPF programs report: IPv4 and IPv6
 * addresses (RFC 5952 text for IPv6), ports in network byte order, and C strings from `char[]`.
 * Pure: no kernel, no I/O.
 *
 * Addresses in kernel structs are in network byte order (`__be32 saddr`, `struct in6_addr`,
 * `skc_rcv_saddr`). Read as an integer on this host — by a codec, `DataView` in host order or
 * `readUInt32LE` on x86 — their bytes are in memory order, not the address's numeric value.
 * These helpers take such integers as they were read ("memory order", the default), or, with
 * `{ numeric: true }`, as the address's value (0x7f000001 is 127.0.0.1: after `bpf_ntohl`).
 */
import { TsebpfError } from "./errors.js";

/** A value these helpers cannot format (wrong length or type): names what was expected. */
export class FormatError extends TsebpfError {
  override readonly name = "FormatError";
}

export interface AddressOptions {
  /**
   * Integers are the address's numeric value, most significant byte first (0x7f000001 is
   * 127.0.0.1), not a field read from memory in this host's byte order. Default false.
   */
  readonly numeric?: boolean;
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The bytes a u32 read from memory on this host came from (numeric: its big-endian bytes). */
function u32Bytes(value: number, numeric: boolean, what: string): Uint8Array {
  if (!Number.isInteger(value) || value < -(2 ** 31) || value > 2 ** 32 - 1) throw new FormatError(`${what}: ${value} is not a 32-bit integer`);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, numeric ? false : HOST_LE);
  return out;
}

function bigBytes(value: bigint, size: number, numeric: boolean, what: string): Uint8Array {
  const bits = BigInt(size * 8);
  if (value < -(1n << (bits - 1n)) || value >= 1n << bits) throw new FormatError(`${what}: ${value} does not fit in ${size} bytes`);
  let v = BigInt.asUintN(size * 8, value);
  const out = new Uint8Array(size);
  // Big-endian first; a value read from memory on a little-endian host is reversed.
  for (let i = size - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  if (!numeric && HOST_LE) out.reverse();
  return out;
}

/** Bytes from an array of byte values, checked. */
function byteArray(values: ArrayLike<number>, what: string): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = values[i] as number;
    if (!Number.isInteger(b) || b < 0 || b > 255) throw new FormatError(`${what}: element ${i} (${b}) is not a byte`);
    out[i] = b;
  }
  return out;
}

/** A latin1 string's bytes (codecs give `char[]`/`u8[]` as such strings). */
function latin1Bytes(text: string, what: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) throw new FormatError(`${what}: character ${i} is not a byte (U+${c.toString(16).padStart(4, "0")})`);
    out[i] = c;
  }
  return out;
}

/** The 4 bytes of an IPv4 address given as a u32, 4 bytes or a 4-byte array. */
function ipv4Bytes(address: unknown, numeric: boolean): Uint8Array {
  const what = "IPv4 address";
  if (typeof address === "number") return u32Bytes(address, numeric, what);
  if (typeof address === "bigint") return bigBytes(address, 4, numeric, what);
  const bytes = asBytes(address, what);
  if (bytes?.length === 4) return bytes;
  throw new FormatError(`${what}: expected a u32, 4 bytes or a 4-element byte array, got ${describe(address)}`);
}

function asBytes(address: unknown, what: string): Uint8Array | undefined {
  if (address instanceof Uint8Array) return address;
  if (address instanceof DataView) return new Uint8Array(address.buffer, address.byteOffset, address.byteLength);
  if (typeof address === "string") return latin1Bytes(address, what);
  if (Array.isArray(address) && address.every((x) => typeof x === "number")) return address.length === 16 || address.length === 4 ? byteArray(address, what) : undefined;
  return undefined;
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return "null";
  if (typeof v === "object") return `an object with ${Object.keys(v as object).join(", ") || "no members"}`;
  return `${typeof v} ${String(v)}`;
}

/**
 * `127.0.0.1` from an IPv4 address: a u32 field as read from a struct (`__be32 saddr`: network
 * order in memory; `{ numeric: true }` for a value after ntohl), 4 bytes, or `[127, 0, 0, 1]`.
 */
export function formatIPv4(address: number | bigint | Uint8Array | DataView | readonly number[], options: AddressOptions = {}): string {
  const b = ipv4Bytes(address, options.numeric === true);
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** What an `in6_addr` decodes to: a union of byte, u16 and u32 arrays (the first one present is used). */
export interface In6AddrLike {
  readonly in6_u?: In6AddrLike;
  readonly u6_addr8?: readonly number[] | Uint8Array | string;
  readonly u6_addr16?: readonly number[];
  readonly u6_addr32?: readonly number[];
  readonly s6_addr?: readonly number[] | Uint8Array | string;
  readonly s6_addr16?: readonly number[];
  readonly s6_addr32?: readonly number[];
}

/** An IPv6 address as BPF programs hand it over. */
export type IPv6Input = Uint8Array | Uint16Array | Uint32Array | DataView | bigint | readonly number[] | string | In6AddrLike;

function words(values: readonly number[], size: 2 | 4, numeric: boolean, what: string): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  values.forEach((w, i) => {
    if (!Number.isInteger(w) || w < 0 || w >= 2 ** (size * 8)) throw new FormatError(`${what}: element ${i} (${w}) is not a u${size * 8}`);
    if (size === 2) view.setUint16(i * 2, w, numeric ? false : HOST_LE);
    else view.setUint32(i * 4, w, numeric ? false : HOST_LE);
  });
  return out;
}

/** The 16 bytes of an IPv6 address. */
function ipv6Bytes(address: unknown, numeric: boolean): Uint8Array {
  const what = "IPv6 address";
  if (typeof address === "bigint") return bigBytes(address, 16, numeric, what);
  if (Array.isArray(address) && address.every((x) => typeof x === "number")) {
    if (address.length === 8) return words(address, 2, numeric, what);
    if (address.length === 4) return words(address, 4, numeric, what);
  }
  if (address instanceof Uint16Array && address.length === 8) return words([...address], 2, numeric, what);
  if (address instanceof Uint32Array && address.length === 4) return words([...address], 4, numeric, what);
  const bytes = asBytes(address, what);
  if (bytes?.length === 16) return bytes;
  if (address !== null && typeof address === "object" && !ArrayBuffer.isView(address) && !Array.isArray(address)) {
    const a = address as In6AddrLike;
    if (a.in6_u !== undefined) return ipv6Bytes(a.in6_u, numeric);
    const eight = a.u6_addr8 ?? a.s6_addr;
    if (eight !== undefined) return ipv6Bytes(eight, numeric);
    const sixteen = a.u6_addr16 ?? a.s6_addr16;
    if (sixteen?.length === 8) return words(sixteen, 2, numeric, what);
    const thirtyTwo = a.u6_addr32 ?? a.s6_addr32;
    if (thirtyTwo?.length === 4) return words(thirtyTwo, 4, numeric, what);
  }
  throw new FormatError(`${what}: expected 16 bytes, a 16-byte or 8 x u16 or 4 x u32 array, an __int128 bigint or an in6_addr, got ${describe(address)}`);
}

/**
 * RFC 5952 text of an IPv6 address: lowercase hex without leading zeros, the longest run of two
 * or more zero groups as `::` (the leftmost of equal runs; a single zero group stays `0`), and
 * IPv4-mapped addresses as `::ffff:a.b.c.d`. Takes `u8[16]` (bytes, an array, a codec's latin1
 * string), `__u32[4]`/`__u16[8]` arrays and `unsigned __int128` bigints as read from memory
 * (`{ numeric: true }`: as values), or a decoded `struct in6_addr` (`{ in6_u: { u6_addr8 } }`).
 */
export function formatIPv6(address: IPv6Input, options: AddressOptions = {}): string {
  const b = ipv6Bytes(address, options.numeric === true);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] as number) << 8) | (b[i + 1] as number));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  // The longest run of zero groups (the first of equal ones), if it has two or more.
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}

/**
 * An address of either family: 4 bytes or a u32 is IPv4, 16 bytes (or an IPv6 form) IPv6;
 * `family` (4 or 6, or AF_INET 2 / AF_INET6 10 as programs report it) decides when given.
 */
export function formatIP(address: number | bigint | IPv6Input, family?: number, options: AddressOptions = {}): string {
  if (family !== undefined) {
    if (family === 4 || family === 2) return formatIPv4(address as number, options);
    if (family === 6 || family === 10) return formatIPv6(address as IPv6Input, options);
    throw new FormatError(`address family ${family}: expected 4 or 6 (AF_INET 2 or AF_INET6 10)`);
  }
  if (typeof address === "number") return formatIPv4(address, options);
  const bytes = asBytes(address, "address");
  if (bytes?.length === 4) return formatIPv4(bytes);
  return formatIPv6(address as IPv6Input, options);
}

/** A u16 in network byte order (`__be16 dport`) as read on this host, as its value: `ntohs`. */
export function ntohs(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new FormatError(`ntohs: ${value} is not a u16`);
  return HOST_LE ? ((value & 0xff) << 8) | (value >>> 8) : value;
}

/** A u32 in network byte order (`__be32`) as read on this host, as its value: `ntohl`. */
export function ntohl(value: number): number {
  if (!Number.isInteger(value) || value < -(2 ** 31) || value > 2 ** 32 - 1) throw new FormatError(`ntohl: ${value} is not a u32`);
  const v = value >>> 0;
  return HOST_LE ? (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0 : v;
}

export interface CStringOptions {
  /** How the bytes are decoded: `utf8` (default; invalid sequences become U+FFFD) or `latin1` (one character per byte). */
  readonly encoding?: "utf8" | "latin1";
}

const utf8 = new TextDecoder("utf-8");

/**
 * The text of a C string in a `char[]`: the bytes up to the first NUL (all of them when there
 * is none). Takes bytes, a DataView, an array of byte values, or a codec's latin1 string of the
 * array (re-decoded with `encoding`: `cString(event.comm)` reads UTF-8 names right).
 */
export function cString(chars: Uint8Array | DataView | readonly number[] | string, options: CStringOptions = {}): string {
  const what = "cString";
  const bytes =
    chars instanceof Uint8Array
      ? chars
      : chars instanceof DataView
        ? new Uint8Array(chars.buffer, chars.byteOffset, chars.byteLength)
        : typeof chars === "string"
          ? latin1Bytes(chars, what)
          : Array.isArray(chars)
            ? byteArray(chars, what)
            : undefined;
  if (bytes === undefined) throw new FormatError(`${what}: expected bytes, a byte array or a latin1 string, got ${describe(chars)}`);
  const nul = bytes.indexOf(0);
  const text = nul < 0 ? bytes : bytes.subarray(0, nul);
  const encoding = options.encoding ?? "utf8";
  if (encoding === "latin1") {
    let out = "";
    for (let i = 0; i < text.length; i += 8192) out += String.fromCharCode(...text.subarray(i, i + 8192));
    return out;
  }
  if (encoding !== "utf8") throw new FormatError(`${what}: encoding must be utf8 or latin1, not ${String(encoding)}`);
  return utf8.decode(text);
}
