/**
 * Random C struct layouts for the generator's properties: each one as C source (for clang) and as
 * the BTF clang would write for it (laid out here with the BPF target's C rules: natural
 * alignment, bitfields packed into storage units of their type, anonymous members), with random
 * values as C initializers.
 */
import fc from "fast-check";
import { marshalBtf, Btf, type BtfMember, type BtfType } from "../../src/btf/index.js";

export type Field =
  | { readonly kind: "int"; readonly size: 1 | 2 | 4 | 8; readonly signed: boolean }
  | { readonly kind: "bool" }
  | { readonly kind: "char"; readonly n: number }
  | { readonly kind: "array"; readonly elem: { readonly size: 1 | 2 | 4 | 8; readonly signed: boolean }; readonly dims: readonly number[] }
  | { readonly kind: "bitfield"; readonly size: 1 | 2 | 4 | 8; readonly signed: boolean; readonly bits: number }
  | { readonly kind: "enum" }
  | { readonly kind: "record"; readonly union: boolean; readonly members: readonly Member[]; readonly anonymous: boolean };

export interface Member {
  readonly name: string;
  readonly field: Field;
}

const intSize = fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const);

const leaf: fc.Arbitrary<Field> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("int" as const), size: intSize, signed: fc.boolean() }), weight: 4 },
  { arbitrary: fc.constant({ kind: "bool" as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("char" as const), n: fc.integer({ min: 1, max: 12 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("array" as const), elem: fc.record({ size: intSize, signed: fc.boolean() }), dims: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }) }), weight: 1 },
  {
    arbitrary: intSize.chain((size) => fc.record({ kind: fc.constant("bitfield" as const), size: fc.constant(size), signed: fc.boolean(), bits: fc.integer({ min: 1, max: size * 8 }) })),
    weight: 3,
  },
  { arbitrary: fc.constant({ kind: "enum" as const }), weight: 1 },
);

/** Members named m0, m1 … (unique within a record, including its anonymous members). */
function members(depth: number): fc.Arbitrary<Member[]> {
  const field: fc.Arbitrary<Field> =
    depth >= 2
      ? leaf
      : fc.oneof(
          { arbitrary: leaf, weight: 6 },
          { arbitrary: fc.record({ kind: fc.constant("record" as const), union: fc.boolean(), members: fc.constant([] as Member[]), anonymous: fc.boolean() }), weight: 1 },
        );
  return fc.array(field, { minLength: 1, maxLength: 6 }).chain((fields) =>
    fc.tuple(...fields.map((f) => (f.kind === "record" ? members(depth + 1).map((ms) => ({ ...f, members: ms })) : fc.constant(f)))).map((fs) => fs.map((f) => ({ name: "", field: f as Field }))),
  );
}

/** A struct or union at the top: its members get names. */
export const layout: fc.Arbitrary<{ union: boolean; members: Member[] }> = fc.record({ union: fc.boolean(), members: members(0) }).map((r) => {
  let n = 0;
  const name = (ms: readonly Member[]): Member[] =>
    ms.map((m) => ({ name: m.field.kind === "record" && m.field.anonymous ? "" : `m${n++}`, field: m.field.kind === "record" ? { ...m.field, members: name(m.field.members) } : m.field }));
  return { union: r.union, members: name(r.members) };
});

const align = (x: number, a: number): number => Math.ceil(x / a) * a;

/** Builds BTF for layouts: ints, enums, arrays and records, each struct laid out as clang does for BPF. */
export class BtfBuilder {
  readonly types: BtfType[] = [];
  private readonly ints = new Map<string, number>();
  private enumId = 0;

  private add(t: BtfType): number {
    this.types.push(t);
    return this.types.length;
  }

  int(size: number, signed: boolean, name = `${signed ? "s" : "u"}${size * 8}`, extra: { char?: boolean; bool?: boolean } = {}): number {
    const key = `${name}`;
    const known = this.ints.get(key);
    if (known) return known;
    const id = this.add({ kind: "int", name, size, signed, char: extra.char ?? false, bool: extra.bool ?? false, bitOffset: 0, bits: size * 8 });
    this.ints.set(key, id);
    return id;
  }

