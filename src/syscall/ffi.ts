/**
 * The only module that imports koffi: libc functions bound once, with fixed arities (faster
 * than variadic calls, and callable asynchronously). Nothing here interprets results: every
 * function returns what libc returns; `errno()` is read by callers only after a failure.
 */
import koffi from "koffi";
import { TsebpfError } from "../errors.js";

const SYSCALL_NUMBERS: Record<string, { bpf: number; perfEventOpen: number }> = {
  x64: { bpf: 321, perfEventOpen: 298 },
  arm64: { bpf: 280, perfEventOpen: 241 },
  ia32: { bpf: 357, perfEventOpen: 336 },
  riscv64: { bpf: 280, perfEventOpen: 241 },
  loong64: { bpf: 280, perfEventOpen: 241 },
  ppc64: { bpf: 361, perfEventOpen: 319 },
  s390x: { bpf: 351, perfEventOpen: 331 },
};

let bound: ReturnType<typeof bind> | undefined;

function bind() {
  const nr = SYSCALL_NUMBERS[process.arch];
  if (!nr) throw new TsebpfError(`tsebpf: no system call numbers for architecture ${process.arch}`);
  const libc = koffi.load("libc.so.6");
  return {
    nr,
    syscall3: libc.func("syscall", "long", ["long", "long", "void *", "unsigned long"]),
    // The same call with the attr's address as an integer: no buffer marshalling (fast path).
    syscall3Address: libc.func("syscall", "long", ["long", "long", "long", "unsigned long"]),
    syscallPerf: libc.func("syscall", "long", ["long", "void *", "int", "int", "int", "unsigned long"]),
    close: libc.func("int close(int)"),
    ioctlPtr: libc.func("ioctl", "int", ["int", "unsigned long", "void *"]),
    ioctlInt: libc.func("ioctl", "int", ["int", "unsigned long", "unsigned long"]),
    mmap: libc.func("void *mmap(void *, size_t, int, int, int, long)"),
    munmap: libc.func("int munmap(void *, size_t)"),
    epollCreate1: libc.func("int epoll_create1(int)"),
    epollCtl: libc.func("int epoll_ctl(int, int, int, void *)"),
    epollWait: libc.func("int epoll_wait(int, void *, int, int)"),
    setns: libc.func("int setns(int, int)"),
    getrlimit: libc.func("int getrlimit(int, void *)"),
    setrlimit: libc.func("int setrlimit(int, void *)"),
    socket: libc.func("int socket(int, int, int)"),
    bind: libc.func("int bind(int, void *, unsigned int)"),
    sendto: libc.func("long sendto(int, void *, size_t, int, void *, unsigned int)"),
    recv: libc.func("long recv(int, void *, size_t, int)"),
    setsockopt: libc.func("int setsockopt(int, int, int, void *, unsigned int)"),
    getsockopt: libc.func("int getsockopt(int, int, int, void *, void *)"),
    ifNametoindex: libc.func("unsigned int if_nametoindex(const char *)"),
    sysconf: libc.func("long sysconf(int)"),
    eventfd: libc.func("int eventfd(unsigned int, int)"),
    write: libc.func("long write(int, void *, size_t)"),
    ifIndextoname: libc.func("char *if_indextoname(unsigned int, void *)"),
    pthreadSigmask: libc.func("int pthread_sigmask(int, void *, void *)"),
    flock: libc.func("int flock(int, int)"),
    timerfdCreate: libc.func("int timerfd_create(int, int)"),
    timerfdSettime: libc.func("int timerfd_settime(int, int, void *, void *)"),
  };
}

/** The bound libc functions (bound on first use, so importing this module costs nothing). */
export function libc(): ReturnType<typeof bind> {
  bound ??= bind();
  return bound;
}

/** errno of the last failed call on this thread. */
export const errno = (): number => koffi.errno();

/**
 * errno of this thread read straight from its memory (`__errno_location()`, bound once per
 * thread, as each thread loads its own copy of this module): a typed-array load instead of
 * `koffi.errno()`'s native call, for hot loops whose calls often fail (ENOENT of a delete).
 */
export function errnoReader(): () => number {
  if (reader) return reader;
  try {
    const location = koffi.load("libc.so.6").func("int *__errno_location()")() as bigint;
    const words = new Int32Array(koffi.view(location, 4) as ArrayBuffer);
    reader = () => words[0] as number;
  } catch {
    reader = errno;
  }
  return reader;
}
let reader: (() => number) | undefined;

/** Address of a buffer's first byte (includes byteOffset); keep the buffer alive while it is used. */
export const addressOf = (buf: Uint8Array): bigint => koffi.address(buf) as bigint;

/** An ArrayBuffer over native memory (mmap), without copying. */
export const viewOf = (ptr: bigint, length: number): ArrayBuffer => koffi.view(ptr, length) as ArrayBuffer;
