import { writeFileSync } from "node:fs";
import { basename, dirname, relative } from "node:path";
import type { Command } from "commander";
import { readCollectionSpec } from "../../index.js";
import { generateBindings } from "../../index.js";
import { CliError, readInput, type Output } from "../io.js";

export interface GenCommandOptions {
  /** The file to write (also what `--path` is relative to); stdout when absent. */
  readonly output?: string;
  readonly types?: readonly string[];
  readonly importFrom?: string;
  /** Reference the object by a path relative to the output instead of embedding it. */
  readonly path?: boolean;
}

/** The command line that regenerates these bindings, as the header records it. */
export function genCommandLine(object: string, o: GenCommandOptions): string {
  return [
    "tsebpf gen",
    object,
    ...(o.output ? ["-o", o.output] : []),
    ...(o.types ?? []).flatMap((t) => ["--type", /\s/.test(t) ? `'${t}'` : t]),
    ...(o.importFrom ? ["--import-from", o.importFrom] : []),
    ...(o.path ? ["--path"] : []),
  ].join(" ");
}

/** The TypeScript module `tsebpf gen` writes for this object (what the Makefile's `gen` target makes). */
export function genSource(object: string, o: GenCommandOptions): string {
  const bytes = readInput(object);
  const spec = readCollectionSpec(bytes);
  if (o.path && !o.output) throw new CliError("--path: give -o, the file the object's path is relative to");
  let path = "";
  if (o.path) {
    path = relative(dirname(o.output as string), object).split("\\").join("/");
    if (!path.startsWith(".")) path = `./${path}`;
  }
  return generateBindings(spec, {
    object: o.path ? { path } : { embed: bytes },
    source: basename(object),
    command: genCommandLine(object, o),
    ...(o.types ? { types: o.types } : {}),
    ...(o.importFrom ? { importFrom: o.importFrom } : {}),
  });
}

export function registerGen(program: Command, io: Output): void {
  program
    .command("gen")
    .description("generate a TypeScript module for an object: types and codecs of its structs, and a typed loader (like bpf2go or bpftool gen skeleton)")
    .argument("<object>", "a BPF object file (clang -g: its BTF gives the types)")
    .option("-o, --output <file>", "write the module to this file (default: standard output)")
    .option("--type <name...>", "also generate these types (struct, union, enum or typedef names: event, 'struct event', enum state)")
    .option("--import-from <module>", "the module the generated code imports tsebpf from", "tsebpf")
    .option("--embed", "embed the object in the module, base64 (the default)")
    .option("--path", "read the object at load time, by its path relative to the output file")
    .addHelpText(
      "after",
      `
The module holds, for the object:
  - an interface and a codec (EventCodec.decode(buf, offset) / .encode(value, out, offset),
    and EventCodec.fields: where each member is) for every named struct, union and enum its
    maps (keys, values, inner maps), its global variables and the --type names reach: 64-bit
    integers as bigint, char[] as strings, u8[] as Uint8Array, bitfields, unions (every member
    read; encode writes the members given), enums as a const of their values and a union type;
  - a view class for every struct and union (EventView): getters reading each member in place,
    view.at(buf, offset) re-pointing it without allocating, toObject(); the zero-allocation way
    to read events: ring.consume((ev) => …, { view: EventView }) (also perf readers, on, records);
  - load(options): options typed by the object (variables: { min_duration_ns?: bigint },
    programs, maxEntries by map name, pinPath …), a result with programs.NAME, maps.NAME,
    typedMaps.NAME (keys and values decoded), variables.NAME.get()/set(), close() and
    [Symbol.dispose]; bind(collection) does the same for a collection you loaded.

A type that only the C source knows (an event written to a ring buffer, say) is not in BTF
unless something uses it: keep it with an unused typed pointer or variable in the C source,
  struct event *unused_event __attribute__((unused));
and name it with --type event.

Examples:
  tsebpf gen bootstrap.bpf.o -o bootstrap.ts --type event
  tsebpf gen prog.bpf.o -o src/prog.gen.ts --path            # the object stays a file next to it
  tsebpf gen prog.bpf.o --import-from ../lib/tsebpf/index.js > prog.ts`,
    )
    .action((object: string, opts: { output?: string; type?: string[]; importFrom: string; embed?: boolean; path?: boolean }) => {
      if (opts.embed && opts.path) throw new CliError("--embed and --path: choose one");
      const source = genSource(object, {
        ...(opts.output ? { output: opts.output } : {}),
        ...(opts.type ? { types: opts.type } : {}),
        ...(opts.importFrom !== "tsebpf" ? { importFrom: opts.importFrom } : {}),
        ...(opts.path ? { path: true } : {}),
      });
      if (opts.output) writeFileSync(opts.output, source);
      else io.out(source);
    });
}
