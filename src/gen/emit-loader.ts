/**
 * The loader part of a generated module: the object (embedded or by path), names of its programs
 * and maps as string literal types, the variables' types, `load(options)` and `bind(collection)`
 * whose result has every program, map and variable as a property.
 */
import { propertyKey, stringLiteral } from "./names.js";

export interface LoaderMap {
  readonly name: string;
  /** `HASH struct flow_key → struct flow_backend`. */
  readonly description: string;
  /** Present for maps with a typed view: the TypeScript types and codecs of keys and values. */
  readonly key?: { readonly ts: string; readonly codec: string };
  readonly value?: { readonly ts: string; readonly codec: string };
}

export interface LoaderVariable {
  readonly name: string;
  readonly ts: string;
  readonly codec: string;
  readonly readOnly: boolean;
  readonly cType: string;
  readonly map: string;
}

export interface LoaderInput {
  readonly maps: readonly LoaderMap[];
  readonly variables: readonly LoaderVariable[];
  readonly programs: readonly { readonly name: string; readonly section: string; readonly autoload: boolean }[];
  readonly object: { readonly embed: Uint8Array; readonly name: string } | { readonly path: string };
  /** The module has struct or union codecs: declare FieldLayout, RecordCodec and fieldBytes. */
  readonly hasRecords: boolean;
}

/** Identifiers the loader and the imports take: types of the object get other names. */
export const LOADER_NAMES = [
  "Codec",
  "CodecError",
  "Collection",
  "readCollectionSpec",
  "runtime",
  "BpfMap",
  "CollectionOptions",
  "CollectionSpec",
  "Program",
  "readFileSync",
  "FieldLayout",
  "RecordCodec",
  "fieldBytes",
  "OBJECT",
  "OBJECT_URL",
  "objectBytes",
  "loadSpec",
  "ProgramName",
  "AutoloadProgramName",
  "MapName",
  "VariableValues",
  "Variable",
  "ConstVariable",
  "Variables",
  "Maps",
  "TypedMaps",
  "LoadOptions",
  "Loaded",
  "VARIABLE_CODECS",
  "load",
  "bind",
  "lazily",
  "recordCodec",
  "valueCodec",
  "scalarCodec",
  "GeneratedView",
  "recordView",
  "viewOf",
  "viewRoom",
  "ArrayView",
  "checkInt",
  "checkBig",
  "checkNum",
  "checkList",
  "checkRecord",
  "readText",
  "writeText",
  "readBytes",
  "writeBytes",
  "readBits",
  "writeBits",
  "readBitsBig",
  "writeBitsBig",
  "readInt128",
  "writeInt128",
];

const union = (names: readonly string[]): string => (names.length === 0 ? "never" : names.map(stringLiteral).join(" | "));

