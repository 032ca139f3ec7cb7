/**
 * The typed instruction builder. Each function returns one Instruction; a `Builder` collects
 * them with labels and resolves jumps and calls by name.
 *
 * ```ts
 * import * as asm from "tsebpf/asm";
 * const prog = new asm.Builder()
 *   .add(asm.mov64Imm(asm.R0, 2))          // XDP_PASS
 *   .add(asm.jeqImm(asm.R1, 0, "out"))
 *   .add(asm.mov64Imm(asm.R0, 1))          // XDP_DROP
 *   .label("out")
 *   .add(asm.exit())
 *   .build();
 * ```
 */
import { LinkError } from "./errors.js";
import { helperByName } from "./helpers.js";
import { assertValid, splitConstant, type Instruction, type Register } from "./instruction.js";
import { resolveReferences } from "./link.js";
import {
  AluOp,
  AtomicOp,
  Class,
  Endian,
  JmpOp,
  LD_IMM64,
  Mode,
  PseudoCall,
  PseudoLd,
  Size,
  Source,
} from "./opcodes.js";

/** A jump target: a label name, or a signed distance in slots. */
export type Target = string | number;

const ins = (opcode: number, dst: Register, src: number, off: number, imm: number): Instruction => {
  const out: Instruction = { opcode, dst, src, off, imm };
  assertValid(out);
  return out;
};

// ---- ALU ---------------------------------------------------------------------------------

type AluFns = {
  [K in "add" | "sub" | "mul" | "div" | "sdiv" | "or" | "and" | "lsh" | "rsh" | "mod" | "smod" | "xor" | "mov" | "arsh" as
    | `${K}64Imm`
    | `${K}32Imm`]: (dst: Register, imm: number) => Instruction;
} & {
  [K in "add" | "sub" | "mul" | "div" | "sdiv" | "or" | "and" | "lsh" | "rsh" | "mod" | "smod" | "xor" | "mov" | "arsh" as
    | `${K}64Reg`
    | `${K}32Reg`]: (dst: Register, src: Register) => Instruction;
};

const ALU_OPS = {
  add: [AluOp.ADD, 0], sub: [AluOp.SUB, 0], mul: [AluOp.MUL, 0], div: [AluOp.DIV, 0], sdiv: [AluOp.DIV, 1],
  or: [AluOp.OR, 0], and: [AluOp.AND, 0], lsh: [AluOp.LSH, 0], rsh: [AluOp.RSH, 0], mod: [AluOp.MOD, 0],
  smod: [AluOp.MOD, 1], xor: [AluOp.XOR, 0], mov: [AluOp.MOV, 0], arsh: [AluOp.ARSH, 0],
} as const;

const alu = {} as Record<string, unknown>;
for (const [name, [op, off]] of Object.entries(ALU_OPS)) {
  for (const [bits, cls] of [["64", Class.ALU64], ["32", Class.ALU]] as const) {
    alu[`${name}${bits}Imm`] = (dst: Register, imm: number) => ins(cls | op | Source.K, dst, 0, off, imm);
    alu[`${name}${bits}Reg`] = (dst: Register, src: Register) => ins(cls | op | Source.X, dst, src, off, 0);
  }
}
const A = alu as AluFns;
export const { add64Imm, add64Reg, add32Imm, add32Reg, sub64Imm, sub64Reg, sub32Imm, sub32Reg } = A;
export const { mul64Imm, mul64Reg, mul32Imm, mul32Reg, div64Imm, div64Reg, div32Imm, div32Reg } = A;
export const { sdiv64Imm, sdiv64Reg, sdiv32Imm, sdiv32Reg, mod64Imm, mod64Reg, mod32Imm, mod32Reg } = A;
export const { smod64Imm, smod64Reg, smod32Imm, smod32Reg, or64Imm, or64Reg, or32Imm, or32Reg } = A;
export const { and64Imm, and64Reg, and32Imm, and32Reg, lsh64Imm, lsh64Reg, lsh32Imm, lsh32Reg } = A;
export const { rsh64Imm, rsh64Reg, rsh32Imm, rsh32Reg, xor64Imm, xor64Reg, xor32Imm, xor32Reg } = A;
export const { mov64Imm, mov64Reg, mov32Imm, mov32Reg, arsh64Imm, arsh64Reg, arsh32Imm, arsh32Reg } = A;

