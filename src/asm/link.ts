/**
 * Resolution of symbolic references inside one instruction sequence: jumps to labels and
 * bpf-to-bpf calls to functions of the same sequence become slot offsets. References to
 * anything else (maps, external functions, kfuncs) stay for the object writer or the loader.
 */
import { LinkError } from "./errors.js";
import { slotCount, type Instruction } from "./instruction.js";
import { Class, JmpOp, PseudoCall, PseudoLd, LD_IMM64, classOf, opOf, sourceOf, Source } from "./opcodes.js";

/** True for instructions whose offset (or gotol's imm) is a jump distance. */
export function isJump(ins: Instruction): boolean {
  const cls = classOf(ins.opcode);
  if (cls !== Class.JMP && cls !== Class.JMP32) return false;
  const op = opOf(ins.opcode);
  return op !== JmpOp.CALL && op !== JmpOp.EXIT;
}

/** True for a call to another BPF function (`src` = BPF_PSEUDO_CALL). */
export const isSubprogramCall = (ins: Instruction): boolean =>
  ins.opcode === (Class.JMP | JmpOp.CALL) && ins.src === PseudoCall.CALL;

/** True for an lddw that loads the address of a BPF function (callbacks). */
export const isFunctionReference = (ins: Instruction): boolean =>
  ins.opcode === LD_IMM64 && ins.src === PseudoLd.FUNC;

/** True for a gotol (`JMP32 | JA`), whose distance is in imm. */
export const isLongJump = (ins: Instruction): boolean =>
  ins.opcode === (Class.JMP32 | JmpOp.JA) && sourceOf(ins.opcode) === Source.K;

/** Slot index of every symbol defined in the sequence. */
export function symbolOffsets(instructions: readonly Instruction[]): Map<string, number> {
  const out = new Map<string, number>();
  let slot = 0;
  for (const ins of instructions) {
    if (ins.symbol !== undefined) {
      if (out.has(ins.symbol)) throw new LinkError(`symbol ${ins.symbol} is defined twice`, ins.symbol);
      out.set(ins.symbol, slot);
    }
    slot += slotCount(ins);
  }
  return out;
}

/**
 * Returns the sequence with every local reference resolved. Jumps must reach a local label;
 * calls and function references to symbols outside the sequence are left as they are.
 * The `reference` stays on resolved instructions, so a sequence can be relinked after it is
 * rearranged (as the loader does when it appends subprograms).
 */
export function resolveReferences(instructions: readonly Instruction[]): Instruction[] {
  const symbols = symbolOffsets(instructions);
  const out: Instruction[] = [];
  let slot = 0;
  for (const ins of instructions) {
    const here = slot;
    slot += slotCount(ins);
    const name = ins.reference;
    if (name === undefined) {
      out.push(ins);
      continue;
    }
    const target = symbols.get(name);
    const delta = target === undefined ? undefined : target - here - 1;
    if (isJump(ins)) {
      if (delta === undefined) throw new LinkError(`jump to unknown label ${name}`, name);
      if (isLongJump(ins)) {
        out.push({ ...ins, imm: delta });
      } else {
        if (delta < -32768 || delta > 32767) {
          throw new LinkError(`jump to ${name} is ${delta} instructions away, out of range for goto (use gotol)`, name);
        }
        out.push({ ...ins, off: delta });
      }
    } else if ((isSubprogramCall(ins) || isFunctionReference(ins)) && delta !== undefined) {
      out.push({ ...ins, imm: delta });
    } else {
      out.push(ins);
    }
  }
  return out;
}
