/** Reading one assembler statement: tokens, registers, integers; errors name line and column. */
import { AsmSyntaxError } from "./errors.js";
import type { Register } from "./instruction.js";
import type { Statement, Token } from "./lexer.js";

export interface Reg {
  readonly n: Register;
  readonly wide: boolean;
  readonly token: Token;
}

/** Cursor over one statement's tokens. */
export class Cursor {
  private i = 0;
  constructor(
    private readonly tokens: Statement,
    private readonly source: string | undefined,
  ) {}

  peek(ahead = 0): Token {
    return this.tokens[Math.min(this.i + ahead, this.tokens.length - 1)] as Token;
  }
  next(): Token {
    const t = this.peek();
    if (this.i < this.tokens.length - 1) this.i++;
    return t;
  }
  fail(reason: string, at: Token = this.peek()): never {
    throw new AsmSyntaxError(reason, at.line, at.column, this.source);
  }
  is(text: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return (t.kind === "op" || t.kind === "ident") && t.text === text;
  }
  accept(text: string): boolean {
    if (!this.is(text)) return false;
    this.next();
    return true;
  }
  expect(text: string): Token {
    if (!this.is(text)) this.fail(`expected '${text}'${this.found()}`);
    return this.next();
  }
  found(): string {
    const t = this.peek();
    return t.kind === "end" ? " at end of statement" : `, found '${t.text}'`;
  }
  end(): void {
    if (this.peek().kind !== "end") this.fail(`unexpected '${this.peek().text}'`);
  }
  isRegister(ahead = 0): boolean {
    const t = this.peek(ahead);
    return t.kind === "ident" && /^[rRwW](10|[0-9])$/.test(t.text);
  }
  register(): Reg {
    const token = this.peek();
    if (!this.isRegister()) {
      this.fail(/^[rRwW]\d+$/.test(token.text) ? `bad register '${token.text}' (r0-r10, w0-w10)` : `expected a register${this.found()}`);
    }
    this.next();
    return { n: Number(token.text.slice(1)) as Register, wide: /^[rR]/.test(token.text), token };
  }
  /** An integer expression: literals joined by + and -, each with an optional leading minus. */
  integer(what: string): bigint {
    let total = this.term(what);
    while (this.is("+") || this.is("-")) {
      const minus = this.next().text === "-";
      const v = this.term(what);
      total = minus ? total - v : total + v;
    }
    return total;
  }
  private term(what: string): bigint {
    const minus = this.accept("-");
    const t = this.peek();
    if (t.kind !== "number") this.fail(`expected ${what}${this.found()}`);
    this.next();
    return minus ? -(t.value as bigint) : (t.value as bigint);
  }
  isInteger(): boolean {
    return this.peek().kind === "number" || (this.is("-") && this.peek(1).kind === "number");
  }
}

export function fits(value: bigint, bits: number, signedOnly = false): boolean {
  const min = -(1n << BigInt(bits - 1));
  const max = signedOnly ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  return value >= min && value <= max;
}
