/**
 * Applying a resolution to the instruction the compiler emitted: the immediate of an ALU
 * instruction (`r1 = 8`, `r1 <<= 36`), the offset (and, for a field whose size changed, the
 * width) of a load or store, the 64-bit constant of an `lddw`. Before patching, the instruction
 * must carry the local value, as the compiler computed it: anything else means the relocation
 * record and the code disagree.
 */
import { formatInstruction } from "../../asm/format.js";
import { checkInstruction, constant64, splitConstant, type Instruction } from "../../asm/instruction.js";
import {
  AluOp,
  Class,
  JmpOp,
  LD_IMM64,
  Mode,
  PseudoLd,
  Size,
  Source,
  classOf,
  modeOf,
  opOf,
  sizeBytes,
  sizeOf,
  sourceOf,
} from "../../asm/opcodes.js";
import { CoreReloKind } from "../ext.js";
import type { CoreResolution } from "./calc.js";
import { CoreError } from "./errors.js";

/** The helper id a poisoned instruction calls (libbpf's choice): the verifier reports it as an unknown function if the code is reachable. */
export const POISON_HELPER_ID = 0xbad2310;

/** `call 0xbad2310`, keeping the instruction's label. */
function poisonCall(ins: Instruction | undefined): Instruction {
  const call: Instruction = { opcode: Class.JMP | JmpOp.CALL, dst: 0, src: 0, off: 0, imm: POISON_HELPER_ID };
  return ins?.symbol !== undefined ? { ...call, symbol: ins.symbol } : call;
}

/** The poisoned form of `ins`: one call, or two for the 16-byte lddw (so that every later slot keeps its place). */
export function poisonInstruction(ins: Instruction): Instruction[] {
  return ins.opcode === LD_IMM64 ? [poisonCall(ins), poisonCall(undefined)] : [poisonCall(ins)];
}

export interface PatchOptions {
  /** Throw a CoreError instead of poisoning (a poisoned resolution, or a load that cannot be resized). */
  readonly strict?: boolean;
}

const BYTES_TO_SIZE: Readonly<Record<number, number>> = { 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW };

/**
 * Applies `res` to `ins`, the instruction at slot `index` of its section. Returns the patched
 * instruction, or the poisoned replacement (two slots for an lddw). Throws CoreError when the
 * instruction is not one CO-RE can relocate or does not carry the local value.
 */
export function patchInstruction(ins: Instruction, res: CoreResolution, index: number, options: PatchOptions = {}): Instruction[] {
  const fail = (reason: string): CoreError =>
    new CoreError(`${reason} (insn: ${describeInsn(ins)})`, {
      kind: res.kindName,
      insnIndex: index,
      accessStr: res.accessStr,
      localType: res.localType,
      path: res.path,
    });
  const poison = (reason: string): Instruction[] => {
    if (options.strict) throw fail(reason);
    return poisonInstruction(ins);
  };
  if (res.poison || res.target === undefined) return poison(res.reason ?? "poisoned");
  const local = BigInt(res.local);
  const target = BigInt(res.target);
  const cls = classOf(ins.opcode);
  const checked = (patched: Instruction): Instruction[] => {
    const why = checkInstruction(patched);
    if (why !== undefined) throw fail(`the patched instruction is invalid: ${why}`);
    return [patched];
  };

  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const op = opOf(ins.opcode);
      if (sourceOf(ins.opcode) !== Source.K || op === AluOp.NEG || op === AluOp.END) throw fail("an ALU instruction without an immediate operand cannot be relocated");
      const is64 = cls === Class.ALU64;
      // The immediate is sign-extended to 64 bits in ALU64, used as 32 bits in ALU.
      const current = is64 ? BigInt(ins.imm) : BigInt(ins.imm >>> 0);
      const expected = is64 ? BigInt.asIntN(64, local) : BigInt.asUintN(32, local);
      if (res.validate && current !== expected) throw fail(`the instruction's immediate is ${ins.imm}, but the local value is ${local}`);
      const fits = is64 ? target >= -(2n ** 31n) && target < 2n ** 31n : target >= -(2n ** 31n) && target < 2n ** 32n;
      if (!fits) throw fail(`the target value ${target} does not fit the ${is64 ? "sign-extended " : ""}32-bit immediate`);
      return checked({ ...ins, imm: Number(BigInt.asIntN(32, target)) });
    }
    case Class.LDX:
    case Class.ST:
    case Class.STX: {
      if (res.validate && BigInt(ins.off) !== local) throw fail(`the instruction's offset is ${ins.off}, but the local value is ${local}`);
      if (target < -32768n || target > 32767n) throw fail(`the target offset ${target} does not fit the 16-bit offset field`);
      let opcode = ins.opcode;
      if (res.kind === CoreReloKind.FIELD_BYTE_OFFSET && res.localSize !== undefined && res.targetSize !== undefined && res.localSize !== res.targetSize) {
        if (res.resizeProblem !== undefined) return poison(`the field changed size from ${res.localSize} to ${res.targetSize} bytes; ${res.resizeProblem}`);
        const width = sizeBytes(sizeOf(ins.opcode));
        if (width !== res.localSize) throw fail(`the instruction accesses ${width} bytes, but the local field has ${res.localSize}`);
        const size = BYTES_TO_SIZE[res.targetSize];
        if (size === undefined) throw fail(`the target field has ${res.targetSize} bytes, which no load or store can access at once`);
        let mode = modeOf(ins.opcode);
        if (mode === Mode.MEMSX && size === Size.DW) mode = Mode.MEM; // a 64-bit load needs no sign extension
        opcode = mode | (size as number) | cls;
      }
      return checked({ ...ins, opcode, off: Number(target) });
    }
    case Class.LD: {
      if (ins.opcode !== LD_IMM64 || ins.src !== PseudoLd.NONE || ins.off !== 0) throw fail("only an lddw of a plain 64-bit constant can be relocated");
      if (res.validate && constant64(ins) !== BigInt.asUintN(64, local)) throw fail(`the instruction's constant is ${constant64(ins)}, but the local value is ${BigInt.asUintN(64, local)}`);
      if (target < -(2n ** 63n) || target >= 2n ** 64n) throw fail(`the target value ${target} does not fit in 64 bits`);
      return checked({ ...ins, ...splitConstant(target) });
    }
  }
  throw fail("this kind of instruction cannot be relocated (only ALU with an immediate, loads, stores and lddw can)");
}

function describeInsn(ins: Instruction): string {
  try {
    return formatInstruction(ins);
  } catch {
    return `opcode 0x${ins.opcode.toString(16)}`;
  }
}
