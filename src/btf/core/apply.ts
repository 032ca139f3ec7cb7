/** Resolving and applying every CO-RE relocation of one section's instructions. */
import { slotCount, type Instruction } from "../../asm/instruction.js";
import type { Btf } from "../btf.js";
import type { CoreRelo } from "../ext.js";
import { kindName } from "./accessor.js";
import { resolveCoreRelocation, type CoreOptions, type CoreResolution } from "./calc.js";
import { defaultCandidateCache } from "./candidates.js";
import { CoreError } from "./errors.js";
import { patchInstruction } from "./patch.js";

export interface AppliedCoreRelocations {
  /** The section's instructions, relocated (a poisoned lddw becomes two calls: slots keep their places). */
  readonly instructions: Instruction[];
  /** One resolution per relocation, in the order given. */
  readonly resolutions: CoreResolution[];
}

/**
 * Resolves `relos` (the CO-RE records of one section, `insnOff` in bytes from its start)
 * against `target` and patches `instructions` (that section's code). Throws CoreError for the
 * first relocation that cannot be resolved or applied.
 */
export function applyCoreRelocations(
  instructions: readonly Instruction[],
  relos: readonly CoreRelo[],
  local: Btf,
  target: Btf,
  options: CoreOptions = {},
): AppliedCoreRelocations {
  const indexBySlot = new Map<number, number>();
  for (let i = 0, slot = 0; i < instructions.length; i++) {
    indexBySlot.set(slot, i);
    slot += slotCount(instructions[i] as Instruction);
  }
  const cache = options.cache ?? defaultCandidateCache;
  const replaced = new Map<number, Instruction[]>();
  const resolutions: CoreResolution[] = [];
  for (const relo of relos) {
    const res = resolveCoreRelocation(local, relo, target, { ...options, cache });
    resolutions.push(res);
    const i = indexBySlot.get(res.insnIndex);
    if (i === undefined) {
      throw new CoreError(`byte offset ${relo.insnOff} is not the start of an instruction of this section`, {
        kind: kindName(relo.kind),
        insnIndex: res.insnIndex,
        accessStr: relo.accessStr,
        localType: res.localType,
        path: res.path,
      });
    }
    const current = replaced.get(i) ?? [instructions[i] as Instruction];
    if (current.length !== 1) continue; // already poisoned by an earlier relocation of the same lddw
    replaced.set(i, patchInstruction(current[0] as Instruction, res, res.insnIndex, options));
  }
  const out: Instruction[] = [];
  instructions.forEach((ins, i) => out.push(...(replaced.get(i) ?? [ins])));
  return { instructions: out, resolutions };
}
