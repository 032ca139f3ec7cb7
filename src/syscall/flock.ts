/**
 * flock(2) on lock files: advisory whole-file locks that belong to an open file description, so
 * the kernel releases one when its last fd closes — also when the process is killed. The lock
 * file stays in place: unlinking a file while it is locked would let the next process lock a new
 * file of the same name while the old one is still held.
 */
import { constants, fstatSync, openSync, statSync } from "node:fs";
import { SyscallError, errnoNumber } from "./errors.js";
import { kernel } from "./kernel.js";

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const EINTR = 4;
const EWOULDBLOCK = 11;

/**
 * Opens (creating it, mode 0644) a lock file read-write. Node opens every file close-on-exec
 * (libuv adds O_CLOEXEC), so a child process never inherits the lock. Throws SyscallError.
 */
export function openLockFile(path: string): number {
  try {
    return openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const errno = err.code ? (errnoNumber(err.code) ?? Math.abs(err.errno ?? 0)) : Math.abs(err.errno ?? 0);
    throw new SyscallError(errno, { syscall: "open", object: `lock file ${path}` });
  }
}

/**
 * flock(fd, LOCK_EX | LOCK_NB): true when this open file now holds the lock, false when another
 * one holds it (EWOULDBLOCK). Never blocks. Other failures are SyscallErrors.
 */
export function flockTryExclusive(fd: number, object: string): boolean {
  for (;;) {
    const r = kernel().flock(fd, LOCK_EX | LOCK_NB);
    if (r >= 0) return true;
    if (-r === EINTR) continue;
    if (-r === EWOULDBLOCK) return false;
    throw new SyscallError(-r, { syscall: "flock", object });
  }
}

/** flock(fd, LOCK_UN). Closing the fd releases the lock too; this says so explicitly. */
export function flockRelease(fd: number, object: string): void {
  for (;;) {
    const r = kernel().flock(fd, LOCK_UN);
    if (r >= 0) return;
    if (-r === EINTR) continue;
    throw new SyscallError(-r, { syscall: "flock", object });
  }
}

/**
 * Whether the open file `fd` is still the file at `path` (same device and inode): after taking a
 * lock, a lock file that someone unlinked or replaced meanwhile must be opened again.
 */
export function isFileAt(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}
