/**
 * The seam through which every system call passes. The real implementation calls libc through
 * ffi.ts; tests install a fake (`useKernel`) to exercise loader logic — error paths included —
 * without a kernel.
 *
 * Calls return what the kernel returns: a non-negative result, or `-errno`. Callers turn
 * failures into SyscallErrors with their context.
 */
import { readFileSync } from "node:fs";
import { HOST_LE } from "../asm/encoding.js";
import { addressOf, errno, errnoReader, libc, viewOf } from "./ffi.js";
import { checkInt } from "./int-range.js";

export interface Kernel {
  /** bpf(2): `cmd` with `size` bytes of `attr`. */
  bpf(cmd: number, attr: Uint8Array, size: number): number;
  /**
   * bpf(2) with an attr given by its address (from `address`, kept alive by the caller): the
   * fast path of map operations, which prepare their attr once.
   */
  bpfAt(cmd: number, attrAddress: number, size: number): number;
  /** `bpfAt` as a standalone function, bound once (what hot loops keep and call). */
  bpfAtFunction(): (cmd: number, attrAddress: number, size: number) => number;
  /** Address to put in an attr for a buffer; the buffer must stay alive during the call. */
  address(buf: Uint8Array): bigint;
  close(fd: number): number;
  /** perf_event_open(2). */
  perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd: number, flags: number): number;
  /** ioctl(2) with a pointer argument (or null), or an integer argument. */
  ioctl(fd: number, request: number, arg: Uint8Array | number | null): number;
  /**
   * mmap(2): the mapping's address, or -errno. `address` is a hint, or with MAP_FIXED the place
   * (a mapping replaced in place: see mmap.ts).
   */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number, address?: bigint): bigint;
  munmap(address: bigint, length: number): number;
  /** The memory of a mapping, without copying. */
  view(address: bigint, length: number): ArrayBuffer;
  setns(fd: number, nstype: number): number;
  getrlimit(resource: number, out: Uint8Array): number;
  setrlimit(resource: number, value: Uint8Array): number;
  /** Number of possible CPUs (for per-CPU maps). */
  possibleCpus(): number;
  /**
   * Runs `fn` with this thread's asynchronous signals blocked (delivered when it returns): for a
   * system call that a signal would cut short — the verifier gives up with EAGAIN whenever a
   * signal is pending, and a profiler's timer signals come every millisecond.
   */
  withSignalsBlocked<T>(fn: () => T): T;
  /** epoll_create1(EPOLL_CLOEXEC). */
  epollCreate(): number;
  /** epoll_ctl(2) with an event of `events` whose data is the fd itself. */
  epollCtl(epfd: number, op: number, fd: number, events: number): number;
  /**
   * epoll_wait(2) on a worker thread (koffi's async call), so that the event loop runs while it
   * waits: the number of ready fds, or -1 (EINTR and the like: the caller waits again).
   */
  epollWaitAsync(epfd: number, maxEvents: number, timeoutMs: number): Promise<number>;
  /** eventfd(2). */
  eventfd(initval: number, flags: number): number;
  /** write(2). */
  write(fd: number, buf: Uint8Array): number;
  /** The size of a memory page (sysconf(_SC_PAGESIZE)). */
  pageSize(): number;
  /** socket(2). */
  socket(domain: number, type: number, protocol: number): number;
  /** bind(2) to a socket address. */
  bind(fd: number, address: Uint8Array): number;
  /** sendto(2) to a socket address (null: the connected peer): the bytes sent. */
  sendto(fd: number, buf: Uint8Array, flags: number, address: Uint8Array | null): number;
  /** recv(2) into `buf`: the bytes received (with MSG_TRUNC, the datagram's whole length). */
  recv(fd: number, buf: Uint8Array, flags: number): number;
  /** setsockopt(2). */
  setsockopt(fd: number, level: number, option: number, value: Uint8Array): number;
  /** if_nametoindex(3): the index, or -errno. */
  ifNameToIndex(name: string): number;
  /** if_indextoname(3): the name, or undefined when no interface has this index. */
  ifIndexToName(index: number): string | undefined;
  /** flock(2): `LOCK_EX | LOCK_NB`, `LOCK_UN` … on an open file (flock.ts). */
  flock(fd: number, operation: number): number;
  /** timerfd_create(2). */
  timerfdCreate(clock: number, flags: number): number;
  /** timerfd_settime(2) with a new struct itimerspec (the old one not asked for). */
  timerfdSettime(fd: number, flags: number, value: Uint8Array): number;
}

const fail = (r: number | bigint): number => (Number(r) < 0 ? -errno() : Number(r));

/**
 * Checks the integer arguments of a libc call against their C types (`int` s32, `unsigned int`
 * u32, `unsigned long`/`size_t` u64, `long`/`off_t` s64): koffi would truncate them silently
 * (2**32 + 4 as an `int` is 4). Throws AttrRangeError naming the call and the argument.
 */
