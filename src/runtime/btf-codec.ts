/**
 * Codecs derived from BTF at runtime (`btfCodec`): structs become objects with member names, arrays
 * become arrays, `char[]` strings. The Codec interface, the built-in integer and byte codecs and
 * the checked views these read through are in codec.ts.
 */
import { HOST_LE } from "../asm/encoding.js";
import { describeType, sizeOf, skipModifiers, type Btf, type BtfKind } from "../btf/index.js";
import { checkedView, readCString, writeCString, type Codec } from "./codec.js";
import { CodecError, describeValue, fitBigInt, fitNumber } from "./codec-values.js";

const LE = HOST_LE;

/** A value of a BTF type: numbers (bigint for 8 bytes), booleans, arrays, objects, strings for char arrays. */
export type BtfValue = number | bigint | boolean | string | BtfValue[] | { [member: string]: BtfValue };

type Read = (view: DataView, offset: number) => BtfValue;
type Write = (value: BtfValue, view: DataView, offset: number) => void;

/** Nesting deeper than this is refused (the kernel accepts at most 32 levels of BTF). */
const MAX_DEPTH = 32;

/**
 * A codec for a type of `btf`, by id or by name (`"struct event"`, `"event"`, a typedef), in host
 * byte order like the kernel's maps and ring buffers:
 * - integers up to 4 bytes, enums and floats are numbers; 8-byte integers, enums and pointers
 *   are bigints (16-byte ones too); `bool` is a boolean;
 * - `char[N]` is a string (the bytes up to the first NUL, latin1); other arrays are arrays;
 * - structs and unions are objects keyed by member name (an anonymous member is `_<index>`),
 *   bitfields included (a number, a bigint for a 64-bit base type); a DATASEC is an object of its
 *   variables.
 *
 * `T` is what you assert the value to be (`btfCodec<Event>(btf, "struct event")`); the default
 * is the structural `BtfValue`. Encoding writes the members the value has and leaves the bytes
 * of missing ones (and padding) as they are.
 */
export function btfCodec<T = BtfValue>(btf: Btf, type: number | string): Codec<T> {
  const id = typeof type === "number" ? type : findType(btf, type);
  const typeName = describeType(btf, id);
  const size = sizeOf(btf, id);
  const read = reader(btf, id, 0, typeName);
  const write = writer(btf, id, 0, typeName);
  return {
    size,
    typeName,
    decode(b, o = 0) {
      return read(checkedView(b, o, size, typeName), o) as T;
    },
    encode(v, out, o = 0) {
      write(v as BtfValue, checkedView(out, o, size, typeName), o);
    },
  };
}

/** `struct event` / `union u` / `enum e` by kind, or any type named `event`. */
function findType(btf: Btf, name: string): number {
  const m = /^(struct|union|enum)\s+(\S+)$/.exec(name.trim());
  let id: number | undefined;
  if (m) {
    const kind = m[1] as BtfKind;
    id = btf.find(m[2] as string, kind) ?? (kind === "enum" ? btf.find(m[2] as string, "enum64") : undefined);
  } else {
    id = btf.find(name.trim());
  }
  if (id === undefined) {
    throw new CodecError(
      `no type "${name}" in the BTF: clang records only types that something uses — keep it with an unused typed variable or pointer (e.g. \`struct event *unused_event __attribute__((unused));\`)`,
    );
  }
  return id;
}

