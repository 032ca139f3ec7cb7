/** Errors of the runtime layer. */
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
