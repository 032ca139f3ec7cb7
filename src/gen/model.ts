/**
 * The layout model of `tsebpf gen`: BTF types resolved into shapes that say exactly where each
 * value lives and how it reads (sizes, byte offsets, bit positions), with typedefs and qualifiers
 * looked through, anonymous members flattened as C reads them, and padding left out. Pure: the
 * emitters turn shapes into TypeScript; nothing here knows about source text.
 */
import { MAX_TYPE_DEPTH, describeType, type Btf, type BtfComposite, type BtfType } from "../btf/index.js";
import { GenError } from "./errors.js";

export type IntSize = 1 | 2 | 4 | 8 | 16;

/** How a value of some type reads from its bytes. */
export type Shape =
  | { readonly kind: "int"; readonly size: IntSize; readonly signed: boolean }
  | { readonly kind: "bool"; readonly size: number }
  | { readonly kind: "float"; readonly size: 4 | 8 }
  /** A pointer: an address (8 bytes: BPF is 64-bit). */
  | { readonly kind: "ptr" }
  /** char[n]: text up to the first NUL. */
  | { readonly kind: "text"; readonly size: number }
  /** Bytes without a finer type (u8[n], types tsebpf cannot read as values). */
  | { readonly kind: "bytes"; readonly size: number }
  | { readonly kind: "array"; readonly elem: Shape; readonly n: number; readonly size: number }
  /** A named struct or union (its own interface and codec). */
  | { readonly kind: "named"; readonly named: NamedRecord }
  /** An anonymous struct or union used as a member's type: an inline object type. */
  | { readonly kind: "inline"; readonly record: RecordShape }
  | { readonly kind: "enum"; readonly named: NamedEnum | undefined; readonly values: EnumShape };

export interface EnumShape {
  readonly size: number;
  readonly signed: boolean;
  /** Name and value of each enumerator (first of a repeated name only). */
  readonly values: readonly { readonly name: string; readonly value: bigint }[];
}

export interface Bitfield {
  /** Bit offset from the start of the record (the object's bit numbering: LSB first in little-endian). */
  readonly bitOffset: number;
  readonly bits: number;
}

export interface MemberShape {
  readonly name: string;
  /** The member's C type (`__u16`, `struct in6_addr`, `char[16]`). */
  readonly cType: string;
  /** Byte offset from the start of the record (for a bitfield: of the byte holding its first bit). */
  readonly offset: number;
  readonly shape: Shape;
  readonly bitfield?: Bitfield;
  /** A union's member (or one inside an anonymous union): written only when given. */
  readonly overlaps: boolean;
}

export interface RecordShape {
  readonly union: boolean;
  readonly size: number;
  /** `struct flow_key`, `union (anon)`. */
  readonly cName: string;
  readonly members: readonly MemberShape[];
}

export interface NamedRecord {
  readonly kind: "record";
  readonly id: number;
  /** The C name: `struct flow_key`, or a typedef's name for an anonymous struct (`event_t`). */
  readonly cName: string;
  /** The bare name the TypeScript names derive from (`flow_key`, `event_t`). */
  readonly baseName: string;
  record: RecordShape;
}

export interface NamedEnum {
  readonly kind: "enum";
  readonly id: number;
  readonly cName: string;
  readonly baseName: string;
  readonly values: EnumShape;
}

export type NamedType = NamedRecord | NamedEnum;

/** Shapes of one object's BTF, with each named struct, union and enum met so far (in the order met). */
export class ShapeResolver {
  readonly named: NamedType[] = [];
  private readonly byId = new Map<number, NamedType>();
  private readonly resolving = new Set<number>();

  constructor(
    readonly btf: Btf,
    readonly byteOrder: "little" | "big",
  ) {}