function args(call: string, ...list: ReadonlyArray<readonly [string, number, "s32" | "u32" | "u64" | "s64"]>): void {
  for (const [name, value, type] of list) checkInt(call, name, value, type);
}

/** The real kernel, through libc. */
export const realKernel: Kernel = {
  bpf(cmd, attr, size) {
    checkInt("bpf", "cmd", cmd, "s32");
    checkInt("bpf", "size", size, "u32");
    const c = libc();
    return fail(c.syscall3(c.nr.bpf, cmd, attr, size) as number);
  },
  bpfAt(cmd, attrAddress, size) {
    const c = libc();
    const r = c.syscall3Address(c.nr.bpf, cmd, attrAddress, size) as number;
    return r < 0 ? -errno() : r;
  },
  bpfAtFunction() {
    const c = libc();
    const call = c.syscall3Address;
    const nr = c.nr.bpf;
    const lastErrno = errnoReader();
    return (cmd, attrAddress, size) => {
      const r = call(nr, cmd, attrAddress, size) as number;
      return r < 0 ? -lastErrno() : r;
    };
  },
  address: addressOf,
  close(fd) {
    checkInt("close", "fd", fd, "s32");
    return fail(libc().close(fd) as number);
  },
  perfEventOpen(attr, pid, cpu, groupFd, flags) {
    args("perf_event_open", ["pid", pid, "s32"], ["cpu", cpu, "s32"], ["group_fd", groupFd, "s32"], ["flags", flags, "u64"]);
    const c = libc();
    return fail(c.syscallPerf(c.nr.perfEventOpen, attr, pid, cpu, groupFd, flags) as number);
  },
  ioctl(fd, request, arg) {
    args("ioctl", ["fd", fd, "s32"], ["request", request, "u64"]);
    if (typeof arg === "number") args("ioctl", ["arg", arg, "u64"]);
    const c = libc();
    return fail((typeof arg === "number" ? c.ioctlInt(fd, request, arg) : c.ioctlPtr(fd, request, arg)) as number);
  },
  mmap(length, prot, flags, fd, offset, address) {
    args("mmap", ["length", length, "u64"], ["prot", prot, "s32"], ["flags", flags, "s32"], ["fd", fd, "s32"], ["offset", offset, "s64"]);
    const p = libc().mmap(address ?? null, length, prot, flags, fd, offset) as bigint;
    // MAP_FAILED is (void *)-1.
    return p === 0xffffffffffffffffn || p === -1n ? BigInt(-errno()) : p;
  },
  munmap(address, length) {
    args("munmap", ["length", length, "u64"]);
    return fail(libc().munmap(address, length) as number);
  },
  view: viewOf,
  setns(fd, nstype) {
    args("setns", ["fd", fd, "s32"], ["nstype", nstype, "s32"]);
    return fail(libc().setns(fd, nstype) as number);
  },
  getrlimit: (resource, out) => fail(libc().getrlimit(resource, out) as number),
  setrlimit: (resource, value) => fail(libc().setrlimit(resource, value) as number),
  possibleCpus: () => possibleCpusFromSysfs(),
  withSignalsBlocked<T>(fn: () => T): T {
    const c = libc();
    const old = Buffer.alloc(SIGSET_BYTES);
    if ((c.pthreadSigmask(SIG_BLOCK, blockableSignals(), old) as number) !== 0) return fn();
    try {
      return fn();
    } finally {
      c.pthreadSigmask(SIG_SETMASK, old, null);
    }
  },
  epollCreate: () => fail(libc().epollCreate1(0o2000000 /* EPOLL_CLOEXEC */) as number),
  epollCtl(epfd, op, fd, events) {
    // A flag word: EPOLLET is bit 31, so `EPOLLIN | EPOLLET` is negative in JavaScript — an s32
    // is taken as its bit pattern.
    args("epoll_ctl", ["epfd", epfd, "s32"], ["op", op, "s32"], ["fd", fd, "s32"], ["events", (events | 0) === events ? events >>> 0 : events, "u32"]);
    // struct epoll_event is packed on x86-64 (12 bytes), naturally aligned elsewhere (16).
    const packed = process.arch === "x64" || process.arch === "ia32";
    const ev = new DataView(new ArrayBuffer(16));
    ev.setUint32(0, events >>> 0, HOST_LE);
    ev.setUint32(packed ? 4 : 8, fd >>> 0, HOST_LE);
    return fail(libc().epollCtl(epfd, op, fd, new Uint8Array(ev.buffer)) as number);
  },
  epollWaitAsync(epfd, maxEvents, timeoutMs) {
    args("epoll_wait", ["epfd", epfd, "s32"], ["maxevents", maxEvents, "s32"], ["timeout", timeoutMs, "s32"]);
    const events = Buffer.alloc(16 * Math.max(1, maxEvents));
    return new Promise((resolve) => {
      libc().epollWait.async(epfd, events, Math.max(1, maxEvents), timeoutMs, (err: unknown, r: number) => {
        resolve(err || r < 0 ? -1 : r);
        void events; // alive until the call returns
      });
    });
  },
  eventfd(initval, flags) {
    args("eventfd", ["initval", initval, "u32"], ["flags", flags, "s32"]);
    return fail(libc().eventfd(initval, flags) as number);
  },
  write(fd, buf) {
    args("write", ["fd", fd, "s32"]);
    return fail(libc().write(fd, buf, buf.byteLength) as number);
  },
  pageSize: () => (pageSizeValue ??= Number(libc().sysconf(30 /* _SC_PAGESIZE */))),
  socket(domain, type, protocol) {
    args("socket", ["domain", domain, "s32"], ["type", type, "s32"], ["protocol", protocol, "s32"]);
    return fail(libc().socket(domain, type, protocol) as number);
  },
  bind(fd, address) {
    args("bind", ["fd", fd, "s32"]);
    return fail(libc().bind(fd, address, address.byteLength) as number);
  },
  sendto(fd, buf, flags, address) {
    args("sendto", ["fd", fd, "s32"], ["flags", flags, "s32"]);
    return fail(libc().sendto(fd, buf, buf.byteLength, flags, address, address?.byteLength ?? 0) as number);
  },
  recv(fd, buf, flags) {
    args("recv", ["fd", fd, "s32"], ["flags", flags, "s32"]);
    return fail(libc().recv(fd, buf, buf.byteLength, flags) as number);
  },
  setsockopt(fd, level, option, value) {
    args("setsockopt", ["fd", fd, "s32"], ["level", level, "s32"], ["optname", option, "s32"]);
    return fail(libc().setsockopt(fd, level, option, value, value.byteLength) as number);
  },
  ifNameToIndex(name) {
    const index = libc().ifNametoindex(name) as number;
    return index === 0 ? -errno() : index;
  },
  flock(fd, operation) {
    args("flock", ["fd", fd, "s32"], ["operation", operation, "s32"]);
    return fail(libc().flock(fd, operation) as number);
  },
  timerfdCreate(clock, flags) {
    args("timerfd_create", ["clockid", clock, "s32"], ["flags", flags, "s32"]);
    return fail(libc().timerfdCreate(clock, flags) as number);
  },
  timerfdSettime(fd, flags, value) {
    args("timerfd_settime", ["fd", fd, "s32"], ["flags", flags, "s32"]);
    return fail(libc().timerfdSettime(fd, flags, value, null) as number);
  },
  ifIndexToName(index) {
    args("if_indextoname", ["index", index, "u32"]);
    const name = libc().ifIndextoname(index, Buffer.alloc(16 /* IF_NAMESIZE */)) as string | null;
    return name ?? undefined;
  },
};

