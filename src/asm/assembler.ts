/**
 * The text assembler: LLVM BPF assembly syntax to instructions. Accepts what `llvm-mc
 * -triple=bpfel` accepts for instructions (both decimal and hex, `r`/`w` registers, labels,
 * `ld_pseudo`), encodes it byte for byte the same, and adds what LLVM 19 lacks: load-acquire,
 * store-release and `skb[rN + imm]`.
 *
 * Labels resolve within their section; references to other symbols (maps, external functions)
 * are kept on the instruction (`reference`) for the object writer or loader.
 */
import { AsmSyntaxError, LinkError } from "./errors.js";
import { slotCount, type Instruction, type Register, splitConstant } from "./instruction.js";
import { tokenize, type Token } from "./lexer.js";
import { Cursor, fits, type Reg } from "./cursor.js";
import { DATA_DIRECTIVES, dataSize, type DataItem } from "./data.js";

export { encodeData, type DataItem } from "./data.js";
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
  Size,
  Source,
} from "./opcodes.js";
import { ALU_SYMBOLS, ATOMIC_SYMBOLS, JMP_SYMBOLS } from "./format.js";

/** One section of assembled code. */
export interface AsmSection {
  readonly name: string;
  readonly instructions: Instruction[];
  /** Data of a data section (`.byte`, `.long`, `.asciz`, …), in order; empty for code. */
  readonly data: DataItem[];
  /** Every label: its slot (code sections) or byte offset (data sections). */
  readonly symbols: Map<string, number>;
  /** Symbols declared global (`.globl`). */
  readonly globals: Set<string>;
}


export interface AssembleOptions {
  /** File name used in error messages. */
  readonly source?: string;
}

export interface AsmProgram {
  readonly sections: AsmSection[];
}

const invert = (table: Readonly<Record<number, string>>) =>
  new Map(Object.entries(table).map(([k, v]) => [v, Number(k)]));
const ALU_BY_SYMBOL = invert(ALU_SYMBOLS);
const JMP_BY_SYMBOL = invert(JMP_SYMBOLS);
const ATOMIC_BY_SYMBOL = new Map(Object.entries(ATOMIC_SYMBOLS).map(([k, v]) => [v.sym, Number(k)]));
const ATOMIC_BY_NAME = new Map(Object.entries(ATOMIC_SYMBOLS).map(([k, v]) => [v.name, Number(k)]));
const SIZE_BY_BITS: Record<string, Size> = { "8": Size.B, "16": Size.H, "32": Size.W, "64": Size.DW };
const IGNORED_DIRECTIVES = new Set([
  ".type", ".size", ".p2align", ".align", ".file", ".addrsig", ".addrsig_sym", ".ident", ".loc", ".cfi_sections",
  ".cfi_startproc", ".cfi_endproc", ".local",
]);

class Parser {
  private readonly sections = new Map<string, AsmSection>();
  private section: AsmSection;
  private pendingSymbols: string[] = [];
  /** Where each instruction came from, for link errors. */
  private readonly origin = new Map<Instruction, Token>();

  constructor(private readonly source: string | undefined) {
    this.section = this.switchTo(".text");
  }

  private switchTo(name: string): AsmSection {
    this.flushSymbols();
    let s = this.sections.get(name);
    if (!s) {
      s = { name, instructions: [], data: [], symbols: new Map(), globals: new Set() };
      this.sections.set(name, s);
    }
    this.section = s;
    return s;
  }

  /** Labels at the end of a section name no instruction: nothing can use them, so they are dropped. */
  private flushSymbols(): void {
    this.pendingSymbols = [];
  }

  run(text: string): AsmProgram {
    for (const statement of tokenize(text, this.source)) this.statement(new Cursor(statement, this.source));
    this.flushSymbols();
    for (const section of this.sections.values()) this.link(section);
    return { sections: [...this.sections.values()].filter((s) => s.instructions.length > 0 || s.data.length > 0 || s.globals.size > 0) };
  }

