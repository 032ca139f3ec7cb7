/**
 * The code every module `tsebpf gen` writes would otherwise repeat: bounds and range checks whose
 * errors name the field, text, byte arrays, bitfields and 128-bit integers read and written at a
 * DataView offset, and the plumbing of its `load()` and `bind()`. A generated module takes what
 * it uses once, at its top (`const { recordView, checkInt } = runtime.genSupport;`), and calls
 * the functions directly from its codecs and views.
 *
 * For generated code: the functions check only what a generated caller leaves unchecked, and
 * change with the generator (regenerate bindings after upgrading tsebpf).
 */
import type { CollectionSpec } from "../elf/index.js";
import { Collection, type CollectionOptions } from "./collection.js";
import { CodecError, type Codec } from "./codec.js";
import type { Program } from "./program.js";

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

/** char[n]: the bytes up to the first NUL (or all n), one character per byte (latin1: every byte round-trips). */
export function readText(v: DataView, o: number, n: number): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset + o, n);
  let end = bytes.indexOf(0);
  if (end < 0) end = n;
  let s = "";
  for (let i = 0; i < end; i += 4096) s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  return s;
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