function reader(btf: Btf, id: number, depth: number, path: string): Read {
  if (depth > MAX_DEPTH) throw new CodecError(`${path}: type nesting deeper than ${MAX_DEPTH}`);
  const t = btf.type(skipModifiers(btf, id));
  if (!t) throw new CodecError(`${path}: void has no value`);
  switch (t.kind) {
    case "int": {
      if (t.bool) return (v, o) => v.getUint8(o) !== 0;
      switch (t.size) {
        case 1:
          return t.signed ? (v, o) => v.getInt8(o) : (v, o) => v.getUint8(o);
        case 2:
          return t.signed ? (v, o) => v.getInt16(o, LE) : (v, o) => v.getUint16(o, LE);
        case 4:
          return t.signed ? (v, o) => v.getInt32(o, LE) : (v, o) => v.getUint32(o, LE);
        case 8:
          return t.signed ? (v, o) => v.getBigInt64(o, LE) : (v, o) => v.getBigUint64(o, LE);
        case 16: {
          const lo = LE ? 0 : 8;
          const hi = LE ? 8 : 0;
          const signed = t.signed;
          return (v, o) => {
            const n = (v.getBigUint64(o + hi, LE) << 64n) | v.getBigUint64(o + lo, LE);
            return signed ? BigInt.asIntN(128, n) : n;
          };
        }
        default:
          throw new CodecError(`${path}: cannot decode a ${t.size}-byte integer`);
      }
    }
    case "enum":
      switch (t.size) {
        case 1:
          return t.signed ? (v, o) => v.getInt8(o) : (v, o) => v.getUint8(o);
        case 2:
          return t.signed ? (v, o) => v.getInt16(o, LE) : (v, o) => v.getUint16(o, LE);
        case 4:
          return t.signed ? (v, o) => v.getInt32(o, LE) : (v, o) => v.getUint32(o, LE);
        case 8:
          return t.signed ? (v, o) => v.getBigInt64(o, LE) : (v, o) => v.getBigUint64(o, LE);
        default:
          throw new CodecError(`${path}: cannot decode a ${t.size}-byte enum`);
      }
    case "enum64":
      return t.signed ? (v, o) => v.getBigInt64(o, LE) : (v, o) => v.getBigUint64(o, LE);
    case "ptr":
      return (v, o) => v.getBigUint64(o, LE);
    case "float":
      if (t.size === 4) return (v, o) => v.getFloat32(o, LE);
      if (t.size === 8) return (v, o) => v.getFloat64(o, LE);
      throw new CodecError(`${path}: cannot decode a ${t.size}-byte float`);
    case "array": {
      const n = t.nelems;
      if (isChar(btf, t.type)) return (v, o) => readCString(v, o, n);
      const esize = sizeOf(btf, t.type);
      const item = reader(btf, t.type, depth + 1, `${path}[]`);
      return (v, o) => {
        const out: BtfValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = item(v, o + i * esize);
        return out;
      };
    }
    case "struct":
    case "union": {
      const members = layout(btf, t.members, t.size, path).map((m): [string, Read] => {
        if (m.bitSize === 0) {
          const r = reader(btf, m.type, depth + 1, `${path}.${m.key}`);
          const at = m.byteOffset;
          return [m.key, (v, o) => r(v, o + at)];
        }
        return [m.key, bitfieldReader(btf, m.type, m.bitOffset, m.bitSize)];
      });
      const keys = members.map((m) => m[0]);
      const reads = members.map((m) => m[1]);
      const count = keys.length;
      return (v, o) => {
        const out: { [k: string]: BtfValue } = {};
        for (let i = 0; i < count; i++) out[keys[i] as string] = (reads[i] as Read)(v, o);
        return out;
      };
    }
    case "datasec": {
      const vars = t.vars.map((s): [string, Read] => {
        const variable = btf.type(s.type);
        if (variable?.kind !== "var") throw new CodecError(`${path}: entry [${s.type}] is not a variable`);
        if (s.offset + sizeOf(btf, variable.type) > t.size) throw new CodecError(`${path}: variable ${variable.name} lies past the section's ${t.size} bytes`);
        const r = reader(btf, variable.type, depth + 1, variable.name);
        const at = s.offset;
        return [variable.name, (v, o) => r(v, o + at)];
      });
      return (v, o) => {
        const out: { [k: string]: BtfValue } = {};
        for (const [name, r] of vars) out[name] = r(v, o);
        return out;
      };
    }
    default:
      throw new CodecError(`${path}: cannot decode a ${t.kind}`);
  }
}

/** A one-byte integer named `char` (or flagged CHAR): arrays of it are text. */
function isChar(btf: Btf, id: number): boolean {
  const e = btf.type(skipModifiers(btf, id));
  return e?.kind === "int" && e.size === 1 && !e.bool && (e.char || e.name === "char");
}

interface Placed {
  readonly key: string;
  readonly type: number;
  readonly byteOffset: number;
  readonly bitOffset: number;
  readonly bitSize: number;
}

