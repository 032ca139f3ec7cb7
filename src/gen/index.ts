/**
 * `tsebpf gen`: typed bindings for a BPF object, as cilium's bpf2go and `bpftool gen skeleton`
 * make them. From a CollectionSpec (BTF and all) to the source of one TypeScript module:
 *
 * - an interface and a codec for each named struct, union and enum the maps (keys, values, inner
 *   maps), the global variables and the `types` asked for reach, with exact layouts;
 * - a typed loader: `load(options)` whose options name the variables with their types, and whose
 *   result names the programs, maps (typed ones too) and variables as properties.
 *
 * Pure: no file system, no kernel; the same spec gives the same text.
 */
import { describeType, type Btf, type BtfKind } from "../btf/index.js";
import type { CollectionSpec, MapSpec } from "../elf/index.js";
import { CodecEmitter } from "./emit-codecs.js";
import { emitLoader, LOADER_NAMES, type LoaderMap, type LoaderVariable } from "./emit-loader.js";
import { GenError } from "./errors.js";
import { ShapeResolver, type NamedType, type Shape } from "./model.js";
import { GLOBAL_NAMES, IdentifierScope } from "./names.js";

export { GenError } from "./errors.js";

/** Where the generated module finds the object file. */
export type ObjectSource =
  /** Embedded in the module (base64): the module is all one needs. */
  | { readonly embed: Uint8Array }
  /** A path relative to the generated module (read when loading). */
  | { readonly path: string };

export interface GenOptions {
  readonly object: ObjectSource;
  /** The module the generated code imports tsebpf from (default `"tsebpf"`). */
  readonly importFrom?: string;
  /** More types to generate, by name (`event`, `struct event`, `enum state`, a typedef's name). */
  readonly types?: readonly string[];
  /** The object's file name, for the header. */
  readonly source?: string;
  /** The command that regenerates the module, for the header. */
  readonly command?: string;
}

/** How to keep a type that only exists in a program's source in its object's BTF. */
export function keepTypeHint(name: string): string {
  const bare = name.replace(/^(struct|union|enum)\s+/, "");
  const kind = /^(struct|union|enum)\s/.exec(name)?.[1] ?? "struct";
  return (
    `clang writes only the types the program uses into BTF. Keep it with an unused typed pointer or variable in the C source, ` +
    `e.g. \`${kind} ${bare} *unused_${bare} __attribute__((unused));\` or \`const ${kind} ${bare} *unused = 0;\`, and rebuild the object`
  );
}

const KIND_WORD: Record<string, BtfKind[]> = { struct: ["struct"], union: ["union"], enum: ["enum", "enum64"] };

