/**
 * The `tsebpf` command: every subcommand registered on one commander program.
 *
 * Start-up is lazy: each subcommand is listed by its name and description from `COMMANDS`, and
 * only the module of the subcommand the arguments select is imported (with the library parts it
 * uses). `tsebpf --version` and `tsebpf --help` import none of them; `tsebpf prog …` imports only
 * the prog command. The selected command is registered in full, so `tsebpf prog --help` shows
 * every option. (main.ts answers a lone `--version` before loading even this module.)
 */
import { Command, CommanderError, Help } from "commander";
import { processOutput, type Output } from "./io.js";
import { packageVersion } from "./version.js";

/** What a command module exports: adds its command (one, named as in `COMMANDS`) to the program. */
export type Register = (program: Command, io: Output) => void;

/** A subcommand: what `tsebpf --help` lists, and how to load the rest of it. */
export interface CommandEntry {
  readonly name: string;
  /** What `tsebpf --help` shows after the name: `[options]` and the arguments, as commander would. */
  readonly usage?: string;
  readonly description: string;
  readonly load: () => Promise<Register>;
}

/**
 * Every subcommand, in the order `tsebpf --help` lists them. Names, usages and descriptions must
 * match what the modules register (test/cli/lazy.test.ts checks it).
 */
export const COMMANDS: readonly CommandEntry[] = [
  { name: "asm", usage: "[options] <file>", description: "assemble LLVM-syntax BPF assembly (what llvm-mc -triple=bpf accepts)", load: async () => (await import("./commands/asm.js")).registerAsm },
  {
    name: "disasm",
    usage: "[options] [files...]",
    description: "disassemble ELF objects or raw BPF instructions to LLVM syntax, as llvm-objdump -d prints them",
    load: async () => (await import("./commands/disasm.js")).registerDisasm,
  },
  {
    name: "inspect",
    usage: "[options] <object>",
    description: "show what a BPF object file holds: programs, maps, variables, externs, BTF, relocations",
    load: async () => (await import("./commands/inspect.js")).registerInspect,
  },
  { name: "load", usage: "[options] <object>", description: "load an object's maps and programs into the kernel (exit 0 only when all load)", load: async () => (await import("./commands/load.js")).registerLoad },
  { name: "prog", description: "loaded BPF programs: list, show, dump, run, tracelog", load: async () => (await import("./commands/prog.js")).registerProg },
  { name: "map", description: "BPF maps: list, show, dump, lookup, update, delete (keys and values as hex bytes)", load: async () => (await import("./commands/map.js")).registerMap },
  {
    name: "link",
    usage: "[options] [objects...]",
    description: "link BPF objects into one (a.o b.o -o out.o), or bpf_links: list, show, detach",
    load: async () => (await import("./commands/link.js")).registerLink,
  },
  {
    name: "probe",
    usage: "[options]",
    description: "which map, program and link types (and trampoline kinds, struct_ops registration) this kernel supports; a 'no' says the kernel's errno",
    load: async () => (await import("./commands/probe.js")).registerProbe,
  },
  { name: "btf", description: "BTF type information: dump as C (vmlinux.h), raw text or JSON", load: async () => (await import("./commands/btf.js")).registerBtf },
  {
    name: "gen",
    usage: "[options] <object>",
    description: "generate a TypeScript module for an object: types and codecs of its structs, and a typed loader (like bpf2go or bpftool gen skeleton)",
    load: async () => (await import("./commands/gen.js")).registerGen,
  },
  { name: "helpers", usage: "[options] [name-or-id]", description: "list BPF helper functions: id, name and C prototype", load: async () => (await import("./commands/helpers.js")).registerHelpers },
  {
    name: "packetfilter",
    usage: "[options]",
    description: "XDP filter: pass or drop incoming IPv4/IPv6 packets by source address or prefix",
    load: async () => (await import("../programs/packetfilter/cli.js")).registerPacketfilter,
  },
  {
    name: "loadbalancer",
    usage: "[options]",
    description:
      "XDP layer-4 load balancer with direct server return: packets for the VIP go to a backend chosen by Maglev hashing, replies bypass it",
    load: async () => (await import("../programs/loadbalancer/cli.js")).registerLoadbalancer,
  },
  {
    name: "comtrace",
    usage: "[options]",
    description: "trace TCP connection lifetimes (sock:inet_sock_set_state): owner, addresses, bytes and duration of each connection as it closes",
    load: async () => (await import("../programs/comtrace/cli.js")).registerComtrace,
  },
  {
    name: "jittergen",
    usage: "[options]",
    description: "network-condition simulator on TC egress: drop, delay (jitter), reorder, duplicate, corrupt and pace selected packets",
    load: async () => (await import("../programs/jittergen/cli.js")).registerJittergen,
  },
  {
    name: "lsmbpf",
    usage: "[options]",
    description: "chroot guard for containers: a process in another PID namespace that chroots into the host's root is denied (BPF LSM, EPERM) or killed (signal engine)",
    load: async () => (await import("../programs/lsmbpf/cli.js")).registerLsmbpf,
  },
];

/**
 * The subcommand the arguments name: the first argument that is not an option (the root program
 * has only --version and --help, which take no value), or the one after `help`.
 */
export function selectedCommand(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith("-"));
  return words[0] === "help" ? words[1] : words[0];
}

/**
 * The program with every subcommand: those in `load` (names) in full, the others by name and
 * description only (enough for `tsebpf --help` and for "did you mean" on a typo).
 */
export async function createProgram(io: Output = processOutput, load: readonly string[] = COMMANDS.map((c) => c.name)): Promise<Command> {
  const registers = new Map<string, Register>();
  await Promise.all(COMMANDS.filter((c) => load.includes(c.name)).map(async (c) => registers.set(c.name, await c.load())));
  const program = new Command("tsebpf")
    .description("a pure-TypeScript eBPF toolchain: assemble, disassemble, inspect, link, load and generate bindings for BPF programs; and five programs built on it (packetfilter, loadbalancer, comtrace, lsmbpf, jittergen)")
    .version(packageVersion())
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  for (const entry of COMMANDS) {
    const register = registers.get(entry.name);
    if (register) register(program, io);
    else program.command(entry.name).description(entry.description);
  }
  // The list in `tsebpf --help` reads the same whether a command is loaded or not. Set last, so
  // that the subcommands (which copy the root's settings when created) keep the default help.
  const terms = new Map(COMMANDS.map((c) => [c.name, c.usage ? `${c.name} ${c.usage}` : c.name]));
  const defaultHelp = new Help();
  program.configureHelp({ subcommandTerm: (cmd) => terms.get(cmd.name()) ?? defaultHelp.subcommandTerm(cmd) });
  return program;
}

/** Runs the CLI with user arguments; returns the exit code. Errors are one line on stderr. */
export async function run(argv: string[], io: Output = processOutput): Promise<number> {
  try {
    const selected = selectedCommand(argv);
    const program = await createProgram(io, selected === undefined ? [] : [selected]);
    program.commands.forEach((c) => c.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err }));
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const message = e instanceof Error ? e.message : String(e);
    io.err(`tsebpf: ${message}\n`);
    return 1;
  }
}