/** The members with their keys, each checked to lie within the record's `size` bytes. */
function layout(btf: Btf, members: readonly { name: string; type: number; bitOffset: number; bitSize: number }[], size: number, path: string): Placed[] {
  return members.map((m, i) => {
    const key = m.name || `_${i}`;
    if (m.bitSize > 0) {
      const base = btf.type(skipModifiers(btf, m.type));
      const baseSize = base && (base.kind === "int" || base.kind === "enum" || base.kind === "enum64") ? base.size : 0;
      if (baseSize === 0 || m.bitSize > baseSize * 8 || m.bitSize > 64) throw new CodecError(`${path}.${key}: a ${m.bitSize}-bit field of ${describeType(btf, m.type)}`);
      if (m.bitOffset + m.bitSize > size * 8) throw new CodecError(`${path}.${key}: bits ${m.bitOffset}..${m.bitOffset + m.bitSize} lie past the ${size} bytes`);
      return { key, type: m.type, byteOffset: 0, bitOffset: m.bitOffset, bitSize: m.bitSize };
    }
    if (m.bitOffset % 8 !== 0) throw new CodecError(`${path}.${key}: at bit ${m.bitOffset}, not on a byte`);
    const byteOffset = m.bitOffset / 8;
    if (byteOffset + sizeOf(btf, m.type) > size) throw new CodecError(`${path}.${key}: ${sizeOf(btf, m.type)} bytes at offset ${byteOffset} lie past the ${size} bytes`);
    return { key, type: m.type, byteOffset, bitOffset: m.bitOffset, bitSize: 0 };
  });
}

/** Signedness and width of a bitfield's base type (int or enum). */
function bitfieldBase(btf: Btf, type: number): { signed: boolean; wide: boolean; bool: boolean } {
  const t = btf.type(skipModifiers(btf, type));
  if (t?.kind === "int") return { signed: t.signed, wide: t.size >= 8, bool: t.bool };
  if (t?.kind === "enum" || t?.kind === "enum64") return { signed: t.signed, wide: t.size >= 8, bool: false };
  return { signed: false, wide: false, bool: false };
}

/**
 * Where a bitfield's bits are: the bytes `first..last` of the record, read as one integer in
 * host order; the field is that integer's bits `[shift, shift + bits)`. Little endian numbers bits
 * from the least significant bit of the first byte, big endian from the most significant one.
 */
function bitSpan(bitOffset: number, bits: number): { first: number; count: number; shift: number } {
  const first = Math.floor(bitOffset / 8);
  const last = Math.floor((bitOffset + bits - 1) / 8);
  const shift = LE ? bitOffset - first * 8 : (last + 1) * 8 - (bitOffset + bits);
  return { first, count: last - first + 1, shift };
}

function bitfieldReader(btf: Btf, type: number, bitOffset: number, bits: number): Read {
  const { signed, wide, bool } = bitfieldBase(btf, type);
  const { first, count, shift } = bitSpan(bitOffset, bits);
  if (count <= 6 && !wide) {
    // At most 48 bits: exact in a double.
    const scale = 2 ** shift;
    const range = 2 ** bits;
    const half = 2 ** (bits - 1);
    return (v, o) => {
      let n = 0;
      if (LE) for (let i = count - 1; i >= 0; i--) n = n * 256 + v.getUint8(o + first + i);
      else for (let i = 0; i < count; i++) n = n * 256 + v.getUint8(o + first + i);
      n = Math.floor(n / scale) % range;
      if (bool) return n !== 0;
      return signed && n >= half ? n - range : n;
    };
  }
  const s = BigInt(shift);
  return (v, o) => {
    let n = 0n;
    if (LE) for (let i = count - 1; i >= 0; i--) n = (n << 8n) | BigInt(v.getUint8(o + first + i));
    else for (let i = 0; i < count; i++) n = (n << 8n) | BigInt(v.getUint8(o + first + i));
    n = BigInt.asUintN(bits, n >> s);
    if (signed) n = BigInt.asIntN(bits, n);
    if (bool) return n !== 0n;
    return wide ? n : Number(n);
  };
}

function bitfieldWriter(bitOffset: number, bits: number, path: string): Write {
  const { first, count, shift } = bitSpan(bitOffset, bits);
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(shift);
  return (x, v, o) => {
    const n = fitBigInt(x, 8, path);
    if (!fitsBits(n, bits)) throw new CodecError(`${path}: ${describeValue(x)} does not fit in ${bits} bits`);
    const value = BigInt.asUintN(bits, n);
    let word = 0n;
    if (LE) for (let i = count - 1; i >= 0; i--) word = (word << 8n) | BigInt(v.getUint8(o + first + i));
    else for (let i = 0; i < count; i++) word = (word << 8n) | BigInt(v.getUint8(o + first + i));
    word = (word & ~mask) | (value << BigInt(shift));
    if (LE) for (let i = 0; i < count; i++, word >>= 8n) v.setUint8(o + first + i, Number(word & 0xffn));
    else for (let i = count - 1; i >= 0; i--, word >>= 8n) v.setUint8(o + first + i, Number(word & 0xffn));
  };
}

/** Whether `n` fits a `bits`-bit field read either as signed or as unsigned. */
const fitsBits = (n: bigint, bits: number): boolean => n >= -(1n << BigInt(bits - 1)) && n < 1n << BigInt(bits);