  /** The shape of type `id` (typedefs and qualifiers looked through). */
  shape(id: number, depth = 0, typedefName?: string): Shape {
    if (depth > MAX_TYPE_DEPTH) throw new GenError(`${this.label(id)}: nested deeper than ${MAX_TYPE_DEPTH} types`);
    const t = this.btf.type(id);
    if (!t) throw new GenError("void has no value to generate");
    switch (t.kind) {
      case "typedef":
        return this.shape(t.type, depth + 1, typedefName ?? t.name);
      case "const":
      case "volatile":
      case "restrict":
      case "type_tag":
        return this.shape(t.type, depth + 1, typedefName);
      case "int":
        if (t.bool) return { kind: "bool", size: t.size };
        if (t.size === 1 || t.size === 2 || t.size === 4 || t.size === 8 || t.size === 16) return { kind: "int", size: t.size, signed: t.signed };
        return { kind: "bytes", size: t.size };
      case "ptr":
        return { kind: "ptr" };
      case "float":
        return t.size === 4 || t.size === 8 ? { kind: "float", size: t.size } : { kind: "bytes", size: t.size };
      case "enum":
      case "enum64": {
        const values = enumShape(t);
        if (!t.name && !typedefName) return { kind: "enum", named: undefined, values };
        return { kind: "enum", named: this.namedEnum(id, t.name ? `enum ${t.name}` : typedefName ?? "", t.name || typedefName || "", values), values };
      }
      case "array": {
        const elemType = this.btf.type(skipMods(this.btf, t.type));
        const elem = this.shape(t.type, depth + 1);
        const size = sizeOfShape(elem) * t.nelems;
        if (!Number.isSafeInteger(size)) throw new GenError(`${this.label(id)}: array size overflows`);
        if (elemType?.kind === "int" && elemType.size === 1 && !elemType.bool) {
          if (elemType.char || elemType.name === "char") return { kind: "text", size: t.nelems };
          if (!elemType.signed) return { kind: "bytes", size: t.nelems };
        }
        return { kind: "array", elem, n: t.nelems, size };
      }
      case "struct":
      case "union": {
        if (!t.name && !typedefName) return { kind: "inline", record: this.record(id, t, `${t.kind} (anon)`, depth) };
        return { kind: "named", named: this.namedRecord(id, t, depth, typedefName) };
      }
      case "fwd":
        throw new GenError(`${t.union ? "union" : "struct"} ${t.name}: only declared in this object's BTF (no members, no size)`);
      default:
        throw new GenError(`${this.label(id)}: a ${t.kind} is not a value`);
    }
  }

  /** The named struct, union or enum `id` (after typedefs and qualifiers), registering it. */
  namedType(id: number): NamedType | undefined {
    const s = this.shape(id);
    return s.kind === "named" || (s.kind === "enum" && s.named) ? s.named : undefined;
  }

  /** The C spelling of type `id` (`const volatile __u32`, `struct flow_key`). */
  label(id: number): string {
    try {
      return describeType(this.btf, id);
    } catch {
      return `type ${id}`;
    }
  }

  private namedRecord(id: number, t: BtfComposite, depth: number, typedefName: string | undefined): NamedRecord {
    const known = this.byId.get(id);
    if (known?.kind === "record") return known;
    const cName = t.name ? `${t.kind} ${t.name}` : (typedefName as string);
    const named: NamedRecord = { kind: "record", id, cName, baseName: t.name || (typedefName as string), record: { union: t.kind === "union", size: t.size, cName, members: [] } };
    this.byId.set(id, named);
    this.named.push(named);
    named.record = this.record(id, t, cName, depth);
    return named;
  }

  private namedEnum(id: number, cName: string, baseName: string, values: EnumShape): NamedEnum {
    const known = this.byId.get(id);
    if (known?.kind === "enum") return known;
    const named: NamedEnum = { kind: "enum", id, cName, baseName, values };
    this.byId.set(id, named);
    this.named.push(named);
    return named;
  }

  private record(id: number, t: BtfComposite, cName: string, depth: number): RecordShape {
    if (this.resolving.has(id)) throw new GenError(`${cName}: holds itself (a loop in the object's BTF)`);
    this.resolving.add(id);
    try {
      const members: MemberShape[] = [];
      const seen = new Set<string>();
      this.addMembers(t, 0, t.kind === "union", members, seen, depth, cName);
      return { union: t.kind === "union", size: t.size, cName, members };
    } finally {
      this.resolving.delete(id);
    }
  }

