/** The committed fixture objects are what `make fixtures` builds from their sources. */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { clang } from "../helpers/llvm.js";

describe("fixtures", () => {
  it.skipIf(!clang)(`rebuild byte for byte with clang-19${clang ? "" : " (skipped: clang-19 is not installed)"}`, () => {
    // Build in a copy of the tree so the committed objects stay as they are.
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-fixtures-"));
    cpSync("test/fixtures", join(dir, "test/fixtures"), { recursive: true, filter: (src) => !src.endsWith(".o") || src.includes("/objdump/") || src.includes("/elf/") });
    cpSync("Makefile", join(dir, "Makefile"));
    const r = spawnSync("make", ["-s", "fixtures"], { cwd: dir, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const objects = readdirSync("test/fixtures").filter((f) => f.endsWith(".o"));
    expect(objects.length).toBeGreaterThanOrEqual(14);
    for (const o of objects) {
      expect(Buffer.compare(readFileSync(join(dir, "test/fixtures", o)), readFileSync(join("test/fixtures", o))), `${o} differs from a fresh build: run make fixtures`).toBe(0);
    }
  }, 120_000);
});
