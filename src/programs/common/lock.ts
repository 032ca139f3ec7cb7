/**
 * An exclusive lock between processes on one machine, per name (`packetfilter-eth1`): flock(2)
 * on /run/tsebpf/<name>.lock through runtime.FileLock. The kernel releases it when its holder
 * closes it, exits or is killed, so there is no stale lock to take over and no window in which
 * two processes both proceed. Waiting for it never blocks the event loop.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { TsebpfError } from "../../errors.js";
import { runtime } from "../../index.js";

const LOCK_DIR = "/run/tsebpf";

export interface LockOptions {
  /** How long to wait for another holder (default 10 s). */
  readonly timeoutMs?: number;
  /** Where lock files live (default /run/tsebpf). */
  readonly dir?: string;
  /** Time between tries while waiting, in ms (default 20). */
  readonly pollMs?: number;
}

/** Another process held the lock for the whole timeout: names the lock and, when known, its holder. */
export class LockBusyError extends TsebpfError {
  override readonly name = "LockBusyError";

  constructor(
    /** The lock's name (`packetfilter-eth1`). */
    readonly lock: string,
    /** Its file. */
    readonly path: string,
    /** The holder's pid, when its lock file says it. */
    readonly holderPid: number | undefined,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`${lock}: another process${holderPid === undefined ? "" : ` (pid ${holderPid})`} is changing it; try again (lock ${path}, waited ${timeoutMs} ms)`, options);
  }
}

/**
 * Runs `fn` holding the named lock (`packetfilter-eth1`), waiting for another holder to finish
 * (polling, the event loop running meanwhile); LockBusyError after `timeoutMs`. The lock is
 * released when `fn` returns or throws (or its promise settles). The lock file stays in place.
 */
export async function withLock<T>(name: string, fn: () => T | Promise<T>, options: LockOptions = {}): Promise<T> {
  const path = `${options.dir ?? LOCK_DIR}/${name}.lock`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  mkdirSync(dirname(path), { recursive: true });
  let lock: runtime.FileLock;
  try {
    lock = await runtime.FileLock.acquire(path, { timeoutMs, ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}) });
  } catch (e) {
    if (e instanceof runtime.LockTimeoutError) throw new LockBusyError(name, path, e.holderPid, timeoutMs, { cause: e });
    throw e;
  }
  try {
    return await fn();
  } finally {
    lock.close();
  }
}