export const neg64 = (dst: Register) => ins(Class.ALU64 | AluOp.NEG, dst, 0, 0, 0);
export const neg32 = (dst: Register) => ins(Class.ALU | AluOp.NEG, dst, 0, 0, 0);
/** Sign-extending move: `dst = (s8|s16|s32)src`. */
export const movsx64 = (dst: Register, src: Register, bits: 8 | 16 | 32) => ins(Class.ALU64 | AluOp.MOV | Source.X, dst, src, bits, 0);
/** Sign-extending 32-bit move: `wDst = (s8|s16)wSrc`. */
export const movsx32 = (dst: Register, src: Register, bits: 8 | 16) => ins(Class.ALU | AluOp.MOV | Source.X, dst, src, bits, 0);
/** Converts to little endian (`le16`…): a no-op or truncation on little-endian machines. */
export const toLe = (dst: Register, bits: 16 | 32 | 64) => ins(Class.ALU | AluOp.END | Endian.LE, dst, 0, 0, bits);
/** Converts to big endian (`be16`…). */
export const toBe = (dst: Register, bits: 16 | 32 | 64) => ins(Class.ALU | AluOp.END | Endian.BE, dst, 0, 0, bits);
/** Unconditional byte swap (`bswap16`…, kernel 6.6). */
export const bswap = (dst: Register, bits: 16 | 32 | 64) => ins(Class.ALU64 | AluOp.END, dst, 0, 0, bits);

// ---- jumps and calls ---------------------------------------------------------------------

const withTarget = (i: Instruction, target: Target, long = false): Instruction => {
  if (typeof target === "string") return { ...i, reference: target };
  const out = long ? { ...i, imm: target } : { ...i, off: target };
  assertValid(out);
  return out;
};

type JumpFns = {
  [K in "jeq" | "jgt" | "jge" | "jset" | "jne" | "jsgt" | "jsge" | "jlt" | "jle" | "jslt" | "jsle" as
    | `${K}Imm`
    | `${K}32Imm`]: (dst: Register, imm: number, target: Target) => Instruction;
} & {
  [K in "jeq" | "jgt" | "jge" | "jset" | "jne" | "jsgt" | "jsge" | "jlt" | "jle" | "jslt" | "jsle" as
    | `${K}Reg`
    | `${K}32Reg`]: (dst: Register, src: Register, target: Target) => Instruction;
};
const JUMP_OPS = {
  jeq: JmpOp.JEQ, jgt: JmpOp.JGT, jge: JmpOp.JGE, jset: JmpOp.JSET, jne: JmpOp.JNE, jsgt: JmpOp.JSGT,
  jsge: JmpOp.JSGE, jlt: JmpOp.JLT, jle: JmpOp.JLE, jslt: JmpOp.JSLT, jsle: JmpOp.JSLE,
} as const;
const jumps = {} as Record<string, unknown>;
for (const [name, op] of Object.entries(JUMP_OPS)) {
  for (const [suffix, cls] of [["", Class.JMP], ["32", Class.JMP32]] as const) {
    jumps[`${name}${suffix}Imm`] = (dst: Register, imm: number, t: Target) => withTarget(ins(cls | op | Source.K, dst, 0, 0, imm), t);
    jumps[`${name}${suffix}Reg`] = (dst: Register, src: Register, t: Target) => withTarget(ins(cls | op | Source.X, dst, src, 0, 0), t);
  }
}
const J = jumps as JumpFns;
export const { jeqImm, jeqReg, jeq32Imm, jeq32Reg, jgtImm, jgtReg, jgt32Imm, jgt32Reg } = J;
export const { jgeImm, jgeReg, jge32Imm, jge32Reg, jsetImm, jsetReg, jset32Imm, jset32Reg } = J;
export const { jneImm, jneReg, jne32Imm, jne32Reg, jsgtImm, jsgtReg, jsgt32Imm, jsgt32Reg } = J;
export const { jsgeImm, jsgeReg, jsge32Imm, jsge32Reg, jltImm, jltReg, jlt32Imm, jlt32Reg } = J;
export const { jleImm, jleReg, jle32Imm, jle32Reg, jsltImm, jsltReg, jslt32Imm, jslt32Reg } = J;
export const { jsleImm, jsleReg, jsle32Imm, jsle32Reg } = J;

