/**
 * TypeScript for shapes: the type of a value (interfaces for structs and unions, literal unions
 * and consts for enums) and the straight-line code that reads it from a DataView at an offset,
 * and writes it back, checking ranges with errors that name the field. The view classes written
 * with each record are emit-views.ts's.
 */
import { GenError } from "./errors.js";
import { at, render, shapeName, type Offset } from "./emit-common.js";
import { ViewEmitter } from "./emit-views.js";
import { helperImport, type HelperName } from "./helpers.js";
import { sizeOfShape, type MemberShape, type NamedEnum, type NamedRecord, type NamedType, type RecordShape, type Shape } from "./model.js";
import { IdentifierScope, pascalCase, propertyAccess, propertyKey, stringLiteral } from "./names.js";

/** Names a named type gets in the module. */
export interface TypeNames {
  /** The interface (records) or the type and const (enums). */
  readonly ts: string;
  readonly codec: string;
  readonly decode: string;
  readonly encode: string;
  /** The view class (records only; enums reserve the name). */
  readonly view: string;
}

/** Arrays of scalars up to this length decode as an array literal, longer ones in a loop. */
const UNROLL = 16;

export class CodecEmitter {
  readonly helpers = new Set<HelperName>();
  private readonly names = new Map<NamedType, TypeNames>();
  /** Codecs of unnamed shapes (map keys, variables), by the shape's signature. */
  private readonly shapeCodecs = new Map<string, { name: string; source: string }>();
  /** The DataView expression reading code reads from (`v`; `this.$v` in view getters, which the view emitter sets). */
  dv = "v";
  /** The view classes of the records (emit-views.ts), written with each record's declarations. */
  private readonly views: ViewEmitter;

  constructor(
    private readonly scope: IdentifierScope,
    private readonly le: boolean,
  ) {
    this.views = new ViewEmitter(this, scope);
  }

  /** Gives each named type its names (in order: the first of two types wanting a name gets it). */
  name(types: readonly NamedType[]): void {
    for (const t of types) {
      if (this.names.has(t)) continue;
      const base = pascalCase(t.baseName);
      const kindSuffix = t.kind === "enum" ? "Enum" : t.record.union ? "Union" : "Struct";
      // The type name, and the derived names free with it.
      let ts = base;
      const derived = (n: string) => [`${n}Codec`, `decode${n}`, `encode${n}`, `${n}View`];
      for (const candidate of [base, `${base}${kindSuffix}`, ...Array.from({ length: 50 }, (_, i) => `${base}${kindSuffix}${i + 2}`)]) {
        if (!this.scope.has(candidate) && derived(candidate).every((d) => !this.scope.has(d))) {
          ts = candidate;
          break;
        }
      }
      this.scope.take(ts);
      const [codec, decode, encode, view] = derived(ts).map((d) => this.scope.take(d)) as [string, string, string, string];
      this.names.set(t, { ts, codec, decode, encode, view });
    }
  }

  namesOf(t: NamedType): TypeNames {
    const n = this.names.get(t);
    if (!n) throw new GenError(`${t.cName}: not named (internal error)`);
    return n;
  }