  private link(section: AsmSection): void {
    try {
      const unaliased = section.instructions.map((ins) => {
        const target = ins.reference === undefined ? undefined : this.aliases.get(ins.reference);
        if (target === undefined) return ins;
        const out = { ...ins, reference: target };
        this.origin.set(out, this.origin.get(ins) as Token);
        return out;
      });
      const linked = resolveReferences(unaliased);
      section.instructions.splice(0, section.instructions.length, ...linked);
    } catch (e) {
      if (e instanceof LinkError) {
        const at = section.instructions.find((i) => i.reference === e.symbol || this.aliases.get(i.reference ?? "") === e.symbol);
        const token = at ? this.origin.get(at) : undefined;
        if (token) throw new AsmSyntaxError(e.message, token.line, token.column, this.source);
      }
      throw e;
    }
  }

  private emit(c: Cursor, first: Token, ins: Instruction): void {
    c.end();
    if (this.section.data.length > 0) c.fail(`section ${this.section.name} holds data: instructions cannot follow`, first);
    const slot = this.nextSlot.get(this.section) ?? 0;
    this.nextSlot.set(this.section, slot + slotCount(ins));
    for (const name of this.pendingSymbols) this.defineSymbol(name, slot, first);
    let out = ins;
    if (this.pendingSymbols.length > 0) {
      // Several labels on one instruction: the first names it, the rest alias it.
      const [name, ...aliases] = this.pendingSymbols;
      out = { ...ins, symbol: name };
      for (const alias of aliases) this.aliases.set(alias, name as string);
      this.pendingSymbols = [];
    }
    this.section.instructions.push(out);
    this.origin.set(out, first);
  }
  private readonly aliases = new Map<string, string>();
  private readonly nextSlot = new Map<AsmSection, number>();
  private readonly symbolNames = new Set<string>();

  private defineSymbol(name: string, at: number, token: Token): void {
    if (this.symbolNames.has(name)) throw new AsmSyntaxError(`symbol ${name} is defined twice`, token.line, token.column, this.source);
    this.symbolNames.add(name);
    this.section.symbols.set(name, at);
  }

  private dataDirective(c: Cursor, d: Token): void {
    if (this.section.instructions.length > 0) c.fail(`section ${this.section.name} holds code: data cannot follow`, d);
    const offset = dataSize(this.section.data);
    for (const name of this.pendingSymbols) this.defineSymbol(name, offset, d);
    this.pendingSymbols = [];
    const items = this.section.data;
    const width = DATA_DIRECTIVES[d.text];
    if (width !== undefined) {
      do {
        const at = c.peek();
        const v = c.integer("a value");
        if (!fits(v, width * 8)) c.fail(`value ${v} does not fit in ${width} bytes`, at);
        items.push({ size: width, value: v });
      } while (c.accept(","));
      return c.end();
    }
    if (d.text === ".zero" || d.text === ".space" || d.text === ".skip") {
      const at = c.peek();
      const n = c.integer("a size");
      if (n < 0n || n > 1n << 24n) c.fail(`size ${n} is out of range`, at);
      items.push({ bytes: new Uint8Array(Number(n)) });
      return c.end();
    }
    // .ascii / .asciz / .string: one or more string literals.
    do {
      const t = c.next();
      if (t.kind !== "ident" || !t.text.startsWith('"')) c.fail("expected a string literal", t);
      const text = JSON.parse(t.text.replace(/\\([0-7]{1,3})/g, (_m, o: string) => `\\u${parseInt(o, 8).toString(16).padStart(4, "0")}`)) as string;
      const bytes = Buffer.from(text, "latin1");
      items.push({ bytes: d.text === ".ascii" ? Uint8Array.from(bytes) : Uint8Array.from([...bytes, 0]) });
    } while (c.accept(","));
    return c.end();
  }

