/**
 * BTF → C header: what `bpftool btf dump file /sys/kernel/btf/vmlinux format c` prints (a
 * vmlinux.h), made for clang's BPF target. Pure: BTF in, text out.
 *
 * Order. Every named struct, union, enum and typedef is printed once, at the first point where
 * it can be: a definition comes after the definitions of everything it holds by value and after
 * a declaration (`struct foo;`) of everything it only points to, so pointer cycles are broken
 * by forward declarations. Anonymous records and enums are printed inline where they are used;
 * anonymous enums that nothing uses are printed on their own, for their constants.
 *
 * Names. A second, different type with a name already taken gets `name___2`, as bpftool does:
 * see dump-c-names.ts.
 *
 * Layout. Offsets and sizes of the C match the BTF: see dump-c-layout.ts for when padding,
 * `packed` and `aligned(N)` are printed.
 *
 * What C cannot say is a BtfError naming the type, never a header that does not compile: a type
 * that holds itself by value (a struct member of its own type, an array of itself, a typedef
 * or qualifier loop), an anonymous record or a function type that refers to itself, a typedef
 * that needs itself, and types nested deeper than MAX_TYPE_DEPTH.
 */
import type { Btf } from "./btf.js";
import { CLayout, enumLayout, enumLiteral, floatName, intName, integerOfSize, memberPlacement } from "./dump-c-layout.js";
import { CNames, identifier } from "./dump-c-names.js";
import { BtfError } from "./errors.js";
import { MAX_TYPE_DEPTH, chainError, cycleError, skipModifiers, typeLabel } from "./query.js";
import type { BtfComposite, BtfEnum, BtfEnum64, BtfFuncProto, BtfRef, BtfType } from "./types.js";

export interface DumpCOptions {
  /** Include-guard macro; `__VMLINUX_H__` by default. */
  readonly guard?: string;
  /** Print only these types and what they need (by default: every type). */
  readonly types?: readonly number[];
}

/** Prints BTF as a C header that clang compiles for `-target bpf`. */
export function dumpC(btf: Btf, options: DumpCOptions = {}): string {
  const guard = options.guard ?? "__VMLINUX_H__";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(guard)) throw new RangeError(`include guard ${JSON.stringify(guard)} is not a C identifier`);
  const printer = new CPrinter(btf);
  if (options.types) for (const id of options.types) printer.root(id);
  else printer.all();
  // The pragma only where it applies to something: clang warns about a region without records.
  const pragma = printer.printsRecords;
  const head = [`#ifndef ${guard}`, `#define ${guard}`, ""];
  if (pragma) {
    head.push(
      "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
      "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)",
      "#endif",
      "",
    );
  }
  if (printer.usesTypeTags) {
    head.push(
      "#ifdef __has_attribute",
      `#if __has_attribute(btf_type_tag) && !defined(BPF_NO_TYPE_TAGS)`,
      `#define ${TYPE_TAG}(x) __attribute__((btf_type_tag(x)))`,
      "#endif",
      "#endif",
      `#ifndef ${TYPE_TAG}`,
      `#define ${TYPE_TAG}(x)`,
      "#endif",
      "",
    );
  }
  const tail = pragma ? ["#ifndef BPF_NO_PRESERVE_ACCESS_INDEX", "#pragma clang attribute pop", "#endif", ""] : [];
  if (printer.usesTypeTags) tail.push(`#undef ${TYPE_TAG}`, "");
  tail.push(`#endif /* ${guard} */`, "");
  return `${head.join("\n")}\n${printer.text()}${tail.join("\n")}`;
}

/** The macro that type tags are printed with (defined empty where clang lacks btf_type_tag). */
const TYPE_TAG = "__tsebpf_type_tag";

const BUSY = 1;
const DONE = 2;
/**
 * Members and parameters one top-level declaration may print: anonymous records and function
 * types are printed in full at every use, so a nest of them that reuses its parts would
 * otherwise print an exponential amount of C.
 */
const MAX_PRINTED_PER_DECLARATION = 250_000;

/** Function prototypes: whose needs were met at file scope, in a parameter list, and in progress. */
const PROTO_TOP = 1;
const PROTO_PARAM = 2;
const PROTO_BUSY = 4;

