/**
 * Turning a program spec's symbolic references into what the kernel takes: map fds, data-map
 * offsets, kernel BTF ids of ksyms and kfuncs, kallsyms addresses — and the BTF id of the kernel
 * function or tracepoint a tracing program attaches to.
 */
import { LD_IMM64, PseudoCall, PseudoLd, splitConstant, type Instruction } from "../asm/index.js";
import type { Btf } from "../btf/index.js";
import type { ExternSpec, ProgramSpec } from "../elf/index.js";
import { NotSupportedError } from "./errors.js";
import { kallsyms } from "./ksyms.js";

/** A reference that cannot be resolved: names the program, the symbol and why. */
export class ResolveError extends Error {
  override readonly name = "ResolveError";
}

export interface ReferenceContext {
  readonly mapFd: (name: string) => number | undefined;
  readonly externs: ReadonlyMap<string, ExternSpec>;
  /** The kernel's BTF, for ksym and kfunc ids. */
  readonly kernelBtf: () => Btf;
}

const isCall = (i: Instruction) => i.opcode === 0x85;

/** The instructions with every map, data and extern reference resolved. */
export function resolveProgramReferences(program: ProgramSpec, instructions: readonly Instruction[], ctx: ReferenceContext): Instruction[] {
  return instructions.map((ins) => {
    const ref = ins.reference;
    if (ref === undefined) return ins;
    if (ins.opcode === LD_IMM64 && (ins.src === PseudoLd.MAP_FD || ins.src === PseudoLd.MAP_VALUE)) {
      const fd = ctx.mapFd(ref);
      if (fd === undefined) throw new ResolveError(`program "${program.name}": map "${ref}" was not created`);
      return { ...ins, imm: fd, imm2: ins.src === PseudoLd.MAP_VALUE ? (ins.imm2 ?? 0) : 0 };
    }
    const ext = ctx.externs.get(ref);
    if (!ext) return ins; // subprogram calls and callbacks: already linked
    if (ext.kind === "kfunc" && isCall(ins)) {
      const id = ctx.kernelBtf().find(ref, "func");
      if (id === undefined) {
        if (ext.weak) return { ...ins, src: PseudoCall.HELPER, imm: 0, off: 0 }; // like libbpf: a weak kfunc the kernel lacks
        throw new ResolveError(`program "${program.name}": kernel function ${ref} is not in this kernel's BTF (kfunc missing, or in a module)`);
      }
      return { ...ins, src: PseudoCall.KFUNC, imm: id, off: 0 };
    }
    if (ext.kind === "ksym" && ins.opcode === LD_IMM64) {
      if (ext.typeless) {
        const addr = kallsyms().get(ref);
        if (addr === undefined && !ext.weak) throw new ResolveError(`program "${program.name}": kernel symbol ${ref} is not in /proc/kallsyms`);
        return { ...ins, src: PseudoLd.NONE, ...splitConstant(addr ?? 0n) };
      }
      const id = ctx.kernelBtf().find(ref, "var");
      // The kernel resolves a typed ksym's address through kallsyms too: without an entry
      // there (no CONFIG_KALLSYMS_ALL), it would refuse the program.
      const why = id === undefined ? "is not in this kernel's BTF" : !kallsyms().has(ref) ? "has no address in /proc/kallsyms (kernel built without CONFIG_KALLSYMS_ALL?)" : undefined;
      if (why !== undefined || id === undefined) {
        if (ext.weak) return { ...ins, src: PseudoLd.NONE, imm: 0, imm2: 0 };
        throw new ResolveError(`program "${program.name}": kernel variable ${ref} ${why}`);
      }
      return { ...ins, src: PseudoLd.BTF_ID, imm: id, imm2: 0 };
    }
    return ins;
  });
}

/** Kernel BTF name a tracing program's attach target resolves to, by section kind. */
function attachTypeName(program: ProgramSpec): { name: string; kind: "func" | "typedef" } | undefined {
  const k = program.kind;
  if (!k.btfTarget) return undefined;
  const target = program.attachTarget;
  if (k.pattern.startsWith("tp_btf")) return { name: `btf_trace_${target}`, kind: "typedef" };
  if (k.pattern.startsWith("lsm")) return { name: `bpf_lsm_${target}`, kind: "func" };
  if (k.pattern.startsWith("iter")) return { name: `bpf_iter_${target}`, kind: "func" };
  return { name: target, kind: "func" };
}

/** The attach BTF id for tracing, LSM and iterator programs (0 for others). */
export function attachBtfId(program: ProgramSpec, kernelBtf: () => Btf): number {
  const want = attachTypeName(program);
  if (!want) return 0;
  if (program.kind.pattern.startsWith("freplace")) {
    throw new NotSupportedError(`freplace program "${program.name}" without a target program`, "5.10", "give the program to replace when loading");
  }
  if (!program.attachTarget) throw new ResolveError(`program "${program.name}": section ${program.sectionName} names no attach target`);
  const id = kernelBtf().find(want.name, want.kind);
  if (id === undefined) throw new ResolveError(`program "${program.name}": ${want.kind === "typedef" ? "tracepoint" : "kernel function"} ${want.name} is not in this kernel's BTF`);
  return id;
}

/** Programs that need a BPF trampoline (fentry/fexit/fmod_ret/freplace/LSM). */
export function needsTrampoline(program: ProgramSpec): boolean {
  return /^(fentry|fexit|fmod_ret|freplace|lsm)/.test(program.kind.pattern);
}
