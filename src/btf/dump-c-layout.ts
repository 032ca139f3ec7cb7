/**
 * How clang lays out the C that `dumpC` prints, for the BPF target (64-bit, `long` and pointers
 * are 8 bytes, `long double` is a `double`, `__int128` is 16-byte aligned), so that the printer
 * can tell where the BTF layout differs from natural C layout: explicit padding where BTF has a
 * gap C would not leave, `packed` where a member sits before its natural place or the size is not
 * a multiple of the alignment, `aligned(N)` for unions larger than their largest member.
 *
 * The rules (System V / Itanium record layout as clang implements it):
 * - a member that is not a bitfield goes at the next multiple of its alignment (1 byte when packed);
 * - a bitfield of type T goes at the current bit when it fits in the T-sized unit that contains
 *   that bit (T-aligned), else at the next T-aligned bit; in a packed record, at the current bit;
 * - named members raise the record's alignment to theirs; unnamed bitfields (our padding) do not;
 * - the size is the end of the last member rounded up to the record's alignment.
 */
import type { Btf } from "./btf.js";
import { BtfError } from "./errors.js";
import { MAX_TYPE_DEPTH, chainError, cycleError, sizeChainNext, typeLabel } from "./query.js";
import type { BtfComposite, BtfEnum, BtfEnum64, BtfFloat, BtfInt, BtfMember } from "./types.js";

/** An unnamed bitfield printed as padding: `long: 64;`. */
export interface Pad {
  readonly type: "char" | "short" | "int" | "long";
  readonly bits: number;
}

export interface CompositeLayout {
  readonly packed: boolean;
  /** `__attribute__((aligned(N)))`, or 0 for none. */
  readonly aligned: number;
  /** Size and alignment in bytes of the record as printed. */
  readonly size: number;
  readonly align: number;
  /** Padding to print before each member, by member index. */
  readonly before: readonly (readonly Pad[])[];
  /** Padding to print after the last member. */
  readonly after: readonly Pad[];
  /** False when no printable layout reproduces the BTF one (overlapping members, union members at an offset). */
  readonly exact: boolean;
}

export interface EnumLayout {
  /** Attribute that gives the enum its BTF size: "", "packed" or "mode(QI)" and so on. */
  readonly attribute: string;
  readonly size: number;
  readonly signed: boolean;
}

export interface SizeAlign {
  readonly size: number;
  readonly align: number;
}

const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;

/**
 * The most padding printed in one gap, in bits (128 KiB: `long: 64;` lines). BTF may say a
 * record has gigabytes of nothing; the header for it would be as large.
 */
export const MAX_PAD_BITS = 128 * 1024 * 8;

/** Unnamed bitfields covering bits [from, to), each within a unit of its type so C puts it exactly there. */
export function pads(from: number, to: number): Pad[] {
  return padBits(from, to);
}

function padBits(from: number, to: number): Pad[] {
  const out: Pad[] = [];
  for (let pos = from; pos < to; ) {
    const bits = Math.min(to - pos, 64 - (pos % 64));
    const type = (pos % 8) + bits <= 8 ? "char" : (pos % 16) + bits <= 16 ? "short" : (pos % 32) + bits <= 32 ? "int" : "long";
    out.push({ type, bits });
    pos += bits;
  }
  return out;
}

/** Where member `m` of `t` starts and how many bits wide it is (0: not a bitfield), legacy int bitfields included. */
export function memberPlacement(btf: Btf, t: BtfComposite, m: BtfMember): { offset: number; bits: number } {
  if (t.bitfields || m.bitSize !== 0) return { offset: m.bitOffset, bits: m.bitSize };
  const it = btf.type(m.type);
  // Before kind_flag, a bitfield was a member whose type is an int narrower than its size.
  if (it?.kind === "int" && (it.bits !== it.size * 8 || it.bitOffset !== 0)) return { offset: m.bitOffset + it.bitOffset, bits: it.bits };
  return { offset: m.bitOffset, bits: 0 };
}

const INT_WORDS = new Set(["signed", "unsigned", "char", "short", "int", "long", "_Bool", "__int128"]);

/** Size in bytes of an integer type spelled with C keywords, or undefined when it is not such a spelling. */
function spelledIntSize(name: string): number | undefined {
  const words = name.split(/\s+/).filter((w) => w !== "");
  if (words.length === 0 || !words.every((w) => INT_WORDS.has(w))) return undefined;
  const count = (w: string) => words.filter((x) => x === w).length;
  if (count("signed") + count("unsigned") > 1 || count("int") > 1 || count("long") > 2) return undefined;
  const bases = ["char", "short", "_Bool", "__int128"].filter((w) => count(w) > 0);
  if (bases.length > 1 || bases.some((b) => count(b) > 1)) return undefined;
  const base = bases[0];
  if (base !== undefined && count("long") > 0) return undefined;
  if ((base === "char" || base === "_Bool" || base === "__int128") && count("int") > 0) return undefined;
  if (base === "_Bool" && words.length > 1) return undefined;
  return base === "char" || base === "_Bool" ? 1 : base === "short" ? 2 : base === "__int128" ? 16 : count("long") > 0 ? 8 : 4;
}

