/** The `tsebpf` command: every subcommand registered on one commander program. */
import { Command, CommanderError } from "commander";
import { readFileSync } from "node:fs";
import { registerAsm } from "./commands/asm.js";
import { registerDisasm } from "./commands/disasm.js";
import { registerBtf } from "./commands/btf.js";
import { registerHelpers } from "./commands/helpers.js";
import { registerInspect } from "./commands/inspect.js";
import { registerLink } from "./commands/link.js";
import { registerLoad } from "./commands/load.js";
import { registerMap } from "./commands/map.js";
import { registerProbe } from "./commands/probe.js";
import { registerProg } from "./commands/prog.js";
import { processOutput, type Output } from "./io.js";
import { registerLoadbalancer } from "../programs/loadbalancer/cli.js";
import { registerPacketfilter } from "../programs/packetfilter/cli.js";

const version = (): string => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
};

export function createProgram(io: Output = processOutput): Command {
  const program = new Command("tsebpf")
    .description("a pure-TypeScript eBPF toolchain: assemble, disassemble, inspect and load BPF programs")
    .version(version())
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  registerAsm(program, io);
  registerDisasm(program, io);
  registerInspect(program, io);
  registerLoad(program, io);
  registerProg(program, io);
  registerMap(program, io);
  registerLink(program, io);
  registerProbe(program, io);
  registerBtf(program, io);
  registerHelpers(program, io);
  registerPacketfilter(program, io);
  registerLoadbalancer(program, io);
  return program;
}

/** Runs the CLI with user arguments; returns the exit code. Errors are one line on stderr. */
export async function run(argv: string[], io: Output = processOutput): Promise<number> {
  const program = createProgram(io);
  program.commands.forEach((c) => c.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err }));
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const message = e instanceof Error ? e.message : String(e);
    io.err(`tsebpf: ${message}\n`);
    return 1;
  }
}
