/**
 * Unresolved references: symbols an object uses but neither defines nor declares as a `.kconfig`
 * or `.ksyms` extern (inline assembly's `r0 = MY_CONST ll`, a forward-declared variable or
 * function). They are kept by name on each program; the user resolves one to a constant before
 * load (`resolveSymbol`, in the spirit of cilium/ebpf's RewriteConstant), and the loader refuses
 * a program that still has one, naming it.
 */
import { LD_IMM64, PseudoLd, splitConstant, type Instruction } from "../asm/index.js";
import { NotFoundError, TsebpfError } from "../errors.js";
import type { CollectionSpec, ProgramSpec, UnresolvedReference } from "./spec.js";

/** A program still refers to an undefined symbol: it cannot be loaded as it is. */
export class UnresolvedSymbolError extends TsebpfError {
  override readonly name = "UnresolvedSymbolError";
  constructor(
    readonly program: string,
    readonly references: readonly UnresolvedReference[],
  ) {
    const names = [...new Set(references.map((r) => r.symbol))];
    const first = references[0] as UnresolvedReference;
    super(
      `program "${program}": unresolved symbol${names.length > 1 ? "s" : ""} ${names.join(", ")} (instruction ${first.instruction}, ${first.kind === "load" ? "a 64-bit load" : "a call"}): ` +
        (first.kind === "load" ? `resolve it to a constant before load (resolveSymbol(spec, "${first.symbol}", value); tsebpf load --const ${first.symbol}=VALUE)` : "the object calls a function it does not define (link it with the object that does)"),
    );
  }
}

/** A constant cannot stand for this reference, or the value is no 64-bit integer. */
export class ResolveSymbolError extends TsebpfError {
  override readonly name = "ResolveSymbolError";
}

/** The references of a linked program's instructions to the undefined symbols `names`. */
export function unresolvedReferences(instructions: readonly Instruction[], names: ReadonlySet<string>): UnresolvedReference[] {
  const out: UnresolvedReference[] = [];
  instructions.forEach((ins, i) => {
    if (ins.reference === undefined || !names.has(ins.reference)) return;
    out.push({ symbol: ins.reference, instruction: i, kind: ins.opcode === LD_IMM64 ? "load" : "call" });
  });
  return out;
}

/** Every symbol still unresolved in the spec's programs (or in the programs named), each once, in order. */
export function unresolvedSymbols(spec: CollectionSpec, programs?: readonly string[]): string[] {
  const names = new Set<string>();
  for (const p of spec.programs.values()) {
    if (programs && !programs.includes(p.name)) continue;
    for (const r of p.unresolved) names.add(r.symbol);
  }
  return [...names];
}

function toConstant(name: string, value: bigint | number): bigint {
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new ResolveSymbolError(`symbol ${name}: ${value} is not an integer (give a bigint above 2^53)`);
  const v = BigInt(value);
  if (v < -(1n << 63n) || v >= 1n << 64n) throw new ResolveSymbolError(`symbol ${name}: ${v} does not fit 64 bits`);
  return v;
}

function resolveIn(p: ProgramSpec, name: string, value: bigint): number {
  const hits = p.unresolved.filter((r) => r.symbol === name);
  if (hits.length === 0) return 0;
  const instructions = [...p.instructions];
  for (const r of hits) {
    const ins = instructions[r.instruction] as Instruction;
    // The relocation's addend stays in imm (`r0 = MY_CONST + 8 ll`).
    const { reference: _dropped, ...rest } = ins;
    void _dropped;
    instructions[r.instruction] = { ...rest, src: PseudoLd.NONE, ...splitConstant(value + BigInt(ins.imm)) };
  }
  p.instructions = instructions;
  p.unresolved = p.unresolved.filter((r) => r.symbol !== name);
  return hits.length;
}

/**
 * Resolves an undefined symbol to a constant in every program that loads it (`r0 = NAME ll`
 * becomes `r0 = value ll`), changing the spec in place like setVariable. Returns how many
 * instructions changed. NotFoundError (listing the unresolved symbols) when no program refers
 * to it; ResolveSymbolError when a program calls it or the value is no 64-bit integer.
 */
export function resolveSymbol(spec: CollectionSpec, name: string, value: bigint | number): number {
  const v = toConstant(name, value);
  const available = unresolvedSymbols(spec);
  if (!available.includes(name)) throw new NotFoundError("unresolved symbol", name, available, "in this object");
  // Check every program before changing any: a refusal changes nothing.
  for (const p of spec.programs.values()) {
    const call = p.unresolved.find((r) => r.symbol === name && r.kind === "call");
    if (call) throw new ResolveSymbolError(`program "${p.name}": symbol ${name} is called (instruction ${call.instruction}): only a 64-bit load takes a constant`);
  }
  let n = 0;
  for (const p of spec.programs.values()) n += resolveIn(p, name, v);
  return n;
}

/** resolveSymbol for each name and value (cilium's RewriteConstants): all are checked before any is applied. */
export function rewriteConstants(spec: CollectionSpec, values: Readonly<Record<string, bigint | number>>): void {
  const available = unresolvedSymbols(spec);
  for (const [name, value] of Object.entries(values)) {
    toConstant(name, value);
    if (!available.includes(name)) throw new NotFoundError("unresolved symbol", name, available, "in this object");
  }
  for (const [name, value] of Object.entries(values)) resolveSymbol(spec, name, value);
}

/** A copy of the spec with the constants resolved; the spec given is left as it is (what the loader uses). */
export function withConstants(spec: CollectionSpec, values: Readonly<Record<string, bigint | number>>): CollectionSpec {
  if (Object.keys(values).length === 0) return spec;
  const programs = new Map([...spec.programs].map(([k, p]) => [k, { ...p }]));
  const copy: CollectionSpec = { ...spec, programs };
  rewriteConstants(copy, values);
  return copy;
}

/** Throws UnresolvedSymbolError for the first of these programs that still has an unresolved reference. */
export function refuseUnresolved(spec: CollectionSpec, programs: readonly string[]): void {
  for (const name of programs) {
    const p = spec.programs.get(name);
    if (p && p.unresolved.length > 0) throw new UnresolvedSymbolError(p.name, p.unresolved);
  }
}