/** The C spelling of an integer type: its BTF name when that is C (`long unsigned int`), else one made from size and encoding. */
export function intName(t: BtfInt): string {
  if (spelledIntSize(t.name) === t.size && (!t.bool || t.name.includes("_Bool"))) return t.name.trim().replace(/\s+/g, " ");
  if (t.bool && t.size === 1) return "_Bool";
  return integerOfSize(t.size, t.signed, t.char);
}

/** `int`, `unsigned long` and so on for a size in bytes. */
export function integerOfSize(size: number, signed: boolean, char = false): string {
  const u = signed ? "" : "unsigned ";
  switch (size) {
    case 1:
      return char ? "char" : signed ? "signed char" : "unsigned char";
    case 2:
      return `${u}short`;
    case 4:
      return `${u}int`;
    case 16:
      return `${u}__int128`;
    default:
      return `${u}long`;
  }
}

export function floatName(t: BtfFloat): string {
  if (t.size === 4) return "float";
  if (t.size === 8) return t.name === "long double" ? "long double" : "double";
  return "long double";
}

const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;
const U32_MAX = 2n ** 32n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** An enumerator's value as a C literal of a type that holds it. */
export function enumLiteral(v: bigint, unsignedEnum: boolean): string {
  if (v >= I32_MIN && v <= I32_MAX) return v.toString();
  if (v === I64_MIN) return "(-9223372036854775807LL - 1)";
  if (v > I64_MAX) return `${v}ULL`;
  if (v > 0n && unsignedEnum && v <= U32_MAX) return `${v}U`;
  return `${v}LL`;
}

const enumValues = (t: BtfEnum | BtfEnum64): bigint[] => t.values.map((v) => BigInt(v.value));

const MODE_BY_SIZE: Record<number, string> = { 1: "mode(QI)", 2: "mode(HI)", 4: "mode(SI)", 8: "mode(DI)" };

/** Which attribute makes clang give an enum the size BTF says it has. */
export function enumLayout(t: BtfEnum | BtfEnum64): EnumLayout {
  const values = enumValues(t);
  if (values.length === 0) return { attribute: "", size: t.size, signed: t.signed };
  let min = values[0] as bigint;
  let max = min;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const signed = min < 0n;
  // Plain C: int when every value fits, else unsigned int, else long, else unsigned long.
  const natural = (min >= I32_MIN && max <= I32_MAX) || (min >= 0n && max <= U32_MAX) ? 4 : 8;
  // packed: the smallest integer type that holds every value.
  let packed = 8;
  for (const s of [1, 2, 4]) {
    const bits = BigInt(s * 8);
    const fits = signed ? min >= -(2n ** (bits - 1n)) && max <= 2n ** (bits - 1n) - 1n : max <= 2n ** bits - 1n;
    if (fits) {
      packed = s;
      break;
    }
  }
  if (t.size === natural) return { attribute: "", size: natural, signed };
  if (t.size === packed) return { attribute: "packed", size: packed, signed };
  const mode = MODE_BY_SIZE[t.size];
  if (mode && t.size > packed) return { attribute: mode, size: t.size, signed };
  return { attribute: "", size: natural, signed };
}

/**
 * Sizes, alignments and record layouts of types as `dumpC` prints them (memoized). A record
 * that holds itself by value, a chain or nesting deeper than MAX_TYPE_DEPTH, a size past 2^53
 * and a gap larger than MAX_PAD_BITS are BtfErrors.
 */
export class CLayout {
  private readonly records = new Map<number, CompositeLayout>();
  /** Records whose layout is being worked out, outermost first. */
  private readonly busy: number[] = [];

  constructor(private readonly btf: Btf) {}

  /** Size and alignment of type `id` as printed (0/1 for void, functions and incomplete types). */
  sizeAlign(id: number): SizeAlign {
    const start = id;
    let multiplier = 1;
    for (let hops = 0; hops <= MAX_TYPE_DEPTH; hops++) {
      const t = this.btf.type(id);
      if (!t) return { size: 0, align: 1 };
      switch (t.kind) {
        case "int": {
          const size = spelledIntSize(intName(t)) ?? t.size;
          return { size: multiplier * size, align: Math.min(16, size) };
        }
        case "float": {
          const size = t.size === 4 ? 4 : 8;
          return { size: multiplier * size, align: size };
        }
        case "ptr":
          return { size: multiplier * 8, align: 8 };
        case "enum":
        case "enum64": {
          const size = enumLayout(t).size;
          return { size: multiplier * size, align: size };
        }
        case "struct":
        case "union": {
          const l = this.composite(id);
          return { size: multiplier * l.size, align: l.align };
        }
        case "array":
          multiplier *= t.nelems;
          if (!Number.isSafeInteger(multiplier * 16)) throw new BtfError(`type ${start}: array size overflows`);
          id = t.type;
          break;
        case "typedef":
        case "const":
        case "volatile":
        case "restrict":
        case "type_tag":
          id = t.type;
          break;
        default:
          return { size: 0, align: 1 };
      }
    }
    throw chainError(this.btf, start, "typedef/qualifier/array chain", (x) => sizeChainNext(this.btf, x));
  }

