/**
 * `tsebpf load --type`: set program types before load, like bpftool's `prog load … type TYPE`.
 * `TYPE` sets every program whose section name gives no type; `NAME=TYPE` one program (overriding
 * what its section says). Then any program still without a type that would load stops the load
 * with one line naming each (nothing is created in the kernel).
 */
import { abi, elf, type CollectionSpec } from "../../index.js";
import { CliError } from "../io.js";

/** Applies the --type values to the spec, then checks that every program to load has a type. */
export function applyTypeOptions(spec: CollectionSpec, values: readonly string[], selected: readonly string[] | undefined): void {
  const all: string[] = [];
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq === 0 || eq === value.length - 1) throw new CliError(`--type: expected TYPE or NAME=TYPE, not '${value}'`);
    if (eq < 0) {
      all.push(value);
      continue;
    }
    const name = value.slice(0, eq);
    const program = spec.programs.get(name);
    if (!program) throw new CliError(`--type ${value}: no program "${name}" in this object (there are: ${[...spec.programs.keys()].join(", ") || "none"})`);
    setType(program, value.slice(eq + 1), `--type ${value}`);
  }
  if (all.length > 1) throw new CliError(`--type: one TYPE for the programs without one (given: ${all.join(", ")}); use NAME=TYPE for the others`);
  const type = all[0];
  if (type !== undefined) {
    const untyped = [...spec.programs.values()].filter((p) => p.programType === abi.ProgramType.UNSPEC);
    if (untyped.length === 0) throw new CliError(`--type ${type}: every program's section name gives its type already; use NAME=TYPE to override one`);
    for (const p of untyped) setType(p, type, `--type ${type}`);
  }
  const wanted = selected ?? [...spec.programs.values()].filter((p) => p.autoload).map((p) => p.name);
  elf.checkProgramTypes(spec, wanted);
}

function setType(program: Parameters<typeof elf.setProgramType>[0], type: string, option: string): void {
  try {
    elf.setProgramType(program, type);
  } catch (e) {
    if (e instanceof elf.ProgramTypeError) throw new CliError(`${option}: ${e.message}`);
    throw e;
  }
}