/** The next type of a declarator chain (pointer, qualifier, array, function return), for messages. */
const declaratorNext = (btf: Btf, id: number): number | undefined => {
  const t = btf.type(id);
  switch (t?.kind) {
    case "ptr":
    case "const":
    case "volatile":
    case "restrict":
    case "type_tag":
    case "array":
      return t.type;
    case "func_proto":
      return t.returnType;
    default:
      return undefined;
  }
};

const tabs = (n: number): string => "\t".repeat(n);

class CPrinter {
  usesTypeTags = false;
  printsRecords = false;
  private readonly chunks: string[] = [];
  private readonly layout: CLayout;
  /** BUSY/DONE per type id: definitions (and inline records' needs) in progress or printed. */
  private readonly state: Uint8Array;
  private readonly names: CNames;
  /** `struct foo` for every tag declared or defined so far. */
  private readonly declared = new Set<string>();
  /** Anonymous enums whose constants are printed already (printing them twice would redefine them). */
  private readonly enumsPrinted = new Set<number>();
  /** PROTO_* flags per function prototype. */
  private readonly protos = new Map<number, number>();
  /** Typedefs whose target is being completed (a use by value), to catch one that holds itself. */
  private readonly completing = new Set<number>();
  /** Typedefs whose target is complete (printed with everything it holds). */
  private readonly completed = new Set<number>();
  /** Records, typedefs and prototypes in progress, outermost first: the loop in a cycle's message. */
  private readonly path: number[] = [];
  /** Nesting of need() and declaration() calls. */
  private depth = 0;
  /** Members and parameters printed in the declaration being built. */
  private printed = 0;

  constructor(private readonly btf: Btf) {
    this.layout = new CLayout(btf);
    this.names = new CNames(btf);
    this.state = new Uint8Array(btf.typeCount + 1);
  }

  text(): string {
    return this.chunks.join("");
  }

  /** Every type, in id order. */
  all(): void {
    const used = this.usedAnonymousEnums();
    for (let id = 1; id <= this.btf.typeCount; id++) {
      const t = this.btf.mustType(id);
      switch (t.kind) {
        case "struct":
        case "union":
          if (t.name) this.defineRecord(id);
          break;
        case "enum":
        case "enum64":
          if (t.name) this.defineEnum(id, t);
          else if (!used.has(id)) this.standaloneEnum(id, t);
          break;
        case "typedef":
          this.need(id, true);
          break;
        case "fwd":
          this.declare(id);
          break;
        default:
      }
    }
    // Anonymous enums used only by what is not printed (functions, variables).
    for (const id of used) this.standaloneEnum(id, this.btf.mustType(id) as BtfEnum | BtfEnum64);
  }

  /** One type asked for, and what it needs. */
  root(id: number): void {
    const t = this.btf.mustType(id);
    switch (t.kind) {
      case "struct":
      case "union":
        if (t.name) this.defineRecord(id);
        else this.need(id, true);
        return;
      case "enum":
      case "enum64":
        if (t.name) this.defineEnum(id, t);
        else this.standaloneEnum(id, t);
        return;
      case "typedef":
        this.need(id, true);
        return;
      case "func":
        this.need(t.type, false);
        return;
      case "var":
      case "decl_tag":
        this.need(t.type, true);
        return;
      case "datasec":
        t.vars.forEach((v, i) => {
          if (this.btf.kindOf(v.type) === "datasec") throw new BtfError(`type ${id}: variable ${i} of datasec ${t.name || "(anon)"} is datasec ${typeLabel(this.btf, v.type)}`);
          this.root(v.type);
        });
        return;
      default:
        this.need(id, true);
    }
  }

  /** Anonymous enums that some printable type refers to (they are printed inline there). */
  private usedAnonymousEnums(): Set<number> {
    const used = new Set<number>();
    const note = (id: number) => {
      const k = this.btf.kindOf(id);
      if ((k === "enum" || k === "enum64") && this.btf.nameOf(id) === "") used.add(id);
    };
    for (let id = 1; id <= this.btf.typeCount; id++) {
      const t = this.btf.mustType(id);
      switch (t.kind) {
        case "struct":
        case "union":
          for (const m of t.members) note(m.type);
          break;
        case "func_proto":
          note(t.returnType);
          for (const p of t.params) note(p.type);
          break;
        case "ptr":
        case "array":
        case "typedef":
        case "const":
        case "volatile":
        case "restrict":
        case "type_tag":
          note(t.type);
          break;
        default:
      }
    }
    return used;
  }

