/** Errors of the runtime layer. */
import { programTypeName } from "../abi/index.js";
import { TsebpfError } from "../errors.js";

/** A kernel feature this machine lacks: names the feature and the kernel that brought it. */
export class NotSupportedError extends TsebpfError {
  override readonly name = "NotSupportedError";

  constructor(
    readonly feature: string,
    readonly minimumKernel?: string,
    detail?: string,
  ) {
    super(`${feature} is not supported here${minimumKernel ? ` (needs Linux ${minimumKernel} or later)` : ""}${detail ? `: ${detail}` : ""}`);
  }
}

/**
 * An object of the wrong kind for the operation (a tracepoint program given to attachXdp, a hash
 * map given to a ring buffer reader): found before any system call, so nothing changed.
 */
export class WrongTypeError extends TsebpfError {
  override readonly name = "WrongTypeError";
}

/**
 * Throws WrongTypeError unless the program is of one of `types`: `attachXdp: program "trace"
 * is TRACEPOINT, not XDP`. Attach functions call it before any system call.
 */
export function expectProgramType(program: { readonly name: string; readonly type: number }, operation: string, ...types: number[]): void {
  if (types.includes(program.type)) return;
  throw new WrongTypeError(`${operation}: program "${program.name}" is ${programTypeName(program.type)}, not ${types.map(programTypeName).join(" or ")}`);
}
