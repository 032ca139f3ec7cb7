/** flock(2) at the kernel boundary: LOCK_NB tries, EINTR retried, failures as SyscallErrors, arguments range-checked. */
import { afterEach, describe, expect, it } from "vitest";
import { AttrRangeError, LOCK_EX, LOCK_NB, LOCK_UN, SyscallError, flockRelease, flockTryExclusive, realKernel, useKernel, type Kernel } from "../../src/syscall/index.js";

describe("flock", () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  /** A kernel whose flock answers from a script, recording the operations. */
  const scripted = (answers: number[]) => {
    const ops: number[] = [];
    restore = useKernel({ ...realKernel, flock: (_fd: number, op: number) => (ops.push(op), answers.shift() ?? 0) } as Kernel);
    return ops;
  };

  it("tries LOCK_EX | LOCK_NB: true when taken, false on EWOULDBLOCK, EINTR tried again", () => {
    const ops = scripted([0, -11, -4, 0]);
    expect(flockTryExclusive(3, "lock file x")).toBe(true);
    expect(flockTryExclusive(3, "lock file x")).toBe(false);
    expect(flockTryExclusive(3, "lock file x")).toBe(true);
    expect(ops).toEqual([LOCK_EX | LOCK_NB, LOCK_EX | LOCK_NB, LOCK_EX | LOCK_NB, LOCK_EX | LOCK_NB]);
  });

  it("other failures are SyscallErrors naming the file", () => {
    scripted([-9, -4, -9]);
    expect(() => flockTryExclusive(3, "lock file x")).toThrow(SyscallError);
    const ops = scripted([-9]);
    expect(() => flockRelease(3, "lock file x")).toThrow("flock lock file x: EBADF");
    expect(ops).toEqual([LOCK_UN]);
  });

  it("the real flock refuses arguments libc would truncate", () => {
    expect(() => realKernel.flock(2 ** 32, LOCK_EX)).toThrow(AttrRangeError);
    expect(() => realKernel.flock(3, 1.5)).toThrow("flock operation: 1.5 is not an integer (s32)");
  });
});
