/**
 * Naming a poisoned instruction: when the verifier rejects a call to the poison helper
 * (`call unknown#195896080`), which CO-RE relocation put it there and why — what libbpf prints
 * as "prog 'x': relo #3: ... failed to resolve CO-RE relocation".
 */
import { CoreReloKind } from "../ext.js";
import type { CoreResolution } from "./calc.js";

/** The relocation behind a poisoned instruction. */
export interface PoisonedRelocation {
  /** Its number among the program's CO-RE relocations, from 0 (libbpf's `relo #N`). */
  readonly number: number;
  /** Index (in 8-byte slots) of the poisoned instruction in the loaded program. */
  readonly insnIndex: number;
  /** `FIELD_BYTE_OFFSET`. */
  readonly kind: string;
  /** The local root type, `[5] struct task_struct___old`. */
  readonly localType: string;
  /** The access as libbpf writes it: `struct task_struct___old.no_such_field`, `enum e::VALUE`, `struct foo`. */
  readonly accessor: string;
  /** The access string, `0:1`. */
  readonly accessStr: string;
  /** Why it could not be resolved (the target lacks the field, the field changed size …). */
  readonly reason: string;
}

const ENUM_KINDS: ReadonlySet<CoreReloKind> = new Set([CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE]);

/** `struct task_struct::comm[3]` (LLVM's notation) as libbpf prints it: `struct task_struct.comm[3]`; enumerators keep `::`. */
export function accessorText(res: Pick<CoreResolution, "kind" | "path">): string {
  return ENUM_KINDS.has(res.kind) ? res.path : res.path.replace("::", ".");
}

/**
 * The relocation that poisoned the instruction at slot `insnIndex` of a program, given the
 * resolutions of the program's relocations (in their order, slots counted in the program as
 * loaded): a resolution marked poisoned, or a load/store whose field changed size and could not
 * be resized. (A poisoned lddw becomes two calls; the verifier stops at the first, the
 * relocation's own slot.)
 */
export function findPoisonedRelocation(resolutions: readonly CoreResolution[], insnIndex: number): PoisonedRelocation | undefined {
  const number = resolutions.findIndex((r) => r.insnIndex === insnIndex && (r.poison || r.resizeProblem !== undefined));
  if (number < 0) return undefined;
  const r = resolutions[number] as CoreResolution;
  const reason = r.poison ? (r.reason ?? "no match in the target") : `the field changed size from ${r.localSize} to ${r.targetSize} bytes; ${r.resizeProblem}`;
  return { number, insnIndex: r.insnIndex, kind: r.kindName, localType: r.localType, accessor: accessorText(r), accessStr: r.accessStr, reason };
}

/**
 * `relo #1: failed to resolve CO-RE relocation of insn #19: FIELD_BYTE_OFFSET of
 * struct task_struct___old.no_such_field (access "0:1", local type [5] struct task_struct___old): <reason>`.
 */
export function describePoisonedRelocation(p: PoisonedRelocation): string {
  return `relo #${p.number}: failed to resolve CO-RE relocation of insn #${p.insnIndex}: ${p.kind} of ${p.accessor} (access ${JSON.stringify(p.accessStr)}, local type ${p.localType}): ${p.reason}`;
}

/** The guard a program puts around an access the kernel may lack, for a relocation kind's name. */
export function coreGuard(kind: string): string {
  if (kind.startsWith("ENUMVAL")) return "bpf_core_enum_value_exists()";
  if (kind.startsWith("TYPE")) return "bpf_core_type_exists()";
  return "bpf_core_field_exists()";
}
