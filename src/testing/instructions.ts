/**
 * fast-check arbitraries of valid eBPF instructions, by family (the ones the test suite's
 * encoding, text and LLVM round trips are built on).
 */
import fc from "fast-check";
import {
  AluOp,
  AtomicOp,
  Class,
  Endian,
  JmpOp,
  LD_IMM64,
  Mode,
  PseudoCall,
  Size,
  Source,
  type Instruction,
  type Register,
} from "../asm/index.js";

/** A register, r0..r10. */
export const reg: fc.Arbitrary<Register> = fc.integer({ min: 0, max: 10 }) as fc.Arbitrary<Register>;
/** A 32-bit immediate, small values likely. */
export const imm32: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -64, max: 64 }));
/** A 16-bit offset, small values likely. */
export const off16: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: -32768, max: 32767 }), fc.integer({ min: -16, max: 16 }));
const size = fc.constantFrom(Size.B, Size.H, Size.W, Size.DW);

const ALU_BINARY = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH, AluOp.RSH, AluOp.MOD, AluOp.XOR, AluOp.MOV, AluOp.ARSH];
export const JMP_COND: readonly number[] = [JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JSET, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSLT, JmpOp.JSLE];

/** An instruction from its fields. */
export const mk = (opcode: number, dst: number, src: number, off: number, imm: number): Instruction => ({
  opcode,
  dst: dst as Register,
  src,
  off,
  imm,
});

/** ALU and ALU64 binary operations, by register or immediate (signed div/mod included). */
export const aluBinary: fc.Arbitrary<Instruction> = fc
  .tuple(fc.constantFrom(Class.ALU, Class.ALU64), fc.constantFrom(...ALU_BINARY), fc.boolean(), reg, reg, imm32, fc.boolean())
  .map(([cls, op, byReg, dst, src, imm, signed]) => {
    const off = signed && (op === AluOp.DIV || op === AluOp.MOD) ? 1 : 0;
    return byReg ? mk(cls | op | Source.X, dst, src, off, 0) : mk(cls | op | Source.K, dst, 0, off, imm);
  });
/** neg, byte swaps, sign-extending moves. */
export const aluOther: fc.Arbitrary<Instruction> = fc.oneof(
  fc.tuple(fc.constantFrom(Class.ALU, Class.ALU64), reg).map(([cls, dst]) => mk(cls | AluOp.NEG, dst, 0, 0, 0)),
  fc
    .tuple(fc.constantFrom(Class.ALU | Endian.LE, Class.ALU | Endian.BE, Class.ALU64), reg, fc.constantFrom(16, 32, 64))
    .map(([base, dst, width]) => mk(base | AluOp.END, dst, 0, 0, width)),
  fc.tuple(reg, reg, fc.constantFrom(8, 16, 32)).map(([d, s, w]) => mk(Class.ALU64 | AluOp.MOV | Source.X, d, s, w, 0)),
  fc.tuple(reg, reg, fc.constantFrom(8, 16)).map(([d, s, w]) => mk(Class.ALU | AluOp.MOV | Source.X, d, s, w, 0)),
);
/** Jumps (any offset), may_goto, helper calls and exit. */
export const jumps: fc.Arbitrary<Instruction> = fc.oneof(
  fc
    .tuple(fc.constantFrom(Class.JMP, Class.JMP32), fc.constantFrom(...JMP_COND), fc.boolean(), reg, reg, off16, imm32)
    .map(([cls, op, byReg, dst, src, off, imm]) =>
      byReg ? mk(cls | op | Source.X, dst, src, off, 0) : mk(cls | op | Source.K, dst, 0, off, imm),
    ),
  off16.map((off) => mk(Class.JMP | JmpOp.JA, 0, 0, off, 0)),
  imm32.map((imm) => mk(Class.JMP32 | JmpOp.JA, 0, 0, 0, imm)),
  off16.map((off) => mk(Class.JMP | JmpOp.JCOND, 0, 0, off, 0)),
  imm32.map((imm) => mk(Class.JMP | JmpOp.CALL, 0, PseudoCall.HELPER, 0, imm)),
  fc.constant(mk(Class.JMP | JmpOp.EXIT, 0, 0, 0, 0)),
);
/** Calls whose pseudo source LLVM's text cannot express (it prints them like helper calls). */
export const pseudoCalls: fc.Arbitrary<Instruction> = fc.oneof(
  imm32.map((imm) => mk(Class.JMP | JmpOp.CALL, 0, PseudoCall.CALL, 0, imm)),
  fc.tuple(imm32, off16).map(([imm, off]) => mk(Class.JMP | JmpOp.CALL, 0, PseudoCall.KFUNC, off, imm)),
  reg.map((dst) => mk(Class.JMP | JmpOp.CALL | Source.X, dst, 0, 0, 0)),
);
/** Loads and stores, sign-extending loads, legacy packet loads. */
export const memory: fc.Arbitrary<Instruction> = fc.oneof(
  fc.tuple(size, reg, reg, off16).map(([s, d, r, off]) => mk(Class.LDX | Mode.MEM | s, d, r, off, 0)),
  fc.tuple(fc.constantFrom(Size.B, Size.H, Size.W), reg, reg, off16).map(([s, d, r, off]) => mk(Class.LDX | Mode.MEMSX | s, d, r, off, 0)),
  fc.tuple(size, reg, off16, imm32).map(([s, d, off, imm]) => mk(Class.ST | Mode.MEM | s, d, 0, off, imm)),
  fc.tuple(size, reg, reg, off16).map(([s, d, r, off]) => mk(Class.STX | Mode.MEM | s, d, r, off, 0)),
  fc.tuple(fc.constantFrom(Size.B, Size.H, Size.W), imm32).map(([s, imm]) => mk(Class.LD | Mode.ABS | s, 0, 0, 0, imm)),
  fc.tuple(fc.constantFrom(Size.B, Size.H, Size.W), reg).map(([s, r]) => mk(Class.LD | Mode.IND | s, 0, r, 0, 0)),
);
const ATOMIC_IMMS = [
  AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR,
  AtomicOp.ADD | AtomicOp.FETCH, AtomicOp.OR | AtomicOp.FETCH, AtomicOp.AND | AtomicOp.FETCH, AtomicOp.XOR | AtomicOp.FETCH,
  AtomicOp.XCHG, AtomicOp.CMPXCHG,
];
/** Atomic read-modify-write operations. */
export const atomics: fc.Arbitrary<Instruction> = fc
  .tuple(fc.constantFrom(Size.W, Size.DW), fc.constantFrom(...ATOMIC_IMMS), reg, reg, off16)
  .map(([s, imm, d, r, off]) => mk(Class.STX | Mode.ATOMIC | s, d, r, off, imm));
