import type { Command } from "commander";
import { abi, runtime } from "../../index.js";
import type { Output } from "../io.js";

export function registerProbe(program: Command, io: Output): void {
  program
    .command("probe")
    .description("which map, program and link types this kernel supports")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => {
      const probe = <K extends string>(names: K[], f: (n: K) => boolean) => Object.fromEntries(names.filter((n) => n !== "UNSPEC").map((n) => [n.toLowerCase(), f(n)]));
      const result = {
        map_types: probe(Object.keys(abi.MapType) as abi.MapTypeName[], runtime.mapTypeSupported),
        program_types: probe(Object.keys(abi.ProgramType) as abi.ProgramTypeName[], runtime.programTypeSupported),
        link_types: probe(Object.keys(abi.LinkType) as (keyof typeof abi.LinkType)[], runtime.linkTypeSupported),
      };
      if (opts.json) {
        io.out(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      for (const [group, entries] of Object.entries(result)) {
        io.out(`${group.replace("_", " ")}:\n`);
        for (const [name, ok] of Object.entries(entries)) io.out(`  ${name.padEnd(28)} ${ok ? "yes" : "no"}\n`);
      }
    });
}
