/** Questions about types that loaders ask: sizes, alignment, what a typedef really is. */
import type { Btf } from "./btf.js";
import { BtfError } from "./errors.js";
import { isQualifier, type BtfType } from "./types.js";

const MAX_CHAIN = 64;

/** Follows typedefs and qualifiers (const, volatile, restrict, type_tag) to the real type id. */
export function skipModifiers(btf: Btf, id: number): number {
  for (let i = 0; i < MAX_CHAIN; i++) {
    const t = btf.type(id);
    if (!t || !(t.kind === "typedef" || isQualifier(t))) return id;
    id = t.type;
  }
  throw new BtfError(`type ${id}: typedef/qualifier chain longer than ${MAX_CHAIN} (a loop?)`);
}

/** Follows qualifiers only (typedefs stay). */
export function skipQualifiers(btf: Btf, id: number): number {
  for (let i = 0; i < MAX_CHAIN; i++) {
    const t = btf.type(id);
    if (!t || !isQualifier(t)) return id;
    id = t.type;
  }
  throw new BtfError(`type ${id}: qualifier chain longer than ${MAX_CHAIN} (a loop?)`);
}

/** Size in bytes of a value of type `id` (pointers are 8 bytes: BPF is 64-bit). */
export function sizeOf(btf: Btf, id: number): number {
  let multiplier = 1;
  for (let i = 0; i < MAX_CHAIN; i++) {
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
  throw new BtfError(`type ${id}: type chain longer than ${MAX_CHAIN} (a loop?)`);
}

/** Natural alignment in bytes of type `id`, as a C compiler for BPF lays it out. */
export function alignOf(btf: Btf, id: number): number {
  const real = skipModifiers(btf, id);
  const t = btf.type(real);
  if (!t) return 1;
  switch (t.kind) {
    case "int": // clang aligns __int128 to 16 on BPF
      return Math.min(16, Math.max(1, t.size));
    case "enum":
    case "enum64":
    case "float":
      return Math.min(8, Math.max(1, t.size));
    case "ptr":
      return 8;
    case "array":
      return alignOf(btf, t.type);
    case "struct":
    case "union": {
      let a = 1;
      for (const m of t.members) a = Math.max(a, alignOf(btf, m.type));
      return a;
    }
    default:
      return 1;
  }
}

/**
 * A C-like name of a type for messages and listings: `struct task_struct`, `const volatile
 * __u32`, `char[16]`, `struct sock *`, `int (*)(void *)`.
 */
export function describeType(btf: Btf, id: number, depth = 0): string {
  if (depth > MAX_CHAIN) return "...";
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
      return `${t.kind} ${describeType(btf, t.type, depth + 1)}`;
    case "type_tag":
      return describeType(btf, t.type, depth + 1);
    case "ptr": {
      const target = btf.type(t.type);
      if (target?.kind === "func_proto") return describeProto(btf, target.returnType, target.params.map((p) => p.type), "(*)", depth);
      return `${describeType(btf, t.type, depth + 1)} *`;
    }
    case "array": {
      let dims = `[${t.nelems}]`;
      let elem = t.type;
      for (let inner = btf.type(elem); inner?.kind === "array"; inner = btf.type(elem)) {
        dims += `[${inner.nelems}]`;
        elem = inner.type;
      }
      return `${describeType(btf, elem, depth + 1)}${dims}`;
    }
    case "func_proto":
      return describeProto(btf, t.returnType, t.params.map((p) => p.type), "", depth);
    case "func":
    case "var":
      return `${t.kind} ${name}`;
    default:
      return name;
  }
}

function describeProto(btf: Btf, ret: number, params: number[], inner: string, depth: number): string {
  const args = params.length === 0 ? "void" : params.map((p) => (p === 0 ? "..." : describeType(btf, p, depth + 1))).join(", ");
  return `${describeType(btf, ret, depth + 1)} ${inner}(${args})`.replace(" (", inner ? " (" : "(");
}
