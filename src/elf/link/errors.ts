/** Errors of the static linker. Each names the input file(s) and the symbol or section at fault. */
import { TsebpfError } from "../../errors.js";

export interface LinkErrorContext {
  /** The input file(s) involved, by the names the caller gave them. */
  readonly files?: readonly string[];
  readonly symbol?: string;
  readonly section?: string;
}

/**
 * Linking failed: a symbol defined (strongly) twice, inputs of different byte orders, an input
 * that is no BPF object, a relocation the linker cannot move. `reason` is the message without
 * the file names.
 */
export class LinkError extends TsebpfError {
  override readonly name = "LinkError";
  readonly files: readonly string[];
  readonly symbol: string | undefined;
  readonly section: string | undefined;

  constructor(
    readonly reason: string,
    context: LinkErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(`${context.files && context.files.length > 0 ? `${context.files.join(", ")}: ` : ""}${reason}`, options);
    this.files = context.files ?? [];
    this.symbol = context.symbol;
    this.section = context.section;
  }
}
