/**
 * Addresses as the programs' maps hold them: IPv4/IPv6 addresses and CIDR prefixes as network-order
 * bytes, MAC addresses as 6 bytes. Parsers return undefined for text that is not one; callers turn
 * that into a ConfigError naming the key.
 */

export type Family = "ipv4" | "ipv6";

/** A prefix: network-order address bytes (host bits zero) and its length. */
export interface Prefix {
  readonly family: Family;
  readonly address: Uint8Array;
  readonly length: number;
}

/** `10.1.2.3` as 4 bytes. Rejects leading zeros (ambiguous octal), out-of-range octets, extra parts. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e; // the end closes the last part like a '.'
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return undefined; // a leading zero
      value = 10 * value + (c - 0x30);
      if (++digits > 3 || value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

/** `fd00::1`, `::ffff:10.0.0.1`, full or compressed, as 16 bytes. Zone ids (`%eth0`) are not addresses of a rule. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  // An embedded IPv4 address may only end the address (`::ffff:10.0.0.1`).
  const groups = (s: string, last: boolean): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const items = s.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i] ?? "";
      if (last && i === items.length - 1 && item.includes(".")) {
        const v4 = parseIPv4(item);
        if (!v4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? "", halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1] ?? "", true) : [];
  if (!head || !tail) return undefined;
  const words = halves.length === 2 ? (head.length + tail.length <= 7 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : undefined) : head;
  if (!words || words.length !== 8) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

export function parseAddress(text: string, family: Family): Uint8Array | undefined {
  return family === "ipv4" ? parseIPv4(text) : parseIPv6(text);
}

/** The outcome of parsing a prefix: the prefix, or why the text is not one. */
export type PrefixParse = { ok: true; prefix: Prefix } | { ok: false; why: string };

/**
 * `10.0.0.0/8`, `10.1.2.3` (a host: /32), `fd00::/64`, `fd00::1` (/128). Host bits set under the
 * mask are an error (`10.0.0.1/8`): a rule says what it means.
 */
export function parsePrefix(text: string, family: Family): PrefixParse {
  const bits = family === "ipv4" ? 32 : 128;
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseAddress(addressText, family);
  if (!address) {
    const other = parseAddress(addressText, family === "ipv4" ? "ipv6" : "ipv4");
    return { ok: false, why: other ? `'${text}' is an ${family === "ipv4" ? "IPv6" : "IPv4"} address, not ${family === "ipv4" ? "IPv4" : "IPv6"}` : `'${text}' is not an ${family === "ipv4" ? "IPv4" : "IPv6"} address or prefix` };
  }
  let length = bits;
  if (slash >= 0) {
    const l = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(l) || Number(l) > bits) return { ok: false, why: `'${text}': prefix length must be 0..${bits}` };
    length = Number(l);
  }
  if (length < bits && hasHostBits(address, length)) {
    return { ok: false, why: `'${text}' has host bits set (the prefix is ${formatPrefix({ family, address: maskAddress(address, length), length })})` };
  }
  return { ok: true, prefix: { family, address, length } };
}

/** Whether any bit after the first `length` is set. */
function hasHostBits(address: Uint8Array, length: number): boolean {
  for (let i = length >> 3; i < address.length; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    if ((address[i] ?? 0) & (0xff >> keep)) return true;
  }
  return false;
}

/** The address with every bit after the first `length` cleared. */
export function maskAddress(address: Uint8Array, length: number): Uint8Array {
  const out = Uint8Array.from(address);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export function formatIPv4(a: Uint8Array): string {
  return [...a.subarray(0, 4)].join(".");
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
export function formatIPv6(a: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => ((a[2 * i] ?? 0) << 8) | (a[2 * i + 1] ?? 0));
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  return best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLength))}`;
}

export const formatAddress = (a: Uint8Array, family: Family): string => (family === "ipv4" ? formatIPv4(a) : formatIPv6(a));

/** `10.0.0.0/8`; hosts print without a length. */
export function formatPrefix(p: Prefix): string {
  const full = p.family === "ipv4" ? 32 : 128;
  return p.length === full ? formatAddress(p.address, p.family) : `${formatAddress(p.address, p.family)}/${p.length}`;
}

/** `02:00:00:00:00:01` (or with dashes) as 6 bytes. */
export function parseMac(text: string): Uint8Array | undefined {
  const m = /^([0-9A-Fa-f]{2})([:-])([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})$/.exec(text);
  if (!m) return undefined;
  return Uint8Array.from([m[1], m[3], m[4], m[5], m[6], m[7]].map((h) => parseInt(h ?? "0", 16)));
}

export const formatMac = (mac: Uint8Array): string => [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");

/** A Linux interface name: 1 to 15 bytes, no '/', ':' or whitespace, not '.' or '..'. */
export function isInterfaceName(name: string): boolean {
  return /^[^/\s:]{1,15}$/.test(name) && name !== "." && name !== ".." && Buffer.byteLength(name) <= 15;
}