function writer(btf: Btf, id: number, depth: number, path: string): Write {
  if (depth > MAX_DEPTH) throw new CodecError(`${path}: type nesting deeper than ${MAX_DEPTH}`);
  const t = btf.type(skipModifiers(btf, id));
  if (!t) throw new CodecError(`${path}: void has no value`);
  switch (t.kind) {
    case "int":
    case "enum":
    case "enum64":
    case "ptr": {
      const size = t.kind === "ptr" ? 8 : t.size;
      switch (size) {
        case 1:
          return (x, v, o) => v.setUint8(o, fitNumber(x, 1, path) & 0xff);
        case 2:
          return (x, v, o) => v.setUint16(o, fitNumber(x, 2, path) & 0xffff, LE);
        case 4:
          return (x, v, o) => v.setUint32(o, fitNumber(x, 4, path) >>> 0, LE);
        case 8:
          return (x, v, o) => v.setBigUint64(o, BigInt.asUintN(64, fitBigInt(x, 8, path)), LE);
        case 16: {
          const lo = LE ? 0 : 8;
          const hi = LE ? 8 : 0;
          return (x, v, o) => {
            const n = BigInt.asUintN(128, fitBigInt(x, 16, path));
            v.setBigUint64(o + lo, BigInt.asUintN(64, n), LE);
            v.setBigUint64(o + hi, n >> 64n, LE);
          };
        }
        default:
          throw new CodecError(`${path}: cannot encode a ${size}-byte ${t.kind}`);
      }
    }
    case "float": {
      const check = (x: BtfValue): number => {
        if (typeof x !== "number") throw new CodecError(`${path}: expected a number, got ${describeValue(x)}`);
        return x;
      };
      if (t.size === 4) return (x, v, o) => v.setFloat32(o, check(x), LE);
      if (t.size === 8) return (x, v, o) => v.setFloat64(o, check(x), LE);
      throw new CodecError(`${path}: cannot encode a ${t.size}-byte float`);
    }
    case "array": {
      const n = t.nelems;
      const text = isChar(btf, t.type);
      const esize = sizeOf(btf, t.type);
      const item = writer(btf, t.type, depth + 1, `${path}[]`);
      return (x, v, o) => {
        if (typeof x === "string" && text) return writeCString(v, o, n, x, path);
        if (!Array.isArray(x)) throw new CodecError(`${path}: expected ${text ? "a string or " : ""}an array of ${n}, got ${describeValue(x)}`);
        if (x.length > n) throw new CodecError(`${path}: ${x.length} elements do not fit in ${n}`);
        for (let i = 0; i < x.length; i++) item(x[i] as BtfValue, v, o + i * esize);
      };
    }
    case "struct":
    case "union": {
      const members = layout(btf, t.members, t.size, path).map((m): [string, Write] => {
        if (m.bitSize > 0) return [m.key, bitfieldWriter(m.bitOffset, m.bitSize, `${path}.${m.key}`)];
        const w = writer(btf, m.type, depth + 1, `${path}.${m.key}`);
        const at = m.byteOffset;
        return [m.key, (x, v, o) => w(x, v, o + at)];
      });
      return (x, v, o) => {
        if (typeof x !== "object" || x === null || Array.isArray(x)) throw new CodecError(`${path}: expected an object, got ${describeValue(x)}`);
        for (const [key, w] of members) {
          const value = (x as Record<string, BtfValue>)[key];
          if (value !== undefined) w(value, v, o);
        }
      };
    }
    case "datasec": {
      const vars = t.vars.map((s): [string, Write] => {
        const variable = btf.type(s.type);
        if (variable?.kind !== "var") throw new CodecError(`${path}: entry [${s.type}] is not a variable`);
        if (s.offset + sizeOf(btf, variable.type) > t.size) throw new CodecError(`${path}: variable ${variable.name} lies past the section's ${t.size} bytes`);
        const w = writer(btf, variable.type, depth + 1, variable.name);
        const at = s.offset;
        return [variable.name, (x, v, o) => w(x, v, o + at)];
      });
      return (x, v, o) => {
        if (typeof x !== "object" || x === null || Array.isArray(x)) throw new CodecError(`${path}: expected an object of variables, got ${describeValue(x)}`);
        for (const [name, w] of vars) {
          const value = (x as Record<string, BtfValue>)[name];
          if (value !== undefined) w(value, v, o);
        }
      };
    }
    default:
      throw new CodecError(`${path}: cannot encode a ${t.kind}`);
  }
}
