/** tsebpf: a pure-TypeScript eBPF toolchain. */
export * as asm from "./asm/index.js";
export * as btf from "./btf/index.js";
export * as elf from "./elf/index.js";
export * as abi from "./abi/index.js";
export * as runtime from "./runtime/index.js";
export * as gen from "./gen/index.js";
export {
  InstructionError,
  AsmSyntaxError,
  LinkError,
  type Instruction,
  type Register,
  assemble,
  encode,
  decode,
  disassemble,
  disassembleBytes,
  formatInstruction,
} from "./asm/index.js";
export { Btf, BtfError, parseBtf } from "./btf/index.js";
export {
  ParseError,
  readElf,
  readCollectionSpec,
  assembleObject,
  getVariable,
  setVariable,
  VariableError,
  AmbiguousVariableError,
  variableLabel,
  setVariableText,
  setProgramType,
  ProgramTypeError,
  UnspecifiedProgramTypeError,
  resolveSymbol,
  rewriteConstants,
  UnresolvedSymbolError,
  ResolveSymbolError,
  type UnresolvedReference,
  type CollectionSpec,
  type ProgramSpec,
  type MapSpec,
  type VariableSpec,
  type ExternSpec,
} from "./elf/index.js";
export {
  Collection,
  BpfMap,
  Program,
  VerifierError,
  NotSupportedError,
  UpdateFlags,
  MapMemory,
  BPF_F_MMAPABLE,
  GlobalVariable,
  ReadOnlyVariableError,
  Attachments,
  UnattachableError,
  type AutoAttachOptions,
  RingBufferReader,
  EventReader,
  EventRecord,
  PerfEventReader,
  TypedMap,
  CodecError,
  btfCodec,
  tracePipe,
  StructOps,
  StructOpsRegistration,
  StructOpsError,
  type Codec,
  type CollectionOptions,
  type MapInfo,
  type ProgramInfo,
  type TestRunOptions,
  type TestRunResult,
} from "./runtime/index.js";
export { SyscallError, AttrRangeError } from "./syscall/index.js";
export { TsebpfError, UseAfterCloseError, NotFoundError } from "./errors.js";
export { generateBindings, generateTypes, GenError } from "./gen/index.js";
export * from "./format.js";
