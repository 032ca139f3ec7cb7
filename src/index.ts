/** tsebpf: a pure-TypeScript eBPF toolchain. */
export * as asm from "./asm/index.js";
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
