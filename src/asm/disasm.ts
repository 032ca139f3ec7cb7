/** Disassembly of instruction streams: numbered lines like llvm-objdump's. */
import { decodeAt, type ByteOrder } from "./encoding.js";
import { InstructionError } from "./errors.js";
import { formatInstruction, type FormatOptions } from "./format.js";
import { slotCount, type Instruction } from "./instruction.js";

export interface DisassembledLine {
  /** Slot index (8-byte units) of the instruction. */
  readonly slot: number;
  /** The instruction, or undefined where the bytes were not a valid instruction. */
  readonly instruction: Instruction | undefined;
  /** LLVM-syntax text (`<unknown>` for invalid bytes, like llvm-objdump). */
  readonly text: string;
}

export interface DisassembleOptions extends FormatOptions {
  readonly order?: ByteOrder;
  /** What to do with bytes that are no valid instruction: throw (default) or print `<unknown>`. */
  readonly onInvalid?: "throw" | "unknown";
}

/** A named position in an instruction stream, for `<symbol+offset>` annotations. */
export interface CodeSymbol {
  readonly name: string;
  readonly slot: number;
}

/**
 * The llvm-objdump annotation of a jump target: the nearest symbol at or before the target,
 * `<name>` or `<name+0xbytes>`. Symbols later in the list win ties (pass section symbols first).
 */
export function symbolizer(symbols: readonly CodeSymbol[]): (slot: number) => string | undefined {
  const sorted = symbols.map((s, i) => ({ ...s, i })).sort((a, b) => a.slot - b.slot || a.i - b.i);
  return (slot) => {
    let best: CodeSymbol | undefined;
    for (const s of sorted) {
      if (s.slot > slot) break;
      best = s;
    }
    if (!best) return undefined;
    const delta = (slot - best.slot) * 8;
    return delta === 0 ? `<${best.name}>` : `<${best.name}+0x${delta.toString(16)}>`;
  };
}

/** Disassembles raw bytes. */
export function disassembleBytes(bytes: Uint8Array, options: DisassembleOptions = {}): DisassembledLine[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const order = options.order ?? "little";
  const lines: DisassembledLine[] = [];
  for (let pos = 0; pos < bytes.byteLength; ) {
    const slot = pos / 8;
    try {
      const { instruction, size } = decodeAt(view, pos, order);
      lines.push({ slot, instruction, text: formatInstruction(instruction, options, slot) });
      pos += size;
    } catch (e) {
      if (!(e instanceof InstructionError) || options.onInvalid !== "unknown") throw e;
      lines.push({ slot, instruction: undefined, text: "<unknown>" });
      pos += 8;
    }
  }
  return lines;
}

/** Disassembles decoded instructions. */
export function disassemble(instructions: readonly Instruction[], options: FormatOptions = {}): DisassembledLine[] {
  const lines: DisassembledLine[] = [];
  let slot = 0;
  for (const instruction of instructions) {
    lines.push({ slot, instruction, text: formatInstruction(instruction, options, slot) });
    slot += slotCount(instruction);
  }
  return lines;
}

/** llvm-objdump's line layout: the slot right-aligned in 8 columns, a colon and a tab. */
export const objdumpLine = (line: DisassembledLine): string => `${String(line.slot).padStart(8)}:\t${line.text}`;
