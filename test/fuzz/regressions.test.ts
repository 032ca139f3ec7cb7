/**
 * Every reproducer in test/regressions (put there by `make fuzz-fixture`) goes through every
 * parse the fuzz campaign does — ELF, collection, .BTF, .BTF.ext, CO-RE against its target BTF
 * (`<name>.btf` beside it, else the object's own) — and must parse or raise a typed error.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { examineObject } from "../../scripts/fuzz/examine.js";

const DIR = "test/regressions";
const files = readdirSync(DIR).filter((f) => f.endsWith(".o")).sort();

describe("regression fixtures", () => {
  it("the directory holds reproducers", () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  for (const file of files) {
    it(`${file}: parses or raises a typed error`, () => {
      const btf = join(DIR, file.replace(/\.o$/, ".btf"));
      const outcome = examineObject(new Uint8Array(readFileSync(join(DIR, file))), existsSync(btf) ? new Uint8Array(readFileSync(btf)) : undefined);
      expect(["ok", "typed"], `${outcome.kind} ${outcome.errorClass}: ${outcome.message}\n${outcome.stack ?? ""}`).toContain(outcome.kind);
      if (outcome.kind === "typed") expect(outcome.message).not.toContain("\n");
    });
  }
});
