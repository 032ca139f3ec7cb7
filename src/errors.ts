/**
 * The error family of tsebpf: every error the library throws is a `TsebpfError`, so a caller can
 * tell tsebpf's own failures from bugs (`TypeError`, `RangeError`) with one `instanceof`. Each
 * subsystem has its own subclasses (`ParseError`, `BtfError`, `SyscallError`, `VerifierError` …).
 * Misuse of the API itself (a key buffer of the wrong size, a negative chunk size) throws
 * `TypeError` or `RangeError`, as Node's own APIs do. This file is pure: every layer may import it.
 */

/** The base class of every error tsebpf throws. */
export class TsebpfError extends Error {
  override name = "TsebpfError";
}

/** An owner (map, program, link, reader, socket) used after `close()`: its fd number may belong to another object by now. */
export class UseAfterCloseError extends TsebpfError {
  override readonly name = "UseAfterCloseError";

  constructor(readonly object: string) {
    super(`${object}: used after close`);
  }
}

/**
 * A lookup by name of something that is not there (a program, map, variable or type): names what
 * was asked for and lists what exists, so the message answers "then what is there?".
 */
export class NotFoundError extends TsebpfError {
  override readonly name = "NotFoundError";

  constructor(
    /** What kind of thing: `program`, `map`, `variable`, `type`. */
    readonly kind: string,
    /** The name asked for. */
    readonly wanted: string,
    /** The names that exist where it was looked for. */
    readonly available: readonly string[],
    /** Where it was looked for: `in this collection`, `in object foo.o`. */
    where = "",
  ) {
    const list = available.length === 0 ? "none" : available.length > 40 ? `${available.slice(0, 40).join(", ")}, … (${available.length} in all)` : available.join(", ");
    super(`no ${kind} "${wanted}"${where ? ` ${where}` : ""} (there are: ${list})`);
  }
}