/** `goto target` (16-bit distance). */
export const ja = (target: Target) => withTarget(ins(Class.JMP | JmpOp.JA, 0, 0, 0, 0), target);
/** `gotol target` (32-bit distance, kernel 6.6). */
export const gotol = (target: Target) => withTarget(ins(Class.JMP32 | JmpOp.JA, 0, 0, 0, 0), target, true);
/** `may_goto target` (kernel 6.9). */
export const mayGoto = (target: Target) => withTarget(ins(Class.JMP | JmpOp.JCOND, 0, 0, 0, 0), target);

/** Calls a helper function by id or by name (`bpf_map_lookup_elem` or `map_lookup_elem`). */
export function call(helper: number | string): Instruction {
  if (typeof helper === "number") return ins(Class.JMP | JmpOp.CALL, 0, PseudoCall.HELPER, 0, helper);
  const info = helperByName(helper);
  if (!info) throw new LinkError(`unknown helper function ${helper}`, helper);
  return ins(Class.JMP | JmpOp.CALL, 0, PseudoCall.HELPER, 0, info.id);
}
/** A bpf-to-bpf call of the function that starts at `symbol`. */
export const callSubprogram = (symbol: string): Instruction =>
  ({ ...ins(Class.JMP | JmpOp.CALL, 0, PseudoCall.CALL, 0, -1), reference: symbol });
/** A call of a kernel function (kfunc), by name; the loader fills in its BTF id. */
export const callKfunc = (name: string): Instruction =>
  ({ ...ins(Class.JMP | JmpOp.CALL, 0, PseudoCall.KFUNC, 0, 0), reference: name });
export const exit = () => ins(Class.JMP | JmpOp.EXIT, 0, 0, 0, 0);

// ---- loads and stores --------------------------------------------------------------------

export type AccessSize = "b" | "h" | "w" | "dw";
const SIZES: Record<AccessSize, Size> = { b: Size.B, h: Size.H, w: Size.W, dw: Size.DW };

/** `dst = *(size *)(src + off)` */
export const ldx = (size: AccessSize, dst: Register, src: Register, off: number) =>
  ins(Class.LDX | Mode.MEM | SIZES[size], dst, src, off, 0);
/** Sign-extending load `dst = *(s8|s16|s32 *)(src + off)` (kernel 6.6). */
export const ldxs = (size: Exclude<AccessSize, "dw">, dst: Register, src: Register, off: number) =>
  ins(Class.LDX | Mode.MEMSX | SIZES[size], dst, src, off, 0);
/** `*(size *)(dst + off) = imm` */
export const st = (size: AccessSize, dst: Register, off: number, imm: number) =>
  ins(Class.ST | Mode.MEM | SIZES[size], dst, 0, off, imm);
/** `*(size *)(dst + off) = src` */
export const stx = (size: AccessSize, dst: Register, off: number, src: Register) =>
  ins(Class.STX | Mode.MEM | SIZES[size], dst, src, off, 0);

/** Legacy packet load `r0 = *(size *)skb[imm]`. */
export const ldAbs = (size: Exclude<AccessSize, "dw">, imm: number) => ins(Class.LD | Mode.ABS | SIZES[size], 0, 0, 0, imm);
/** Legacy packet load `r0 = *(size *)skb[src + imm]`. */
export const ldInd = (size: Exclude<AccessSize, "dw">, src: Register, imm: number) =>
  ins(Class.LD | Mode.IND | SIZES[size], 0, src, 0, imm);

// ---- atomics -----------------------------------------------------------------------------

