/** Questions about types that loaders ask: sizes, alignment, what a typedef really is. */
import type { Btf } from "./btf.js";
import { BtfError } from "./errors.js";
import { isQualifier, type BtfType } from "./types.js";

/**
 * How deep any walk over types goes: hops along one chain (typedefs, qualifiers, arrays,
 * pointers) and levels of types inside types (a member's type, an element, a parameter). BTF
 * that needs more is refused with a BtfError naming the type and this bound, never followed
 * until the stack overflows. The kernel refuses BTF nested deeper than 32 levels, so no BTF it
 * accepts comes near it.
 */
export const MAX_TYPE_DEPTH = 256;

/** `[5] typedef foo`, for messages; never throws. */
export function typeLabel(btf: Btf, id: number): string {
  try {
    return `[${id}] ${btf.kindOf(id)} ${btf.nameOf(id) || "(anon)"}`;
  } catch {
    return `[${id}]`;
  }
}

/**
 * The error for a walk from `start` along `next` (undefined: the chain ends) that went past
 * MAX_TYPE_DEPTH hops: names the loop when there is one, else the bound.
 */
export function chainError(btf: Btf, start: number, what: string, next: (id: number) => number | undefined): BtfError {
  const seen = new Map<number, number>();
  const path: number[] = [];
  for (let id: number | undefined = start; id !== undefined && path.length <= MAX_TYPE_DEPTH + 1; id = safeNext(next, id)) {
    const at = seen.get(id);
    if (at !== undefined) return cycleError(btf, start, `${what} loops`, [...path.slice(at), id]);
    seen.set(id, path.length);
    path.push(id);
  }
  return new BtfError(`type ${start}: ${what} is longer than ${MAX_TYPE_DEPTH} types`);
}

function safeNext(next: (id: number) => number | undefined, id: number): number | undefined {
  try {
    return next(id);
  } catch {
    return undefined;
  }
}

/** `type 5: <what>: [5] typedef a -> [6] typedef b -> [5] typedef a` (a long loop shortened). */
export function cycleError(btf: Btf, start: number, what: string, loop: readonly number[]): BtfError {
  const shown = loop.length > 12 ? [...loop.slice(0, 6), -1, ...loop.slice(-5)] : loop;
  const text = shown.map((id) => (id < 0 ? "..." : typeLabel(btf, id))).join(" -> ");
  return new BtfError(`type ${start}: ${what}: ${text}`);
}

/** The type a typedef or qualifier stands for; undefined for any other type. */
const modifierTarget = (btf: Btf, id: number): number | undefined => {
  const t = btf.type(id);
  return t && (t.kind === "typedef" || isQualifier(t)) ? t.type : undefined;
};
const qualifierTarget = (btf: Btf, id: number): number | undefined => {
  const t = btf.type(id);
  return t && isQualifier(t) ? t.type : undefined;
};

/** Follows typedefs and qualifiers (const, volatile, restrict, type_tag) to the real type id. */
export function skipModifiers(btf: Btf, id: number): number {
  const start = id;
  for (let i = 0; i <= MAX_TYPE_DEPTH; i++) {
    const t = btf.type(id);
    if (!t || !(t.kind === "typedef" || isQualifier(t))) return id;
    id = t.type;
  }
  throw chainError(btf, start, "typedef/qualifier chain", (x) => modifierTarget(btf, x));
}

/** Follows qualifiers only (typedefs stay). */
export function skipQualifiers(btf: Btf, id: number): number {
  const start = id;
  for (let i = 0; i <= MAX_TYPE_DEPTH; i++) {
    const t = btf.type(id);
    if (!t || !isQualifier(t)) return id;
    id = t.type;
  }
  throw chainError(btf, start, "qualifier chain", (x) => qualifierTarget(btf, x));
}

/** The next type of a chain whose size is the size of what it leads to (typedef, qualifier, array, var). */
export const sizeChainNext = (btf: Btf, id: number): number | undefined => {
  const t = btf.type(id);
  switch (t?.kind) {
    case "array":
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag":
    case "var":
      return t.type;
    default:
      return undefined;
  }
};

/**
 * Size in bytes of a value of type `id` (pointers are 8 bytes: BPF is 64-bit). A struct's or
 * union's size is the one its BTF record states (its members are not walked); a chain of
 * typedefs, qualifiers and arrays that loops or is longer than MAX_TYPE_DEPTH is a BtfError.
 */
export function sizeOf(btf: Btf, id: number): number {
  const start = id;
  let multiplier = 1;
  for (let i = 0; i <= MAX_TYPE_DEPTH; i++) {
    const t = btf.type(id);
    if (!t) throw new BtfError(`type ${id}: void has no size`);
    switch (t.kind) {
      case "int":
      case "struct":
      case "union":
      case "enum":
      case "enum64":
      case "float":
      case "datasec":
        return multiplier * t.size;
      case "ptr":
        return multiplier * 8;
      case "array":
        multiplier *= t.nelems;
        if (!Number.isSafeInteger(multiplier)) throw new BtfError(`type ${id}: array size overflows`);
        id = t.type;
        break;
      case "typedef":
      case "volatile":
      case "const":
      case "restrict":
      case "type_tag":
      case "var":
        id = t.type;
        break;
      default:
        throw new BtfError(`type ${id} (${t.kind} ${t.name || "(anon)"}) has no size`);
    }
  }
  throw chainError(btf, start, "type chain", (x) => sizeChainNext(btf, x));
}

