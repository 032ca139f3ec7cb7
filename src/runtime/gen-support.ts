/**
 * The code every module `tsebpf gen` writes would otherwise repeat: bounds and range checks whose
 * errors name the field, text, byte arrays, bitfields and 128-bit integers read and written at a
 * DataView offset, the codec objects around a module's read and write functions, the base class
 * of its views, and the plumbing and option/result types of its `load()` and `bind()`. A generated module takes what
 * it uses once, at its top (`const { recordView, checkInt } = runtime.genSupport;`), and calls
 * the functions directly from its codecs and views.
 *
 * For generated code: the functions check only what a generated caller leaves unchecked, and
 * change with the generator (regenerate bindings after upgrading tsebpf).
 */
import type { CollectionSpec } from "../elf/index.js";
import { Collection, type CollectionOptions } from "./collection.js";
import { CodecError, readCString, type Codec } from "./codec.js";
import type { Program } from "./program.js";
import type { FieldLayout, RecordCodec } from "./record-view.js";

/** A DataView over `buf` after checking that `size` bytes of `type` fit at `offset` (no copy). */
export function recordView(buf: Uint8Array | DataView, offset: number, size: number, type: string): DataView {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.byteLength) {
    throw new CodecError(`${type}: needs ${size} bytes at offset ${offset}, the buffer has ${buf.byteLength}`);
  }
  return buf instanceof DataView ? buf : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** `buf` as a DataView over the same memory (itself when it is one; an empty one for none). */
export function viewOf(buf: Uint8Array | DataView | undefined): DataView {
  if (buf === undefined) return new DataView(new ArrayBuffer(0));
  return buf instanceof DataView ? buf : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Throws unless `size` bytes of `type` are at `offset` of `length` bytes (a view's slow path). */
export function viewRoom(size: number, type: string, length: number, offset: number): void {
  if (Number.isSafeInteger(offset) && offset >= 0 && offset + size <= length) return;
  throw new CodecError(`${type}: needs ${size} bytes at offset ${offset}, the buffer has ${length}`);
}

/** `x` when it is an integer in min..max (a CodecError naming `what` otherwise). */
export function checkInt(x: number, min: number, max: number, what: string): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) throw new CodecError(`${what}: ${String(x)} is not an integer in ${min}..${max}`);
  return x;
}

/** `x` (a bigint, or a safe integer made one) when it is in min..max (a CodecError naming `what` otherwise). */
export function checkBig(x: bigint, min: bigint, max: bigint, what: string): bigint {
  const n: unknown = typeof x === "number" && Number.isSafeInteger(x) ? BigInt(x) : x;
  if (typeof n !== "bigint" || n < min || n > max) throw new CodecError(`${what}: ${String(x)} is not an integer in ${min}..${max}`);
  return n;
}

/** `x` when it is a number (a float member's value). */
export function checkNum(x: number, what: string): number {
  if (typeof x !== "number") throw new CodecError(`${what}: expected a number, got ${typeof x}`);
  return x;
}

/** `x` when it is an array of at most `n` elements. */
export function checkList<T>(x: readonly T[], n: number, what: string): readonly T[] {
  if (!Array.isArray(x) || x.length > n) throw new CodecError(`${what}: expected an array of at most ${n} elements`);
  return x;
}

/** `x` when it is an object (a struct's or union's value). */
export function checkRecord<T>(x: T, what: string): T {
  if (typeof x !== "object" || x === null) throw new CodecError(`${what}: expected an object, got ${x === null ? "null" : typeof x}`);
  return x;
}

/** char[n]: the bytes up to the first NUL (or all n), one character per byte (latin1: every byte round-trips). codec.ts's readCString. */
export function readText(v: DataView, o: number, n: number): string {
  return readCString(v, o, n);
}

