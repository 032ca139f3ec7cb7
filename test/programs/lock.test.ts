import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withLock } from "../../src/programs/common/lock.js";

describe("withLock", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-lock-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("holds the lock while fn runs and releases it after, also when fn throws", () => {
    expect(withLock("a", () => existsSync(join(dir, "a.lock")), { dir })).toBe(true);
    expect(existsSync(join(dir, "a.lock"))).toBe(false);
    expect(() => withLock("a", () => { throw new Error("boom"); }, { dir })).toThrow("boom");
    expect(existsSync(join(dir, "a.lock"))).toBe(false);
  });

  it("takes over a lock whose owner is gone, and waits for, then gives up on, a live owner", async () => {
    writeFileSync(join(dir, "b.lock"), "999999999\n");
    expect(withLock("b", () => "taken", { dir })).toBe("taken");
    const owner = spawn("sleep", ["5"]);
    try {
      writeFileSync(join(dir, "c.lock"), `${owner.pid}\n`);
      const start = Date.now();
      expect(() => withLock("c", () => "never", { dir, timeoutMs: 200 })).toThrow(`c: another process (pid ${owner.pid}) is changing it; try again`);
      expect(Date.now() - start).toBeGreaterThanOrEqual(200);
      expect(existsSync(join(dir, "c.lock"))).toBe(true);
    } finally {
      owner.kill();
    }
  });
});