  private enumType(): number {
    if (!this.enumId) this.enumId = this.add({ kind: "enum", name: "shade", size: 4, signed: false, values: [{ name: "DARK", value: 1 }, { name: "LIGHT", value: 7 }] });
    return this.enumId;
  }

  /** Type id, size and alignment of a field (bitfields: of their storage type). */
  field(f: Field): { id: number; size: number; align: number } {
    switch (f.kind) {
      case "int":
      case "bitfield":
        return { id: this.int(f.size, f.signed), size: f.size, align: f.size };
      case "bool":
        return { id: this.int(1, false, "_Bool", { bool: true }), size: 1, align: 1 };
      case "char":
        return { id: this.array(this.int(1, true, "char", { char: true }), f.n), size: f.n, align: 1 };
      case "array": {
        let id = this.int(f.elem.size, f.elem.signed);
        let size = f.elem.size;
        for (const d of [...f.dims].reverse()) {
          id = this.array(id, d);
          size *= d;
        }
        return { id, size, align: f.elem.size };
      }
      case "enum":
        return { id: this.enumType(), size: 4, align: 4 };
      case "record":
        return this.record(f.union, f.members, "");
    }
  }

  private array(type: number, n: number): number {
    return this.add({ kind: "array", name: "", type, indexType: this.int(4, false), nelems: n });
  }

  /** A struct or union: lays out its members and adds it. */
  record(union: boolean, ms: readonly Member[], name: string): { id: number; size: number; align: number } {
    const placed: BtfMember[] = [];
    let bit = 0;
    let end = 0;
    let maxAlign = 1;
    for (const m of ms) {
      const f = this.field(m.field);
      maxAlign = Math.max(maxAlign, f.align);
      if (m.field.kind === "bitfield") {
        const unit = m.field.size * 8;
        let p = union ? 0 : bit;
        if (Math.floor(p / unit) !== Math.floor((p + m.field.bits - 1) / unit)) p = align(p, unit);
        placed.push({ name: m.name, type: f.id, bitOffset: p, bitSize: m.field.bits });
        bit = p + m.field.bits;
        end = Math.max(end, Math.ceil((p + m.field.bits) / 8));
        continue;
      }
      const offset = union ? 0 : align(Math.ceil(bit / 8), f.align);
      placed.push({ name: m.name, type: f.id, bitOffset: offset * 8, bitSize: 0 });
      bit = (offset + f.size) * 8;
      end = Math.max(end, offset + f.size);
    }
    const size = align(end, maxAlign);
    const id = this.add({ kind: union ? "union" : "struct", name, size, members: placed, bitfields: true });
    return { id, size, align: maxAlign };
  }

  btf(): Btf {
    return new Btf(marshalBtf(this.types));
  }
}

// ---- C ----------------------------------------------------------------------------------------

const cInt = (size: number, signed: boolean): string => `${signed ? "__s" : "__u"}${size * 8}`;

/** The C declaration of a member (`__u32 m3 : 5;`, `struct { … } m4;`). */
function cMember(m: Member, indent: string): string {
  const f = m.field;
  switch (f.kind) {
    case "int":
      return `${indent}${cInt(f.size, f.signed)} ${m.name};`;
    case "bitfield":
      return `${indent}${cInt(f.size, f.signed)} ${m.name} : ${f.bits};`;
    case "bool":
      return `${indent}_Bool ${m.name};`;
    case "char":
      return `${indent}char ${m.name}[${f.n}];`;
    case "array":
      return `${indent}${cInt(f.elem.size, f.elem.signed)} ${m.name}${f.dims.map((d) => `[${d}]`).join("")};`;
    case "enum":
      return `${indent}enum shade ${m.name};`;
    case "record":
      return `${indent}${f.union ? "union" : "struct"} {\n${f.members.map((x) => cMember(x, `${indent}\t`)).join("\n")}\n${indent}}${m.name ? ` ${m.name}` : ""};`;
  }
}

