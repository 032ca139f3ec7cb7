/**
 * Netlink attributes (rtattr/nlattr): builders, encoding with 4-byte alignment and nesting, and
 * a decoder into a tree whose malformed input gives NetlinkDecodeError, never a DataView error.
 */
import { HOST_LE } from "../asm/encoding.js";
import { TsebpfError } from "../errors.js";
import { checkInt, type IntType } from "./int-range.js";

export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

export const NLA_HDRLEN = 4;

/** Rounds up to netlink's 4-byte alignment. */
export const align4 = (n: number): number => (n + 3) & ~3;

/** A reply that does not parse: too short, a length that runs past its buffer, … */
export class NetlinkDecodeError extends TsebpfError {
  override readonly name = "NetlinkDecodeError";
  constructor(
    message: string,
    /** Byte offset in the buffer being decoded. */
    readonly offset: number,
  ) {
    super(`malformed netlink data at byte ${offset}: ${message}`);
  }
}

/** An attribute to encode: a payload, or children (a nested attribute). */
export type NlAttrSpec =
  | { readonly type: number; readonly payload: Uint8Array }
  | { readonly type: number; readonly children: readonly NlAttrSpec[]; readonly nestedFlag?: boolean };

/** A scalar payload; the type number and the value are checked first (AttrRangeError: `nlattr type 3: 70000 does not fit in u16`). */
function scalar(type: number, value: number | bigint, c: IntType, size: number, write: (v: DataView) => void): Uint8Array {
  checkInt("nlattr", "type", type, "u16");
  checkInt("nlattr", `type ${type}`, value, c);
  const b = new Uint8Array(size);
  write(new DataView(b.buffer));
  return b;
}

/** Builders of attributes, in host byte order (except `be16`/`be32`); a value that does not fit its type is an AttrRangeError. */
export const nla = {
  bytes: (type: number, payload: Uint8Array): NlAttrSpec => ({ type, payload }),
  flag: (type: number): NlAttrSpec => ({ type, payload: new Uint8Array(0) }),
  u8: (type: number, v: number): NlAttrSpec => ({ type, payload: scalar(type, v, "u8", 1, (d) => d.setUint8(0, v)) }),
  u16: (type: number, v: number): NlAttrSpec => ({ type, payload: scalar(type, v, "u16", 2, (d) => d.setUint16(0, v, HOST_LE)) }),
  u32: (type: number, v: number): NlAttrSpec => ({ type, payload: scalar(type, v, "u32", 4, (d) => d.setUint32(0, v, HOST_LE)) }),
  s32: (type: number, v: number): NlAttrSpec => ({ type, payload: scalar(type, v, "s32", 4, (d) => d.setInt32(0, v, HOST_LE)) }),
  u64: (type: number, v: bigint): NlAttrSpec => ({ type, payload: scalar(type, v, "u64", 8, (d) => d.setBigUint64(0, v, HOST_LE)) }),
  be16: (type: number, v: number): NlAttrSpec => ({ type: type | NLA_F_NET_BYTEORDER, payload: scalar(type, v, "u16", 2, (d) => d.setUint16(0, v, false)) }),
  be32: (type: number, v: number): NlAttrSpec => ({ type: type | NLA_F_NET_BYTEORDER, payload: scalar(type, v, "u32", 4, (d) => d.setUint32(0, v, false)) }),
  /** A NUL-terminated string (NLA_NUL_STRING / NLA_STRING both accept it). */
  string: (type: number, s: string): NlAttrSpec => ({ type, payload: new TextEncoder().encode(`${s}\0`) }),
  /** A nested attribute; NLA_F_NESTED is set unless `nestedFlag` is false (old-style nests). */
  nested: (type: number, children: readonly NlAttrSpec[], nestedFlag = true): NlAttrSpec => ({ type, children, nestedFlag }),
};

/** Encoded size of attributes, padding included. */
export function attrsSize(attrs: readonly NlAttrSpec[]): number {
  let n = 0;
  for (const a of attrs) n += align4(NLA_HDRLEN + ("payload" in a ? a.payload.byteLength : attrsSize(a.children)));
  return n;
}

/** Writes attributes into `out` at `offset`; returns the offset after them. */
export function writeAttrs(out: Uint8Array, view: DataView, offset: number, attrs: readonly NlAttrSpec[]): number {
  for (const a of attrs) {
    const start = offset;
    let type = a.type;
    checkInt("nlattr", "type", type, "u16");
    offset += NLA_HDRLEN;
    if ("payload" in a) {
      out.set(a.payload, offset);
      offset += a.payload.byteLength;
    } else {
      if (a.nestedFlag !== false) type |= NLA_F_NESTED;
      offset = writeAttrs(out, view, offset, a.children);
    }
    const len = offset - start;
    if (len > 0xffff) throw new RangeError(`netlink attribute ${a.type & NLA_TYPE_MASK} is ${len} bytes: more than an attribute can hold (65535)`);
    view.setUint16(start, len, HOST_LE);
    view.setUint16(start + 2, type, HOST_LE);
    offset = align4(offset); // padding bytes stay zero
  }
  return offset;
}

