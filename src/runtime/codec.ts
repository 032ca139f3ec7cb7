/**
 * Codecs: typed keys and values for maps. Built-in integers and byte strings, codecs generated
 * from BTF (structs become objects with member names, arrays become arrays), or your own.
 */
import { skipModifiers, sizeOf, type Btf } from "../btf/index.js";
import type { BpfMap } from "./map.js";
import { TsebpfError } from "../errors.js";

export interface Codec<T> {
  /** Size in bytes of an encoded value. */
  readonly size: number;
  /** Writes `value` at `offset` of `out`. */
  encode(value: T, out: Buffer, offset?: number): void;
  decode(buf: Buffer, offset?: number): T;
}

/** An unsupported type or a value that does not fit. */
export class CodecError extends TsebpfError {
  override readonly name = "CodecError";
}

const int = (size: 1 | 2 | 4, signed: boolean): Codec<number> => ({
  size,
  encode(v, out, o = 0) {
    if (signed) out.writeIntLE(v, o, size);
    else out.writeUIntLE(v, o, size);
  },
  decode: (b, o = 0) => (signed ? b.readIntLE(o, size) : b.readUIntLE(o, size)),
});

export const u8 = int(1, false);
export const u16 = int(2, false);
export const u32 = int(4, false);
export const i8 = int(1, true);
export const i16 = int(2, true);
export const i32 = int(4, true);
export const u64: Codec<bigint> = { size: 8, encode: (v, out, o = 0) => void out.writeBigUInt64LE(BigInt.asUintN(64, v), o), decode: (b, o = 0) => b.readBigUInt64LE(o) };
export const i64: Codec<bigint> = { size: 8, encode: (v, out, o = 0) => void out.writeBigInt64LE(BigInt.asIntN(64, v), o), decode: (b, o = 0) => b.readBigInt64LE(o) };

/** Raw bytes of a fixed size. */
export const bytes = (size: number): Codec<Buffer> => ({
  size,
  encode(v, out, o = 0) {
    if (v.byteLength !== size) throw new CodecError(`expected ${size} bytes, got ${v.byteLength}`);
    v.copy(out, o);
  },
  decode: (b, o = 0) => Buffer.from(b.subarray(o, o + size)),
});

/** A value of a BTF type: numbers (bigint for 8 bytes), booleans, arrays, objects, strings for char arrays. */
export type BtfValue = number | bigint | boolean | string | BtfValue[] | { [member: string]: BtfValue };

/** A codec for BTF type `id` of `btf` (host byte order, like the kernel's maps). */
export function btfCodec(btf: Btf, id: number): Codec<BtfValue> {
  const size = sizeOf(btf, id);
  const read = reader(btf, id, 0);
  const write = writer(btf, id, 0);
  return { size, decode: (b, o = 0) => read(b, o), encode: (v, out, o = 0) => write(v, out, o) };
}

function reader(btf: Btf, id: number, depth: number): (b: Buffer, o: number) => BtfValue {
  if (depth > 32) throw new CodecError("type nesting too deep");
  const t = btf.type(skipModifiers(btf, id));
  if (!t) throw new CodecError("void has no value");
  switch (t.kind) {
    case "int": {
      if (t.bool) return (b, o) => b[o] !== 0;
      if (t.size === 8) return t.signed ? (b, o) => b.readBigInt64LE(o) : (b, o) => b.readBigUInt64LE(o);
      if (t.size === 16) return (b, o) => (b.readBigUInt64LE(o + 8) << 64n) | b.readBigUInt64LE(o);
      const n = t.size as 1 | 2 | 4;
      return t.signed ? (b, o) => b.readIntLE(o, n) : (b, o) => b.readUIntLE(o, n);
    }
    case "enum":
      return t.size === 8 ? (b, o) => b.readBigUInt64LE(o) : (b, o) => (t.signed ? b.readIntLE(o, t.size) : b.readUIntLE(o, t.size));
    case "enum64":
      return t.signed ? (b, o) => b.readBigInt64LE(o) : (b, o) => b.readBigUInt64LE(o);
    case "ptr":
      return (b, o) => b.readBigUInt64LE(o);
    case "float":
      return t.size === 4 ? (b, o) => b.readFloatLE(o) : (b, o) => b.readDoubleLE(o);
    case "array": {
      const elem = btf.type(skipModifiers(btf, t.type));
      const esize = sizeOf(btf, t.type);
      if (elem?.kind === "int" && elem.size === 1 && (elem.char || elem.name === "char")) {
        // char[N]: a NUL-terminated string.
        return (b, o) => {
          const s = b.subarray(o, o + t.nelems);
          const end = s.indexOf(0);
          return s.toString("latin1", 0, end < 0 ? t.nelems : end);
        };
      }
      const item = reader(btf, t.type, depth + 1);
      return (b, o) => Array.from({ length: t.nelems }, (_, i) => item(b, o + i * esize));
    }
    case "struct":
    case "union": {
      const members = t.members.map((m) => {
        if (m.bitSize) {
          return { name: m.name, read: (b: Buffer, o: number) => readBits(b, o, m.bitOffset, m.bitSize) };
        }
        const r = reader(btf, m.type, depth + 1);
        return { name: m.name, read: (b: Buffer, o: number) => r(b, o + m.bitOffset / 8) };
      });
      return (b, o) => {
        const out: { [k: string]: BtfValue } = {};
        members.forEach((m, i) => {
          out[m.name || `_${i}`] = m.read(b, o);
        });
        return out;
      };
    }
    case "datasec": {
      // Global data: an object of the section's variables.
      const vars = t.vars.map((v) => {
        const variable = btf.type(v.type) as { name: string; type: number };
        const r = reader(btf, variable.type, depth + 1);
        return { name: variable.name, read: (b: Buffer, o: number) => r(b, o + v.offset) };
      });
      return (b, o) => Object.fromEntries(vars.map((v) => [v.name, v.read(b, o)]));
    }
    default:
      throw new CodecError(`cannot decode a ${t.kind}`);
  }
}

