/**
 * Code sections: decoding, functions, and relocations turned into symbolic references.
 *
 * After this step every instruction that points elsewhere carries `reference`: a map name
 * (`src` MAP_FD), a data section (`src` MAP_VALUE, offset in `imm2`), a function (bpf-to-bpf call
 * or callback), or an extern (kconfig value, ksym, kfunc). Linking then needs no ELF.
 */
import {
  Class,
  InstructionError,
  JmpOp,
  LD_IMM64,
  PseudoCall,
  PseudoLd,
  decodeAt,
  slotCount,
  type Instruction,
} from "../asm/index.js";
import { SHN, STT } from "./constants.js";
import { isDataSection } from "./data.js";
import { ParseError } from "./errors.js";
import type { ElfFile, ElfRelocation, ElfSection } from "./reader.js";
import type { ExternSpec } from "./spec.js";

/**
 * A function (program or subprogram) in a code section. A function is identified by its section
 * and offset, as libbpf does: two objects linked together may each bring a static function of
 * the same name (libbpf's linker keeps both names).
 */
export interface CodeFunction {
  /** Its symbol's name, for display: not unique when two static functions share it. */
  readonly name: string;
  /**
   * What instructions name it by (`symbol` on its first instruction, `reference` on calls and
   * callbacks): the name when no other function of the object has it, else
   * `name@section+byteOffset` (see functionLabel).
   */
  readonly label: string;
  readonly section: string;
  /** First slot within the section. */
  readonly start: number;
  /** Slots after the last instruction. */
  readonly end: number;
  readonly global: boolean;
}

/** A decoded code section: instructions by slot, and its functions. */
export interface CodeSection {
  readonly section: ElfSection;
  /** Instructions, with the slot each starts at. */
  readonly instructions: Instruction[];
  readonly slots: number[];
  readonly functions: CodeFunction[];
}

const isCall = (ins: Instruction) => ins.opcode === (Class.JMP | JmpOp.CALL);

/** The label of a function whose name another function of the object shares. */
export const functionLabel = (name: string, section: string, start: number): string => `${name}@${section}+${start * 8}`;

/** A function for messages: its name, and its section and byte offset when the name is shared. */
export const describeFunction = (fn: CodeFunction): string => (fn.label === fn.name ? fn.name : `${fn.name} (${fn.section}+${fn.start * 8})`);

/** True for sections that hold code: executable PROGBITS with contents. */
export const isCodeSection = (s: ElfSection): boolean => (s.flags & 0x4) !== 0 && s.type === 1 && s.size > 0;

function decodeSection(elf: ElfFile, section: ElfSection): { instructions: Instruction[]; slots: number[] } {
  const data = section.data;
  if (data.byteLength % 8 !== 0) throw new ParseError(`code size ${data.byteLength} is not a multiple of 8`, { section: section.name, offset: section.offset });
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const instructions: Instruction[] = [];
  const slots: number[] = [];
  for (let pos = 0; pos < data.byteLength; ) {
    try {
      const { instruction, size } = decodeAt(view, pos, elf.byteOrder);
      instructions.push(instruction);
      slots.push(pos / 8);
      pos += size;
    } catch (e) {
      if (e instanceof InstructionError) throw new ParseError(`instruction ${pos / 8}: ${e.message.replace(/^at byte offset \d+: /, "")}`, { section: section.name, offset: section.offset + pos });
      throw e;
    }
  }
  return { instructions, slots };
}

/** Decodes every code section and finds its functions (STT_FUNC symbols). */
export function readCodeSections(elf: ElfFile): Map<number, CodeSection> {
  const out = new Map<number, CodeSection>();
  // How many functions of the object bear each name: a shared name gets labels by place.
  const uses = new Map<string, number>();
  for (const s of elf.symbols) {
    const section = elf.sections[s.sectionIndex];
    if (s.type === STT.FUNC && section && isCodeSection(section)) uses.set(s.name, (uses.get(s.name) ?? 0) + 1);
  }
  for (const section of elf.sections) {
    if (!isCodeSection(section)) continue;
    const { instructions, slots } = decodeSection(elf, section);
    const total = section.size / 8;
    const starts = elf.symbols
      .filter((s) => s.sectionIndex === section.index && s.type === STT.FUNC)
      .sort((a, b) => a.value - b.value);
    const functions: CodeFunction[] = starts.map((s, i) => {
      if (s.value % 8 !== 0 || s.value >= section.size) throw new ParseError(`function ${s.name} starts at ${s.value}, not at an instruction`, { section: section.name });
      const next = starts[i + 1];
      const end = s.size > 0 ? (s.value + s.size) / 8 : next ? next.value / 8 : total;
      if (!Number.isInteger(end) || end > total) throw new ParseError(`function ${s.name} (size ${s.size}) runs past the section`, { section: section.name });
      const start = s.value / 8;
      const label = (uses.get(s.name) ?? 0) > 1 || !s.name ? functionLabel(s.name, section.name, start) : s.name;
      return { name: s.name, label, section: section.name, start, end, global: s.bind !== 0 };
    });
    // Label each function's first instruction.
    for (const fn of functions) {
      const i = slots.indexOf(fn.start);
      if (i < 0) throw new ParseError(`function ${describeFunction(fn)} starts inside an instruction`, { section: section.name });
      instructions[i] = { ...(instructions[i] as Instruction), symbol: fn.label };
    }
    out.set(section.index, { section, instructions, slots, functions });
  }
  return out;
}