export function cRecord(name: string, union: boolean, ms: readonly Member[]): string {
  return `${union ? "union" : "struct"} ${name} {\n${ms.map((m) => cMember(m, "\t")).join("\n")}\n};`;
}

export const C_PRELUDE = `typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
enum shade { DARK = 1, LIGHT = 7 };
`;

// ---- values -----------------------------------------------------------------------------------

/** A JS value (as the generated codec reads it) and its C initializer, for a field. */
export type Valued = { js: unknown; c: string };

function intValue(size: number, signed: boolean, bits = size * 8): fc.Arbitrary<bigint> {
  return signed ? fc.bigInt({ min: -(1n << BigInt(bits - 1)), max: (1n << BigInt(bits - 1)) - 1n }) : fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n });
}

const cLiteral = (v: bigint, signed: boolean, size: number): string => {
  if (size === 8) return v < 0n ? `(-${-v - 1n}LL - 1)` : `${v}ULL`;
  return v < 0n ? `(${v + 1n} - 1)` : `${v}U`;
};

/** Random values for a record's members: the JS value the codec reads and the C initializer that writes it. */
export function recordValue(union: boolean, ms: readonly Member[]): fc.Arbitrary<Valued> {
  // A union is initialized through its first member (C), and read through all of them: the test
  // compares only the first member's value.
  const chosen = union ? ms.slice(0, 1) : ms;
  return fc.tuple(...chosen.map((m) => fieldValue(m.field))).map((vs) => {
    const js: Record<string, unknown> = {};
    const parts: string[] = [];
    chosen.forEach((m, i) => {
      const v = vs[i] as Valued;
      if (m.name) {
        js[m.name] = v.js;
        parts.push(`.${m.name} = ${v.c}`);
      } else {
        Object.assign(js, v.js);
        parts.push(v.c);
      }
    });
    return { js, c: `{ ${parts.join(", ")} }` };
  });
}

function fieldValue(f: Field): fc.Arbitrary<Valued> {
  switch (f.kind) {
    case "int":
      return intValue(f.size, f.signed).map((v) => ({ js: f.size === 8 ? v : Number(v), c: cLiteral(v, f.signed, f.size) }));
    case "bitfield":
      return intValue(f.size, f.signed, f.bits).map((v) => ({ js: f.size === 8 ? v : Number(v), c: cLiteral(v, f.signed, f.size) }));
    case "bool":
      return fc.boolean().map((b) => ({ js: b, c: b ? "1" : "0" }));
    case "char":
      return fc.stringMatching(new RegExp(`^[a-z0-9 ]{0,${f.n}}$`)).map((s) => ({ js: s, c: `"${s}"` }));
    case "array": {
      const count = f.dims.reduce((a, b) => a * b, 1);
      return fc.array(intValue(f.elem.size, f.elem.signed), { minLength: count, maxLength: count }).map((flat) => {
        const shape = (dims: readonly number[], at: number): { js: unknown; c: string } => {
          const [d = 1, ...rest] = dims;
          const stride = rest.reduce((a, b) => a * b, 1);
          const items = Array.from({ length: d }, (_, i) => (rest.length ? shape(rest, at + i * stride) : { js: f.elem.size === 8 ? flat[at + i] : Number(flat[at + i]), c: cLiteral(flat[at + i] as bigint, f.elem.signed, f.elem.size) }));
          const js = dims.length === 1 && f.elem.size === 1 && !f.elem.signed ? Uint8Array.from(items.map((x) => x.js as number)) : items.map((x) => x.js);
          return { js, c: `{ ${items.map((x) => x.c).join(", ")} }` };
        };
        return shape(f.dims, 0);
      });
    }
    case "enum":
      return fc.constantFrom(1, 7).map((v) => ({ js: v, c: v === 1 ? "DARK" : "LIGHT" }));
    case "record":
      return recordValue(f.union, f.members);
  }
}
