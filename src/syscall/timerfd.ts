/**
 * timerfd(2) on CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns and process.hrtime): a timer whose
 * expiry makes an fd readable, so a thread can sleep in epoll_wait until a deadline given in
 * nanoseconds. Range-checked before the call: nothing reaches the kernel truncated.
 */
import { SyscallError } from "./errors.js";
import { checkInt } from "./int-range.js";
import { kernel } from "./kernel.js";

export const CLOCK_MONOTONIC = 1;
export const TFD_NONBLOCK = 0o4000;
export const TFD_CLOEXEC = 0o2000000;
export const TFD_TIMER_ABSTIME = 1;
/** struct itimerspec: it_interval then it_value, each a timespec (s64 seconds, s64 nanoseconds). */
export const ITIMERSPEC_BYTES = 32;

/** A non-blocking, close-on-exec timerfd on CLOCK_MONOTONIC; SyscallError naming `what` otherwise. */
export function timerfdCreate(what: string): number {
  const fd = kernel().timerfdCreate(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) throw new SyscallError(-fd, { syscall: "timerfd_create", object: what });
  return fd;
}

/** The itimerspec of a one-shot timer at `ns` (0n: disarmed). */
export function itimerspecAt(ns: bigint): Uint8Array {
  checkInt("itimerspec", "it_value", ns, "s64");
  if (ns < 0n) throw new RangeError(`itimerspec it_value: ${ns} ns is before the clock's start`);
  const b = new Uint8Array(ITIMERSPEC_BYTES);
  const v = new DataView(b.buffer);
  v.setBigInt64(16, ns / 1_000_000_000n, true);
  v.setBigInt64(24, ns % 1_000_000_000n, true);
  return b;
}

/**
 * Arms `fd` to expire once at the absolute CLOCK_MONOTONIC time `ns` (TFD_TIMER_ABSTIME; a time
 * already past expires at once), or disarms it for `0n`.
 */
export function timerfdSetAbsolute(fd: number, ns: bigint, what: string): void {
  checkInt("timerfd_settime", "fd", fd, "s32");
  const r = kernel().timerfdSettime(fd, ns === 0n ? 0 : TFD_TIMER_ABSTIME, itimerspecAt(ns));
  if (r < 0) throw new SyscallError(-r, { syscall: "timerfd_settime", object: what });
}
