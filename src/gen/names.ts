/** Names in generated TypeScript: identifiers from C names, property keys, string literals. */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Words that cannot name a type, a function or a const (property names may be any of them). */
const RESERVED = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends false finally for function if import in " +
    "instanceof new null return super switch this throw true try typeof var void while with implements interface let package private " +
    "protected public static yield await any boolean number string symbol bigint object never unknown undefined type as of async"
  ).split(" "),
);

/** Global names a generated module uses or that readers expect to mean the built-in: types of the object get other names. */
export const GLOBAL_NAMES = (
  "Array ArrayBuffer ArrayLike BigInt BigInt64Array BigUint64Array Boolean Buffer DataView Date Disposable Error Exclude Extract Float32Array " +
  "Float64Array Function Int16Array Int32Array Int8Array Iterable JSON Map Math NonNullable Number Object Omit Partial Pick Promise Readonly " +
  "Record Required ReturnType RegExp Set String Symbol TextDecoder TextEncoder URL Uint16Array Uint32Array Uint8Array WeakMap console globalThis process"
).split(" ");

/** `flow_key` → `FlowKey`, `__sk_buff` → `SkBuff`, `event_t` → `EventT`. */
export function pascalCase(name: string): string {
  const parts = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const joined = parts.map((p) => p[0]?.toUpperCase() + p.slice(1)).join("");
  if (joined === "") return "Type";
  return /^[0-9]/.test(joined) ? `T${joined}` : joined;
}

/** A JavaScript string literal (double quotes). */
export function stringLiteral(s: string): string {
  return JSON.stringify(s);
}

/** A property key in an object literal or type: bare when it can be, quoted otherwise. */
export function propertyKey(name: string): string {
  if (name === "__proto__") return `[${stringLiteral(name)}]`;
  return IDENTIFIER.test(name) ? name : stringLiteral(name);
}

/** `base.name`, or `base["name"]` for names that are not identifiers. */
export function propertyAccess(base: string, name: string): string {
  return IDENTIFIER.test(name) && name !== "__proto__" ? `${base}.${name}` : `${base}[${stringLiteral(name)}]`;
}

/** Hands out module-level identifiers, never the same twice and never a reserved word. */
export class IdentifierScope {
  private readonly taken = new Set<string>();

  constructor(reserved: Iterable<string> = []) {
    for (const r of reserved) this.taken.add(r);
  }

  /** Marks a name as used (the module's own helpers and imports). */
  reserve(name: string): void {
    this.taken.add(name);
  }

  has(name: string): boolean {
    return this.taken.has(name) || RESERVED.has(name);
  }

  /** `wanted`, or the first of `wanted` + each of `suffixes`, then numbered, that is free. */
  take(wanted: string, suffixes: readonly string[] = []): string {
    for (const candidate of [wanted, ...suffixes.map((s) => `${wanted}${s}`)]) {
      if (!this.has(candidate)) {
        this.taken.add(candidate);
        return candidate;
      }
    }
    for (let i = 2; ; i++) {
      const candidate = `${wanted}${i}`;
      if (!this.has(candidate)) {
        this.taken.add(candidate);
        return candidate;
      }
    }
  }
}
