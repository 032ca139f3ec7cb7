/** CO-RE for a program of a CollectionSpec: its relocations resolved against a target BTF. */
import { applyCoreRelocations, type AppliedCoreRelocations, type CoreOptions } from "../btf/core/index.js";
import type { Btf } from "../btf/index.js";
import { ParseError } from "./errors.js";
import type { CollectionSpec, ProgramSpec } from "./spec.js";

/**
 * The program's instructions with every CO-RE relocation applied against `target` (the
 * kernel's BTF, a module's, or any BTF file), and how each relocation resolved. Pure: the spec
 * is not changed. Throws CoreError naming type, field and access string when one fails.
 */
export function relocateProgram(spec: CollectionSpec, program: ProgramSpec, target: Btf, options: CoreOptions = {}): AppliedCoreRelocations {
  if (program.coreRelos.length === 0) return { instructions: [...program.instructions], resolutions: [] };
  if (!spec.btf) throw new ParseError(`program ${program.name} has CO-RE relocations but the object has no BTF`, { section: program.sectionName });
  const relos = program.coreRelos.map((r) => ({ ...r.relo, insnOff: r.slot * 8 }));
  return applyCoreRelocations(program.instructions, relos, spec.btf, target, { byteOrder: spec.byteOrder, ...options });
}
