/**
 * View classes: a generated record read in place — a getter per member reading it from a DataView
 * at an offset (nested records as views of their own, arrays as ArrayViews), `at()` re-pointing the
 * instance, `toObject()` decoding a copy. The getters are the codec emitter's (emit-codecs.ts)
 * decode expressions, read from `this.$v`.
 */
import type { CodecEmitter } from "./emit-codecs.js";
import { at, render, shapeName, type Offset } from "./emit-common.js";
import { sizeOfShape, type RecordShape, type Shape } from "./model.js";
import { IdentifierScope, pascalCase, propertyKey, stringLiteral } from "./names.js";

const ARRAY_VIEW = `/** A C array read in place (what a view's array member returns): tsebpf's runtime.ArrayView. */
export const ArrayView = runtime.ArrayView;
export type ArrayView<T, D = T> = runtime.ArrayView<T, D>;`;

export class ViewEmitter {
  /** View classes of inline (unnamed) records, by record. */
  private readonly inlineViews = new Map<RecordShape, string>();
  /** Element functions of array views (a view of an element, its decoded value), by element shape. */
  private readonly elementFns = new Map<Shape | string, { read: string; decode: string }>();
  /** Declarations the view being written needs (inline records' classes, element functions). */
  private pendingViews: string[] = [];
  /** Some view has an array member: the module declares ArrayView. */
  private usesArrayView = false;

  constructor(
    private readonly codecs: CodecEmitter,
    private readonly scope: IdentifierScope,
  ) {}

  /** The declarations the views written since the last call need (inline records' classes, element functions), now written. */
  takePending(): string[] {
    const pending = this.pendingViews;
    this.pendingViews = [];
    return pending;
  }

  /**
   * A view class: a getter per member reading it in place from a DataView at an offset, `at()`
   * re-pointing the instance, `toObject()` decoding a copy. The getters are the decode path's
   * own expressions (nested records and arrays as views over the same bytes).
   */
  viewClass(r: RecordShape, name: string, ts: string, cName: string, toObject: string, codec: string | undefined): string {
    const members = this.codecs.members(r);
    const own = new Set(["at", "toObject", "constructor", "$b", "$v", "$o", "$n", "$size", "$type"]);
    const taken = new Set<string>(own);
    const saved = this.codecs.dv;
    this.codecs.dv = "this.$v";
    const getters: string[] = [];
    try {
      for (const m of members) {
        let key = m.name;
        while (taken.has(key)) key = `${key}_`;
        taken.add(key);
        const where = m.bitfield ? `bit ${m.bitfield.bitOffset}` : `byte ${m.offset}`;
        const renamed = key === m.name ? "" : ` (the member \`${m.name}\`: its name is the view's own)`;
        const o: Offset = { expr: "this.$o", k: 0 };
        const body = m.bitfield ? this.codecs.decodeMember(m, o, 0) : this.viewOf(m.shape, at(o, m.offset), `${name.replace(/View$/, "")}${pascalCase(m.name)}`);
        getters.push(`  /** ${m.cType}${m.bitfield ? ` : ${m.bitfield.bits}` : ""} at ${where}${renamed} */\n  get ${propertyKey(key)}(): ${m.bitfield ? this.codecs.typeOf(m.shape) : this.viewTypeOf(m.shape)} {\n    return ${body};\n  }`);
      }
    } finally {
      this.codecs.dv = saved;
    }
    const type = stringLiteral(cName);
    return [
      `/** ${cName} (${r.size} bytes) read in place: a getter per member; \`at()\` re-points it, \`toObject()\` decodes a copy${codec ? ` (as ${codec}.decode)` : ""} (see runtime.genSupport.GeneratedView). */`,
      `export class ${name} extends runtime.genSupport.GeneratedView {`,
      `  /** Bytes of ${cName}. */`,
      `  static readonly size = ${r.size};`,
      `  static readonly typeName = ${type};`,
      ...getters.flatMap((g) => ["", g]),
      ``,
      `  override toObject(): ${ts} {`,
      `    return ${toObject};`,
      `  }`,
      `}`,
    ].join("\n");
  }

  /** The type a view getter returns for a member of this shape. */
  private viewTypeOf(s: Shape): string {
    switch (s.kind) {
      case "named":
        return this.codecs.namesOf(s.named).view;
      case "inline":
        return this.inlineView(s.record, "Inline");
      case "array": {
        const elem = this.viewTypeOf(s.elem);
        const value = this.codecs.typeOf(s.elem);
        return elem === value ? `ArrayView<${elem}>` : `ArrayView<${elem}, ${value}>`;
      }
      default:
        return this.codecs.typeOf(s);
    }
  }

