/**
 * The kernel boundary: the only layer that talks to the kernel (through koffi, in ffi.ts).
 * Every call passes through the `Kernel` seam (kernel.ts), which tests can replace.
 */
export * from "./errors.js";
export * from "./kernel.js";
export * from "./attr.js";
export * from "./bpf.js";
export * from "./socket.js";
export * from "./int-range.js";
export * from "./flock.js";
export * from "./mmap.js";
export * from "./timerfd.js";
export * from "./packet-socket.js";
