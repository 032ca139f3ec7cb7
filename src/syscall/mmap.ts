/**
 * Shared mappings of BPF maps (mmapable arrays), and their retirement. Every call goes through
 * the Kernel seam (kernel.ts).
 *
 * JavaScript cannot detach the ArrayBuffer that `view` returns, and a typed array over unmapped
 * memory crashes the process on its next access. So a mapping is never simply unmapped while
 * views of it may live: `retireMapping` puts private zeroed memory in its place (MAP_FIXED, one
 * system call: the map's pages, and the map's reference, are released at once), and unmaps that
 * placeholder only once the views are garbage collected. A stale view reads zeros; it never
 * crashes and never reaches the map.
 */
import { kernel, type Kernel } from "./kernel.js";
import { SyscallError } from "./errors.js";

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;

/** `length` rounded up to whole pages. */
export const pageAlign = (length: number): number => {
  const page = kernel().pageSize();
  return Math.ceil(length / page) * page;
};

/** A shared mapping of `length` bytes of `fd` at `offset`; a SyscallError naming `what` otherwise. */
export function mmapShared(fd: number, length: number, prot: number, offset: number, what: string, hint?: string): bigint {
  const p = kernel().mmap(length, prot, MAP_SHARED, fd, offset);
  if (p < 0n) throw new SyscallError(Number(-p), { syscall: "mmap", object: what, ...(hint ? { hint } : {}) });
  return p;
}

/** Placeholders waiting for their views to go: unmapped by the kernel that mapped them. */
const placeholders = new FinalizationRegistry<{ kernel: Kernel; address: bigint; length: number }>((p) => {
  p.kernel.munmap(p.address, p.length);
});

/**
 * Releases the mapping at `address` while `views` (the ArrayBuffer of `kernel().view`) may still
 * be referenced: zeroed private memory replaces it, and is unmapped when `views` is collected.
 * Where the replacement fails, the mapping is unmapped outright.
 */
export function retireMapping(address: bigint, length: number, views: ArrayBuffer): void {
  const k = kernel();
  const p = k.mmap(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0, address);
  if (p === address) placeholders.register(views, { kernel: k, address, length });
  else k.munmap(address, length);
}
