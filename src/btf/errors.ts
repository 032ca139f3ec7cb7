/** Malformed or inconsistent BTF, or a type that cannot be found. Names the type id or offset. */
export class BtfError extends Error {
  override readonly name = "BtfError";

  constructor(
    message: string,
    /** Byte offset in the BTF blob, when the problem is in its encoding. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `BTF at offset ${offset}: ${message}`);
  }
}
