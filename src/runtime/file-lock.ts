/**
 * An exclusive lock between processes: flock(2) on a lock file, owned like every other kernel
 * handle (`close()`, `[Symbol.dispose]`). The kernel releases it when its fd closes — by
 * `close()`, at exit, or when the process is killed — so a crashed holder never leaves a stale
 * lock behind. Waiting polls with LOCK_NB and awaits a timer between tries: the event loop runs.
 *
 * The holder's pid is written into the file for messages only ("held by pid 123"); what the file
 * contains never decides who holds the lock. The file is never unlinked (that would break mutual
 * exclusion with a process that has it open): it stays, empty when nobody holds it.
 */
import { ftruncateSync, readFileSync, writeSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import { TsebpfError } from "../errors.js";
import { flockRelease, flockTryExclusive, isFileAt, kernel, openLockFile } from "../syscall/index.js";
import { OwnedFd } from "./fd.js";

/** FileLock.acquire gave up: another process held the lock for the whole timeout. */
export class LockTimeoutError extends TsebpfError {
  override readonly name = "LockTimeoutError";

  constructor(
    readonly path: string,
    readonly timeoutMs: number,
    /** The holder's pid as it wrote it into the lock file, when readable. */
    readonly holderPid: number | undefined,
  ) {
    super(`lock ${path}: held by ${holderPid === undefined ? "another process" : `pid ${holderPid}`} for more than ${timeoutMs} ms`);
  }
}

export interface FileLockOptions {
  /** How long `acquire` waits for another holder, in ms (default 10 s; 0: one try). */
  readonly timeoutMs?: number;
  /** Time between tries while waiting, in ms (default 20). */
  readonly pollMs?: number;
  /** Stops waiting (the promise rejects with an AbortError). */
  readonly signal?: AbortSignal;
}

/** The pid a holder wrote into a lock file, or undefined (no file, empty, half-written, or garbage). */
export function lockHolderPid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const m = /^(\d+)\n/.exec(text);
  const pid = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** An exclusive flock(2) lock held by this process until `close()`. */
export class FileLock {
  private readonly owner: OwnedFd;

  private constructor(
    /** The lock file. */
    readonly path: string,
    fd: number,
  ) {
    this.owner = new OwnedFd(fd);
  }

  /** Takes the lock at `path` (the file is created if missing) without waiting: undefined when another process holds it. */
  static tryAcquire(path: string): FileLock | undefined {
    for (;;) {
      const fd = openLockFile(path);
      let taken = false;
      try {
        taken = flockTryExclusive(fd, `lock file ${path}`);
      } finally {
        if (!taken) kernel().close(fd);
      }
      if (!taken) return undefined;
      // Locked a file that is no longer the one at `path` (replaced or unlinked meanwhile): the
      // next holder would lock the new one, so this lock excludes nobody. Try the new file.
      if (!isFileAt(fd, path)) {
        kernel().close(fd);
        continue;
      }
      const lock = new FileLock(path, fd);
      lock.recordHolder(`${process.pid}\n`);
      return lock;
    }
  }

  /**
   * Takes the lock at `path`, waiting while another process holds it: tries with LOCK_NB and
   * awaits `pollMs` between tries, so the event loop keeps running. Rejects with
   * LockTimeoutError (naming the holder's pid when the file says it) after `timeoutMs`, or with
   * an AbortError when `signal` aborts.
   */
  static async acquire(path: string, options: FileLockOptions = {}): Promise<FileLock> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    const pollMs = Math.max(1, options.pollMs ?? 20);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      options.signal?.throwIfAborted();
      const lock = FileLock.tryAcquire(path);
      if (lock) return lock;
      const left = deadline - Date.now();
      if (left <= 0) throw new LockTimeoutError(path, timeoutMs, lockHolderPid(path));
      await delay(Math.min(pollMs, left), undefined, options.signal ? { signal: options.signal } : {});
    }
  }

  /** The fd of the open lock file; throws UseAfterCloseError after close. */
  get fd(): number {
    return this.owner.fd;
  }

  get closed(): boolean {
    return this.owner.closed;
  }

  /** Releases the lock (LOCK_UN, then the fd is closed). Idempotent. */
  close(): void {
    if (this.owner.closed) return;
    try {
      this.recordHolder(""); // nobody: a waiter's message names no stale pid
      flockRelease(this.owner.fd, `lock file ${this.path}`);
    } finally {
      this.owner.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Writes the holder's pid (or nothing) into the file: for messages only, so failures are ignored. */
  private recordHolder(text: string): void {
    try {
      ftruncateSync(this.owner.fd, 0);
      if (text) writeSync(this.owner.fd, text, 0);
    } catch {
      // a read-only or full file system: the lock holds all the same
    }
  }
}
