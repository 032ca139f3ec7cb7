/**
 * bpf_attr and friends built in native-order memory from the generated layouts
 * (src/abi/layouts.generated.ts): fields are written by name, offsets come from the kernel's BTF.
 */
import { HOST_LE } from "../asm/encoding.js";
import { Layouts } from "../abi/index.js";
import { AttrRangeError } from "./errors.js";
import { fitsInt, type IntType } from "./int-range.js";

export type LayoutName = keyof typeof Layouts;
type FieldsOf<L extends LayoutName> = (typeof Layouts)[L]["fields"];
export type FieldName<L extends LayoutName> = keyof FieldsOf<L> & string;

const LE = HOST_LE;

/**
 * The signed integer fields (`__s32`, `int`) of the layouts; every other integer field is
 * unsigned. The generated layouts carry offsets and sizes only: test/syscall/attr.test.ts checks
 * this list against the running kernel's BTF, so a field the kernel adds or retypes fails there.
 */
export const SIGNED_FIELDS: { readonly [L in LayoutName]?: readonly FieldName<L>[] } = {
  AttrMapCreate: ["value_type_btf_obj_fd", "map_token_fd"],
  AttrProgLoad: ["prog_token_fd", "keyring_id"],
  AttrObj: ["path_fd"],
  AttrGetId: ["fd_by_id_token_fd"],
  AttrBtfLoad: ["btf_token_fd"],
  AttrLinkCreate: ["netfilter.priority"],
  PerfEventAttr: ["clockid"],
  BpfLinkInfo: ["netfilter.priority"],
};

const signedSets = new Map<LayoutName, ReadonlySet<string>>();
const signedOf = (layout: LayoutName): ReadonlySet<string> => {
  let set = signedSets.get(layout);
  if (!set) signedSets.set(layout, (set = new Set<string>(SIGNED_FIELDS[layout] ?? [])));
  return set;
};

/** The C name of a layout, for messages: `bpf_attr`, `perf_event_attr`, `bpf_map_info`. */
export const structName = (layout: LayoutName): string =>
  layout.startsWith("Attr") ? "bpf_attr" : layout.replace(/[A-Z]/g, (c, i: number) => `${i ? "_" : ""}${c.toLowerCase()}`);

/** The C integer type of a field of `size` bytes (undefined for arrays and other sizes). */
function intType(size: number, signed: boolean): IntType | undefined {
  if (size === 8) return signed ? "s64" : "u64";
  if (size === 4) return signed ? "s32" : "u32";
  if (size === 2) return "u16";
  if (size === 1) return "u8";
  return undefined;
}

const TWO_32 = 2 ** 32;

/**
 * A structure of a generated layout over a Buffer; fields written by name. Every write checks its
 * value against the field's C type (width, sign, integrality) and throws AttrRangeError instead
 * of truncating: a refused value never reaches the kernel.
 */
export class Struct<L extends LayoutName> {
  readonly buf: Buffer;
  private readonly view: DataView;
  private readonly fields: FieldsOf<L>;
  private readonly signed: ReadonlySet<string>;
  /** What the structure is about (`map "events"`), for the messages of refused values. */
  private object: string | undefined;

  constructor(
    readonly layout: L,
    /** Bytes to allocate; defaults to the layout's size (the kernel may know fewer). */
    size: number = Layouts[layout].size,
  ) {
    this.buf = Buffer.alloc(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.fields = Layouts[layout].fields as FieldsOf<L>;
    this.signed = signedOf(layout);
  }

  /** Names the object this structure is about in AttrRangeError messages (`map "events"`). */
  about(object: string): this {
    this.object = object;
    return this;
  }

  /** [offset, size] of a field. */
  field(name: FieldName<L>): readonly [number, number] {
    const f = (this.fields as Record<string, readonly [number, number]>)[name];
    if (f === undefined) throw new TypeError(`${structName(this.layout)} (${this.layout}) has no field ${name}`);
    return f;
  }

  private refused(name: string, value: number | bigint, type: string): AttrRangeError {
    return new AttrRangeError(structName(this.layout), name, value, type, this.object);
  }

  /** The C integer type of a field: `u32`, `s32`, `u64` … (undefined for byte arrays). */
  typeOf(name: FieldName<L>): IntType | undefined {
    return intType(this.field(name)[1], this.signed.has(name));
  }

  /** Bytes up to and including this field: the `size` to pass for a command (like libbpf's offsetofend). */
  end(name: FieldName<L>): number {
    const [o, s] = this.field(name);
    return o + s;
  }

  /**
   * Writes an integer field. The value must fit the field's C type — a safe integer or a bigint
   * within its range — else AttrRangeError (nothing written). Numbers into 8-byte fields are
   * written without making a BigInt.
   */
  set(name: FieldName<L>, value: number | bigint): this {
    const f = this.field(name);
    const o = f[0];
    const s = f[1];
    const type = f.length > 2 ? undefined : intType(s, this.signed.has(name));
    if (type === undefined) throw new TypeError(`${structName(this.layout)} ${name} is ${f.length > 2 ? "a bitfield (setBits)" : `${s} bytes, not a number`}`);
    if (!fitsInt(value, type)) throw this.refused(name, value, type);
    if (s === 8) {
      if (typeof value === "bigint") {
        if (type === "s64") this.view.setBigInt64(o, value, LE);
        else this.view.setBigUint64(o, value, LE);
      } else {
        // A safe integer: two 32-bit halves (two's complement for s64's negative values).
        const lo = value >>> 0;
        const hi = Math.floor(value / TWO_32) >>> 0;
        this.view.setUint32(LE ? o : o + 4, lo, LE);
        this.view.setUint32(LE ? o + 4 : o, hi, LE);
      }
    } else if (s === 4) this.view.setUint32(o, Number(value) >>> 0, LE);
    else if (s === 2) this.view.setUint16(o, Number(value), LE);
    else this.view.setUint8(o, Number(value));
    return this;
  }

  /**
   * Writes a 32-bit value into a field of 4 or 8 bytes (the upper half zeroed): no BigInt, no
   * allocation. The value must be a u32 (an s32 for a signed 4-byte field), else AttrRangeError.
   */
  setU32(name: FieldName<L>, value: number): this {
    const [o, s] = this.field(name);
    const type = s === 4 && this.signed.has(name) ? "s32" : "u32";
    if (!fitsInt(value, type)) throw this.refused(name, value, type);
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
    if (s === 8) return this.signed.has(name) ? this.view.getBigInt64(o, LE) : this.view.getBigUint64(o, LE);
    if (s === 4) return this.signed.has(name) ? this.view.getInt32(o, LE) : this.view.getUint32(o, LE);
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

  /** Writes a bitfield (`disabled:1`, `watermark:1` …); a value wider than the field is an AttrRangeError. */
  setBits(name: FieldName<L>, value: number): this {
    const f = this.field(name) as readonly number[];
    const bit = f[2] ?? 0;
    const bits = f[3] ?? 32;
    if (!(value >>> 0 === value && (bits >= 32 || value < 2 ** bits))) throw this.refused(name, value, `u${bits}`);
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