  private statement(c: Cursor): void {
    const first = c.peek();
    // Labels: `name:` (names may start with a dot, like .LBB0_1).
    if ((first.kind === "ident" || first.kind === "directive") && c.is(":", 1)) {
      c.next();
      c.next();
      this.pendingSymbols.push(first.text);
      if (c.peek().kind !== "end") this.statement(c);
      return;
    }
    if (first.kind === "directive" || (first.kind === "ident" && first.text.startsWith("."))) return this.directive(c);
    if (c.is("*")) return this.emit(c, first, this.store(c));
    if (first.kind !== "ident") c.fail(`expected an instruction, found '${first.text}'`);
    const word = first.text.toLowerCase();
    switch (word) {
      case "exit":
        c.next();
        return this.emit(c, first, { opcode: Class.JMP | JmpOp.EXIT, dst: 0, src: 0, off: 0, imm: 0 });
      case "call":
        c.next();
        return this.emit(c, first, this.call(c));
      case "callx": {
        c.next();
        const r = c.register();
        return this.emit(c, first, { opcode: Class.JMP | JmpOp.CALL | Source.X, dst: r.n, src: 0, off: 0, imm: 0 });
      }
      case "goto":
      case "may_goto": {
        c.next();
        const op = word === "goto" ? JmpOp.JA : JmpOp.JCOND;
        return this.emit(c, first, this.jumpTarget(c, { opcode: Class.JMP | op, dst: 0, src: 0, off: 0, imm: 0 }, false));
      }
      case "gotol":
        c.next();
        return this.emit(c, first, this.jumpTarget(c, { opcode: Class.JMP32 | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0 }, true));
      case "if":
        c.next();
        return this.emit(c, first, this.conditional(c));
      case "lock":
        c.next();
        return this.emit(c, first, this.lock(c));
      case "store_release":
        c.next();
        return this.emit(c, first, this.storeRelease(c));
      case "ld_pseudo":
        c.next();
        return this.emit(c, first, this.ldPseudo(c));
    }
    if (c.isRegister()) return this.emit(c, first, this.assignment(c));
    c.fail(`unknown instruction '${first.text}'`);
  }

  private directive(c: Cursor): void {
    const d = c.next();
    const name = d.text;
    if (name === ".text" || name === ".data" || name === ".bss" || name === ".rodata") {
      this.switchTo(name);
      return c.end();
    }
    if (name === ".section") {
      const t = c.next();
      if (t.kind !== "ident" && t.kind !== "directive") c.fail("expected a section name", t);
      this.switchTo(t.text.replace(/^"|"$/g, ""));
      return; // flags, type and entry size after the name are ignored
    }
    if (name === ".globl" || name === ".global" || name === ".weak") {
      do {
        const t = c.next();
        if (t.kind !== "ident" && t.kind !== "directive") c.fail("expected a symbol name", t);
        this.section.globals.add(t.text);
      } while (c.accept(","));
      return c.end();
    }
    if (name in DATA_DIRECTIVES || [".zero", ".space", ".skip", ".ascii", ".asciz", ".string"].includes(name)) return this.dataDirective(c, d);
    if (IGNORED_DIRECTIVES.has(name)) return;
    c.fail(`unsupported directive '${name}'`, d);
  }

  private imm32(c: Cursor, what = "an immediate"): number {
    const at = c.peek();
    const v = c.integer(what);
    if (!fits(v, 32)) c.fail(`${what} ${v} does not fit in 32 bits`, at);
    return Number(BigInt.asIntN(32, v));
  }

  private off16(c: Cursor, what: string): number {
    const at = c.peek();
    const v = c.integer(what);
    if (!fits(v, 16, true)) c.fail(`${what} ${v} does not fit in a signed 16-bit offset`, at);
    return Number(v);
  }

  private call(c: Cursor): Instruction {
    const op = Class.JMP | JmpOp.CALL;
    const t = c.peek();
    if (t.kind === "ident" || t.kind === "directive") {
      c.next();
      // Like llvm-mc: a call to a symbol is a bpf-to-bpf call, resolved when the symbol is local.
      return { opcode: op, dst: 0, src: PseudoCall.CALL, off: 0, imm: -1, reference: t.text };
    }
    return { opcode: op, dst: 0, src: PseudoCall.HELPER, off: 0, imm: this.imm32(c, "a function number") };
  }

