/**
 * eBPF bytecode: the instruction model, encoding in both byte orders, a typed builder, the LLVM
 * syntax assembler and disassembler, and the helper table. Pure: no I/O, no FFI.
 */
export * from "./opcodes.js";
export * from "./instruction.js";
export * from "./errors.js";
export * from "./encoding.js";
export * from "./format.js";
export * from "./disasm.js";
export * from "./assembler.js";
export * from "./link.js";
export * from "./helpers.js";
export * from "./builder.js";
