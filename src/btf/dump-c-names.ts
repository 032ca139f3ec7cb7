/**
 * C names for what `dumpC` prints. struct, union and enum share C's tag namespace; typedefs
 * and enumerators share the ordinary one. A type whose name is taken by a different type gets
 * `name___2` (then `___3`...), as bpftool does; a forward declaration shares the name of the
 * definition of the same kind. Names are given on first use, so the first printed keeps the
 * plain name. Clang's builtin typedefs (`__builtin_va_list`...) are never redefined: a BTF
 * typedef with such a name is renamed, so that its BTF layout is kept.
 */
import type { Btf } from "./btf.js";

export type Tag = "struct" | "union" | "enum";

const BUILTIN_TYPEDEFS = new Set(["__int128_t", "__uint128_t", "__NSConstantString", "__builtin_va_list", "__builtin_ms_va_list"]);

const C_KEYWORDS = new Set(
  (
    "auto break case char const continue default do double else enum extern float for goto if inline int long register " +
    "restrict return short signed sizeof static struct switch typedef union unsigned void volatile while _Alignas _Alignof " +
    "_Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local asm typeof __int128 __attribute__"
  ).split(" "),
);

/** `name` as a C identifier (BTF from elsewhere than C may hold anything); `fallback` for no name. */
export function identifier(name: string, fallback: string): string {
  if (name === "") return fallback;
  const s = name.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(s) || C_KEYWORDS.has(s) ? `_${s}` : s;
}

export class CNames {
  private readonly tagOf = new Map<number, string>();
  private readonly tags = new Map<string, { kind: Tag; defined: boolean }>();
  private readonly identOf = new Map<string, string>();
  private readonly idents = new Set<string>();

  constructor(private readonly btf: Btf) {}

  /** `struct foo`, `union bar___2`, `enum baz` for a struct, union, enum or fwd. */
  tagged(id: number): string {
    const t = this.btf.mustType(id);
    const kind: Tag = t.kind === "fwd" ? (t.union ? "union" : "struct") : t.kind === "enum64" ? "enum" : (t.kind as Tag);
    let name = this.tagOf.get(id);
    if (name === undefined) {
      const declarationOnly = t.kind === "fwd" || ((t.kind === "enum" || t.kind === "enum64") && t.values.length === 0);
      const base = identifier(t.name, `__anon_${id}`);
      for (let n = 1; ; n++) {
        const candidate = n === 1 ? base : `${base}___${n}`;
        const taken = this.tags.get(candidate);
        if (!taken) this.tags.set(candidate, { kind, defined: !declarationOnly });
        else if (taken.kind !== kind || (taken.defined && !declarationOnly)) continue;
        else if (!declarationOnly) taken.defined = true; // the definition of what a forward declaration named
        name = candidate;
        break;
      }
      this.tagOf.set(id, name);
    }
    return `${kind} ${name}`;
  }

  typedef(id: number): string {
    return this.ident(`t${id}`, identifier(this.btf.nameOf(id), `__anon_typedef_${id}`));
  }

  /** The name of value `index` of enum `id`. */
  enumerator(id: number, index: number, name: string): string {
    return this.ident(`e${id}.${index}`, identifier(name, `__anon_enum_${id}_${index}`));
  }

  private ident(key: string, base: string): string {
    let name = this.identOf.get(key);
    if (name !== undefined) return name;
    const builtin = BUILTIN_TYPEDEFS.has(base) || base.startsWith("__builtin_");
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? base : `${base}___${n}`;
      if (this.idents.has(candidate) || (n === 1 && builtin)) continue;
      name = candidate;
      break;
    }
    this.idents.add(name);
    this.identOf.set(key, name);
    return name;
  }
}