export type AtomicOperation = "add" | "or" | "and" | "xor";
const ATOMIC_OPS: Record<AtomicOperation, number> = { add: AtomicOp.ADD, or: AtomicOp.OR, and: AtomicOp.AND, xor: AtomicOp.XOR };

/** `lock *(size *)(dst + off) op= src`; with `fetch`, src receives the old value. */
export const atomic = (op: AtomicOperation, size: "w" | "dw", dst: Register, off: number, src: Register, fetch = false) =>
  ins(Class.STX | Mode.ATOMIC | SIZES[size], dst, src, off, ATOMIC_OPS[op] | (fetch ? AtomicOp.FETCH : 0));
/** `src = xchg(dst + off, src)` */
export const xchg = (size: "w" | "dw", dst: Register, off: number, src: Register) =>
  ins(Class.STX | Mode.ATOMIC | SIZES[size], dst, src, off, AtomicOp.XCHG);
/** `r0 = cmpxchg(dst + off, r0, src)` */
export const cmpxchg = (size: "w" | "dw", dst: Register, off: number, src: Register) =>
  ins(Class.STX | Mode.ATOMIC | SIZES[size], dst, src, off, AtomicOp.CMPXCHG);
/** `dst = load_acquire((size *)(src + off))` (kernel 6.15). */
export const loadAcquire = (size: AccessSize, dst: Register, src: Register, off: number) =>
  ins(Class.STX | Mode.ATOMIC | SIZES[size], dst, src, off, AtomicOp.LOAD_ACQ);
/** `store_release((size *)(dst + off), src)` (kernel 6.15). */
export const storeRelease = (size: AccessSize, dst: Register, off: number, src: Register) =>
  ins(Class.STX | Mode.ATOMIC | SIZES[size], dst, src, off, AtomicOp.STORE_REL);

// ---- 64-bit immediates -------------------------------------------------------------------

const lddw = (dst: Register, src: number, value: bigint): Instruction => {
  const out: Instruction = { opcode: LD_IMM64, dst, src, off: 0, ...splitConstant(value) };
  assertValid(out);
  return out;
};
/** `dst = value ll` */
export const ldImm64 = (dst: Register, value: bigint | number) => lddw(dst, PseudoLd.NONE, BigInt(value));
/** Loads a pointer to the map named `map`; the loader puts in the map's fd. */
export const loadMapPtr = (dst: Register, map: string): Instruction => ({ ...lddw(dst, PseudoLd.MAP_FD, 0n), reference: map });
/** Loads a pointer to byte `offset` of the value of the array map named `map` (global data). */
export const loadMapValue = (dst: Register, map: string, offset = 0): Instruction => ({
  ...lddw(dst, PseudoLd.MAP_VALUE, BigInt(offset) << 32n),
  reference: map,
});
/** Loads a pointer to the map with this fd (already created). */
export const loadMapFd = (dst: Register, fd: number) => lddw(dst, PseudoLd.MAP_FD, BigInt(fd));
/** Loads the address of the BPF function at `symbol` (a callback for bpf_loop and friends). */
export const loadFunction = (dst: Register, symbol: string): Instruction => ({ ...lddw(dst, PseudoLd.FUNC, 0n), reference: symbol });

// ---- builder -----------------------------------------------------------------------------

/** Collects instructions and labels; `build()` resolves jumps and local calls. */
export class Builder {
  private readonly out: Instruction[] = [];
  private pending: string | undefined;

  /** Names the next instruction. A function's first instruction is its label. */
  label(name: string): this {
    if (this.pending !== undefined) throw new LinkError(`labels ${this.pending} and ${name} name the same instruction`, name);
    this.pending = name;
    return this;
  }

  add(...instructions: Instruction[]): this {
    for (const i of instructions) {
      if (this.pending !== undefined) {
        this.out.push({ ...i, symbol: this.pending });
        this.pending = undefined;
      } else {
        this.out.push(i);
      }
    }
    return this;
  }

  /** The instructions with labels resolved; references to maps and external symbols remain. */
  build(): Instruction[] {
    if (this.pending !== undefined) throw new LinkError(`label ${this.pending} names no instruction`, this.pending);
    return resolveReferences(this.out);
  }
}