/** The BTF id of the type `name` names: `event`, `struct event`, `enum state`, `event_t`. */
export function findNamedType(btf: Btf | undefined, name: string): number {
  const m = /^\s*(?:(struct|union|enum)\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(name);
  if (!m) throw new GenError(`--type ${JSON.stringify(name)}: not a C type name (give \`event\`, \`struct event\`, \`enum state\`)`);
  const [, kindWord, bare = ""] = m;
  if (!btf) throw new GenError(`type "${name}": the object has no BTF (build it with clang -g)`);
  const kinds: BtfKind[] = kindWord ? (KIND_WORD[kindWord] ?? []) : ["struct", "union", "enum", "enum64", "typedef"];
  const ids = btf.idsByName(bare).filter((id) => kinds.includes(btf.type(id)?.kind as BtfKind));
  // A definition over a forward declaration; a struct over a typedef of the same name.
  const rank = (id: number) => kinds.indexOf(btf.type(id)?.kind as BtfKind);
  const id = [...ids].sort((a, b) => rank(a) - rank(b) || a - b)[0];
  if (id === undefined) throw new GenError(`type "${name}" is not in the object's BTF. ${keepTypeHint(kindWord ? name : `struct ${bare}`)}`);
  return id;
}

/** The source of the TypeScript module for this object. */
export function generateBindings(spec: CollectionSpec, options: GenOptions): string {
  const btf = spec.btf;
  const scope = new IdentifierScope([...LOADER_NAMES, ...GLOBAL_NAMES]);
  const emitter = new CodecEmitter(scope, spec.byteOrder === "little");
  const resolver = btf ? new ShapeResolver(btf, spec.byteOrder) : undefined;
  const shapeOf = (id: number | undefined, what: string): Shape | undefined => {
    if (id === undefined || id === 0 || !resolver) return undefined;
    try {
      return resolver.shape(id);
    } catch (e) {
      if (e instanceof GenError) throw new GenError(`${what}: ${e.message}`);
      throw e;
    }
  };

  // Everything the maps, variables and asked-for types reach, in that order.
  const maps: { spec: MapSpec; key?: Shape; value?: Shape }[] = [];
  for (const m of spec.maps.values()) {
    const entry: { spec: MapSpec; key?: Shape; value?: Shape } = { spec: m };
    if (!isDataSection(m)) {
      const key = shapeOf(m.keyType, `map ${m.name}: key`);
      const value = shapeOf(m.valueType, `map ${m.name}: value`);
      if (key) entry.key = key;
      if (value) entry.value = value;
      for (let inner = m.innerMap, depth = 0; inner && depth < 8; inner = inner.innerMap, depth++) {
        shapeOf(inner.keyType, `map ${m.name}: inner map key`);
        shapeOf(inner.valueType, `map ${m.name}: inner map value`);
      }
    }
    maps.push(entry);
  }
  const variables: { name: string; shape: Shape | undefined; size: number; readOnly: boolean; cType: string; map: string }[] = [];
  for (const v of spec.variables.values()) {
    variables.push({ name: v.label, shape: shapeOf(v.type, `variable ${v.label}`), size: v.size, readOnly: v.readOnly, cType: btf && v.type ? safeDescribe(btf, v.type) : `${v.size} bytes`, map: v.map });
  }
  for (const name of options.types ?? []) {
    const id = findNamedType(btf, name);
    const named = resolver?.namedType(id);
    if (!named) throw new GenError(`--type ${name}: ${btf ? safeDescribe(btf, id) : name} is not a struct, union or enum`);
  }

  const named: readonly NamedType[] = resolver?.named ?? [];
  emitter.name(named);
  const declarations = named.map((t) => emitter.declaration(t));

  const loaderMaps: LoaderMap[] = maps.map(({ spec: m, key, value }) => {
    const typed = key && value && !isDataSection(m) && hasPlainValues(m);
    return {
      name: m.name,
      description: `${m.typeName}${m.keyType !== undefined && btf ? ` ${safeDescribe(btf, m.keyType)} →` : ""}${m.valueType !== undefined && btf ? ` ${safeDescribe(btf, m.valueType)}` : ""}`,
      ...(typed ? { key: { ts: emitter.typeOf(key), codec: emitter.codecFor(key, `${m.name}_key`) }, value: { ts: emitter.typeOf(value), codec: emitter.codecFor(value, `${m.name}_value`) } } : {}),
    };
  });
  const loaderVariables: LoaderVariable[] = variables.map((v) => {
    const shape: Shape = v.shape ?? { kind: "bytes", size: v.size };
    return { name: v.name, ts: emitter.typeOf(shape), codec: emitter.codecFor(shape, `${v.name}_variable`), readOnly: v.readOnly, cType: v.cType, map: v.map };
  });
  const programs = [...spec.programs.values()].map((p) => ({ name: p.name, section: p.sectionName, autoload: p.autoload }));

  const loader = emitLoader({
    maps: loaderMaps,
    variables: loaderVariables,
    programs,
    object: "embed" in options.object ? { embed: options.object.embed, name: options.source ?? "object" } : { path: options.object.path },
    hasRecords: named.some((t) => t.kind === "record"),
  });

  const helpers = emitter.helperImport();
  const importFrom = options.importFrom ?? "tsebpf";
  const names = ["type Collection", "readCollectionSpec", "runtime", ...(loaderMaps.length ? ["type BpfMap"] : []), "type CollectionSpec"];
  const header = [
    `// Code generated by tsebpf gen${options.source ? ` from ${options.source}` : ""}. DO NOT EDIT.`,
    ...(options.command ? [`// Regenerate: ${options.command}`] : []),
    "//",
    `// Types and codecs for the object's ${spec.byteOrder}-endian layouts, and a typed loader.`,
  ].join("\n");
  const imports = [
    ...("path" in options.object ? [`import { readFileSync } from "node:fs";`] : []),
    `import { ${names.join(", ")} } from ${JSON.stringify(importFrom)};`,
    "",
    "/** A codec: a value's size and how it reads from and writes to bytes (tsebpf's runtime.Codec). */",
    "export type Codec<T> = runtime.Codec<T>;",
  ].join("\n");
  const sections = [header, imports, loader.support, emitter.viewSupportSource(), helpers, ...declarations, ...emitter.shapeCodecSources(), loader.source];
  return `${sections.filter((s) => s.trim() !== "").join("\n\n")}\n`;
}

/**
 * A module of types and codecs only (no loader, no object) for these types of `btf`, by id or
 * name, and what they reach: bindings for event structs of BTF without an object, say.
 */
export function generateTypes(btf: Btf, types: readonly (number | string)[], options: { readonly byteOrder?: "little" | "big"; readonly importFrom?: string } = {}): string {
  const byteOrder = options.byteOrder ?? btf.byteOrder;
  const scope = new IdentifierScope([...LOADER_NAMES, ...GLOBAL_NAMES]);
  const emitter = new CodecEmitter(scope, byteOrder === "little");
  const resolver = new ShapeResolver(btf, byteOrder);
  for (const t of types) {
    const id = typeof t === "number" ? t : findNamedType(btf, t);
    if (!resolver.namedType(id)) throw new GenError(`${safeDescribe(btf, id)} is not a named struct, union or enum`);
  }
  emitter.name(resolver.named);
  const declarations = resolver.named.map((t) => emitter.declaration(t));
  const helpers = emitter.helperImport();
  const support = emitLoader({ maps: [], variables: [], programs: [], object: { path: "" }, hasRecords: resolver.named.some((t) => t.kind === "record") }).support;
  const viewSupport = emitter.viewSupportSource();
  const imports = [
    `import ${helpers || support || viewSupport ? "" : "type "}{ runtime } from ${JSON.stringify(options.importFrom ?? "tsebpf")};`,
    "",
    "/** A codec: a value's size and how it reads from and writes to bytes (tsebpf's runtime.Codec). */",
    "export type Codec<T> = runtime.Codec<T>;",
  ].join("\n");
  const header = `// Code generated by tsebpf gen. DO NOT EDIT.\n//\n// Types and codecs for ${byteOrder}-endian layouts.`;
  return `${[header, imports, support, viewSupport, helpers, ...declarations].filter((x) => x.trim() !== "").join("\n\n")}\n`;
}

/** .data, .rodata, .bss, .kconfig and their named variants: read through variables. */
function isDataSection(m: MapSpec): boolean {
  return m.name.startsWith(".");
}

/** Maps whose values are data (not fds of programs or maps, not event streams). */
function hasPlainValues(m: MapSpec): boolean {
  return !/^(PROG_ARRAY|ARRAY_OF_MAPS|HASH_OF_MAPS|RINGBUF|USER_RINGBUF|PERF_EVENT_ARRAY|CGROUP_ARRAY|STACK_TRACE|SOCKMAP|SOCKHASH|DEVMAP|DEVMAP_HASH|CPUMAP|XSKMAP|REUSEPORT_SOCKARRAY|STRUCT_OPS|ARENA)$/.test(m.typeName);
}

function safeDescribe(btf: Btf, id: number): string {
  try {
    return describeType(btf, id);
  } catch {
    return `type ${id}`;
  }
}
