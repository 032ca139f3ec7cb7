import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { runUntilStopped } from "../../src/programs/common/run.js";

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A temporary folder and the signal that stops the run, both cleaned up when the test ends. */
function scratch(prefix = "tsebpf-run-"): { dir: string; stop: AbortController } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const stop = new AbortController();
  onTestFinished(() => {
    stop.abort();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, stop };
}

/** A config.yml holding `a: 1` in a scratch folder. */
function scratchConfig(): { file: string; stop: AbortController } {
  const { dir, stop } = scratch();
  const file = join(dir, "config.yml");
  writeFileSync(file, "a: 1\n");
  return { file, stop };
}

describe("runUntilStopped", () => {
  it("reloads when the watched file changes, once it settles; a truncated (empty) file is the middle of a write, not a reload", async () => {
    const { file, stop } = scratchConfig();
    let reloads = 0;
    const errors: unknown[] = [];
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
  });

  it("reloads on a Kubernetes ConfigMap update: kubelet swaps the ..data symlink, the file's own name never changes", async () => {
    // kubelet's layout: config.yml -> ..data/config.yml, ..data -> ..<timestamp>/; an update
    // writes a new timestamped folder, points ..data_tmp at it and renames it over ..data.
    const { dir, stop } = scratch("tsebpf-run-cm-");
    const version = (name: string, text: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, "config.yml"), text);
    };
    version("..2026_12_07_04_00_00.1", "a: 1\n");
    symlinkSync("..2026_12_07_04_00_00.1", join(dir, "..data"));
    symlinkSync("..data/config.yml", join(dir, "config.yml"));
    const file = join(dir, "config.yml");
    const seen: string[] = [];
    const errors: unknown[] = [];
    const running = runUntilStopped({ intervalMs: 0, watchFile: file, reload: () => void seen.push(readFileSync(file, "utf8")), onError: (e) => errors.push(e), signal: stop.signal });
    version("..2026_12_07_04_01_00.2", "a: 2\n");
    symlinkSync("..2026_12_07_04_01_00.2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    rmSync(join(dir, "..2026_12_07_04_00_00.1"), { recursive: true });
    for (let waited = 0; seen.length === 0 && waited < 5000; waited += 50) await settle(50);
    expect(seen).toEqual(["a: 2\n"]);
    // Something else in the folder that leaves the file as it is: no reload.
    writeFileSync(join(dir, "unrelated"), "x");
    await settle(400);
    expect(seen).toEqual(["a: 2\n"]);
    stop.abort();
    expect(await running).toBe("abort");
    expect(errors).toEqual([]);
  }, 15_000);

  it("a reload that fails on a file rewritten meanwhile is not an error: the file's next state is reloaded", async () => {
    const { file, stop } = scratchConfig();
    const seen: string[] = [];
    const errors: unknown[] = [];
    // The first reload reads the file mid-write (empty) and fails; by then the write is over.
    let first = true;
    const reload = () => {
      const text = readFileSync(file, "utf8");
      if (first) {
        first = false;
        writeFileSync(file, "");
        writeFileSync(file, "a: 2\n");
        throw new Error("expected a mapping, not null");
      }
      seen.push(text);
    };
    const running = runUntilStopped({ intervalMs: 0, watchFile: file, reload, onError: (e) => errors.push(e), signal: stop.signal });
    process.emit("SIGHUP");
    for (let waited = 0; seen.length === 0 && waited < 5000; waited += 50) await settle(50);
    expect(errors).toEqual([]);
    expect(seen.at(-1)).toBe("a: 2\n");
    stop.abort();
    expect(await running).toBe("abort");
  });

  it("a reload that fails on a file nobody is writing reports the error", async () => {
    const { file, stop } = scratchConfig();
    const errors: unknown[] = [];
    const running = runUntilStopped({ intervalMs: 0, watchFile: file, reload: () => { throw new Error("bad config"); }, onError: (e) => errors.push(e), signal: stop.signal });
    process.emit("SIGHUP");
    expect(errors.map((e) => (e as Error).message)).toEqual(["bad config"]);
    stop.abort();
    expect(await running).toBe("abort");
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
