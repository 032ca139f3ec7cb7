/**
 * Every reproducer in test/regressions (put there by `make fuzz-fixture`) goes through every
 * parse the fuzz campaign does — ELF, collection, .BTF, .BTF.ext, CO-RE against its target BTF
 * (`<name>.btf` beside it, else the object's own) — and must parse or raise a typed error;
 * where llvm-objdump-19 is installed, tsebpf's listing of it must also be llvm-objdump's.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { examineObject } from "../../scripts/fuzz/examine.js";
import { llvmObjdump, objdumpMismatch } from "../../scripts/fuzz/objdump-check.js";

const DIR = "test/regressions";
const files = readdirSync(DIR).filter((f) => f.endsWith(".o")).sort();
const scratch = mkdtempSync(join(tmpdir(), "tsebpf-regressions-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("regression fixtures", () => {
  it("the directory holds reproducers", () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  for (const file of files) {
    it(`${file}: parses or raises a typed error`, () => {
      const btf = join(DIR, file.replace(/\.o$/, ".btf"));
      const bytes = new Uint8Array(readFileSync(join(DIR, file)));
      const outcome = examineObject(bytes, existsSync(btf) ? new Uint8Array(readFileSync(btf)) : undefined);
      expect(["ok", "typed"], `${outcome.kind} ${outcome.errorClass}: ${outcome.message}\n${outcome.stack ?? ""}`).toContain(outcome.kind);
      if (outcome.kind === "typed") expect(outcome.message).not.toContain("\n");
      if (llvmObjdump) expect(objdumpMismatch(bytes, scratch, file)).toBeUndefined();
    });
  }
});
