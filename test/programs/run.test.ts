import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runUntilStopped } from "../../src/programs/common/run.js";

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("runUntilStopped", () => {
  it("reloads when the watched file changes, once it settles; a truncated (empty) file is the middle of a write, not a reload", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-run-"));
    const file = join(dir, "config.yml");
    writeFileSync(file, "a: 1\n");
    const stop = new AbortController();
    let reloads = 0;
    const errors: unknown[] = [];
    try {
      const running = runUntilStopped({ intervalMs: 0, watchFile: file, reload: () => void reloads++, onError: (e) => errors.push(e), signal: stop.signal });
      writeFileSync(file, "");
      await settle(400);
      expect(reloads).toBe(0);
      writeFileSync(file, "a: 2\n");
      writeFileSync(file, "a: 3\n");
      for (let waited = 0; reloads === 0 && waited < 5000; waited += 50) await settle(50);
      // Both writes in one reload (a loaded machine may deliver the events apart: at most two).
      expect(reloads).toBeGreaterThanOrEqual(1);
      expect(reloads).toBeLessThanOrEqual(2);
      // SIGHUP reloads at once, whatever the file holds.
      const before = reloads;
      process.emit("SIGHUP");
      expect(reloads).toBe(before + 1);
      stop.abort();
      expect(await running).toBe("abort");
      expect(errors).toEqual([]);
    } finally {
      stop.abort();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs a background loop beside it: aborted when it stops, and finished before it resolves", async () => {
    const stop = new AbortController();
    const order: string[] = [];
    const running = runUntilStopped({
      intervalMs: 0,
      signal: stop.signal,
      onReady: () => order.push("ready"),
      background: async (signal) => {
        order.push("started");
        await new Promise((r) => signal.addEventListener("abort", r));
        await settle(50);
        order.push("finished");
      },
    });
    await settle(20);
    stop.abort();
    expect(await running).toBe("abort");
    expect(order).toEqual(["ready", "started", "finished"]);
  });
});
