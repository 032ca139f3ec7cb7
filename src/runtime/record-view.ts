/**
 * What the record codecs and views of `tsebpf gen` modules share: where a member is
 * (`FieldLayout`), the shape of a struct's codec (`RecordCodec`), a member's bytes in place
 * (`fieldBytes`) and C arrays read in place (`ArrayView`). A generated module re-exports them
 * under the same names.
 */
import type { Codec } from "./codec.js";

/** Where a member of a struct or union is: its byte offset and size; for a bitfield, its bit offset from the record's start and its width. */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
  readonly bitOffset?: number;
  readonly bits?: number;
}

/**
 * The codec of a struct or union, with where each of its members is (`fields`) and `view(buf,
 * offset)`: a view `V` of the record, read in place (see its class).
 */
export interface RecordCodec<T, F extends string, V> extends Codec<T> {
  readonly typeName: string;
  readonly fields: { readonly [K in F]: FieldLayout };
  /** A new view of the record at `offset` (default 0) of `buf`: no bytes decoded or copied. */
  view(buf: Uint8Array | DataView, offset?: number): V;
}

/**
 * The bytes of a member of the record at `offset` of `buf` (a view, not a copy): what a
 * `char[]` member's string was read from, say: `fieldBytes(buf, 0, EventCodec.fields.comm)`.
 */
export function fieldBytes(buf: Uint8Array | DataView, offset: number, field: FieldLayout): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + offset + field.offset, field.size);
}

/**
 * A C array read in place (what a view's array member returns): `length`, `get(i)` (a number,
 * bigint, string, or a view of a nested struct or array: read when called), iteration, and
 * `toArray()` (the values decoded, as the codec reads the member). Valid as long as the bytes are.
 */
export class ArrayView<T, D = T> implements Iterable<T> {
  constructor(
    private readonly v: DataView,
    private readonly o: number,
    /** Elements in the array. */
    readonly length: number,
    private readonly stride: number,
    private readonly read: (v: DataView, o: number) => T,
    private readonly decode: (v: DataView, o: number) => D,
  ) {}

  /** Element `i` (a RangeError outside 0..length - 1). */
  get(i: number): T {
    if (!(i >= 0 && i < this.length && Number.isInteger(i))) throw new RangeError(`index ${i} of an array of ${this.length}`);
    return this.read(this.v, this.o + i * this.stride);
  }

  /** The elements decoded: plain values that stay valid when the bytes change. */
  toArray(): D[] {
    const out: D[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.decode(this.v, this.o + i * this.stride));
    return out;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.length; i++) yield this.read(this.v, this.o + i * this.stride);
  }
}
