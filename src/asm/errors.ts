/** Errors of the bytecode layer. Every one names where the problem is. */
import { TsebpfError } from "../errors.js";

/** An instruction that no kernel accepts: unknown opcode, bad register, reserved field set. */
export class InstructionError extends TsebpfError {
  override readonly name = "InstructionError";
  /** Byte offset of the instruction in its buffer, when it came from bytes. */
  readonly offset: number | undefined;

  constructor(message: string, offset?: number) {
    super(offset === undefined ? message : `at byte offset ${offset}: ${message}`);
    this.offset = offset;
  }
}

/** Text that the assembler cannot read; line and column are 1-based. */
export class AsmSyntaxError extends TsebpfError {
  override readonly name = "AsmSyntaxError";

  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly source?: string,
  ) {
    super(`${source ?? "<input>"}:${line}:${column}: ${reason}`);
  }
}

/** A symbolic reference (label, subprogram, map) that cannot be resolved. */
export class LinkError extends TsebpfError {
  override readonly name = "LinkError";

  constructor(
    message: string,
    readonly symbol: string,
  ) {
    super(message);
  }
}
