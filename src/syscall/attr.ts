/**
 * bpf_attr and friends built in native-order memory from the generated layouts
 * (src/abi/layouts.generated.ts): fields are written by name, offsets come from the kernel's BTF.
 */
import { HOST_LE } from "../asm/encoding.js";
import { Layouts } from "../abi/index.js";

export type LayoutName = keyof typeof Layouts;
type FieldsOf<L extends LayoutName> = (typeof Layouts)[L]["fields"];
export type FieldName<L extends LayoutName> = keyof FieldsOf<L> & string;

const LE = HOST_LE;

/** A structure of a generated layout over a Buffer; fields written by name. */
export class Struct<L extends LayoutName> {
  readonly buf: Buffer;
  private readonly view: DataView;
  private readonly fields: FieldsOf<L>;

  constructor(
    readonly layout: L,
    /** Bytes to allocate; defaults to the layout's size (the kernel may know fewer). */
    size: number = Layouts[layout].size,
  ) {
    this.buf = Buffer.alloc(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.fields = Layouts[layout].fields as FieldsOf<L>;
  }

  /** [offset, size] of a field. */
  field(name: FieldName<L>): readonly [number, number] {
    return (this.fields as Record<string, readonly [number, number]>)[name] as readonly [number, number];
  }

  /** Bytes up to and including this field: the `size` to pass for a command (like libbpf's offsetofend). */
  end(name: FieldName<L>): number {
    const [o, s] = this.field(name);
    return o + s;
  }

  set(name: FieldName<L>, value: number | bigint): this {
    const [o, s] = this.field(name);
    if (s === 8) this.view.setBigUint64(o, BigInt.asUintN(64, BigInt(value)), LE);
    else if (s === 4) this.view.setUint32(o, Number(value) >>> 0, LE);
    else if (s === 2) this.view.setUint16(o, Number(value), LE);
    else if (s === 1) this.view.setUint8(o, Number(value));
    else throw new RangeError(`${this.layout}.${name} is ${s} bytes, not a number`);
    return this;
  }

  /** Writes a 32-bit value into a field of 4 or 8 bytes (the upper half zeroed): no BigInt, no allocation. */
  setU32(name: FieldName<L>, value: number): this {
    const [o, s] = this.field(name);
    if (s === 8) {
      this.view.setUint32(LE ? o : o + 4, value >>> 0, LE);
      this.view.setUint32(LE ? o + 4 : o, 0, LE);
    } else {
      this.view.setUint32(o, value >>> 0, LE);
    }
    return this;
  }

  /** Copies bytes (a name) into a byte-array field, truncated to fit with a trailing NUL. */
  setBytes(name: FieldName<L>, bytes: Uint8Array): this {
    const [o, s] = this.field(name);
    this.buf.fill(0, o, o + s);
    this.buf.set(bytes.subarray(0, s - 1), o);
    return this;
  }

  getU32(name: FieldName<L>): number {
    return this.view.getUint32(this.field(name)[0], LE);
  }

  getU64(name: FieldName<L>): bigint {
    return this.view.getBigUint64(this.field(name)[0], LE);
  }

  get(name: FieldName<L>): number | bigint {
    const [o, s] = this.field(name);
    if (s === 8) return this.view.getBigUint64(o, LE);
    if (s === 4) return this.view.getUint32(o, LE);
    if (s === 2) return this.view.getUint16(o, LE);
    return this.view.getUint8(o);
  }

  /** A bitfield (`gpl_compatible:1`). */
  getBits(name: FieldName<L>): number {
    const f = (this.fields as Record<string, readonly number[]>)[name] as readonly number[];
    const word = this.view.getUint32(f[0] as number, LE);
    const bit = f[2] ?? 0;
    const bits = f[3] ?? 32;
    // BTF bit offsets count from the least significant bit on little-endian machines.
    const shift = LE ? bit : 32 - bit - bits;
    return (word >>> shift) & (bits === 32 ? 0xffffffff : (1 << bits) - 1);
  }

  /** Writes a bitfield (`disabled:1`, `watermark:1` …). */
  setBits(name: FieldName<L>, value: number): this {
    const f = (this.fields as Record<string, readonly number[]>)[name] as readonly number[];
    const bit = f[2] ?? 0;
    const bits = f[3] ?? 32;
    const shift = LE ? bit : 32 - bit - bits;
    const mask = (bits === 32 ? 0xffffffff : (1 << bits) - 1) << shift;
    const word = this.view.getUint32(f[0] as number, LE);
    this.view.setUint32(f[0] as number, ((word & ~mask) | ((value << shift) & mask)) >>> 0, LE);
    return this;
  }

  /** A NUL-terminated string field. */
  getString(name: FieldName<L>): string {
    const [o, s] = this.field(name);
    const bytes = this.buf.subarray(o, o + s);
    const end = bytes.indexOf(0);
    return bytes.toString("utf8", 0, end < 0 ? s : end);
  }

  reset(): this {
    this.buf.fill(0);
    return this;
  }
}