let pageSizeValue: number | undefined;

let possible: number | undefined;
/** glibc's sigset_t. */
const SIGSET_BYTES = 128;
const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
/** Signals of a fault of this thread (SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV): never blocked. */
const FAULT_SIGNALS = [4, 5, 7, 8, 11];
let blockable: Buffer | undefined;

/** Every signal but the fault signals (signal n is bit n - 1). */
function blockableSignals(): Buffer {
  if (!blockable) {
    blockable = Buffer.alloc(SIGSET_BYTES, 0xff);
    for (const n of FAULT_SIGNALS) blockable[(n - 1) >> 3] = (blockable[(n - 1) >> 3] ?? 0) & ~(1 << ((n - 1) & 7));
  }
  return blockable;
}

function possibleCpusFromSysfs(): number {
  if (possible !== undefined) return possible;
  // "0-3" or "0,2-5": the highest CPU number plus one, as the kernel sizes per-CPU values.
  let text = "0";
  try {
    text = readFileSync("/sys/devices/system/cpu/possible", "utf8");
  } catch {
    text = "0";
  }
  possible = parsePossibleCpus(text);
  return possible;
}

/** `0-3,5` -> 6: the number of per-CPU slots. */
export function parsePossibleCpus(text: string): number {
  let max = 0;
  for (const part of text.trim().split(",")) {
    const [, hi] = part.split("-");
    max = Math.max(max, Number(hi ?? part));
  }
  return Number.isFinite(max) ? max + 1 : 1;
}

let current: Kernel = realKernel;

/** The kernel every call goes to. */
export const kernel = (): Kernel => current;

/** Installs another kernel (a fake, in tests); returns a function that restores the previous one. */
export function useKernel(k: Kernel): () => void {
  const previous = current;
  current = k;
  return () => {
    current = previous;
  };
}