/** Writes `x` into char[n] at `o`, one byte per character, NUL-padded (latin1: a CodecError for wider characters). */
export function writeText(v: DataView, o: number, n: number, x: string, what: string): void {
  if (typeof x !== "string") throw new CodecError(`${what}: expected a string, got ${typeof x}`);
  if (x.length > n) throw new CodecError(`${what}: a string of ${x.length} characters does not fit char[${n}]`);
  for (let i = 0; i < n; i++) {
    const c = i < x.length ? x.charCodeAt(i) : 0;
    if (c > 0xff) throw new CodecError(`${what}: character U+${c.toString(16).padStart(4, "0")} is not one byte (latin1)`);
    v.setUint8(o + i, c);
  }
}

/** A copy of the `n` bytes at `o`. */
export function readBytes(v: DataView, o: number, n: number): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset + o, n).slice();
}

/** Writes the bytes `x` (at most `n`) at `o`. */
export function writeBytes(v: DataView, o: number, n: number, x: Uint8Array, what: string): void {
  if (!(x instanceof Uint8Array) || x.byteLength > n) throw new CodecError(`${what}: expected a Uint8Array of at most ${n} bytes`);
  new Uint8Array(v.buffer, v.byteOffset + o, n).set(x);
}

/** A bitfield of up to 32 bits in the `n` bytes at `o`: `shift` bits above the lowest bit of those bytes read as one integer. */
export function readBits(v: DataView, o: number, n: number, shift: number, bits: number, signed: boolean, le: boolean): number {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = acc * 256 + v.getUint8(o + (le ? n - 1 - i : i));
  const x = Math.floor(acc / 2 ** shift) % 2 ** bits;
  return signed && x >= 2 ** (bits - 1) ? x - 2 ** bits : x;
}

/** Writes a bitfield of up to 32 bits (see readBits), leaving the other bits of its bytes. */
export function writeBits(v: DataView, o: number, n: number, shift: number, bits: number, le: boolean, x: number): void {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = acc * 256 + v.getUint8(o + (le ? n - 1 - i : i));
  const low = acc % 2 ** shift;
  const high = Math.floor(acc / 2 ** (shift + bits));
  acc = (high * 2 ** bits + (x < 0 ? x + 2 ** bits : x)) * 2 ** shift + low;
  for (let i = 0; i < n; i++, acc = Math.floor(acc / 256)) v.setUint8(o + (le ? i : n - 1 - i), acc % 256);
}

/** A bitfield of more than 32 bits, as readBits. */
export function readBitsBig(v: DataView, o: number, n: number, shift: number, bits: number, signed: boolean, le: boolean): bigint {
  let acc = 0n;
  for (let i = 0; i < n; i++) acc = (acc << 8n) | BigInt(v.getUint8(o + (le ? n - 1 - i : i)));
  const x = BigInt.asUintN(bits, acc >> BigInt(shift));
  return signed ? BigInt.asIntN(bits, x) : x;
}

/** Writes a bitfield of more than 32 bits, as writeBits. */
export function writeBitsBig(v: DataView, o: number, n: number, shift: number, bits: number, le: boolean, x: bigint): void {
  let acc = 0n;
  for (let i = 0; i < n; i++) acc = (acc << 8n) | BigInt(v.getUint8(o + (le ? n - 1 - i : i)));
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(shift);
  acc = (acc & ~mask) | ((BigInt.asUintN(bits, x) << BigInt(shift)) & mask);
  for (let i = 0; i < n; i++, acc >>= 8n) v.setUint8(o + (le ? i : n - 1 - i), Number(acc & 0xffn));
}

/** A 128-bit integer at `o`. */
export function readInt128(v: DataView, o: number, signed: boolean, le: boolean): bigint {
  const lo = v.getBigUint64(le ? o : o + 8, le);
  const hi = v.getBigUint64(le ? o + 8 : o, le);
  const x = (hi << 64n) | lo;
  return signed ? BigInt.asIntN(128, x) : x;
}

