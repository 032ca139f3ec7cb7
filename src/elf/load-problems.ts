/**
 * Why a program would not load, as far as the object alone tells (no kernel asked): what
 * `inspect --json` reports per program (`wouldNotLoad`), and the check Collection.load makes
 * before its first system call.
 *
 * To add a reason: give LoadProblemKind a new member and push it in loadProblems (one function per
 * reason, pure, reading only the spec).
 */
import { ProgramType } from "../abi/index.js";
import { TsebpfError } from "../errors.js";
import type { CollectionSpec, ProgramSpec } from "./spec.js";

/**
 * What kind of problem: `unspecified-type` — the section name gives no program type and none was
 * set; `unresolved-symbol` — the program refers to a symbol the object does not define.
 */
export type LoadProblemKind = "unspecified-type" | "unresolved-symbol";

/** One reason a program would not load. */
export interface LoadProblem {
  readonly kind: LoadProblemKind;
  /** One line for a person, naming the program and what to do. */
  readonly message: string;
}

/** How to set a type, for messages. */
export const HOW_TO_SET_TYPE = "set one before load: --type TYPE or --type NAME=TYPE (tsebpf load), setProgramType(program, TYPE) (library)";

function unspecifiedType(p: ProgramSpec): LoadProblem | undefined {
  if (p.programType !== ProgramType.UNSPEC) return undefined;
  return { kind: "unspecified-type", message: `program ${p.name} (section ${JSON.stringify(p.sectionName)}) has an unspecified type: no section-name rule knows its section; ${HOW_TO_SET_TYPE}` };
}

function unresolvedSymbols(p: ProgramSpec): LoadProblem[] {
  const seen = new Set<string>();
  return p.unresolved.flatMap((r) => {
    if (seen.has(r.symbol)) return [];
    seen.add(r.symbol);
    const how = r.kind === "load" ? `resolve it to a constant before load: --const ${r.symbol}=VALUE (tsebpf load), resolveSymbol(spec, "${r.symbol}", value) (library)` : "a function the object calls but does not define: link it with the object that does";
    return [{ kind: "unresolved-symbol" as const, message: `program ${p.name}: unresolved symbol ${r.symbol} (instruction ${r.instruction}); ${how}` }];
  });
}

/** Every reason known without a kernel that `program` of `spec` would not load (empty: none known). */
export function loadProblems(spec: CollectionSpec, program: ProgramSpec): LoadProblem[] {
  void spec; // reasons that need the whole object (unresolved symbols, …) read it
  const problems: LoadProblem[] = [];
  const unspecified = unspecifiedType(program);
  if (unspecified) problems.push(unspecified);
  problems.push(...unresolvedSymbols(program));
  return problems;
}

/**
 * Programs asked to load whose type is still unspecified: one error naming each (name and
 * section) and how to set a type. Thrown by Collection.load before it makes any system call.
 */
export class UnspecifiedProgramTypeError extends TsebpfError {
  override readonly name = "UnspecifiedProgramTypeError";

  constructor(readonly programs: readonly { readonly name: string; readonly section: string }[]) {
    const list = programs.map((p) => `${p.name} (section ${JSON.stringify(p.section)})`).join(", ");
    const one = programs.length === 1;
    super(`program${one ? "" : "s"} ${list} ${one ? "has an" : "have"} unspecified type${one ? "" : "s"}: no section-name rule knows ${one ? "its section" : "their sections"}; ${HOW_TO_SET_TYPE}`);
  }
}

/** Throws UnspecifiedProgramTypeError when any of the named programs (those in the spec) has no type. */
export function checkProgramTypes(spec: CollectionSpec, names: Iterable<string>): void {
  const unspecified: { name: string; section: string }[] = [];
  for (const name of names) {
    const p = spec.programs.get(name);
    if (p && unspecifiedType(p)) unspecified.push({ name: p.name, section: p.sectionName });
  }
  if (unspecified.length > 0) throw new UnspecifiedProgramTypeError(unspecified);
}
