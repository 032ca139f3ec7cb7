/** Errors of the kernel boundary: every failed system call, with its errno name and context. */
import { constants } from "node:os";
import { TsebpfError } from "../errors.js";

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));
// Kernel-internal codes that bpf(2) leaks to user space.
ERRNO_NAMES.set(524, "ENOTSUPP");
ERRNO_NAMES.set(512, "ERESTARTSYS");

/** `EPERM` for 1, `errno 999` for a number with no name. */
export const errnoName = (errno: number): string => ERRNO_NAMES.get(errno) ?? `errno ${errno}`;

/** The number of an errno name (`EPERM` -> 1). */
export const errnoNumber = (name: string): number | undefined => (constants.errno as Record<string, number>)[name] ?? (name === "ENOTSUPP" ? 524 : undefined);

export interface SyscallErrorContext {
  /** The system call: `bpf`, `perf_event_open`, `ioctl`, `sendmsg` … */
  readonly syscall: string;
  /** For bpf(2): the command, `BPF_PROG_LOAD`. */
  readonly command?: string;
  /** What it was about: `program "xdp_filter"`, `map "events"`. */
  readonly object?: string;
  /** What to do about it, when there is something to say. */
  readonly hint?: string;
}

/**
 * A failed system call, like Node's SystemError: `code` (`EPERM`), `errno` (1), `syscall`, plus
 * the bpf command and the object. Message: `BPF_PROG_LOAD program "xdp_filter": EPERM (…): hint`.
 */
export class SyscallError extends TsebpfError {
  override readonly name = "SyscallError";
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly command: string | undefined;
  readonly object: string | undefined;
  readonly hint: string | undefined;

  constructor(errno: number, context: SyscallErrorContext) {
    const code = errnoName(errno);
    const what = [context.command ?? context.syscall, context.object].filter(Boolean).join(" ");
    super(`${what}: ${code}${context.hint ? `: ${context.hint}` : ""}`);
    this.code = code;
    this.errno = errno;
    this.syscall = context.syscall;
    this.command = context.command;
    this.object = context.object;
    this.hint = context.hint;
  }
}

/** A hint for common bpf(2) failures. */
export function bpfHint(errno: number, command: string): string | undefined {
  switch (errnoName(errno)) {
    case "EPERM":
      return "needs root or CAP_BPF (plus CAP_NET_ADMIN for network programs, CAP_PERFMON for tracing); also check kernel.unprivileged_bpf_disabled and lockdown";
    case "ENOSYS":
      return "this kernel has no bpf(2) (CONFIG_BPF_SYSCALL)";
    case "E2BIG":
      return command === "BPF_PROG_LOAD" ? "the program is too large for this kernel" : "a size or count is larger than this kernel accepts";
    case "ENOMEM":
      return "out of memory or over RLIMIT_MEMLOCK (kernels before 5.11 charge BPF memory to it)";
    case "EINVAL":
      return command === "BPF_PROG_LOAD" ? undefined : "the kernel rejected an attribute (an unsupported type or flag on this kernel?)";
    case "ENOTSUPP":
    case "EOPNOTSUPP":
      return "not supported by this kernel or program type";
    default:
      return undefined;
  }
}

/**
 * A number that does not fit the C field it is meant for (`__u32 max_entries`, an `int` argument,
 * a netlink `u16`): out of range, not an integer, or not finite. Thrown before any system call, so
 * nothing changed in the kernel — instead of the silent truncation a typed-array write or koffi
 * would make (2**32 + 4 entries becoming 4, 1.7 becoming 1). Message:
 * `map "x": bpf_attr max_entries: 4294967300 does not fit in u32`.
 */
export class AttrRangeError extends TsebpfError {
  override readonly name = "AttrRangeError";

  constructor(
    /** The structure or call: `bpf_attr`, `perf_event_attr`, `nlattr`, `perf_event_open`. */
    readonly struct: string,
    /** The field or argument: `max_entries`, `cpu`, `type 3`. */
    readonly field: string,
    /** The value refused. */
    readonly value: number | bigint,
    /** The C type it had to fit: `u8`, `u16`, `u32`, `s32`, `u64`, `s64`, or `uN` for an N-bit bitfield. */
    readonly type: string,
    /** What it was about (`map "events"`), when the caller knows. */
    readonly object?: string,
  ) {
    const integral = typeof value === "bigint" || Number.isInteger(value);
    const shown = typeof value === "bigint" ? `${value}n` : String(value);
    super(`${object ? `${object}: ` : ""}${struct} ${field}: ${shown} ${integral ? `does not fit in ${type}` : `is not an integer (${type})`}`);
  }
}
