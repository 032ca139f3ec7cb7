/** Socket options that attach BPF programs (SO_ATTACH_BPF and friends). */
import { errno, libc } from "./ffi.js";
import { SyscallError } from "./errors.js";

export const SOL_SOCKET = 1;
export const SO_ATTACH_BPF = 50;
export const SO_DETACH_BPF = 27;

/** setsockopt(fd, level, option, &int): throws SyscallError naming the option. */
export function setSocketOptionInt(fd: number, level: number, option: number, value: number, what: string): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  if ((libc().setsockopt(fd, level, option, v, 4) as number) < 0) throw new SyscallError(errno(), { syscall: "setsockopt", object: what });
}
