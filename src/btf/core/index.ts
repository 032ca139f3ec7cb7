/**
 * CO-RE (compile once, run everywhere): resolving an object's relocation records against a
 * target BTF and patching the instructions they point at. Pure: the caller brings both BTFs
 * (`/sys/kernel/btf/vmlinux`, a module's split BTF, any other) and the instructions.
 *
 * ```ts
 * const res = resolveCoreRelocation(objectBtf, relo, kernelBtf);   // values, or poison
 * const [patched] = patchInstruction(insns[i], res, relo.insnOff / 8);
 * // or a whole section at once:
 * const { instructions } = applyCoreRelocations(insns, relos, objectBtf, kernelBtf);
 * ```
 */
export { CoreError, type CoreErrorContext } from "./errors.js";
export {
  CORE_KIND_NAME,
  describeAccess,
  kindName,
  parseAccessString,
  parseSpec,
  reloFamily,
  type CoreAccessor,
  type CoreReloFamily,
  type CoreSpec,
} from "./accessor.js";
export { CandidateCache, defaultCandidateCache, essentialName } from "./candidates.js";
export { fieldsCompatible, matchSpec, typesCompatible, typesMatch, type SpecMatch } from "./match.js";
export { resolveCoreRelocation, resolveCoreRelocations, type CoreOptions, type CoreResolution } from "./calc.js";
export { POISON_HELPER_ID, patchInstruction, poisonInstruction, type PatchOptions } from "./patch.js";
export { applyCoreRelocations, type AppliedCoreRelocations } from "./apply.js";
export { accessorText, coreGuard, describePoisonedRelocation, findPoisonedRelocation, type PoisonedRelocation } from "./poisoned.js";
