/**
 * Turning a program spec's symbolic references into what the kernel takes: map fds, data-map
 * offsets, kernel BTF ids of ksyms and kfuncs, kallsyms addresses — and the BTF id of the kernel
 * function or tracepoint a tracing program attaches to, or of the function of another BPF
 * program that an freplace (or fentry/fexit) program is loaded against.
 */
import { ProgramType, programTypeName } from "../abi/index.js";
import { LD_IMM64, PseudoCall, PseudoLd, splitConstant, type Instruction } from "../asm/index.js";
import type { Btf } from "../btf/index.js";
import type { ExternSpec, ProgramSpec } from "../elf/index.js";
import { Struct, fdById, kernel, objInfo } from "../syscall/index.js";
import { NotSupportedError } from "./errors.js";
import { btfById } from "./kernel-objects-btf.js";
import { findModuleFunction } from "./kfuncs.js";
import { kallsyms } from "./ksyms.js";
import { linkCreate, type Link } from "./link.js";
import type { Program } from "./program.js";
import { TsebpfError } from "../errors.js";

/** A reference that cannot be resolved: names the program, the symbol and why. */
export class ResolveError extends TsebpfError {
  override readonly name = "ResolveError";
}

export interface ReferenceContext {
  readonly mapFd: (name: string) => number | undefined;
  readonly externs: ReadonlyMap<string, ExternSpec>;
  /** The kernel's BTF, for ksym and kfunc ids. */
  readonly kernelBtf: () => Btf;
  /**
   * For kfuncs only a module has: an fd of that module's BTF object (by id) and its index in
   * the load's fd_array. Without it, such kfuncs are not looked for in modules.
   */
  readonly moduleBtfFd?: (btfObjectId: number) => { fd: number; index: number };
}

/** A kfunc's BTF id: in the kernel's BTF, else (when the context allows) in a module's. */
function findKfunc(name: string, ctx: ReferenceContext): { typeId: number; module?: { fd: number; index: number } } | undefined {
  const id = ctx.kernelBtf().find(name, "func");
  if (id !== undefined) return { typeId: id };
  if (!ctx.moduleBtfFd) return undefined;
  const m = findModuleFunction(name);
  return m ? { typeId: m.typeId, module: ctx.moduleBtfFd(m.btfObjectId) } : undefined;
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
      const found = findKfunc(ref, ctx);
      if (found === undefined) {
        if (ext.weak) return { ...ins, src: PseudoCall.HELPER, imm: 0, off: 0 }; // like libbpf: a weak kfunc the kernel lacks
        throw new ResolveError(`program "${program.name}": kernel function ${ref} is in neither this kernel's nor a loaded module's BTF`);
      }
      // A module's kfunc: `off` is the index of the module's BTF fd in fd_array.
      return { ...ins, src: PseudoCall.KFUNC, imm: found.typeId, off: found.module?.index ?? 0 };
    }
    if (ext.kind === "kfunc" && ins.opcode === LD_IMM64) {
      // A kfunc's address as a value (bpf_ksym_exists): as libbpf does, its BTF id with
      // BPF_PSEUDO_BTF_ID and the module's BTF fd in the second half (0: vmlinux) — the kernel
      // puts the address there, read-only memory of size 0 — or a plain 0 for a weak kfunc the
      // kernel lacks.
      const found = findKfunc(ref, ctx);
      if (found === undefined) {
        if (ext.weak) return { ...ins, src: PseudoLd.NONE, imm: 0, imm2: 0 };
        throw new ResolveError(`program "${program.name}": kernel function ${ref} is in neither this kernel's nor a loaded module's BTF`);
      }
      return { ...ins, src: PseudoLd.BTF_ID, imm: found.typeId, imm2: found.module?.fd ?? 0 };
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
    throw new NotSupportedError(
      `freplace program "${program.name}" (${program.sectionName}) without a target program`,
      "5.10",
      `give the program whose function it replaces when loading: attachTargets: { ${program.name}: { program, function } }`,
    );
  }
  if (!program.attachTarget) throw new ResolveError(`program "${program.name}": section ${program.sectionName} names no attach target`);
  const id = kernelBtf().find(want.name, want.kind);
  if (id === undefined) throw new ResolveError(`program "${program.name}": ${want.kind === "typedef" ? "tracepoint" : "kernel function"} ${want.name} is not in this kernel's BTF`);
  return id;
}

// ---------------------------------------------------------------------------------------------
// Another BPF program as the attach target (freplace; fentry/fexit on a BPF program)

/** A loaded BPF program: a Program, or its fd, or its id. */
export type TargetProgram = Program | { readonly fd: number } | { readonly id: number };

/**
 * What a program is loaded against when its target is a BPF program rather than the kernel
 * (libbpf's bpf_program__set_attach_target, cilium's ProgramSpec.AttachTarget + AttachTo).
 */
export interface AttachTarget {
  /** The program whose function is replaced (freplace) or traced (fentry/fexit). */
  readonly program: TargetProgram;
  /**
   * The function, by name, found in the target's BTF: a global subprogram for freplace, any
   * function of the program (its entry included) for fentry/fexit. Default: the section's
   * target (`freplace/<function>`).
   */
  readonly function?: string;
}

/** A target resolved for BPF_PROG_LOAD (attach_prog_fd, attach_btf_id) or BPF_LINK_CREATE. */
export interface ResolvedAttachTarget {
  /** An fd of the target program (owned here only when opened by id). */
  readonly fd: number;
  /** The FUNC's id in the target program's BTF. */
  readonly btfId: number;
  readonly function: string;
  /** `function global_add of program "second" (id 7)`, for messages. */
  readonly description: string;
  /** Closes the fd if it was opened here. */
  close(): void;
  [Symbol.dispose](): void;
}