  // ---- what a type needs printed before it ----

  /**
   * Prints what a use of `id` needs first: `strong` (by value) needs complete types; a pointer
   * needs nothing, as the first mention of `struct foo` at file scope declares it, except in a
   * function's parameter list (`inParameters`), where it would only be visible in that list.
   */
  private need(id: number, strong: boolean, inParameters = false): void {
    this.enter(id);
    try {
      this.needOnce(id, strong, inParameters);
    } finally {
      this.depth--;
    }
  }

  private needOnce(id: number, strong: boolean, inParameters: boolean): void {
    const start = id;
    for (let hops = 0; hops <= MAX_TYPE_DEPTH; hops++) {
      const t = this.btf.type(id);
      if (!t) return;
      switch (t.kind) {
        case "ptr":
          id = t.type;
          strong = false;
          continue;
        case "array":
          id = t.type;
          strong = true;
          continue;
        case "const":
        case "volatile":
        case "restrict":
        case "type_tag":
          id = t.type;
          continue;
        case "typedef":
          // By value: the target complete first, so that the typedef follows its definition.
          if (strong) this.complete(id, t);
          this.defineTypedef(id, t);
          return;
        case "struct":
        case "union":
          if (!t.name) this.needMembers(id, t);
          else if (strong) this.defineRecord(id);
          else if (inParameters) this.declare(id);
          return;
        case "enum":
        case "enum64":
          if (t.name) this.defineEnum(id, t);
          return;
        case "fwd":
          if (strong || inParameters) this.declare(id);
          return;
        case "func_proto":
          this.needProto(id, t, inParameters);
          return;
        default:
          return;
      }
    }
    throw chainError(this.btf, start, "pointer/array/qualifier chain", (x) => declaratorNext(this.btf, x));
  }

  /** Counts a level of nesting; refuses more than MAX_TYPE_DEPTH. */
  private enter(id: number): void {
    if (++this.depth > MAX_TYPE_DEPTH) {
      throw new BtfError(`type ${id}: types nest deeper than ${MAX_TYPE_DEPTH} levels (from ${typeLabel(this.btf, this.path[0] ?? id)}), more than C output can follow`);
    }
  }

  /** The error for `id` met again while it is in progress: C cannot print a type that needs itself. */
  private cycle(id: number, how: string): BtfError {
    const at = this.path.lastIndexOf(id);
    const loop = at < 0 ? [id] : [...this.path.slice(at), id];
    return cycleError(this.btf, id, `${how} (C cannot print that)`, loop);
  }

  /** Runs `f` with `id` on the path of types in progress. */
  private within(id: number, f: () => void): void {
    this.path.push(id);
    f();
    this.path.pop();
  }

  /** What a use of typedef `id` by value needs: its target complete. */
  private complete(id: number, t: BtfRef): void {
    if (this.completed.has(id)) return;
    if (this.completing.has(id)) throw this.cycle(id, "typedef holds itself by value");
    this.completing.add(id);
    this.within(id, () => this.need(t.type, true));
    this.completing.delete(id);
    this.completed.add(id);
  }

  /** What a function prototype's return and parameter types need (once per kind of place). */
  private needProto(id: number, t: BtfFuncProto, inParameters: boolean): void {
    const state = this.protos.get(id) ?? 0;
    if (state & PROTO_BUSY) throw this.cycle(id, "function type refers to itself");
    const done = inParameters ? PROTO_PARAM : PROTO_TOP;
    if (state & done) return;
    this.protos.set(id, state | PROTO_BUSY);
    this.within(id, () => {
      this.need(t.returnType, false, inParameters);
      for (const p of t.params) this.need(p.type, false, true);
    });
    this.protos.set(id, state | done);
  }

