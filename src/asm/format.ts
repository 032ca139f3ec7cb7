/**
 * The disassembler: instructions to the LLVM BPF assembly syntax, character for character what
 * LLVM 19 prints (`llvm-mc -disassemble` with decimal immediates, `llvm-objdump -d` with hex
 * immediates and `<symbol+offset>` branch annotations).
 *
 * LLVM's BPF disassembler has a CPU feature, alu32, that decides how 32-bit loads and stores are
 * printed (`r1 = *(u32 *)` without it, `w1 = *(u32 *)` with it); `alu32` selects the same. For
 * instructions LLVM 19 does not decode without alu32 (32-bit fetch atomics) or at all
 * (load-acquire, store-release), the text is the form later LLVM versions print.
 */
import { constant64, type Instruction } from "./instruction.js";
import {
  AluOp,
  AtomicOp,
  Class,
  Endian,
  JmpOp,
  LD_IMM64,
  Mode,
  Size,
  Source,
  classOf,
  modeOf,
  opOf,
  sizeOf,
  sourceOf,
} from "./opcodes.js";

export interface FormatOptions {
  /** Print immediates and offsets in hex, like llvm-objdump (default false, like llvm-mc). */
  readonly hex?: boolean;
  /** Print 32-bit sub-register forms of loads, stores and atomics (LLVM's `+alu32`). */
  readonly alu32?: boolean;
  /**
   * Annotation for a jump target, given the target's slot index: llvm-objdump prints
   * `<symbol+0xoffset>` after every jump. Return undefined for none.
   */
  readonly branchTarget?: (targetSlot: number) => string | undefined;
}

export const ALU_SYMBOLS: Readonly<Record<number, string>> = {
  [AluOp.ADD]: "+=",
  [AluOp.SUB]: "-=",
  [AluOp.MUL]: "*=",
  [AluOp.DIV]: "/=",
  [AluOp.OR]: "|=",
  [AluOp.AND]: "&=",
  [AluOp.LSH]: "<<=",
  [AluOp.RSH]: ">>=",
  [AluOp.MOD]: "%=",
  [AluOp.XOR]: "^=",
  [AluOp.MOV]: "=",
  [AluOp.ARSH]: "s>>=",
};

export const JMP_SYMBOLS: Readonly<Record<number, string>> = {
  [JmpOp.JEQ]: "==",
  [JmpOp.JGT]: ">",
  [JmpOp.JGE]: ">=",
  [JmpOp.JSET]: "&",
  [JmpOp.JNE]: "!=",
  [JmpOp.JSGT]: "s>",
  [JmpOp.JSGE]: "s>=",
  [JmpOp.JLT]: "<",
  [JmpOp.JLE]: "<=",
  [JmpOp.JSLT]: "s<",
  [JmpOp.JSLE]: "s<=",
};

export const ATOMIC_SYMBOLS: Readonly<Record<number, { readonly sym: string; readonly name: string }>> = {
  [AtomicOp.ADD]: { sym: "+=", name: "add" },
  [AtomicOp.OR]: { sym: "|=", name: "or" },
  [AtomicOp.AND]: { sym: "&=", name: "and" },
  [AtomicOp.XOR]: { sym: "^=", name: "xor" },
};

export const SIZE_NAMES: Readonly<Record<number, string>> = {
  [Size.B]: "8",
  [Size.H]: "16",
  [Size.W]: "32",
  [Size.DW]: "64",
};