  /** A jump target: a signed slot offset (`+3`, `-2`) or a label. */
  private jumpTarget(c: Cursor, ins: Instruction, long: boolean): Instruction {
    const t = c.peek();
    if (t.kind === "ident" || t.kind === "directive") {
      c.next();
      return { ...ins, reference: t.text };
    }
    c.accept("+");
    if (long) return { ...ins, imm: this.imm32(c, "a jump offset") };
    return { ...ins, off: this.off16(c, "jump offset") };
  }

  private conditional(c: Cursor): Instruction {
    const dst = c.register();
    const opTok = c.next();
    const op = JMP_BY_SYMBOL.get(opTok.text);
    if (op === undefined) c.fail(`expected a comparison${opTok.kind === "end" ? "" : `, found '${opTok.text}'`}`, opTok);
    const cls = dst.wide ? Class.JMP : Class.JMP32;
    let ins: Instruction;
    if (c.isRegister()) {
      const src = c.register();
      if (src.wide !== dst.wide) c.fail("both registers of a comparison must be r or both w", src.token);
      ins = { opcode: cls | op | Source.X, dst: dst.n, src: src.n, off: 0, imm: 0 };
    } else {
      ins = { opcode: cls | op | Source.K, dst: dst.n, src: 0, off: 0, imm: this.imm32(c) };
    }
    c.expect("goto");
    return this.jumpTarget(c, ins, false);
  }

  /** `*(u32 *)` or `(u32 *)`: returns the size and whether it was signed. */
  private pointerType(c: Cursor, star: boolean): { size: Size; signed: boolean; bits: string; token: Token } {
    if (star) c.expect("*");
    c.expect("(");
    const t = c.next();
    const m = /^([us])(8|16|32|64)$/.exec(t.text);
    if (t.kind !== "ident" || !m) c.fail(`expected a type like u32${t.kind === "end" ? "" : `, found '${t.text}'`}`, t);
    c.expect("*");
    c.expect(")");
    return { size: SIZE_BY_BITS[m[2] as string] as Size, signed: m[1] === "s", bits: m[2] as string, token: t };
  }

  /** `(rN + off)`, `(rN - off)` or, without parentheses, `rN + off`. */
  private address(c: Cursor, parens = true): { base: Register; off: number } {
    if (parens) c.expect("(");
    const base = c.register();
    if (!base.wide) c.fail("an address register must be an r register", base.token);
    let off = 0;
    if (c.is("+") || c.is("-")) {
      const minus = c.next().text === "-";
      const at = c.peek();
      const v = c.integer("an offset");
      const signedV = minus ? -v : v;
      if (!fits(signedV, 16, true)) c.fail(`offset ${signedV} does not fit in a signed 16-bit offset`, at);
      off = Number(signedV);
    }
    if (parens) c.expect(")");
    return { base: base.n, off };
  }

  private lock(c: Cursor): Instruction {
    const type = this.pointerType(c, true);
    if (type.signed || (type.size !== Size.W && type.size !== Size.DW)) c.fail("atomic operations are u32 or u64", type.token);
    const { base, off } = this.address(c);
    const opTok = c.next();
    const op = ATOMIC_BY_SYMBOL.get(opTok.text);
    if (op === undefined) c.fail(`expected an atomic operator (+=, |=, &=, ^=)`, opTok);
    const src = c.register();
    this.checkWidth(c, src, type.size);
    return { opcode: Class.STX | Mode.ATOMIC | type.size, dst: base, src: src.n, off, imm: op };
  }