/** The function of `code` that contains `slot`. */
export function functionAt(code: CodeSection, slot: number): CodeFunction | undefined {
  return code.functions.find((f) => slot >= f.start && slot < f.end);
}

/** Everything relocation resolution needs to know besides the code itself. */
export interface RelocationContext {
  readonly elf: ElfFile;
  readonly code: Map<number, CodeSection>;
  /** Map name of a symbol in `.maps` / `maps`, by section name and offset. */
  readonly mapAt: (section: string, offset: number) => string | undefined;
  readonly externs: ReadonlyMap<string, ExternSpec>;
}

/**
 * Applies the relocations of every code section, and names the targets of local calls. Returns
 * the names of undefined symbols that are not externs (inline assembly's `r0 = MY_CONST ll`, a
 * forward-declared variable or function the object never defines): their instructions keep the
 * name as `reference`, for the user to resolve (resolveSymbol) or the loader to refuse.
 */
export function resolveRelocations(ctx: RelocationContext): Set<string> {
  const undefinedNames = new Set<string>();
  for (const code of ctx.code.values()) {
    const where = new Map<number, number>(code.slots.map((slot, i) => [slot, i]));
    const relocated = new Set<number>();
    for (const r of ctx.elf.relocationsFor(code.section)) {
      const i = where.get(r.offset / 8);
      if (r.offset % 8 !== 0 || i === undefined) {
        throw new ParseError(`relocation ${r.index} at ${r.offset} does not point at an instruction`, { section: code.section.name, offset: code.section.offset + r.offset });
      }
      code.instructions[i] = relocate(ctx, code, code.instructions[i] as Instruction, r, undefinedNames);
      relocated.add(i);
    }
    // Calls within the section need no relocation: name their target function.
    code.instructions.forEach((ins, i) => {
      if (relocated.has(i) || !isCall(ins) || ins.src !== PseudoCall.CALL) return;
      const target = (code.slots[i] as number) + ins.imm + 1;
      const fn = code.functions.find((f) => f.start === target);
      if (!fn) throw new ParseError(`call at instruction ${code.slots[i]} targets slot ${target}, which starts no function`, { section: code.section.name });
      code.instructions[i] = { ...ins, reference: fn.label };
    });
  }
  return undefinedNames;
}

