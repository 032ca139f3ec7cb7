/**
 * Tokens of the LLVM BPF assembly syntax. Comments are `#`, `//` and `/* … *\/`; `;` separates
 * statements on one line (like llvm-mc). Every token carries its 1-based line and column.
 */
import { AsmSyntaxError } from "./errors.js";

export type TokenKind = "ident" | "number" | "op" | "directive" | "end";

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** For numbers: the parsed value. */
  readonly value?: bigint;
  readonly line: number;
  readonly column: number;
}

/** A statement: the tokens between separators, ending with an `end` token. */
export type Statement = Token[];

// Longest first, so that `<<=` wins over `<<` and `<`.
const OPERATORS = [
  "s>>=", "<<=", ">>=", "s>=", "s<=", "s/=", "s%=",
  "+=", "-=", "*=", "/=", "|=", "&=", "%=", "^=", "==", "!=", ">=", "<=", "s>", "s<",
  "=", ">", "<", "&", "+", "-", "*", "(", ")", "[", "]", ",", ":",
];

const isIdentStart = (c: string) => /[A-Za-z_.$]/.test(c);
const isIdentPart = (c: string) => /[A-Za-z0-9_.$@]/.test(c);

function parseNumber(text: string): bigint | undefined {
  const m = /^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  if (/^0[0-7]+$/.test(text)) return BigInt(`0o${text.slice(1)}`);
  return BigInt(text.toLowerCase().startsWith("0b") ? `0b${text.slice(2)}` : text);
}

/** Splits source text into statements. */
export function tokenize(text: string, source?: string): Statement[] {
  const statements: Statement[] = [];
  let current: Token[] = [];
  let line = 1;
  let lineStart = 0;
  let i = 0;
  const col = (at: number) => at - lineStart + 1;
  const finish = (at: number) => {
    if (current.length > 0) {
      current.push({ kind: "end", text: "", line, column: col(at) });
      statements.push(current);
    }
    current = [];
  };
  const fail = (reason: string, at: number): never => {
    throw new AsmSyntaxError(reason, line, col(at), source);
  };

  while (i < text.length) {
    const c = text[i] as string;
    if (c === "\n") {
      finish(i);
      line++;
      i++;
      lineStart = i;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      continue;
    }
    if (c === ";") {
      finish(i);
      i++;
      continue;
    }
    if (c === "#" || (c === "/" && text[i + 1] === "/")) {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "*") {
      const startLine = line, startCol = col(i);
      i += 2;
      while (i < text.length && !(text[i] === "*" && text[i + 1] === "/")) {
        if (text[i] === "\n") {
          line++;
          lineStart = i + 1;
        }
        i++;
      }
      if (i >= text.length) throw new AsmSyntaxError("unterminated comment", startLine, startCol, source);
      i += 2;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c)) {
      while (i < text.length && /[0-9a-zA-Z]/.test(text[i] as string)) i++;
      const word = text.slice(start, i);
      const value = parseNumber(word);
      if (value === undefined) fail(`bad number '${word}'`, start);
      current.push({ kind: "number", text: word, value, line, column: col(start) });
      continue;
    }
    // Signed operators start with the letter s: `s>`, `s>>=`, … but `s8` or `skb` are identifiers.
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op !== undefined && !(c === "s" && isIdentPart(text[i + 1] ?? " "))) {
      current.push({ kind: "op", text: op, line, column: col(start) });
      i += op.length;
      continue;
    }
    if (isIdentStart(c)) {
      while (i < text.length && isIdentPart(text[i] as string)) i++;
      const word = text.slice(start, i);
      current.push({ kind: word.startsWith(".") && current.length === 0 ? "directive" : "ident", text: word, line, column: col(start) });
      continue;
    }
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"' && text[i] !== "\n") i += text[i] === "\\" ? 2 : 1;
      if (text[i] !== '"') fail("unterminated string", start);
      i++;
      current.push({ kind: "ident", text: text.slice(start, i), line, column: col(start) });
      continue;
    }
    fail(`unexpected character '${c}'`, start);
  }
  finish(i);
  return statements;
}
