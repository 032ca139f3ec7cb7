/**
 * Strict configuration files for the programs: YAML in, plain typed data out. Every rejection is
 * one line naming the file, the key (`rules.ipv4.allow[2]`) and the value, and happens before
 * anything is loaded into the kernel.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { takeAddressRuns } from "./address-runs.js";
import { TsebpfError } from "../../errors.js";

/** A configuration the program refuses: `config.yml: rules.ipv4.default: expected allow or block, not 'maybe'`. */
export class ConfigError extends TsebpfError {
  override readonly name = "ConfigError";
}

/** Reads and parses a YAML file; a missing file or a YAML syntax error is a ConfigError. */
export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`${path}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : String(e)}`);
  }
  return parseYaml(text, path);
}

/**
 * Parses YAML text (`source` names it in errors). Duplicate keys are errors, as YAML 1.2 says.
 * Long lists of bare addresses are parsed apart (address-runs.ts), with the same result.
 */
export function parseYaml(text: string, source: string): unknown {
  const runs = takeAddressRuns(text);
  if (runs) {
    const skeleton = parseDocument(runs.text, { uniqueKeys: true });
    const restored = skeleton.errors.length === 0 ? runs.restore(toJS(skeleton, source)) : undefined;
    if (restored !== undefined) return restored;
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0];
    const message = (first.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError(`${source}${at ? `:${at.line}:${at.col}` : ""}: ${message}`);
  }
  return toJS(doc, source);
}

/** A parsed document's value; what only making it finds (an alias to no anchor) is a ConfigError too. */
function toJS(doc: ReturnType<typeof parseDocument>, source: string): unknown {
  try {
    return doc.toJS();
  } catch (e) {
    throw new ConfigError(`${source}: ${(e as Error).message}`);
  }
}

const show = (v: unknown): string => (typeof v === "string" ? `'${v}'` : v === null || v === undefined ? String(v) : typeof v === "object" ? JSON.stringify(v) : String(v));

/**
 * A value at a path of a config document, with typed accessors that throw ConfigError naming the
 * path. `node.object(["a", "b"])` also rejects keys it does not list.
 */
export class ConfigNode {
  constructor(
    readonly value: unknown,
    /** `rules.ipv4.allow[2]` */
    readonly path: string,
    /** The file, for messages. */
    readonly source: string,
  ) {}

  static root(value: unknown, source: string): ConfigNode {
    return new ConfigNode(value, "", source);
  }

  /** A ConfigError about this value: `file: path: why`. */
  error(why: string): ConfigError {
    return new ConfigError(`${this.source}: ${this.path === "" ? "" : `${this.path}: `}${why}`);
  }

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  /** A mapping with only these keys (each may be absent). */
  object(allowed: readonly string[]): this {
    if (typeof this.value !== "object" || this.value === null || Array.isArray(this.value)) throw this.error(`expected a mapping, not ${show(this.value)}`);
    for (const key of Object.keys(this.value)) {
      if (!allowed.includes(key)) throw this.error(`unknown key '${key}' (expected ${allowed.join(", ")})`);
    }
    return this;
  }

  /** The value of a key of this mapping (absent keys give a node whose value is undefined). */
  get(key: string): ConfigNode {
    const v = typeof this.value === "object" && this.value !== null ? (this.value as Record<string, unknown>)[key] : undefined;
    return new ConfigNode(v, this.path === "" ? key : `${this.path}.${key}`, this.source);
  }

  /** A required key. */
  required(key: string): ConfigNode {
    const n = this.get(key);
    if (!n.present) throw (this.path === "" ? new ConfigNode(undefined, key, this.source) : n).error("missing");
    return n;
  }

  string(): string {
    if (typeof this.value !== "string" || this.value === "") throw this.error(`expected a non-empty string, not ${show(this.value)}`);
    return this.value;
  }

  /** An integer in [min, max]. */
  integer(min: number, max: number): number {
    const v = this.value;
    if (typeof v !== "number" || !Number.isInteger(v)) throw this.error(`expected an integer, not ${show(v)}`);
    if (v < min || v > max) throw this.error(`${v} is out of range (${min}..${max})`);
    return v;
  }

  /** A number in [min, max]. */
  number(min: number, max: number): number {
    const v = this.value;
    if (typeof v !== "number" || !Number.isFinite(v)) throw this.error(`expected a number, not ${show(v)}`);
    if (v < min || v > max) throw this.error(`${v} is out of range (${min}..${max})`);
    return v;
  }

  boolean(): boolean {
    if (typeof this.value !== "boolean") throw this.error(`expected true or false, not ${show(this.value)}`);
    return this.value;
  }

  /** One of these words. */
  oneOf<T extends string>(choices: readonly T[]): T {
    if (typeof this.value !== "string" || !choices.includes(this.value as T)) throw this.error(`expected ${choices.join(" or ")}, not ${show(this.value)}`);
    return this.value as T;
  }

  /** A list (absent: empty) of at most `max` items, each as a node. */
  list(max = Number.MAX_SAFE_INTEGER): ConfigNode[] {
    return this.values(max).map((_, i) => this.item(i));
  }

  /** A list's (absent: empty) raw items, for long lists: `item(i)` makes a node only where needed. */
  values(max = Number.MAX_SAFE_INTEGER): readonly unknown[] {
    if (!this.present) return [];
    if (!Array.isArray(this.value)) throw this.error(`expected a list, not ${show(this.value)}`);
    if (this.value.length > max) throw this.error(`${this.value.length} entries is more than the capacity of ${max}`);
    return this.value;
  }

  /** Item `i` of this list. */
  item(i: number): ConfigNode {
    return new ConfigNode(Array.isArray(this.value) ? this.value[i] : undefined, `${this.path}[${i}]`, this.source);
  }
}