/** Writes a 128-bit integer at `o` (its low 128 bits). */
export function writeInt128(v: DataView, o: number, x: bigint, le: boolean): void {
  const u = BigInt.asUintN(128, x);
  v.setBigUint64(le ? o : o + 8, BigInt.asUintN(64, u), le);
  v.setBigUint64(le ? o + 8 : o, u >> 64n, le);
}

/** An object whose properties are made on first use (typed maps allocate buffers, variables map memory). */
export function lazily<T extends object>(make: { readonly [K in keyof T]: () => T[K] }): T {
  const out = {} as T;
  for (const key of Object.keys(make) as (keyof T)[]) {
    let made: { value: T[keyof T] } | undefined;
    Object.defineProperty(out, key, { enumerable: true, get: () => (made ??= { value: make[key]() }).value });
  }
  return out;
}

/** What a generated `load(options)` takes, its names and types loosened. */
export interface GeneratedLoadOptions extends Omit<CollectionOptions, "variables" | "programs" | "maxEntries"> {
  readonly variables?: { readonly [name: string]: unknown };
  readonly programs?: readonly string[];
  readonly maxEntries?: { readonly [name: string]: number | undefined };
  readonly spec?: CollectionSpec;
}

/**
 * A generated `load()`: encodes `options.variables` by their codecs (a value of another name
 * passes as it is, for Collection.load to refuse), loads `options.spec` (or `loadSpec()`) and
 * binds the collection; a failing `bind` closes it.
 */
export function loadGenerated<L>(
  options: GeneratedLoadOptions,
  loadSpec: () => CollectionSpec,
  codecs: { readonly [name: string]: Codec<unknown> },
  bind: (collection: Collection) => L,
): L {
  const { spec, variables, programs, maxEntries, ...rest } = options;
  const values: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(variables ?? {})) {
    if (value === undefined) continue;
    const codec = codecs[name];
    if (!codec) {
      values[name] = value as Uint8Array; // not a variable of this object: Collection.load names those there are
      continue;
    }
    const bytes = new Uint8Array(codec.size);
    codec.encode(value, bytes);
    values[name] = bytes;
  }
  const collection = Collection.load(spec ?? loadSpec(), {
    ...rest,
    variables: values,
    ...(programs ? { programs } : {}),
    ...(maxEntries ? { maxEntries: maxEntries as Readonly<Record<string, number>> } : {}),
  });
  try {
    return bind(collection);
  } catch (e) {
    collection.close();
    throw e;
  }
}

/** A loaded object as a generated `bind()` returns it (the module's `Loaded`). */
export interface GeneratedLoaded<P extends string, M, T, V> {
  readonly collection: Collection;
  readonly programs: { readonly [K in P]: Program };
  readonly maps: M;
  readonly typedMaps: T;
  readonly variables: V;
  /** Closes every program and map (and the links of collection.attachAll). */
  close(): void;
  [Symbol.dispose](): void;
}

/** A generated `bind()`: the collection's programs by name, `maps`, and typed maps and variables made on first use. */
export function bindGenerated<P extends string, M, T extends object, V extends object>(
  collection: Collection,
  maps: M,
  typedMaps: { readonly [K in keyof T]: () => T[K] },
  variables: { readonly [K in keyof V]: () => V[K] },
): GeneratedLoaded<P, M, T, V> {
  const programs: { [name: string]: Program } = {};
  for (const [name, program] of collection.programs) programs[name] = program;
  return {
    collection,
    programs: programs as { readonly [K in P]: Program },
    maps,
    typedMaps: lazily<T>(typedMaps),
    variables: lazily<V>(variables),
    close: () => collection.close(),
    [Symbol.dispose]: () => collection.close(),
  };
}

