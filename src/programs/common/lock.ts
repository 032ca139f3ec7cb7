/**
 * An exclusive lock between processes on one machine: a file created with O_EXCL that holds the
 * owner's pid. A lock whose owner is gone (it crashed) is taken over.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const LOCK_DIR = "/run/tsebpf";

/** Waits without returning to the event loop (for short, bounded waits only). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface LockOptions {
  /** How long to wait for another holder (default 10 s). */
  readonly timeoutMs?: number;
  /** Where lock files live (default /run/tsebpf). */
  readonly dir?: string;
}

/** Runs `fn` holding the named lock (`packetfilter-eth1`); waits for another holder to finish. */
export function withLock<T>(name: string, fn: () => T, options: LockOptions = {}): T {
  const path = `${options.dir ?? LOCK_DIR}/${name}.lock`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (!Number.isInteger(owner) || !alive(owner)) {
        unlinkSync(path); // its owner died holding it
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${name}: another process (pid ${owner}) is changing it; try again (lock ${path})`);
      sleepSync(20);
    }
  }
  try {
    return fn();
  } finally {
    unlinkSync(path);
  }
}