export function emitLoader(input: LoaderInput): { support: string; source: string } {
  const support = input.hasRecords ? RECORD_SUPPORT : "";

  const parts: string[] = ["// ---- the object and its loader ----"];
  if ("embed" in input.object) {
    const embed = input.object.embed;
    const text = Buffer.from(embed.buffer, embed.byteOffset, embed.byteLength).toString("base64");
    const lines: string[] = [];
    for (let i = 0; i < text.length; i += 100) lines.push(`  ${stringLiteral(text.slice(i, i + 100))},`);
    parts.push(
      `/** The object file (${input.object.name}, ${input.object.embed.byteLength} bytes), base64. */\nconst OBJECT = [\n${lines.join("\n")}\n].join("");`,
      `/** The object file's bytes (a new copy each call). */\nexport function objectBytes(): Uint8Array {\n  return Buffer.from(OBJECT, "base64");\n}`,
    );
  } else {
    const path = input.object.path.startsWith(".") ? input.object.path : `./${input.object.path}`;
    parts.push(
      `/** The object file, found relative to this module. */\nexport const OBJECT_URL = new URL(${stringLiteral(path)}, import.meta.url);`,
      `/** The object file's bytes (read each call). */\nexport function objectBytes(): Uint8Array {\n  return readFileSync(OBJECT_URL);\n}`,
    );
  }
  parts.push(`/** The object's spec, parsed anew each call: adjust it, then \`load({ spec })\`. */\nexport function loadSpec(): CollectionSpec {\n  return readCollectionSpec(objectBytes());\n}`);

  const programs = input.programs;
  parts.push(
    `/** Every program of the object. */\nexport type ProgramName = ${union(programs.map((p) => p.name))};`,
    `/** The programs \`load()\` loads unless told which (those whose section has no \`?\` prefix). */\nexport type AutoloadProgramName = ${union(programs.filter((p) => p.autoload).map((p) => p.name))};`,
    `/** Every map of the object (data sections too: \`.rodata\`, \`.bss\` …). */\nexport type MapName = ${union(input.maps.map((m) => m.name))};`,
  );

  const vars = input.variables;
  const doc = (v: LoaderVariable) => `  /** ${v.cType}, in ${v.map}${v.readOnly ? " (a constant once loaded)" : ""} */`;
  parts.push(
    `/** The global variables' values: what \`load({ variables })\` sets before load. */\nexport interface VariableValues {${vars.length ? `\n${vars.map((v) => `${doc(v)}\n  ${propertyKey(v.name)}: ${v.ts};`).join("\n")}\n` : ""}}`,
    `/** A global variable after load: \`get()\` reads what the programs see, \`set()\` changes it (mapped memory where the kernel allows: no system call). */\nexport type Variable<T> = runtime.GlobalVariable<T>;`,
    `/** A \`.rodata\` variable after load: a constant to the programs, readable only. */\nexport type ConstVariable<T> = Omit<runtime.GlobalVariable<T>, "set">;`,
    `/** The global variables of a loaded object. */\nexport interface Variables {${vars.length ? `\n${vars.map((v) => `${doc(v)}\n  readonly ${propertyKey(v.name)}: ${v.readOnly ? "ConstVariable" : "Variable"}<${v.ts}>;`).join("\n")}\n` : ""}}`,
    `/** The maps of a loaded object. */\nexport interface Maps {${input.maps.length ? `\n${input.maps.map((m) => `  /** ${m.description} */\n  readonly ${propertyKey(m.name)}: BpfMap;`).join("\n")}\n` : ""}}`,
  );
  const typed = input.maps.filter((m) => m.key && m.value);
  parts.push(
    `/** The maps whose keys and values have types, with typed get/set/delete/entries. */\nexport interface TypedMaps {${typed.length ? `\n${typed.map((m) => `  readonly ${propertyKey(m.name)}: runtime.TypedMap<${m.key?.ts}, ${m.value?.ts}>;`).join("\n")}\n` : ""}}`,
    `/** Options of \`load\`: those of Collection.load, with the object's own names and types (\`variables\`, \`programs\`, \`maxEntries\`, \`spec\`). */
export interface LoadOptions<P extends ProgramName = AutoloadProgramName> extends runtime.genSupport.GeneratedLoadOptionsOf<P, VariableValues, MapName> {}`,
    `/** A loaded object: its programs, maps and variables by name, closed together (\`close()\`). */
export interface Loaded<P extends ProgramName = AutoloadProgramName> extends runtime.genSupport.GeneratedLoaded<P, Maps, TypedMaps, Variables> {}`,
    `const VARIABLE_CODECS: { readonly [K in keyof VariableValues]: Codec<VariableValues[K]> } = {${vars.length ? `\n${vars.map((v) => `  ${propertyKey(v.name)}: ${v.codec},`).join("\n")}\n` : ""}};`,
    `/**
 * Loads the object (or \`options.spec\`): maps, then programs, variables set first. Throws, leaving
 * nothing loaded, when any part fails.
 */
export function load<P extends ProgramName = AutoloadProgramName>(options: LoadOptions<P> = {}): Loaded<P> {
  return runtime.genSupport.loadGenerated(options, loadSpec, VARIABLE_CODECS, (collection) => bind<P>(collection));
}`,
    `/** The programs, maps and variables of a collection loaded from this object, by name and typed. */
export function bind<P extends ProgramName = AutoloadProgramName>(collection: Collection): Loaded<P> {
  const maps: Maps = {${input.maps.length ? `\n${input.maps.map((m) => `    ${propertyKey(m.name)}: collection.map(${stringLiteral(m.name)}),`).join("\n")}\n  ` : ""}};
  return runtime.genSupport.bindGenerated<P, Maps, TypedMaps, Variables>(
    collection,
    maps,
    {${typed.length ? `\n${typed.map((m) => `      ${propertyKey(m.name)}: () => new runtime.TypedMap(collection.map(${stringLiteral(m.name)}), ${m.key?.codec}, ${m.value?.codec}),`).join("\n")}\n    ` : ""}},
    {${vars.length ? `\n${vars.map((v) => `      ${propertyKey(v.name)}: () => collection.variable(${stringLiteral(v.name)}, ${v.codec}),`).join("\n")}\n    ` : ""}},
  );
}`,
  );
  return { support, source: parts.join("\n\n") };
}

/** The declarations of a module with struct or union codecs: the library's, under the same names. */
const RECORD_SUPPORT = `/** Where a member of a struct or union is: its byte offset and size; for a bitfield, its bit offset from the record's start and its width (tsebpf's runtime.FieldLayout). */
export type FieldLayout = runtime.FieldLayout;

/**
 * The codec of a struct or union, with where each of its members is (\`fields\`) and \`view(buf,
 * offset)\`: a view \`V\` of the record, read in place (tsebpf's runtime.RecordCodec).
 */
export type RecordCodec<T, F extends string, V> = runtime.RecordCodec<T, F, V>;

/**
 * The bytes of a member of the record at \`offset\` of \`buf\` (a view, not a copy): what a
 * \`char[]\` member's string was read from, say: \`fieldBytes(buf, 0, EventCodec.fields.comm)\`.
 */
export const fieldBytes = runtime.fieldBytes;`;
