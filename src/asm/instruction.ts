import { InstructionError } from "./errors.js";
import {
  AluOp,
  AtomicOp,
  Class,
  JmpOp,
  LD_IMM64,
  Mode,
  PseudoCall,
  PseudoLd,
  Size,
  Source,
  classOf,
  modeOf,
  opOf,
  sizeOf,
  sourceOf,
} from "./opcodes.js";

/** A register number: r0-r9 general purpose, r10 the read-only frame pointer. */
export type Register = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7, R8 = 8, R9 = 9, R10 = 10;
/** The frame pointer. */
export const RFP = R10;
export const MAX_REGISTER = 10;

/**
 * One eBPF instruction, as the kernel sees it. `lddw` (LD | IMM | DW) is one instruction that
 * occupies two 8-byte slots; its 64-bit constant is `imm` (low half) and `imm2` (high half).
 *
 * `symbol` and `reference` are metadata for linking: a symbol names the instruction (a label or
 * the start of a function), a reference names the symbol that a jump, call or map load points
 * at. They are not encoded.
 */
export interface Instruction {
  readonly opcode: number;
  readonly dst: Register;
  /** A source register, or a pseudo value (lddw and call). */
  readonly src: number;
  /** Signed 16-bit offset. */
  readonly off: number;
  /** Signed 32-bit immediate. */
  readonly imm: number;
  /** lddw only: the signed 32-bit high half of the 64-bit constant. */
  readonly imm2?: number;
  /** This instruction starts the label or function of this name. */
  readonly symbol?: string;
  /** The jump target, call target or map this instruction refers to, by name. */
  readonly reference?: string;
}

/** True for the 16-byte lddw instruction. */
export const isWide = (ins: Pick<Instruction, "opcode">): boolean => ins.opcode === LD_IMM64;

/** Number of 8-byte slots the instruction occupies. */
export const slotCount = (ins: Pick<Instruction, "opcode">): 1 | 2 => (ins.opcode === LD_IMM64 ? 2 : 1);

/** The 64-bit constant of an lddw, as an unsigned bigint. */
export function constant64(ins: Instruction): bigint {
  const lo = BigInt(ins.imm >>> 0);
  const hi = BigInt((ins.imm2 ?? 0) >>> 0);
  return (hi << 32n) | lo;
}

/** Splits a 64-bit constant (signed or unsigned) into the two signed 32-bit halves of an lddw. */
export function splitConstant(value: bigint): { imm: number; imm2: number } {
  const v = BigInt.asUintN(64, value);
  return { imm: Number(BigInt.asIntN(32, v)), imm2: Number(BigInt.asIntN(32, v >> 32n)) };
}

const isInt = (v: number, bits: number): boolean =>
  Number.isInteger(v) && v >= -(2 ** (bits - 1)) && v < 2 ** (bits - 1);
const isReg = (r: number): boolean => Number.isInteger(r) && r >= 0 && r <= MAX_REGISTER;

/**
 * Why the kernel would refuse this encoding (unknown opcode, bad register, a reserved field
 * set), or undefined when it is a valid instruction. Semantic checks (writes to r10, jump
 * targets) are the verifier's business, not this one.
 */
export function checkInstruction(ins: Instruction): string | undefined {
  const { opcode, dst, src, off, imm } = ins;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xff) return `opcode ${opcode} is not a byte`;
  if (!isReg(dst)) return `bad destination register ${dst}`;
  if (!Number.isInteger(src) || src < 0 || src > 15) return `bad source register ${src}`;
  if (!isInt(off, 16)) return `offset ${off} does not fit in 16 bits`;
  if (!isInt(imm, 32)) return `immediate ${imm} does not fit in 32 bits`;
  if (opcode === LD_IMM64) {
    if (ins.imm2 === undefined || !isInt(ins.imm2, 32)) return "lddw needs a 32-bit high immediate";
    if (src > PseudoLd.MAP_IDX_VALUE) return `unknown lddw pseudo source ${src}`;
    if (off !== 0) return "lddw uses reserved field off";
    return undefined;
  }
  if (ins.imm2 !== undefined) return "only lddw has a second immediate";
  const hex = `0x${opcode.toString(16).padStart(2, "0")}`;
  const reserved = (field: string) => `opcode ${hex} uses reserved field ${field}`;
  switch (classOf(opcode)) {
    case Class.ALU:
    case Class.ALU64:
      return checkAlu(ins, reserved, hex);
    case Class.JMP:
    case Class.JMP32:
      return checkJump(ins, reserved, hex);
    case Class.LD: {
      const mode = modeOf(opcode);
      if (mode !== Mode.ABS && mode !== Mode.IND) return `unknown opcode ${hex}`;
      if (sizeOf(opcode) === Size.DW) return `unknown opcode ${hex} (no 64-bit packet load)`;
      if (dst !== 0) return reserved("dst");
      if (off !== 0) return reserved("off");
      if (mode === Mode.ABS && src !== 0) return reserved("src");
      return mode === Mode.IND && !isReg(src) ? `bad source register ${src}` : undefined;
    }
    case Class.LDX: {
      const mode = modeOf(opcode);
      if (mode !== Mode.MEM && !(mode === Mode.MEMSX && sizeOf(opcode) !== Size.DW)) return `unknown opcode ${hex}`;
      if (!isReg(src)) return `bad source register ${src}`;
      return imm !== 0 ? reserved("imm") : undefined;
    }
    case Class.ST:
      if (modeOf(opcode) !== Mode.MEM) return `unknown opcode ${hex}`;
      return src !== 0 ? reserved("src") : undefined;
    case Class.STX: {
      if (!isReg(src)) return `bad source register ${src}`;
      const mode = modeOf(opcode);
      if (mode === Mode.MEM) return imm !== 0 ? reserved("imm") : undefined;
      if (mode !== Mode.ATOMIC) return `unknown opcode ${hex}`;
      return checkAtomic(ins, hex);
    }
  }
  return `unknown opcode ${hex}`;
}