function relocate(ctx: RelocationContext, code: CodeSection, ins: Instruction, r: ElfRelocation, undefinedNames: Set<string>): Instruction {
  const sym = r.symbol;
  const loc = { section: code.section.name, offset: code.section.offset + r.offset };
  const fail = (why: string): never => {
    throw new ParseError(`relocation ${r.index} (symbol ${sym.name || `#${r.symbolIndex}`}): ${why}`, loc);
  };
  const lddw = ins.opcode === LD_IMM64;
  if (sym.sectionIndex === SHN.UNDEF) {
    const ext = ctx.externs.get(sym.name);
    if (!ext) {
      // Neither a .kconfig nor a .ksyms extern: an unresolved reference, kept by name.
      if (!sym.name) fail("an undefined symbol without a name");
      undefinedNames.add(sym.name);
      if (lddw) return { ...ins, src: PseudoLd.NONE, reference: sym.name }; // imm: the addend
      if (isCall(ins)) return { ...ins, src: PseudoCall.CALL, imm: -1, reference: sym.name };
      return fail("an undefined symbol used other than by a 64-bit load or a call");
    }
    const e = ext as ExternSpec;
    if (e.kind === "kfunc") {
      if (isCall(ins)) return { ...ins, src: PseudoCall.KFUNC, imm: 0, off: 0, reference: e.name };
      // `if (bpf_task_from_pid)`, bpf_ksym_exists(): the kfunc's address as a value, which the
      // loader turns into its kernel BTF id (or 0 for a weak one the kernel lacks).
      if (!lddw) fail("a kernel function used other than by a call or a 64-bit load");
      return { ...ins, src: PseudoLd.BTF_ID, imm: 0, imm2: 0, reference: e.name };
    }
    if (!lddw) fail("an extern variable used other than by a 64-bit load");
    if (e.kind === "kconfig") return { ...ins, src: PseudoLd.MAP_VALUE, imm: 0, imm2: e.offset + ins.imm, reference: ".kconfig" };
    return { ...ins, src: e.typeless ? PseudoLd.NONE : PseudoLd.BTF_ID, imm: 0, imm2: 0, reference: e.name };
  }
  const target = ctx.elf.sections[sym.sectionIndex];
  if (!target) return fail(`symbol in section ${sym.sectionIndex}, which does not exist`);
  if (target.name === ".maps" || target.name === "maps") {
    if (!lddw) fail("a map used other than by a 64-bit load");
    const offset = sym.type === STT.SECTION ? ins.imm : sym.value;
    const name = ctx.mapAt(target.name, offset);
    if (name === undefined) fail(`no map at offset ${offset} of ${target.name}`);
    return { ...ins, src: PseudoLd.MAP_FD, imm: 0, imm2: 0, reference: name as string };
  }
  if (isDataSection(target.name)) {
    if (!lddw) fail("global data used other than by a 64-bit load");
    const offset = (sym.type === STT.SECTION ? 0 : sym.value) + ins.imm;
    return { ...ins, src: PseudoLd.MAP_VALUE, imm: 0, imm2: offset, reference: target.name };
  }
  const targetCode = ctx.code.get(target.index);
  if (targetCode) {
    // Calls: slot = symbol slot + imm + 1. Callbacks (lddw): byte offset = symbol value + imm.
    const slot = lddw ? (sym.value + ins.imm) / 8 : sym.value / 8 + ins.imm + 1;
    const fn = targetCode.functions.find((f) => f.start === slot);
    if (!fn) fail(`target slot ${slot} of ${target.name} starts no function`);
    const label = (fn as CodeFunction).label;
    if (lddw) return { ...ins, src: PseudoLd.FUNC, imm: 0, imm2: 0, reference: label };
    if (!isCall(ins) || ins.src !== PseudoCall.CALL) fail("a function used other than by a call or a 64-bit load");
    return { ...ins, reference: label };
  }
  return fail(`points into section ${target.name}, which tsebpf cannot relocate against`);
}

/** A function placed in a linked program: where its instructions start. */
export interface Placement {
  readonly fn: CodeFunction;
  readonly code: CodeSection;
  /** Slot in the linked program where the function starts. */
  readonly at: number;
}

/** The instructions of one function. */
function functionInstructions(code: CodeSection, fn: CodeFunction): Instruction[] {
  const out: Instruction[] = [];
  code.instructions.forEach((ins, i) => {
    const slot = code.slots[i] as number;
    if (slot >= fn.start && slot < fn.end) out.push(ins);
  });
  return out;
}

/**
 * The program's instructions followed by every function it reaches through calls and
 * callbacks, each once; returns them unresolved, with where each function was placed.
 */
export function gatherProgram(
  entry: CodeFunction,
  /** The object's functions by label (see CodeFunction.label). */
  functions: ReadonlyMap<string, { fn: CodeFunction; code: CodeSection }>,
  /** Undefined symbols (see resolveRelocations): calls to them stay unresolved references. */
  undefinedNames: ReadonlySet<string> = new Set(),
): { instructions: Instruction[]; placements: Placement[] } {
  const instructions: Instruction[] = [];
  const placements: Placement[] = [];
  const queue = [entry.label];
  const seen = new Set(queue);
  let at = 0;
  while (queue.length > 0) {
    const label = queue.shift() as string;
    const found = functions.get(label);
    if (!found) throw new ParseError(`program ${entry.name} calls ${label}, which the object does not define`, { section: entry.section });
    const body = functionInstructions(found.code, found.fn);
    placements.push({ fn: found.fn, code: found.code, at });
    for (const ins of body) {
      instructions.push(ins);
      at += slotCount(ins);
      const isFunctionRef = (isCall(ins) && ins.src === PseudoCall.CALL) || (ins.opcode === LD_IMM64 && ins.src === PseudoLd.FUNC);
      if (isFunctionRef && ins.reference !== undefined && !seen.has(ins.reference) && !undefinedNames.has(ins.reference)) {
        seen.add(ins.reference);
        queue.push(ins.reference);
      }
    }
  }
  return { instructions, placements };
}