  /** An expression (with `this.codecs.dv` the DataView) giving a view getter's value for this shape at `o`. */
  private viewOf(s: Shape, o: Offset, hint: string): string {
    const off = render(o);
    switch (s.kind) {
      case "named":
        return `new ${this.codecs.namesOf(s.named).view}(${this.codecs.dv}, ${off})`;
      case "inline":
        return `new ${this.inlineView(s.record, hint)}(${this.codecs.dv}, ${off})`;
      case "array": {
        this.usesArrayView = true;
        const fns = this.elementFns_(s.elem, hint);
        return `new ArrayView(${this.codecs.dv}, ${off}, ${s.n}, ${sizeOfShape(s.elem)}, ${fns.read}, ${fns.decode})`;
      }
      default:
        return this.codecs.decode(s, o, 0);
    }
  }

  /** The view class of an unnamed record (declared with the view that first needs it). */
  private inlineView(r: RecordShape, hint: string): string {
    const known = this.inlineViews.get(r);
    if (known) return known;
    const name = this.scope.take(`${hint}View`);
    this.inlineViews.set(r, name);
    const saved = this.codecs.dv;
    this.codecs.dv = "this.$v";
    let toObject: string;
    try {
      toObject = this.codecs.decodeRecord(r, { expr: "this.$o", k: 0 }, 0, "    ");
    } finally {
      this.codecs.dv = saved;
    }
    this.pendingViews.push(this.viewClass(r, name, this.codecs.typeOf({ kind: "inline", record: r }), r.cName, toObject, undefined));
    return name;
  }

  /** Module functions reading an array element at (v, o): as a view (`read`) and decoded (`decode`). */
  private elementFns_(s: Shape, hint: string): { read: string; decode: string } {
    const key: Shape | string = s.kind === "named" ? `named:${s.named.id}` : (shapeName(s) ?? s);
    const known = this.elementFns.get(key);
    if (known) return known;
    const base = this.elementBase(s) ?? `${hint}Element`;
    const saved = this.codecs.dv;
    this.codecs.dv = "v";
    try {
      const o: Offset = { expr: "o", k: 0 };
      const fn = (name: string, type: string, body: string) => `function ${name}(v: DataView, o: number): ${type} {\n  return ${body};\n}`;
      let fns: { read: string; decode: string };
      if (s.kind === "named") {
        const read = this.scope.take(`element${base}View`);
        fns = { read, decode: this.codecs.namesOf(s.named).decode };
        this.elementFns.set(key, fns);
        const body = this.viewOf(s, o, hint);
        this.pendingViews.push(fn(read, this.viewTypeOf(s), body));
      } else if (s.kind === "inline" || s.kind === "array") {
        const read = this.scope.take(`element${base}View`);
        const decode = this.scope.take(`element${base}`);
        fns = { read, decode };
        this.elementFns.set(key, fns);
        const body = this.viewOf(s, o, hint);
        this.pendingViews.push(fn(read, this.viewTypeOf(s), body), fn(decode, this.codecs.typeOf(s), s.kind === "inline" ? this.codecs.decodeRecord(s.record, o, 0, "  ") : this.codecs.decode(s, o, 0)));
      } else {
        const read = this.scope.take(`element${base}`);
        fns = { read, decode: read };
        this.elementFns.set(key, fns);
        this.pendingViews.push(fn(read, this.codecs.typeOf(s), this.codecs.decode(s, o, 0)));
      }
      return fns;
    } finally {
      this.codecs.dv = saved;
    }
  }

  /** A name for an element shape (`U32`, `Point`, `PointArray3`), or undefined (inline records, anonymous enums). */
  private elementBase(s: Shape): string | undefined {
    if (s.kind === "named") return this.codecs.namesOf(s.named).ts;
    if (s.kind === "array") {
      const elem = this.elementBase(s.elem);
      return elem === undefined ? undefined : `${elem}Array${s.n}`;
    }
    return shapeName(s);
  }

  /** Declarations the views share (ArrayView, when some view has an array member). */
  supportSource(): string {
    if (!this.usesArrayView) return "";
    return ARRAY_VIEW;
  }
}
