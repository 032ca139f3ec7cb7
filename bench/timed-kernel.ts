/** The real kernel with the time spent inside bpf(2) added up: #2's "minus the kernel's own time". */
import { kernel, type Kernel } from "../src/syscall/index.js";

export function timedKernel(): { k: Kernel; spent: () => number; reset: () => void } {
  const real = kernel();
  let spent = 0;
  const k: Kernel = {
    ...real,
    bpf(cmd, attr, size) {
      const t0 = process.hrtime.bigint();
      const r = real.bpf(cmd, attr, size);
      spent += Number(process.hrtime.bigint() - t0);
      return r;
    },
  };
  return { k, spent: () => spent, reset: () => void (spent = 0) };
}