/**
 * What every generated view class is built on. A view reads a struct or union in place: each
 * getter reads its member from the bytes when called (nothing is decoded ahead or copied;
 * strings, bigints and byte arrays are made when read). `at(buf, offset)` points the view at
 * another record and returns it: one view re-pointed per record allocates nothing (given a
 * DataView, or the same buffer again). Valid as long as the bytes are: a reader's record only
 * during its callback. `toObject()` decodes a copy.
 *
 * A subclass declares `static size` and `static typeName` (read once per instance), a getter per
 * member reading `this.$v` at `this.$o`, and `toObject()`.
 */
export abstract class GeneratedView {
  private $b: Uint8Array | DataView | undefined;
  /** The DataView the getters read. */
  protected $v: DataView;
  private $n: number;
  /** The record's byte offset in `$v`. */
  protected $o: number;
  private readonly $size: number;
  private readonly $type: string;

  /** A view of the record at `offset` of `buf` (none yet without `buf`: point it with `at`). */
  constructor(buf?: Uint8Array | DataView, offset = 0) {
    const kind = new.target as unknown as { readonly size: number; readonly typeName: string };
    this.$size = kind.size;
    this.$type = kind.typeName;
    this.$b = buf;
    this.$v = viewOf(buf);
    this.$n = this.$v.byteLength;
    this.$o = 0;
    if (buf !== undefined) this.at(buf, offset);
  }

  /** Points this view at the record at `offset` of `buf` (a CodecError unless the record's size in bytes is there); returns it. */
  at(buf: Uint8Array | DataView, offset = 0): this {
    if (buf !== this.$b) {
      this.$v = viewOf(buf);
      this.$n = this.$v.byteLength;
      this.$b = buf;
    }
    if (!(offset >= 0 && offset + this.$size <= this.$n && (offset | 0) === offset)) viewRoom(this.$size, this.$type, this.$n, offset);
    this.$o = offset;
    return this;
  }

  /** The record decoded: a plain object that stays valid when the bytes change. */
  abstract toObject(): unknown;
}

/**
 * A generated struct's or union's codec: `decode`/`encode` check the room (encode zeroes the
 * record first, then writes the members given), `view` makes a `View` of the record.
 */
export function recordCodec<T, F extends string, V>(
  size: number,
  typeName: string,
  fields: { readonly [K in F]: FieldLayout },
  decode: (v: DataView, o: number) => T,
  encode: (x: T, v: DataView, o: number) => void,
  View: new (buf: Uint8Array | DataView, offset: number) => V,
): RecordCodec<T, F, V> {
  return {
    ...valueCodec(size, typeName, decode, encode),
    fields,
    view(buf, offset = 0) {
      return new View(buf, offset);
    },
  };
}

/** A generated codec of any other value (an integer, an enum, an array): as recordCodec, without fields and view. */
export function valueCodec<T>(size: number, typeName: string, decode: (v: DataView, offset: number) => T, encode: (value: T, v: DataView, offset: number) => void): Codec<T> & { readonly typeName: string } {
  return {
    size,
    typeName,
    decode(buf, offset = 0) {
      return decode(recordView(buf, offset, size, typeName), offset);
    },
    encode(value, out, offset = 0) {
      const v = recordView(out, offset, size, typeName);
      new Uint8Array(v.buffer, v.byteOffset + offset, size).fill(0);
      encode(value, v, offset);
    },
  };
}

/** What a generated `load(options)` takes (the module's `LoadOptions`): Collection.load's options with the object's program, variable and map names. */
export interface GeneratedLoadOptionsOf<P extends string, V, M extends string> extends Omit<CollectionOptions, "variables" | "programs" | "maxEntries"> {
  /** Initial values of global variables, set before load (`.rodata` ones are constants to the verifier). */
  readonly variables?: { readonly [K in keyof V]?: V[K] };
  /** Which programs to load (default: the module's AutoloadProgramName). */
  readonly programs?: readonly P[];
  /** max_entries overrides, by map. */
  readonly maxEntries?: { readonly [K in M]?: number };
  /** Load this spec instead of the object's own (read from elsewhere, or adjusted: see the module's loadSpec). */
  readonly spec?: CollectionSpec;
}