  /** An anonymous record is printed inline: what its members need, once. */
  private needMembers(id: number, t: BtfComposite): void {
    if (this.state[id] === DONE) return;
    if (this.state[id] === BUSY) throw this.cycle(id, "anonymous record refers to itself");
    this.state[id] = BUSY;
    this.within(id, () => {
      for (const m of t.members) this.need(m.type, true);
    });
    this.state[id] = DONE;
  }

  // ---- top-level declarations ----

  private emit(s: string): void {
    this.chunks.push(s);
    this.printed = 0;
  }

  /** Counts `n` more members or parameters printed for type `id`. */
  private spend(id: number, n: number): void {
    this.printed += n;
    if (this.printed > MAX_PRINTED_PER_DECLARATION) {
      throw new BtfError(`type ${id}: printing ${typeLabel(this.btf, id)} inline where it is used takes more than ${MAX_PRINTED_PER_DECLARATION} members and parameters in one declaration`);
    }
  }

  /** `struct foo;` unless foo is declared or defined already. */
  private declare(id: number): void {
    const spelled = this.names.tagged(id);
    if (this.declared.has(spelled)) return;
    this.declared.add(spelled);
    this.emit(`${spelled};\n\n`);
  }

  private defineRecord(id: number): void {
    if (this.state[id] === DONE) return;
    if (this.state[id] === BUSY) throw this.cycle(id, "record holds itself by value");
    this.state[id] = BUSY;
    const t = this.btf.mustType(id) as BtfComposite;
    this.within(id, () => {
      for (const m of t.members) this.need(m.type, true);
    });
    const spelled = this.names.tagged(id);
    this.emit(`${this.record(spelled, id, t, 0)};\n\n`);
    this.declared.add(spelled);
    this.state[id] = DONE;
  }

  private defineEnum(id: number, t: BtfEnum | BtfEnum64): void {
    if (this.state[id]) return;
    this.state[id] = DONE;
    this.emit(t.values.length === 0 ? `${this.names.tagged(id)};\n\n` : `${this.enumBody(id, t, 0)};\n\n`);
  }

  private standaloneEnum(id: number, t: BtfEnum | BtfEnum64): void {
    if (this.enumsPrinted.has(id) || t.values.length === 0) return;
    this.emit(`${this.enumBody(id, t, 0)};\n\n`);
  }

  private defineTypedef(id: number, t: BtfRef): void {
    if (this.state[id] === DONE) return;
    if (this.state[id] === BUSY) throw this.cycle(id, "typedef needs itself");
    this.state[id] = BUSY;
    this.within(id, () => this.need(t.type, false));
    this.emit(`typedef ${this.declaration(t.type, this.names.typedef(id), 0)};\n\n`);
    this.state[id] = DONE;
  }

  // ---- bodies ----

  private members(id: number, t: BtfComposite, indent: number): string {
    this.printsRecords = true;
    this.spend(id, t.members.length + 1);
    const layout = this.layout.composite(id);
    const pad = tabs(indent);
    let s = layout.exact ? "" : `${pad}/* no C layout gives this record the offsets and size BTF says it has */\n`;
    t.members.forEach((m, i) => {
      for (const p of layout.before[i] ?? []) s += `${pad}${p.type}: ${p.bits};\n`;
      const { bits } = memberPlacement(this.btf, t, m);
      const name = m.name === "" ? "" : identifier(m.name, "");
      s += `${pad}${this.declaration(m.type, name, indent)}${bits ? `: ${bits}` : ""};\n`;
    });
    for (const p of layout.after) s += `${pad}${p.type}: ${p.bits};\n`;
    return s;
  }

  /** `struct foo {...} __attribute__((packed))`: a definition, its closing brace at `indent`. */
  private record(head: string, id: number, t: BtfComposite, indent: number): string {
    const body = this.members(id, t, indent + 1);
    const l = this.layout.composite(id);
    const attrs = [l.packed ? "packed" : "", l.aligned ? `aligned(${l.aligned})` : ""].filter((a) => a !== "");
    return `${head} {${body ? `\n${body}${tabs(indent)}` : ""}}${attrs.length ? ` __attribute__((${attrs.join(", ")}))` : ""}`;
  }