function readBits(b: Buffer, o: number, bitOffset: number, bits: number): number {
  let v = 0n;
  const first = Math.floor(bitOffset / 8);
  const last = Math.floor((bitOffset + bits - 1) / 8);
  for (let i = last; i >= first; i--) v = (v << 8n) | BigInt(b[o + i] ?? 0);
  return Number((v >> BigInt(bitOffset - first * 8)) & ((1n << BigInt(bits)) - 1n));
}

function writer(btf: Btf, id: number, depth: number): (v: BtfValue, out: Buffer, o: number) => void {
  if (depth > 32) throw new CodecError("type nesting too deep");
  const t = btf.type(skipModifiers(btf, id));
  if (!t) throw new CodecError("void has no value");
  const num = (v: BtfValue): bigint => {
    if (typeof v === "boolean") return v ? 1n : 0n;
    if (typeof v === "number" || typeof v === "bigint") return BigInt(v);
    throw new CodecError(`expected a number, got ${typeof v}`);
  };
  switch (t.kind) {
    case "int":
    case "enum":
    case "enum64":
    case "ptr": {
      const size = t.kind === "ptr" ? 8 : t.size;
      return (v, out, o) => {
        let n = BigInt.asUintN(size * 8, num(v));
        for (let i = 0; i < size; i++, n >>= 8n) out[o + i] = Number(n & 0xffn);
      };
    }
    case "float":
      return t.size === 4 ? (v, out, o) => void out.writeFloatLE(Number(v), o) : (v, out, o) => void out.writeDoubleLE(Number(v), o);
    case "array": {
      const esize = sizeOf(btf, t.type);
      const item = writer(btf, t.type, depth + 1);
      return (v, out, o) => {
        if (typeof v === "string") {
          const s = Buffer.from(v, "latin1");
          if (s.byteLength >= t.nelems) throw new CodecError(`string of ${s.byteLength} bytes does not fit char[${t.nelems}]`);
          out.fill(0, o, o + t.nelems);
          s.copy(out, o);
          return;
        }
        if (!Array.isArray(v) || v.length > t.nelems) throw new CodecError(`expected an array of at most ${t.nelems}`);
        v.forEach((x, i) => item(x, out, o + i * esize));
      };
    }
    case "struct":
    case "union": {
      const members = t.members.filter((m) => m.name && !m.bitSize).map((m) => ({ name: m.name, off: m.bitOffset / 8, write: writer(btf, m.type, depth + 1) }));
      return (v, out, o) => {
        if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CodecError(`expected an object for ${t.kind} ${t.name || "(anon)"}`);
        for (const m of members) {
          const x = (v as Record<string, BtfValue>)[m.name];
          if (x !== undefined) m.write(x, out, o + m.off);
        }
      };
    }
    case "datasec": {
      const vars = t.vars.map((v) => {
        const variable = btf.type(v.type) as { name: string; type: number };
        return { name: variable.name, off: v.offset, write: writer(btf, variable.type, depth + 1) };
      });
      return (v, out, o) => {
        for (const x of vars) {
          const value = (v as Record<string, BtfValue>)[x.name];
          if (value !== undefined) x.write(value, out, o + x.off);
        }
      };
    }
    default:
      throw new CodecError(`cannot encode a ${t.kind}`);
  }
}

/** A map with typed keys and values. Reuses its buffers: no allocation but the decoded value. */
export class TypedMap<K, V> {
  private readonly key: Buffer;
  private readonly value: Buffer;

  constructor(
    readonly map: BpfMap,
    readonly keyCodec: Codec<K>,
    readonly valueCodec: Codec<V>,
  ) {
    if (keyCodec.size !== map.keySize) throw new CodecError(`map "${map.name}": key codec is ${keyCodec.size} bytes, keys are ${map.keySize}`);
    if (valueCodec.size !== map.valueSize) throw new CodecError(`map "${map.name}": value codec is ${valueCodec.size} bytes, values are ${map.valueSize}`);
    this.key = Buffer.alloc(map.keySize);
    this.value = Buffer.alloc(map.userValueSize);
  }

  get(key: K): V | undefined {
    this.keyCodec.encode(key, this.key);
    return this.map.lookupInto(this.key, this.value) ? this.valueCodec.decode(this.value) : undefined;
  }

  /** Per-CPU maps: one value per CPU. */
  getPerCpu(key: K): V[] | undefined {
    this.keyCodec.encode(key, this.key);
    if (!this.map.lookupInto(this.key, this.value)) return undefined;
    return this.map.perCpuValues(this.value).map((b) => this.valueCodec.decode(b));
  }

  set(key: K, value: V, flags = 0): void {
    this.keyCodec.encode(key, this.key);
    this.value.fill(0);
    if (this.map.perCpu) {
      const slot = Math.ceil(this.map.valueSize / 8) * 8;
      for (let o = 0; o < this.value.byteLength; o += slot) this.valueCodec.encode(value, this.value, o);
    } else {
      this.valueCodec.encode(value, this.value);
    }
    this.map.update(this.key, this.value, flags);
  }

  delete(key: K): boolean {
    this.keyCodec.encode(key, this.key);
    return this.map.delete(this.key);
  }

  *entries(): Generator<[K, V]> {
    for (const [k, v] of this.map.entries()) yield [this.keyCodec.decode(k), this.valueCodec.decode(v)];
  }
}
