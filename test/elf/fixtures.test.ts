/** The committed fixture objects are what `make fixtures` builds from their sources. */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { clang } from "../helpers/llvm.js";
import { itWith } from "../helpers/oracle.js";

/** Every folder of committed objects that `make fixtures` rebuilds (the C fixtures, and the two build.sh folders). */
const FOLDERS = ["test/fixtures", "test/fixtures/objdump", "test/fixtures/elf"];
const objectsIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".o")).sort();

describe("fixtures", () => {
  itWith((clang ? undefined : "clang-19 is not installed"))(`rebuild byte for byte with clang-19${clang ? "" : " (skipped: clang-19 is not installed)"}`, () => {
    // Build in a copy of the tree without any object, so the committed ones stay as they are and
    // every one of them must come out of the build.
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-fixtures-"));
    cpSync("test/fixtures", join(dir, "test/fixtures"), { recursive: true, filter: (src) => !src.endsWith(".o") });
    cpSync("Makefile", join(dir, "Makefile"));
    const r = spawnSync("make", ["-s", "fixtures"], { cwd: dir, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const counts: Record<string, number> = {};
    for (const folder of FOLDERS) {
      const objects = objectsIn(folder);
      counts[folder] = objects.length;
      for (const o of objects) {
        const fresh = join(dir, folder, o);
        expect(existsSync(fresh), `${folder}/${o} is not built by make fixtures`).toBe(true);
        expect(Buffer.compare(readFileSync(fresh), readFileSync(join(folder, o))), `${folder}/${o} differs from a fresh build: run make fixtures`).toBe(0);
      }
      // Nothing built that is not committed.
      expect(objectsIn(join(dir, folder)), folder).toEqual(objects);
    }
    expect(counts["test/fixtures"]).toBeGreaterThanOrEqual(22);
    expect(counts["test/fixtures/objdump"]).toBeGreaterThanOrEqual(6);
    expect(counts["test/fixtures/elf"]).toBeGreaterThanOrEqual(2);
    expect(objectsIn("test/fixtures")).toEqual(expect.arrayContaining(["mapkinds.bpfel.o", "mapkinds.bpfeb.o"]));
  }, 120_000);
});
