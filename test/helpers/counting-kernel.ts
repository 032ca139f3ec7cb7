/** The real kernel behind a seam that counts bpf(2) calls: what a test asserts "no system call" (or how many) with. */
import { kernel, useKernel, type Kernel } from "../../src/syscall/index.js";

/** Installs the counting seam (the fast path's calls included); `restore()` puts the kernel before it back. */
export function countingKernel(): { calls: () => number; restore: () => void } {
  const real = kernel();
  let n = 0;
  const k: Kernel = {
    ...real,
    bpf: (cmd, attr, size) => (n++, real.bpf(cmd, attr, size)),
    bpfAt: (cmd, address, size) => (n++, real.bpfAt(cmd, address, size)),
    bpfAtFunction: () => {
      const call = real.bpfAtFunction();
      return (cmd, address, size) => (n++, call(cmd, address, size));
    },
  };
  return { calls: () => n, restore: useKernel(k) };
}

/** Runs `f` with every bpf(2) call counted: its result or what it threw, and the calls it made. */
export function countingBpf<T>(f: () => T): { calls: number; result?: T; error?: unknown } {
  const counting = countingKernel();
  try {
    const result = f();
    return { calls: counting.calls(), result };
  } catch (error) {
    return { calls: counting.calls(), error };
  } finally {
    counting.restore();
  }
}