  private storeRelease(c: Cursor): Instruction {
    c.expect("(");
    const type = this.pointerType(c, false);
    if (type.signed) c.fail("store_release takes an unsigned type", type.token);
    const { base, off } = this.address(c);
    c.expect(",");
    const src = c.register();
    this.checkWidth(c, src, type.size);
    c.expect(")");
    return { opcode: Class.STX | Mode.ATOMIC | type.size, dst: base, src: src.n, off, imm: AtomicOp.STORE_REL };
  }

  private ldPseudo(c: Cursor): Instruction {
    const dst = c.register();
    c.expect(",");
    const at = c.peek();
    const src = c.integer("a pseudo source");
    if (src < 0n || src > 6n) c.fail(`pseudo source ${src} is not 0-6`, at);
    c.expect(",");
    const valueAt = c.peek();
    const value = c.integer("a value");
    if (!fits(value, 64)) c.fail(`value ${value} does not fit in 64 bits`, valueAt);
    // Like llvm-mc, a 32-bit value fills only the first immediate (negative ones included).
    const halves = fits(value, 32) ? { imm: Number(BigInt.asIntN(32, value)), imm2: 0 } : splitConstant(value);
    return { opcode: LD_IMM64, dst: dst.n, src: Number(src), off: 0, ...halves };
  }

  /** Register width must match the access: w for 8-32 bits, r for any. */
  private checkWidth(c: Cursor, reg: Reg, size: Size): void {
    if (!reg.wide && size === Size.DW) c.fail("a 64-bit access needs an r register", reg.token);
  }

  private assignment(c: Cursor): Instruction {
    const dst = c.register();
    const cls = dst.wide ? Class.ALU64 : Class.ALU;
    const opTok = c.next();
    if (opTok.kind !== "op") c.fail(`expected an operator after the register, found '${opTok.text}'`, opTok);
    if (opTok.text !== "=") {
      let sym = opTok.text;
      let off = 0;
      if (sym === "s/=" || sym === "s%=") {
        sym = sym.slice(1);
        off = 1;
      }
      const op = ALU_BY_SYMBOL.get(sym);
      if (op === undefined || op === AluOp.MOV) c.fail(`unknown operator '${opTok.text}'`, opTok);
      return this.aluOperand(c, cls, op, dst, off);
    }
    // dst = ...
    if (c.is("-") && c.isRegister(1)) {
      c.next();
      const r = c.register();
      if (r.n !== dst.n || r.wide !== dst.wide) c.fail("negation must have the same register on both sides", r.token);
      return { opcode: cls | AluOp.NEG, dst: dst.n, src: 0, off: 0, imm: 0 };
    }
    const t = c.peek();
    if (t.kind === "ident") {
      const swap = /^(be|le|bswap)(16|32|64)$/.exec(t.text);
      if (swap) {
        c.next();
        const r = c.register();
        if (r.n !== dst.n || !r.wide || !dst.wide) c.fail("a byte swap has the same r register on both sides", r.token);
        const opcode = swap[1] === "bswap" ? Class.ALU64 | AluOp.END : Class.ALU | AluOp.END | (swap[1] === "be" ? Endian.BE : Endian.LE);
        return { opcode, dst: dst.n, src: 0, off: 0, imm: Number(swap[2]) };
      }
      const fetch = /^atomic_fetch_(add|or|and|xor)$/.exec(t.text);
      if (fetch) {
        c.next();
        return this.fetch(c, dst, ATOMIC_BY_NAME.get(fetch[1] as string) as number);
      }
      if (t.text === "xchg_64" || t.text === "xchg32_32") {
        c.next();
        return this.exchange(c, dst, t.text === "xchg_64", false);
      }
      if (t.text === "cmpxchg_64" || t.text === "cmpxchg32_32") {
        c.next();
        return this.exchange(c, dst, t.text === "cmpxchg_64", true);
      }
      if (t.text === "load_acquire") {
        c.next();
        c.expect("(");
        const type = this.pointerType(c, false);
        if (type.signed) c.fail("load_acquire takes an unsigned type", type.token);
        const { base, off } = this.address(c);
        c.expect(")");
        this.checkWidth(c, dst, type.size);
        return { opcode: Class.STX | Mode.ATOMIC | type.size, dst: dst.n, src: base, off, imm: AtomicOp.LOAD_ACQ };
      }
      if (/^[rRwW]\d+$/.test(t.text) && !c.isRegister()) c.fail(`bad register '${t.text}' (r0-r10, w0-w10)`, t);
      if (!c.isRegister()) {
        // dst = symbol ll: a 64-bit load of a symbol's address (a map, or data), relocated later.
        c.next();
        c.expect("ll");
        if (!dst.wide) c.fail("lddw needs an r register", dst.token);
        return { opcode: LD_IMM64, dst: dst.n, src: 0, off: 0, imm: 0, imm2: 0, reference: t.text };
      }
    }
    if (c.is("(") && c.peek(1).kind === "ident" && /^s(8|16|32)$/.test(c.peek(1).text)) {
      // Sign-extending move: r0 = (s8)r1
      c.next();
      const width = Number(c.next().text.slice(1));
      c.expect(")");
      const src = c.register();
      if (src.wide !== dst.wide) c.fail("both registers of a move must be r or both w", src.token);
      if (!dst.wide && width === 32) c.fail("a 32-bit move cannot sign-extend from 32 bits", src.token);
      return { opcode: cls | AluOp.MOV | Source.X, dst: dst.n, src: src.n, off: width, imm: 0 };
    }
    if (c.is("*")) return this.load(c, dst);
    if (c.isInteger() && !dst.wide) return this.aluOperand(c, cls, AluOp.MOV, dst, 0);
    if (c.isInteger()) {
      // r0 = imm (mov) or r0 = imm ll (lddw)
      const at = c.peek();
      const save = c.integer("an immediate");
      if (c.accept("ll")) {
        if (!fits(save, 64)) c.fail(`value ${save} does not fit in 64 bits`, at);
        return { opcode: LD_IMM64, dst: dst.n, src: 0, off: 0, ...splitConstant(save) };
      }
      if (!fits(save, 32)) c.fail(`an immediate ${save} does not fit in 32 bits`, at);
      return { opcode: cls | AluOp.MOV | Source.K, dst: dst.n, src: 0, off: 0, imm: Number(BigInt.asIntN(32, save)) };
    }
    return this.aluOperand(c, cls, AluOp.MOV, dst, 0);
  }

