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
    case "int":
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

/** A readable name for messages: `struct task_struct`, `int`, `(anon union)`. */
export function describeType(btf: Btf, id: number): string {
  const t: BtfType | undefined = btf.type(id);
  if (!t) return "void";
  const name = t.name || "(anon)";
  switch (t.kind) {
    case "struct":
    case "union":
    case "enum":
    case "enum64":
      return `${t.kind === "enum64" ? "enum" : t.kind} ${name}`;
    case "fwd":
      return `${t.union ? "union" : "struct"} ${name} (forward)`;
    case "ptr":
      return `${describeType(btf, t.type)} *`;
    default:
      return t.name ? t.name : `(anon ${t.kind})`;
  }
}