  /** Members of `t` at `base` bits into the record; anonymous structs and unions flattened. */
  private addMembers(t: BtfComposite, base: number, overlaps: boolean, out: MemberShape[], seen: Set<string>, depth: number, cName: string): void {
    for (const m of t.members) {
      const bitOffset = base + m.bitOffset;
      const typeId = skipMods(this.btf, m.type);
      const mt = this.btf.type(typeId);
      if (!m.name) {
        // Anonymous struct or union: its members are the parent's, as in C. Anything else
        // without a name is padding (`int :3`).
        if (mt && (mt.kind === "struct" || mt.kind === "union") && !mt.name) {
          if (depth > MAX_TYPE_DEPTH) throw new GenError(`${cName}: nested deeper than ${MAX_TYPE_DEPTH} types`);
          this.addMembers(mt, bitOffset, overlaps || mt.kind === "union", out, seen, depth + 1, cName);
        }
        continue;
      }
      let name = m.name;
      for (let i = 2; seen.has(name); i++) name = `${m.name}_${i}`;
      seen.add(name);
      const shape = this.shape(m.type, depth + 1);
      const legacy = !t.bitfields && mt?.kind === "int" ? mt : undefined;
      const bits = m.bitSize || (legacy && legacy.bits > 0 && legacy.bits < legacy.size * 8 ? legacy.bits : 0) || (bitOffset % 8 !== 0 ? bitWidth(shape) : 0);
      const at = bitOffset + (legacy && m.bitSize === 0 ? legacy.bitOffset : 0);
      if (bits > 0 && (shape.kind === "int" || shape.kind === "bool" || shape.kind === "enum")) {
        if (shape.kind === "int" && shape.size === 16 && bits > 64) throw new GenError(`${cName}.${name}: a bitfield of ${bits} bits`);
        out.push({ name, cType: this.label(m.type), offset: Math.floor(at / 8), shape, bitfield: { bitOffset: at, bits }, overlaps });
        continue;
      }
      if (at % 8 !== 0) throw new GenError(`${cName}.${name}: a ${shape.kind} at bit ${at}, not on a byte`);
      out.push({ name, cType: this.label(m.type), offset: at / 8, shape, overlaps });
    }
  }
}

function bitWidth(s: Shape): number {
  return s.kind === "int" || s.kind === "bool" ? s.size * 8 : s.kind === "enum" ? s.values.size * 8 : 0;
}

function skipMods(btf: Btf, id: number): number {
  for (let i = 0; i <= MAX_TYPE_DEPTH; i++) {
    const t = btf.type(id);
    if (!t || !(t.kind === "typedef" || t.kind === "const" || t.kind === "volatile" || t.kind === "restrict" || t.kind === "type_tag")) return id;
    id = t.type;
  }
  throw new GenError(`type ${id}: a typedef/qualifier chain longer than ${MAX_TYPE_DEPTH}`);
}

function enumShape(t: Extract<BtfType, { kind: "enum" | "enum64" }>): EnumShape {
  const seen = new Set<string>();
  const values: { name: string; value: bigint }[] = [];
  for (const v of t.values) {
    if (!v.name || seen.has(v.name)) continue;
    seen.add(v.name);
    const bits = BigInt(t.size * 8);
    // The value as the storage holds it, read back the way the enum's sign says.
    const raw = BigInt.asUintN(Number(bits), BigInt(v.value));
    values.push({ name: v.name, value: t.signed ? BigInt.asIntN(Number(bits), raw) : raw });
  }
  return { size: t.size, signed: t.signed, values };
}

/** Bytes a value of this shape takes. */
export function sizeOfShape(s: Shape): number {
  switch (s.kind) {
    case "ptr":
      return 8;
    case "named":
      return s.named.record.size;
    case "inline":
      return s.record.size;
    case "enum":
      return s.values.size;
    default:
      return s.size;
  }
}