function num(value: number | bigint, hex: boolean): string {
  if (!hex) return value.toString();
  return value < 0 ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`;
}

const signed = (value: number | bigint, hex: boolean): string => (value < 0 ? "" : "+") + num(value, hex);

function memory(base: number, off: number, hex: boolean): string {
  return `(r${base} ${off < 0 ? "-" : "+"} ${num(Math.abs(off), hex)})`;
}

/** A jump's text with its target's annotation (`options.branchTarget`), if any. */
function withTarget(text: string, options: FormatOptions, targetSlot: number): string {
  const note = options.branchTarget?.(targetSlot);
  return note === undefined ? text : `${text} ${note}`;
}

/**
 * Formats one instruction. `slot` is the instruction's slot index (8-byte units), used to compute
 * jump targets for the `branchTarget` annotation.
 */
export function formatInstruction(ins: Instruction, options: FormatOptions = {}, slot = 0): string {
  const hex = options.hex ?? false;
  const alu32 = options.alu32 ?? false;
  const { opcode, dst, src, off, imm } = ins;
  const cls = classOf(opcode);
  const size = sizeOf(opcode);
  const width = SIZE_NAMES[size] ?? "?";


  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const r = cls === Class.ALU64 ? "r" : "w";
      const op = opOf(opcode);
      const byReg = sourceOf(opcode) === Source.X;
      if (op === AluOp.NEG) return `${r}${dst} = -${r}${dst}`;
      if (op === AluOp.END) {
        const kind = cls === Class.ALU64 ? "bswap" : sourceOf(opcode) === Endian.BE ? "be" : "le";
        return `r${dst} = ${kind}${imm} r${dst}`;
      }
      if (op === AluOp.MOV && byReg && off !== 0) return `${r}${dst} = (s${off})${r}${src}`;
      let sym = ALU_SYMBOLS[op] ?? "?";
      if (off === 1 && (op === AluOp.DIV || op === AluOp.MOD)) sym = `s${sym}`;
      return `${r}${dst} ${sym} ${byReg ? `${r}${src}` : num(imm, hex)}`;
    }
    case Class.JMP:
    case Class.JMP32: {
      const op = opOf(opcode);
      if (op === JmpOp.JA) {
        return cls === Class.JMP32
          ? withTarget(`gotol ${signed(imm, hex)}`, options, slot + 1 + imm)
          : withTarget(`goto ${signed(off, hex)}`, options, slot + 1 + off);
      }
      if (op === JmpOp.CALL) return sourceOf(opcode) === Source.X ? `callx r${dst}` : `call ${num(imm, hex)}`;
      if (op === JmpOp.EXIT) return "exit";
      if (op === JmpOp.JCOND) return withTarget(`may_goto ${signed(off, hex)}`, options, slot + 1 + off);
      const r = cls === Class.JMP ? "r" : "w";
      const rhs = sourceOf(opcode) === Source.X ? `${r}${src}` : num(imm, hex);
      return withTarget(`if ${r}${dst} ${JMP_SYMBOLS[op] ?? "?"} ${rhs} goto ${signed(off, hex)}`, options, slot + 1 + off);
    }
    case Class.LD: {
      if (opcode === LD_IMM64) {
        if (src === 0) return `r${dst} = ${num(BigInt.asIntN(64, constant64(ins)), hex)} ll`;
        // LLVM prints the (unsigned) low immediate; a high half only tsebpf writes is kept too.
        return `ld_pseudo\tr${dst}, ${num(src, hex)}, ${num(constant64(ins), hex)}`;
      }
      const where = modeOf(opcode) === Mode.ABS ? num(imm, hex) : imm === 0 ? `r${src}` : `r${src} ${imm < 0 ? "-" : "+"} ${num(Math.abs(imm), hex)}`;
      return `r0 = *(u${width} *)skb[${where}]`;
    }
    case Class.LDX: {
      if (modeOf(opcode) === Mode.MEMSX) return `r${dst} = *(s${width} *)${memory(src, off, hex)}`;
      const r = alu32 && size !== Size.DW ? "w" : "r";
      return `${r}${dst} = *(u${width} *)${memory(src, off, hex)}`;
    }
    case Class.ST:
      return `*(u${width} *)${memory(dst, off, hex)} = ${num(imm, hex)}`;
    case Class.STX: {
      if (modeOf(opcode) === Mode.MEM) {
        const r = alu32 && size !== Size.DW ? "w" : "r";
        return `*(u${width} *)${memory(dst, off, hex)} = ${r}${src}`;
      }
      return formatAtomic(ins, hex, alu32, width);
    }
  }
  return "<unknown>";
}

function formatAtomic(ins: Instruction, hex: boolean, alu32: boolean, width: string): string {
  const { opcode, dst, src, off, imm } = ins;
  const is64 = sizeOf(opcode) === Size.DW;
  const mem = memory(dst, off, hex);
  if (imm === AtomicOp.LOAD_ACQ) return `${is64 ? "r" : "w"}${dst} = load_acquire((u${width} *)${memory(src, off, hex)})`;
  if (imm === AtomicOp.STORE_REL) return `store_release((u${width} *)${mem}, ${is64 ? "r" : "w"}${src})`;
  // LLVM 19 decodes only the 32-bit atomic add without alu32, printing it with an r register.
  const r = is64 || (!alu32 && imm === AtomicOp.ADD) ? "r" : "w";
  if (imm === AtomicOp.XCHG) return is64 ? `r${src} = xchg_64(${mem.slice(1, -1)}, r${src})` : `w${src} = xchg32_32(${mem.slice(1, -1)}, w${src})`;
  if (imm === AtomicOp.CMPXCHG) {
    return is64
      ? `r0 = cmpxchg_64(${mem.slice(1, -1)}, r0, r${src})`
      : `w0 = cmpxchg32_32(${mem.slice(1, -1)}, w0, w${src})`;
  }
  const op = ATOMIC_SYMBOLS[imm & ~AtomicOp.FETCH];
  if (op === undefined) return "<unknown>";
  if (imm & AtomicOp.FETCH) return `${r}${src} = atomic_fetch_${op.name}((u${width} *)${mem}, ${r}${src})`;
  return `lock *(u${width} *)${mem} ${op.sym} ${r}${src}`;
}

/**
 * True when LLVM 19's disassembler (with or without alu32) prints this instruction as
 * `<unknown>` or misreads it (without alu32 it shows a 32-bit fetch-add as a plain `lock … +=`,
 * and load-acquire as an atomic add); tsebpf prints the instruction's real form instead. The
 * object listing (src/elf/objdump.ts) reproduces LLVM's readings where it must match them.
 */
export function unknownToLlvm19(ins: Instruction, alu32: boolean): boolean {
  if (classOf(ins.opcode) !== Class.STX || modeOf(ins.opcode) !== Mode.ATOMIC) return false;
  if (ins.imm === AtomicOp.LOAD_ACQ || ins.imm === AtomicOp.STORE_REL) return true;
  return !alu32 && sizeOf(ins.opcode) === Size.W && ins.imm !== AtomicOp.ADD;
}
