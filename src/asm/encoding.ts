import { InstructionError } from "./errors.js";
import { assertValid, type Instruction, type Register } from "./instruction.js";
import { LD_IMM64 } from "./opcodes.js";

/** Byte order of an instruction stream: `bpfel` objects are little endian, `bpfeb` big endian. */
export type ByteOrder = "little" | "big";

export const INSTRUCTION_SIZE = 8;

/** Byte order of this machine (the kernel's): instructions, maps and attrs use it. */
export const HOST_ORDER: ByteOrder = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? "little" : "big";
/** `HOST_ORDER === "little"`, for DataView calls. */
export const HOST_LE = HOST_ORDER === "little";

/**
 * Writes one instruction at `pos` and returns the number of bytes written (8 or 16).
 * Throws InstructionError for an invalid instruction.
 */
export function encodeInto(ins: Instruction, view: DataView, pos: number, order: ByteOrder = "little"): number {
  assertValid(ins);
  const le = order === "little";
  const size = ins.opcode === LD_IMM64 ? 16 : 8;
  if (pos < 0 || pos + size > view.byteLength) {
    throw new InstructionError(`no room for a ${size}-byte instruction`, pos);
  }
  view.setUint8(pos, ins.opcode);
  view.setUint8(pos + 1, le ? (ins.src << 4) | ins.dst : (ins.dst << 4) | ins.src);
  view.setInt16(pos + 2, ins.off, le);
  view.setInt32(pos + 4, ins.imm, le);
  if (size === 16) {
    view.setUint32(pos + 8, 0, le);
    view.setInt32(pos + 12, ins.imm2 ?? 0, le);
  }
  return size;
}

/** Encodes instructions into a new buffer. */
export function encode(instructions: readonly Instruction[], order: ByteOrder = "little"): Uint8Array {
  let size = 0;
  for (const ins of instructions) size += ins.opcode === LD_IMM64 ? 16 : 8;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let pos = 0;
  for (const ins of instructions) {
    try {
      pos += encodeInto(ins, view, pos, order);
    } catch (e) {
      if (e instanceof InstructionError && e.offset === undefined) throw new InstructionError(e.message, pos);
      throw e;
    }
  }
  return bytes;
}

/**
 * Reads one instruction at byte `pos`. Returns it with its size in bytes.
 * Throws InstructionError naming the offset for a truncated or invalid encoding.
 */
export function decodeAt(
  view: DataView,
  pos: number,
  order: ByteOrder = "little",
): { instruction: Instruction; size: 8 | 16 } {
  const le = order === "little";
  if (pos + 8 > view.byteLength) {
    throw new InstructionError(`truncated instruction: ${view.byteLength - pos} bytes left, need 8`, pos);
  }
  const opcode = view.getUint8(pos);
  const regs = view.getUint8(pos + 1);
  const dst = (le ? regs & 0x0f : regs >> 4) as Register;
  const src = le ? regs >> 4 : regs & 0x0f;
  const off = view.getInt16(pos + 2, le);
  const imm = view.getInt32(pos + 4, le);
  if (opcode !== LD_IMM64) {
    const instruction: Instruction = { opcode, dst, src, off, imm };
    assertValid(instruction, pos);
    return { instruction, size: 8 };
  }
  if (pos + 16 > view.byteLength) {
    throw new InstructionError("truncated lddw: the second half of the 16-byte instruction is missing", pos);
  }
  if (view.getUint8(pos + 8) !== 0 || view.getUint8(pos + 9) !== 0 || view.getInt16(pos + 10, le) !== 0) {
    throw new InstructionError("lddw second slot must have opcode, registers and offset zero", pos);
  }
  const instruction: Instruction = { opcode, dst, src, off, imm, imm2: view.getInt32(pos + 12, le) };
  assertValid(instruction, pos);
  return { instruction, size: 16 };
}

/** Decodes a whole instruction stream. Its length must be a multiple of 8. */
export function decode(bytes: Uint8Array, order: ByteOrder = "little"): Instruction[] {
  if (bytes.byteLength % 8 !== 0) {
    throw new InstructionError(`instruction stream length ${bytes.byteLength} is not a multiple of 8`, bytes.byteLength - (bytes.byteLength % 8));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = [];
  for (let pos = 0; pos < bytes.byteLength; ) {
    const { instruction, size } = decodeAt(view, pos, order);
    out.push(instruction);
    pos += size;
  }
  return out;
}