/** The types a value of type `t` holds or stands for, whose alignment is its own. */
function alignChildren(t: BtfType): readonly number[] {
  switch (t.kind) {
    case "array":
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag":
      return [t.type];
    case "struct":
    case "union":
      return t.members.map((m) => m.type);
    default:
      return [];
  }
}

/** Alignment of a type that holds no other (0: it does, ask its children). */
function leafAlign(t: BtfType | undefined): number {
  switch (t?.kind) {
    case undefined:
      return 1;
    case "int": // clang aligns __int128 to 16 on BPF
      return Math.min(16, Math.max(1, t.size));
    case "enum":
    case "enum64":
    case "float":
      return Math.min(8, Math.max(1, t.size));
    case "ptr":
      return 8;
    case "array":
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag":
    case "struct":
    case "union":
      return 0;
    default:
      return 1;
  }
}

/**
 * Natural alignment in bytes of type `id`, as a C compiler for BPF lays it out. Walks the types
 * it holds by value without recursion, each once; a type that holds itself (a struct member of
 * its own type, an array of itself, a typedef loop) or nesting deeper than MAX_TYPE_DEPTH is a
 * BtfError.
 */
export function alignOf(btf: Btf, id: number): number {
  const IN_PROGRESS = 0;
  const known = new Map<number, number>();
  interface Frame {
    readonly id: number;
    readonly children: readonly number[];
    next: number;
    align: number;
  }
  const frames: Frame[] = [];
  /** The alignment of `x` when known, else undefined and a frame to work it out is pushed. */
  const visit = (x: number): number | undefined => {
    const k = known.get(x);
    if (k === IN_PROGRESS) {
      const loop = frames.slice(frames.findIndex((f) => f.id === x)).map((f) => f.id);
      throw cycleError(btf, id, x === id ? "holds itself by value" : `holds ${typeLabel(btf, x)}, which holds itself by value`, [...loop, x]);
    }
    if (k !== undefined) return k;
    const t = btf.type(x);
    const leaf = leafAlign(t);
    if (leaf !== 0) {
      known.set(x, leaf);
      return leaf;
    }
    if (frames.length >= MAX_TYPE_DEPTH) throw new BtfError(`type ${id}: types nest deeper than ${MAX_TYPE_DEPTH} levels (at ${typeLabel(btf, x)})`);
    known.set(x, IN_PROGRESS);
    frames.push({ id: x, children: alignChildren(t as BtfType), next: 0, align: 1 });
    return undefined;
  };
  let result = visit(id);
  while (frames.length > 0) {
    const top = frames[frames.length - 1] as Frame;
    if (top.next < top.children.length) {
      const a = visit(top.children[top.next++] as number);
      if (a !== undefined) top.align = Math.max(top.align, a);
      continue;
    }
    frames.pop();
    known.set(top.id, top.align);
    const parent = frames[frames.length - 1];
    if (parent) parent.align = Math.max(parent.align, top.align);
    else result = top.align;
  }
  return result as number;
}

/** How many types one description names at most (a function pointer's parameters can fan out). */
const DESCRIBE_BUDGET = 64;

/**
 * A C-like name of a type for messages and listings: `struct task_struct`, `const volatile
 * __u32`, `char[16]`, `struct sock *`, `int (*)(void *)`. Never walks more than a few dozen
 * types: what lies beyond (a loop, a deep nest) is shown as `...`.
 */
export function describeType(btf: Btf, id: number): string {
  return new Describer(btf).type(id, 0);
}

class Describer {
  private left = DESCRIBE_BUDGET;

  constructor(private readonly btf: Btf) {}

  type(id: number, depth: number): string {
    if (depth > DESCRIBE_BUDGET || this.left-- <= 0) return "...";
    const btf = this.btf;
    const t: BtfType | undefined = btf.type(id);
    if (!t) return "void";
    const name = t.name || "(anon)";
    switch (t.kind) {
      case "struct":
      case "union":
        return `${t.kind} ${name}`;
      case "enum":
      case "enum64":
        return `enum ${name}`;
      case "fwd":
        return `${t.union ? "union" : "struct"} ${name}`;
      case "const":
      case "volatile":
      case "restrict":
        return `${t.kind} ${this.type(t.type, depth + 1)}`;
      case "type_tag":
        return this.type(t.type, depth + 1);
      case "ptr": {
        const target = btf.type(t.type);
        if (target?.kind === "func_proto") return this.proto(target.returnType, target.params.map((p) => p.type), "(*)", depth);
        return `${this.type(t.type, depth + 1)} *`;
      }
      case "array": {
        let dims = `[${t.nelems}]`;
        let elem = t.type;
        for (let inner = btf.type(elem), n = 0; inner?.kind === "array"; inner = btf.type(elem), n++) {
          if (n >= DESCRIBE_BUDGET) return `...${dims}`;
          dims += `[${inner.nelems}]`;
          elem = inner.type;
        }
        return `${this.type(elem, depth + 1)}${dims}`;
      }
      case "func_proto":
        return this.proto(t.returnType, t.params.map((p) => p.type), "", depth);
      case "func":
      case "var":
        return `${t.kind} ${name}`;
      default:
        return name;
    }
  }

  private proto(ret: number, params: number[], inner: string, depth: number): string {
    const shown = params.slice(0, DESCRIBE_BUDGET);
    let args = shown.length === 0 ? "void" : shown.map((p) => (p === 0 ? "..." : this.type(p, depth + 1))).join(", ");
    if (params.length > shown.length) args += ", ...";
    return `${this.type(ret, depth + 1)} ${inner}(${args})`.replace(" (", inner ? " (" : "(");
  }
}