  private aluOperand(c: Cursor, cls: number, op: number, dst: Reg, off: number): Instruction {
    if (c.isRegister()) {
      const src = c.register();
      if (src.wide !== dst.wide) c.fail("both registers of an ALU operation must be r or both w", src.token);
      return { opcode: cls | op | Source.X, dst: dst.n, src: src.n, off, imm: 0 };
    }
    return { opcode: cls | op | Source.K, dst: dst.n, src: 0, off, imm: this.imm32(c) };
  }

  private load(c: Cursor, dst: Reg): Instruction {
    const type = this.pointerType(c, true);
    if (c.is("skb")) {
      c.next();
      c.expect("[");
      if (dst.n !== 0 || !dst.wide) c.fail("a packet load writes r0", dst.token);
      if (type.signed || type.size === Size.DW) c.fail("packet loads are u8, u16 or u32", type.token);
      let ins: Instruction;
      if (c.isRegister()) {
        const base = c.register();
        if (!base.wide) c.fail("a packet offset register must be an r register", base.token);
        let imm = 0;
        if (c.is("+") || c.is("-")) {
          const minus = c.next().text === "-";
          imm = this.imm32(c, "a packet offset");
          if (minus) imm = Number(BigInt.asIntN(32, -BigInt(imm)));
        }
        ins = { opcode: Class.LD | Mode.IND | type.size, dst: 0, src: base.n, off: 0, imm };
      } else {
        ins = { opcode: Class.LD | Mode.ABS | type.size, dst: 0, src: 0, off: 0, imm: this.imm32(c, "a packet offset") };
      }
      c.expect("]");
      return ins;
    }
    const { base, off } = this.address(c);
    if (type.signed) {
      if (type.size === Size.DW) c.fail("there is no sign-extending 64-bit load", type.token);
      if (!dst.wide) c.fail("a sign-extending load writes an r register", dst.token);
      return { opcode: Class.LDX | Mode.MEMSX | type.size, dst: dst.n, src: base, off, imm: 0 };
    }
    this.checkWidth(c, dst, type.size);
    return { opcode: Class.LDX | Mode.MEM | type.size, dst: dst.n, src: base, off, imm: 0 };
  }

