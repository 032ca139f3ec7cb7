/**
 * RLIMIT_MEMLOCK: kernels before 5.11 charge BPF maps and programs to it. Raising it needs
 * CAP_SYS_RESOURCE, which a process may lack; that is not an error (newer kernels use memcg).
 */
import { kernel } from "../syscall/index.js";

const RLIMIT_MEMLOCK = 8;
const INFINITY = 0xffffffffffffffffn;
let done = false;

/** Tries once per process to lift RLIMIT_MEMLOCK; returns whether the limit is now unlimited. */
export function raiseMemlock(): boolean {
  if (done) return true;
  const limit = Buffer.alloc(16);
  if (kernel().getrlimit(RLIMIT_MEMLOCK, limit) === 0 && limit.readBigUInt64LE(0) === INFINITY) {
    done = true;
    return true;
  }
  limit.writeBigUInt64LE(INFINITY, 0);
  limit.writeBigUInt64LE(INFINITY, 8);
  done = kernel().setrlimit(RLIMIT_MEMLOCK, limit) === 0;
  return done;
}