/** load-acquire / store-release: newer than LLVM 19. */
export const acquireRelease: fc.Arbitrary<Instruction> = fc
  .tuple(size, fc.constantFrom(AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL), reg, reg, off16)
  .map(([s, imm, d, r, off]) => mk(Class.STX | Mode.ATOMIC | s, d, r, off, imm));
/** lddw of plain constants. */
export const lddw: fc.Arbitrary<Instruction> = fc.tuple(reg, imm32, imm32).map(([d, lo, hi]) => ({ ...mk(LD_IMM64, d, 0, 0, lo), imm2: hi }));
/** lddw with a pseudo source; LLVM keeps only the low immediate. */
export const lddwPseudo: fc.Arbitrary<Instruction> = fc
  .tuple(reg, fc.integer({ min: 1, max: 6 }), imm32)
  .map(([d, src, lo]) => ({ ...mk(LD_IMM64, d, src, 0, lo), imm2: 0 }));
/** `r0 = *(u8 *)skb[r1 + imm]`: legal for the kernel, not expressible in LLVM 19's syntax. */
export const ldIndWithImm: fc.Arbitrary<Instruction> = fc
  .tuple(fc.constantFrom(Size.B, Size.H, Size.W), reg, imm32.filter((i) => i !== 0))
  .map(([s, r, imm]) => mk(Class.LD | Mode.IND | s, 0, r, 0, imm));

/** Instructions whose LLVM text is lossless and that LLVM 19 knows. */
export const llvmInstruction: fc.Arbitrary<Instruction> = fc.oneof(
  { arbitrary: aluBinary, weight: 4 },
  { arbitrary: aluOther, weight: 2 },
  { arbitrary: jumps, weight: 3 },
  { arbitrary: memory, weight: 3 },
  { arbitrary: atomics, weight: 2 },
  { arbitrary: lddw, weight: 1 },
  { arbitrary: lddwPseudo, weight: 1 },
);

/** Every valid instruction. */
export const anyInstruction: fc.Arbitrary<Instruction> = fc.oneof(
  { arbitrary: llvmInstruction, weight: 8 },
  { arbitrary: pseudoCalls, weight: 1 },
  { arbitrary: acquireRelease, weight: 1 },
  { arbitrary: ldIndWithImm, weight: 1 },
);