  private enumBody(id: number, t: BtfEnum | BtfEnum64, indent: number): string {
    if (!t.name) this.enumsPrinted.add(id);
    const head = t.name ? `${this.names.tagged(id)} ` : "enum ";
    const lines = t.values.map(
      (v, i) => `${tabs(indent + 1)}${this.names.enumerator(id, i, v.name)} = ${enumLiteral(BigInt(v.value), !t.signed)},\n`,
    );
    const attribute = enumLayout(t).attribute;
    return `${head}{\n${lines.join("")}${tabs(indent)}}${attribute ? ` __attribute__((${attribute}))` : ""}`;
  }

  // ---- declarations: `const char *(*name[3])(int, ...)` ----

  /** C declaration of `name` (may be empty: an abstract declarator) of type `id`. */
  private declaration(id: number, name: string, indent: number): string {
    this.enter(id);
    try {
      return this.declarator(id, name, indent);
    } finally {
      this.depth--;
    }
  }

  private declarator(id: number, name: string, indent: number): string {
    const start = id;
    let d = name;
    let afterPointer = false;
    let quals: string[] = [];
    for (let hops = 0; hops <= MAX_TYPE_DEPTH; hops++) {
      const t = this.btf.type(id);
      if (!t) return this.withBase("void", quals, d);
      switch (t.kind) {
        case "ptr":
          d = quals.length ? `* ${unique(quals).join(" ")} ${d}` : `*${d}`;
          quals = [];
          afterPointer = true;
          id = t.type;
          continue;
        case "const":
        case "volatile":
          quals.push(t.kind);
          id = t.type;
          continue;
        case "restrict":
          if (this.isPointer(t.type)) quals.push("restrict");
          id = t.type;
          continue;
        case "type_tag":
          this.usesTypeTags = true;
          quals.push(`${TYPE_TAG}(${JSON.stringify(t.name)})`);
          id = t.type;
          continue;
        case "array":
          // Qualifiers of an array qualify its elements: they stay pending.
          d = `${afterPointer ? `(${d})` : d}[${t.nelems}]`;
          afterPointer = false;
          id = t.type;
          continue;
        case "func_proto":
          d = `${afterPointer ? `(${d})` : d}(${this.parameters(id, t, indent)})`;
          afterPointer = false;
          quals = []; // a qualified function type means nothing
          id = t.returnType;
          continue;
        default:
          return this.withBase(this.base(id, t, indent), quals, d);
      }
    }
    throw chainError(this.btf, start, "pointer/array/qualifier chain", (x) => declaratorNext(this.btf, x));
  }

  private withBase(base: string, quals: string[], d: string): string {
    const q = unique(quals);
    const spec = [...q.filter((x) => !x.startsWith(TYPE_TAG)), base, ...q.filter((x) => x.startsWith(TYPE_TAG))].join(" ");
    return d === "" ? spec : `${spec} ${d}`.trimEnd();
  }

  private isPointer(id: number): boolean {
    try {
      return this.btf.kindOf(skipModifiers(this.btf, id)) === "ptr";
    } catch {
      return false;
    }
  }

  private parameters(id: number, t: BtfFuncProto, indent: number): string {
    this.spend(id, t.params.length + 1);
    const out: string[] = [];
    t.params.forEach((p, i) => {
      if (p.type === 0 && i === t.params.length - 1) {
        if (i > 0) out.push("...");
      } else out.push(this.declaration(p.type, "", indent));
    });
    return out.length ? out.join(", ") : "void";
  }

  /** The type specifier a declarator hangs on: a name, or an anonymous record or enum in full. */
  private base(id: number, t: BtfType, indent: number): string {
    switch (t.kind) {
      case "int":
        return intName(t);
      case "float":
        return floatName(t);
      case "struct":
      case "union":
        return t.name ? this.names.tagged(id) : this.record(t.kind, id, t, indent);
      case "enum":
      case "enum64": {
        if (t.name) return this.names.tagged(id);
        if (this.enumsPrinted.has(id) || t.values.length === 0) {
          const l = enumLayout(t);
          return integerOfSize(l.size, l.signed);
        }
        return this.enumBody(id, t, indent);
      }
      case "fwd":
        return this.names.tagged(id);
      case "typedef":
        return this.names.typedef(id);
      default:
        return "void";
    }
  }
}

const unique = (xs: string[]): string[] => [...new Set(xs)];