/** The C scalars a generated module's codecs of plain values name, and their TypeScript types. */
export interface ScalarTypes {
  __u8: number;
  __s8: number;
  __u16: number;
  __s16: number;
  __u32: number;
  __s32: number;
  __u64: bigint;
  __s64: bigint;
  "void *": bigint;
  float: number;
  double: number;
}

type Scalar = { [K in keyof ScalarTypes]: { size: number; read(v: DataView, o: number, le: boolean): ScalarTypes[K]; write(v: DataView, o: number, x: ScalarTypes[K], le: boolean): void } };

const U64_MAX = 2n ** 64n - 1n;
const S64_MIN = -(2n ** 63n);
const S64_MAX = 2n ** 63n - 1n;

const SCALARS: Scalar = {
  __u8: { size: 1, read: (v, o) => v.getUint8(o), write: (v, o, x) => v.setUint8(o, checkInt(x, 0, 255, "__u8")) },
  __s8: { size: 1, read: (v, o) => v.getInt8(o), write: (v, o, x) => v.setInt8(o, checkInt(x, -128, 127, "__s8")) },
  __u16: { size: 2, read: (v, o, le) => v.getUint16(o, le), write: (v, o, x, le) => v.setUint16(o, checkInt(x, 0, 65535, "__u16"), le) },
  __s16: { size: 2, read: (v, o, le) => v.getInt16(o, le), write: (v, o, x, le) => v.setInt16(o, checkInt(x, -32768, 32767, "__s16"), le) },
  __u32: { size: 4, read: (v, o, le) => v.getUint32(o, le), write: (v, o, x, le) => v.setUint32(o, checkInt(x, 0, 4294967295, "__u32"), le) },
  __s32: { size: 4, read: (v, o, le) => v.getInt32(o, le), write: (v, o, x, le) => v.setInt32(o, checkInt(x, -2147483648, 2147483647, "__s32"), le) },
  __u64: { size: 8, read: (v, o, le) => v.getBigUint64(o, le), write: (v, o, x, le) => v.setBigUint64(o, checkBig(x, 0n, U64_MAX, "__u64"), le) },
  __s64: { size: 8, read: (v, o, le) => v.getBigInt64(o, le), write: (v, o, x, le) => v.setBigInt64(o, checkBig(x, S64_MIN, S64_MAX, "__s64"), le) },
  "void *": { size: 8, read: (v, o, le) => v.getBigUint64(o, le), write: (v, o, x, le) => v.setBigUint64(o, checkBig(x, 0n, U64_MAX, "void *"), le) },
  float: { size: 4, read: (v, o, le) => v.getFloat32(o, le), write: (v, o, x, le) => v.setFloat32(o, checkNum(x, "float"), le) },
  double: { size: 8, read: (v, o, le) => v.getFloat64(o, le), write: (v, o, x, le) => v.setFloat64(o, checkNum(x, "double"), le) },
};

const scalarCodecs = new Map<string, Codec<unknown>>();

/** The codec of a C scalar in one byte order (one object per scalar and order, shared by every module): a generated `U32Codec`. */
export function scalarCodec<K extends keyof ScalarTypes>(typeName: K, littleEndian: boolean): Codec<ScalarTypes[K]> {
  const key = `${typeName}/${littleEndian}`;
  let codec = scalarCodecs.get(key) as Codec<ScalarTypes[K]> | undefined;
  if (!codec) {
    const s = SCALARS[typeName] as unknown as Scalar["__u8"] & Scalar["__u64"];
    codec = valueCodec<ScalarTypes[K]>(
      s.size,
      typeName,
      (v, o) => s.read(v, o, littleEndian) as ScalarTypes[K],
      (x, v, o) => s.write(v, o, x as never, littleEndian),
    );
    scalarCodecs.set(key, codec as Codec<unknown>);
  }
  return codec;
}
