import { mkdirSync } from "node:fs";
import type { Command } from "commander";
import { Collection, VerifierError, readCollectionSpec, type CollectionOptions } from "../../index.js";
import { readInput, type Output } from "../io.js";
import { programTypeName } from "./prog.js";

export function registerLoad(program: Command, io: Output): void {
  program
    .command("load")
    .description("load an object's maps and programs into the kernel (exit 0 only when all load)")
    .argument("<object>", "a clang-built BPF object")
    .option("--pin <dir>", "pin programs at DIR/<name> and maps at DIR/maps/<name> (bpffs), so they stay after exit")
    .option("-p, --program <name...>", "load only these programs (default: every program not in a ?-section)")
    .option("--log-level <n>", "verifier log level for successful loads (1 basic, 2 verbose)", "0")
    .option("--verbose", "on a verifier rejection, print the whole log")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      `
Without --pin the objects are released when tsebpf exits: a load check, like a dry run of the
verifier. Maps declared with pinning by name are pinned (or reused) under --pin DIR/maps.

Examples:
  tsebpf load prog.bpf.o                       # does every program pass the verifier?
  tsebpf load prog.bpf.o --pin /sys/fs/bpf/app`,
    )
    .action((file: string, opts: { pin?: string; program?: string[]; logLevel: string; verbose?: boolean; json?: boolean }) => {
      const spec = readCollectionSpec(readInput(file));
      const options: CollectionOptions = {
        logLevel: Number(opts.logLevel),
        ...(opts.program ? { programs: opts.program } : {}),
        ...(opts.pin ? { pinPath: `${opts.pin}/maps` } : {}),
      };
      if (opts.pin) mkdirSync(`${opts.pin}/maps`, { recursive: true });
      let c: Collection;
      try {
        c = Collection.load(spec, options);
      } catch (e) {
        if (e instanceof VerifierError && opts.verbose) io.err(`${e.log}\n`);
        throw e;
      }
      try {
        if (opts.pin) for (const [name, p] of c.programs) p.pin(`${opts.pin}/${name}`);
        const programs = [...c.programs].map(([name, p]) => {
          const info = p.info();
          return { name, id: info.id, type: programTypeName(info.type), verified_insns: info.verifiedInstructions, ...(opts.pin ? { pinned: `${opts.pin}/${name}` } : {}) };
        });
        const maps = [...c.maps].map(([name, m]) => ({ name, id: m.info().id }));
        if (opts.json) {
          io.out(`${JSON.stringify({ programs, maps }, null, 2)}\n`);
        } else {
          for (const p of programs) io.out(`program ${p.name}: id ${p.id}, ${p.type}, ${p.verified_insns} instructions verified${p.pinned ? `, pinned at ${p.pinned}` : ""}\n`);
          for (const m of maps) io.out(`map ${m.name}: id ${m.id}\n`);
        }
        if (options.logLevel) for (const [name, p] of c.programs) io.err(`--- verifier log of ${name}\n${p.verifierLog}\n`);
      } finally {
        c.close();
      }
    });
}
