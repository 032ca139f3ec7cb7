/** ELF string tables (section and symbol names), checked and decoded in linear time. */
import { ParseError } from "./errors.js";

const OUTSIDE = 0;
const UNTERMINATED = 1;
const OVER_BUDGET = 2;

/**
 * A string table: NUL-terminated names, read in time and memory linear in the table's size
 * however the names overlap. In an ASCII table (every BPF object in practice) each name is a
 * slice of one decoded copy of the table; in a table with other bytes each name is decoded as
 * UTF-8 (invalid bytes become U+FFFD), up to 4 times the table's size in all.
 */
export class StringTable {
  private static readonly utf8 = new TextDecoder("utf-8");
  /** The table as one string, one char per byte, when it is all ASCII. */
  private ascii: string | undefined;
  /** Offsets of the NUL bytes, ascending. */
  private nuls: Int32Array | undefined;
  private readonly decoded = new Map<number, string>();
  private budget: number;

  constructor(
    private readonly data: Uint8Array,
    /** File offset of the table, for error messages. */
    private readonly fileOffset: number,
  ) {
    this.budget = 4 * data.length;
  }

  /** The string at `offset`, or undefined when it is out of range or not NUL-terminated. */
  tryGet(offset: number): string | undefined {
    const r = this.lookup(offset);
    return typeof r === "string" ? r : undefined;
  }

  /** The string at `offset`; ParseError naming `what` and the table when there is none. */
  get(offset: number, what: string, section: string | undefined): string {
    const r = this.lookup(offset);
    if (typeof r === "string") return r;
    const size = this.data.length;
    const reason =
      r === OUTSIDE ? `${what} is at offset ${offset}, outside the string table (${size} bytes)`
      : r === UNTERMINATED ? `${what} at offset ${offset} is not NUL-terminated inside the string table`
      : `${what} at offset ${offset}: the table's names overlap so much that decoding them takes more than ${4 * size} bytes`;
    throw new ParseError(reason, { section, offset: this.fileOffset + (r === OUTSIDE ? 0 : offset) });
  }

  /** The string at `offset`, or why there is none. */
  private lookup(offset: number): string | typeof OUTSIDE | typeof UNTERMINATED | typeof OVER_BUDGET {
    if (offset >= this.data.length) return OUTSIDE;
    const end = this.end(offset);
    if (end < 0) return UNTERMINATED;
    if (this.ascii !== undefined) return this.ascii.slice(offset, end);
    let text = this.decoded.get(offset);
    if (text === undefined) {
      if (end - offset > this.budget) return OVER_BUDGET;
      this.budget -= end - offset;
      text = StringTable.utf8.decode(this.data.subarray(offset, end));
      this.decoded.set(offset, text);
    }
    return text;
  }

  /** Offset of the NUL that ends the string at `offset`, or -1 when there is none. */
  private end(offset: number): number {
    const nuls = this.nuls ?? this.index();
    let lo = 0;
    let hi = nuls.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((nuls[mid] as number) < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < nuls.length ? (nuls[lo] as number) : -1;
  }

  /** Finds the NULs, and decodes the table at once when it is all ASCII. */
  private index(): Int32Array {
    // Indexed loops and one decode: this runs once per table, mostly before V8 optimizes it, where
    // a for-of over the bytes or a spread of them allocates per byte.
    const { data } = this;
    const length = data.length;
    let count = 0;
    let high = false;
    for (let i = 0; i < length; i++) {
      const b = data[i] as number;
      if (b === 0) count++;
      else if (b >= 0x80) high = true;
    }
    const nuls = new Int32Array(count);
    for (let i = 0, k = 0; k < count; i++) if (data[i] === 0) nuls[k++] = i;
    // ASCII decodes as UTF-8 to one char per byte, NULs included.
    if (!high) this.ascii = StringTable.utf8.decode(data);
    return (this.nuls = nuls);
  }
}