const TARGET_PROGRAM_KINDS = /^(freplace|fentry|fexit|fmod_ret)/;
/** EXT programs have no attach type of their own: LINK_CREATE takes 0, their expected_attach_type. */
const FREPLACE_ATTACH_TYPE = 0;

/** The program's own functions and BTF, as the kernel reports them (bpf_prog_info). */
function programFunctions(fd: number, what: string): { id: number; name: string; btfId: number; funcTypeIds: number[] } {
  const info = new Struct("BpfProgInfo");
  objInfo(fd, info, what);
  const count = info.getU32("nr_func_info");
  const records = Buffer.alloc(count * 8);
  if (count > 0) {
    const again = new Struct("BpfProgInfo");
    again.set("nr_func_info", count).set("func_info_rec_size", 8).set("func_info", kernel().address(records));
    objInfo(fd, again, what);
  }
  // struct bpf_func_info: insn_off, type_id.
  const funcTypeIds = Array.from({ length: count }, (_, i) => records.readUInt32LE(i * 8 + 4));
  return { id: info.getU32("id"), name: info.getString("name"), btfId: info.getU32("btf_id"), funcTypeIds };
}

/**
 * The BTF id of function `name` of the loaded program with this fd: the program's BTF is read
 * back from the kernel (prog info btf_id) and searched for a FUNC of that name among the
 * program's own functions. `replace`: the function must be global (the kernel replaces only
 * those).
 */
export function targetFunctionBtfId(fd: number, name: string, options: { readonly replace?: boolean; readonly what?: string } = {}): number {
  const what = options.what ?? `program fd ${fd}`;
  const prog = programFunctions(fd, what);
  const of = `program "${prog.name}" (id ${prog.id})`;
  if (prog.btfId === 0) throw new ResolveError(`${what}: target ${of} has no BTF (it was loaded without func info), so its functions cannot be found by name`);
  const btf = btfById(prog.btfId).btf;
  const candidates = btf.idsByName(name).filter((id) => btf.kindOf(id) === "func");
  if (candidates.length === 0) throw new ResolveError(`${what}: no function ${name} in the BTF of target ${of}`);
  // The object's BTF describes every function of the object; the kernel wants one of this program's.
  const own = prog.funcTypeIds.length > 0 ? candidates.filter((id) => prog.funcTypeIds.includes(id)) : candidates;
  const id = own[0];
  if (id === undefined) {
    const names = prog.funcTypeIds.map((t) => btf.type(t)?.name ?? `#${t}`).join(", ");
    throw new ResolveError(`${what}: function ${name} is not part of target ${of} (its functions: ${names})`);
  }
  const func = btf.type(id);
  if (options.replace && func?.kind === "func" && func.linkage !== "global") {
    throw new ResolveError(`${what}: function ${name} of target ${of} is ${func.linkage}: freplace replaces only global functions`);
  }
  return id;
}

/** Opens (by id) or borrows the target program's fd and finds the function in its BTF. */
export function resolveAttachTarget(program: ProgramSpec, target: AttachTarget): ResolvedAttachTarget {
  const what = `program "${program.name}" (${program.sectionName})`;
  if (!TARGET_PROGRAM_KINDS.test(program.kind.pattern)) {
    throw new ResolveError(`${what}: only freplace, fentry, fexit and fmod_ret programs take a BPF program as their attach target`);
  }
  const name = target.function ?? program.attachTarget;
  if (!name) throw new ResolveError(`${what}: name the target program's function (attach target "function")`);
  return resolveTarget(target.program, name, program.kind.pattern.startsWith("freplace"), what);
}

function resolveTarget(program: TargetProgram, name: string, replace: boolean, what: string): ResolvedAttachTarget {
  const owned = "id" in program && !("fd" in program);
  const fd = owned ? fdById("PROG", program.id) : (program as { readonly fd: number }).fd;
  const close = () => {
    if (owned) kernel().close(fd);
  };
  try {
    const btfId = targetFunctionBtfId(fd, name, { replace, what });
    const targetName = "name" in program && typeof program.name === "string" ? `"${program.name}"` : owned ? `id ${(program as { id: number }).id}` : `fd ${fd}`;
    return { fd, btfId, function: name, description: `function ${name} of program ${targetName}`, close, [Symbol.dispose]: close };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * Attaches an freplace program (BPF_LINK_CREATE). Without a target, where it was loaded
 * against (the load's attach_prog_fd and attach_btf_id); with one, to that program's function
 * instead (one extension program can replace functions of several programs, each its own link).
 */
export function attachFreplace(program: Program, target?: AttachTarget): Link {
  if (program.type !== ProgramType.EXT) throw new ResolveError(`program "${program.name}" is not an freplace (EXT) program (${programTypeName(program.type)})`);
  if (!target) {
    return linkCreate({ programFd: program.fd, target: 0, attachType: FREPLACE_ATTACH_TYPE, description: `freplace program "${program.name}" on its load-time target` });
  }
  const what = `freplace program "${program.name}"`;
  const name = target.function;
  if (!name) throw new ResolveError(`${what}: name the target program's function to replace`);
  using resolved = resolveTarget(target.program, name, true, what);
  return linkCreate({
    programFd: program.fd,
    target: resolved.fd,
    attachType: FREPLACE_ATTACH_TYPE,
    extra: { target_btf_id: resolved.btfId },
    description: `${what} replacing ${resolved.description}`,
  });
}