  private fetch(c: Cursor, dst: Reg, op: number): Instruction {
    c.expect("(");
    const type = this.pointerType(c, false);
    if (type.signed || (type.size !== Size.W && type.size !== Size.DW)) c.fail("atomic operations are u32 or u64", type.token);
    const { base, off } = this.address(c);
    c.expect(",");
    const src = c.register();
    c.expect(")");
    if (src.n !== dst.n) c.fail("atomic_fetch returns the old value in its source register", src.token);
    if (dst.wide !== (type.size === Size.DW) || src.wide !== dst.wide) c.fail(`u${type.bits} needs ${type.size === Size.DW ? "r" : "w"} registers`, dst.token);
    return { opcode: Class.STX | Mode.ATOMIC | type.size, dst: base, src: src.n, off, imm: op | AtomicOp.FETCH };
  }

  private exchange(c: Cursor, dst: Reg, is64: boolean, compare: boolean): Instruction {
    const size = is64 ? Size.DW : Size.W;
    c.expect("(");
    const { base, off } = this.address(c, false);
    c.expect(",");
    if (compare) {
      const old = c.register();
      if (old.n !== 0 || dst.n !== 0) c.fail("cmpxchg compares with and returns in r0", old.token);
      if (old.wide !== is64) c.fail(`${is64 ? "cmpxchg_64" : "cmpxchg32_32"} needs ${is64 ? "r" : "w"} registers`, old.token);
      c.expect(",");
    }
    const src = c.register();
    c.expect(")");
    if (!compare && src.n !== dst.n) c.fail("xchg returns the old value in its source register", src.token);
    if (src.wide !== is64 || dst.wide !== is64) c.fail(`this exchange needs ${is64 ? "r" : "w"} registers`, src.token);
    return {
      opcode: Class.STX | Mode.ATOMIC | size,
      dst: base,
      src: src.n,
      off,
      imm: compare ? AtomicOp.CMPXCHG : AtomicOp.XCHG,
    };
  }

  /** Stores: `*(u32 *)(r1 + 4) = r2` or `= imm`. */
  private store(c: Cursor): Instruction {
    const type = this.pointerType(c, true);
    if (type.signed) c.fail("stores take an unsigned type", type.token);
    const { base, off } = this.address(c);
    c.expect("=");
    if (c.isRegister()) {
      const src = c.register();
      this.checkWidth(c, src, type.size);
      return { opcode: Class.STX | Mode.MEM | type.size, dst: base, src: src.n, off, imm: 0 };
    }
    return { opcode: Class.ST | Mode.MEM | type.size, dst: base, src: 0, off, imm: this.imm32(c) };
  }
}

/**
 * Assembles LLVM-syntax BPF assembly. Throws AsmSyntaxError naming line and column for bad
 * input.
 */
export function assemble(text: string, options: AssembleOptions = {}): AsmProgram {
  return new Parser(options.source).run(text);
}

/** Assembles text that holds a single section and returns its instructions. */
export function assembleInstructions(text: string, options: AssembleOptions = {}): Instruction[] {
  const { sections } = assemble(text, options);
  if (sections.length > 1) {
    throw new AsmSyntaxError(`expected one section, found ${sections.map((s) => s.name).join(", ")}`, 1, 1, options.source);
  }
  return sections[0]?.instructions ?? [];
}