  /** The TypeScript type of a value of this shape. */
  typeOf(s: Shape): string {
    switch (s.kind) {
      case "int":
        return s.size <= 4 ? "number" : "bigint";
      case "bool":
        return "boolean";
      case "float":
        return "number";
      case "ptr":
        return "bigint";
      case "text":
        return "string";
      case "bytes":
        return "Uint8Array";
      case "array": {
        const elem = this.typeOf(s.elem);
        return /[|&{]/.test(elem) ? `(${elem})[]` : `${elem}[]`;
      }
      case "named":
        return this.namesOf(s.named).ts;
      case "inline":
        return `{ ${this.members(s.record)
          .map((m) => `${propertyKey(m.name)}: ${this.typeOf(m.shape)};`)
          .join(" ")} }`;
      case "enum":
        if (s.named) return this.namesOf(s.named).ts;
        return enumLiteralUnion(s.values);
    }
  }

  /** The members that hold a value (zero-sized ones, like flexible arrays, only have a layout). */
  members(r: RecordShape): readonly MemberShape[] {
    return r.members.filter((m) => m.bitfield !== undefined || sizeOfShape(m.shape) > 0);
  }

  // ---- reading ------------------------------------------------------------------------------

  /** An expression reading this shape from DataView `v` at `o`. `depth` numbers loop variables. */
  decode(s: Shape, o: Offset, depth: number): string {
    const le = String(this.le);
    const off = render(o);
    switch (s.kind) {
      case "int":
        switch (s.size) {
          case 1:
            return s.signed ? `${this.dv}.getInt8(${off})` : `${this.dv}.getUint8(${off})`;
          case 2:
            return `${this.dv}.${s.signed ? "getInt16" : "getUint16"}(${off}, ${le})`;
          case 4:
            return `${this.dv}.${s.signed ? "getInt32" : "getUint32"}(${off}, ${le})`;
          case 8:
            return `${this.dv}.${s.signed ? "getBigInt64" : "getBigUint64"}(${off}, ${le})`;
          case 16:
            this.helpers.add("readInt128");
            return `readInt128(${this.dv}, ${off}, ${s.signed}, ${le})`;
        }
        break;
      case "bool":
        return s.size === 1 ? `${this.dv}.getUint8(${off}) !== 0` : `${this.readUnsigned(s.size, off)} !== 0`;
      case "float":
        return `${this.dv}.${s.size === 4 ? "getFloat32" : "getFloat64"}(${off}, ${le})`;
      case "ptr":
        return `${this.dv}.getBigUint64(${off}, ${le})`;
      case "text":
        this.helpers.add("readText");
        return `readText(${this.dv}, ${off}, ${s.size})`;
      case "bytes":
        this.helpers.add("readBytes");
        return `readBytes(${this.dv}, ${off}, ${s.size})`;
      case "array": {
        const esize = sizeOfShape(s.elem);
        if (s.n <= UNROLL && isScalar(s.elem)) {
          return `[${Array.from({ length: s.n }, (_, i) => this.decode(s.elem, at(o, i * esize), depth)).join(", ")}]`;
        }
        const i = `i${depth}`;
        return `Array.from({ length: ${s.n} }, (_, ${i}) => ${this.decode(s.elem, { expr: `${off} + ${i} * ${esize}`, k: 0 }, depth + 1)})`;
      }
      case "named":
        return `${this.namesOf(s.named).decode}(${this.dv}, ${off})`;
      case "inline": {
        const members = this.members(s.record);
        return members.length === 0 ? "{}" : `{ ${members.map((m) => `${propertyKey(m.name)}: ${this.decodeMember(m, o, depth)}`).join(", ")} }`;
      }
      case "enum": {
        const raw = this.readInteger(s.values.size, s.values.signed, off);
        return `${raw} as ${this.typeOf(s)}`;
      }
    }
    throw new GenError("cannot read this shape");
  }

  /** An object literal reading every member of a record at `o`. */
  decodeRecord(r: RecordShape, o: Offset, depth: number, indent: string): string {
    const members = this.members(r);
    if (members.length === 0) return "{}";
    const inner = `${indent}  `;
    const lines = members.map((m) => `${inner}${propertyKey(m.name)}: ${this.decodeMember(m, o, depth)},`);
    return `{\n${lines.join("\n")}\n${indent}}`;
  }

  /** An expression reading member `m` of a record at `o` (a bitfield's bits, or the member's shape). */
  decodeMember(m: MemberShape, o: Offset, depth: number): string {
    if (!m.bitfield) return this.decode(m.shape, at(o, m.offset), depth);
    const { first, n, shift } = bitPosition(m.bitfield.bitOffset, m.bitfield.bits, this.le);
    const off = render(at(o, first));
    const s = m.shape;
    const signed = s.kind === "int" ? s.signed : s.kind === "enum" ? s.values.signed : false;
    if (isBig(s)) {
      this.helpers.add("readBitsBig");
      return `readBitsBig(${this.dv}, ${off}, ${n}, ${shift}, ${m.bitfield.bits}, ${signed}, ${this.le})`;
    }
    this.helpers.add("readBits");
    const read = `readBits(${this.dv}, ${off}, ${n}, ${shift}, ${m.bitfield.bits}, ${signed}, ${this.le})`;
    if (s.kind === "bool") return `${read} !== 0`;
    if (s.kind === "enum") return `${read} as ${this.typeOf(s)}`;
    return read;
  }

  private readInteger(size: number, signed: boolean, off: string): string {
    switch (size) {
      case 1:
        return signed ? `${this.dv}.getInt8(${off})` : `${this.dv}.getUint8(${off})`;
      case 2:
        return `${this.dv}.${signed ? "getInt16" : "getUint16"}(${off}, ${this.le})`;
      case 4:
        return `${this.dv}.${signed ? "getInt32" : "getUint32"}(${off}, ${this.le})`;
      case 8:
        return `${this.dv}.${signed ? "getBigInt64" : "getBigUint64"}(${off}, ${this.le})`;
      default:
        throw new GenError(`an integer of ${size} bytes`);
    }
  }

  private readUnsigned(size: number, off: string): string {
    return this.readInteger(size === 1 || size === 2 || size === 4 || size === 8 ? size : 1, false, off);
  }

  // ---- writing ------------------------------------------------------------------------------

  /** Statements writing value expression `x` of this shape at `o`; `what` names it in errors. */
  encode(s: Shape, x: string, o: Offset, what: string, depth: number, indent: string): string[] {
    const le = String(this.le);
    const off = render(o);
    const w = stringLiteral(what);
    switch (s.kind) {
      case "int":
        if (s.size === 16) {
          this.helpers.add("writeInt128").add("checkBig");
          const [min, max] = intRange(16, s.signed);
          return [`${indent}writeInt128(v, ${off}, checkBig(${x}, ${min}n, ${max}n, ${w}), ${le});`];
        }
        return [`${indent}${this.writeInteger(s.size, s.signed, off, x, w)}`];
      case "bool":
        return [`${indent}${s.size === 1 ? `v.setUint8(${off}, ${x} ? 1 : 0);` : this.writeInteger(s.size, false, off, `(${x} ? 1 : 0)`, w, false)}`];
      case "float":
        this.helpers.add("checkNum");
        return [`${indent}v.${s.size === 4 ? "setFloat32" : "setFloat64"}(${off}, checkNum(${x}, ${w}), ${le});`];
      case "ptr": {
        this.helpers.add("checkBig");
        const [min, max] = intRange(8, false);
        return [`${indent}v.setBigUint64(${off}, checkBig(${x}, ${min}n, ${max}n, ${w}), ${le});`];
      }
      case "text":
        this.helpers.add("writeText");
        return [`${indent}writeText(v, ${off}, ${s.size}, ${x}, ${w});`];
      case "bytes":
        this.helpers.add("writeBytes");
        return [`${indent}writeBytes(v, ${off}, ${s.size}, ${x}, ${w});`];
      case "array": {
        this.helpers.add("checkList");
        const a = `a${depth}`;
        const i = `i${depth}`;
        const esize = sizeOfShape(s.elem);
        const inner = `${indent}  `;
        return [
          `${indent}{`,
          `${inner}const ${a} = checkList(${x}, ${s.n}, ${w});`,
          `${inner}for (let ${i} = 0; ${i} < ${a}.length; ${i}++) {`,
          ...this.encode(s.elem, `${a}[${i}]!`, { expr: `${off} + ${i} * ${esize}`, k: 0 }, what, depth + 1, `${inner}  `),
          `${inner}}`,
          `${indent}}`,
        ];
      }
      case "named":
        return [`${indent}${this.namesOf(s.named).encode}(${x}, v, ${off});`];
      case "inline": {
        this.helpers.add("checkRecord");
        const r = `r${depth}`;
        return [`${indent}{`, `${indent}  const ${r} = checkRecord(${x}, ${w});`, ...this.encodeMembers(s.record, r, o, what, depth + 1, `${indent}  `), `${indent}}`];
      }
      case "enum":
        return [`${indent}${this.writeInteger(s.values.size, s.values.signed, off, x, w)}`];
    }
  }

  /** Statements writing each member of record value `x` at `o`. */
  encodeMembers(r: RecordShape, x: string, o: Offset, what: string, depth: number, indent: string): string[] {
    const out: string[] = [];
    for (const m of this.members(r)) {
      const value = propertyAccess(x, m.name);
      const path = `${what}.${m.name}`;
      const body = m.bitfield ? this.encodeBitfield(m, value, o, path, indent) : this.encode(m.shape, value, at(o, m.offset), path, depth, m.overlaps ? `${indent}  ` : indent);
      if (m.overlaps) out.push(`${indent}if (${value} !== undefined) {`, ...(m.bitfield ? body.map((l) => `  ${l}`) : body), `${indent}}`);
      else out.push(...body);
    }
    return out;
  }

  private encodeBitfield(m: MemberShape, x: string, o: Offset, what: string, indent: string): string[] {
    const bf = m.bitfield as NonNullable<MemberShape["bitfield"]>;
    const { first, n, shift } = bitPosition(bf.bitOffset, bf.bits, this.le);
    const off = render(at(o, first));
    const s = m.shape;
    const signed = s.kind === "int" ? s.signed : s.kind === "enum" ? s.values.signed : false;
    const min = signed ? -(2n ** BigInt(bf.bits - 1)) : 0n;
    const max = signed ? 2n ** BigInt(bf.bits - 1) - 1n : 2n ** BigInt(bf.bits) - 1n;
    const w = stringLiteral(`${what} (${bf.bits}-bit field)`);
    if (isBig(s)) {
      this.helpers.add("writeBitsBig").add("checkBig");
      return [`${indent}writeBitsBig(v, ${off}, ${n}, ${shift}, ${bf.bits}, ${this.le}, checkBig(${x}, ${min}n, ${max}n, ${w}));`];
    }
    this.helpers.add("writeBits");
    if (s.kind === "bool") return [`${indent}writeBits(v, ${off}, ${n}, ${shift}, ${bf.bits}, ${this.le}, ${x} ? 1 : 0);`];
    this.helpers.add("checkInt");
    return [`${indent}writeBits(v, ${off}, ${n}, ${shift}, ${bf.bits}, ${this.le}, checkInt(${x}, ${min}, ${max}, ${w}));`];
  }

  private writeInteger(size: number, signed: boolean, off: string, x: string, w: string, check = true): string {
    const le = this.le;
    if (size === 8) {
      this.helpers.add("checkBig");
      const [min, max] = intRange(8, signed);
      return `v.${signed ? "setBigInt64" : "setBigUint64"}(${off}, checkBig(${x}, ${min}n, ${max}n, ${w}), ${le});`;
    }
    const [min, max] = intRange(size, signed);
    if (check) this.helpers.add("checkInt");
    const value = check ? `checkInt(${x}, ${min}, ${max}, ${w})` : x;
    switch (size) {
      case 1:
        return `v.${signed ? "setInt8" : "setUint8"}(${off}, ${value});`;
      case 2:
        return `v.${signed ? "setInt16" : "setUint16"}(${off}, ${value}, ${le});`;
      case 4:
        return `v.${signed ? "setInt32" : "setUint32"}(${off}, ${value}, ${le});`;
      default:
        throw new GenError(`an integer of ${size} bytes`);
    }
  }

  // ---- declarations ---------------------------------------------------------------------------

  /** The declarations of a named type: its interface or enum, its read and write functions, its codec. */
  declaration(t: NamedType): string {
    return t.kind === "enum" ? this.enumDeclaration(t) : this.recordDeclaration(t);
  }

  private recordDeclaration(t: NamedRecord): string {
    const n = this.namesOf(t);
    const r = t.record;
    const members = this.members(r);
    const doc = `/** ${t.cName}: ${r.size} bytes${r.union ? " (a union: every member reads the same bytes; encode writes the members given, in order)" : ""}. */`;
    const fields = members.map((m) => `  /** ${m.cType}${m.bitfield ? ` : ${m.bitfield.bits}` : ""} at ${m.bitfield ? `bit ${m.bitfield.bitOffset}` : `byte ${m.offset}`} */\n  ${propertyKey(m.name)}: ${this.typeOf(m.shape)};`);
    const iface = members.length === 0 ? `${doc}\nexport interface ${n.ts} {}` : `${doc}\nexport interface ${n.ts} {\n${fields.join("\n")}\n}`;
    this.helpers.add("checkRecord");
    const decodeFn = `function ${n.decode}(v: DataView, o: number): ${n.ts} {\n  return ${this.decodeRecord(r, { expr: "o", k: 0 }, 0, "  ")};\n}`;
    const body = this.encodeMembers(r, "x", { expr: "o", k: 0 }, t.cName, 0, "  ");
    const encodeFn = `function ${n.encode}(x: ${n.ts}, v: DataView, o: number): void {\n  checkRecord(x, ${stringLiteral(t.cName)});\n${body.join("\n")}\n}`;
    const layout = r.members.map((m) => `    ${propertyKey(m.name)}: { offset: ${m.offset}, size: ${m.bitfield ? Math.ceil(((m.bitfield.bitOffset % 8) + m.bitfield.bits) / 8) : sizeOfShape(m.shape)}${m.bitfield ? `, bitOffset: ${m.bitfield.bitOffset}, bits: ${m.bitfield.bits}` : ""} },`);
    const keys = r.members.length === 0 ? "never" : r.members.map((m) => stringLiteral(m.name)).join(" | ");
    this.helpers.add("recordCodec");
    const codec = [
      `/** Reads and writes ${t.cName} (${r.size} bytes) at an offset of a Uint8Array, Buffer or DataView; \`fields\` says where each member is. */`,
      `export const ${n.codec}: RecordCodec<${n.ts}, ${keys}, ${n.view}> = recordCodec(`,
      `  ${r.size},`,
      `  ${stringLiteral(t.cName)},`,
      `  {${layout.length ? `\n${layout.join("\n")}\n  ` : ""}},`,
      `  ${n.decode},`,
      `  ${n.encode},`,
      `  ${n.view},`,
      `);`,
    ].join("\n");
    const view = this.views.viewClass(r, n.view, n.ts, t.cName, `${n.decode}(this.$v, this.$o)`, n.codec);
    const pending = this.views.takePending();
    // The view before the codec: the codec is made at load and takes the class.
    return [iface, decodeFn, encodeFn, view, codec, ...pending].join("\n\n");
  }

  /** Declarations the views share (ArrayView, when some view has an array member). */
  viewSupportSource(): string {
    return this.views.supportSource();
  }

  private enumDeclaration(t: NamedEnum): string {
    const n = this.namesOf(t);
    const e = t.values;
    const big = e.size === 8;
    const entries = e.values.map((v) => `  ${propertyKey(v.name)}: ${literal(v.value, big)},`);
    const constDecl = `/** ${t.cName}: its enumerators. */\nexport const ${n.ts} = {${entries.length ? `\n${entries.join("\n")}\n` : ""}} as const;`;
    const typeDecl =
      e.values.length === 0
        ? `/** ${t.cName} (${e.size} bytes). */\nexport type ${n.ts} = ${big ? "bigint" : "number"};`
        : `/** ${t.cName} (${e.size} bytes): one of its enumerators' values (a value the enum does not name reads as itself). */\nexport type ${n.ts} = (typeof ${n.ts})[keyof typeof ${n.ts}];`;
    const codec = this.codecSource(n.codec, n.ts, t.cName, { kind: "enum", named: t, values: e });
    return [constDecl, typeDecl, codec].join("\n\n");
  }

  /** A codec const for any shape (named records have their own, see declaration). */
  private codecSource(name: string, ts: string, cName: string, s: Shape): string {
    const size = sizeOfShape(s);
    if ((s.kind === "int" && s.size !== 16) || s.kind === "ptr" || s.kind === "float") {
      this.helpers.add("scalarCodec");
      return `/** Reads and writes ${cName} (${size} bytes). */\nexport const ${name}: Codec<${ts}> = scalarCodec(${stringLiteral(cName)}, ${this.le});`;
    }
    this.helpers.add("valueCodec");
    const decode = this.decode(s, { expr: "offset", k: 0 }, 0);
    const encode = this.encode(s, "value", { expr: "offset", k: 0 }, cName, 0, "  ");
    return [
      `/** Reads and writes ${cName} (${size} bytes). */`,
      `export const ${name}: Codec<${ts}> = valueCodec(`,
      `  ${size},`,
      `  ${stringLiteral(cName)},`,
      `  (v, offset) => ${decode.startsWith("{") ? `(${decode.replace(/\n/g, "\n  ")})` : decode.replace(/\n/g, "\n  ")},`,
      `  (value, v, offset) => {`,
      ...encode.map((l) => `  ${l}`),
      `  },`,
      `);`,
    ].join("\n");
  }

  /**
   * The codec of a value of this shape: a named type's own, or one shared by every value of the
   * same unnamed shape (`U32Codec`, `U8Array6Codec`), declared once. `hint` names inline records.
   */
  codecFor(s: Shape, hint: string): string {
    if (s.kind === "named" || (s.kind === "enum" && s.named)) return this.namesOf(s.named as NamedType).codec;
    const signature = shapeName(s) ?? `${hint}:${JSON.stringify(s)}`;
    const known = this.shapeCodecs.get(signature);
    if (known) return known.name;
    const name = this.scope.take(`${shapeName(s) ?? pascalCase(hint)}Codec`);
    const entry = { name, source: "" };
    this.shapeCodecs.set(signature, entry);
    entry.source = this.codecSource(name, this.typeOf(s), cTypeName(s) ?? hint, s);
    return name;
  }

  /** Every codec of unnamed shapes made so far, in order. */
  shapeCodecSources(): string[] {
    return [...this.shapeCodecs.values()].map((c) => c.source);
  }

  /** The declaration taking the helpers the codecs and views call from the library ("" for none). */
  helperImport(): string {
    return helperImport(this.helpers);
  }
}

/** Where a bitfield's bits are: the bytes holding them and how far its lowest bit is above theirs. */
export function bitPosition(bitOffset: number, bits: number, le: boolean): { first: number; n: number; shift: number } {
  const first = Math.floor(bitOffset / 8);
  const last = Math.floor((bitOffset + bits - 1) / 8);
  const n = last - first + 1;
  const within = bitOffset - first * 8;
  return { first, n, shift: le ? within : n * 8 - within - bits };
}

function isScalar(s: Shape): boolean {
  return s.kind === "int" || s.kind === "bool" || s.kind === "float" || s.kind === "ptr" || s.kind === "enum";
}

function isBig(s: Shape): boolean {
  return (s.kind === "int" && s.size >= 8) || (s.kind === "enum" && s.values.size === 8);
}

function intRange(size: number, signed: boolean): [string, string] {
  const bits = BigInt(size * 8);
  return signed ? [`-${(1n << (bits - 1n)).toString()}`, ((1n << (bits - 1n)) - 1n).toString()] : ["0", ((1n << bits) - 1n).toString()];
}

function literal(v: bigint, big: boolean): string {
  return big ? `${v}n` : String(v);
}

function enumLiteralUnion(e: { readonly size: number; readonly values: readonly { readonly value: bigint }[] }): string {
  const big = e.size === 8;
  if (e.values.length === 0) return big ? "bigint" : "number";
  return [...new Set(e.values.map((v) => literal(v.value, big)))].join(" | ");
}

/** The C spelling of an unnamed shape, for error messages (`__u32`, `char[16]`). */
function cTypeName(s: Shape): string | undefined {
  switch (s.kind) {
    case "int":
      return s.size === 16 ? (s.signed ? "__int128" : "unsigned __int128") : `__${s.signed ? "s" : "u"}${s.size * 8}`;
    case "bool":
      return "_Bool";
    case "float":
      return s.size === 4 ? "float" : "double";
    case "ptr":
      return "void *";
    case "text":
      return `char[${s.size}]`;
    case "bytes":
      return `__u8[${s.size}]`;
    case "array": {
      const elem = cTypeName(s.elem);
      return elem === undefined ? undefined : `${elem.replace(/(\[.*)$/, "")}[${s.n}]${elem.match(/(\[.*)$/)?.[1] ?? ""}`;
    }
    case "named":
      return s.named.cName;
    default:
      return undefined;
  }
}