function checkAlu(ins: Instruction, reserved: (f: string) => string, hex: string): string | undefined {
  const { opcode, src, off, imm } = ins;
  const op = opOf(opcode);
  const is64 = classOf(opcode) === Class.ALU64;
  const byReg = sourceOf(opcode) === Source.X;
  if (op > AluOp.END) return `unknown opcode ${hex}`;
  if (op === AluOp.END) {
    if (is64 && byReg) return `unknown opcode ${hex}`;
    if (src !== 0) return reserved("src");
    if (off !== 0) return reserved("off");
    return imm === 16 || imm === 32 || imm === 64 ? undefined : `byte swap width must be 16, 32 or 64, not ${imm}`;
  }
  if (op === AluOp.NEG) {
    if (byReg) return `unknown opcode ${hex}`;
    if (src !== 0) return reserved("src");
    if (off !== 0) return reserved("off");
    return imm !== 0 ? reserved("imm") : undefined;
  }
  if (byReg) {
    if (!isReg(src)) return `bad source register ${src}`;
    if (imm !== 0) return reserved("imm");
  } else if (src !== 0) {
    return reserved("src");
  }
  if (off === 0) return undefined;
  if ((op === AluOp.DIV || op === AluOp.MOD) && off === 1) return undefined; // sdiv, smod
  if (op === AluOp.MOV && byReg && (off === 8 || off === 16 || (is64 && off === 32))) return undefined; // movsx
  return reserved("off");
}

function checkJump(ins: Instruction, reserved: (f: string) => string, hex: string): string | undefined {
  const { opcode, dst, src, off, imm } = ins;
  const op = opOf(opcode);
  const is32 = classOf(opcode) === Class.JMP32;
  const byReg = sourceOf(opcode) === Source.X;
  switch (op) {
    case JmpOp.JA:
      if (byReg) return `unknown opcode ${hex}`;
      if (dst !== 0) return reserved("dst");
      if (src !== 0) return reserved("src");
      if (is32) return off !== 0 ? reserved("off") : undefined; // gotol: target in imm
      return imm !== 0 ? reserved("imm") : undefined;
    case JmpOp.CALL:
      if (is32) return `unknown opcode ${hex}`;
      if (byReg) {
        // callx: an LLVM extension the verifier refuses; kept so objects that contain it disassemble.
        if (src !== 0) return reserved("src");
        return off !== 0 || imm !== 0 ? reserved(off !== 0 ? "off" : "imm") : undefined;
      }
      if (dst !== 0) return reserved("dst");
      if (src > PseudoCall.KFUNC) return `unknown call pseudo source ${src}`;
      return off !== 0 && src !== PseudoCall.KFUNC ? reserved("off") : undefined;
    case JmpOp.EXIT:
      if (is32 || byReg) return `unknown opcode ${hex}`;
      if (dst !== 0) return reserved("dst");
      if (src !== 0) return reserved("src");
      if (off !== 0) return reserved("off");
      return imm !== 0 ? reserved("imm") : undefined;
    case JmpOp.JCOND:
      if (is32 || byReg) return `unknown opcode ${hex}`;
      if (dst !== 0) return reserved("dst");
      if (src !== 0) return `unknown conditional pseudo jump ${src}`;
      return imm !== 0 ? reserved("imm") : undefined;
    case 0xf0:
      return `unknown opcode ${hex}`;
  }
  if (byReg) {
    if (!isReg(src)) return `bad source register ${src}`;
    return imm !== 0 ? reserved("imm") : undefined;
  }
  return src !== 0 ? reserved("src") : undefined;
}

function checkAtomic(ins: Instruction, hex: string): string | undefined {
  const { opcode, imm } = ins;
  const size = sizeOf(opcode);
  if (imm === AtomicOp.LOAD_ACQ || imm === AtomicOp.STORE_REL) return undefined;
  if (size !== Size.W && size !== Size.DW) return `unknown opcode ${hex} for atomic operation ${imm}`;
  const base = imm & ~AtomicOp.FETCH;
  if (imm === AtomicOp.XCHG || imm === AtomicOp.CMPXCHG) return undefined;
  if (base === AtomicOp.ADD || base === AtomicOp.OR || base === AtomicOp.AND || base === AtomicOp.XOR) return undefined;
  return `unknown atomic operation 0x${(imm >>> 0).toString(16)}`;
}

/** Throws an InstructionError when the instruction is not a valid encoding. */
export function assertValid(ins: Instruction, offset?: number): void {
  const why = checkInstruction(ins);
  if (why !== undefined) throw new InstructionError(why, offset);
}