/** Encodes attributes: each `nla_len`, `nla_type`, payload, padded to 4 bytes. */
export function encodeAttrs(attrs: readonly NlAttrSpec[]): Uint8Array {
  const out = new Uint8Array(attrsSize(attrs));
  writeAttrs(out, new DataView(out.buffer), 0, attrs);
  return out;
}

/** A decoded attribute: type (flags masked off), flags, payload, and children when nested. */
export class NlAttr {
  constructor(
    /** The type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. */
    readonly type: number,
    /** NLA_F_NESTED and NLA_F_NET_BYTEORDER as sent. */
    readonly flags: number,
    /** The payload, without header or padding (a view, not a copy). */
    readonly payload: Uint8Array,
    /** Offset of the attribute's header in the buffer it was decoded from. */
    readonly offset: number,
  ) {}

  /** Children, decoded when NLA_F_NESTED is set; use `nested()` for nests sent without it. */
  get children(): NlAttrs | undefined {
    return this.flags & NLA_F_NESTED ? this.nested() : undefined;
  }

  /** The payload decoded as attributes (whether or not NLA_F_NESTED is set). */
  nested(): NlAttrs {
    return decodeAttrs(this.payload, this.offset + NLA_HDRLEN);
  }

  private view(size: number, what: string): DataView {
    if (this.payload.byteLength < size) {
      throw new NetlinkDecodeError(`attribute ${this.type} is ${this.payload.byteLength} bytes, too short for ${what}`, this.offset);
    }
    return new DataView(this.payload.buffer, this.payload.byteOffset, size);
  }

  private get le(): boolean {
    return this.flags & NLA_F_NET_BYTEORDER ? false : HOST_LE;
  }

  u8(): number {
    return this.view(1, "a u8").getUint8(0);
  }
  u16(): number {
    return this.view(2, "a u16").getUint16(0, this.le);
  }
  u32(): number {
    return this.view(4, "a u32").getUint32(0, this.le);
  }
  s32(): number {
    return this.view(4, "an s32").getInt32(0, this.le);
  }
  u64(): bigint {
    return this.view(8, "a u64").getBigUint64(0, this.le);
  }
  /** The payload as text, up to the first NUL. */
  string(): string {
    const nul = this.payload.indexOf(0);
    return new TextDecoder().decode(nul < 0 ? this.payload : this.payload.subarray(0, nul));
  }
}

/** A list of decoded attributes, in order, with lookups by type. */
export class NlAttrs {
  constructor(readonly list: readonly NlAttr[]) {}

  /** The first attribute of this type. */
  get(type: number): NlAttr | undefined {
    return this.list.find((a) => a.type === type);
  }

  /** Every attribute of this type. */
  all(type: number): NlAttr[] {
    return this.list.filter((a) => a.type === type);
  }

  has(type: number): boolean {
    return this.get(type) !== undefined;
  }

  get size(): number {
    return this.list.length;
  }

  [Symbol.iterator](): Iterator<NlAttr> {
    return this.list[Symbol.iterator]();
  }
}

/**
 * Decodes the attributes of a buffer. `base` is the buffer's offset in an enclosing message,
 * for error positions. Throws NetlinkDecodeError for a length shorter than a header or one
 * that runs past the buffer. Nested attributes flagged NLA_F_NESTED are checked (eagerly) too.
 */
export function decodeAttrs(buf: Uint8Array, base = 0): NlAttrs {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const list: NlAttr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.byteLength) {
    const len = view.getUint16(off, HOST_LE);
    const rawType = view.getUint16(off + 2, HOST_LE);
    if (len < NLA_HDRLEN) throw new NetlinkDecodeError(`attribute length ${len} is shorter than its header`, base + off);
    if (off + len > buf.byteLength) {
      throw new NetlinkDecodeError(`attribute ${rawType & NLA_TYPE_MASK} of ${len} bytes runs past the end (${buf.byteLength - off} left)`, base + off);
    }
    const a = new NlAttr(rawType & NLA_TYPE_MASK, rawType & ~NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + len), base + off);
    if (a.flags & NLA_F_NESTED) a.nested(); // validate the whole tree now
    list.push(a);
    off += align4(len);
  }
  // Fewer than 4 bytes left: padding (or garbage the kernel would also ignore).
  return new NlAttrs(list);
}

/** A plain-object view of an attribute tree (for tests and debugging): nested where flagged. */
export function attrsToTree(attrs: NlAttrs): Array<{ type: number; payload?: number[]; children?: unknown[] }> {
  return attrs.list.map((a) => {
    const c = a.children;
    return c ? { type: a.type, children: attrsToTree(c) } : { type: a.type, payload: [...a.payload] };
  });
}
