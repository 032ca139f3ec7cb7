/**
 * ELF64 objects of BPF programs, either byte order: a robust reader of sections, symbols and
 * relocations, and the ELF constants. Pure: takes the file's bytes, does no I/O.
 */
export * from "./constants.js";
export * from "./errors.js";
export {
  readElf,
  type ElfByteOrder,
  type ElfFile,
  type ElfHeader,
  type ElfRelocation,
  type ElfSection,
  type ElfSymbol,
} from "./reader.js";
export { StringTable } from "./string-table.js";
export * from "./section-names.js";
export { LEGACY_SECTION_TABLE, legacySectionKind } from "./section-names-legacy.js";
export { programKind, unspecifiedKind, kindForType, setProgramType, ProgramTypeError, type SetProgramTypeOptions } from "./program-kind.js";
export { loadProblems, checkProgramTypes, UnspecifiedProgramTypeError, HOW_TO_SET_TYPE, type LoadProblem, type LoadProblemKind } from "./load-problems.js";
export * from "./spec.js";
export { readCollectionSpec } from "./collection.js";
export { AmbiguousVariableError, getVariable, getVariableInteger, lookupVariable, setVariable, VariableError } from "./variables.js";
export { setVariableText, variableBytes } from "./variable-text.js";
export { isDataSection, variableLabel, BPF_F_RDONLY_PROG } from "./data.js";
export { mapTypeName } from "./maps.js";
export { writeElf, type WriteObject, type WriteSection, type WriteSymbol, type WriteRelocation } from "./writer.js";
export { assembleObject } from "./asm-object.js";
export { relocateProgram } from "./core.js";
export { objdump } from "./objdump.js";
export { describeCoreRelocation } from "./objdump-core.js";
export { BPF_F_LINK, STRUCT_OPS_SECTIONS, isStructOpsMap, type StructOpsMapSpec, type StructOpsMember, type StructOpsSpec } from "./struct-ops.js";
export { resolveSymbol, rewriteConstants, withConstants, refuseUnresolved, unresolvedSymbols, UnresolvedSymbolError, ResolveSymbolError } from "./unresolved.js";
export { linkObjects, LinkError, type LinkInput, type LinkErrorContext } from "./link/index.js";
