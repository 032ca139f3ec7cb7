/** Generated modules in tests: written to a temporary directory and imported (vitest compiles them). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** What generated modules import tsebpf from in tests: this checkout's source. */
export const SRC_INDEX = resolve("src/index.js");

let dir: string | undefined;
let count = 0;

/** Writes `source` to a temporary .ts file and imports it. */
export async function importGenerated<T = Record<string, unknown>>(source: string): Promise<T> {
  dir ??= mkdtempSync(join(tmpdir(), "tsebpf-gen-"));
  const file = join(dir, `module${count++}.ts`);
  writeFileSync(file, source);
  return (await import(file)) as T;
}

/** A codec as generated modules export it (loosely typed for tests). */
export interface AnyCodec {
  readonly size: number;
  readonly typeName?: string;
  readonly fields?: Record<string, { offset: number; size: number; bitOffset?: number; bits?: number }>;
  decode(buf: Uint8Array | DataView, offset?: number): unknown;
  encode(value: unknown, out: Uint8Array | DataView, offset?: number): void;
}
