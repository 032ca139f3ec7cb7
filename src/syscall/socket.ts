/** Socket options that attach BPF programs (SO_ATTACH_BPF and friends). */
import { SyscallError } from "./errors.js";
import { kernel } from "./kernel.js";

export const SOL_SOCKET = 1;
/** socket(2) type flag: close the fd on exec. */
export const SOCK_CLOEXEC = 0o2000000;
export const SO_ATTACH_BPF = 50;
export const SO_DETACH_BPF = 27;

/** setsockopt(fd, level, option, &int) through the kernel seam: throws SyscallError naming the option. */
export function setSocketOptionInt(fd: number, level: number, option: number, value: number, what: string): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  const r = kernel().setsockopt(fd, level, option, v);
  if (r < 0) throw new SyscallError(-r, { syscall: "setsockopt", object: what });
}