  /** The printed layout of struct or union `id`. */
  composite(id: number): CompositeLayout {
    const known = this.records.get(id);
    if (known) return known;
    const t = this.btf.type(id);
    if (!t || (t.kind !== "struct" && t.kind !== "union")) throw new TypeError(`type ${id} is not a struct or union`);
    const at = this.busy.indexOf(id);
    if (at >= 0) throw cycleError(this.btf, id, "record holds itself by value", [...this.busy.slice(at), id]);
    if (this.busy.length >= MAX_TYPE_DEPTH) {
      throw new BtfError(`type ${id}: records nest deeper than ${MAX_TYPE_DEPTH} levels (from ${typeLabel(this.btf, this.busy[0] as number)})`);
    }
    this.busy.push(id);
    try {
      const layout =
        t.kind === "union"
          ? this.union(t)
          : this.struct(id, t, false) ?? this.struct(id, t, true) ?? { ...(this.struct(id, t, false, true) as CompositeLayout), exact: false };
      this.records.set(id, layout);
      return layout;
    } finally {
      this.busy.pop();
    }
  }

  /** Lays a struct out as clang would; undefined when this packing cannot reproduce the BTF offsets. */
  private struct(id: number, t: BtfComposite, packed: boolean, lenient = false): CompositeLayout | undefined {
    const pads = (from: number, to: number): Pad[] => {
      if (to - from > MAX_PAD_BITS) {
        throw new BtfError(`type ${id}: ${typeLabel(this.btf, id)} has a gap of ${to - from} bits at bit ${from}, more padding than C output prints (${MAX_PAD_BITS} bits)`);
      }
      return padBits(from, to);
    };
    let pos = 0;
    let align = 1;
    const before: Pad[][] = [];
    for (const m of t.members) {
      const { offset, bits } = memberPlacement(this.btf, t, m);
      const { size, align: natural } = this.sizeAlign(m.type);
      const a = (packed ? 1 : natural) * 8;
      let pad: Pad[] = [];
      let at: number;
      if (bits === 0) {
        at = alignUp(pos, a);
        if (offset > at && offset % a === 0) pad = pads(pos, offset), (at = offset);
      } else if (packed) {
        at = pos;
        if (offset > at) pad = pads(pos, offset), (at = offset);
      } else {
        const fits = (o: number) => (o % a) + bits <= size * 8;
        at = fits(pos) ? pos : alignUp(pos, a);
        if (offset > pos && offset !== at && fits(offset)) pad = pads(pos, offset), (at = offset);
      }
      if (at !== offset && !lenient) return undefined;
      before.push(pad);
      pos = at + (bits || size * 8);
      if (!packed) align = Math.max(align, natural);
    }
    const end = t.size * 8;
    if (pos > end || t.size % align !== 0) {
      if (!lenient) return undefined;
      return { packed, aligned: 0, size: alignUp(pos, align * 8) / 8, align, before, after: [], exact: false };
    }
    const after = alignUp(pos, align * 8) === end ? [] : pads(pos, end);
    return { packed, aligned: 0, size: t.size, align, before, after, exact: true };
  }

  private union(t: BtfComposite): CompositeLayout {
    let align = 1;
    let dataBits = 0;
    let exact = true;
    for (const m of t.members) {
      const { offset, bits } = memberPlacement(this.btf, t, m);
      if (offset !== 0) exact = false;
      const sa = this.sizeAlign(m.type);
      align = Math.max(align, sa.align);
      dataBits = Math.max(dataBits, bits || sa.size * 8);
    }
    const data = Math.ceil(dataBits / 8);
    const before = t.members.map(() => []);
    const layout = (packed: boolean, aligned: number, a: number): CompositeLayout => ({
      packed, aligned, size: alignUp(data, a), align: a, before, after: [], exact,
    });
    if (alignUp(data, align) === t.size) return layout(false, 0, align);
    for (let n = align * 2; n <= t.size; n *= 2) if (alignUp(data, n) === t.size) return layout(false, n, n);
    if (data === t.size) return layout(true, 0, 1);
    for (let n = 2; n <= t.size; n *= 2) if (alignUp(data, n) === t.size) return layout(true, n, n);
    return { ...layout(false, 0, align), exact: false };
  }
}
