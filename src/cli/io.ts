/** Input and output helpers shared by the commands. */
import { readFileSync } from "node:fs";
import { TsebpfError } from "../errors.js";

/** Where a command writes; tests replace it to capture output. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** An error that the CLI prints as one line and turns into exit code 1. */
export class CliError extends TsebpfError {
  override readonly name = "CliError";
}

/** Reads a file, or standard input for `-`. Missing files give one clear line. */
export function readInput(path: string): Buffer {
  try {
    return readFileSync(path === "-" ? 0 : path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : String(e);
    throw new CliError(`${path}: ${why}`);
  }
}

/**
 * Bytes from hex text: `b7 00 00 00 01 00 00 00`, `0xb7,0x00,...`, `b700000001000000`, with
 * `#` comments. Returns undefined when the text is not hex.
 */
export function parseHex(text: string): Uint8Array | undefined {
  const stripped = text.replace(/#[^\n]*/g, "").replace(/0x/gi, "").replace(/[\s,[\]]+/g, " ").trim();
  if (stripped === "" || !/^[0-9a-fA-F ]+$/.test(stripped)) return undefined;
  const tokens = stripped.split(" ");
  const joined = tokens.every((t) => t.length === 2) || tokens.every((t) => t.length % 2 === 0) ? tokens.join("") : undefined;
  if (joined === undefined) return undefined;
  return Uint8Array.from(Buffer.from(joined, "hex"));
}

/** `b7 00 00 00 01 00 00 00` */
export const hexBytes = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");

/** Rows as aligned columns, two-space indented. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return rows.map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ").trimEnd()}\n`).join("");
}
