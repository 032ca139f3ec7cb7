/**
 * fast-check arbitraries of whole instruction sequences whose jumps are valid: every jump (and
 * gotol) lands on the first slot of an instruction inside the program, never inside an lddw,
 * and the program ends in exit.
 */
import fc from "fast-check";
import { Class, JmpOp, LD_IMM64, PseudoCall, Source, type Instruction } from "../asm/index.js";
import { JMP_COND, aluBinary, aluOther, atomics, imm32, lddw, memory, mk, reg } from "./instructions.js";

/** Instructions that fall through to the next one: ALU, memory, atomics, lddw, helper calls. */
export const straightLine: fc.Arbitrary<Instruction> = fc.oneof(
  { arbitrary: aluBinary, weight: 4 },
  { arbitrary: aluOther, weight: 1 },
  { arbitrary: memory, weight: 3 },
  { arbitrary: atomics, weight: 1 },
  { arbitrary: lddw, weight: 1 },
  { arbitrary: imm32.map((imm) => mk(Class.JMP | JmpOp.CALL, 0, PseudoCall.HELPER, 0, imm)), weight: 1 },
);

/** A jump whose distance is filled in later: conditional (JMP/JMP32, register or immediate), ja, gotol. */
const jumpTemplate: fc.Arbitrary<Instruction> = fc.oneof(
  { arbitrary: fc.tuple(fc.constantFrom(Class.JMP, Class.JMP32), fc.constantFrom(...JMP_COND), fc.boolean(), reg, reg, imm32)
      .map(([cls, op, byReg, dst, src, imm]) => (byReg ? mk(cls | op | Source.X, dst, src, 0, 0) : mk(cls | op | Source.K, dst, 0, 0, imm))), weight: 4 },
  { arbitrary: fc.constant(mk(Class.JMP | JmpOp.JA, 0, 0, 0, 0)), weight: 1 },
  { arbitrary: fc.constant(mk(Class.JMP32 | JmpOp.JA, 0, 0, 0, 0)), weight: 1 },
);

/** Slots an instruction takes (lddw: two). */
export const slotsOf = (ins: Instruction): number => (ins.opcode === LD_IMM64 ? 2 : 1);

/** Is `ins` a jump with a distance (conditional, ja, gotol; not call or exit)? */
export function isJump(ins: Instruction): boolean {
  const cls = ins.opcode & 0x07;
  if (cls !== Class.JMP && cls !== Class.JMP32) return false;
  const op = ins.opcode & 0xf0;
  return op !== JmpOp.CALL && op !== JmpOp.EXIT;
}

/** The slot a jump at `slot` goes to (gotol's distance is its immediate). */
export function jumpTarget(ins: Instruction, slot: number): number {
  const gotol = ins.opcode === (Class.JMP32 | JmpOp.JA);
  return slot + 1 + (gotol ? ins.imm : ins.off);
}

export interface ProgramOptions {
  /** Instructions before the final exit (default 0..40; at most 16000, so that every distance fits 16 bits). */
  minLength?: number;
  maxLength?: number;
  /** Weight of jumps against straight-line instructions (4); default 1. */
  jumpWeight?: number;
}

/** A program of straight-line instructions and jumps, each jump to an instruction of the program, ending in exit. */
export function program(options: ProgramOptions = {}): fc.Arbitrary<Instruction[]> {
  const { minLength = 0, maxLength = 40, jumpWeight = 1 } = options;
  if (maxLength > 16_000) throw new RangeError(`program(): maxLength ${maxLength} is over 16000 (a jump's distance must fit 16 bits)`);
  const item = fc.oneof(
    { arbitrary: straightLine.map((ins) => ({ ins, target: -1 })), weight: 4 },
    { arbitrary: fc.tuple(jumpTemplate, fc.nat()).map(([ins, target]) => ({ ins, target })), weight: jumpWeight },
  );
  return fc.array(item, { minLength, maxLength }).map((items) => {
    const all = [...items, { ins: mk(Class.JMP | JmpOp.EXIT, 0, 0, 0, 0), target: -1 }];
    const slot: number[] = [];
    let at = 0;
    for (const { ins } of all) {
      slot.push(at);
      at += slotsOf(ins);
    }
    return all.map(({ ins, target }, i) => {
      if (target < 0) return ins;
      const distance = slot[target % all.length]! - (slot[i]! + 1);
      return ins.opcode === (Class.JMP32 | JmpOp.JA) ? { ...ins, imm: distance } : { ...ins, off: distance };
    });
  });
}
