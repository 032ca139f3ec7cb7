/** Malformed or inconsistent BTF, or a type that cannot be found. Names the type id or offset. */
import { TsebpfError } from "../errors.js";
import { oneLine } from "./one-line.js";
export class BtfError extends TsebpfError {
  override readonly name = "BtfError";
  /** The message without the offset. */
  readonly reason: string;

  constructor(
    /** The message without the offset. */
    reason: string,
    /** Byte offset in the BTF (or .BTF.ext) blob, when the problem is in its encoding. */
    readonly offset?: number,
  ) {
    super(oneLine(offset === undefined ? reason : `BTF at offset ${offset}: ${reason}`));
    this.reason = oneLine(reason);
  }

  /**
   * `e` located at `offset` in its blob, unless it already names a place (a deeper reader knows
   * better). For errors raised by a lookup (a string or type id) that cannot know where the
   * reference it was given was stored.
   */
  static at(e: unknown, offset: number): unknown {
    return e instanceof BtfError && e.offset === undefined ? new BtfError(e.reason, offset) : e;
  }
}

