/** The error of the CO-RE engine: a relocation that cannot be resolved or applied. */
import { TsebpfError } from "../../errors.js";
import { oneLine } from "../one-line.js";

/** What a CoreError is about. Every field is optional: errors before the spec is known have less. */
export interface CoreErrorContext {
  /** The relocation kind's name, `FIELD_BYTE_OFFSET`. */
  readonly kind?: string | undefined;
  /** Index (in 8-byte slots) of the relocated instruction in its section. */
  readonly insnIndex?: number | undefined;
  /** The access string, `0:1:2`. */
  readonly accessStr?: string | undefined;
  /** The local root type, `[17] struct task_struct`. */
  readonly localType?: string | undefined;
  /** The access as C, `struct task_struct::thread_pid` or `enum tcp_ca_state::TCP_CA_Loss`. */
  readonly path?: string | undefined;
}

/**
 * A CO-RE relocation that cannot be resolved or applied: a malformed access string, an access
 * that does not fit the local type, candidates in the target that disagree, an instruction that
 * does not carry the value the compiler should have put there, or (in strict mode) a field or
 * type the target lacks. The message names the relocation kind, the access as C, the access
 * string, the local type and the instruction index; `reason` is the problem alone.
 */
export class CoreError extends TsebpfError {
  override readonly name = "CoreError";
  readonly kind: string | undefined;
  readonly insnIndex: number | undefined;
  readonly accessStr: string | undefined;
  readonly localType: string | undefined;
  readonly path: string | undefined;

  /** The problem alone, without the relocation's context. */
  readonly reason: string;

  constructor(
    reason: string,
    context: CoreErrorContext = {},
    /** `cause`: the BtfError below, when the BTF itself is at fault. */
    options?: ErrorOptions,
  ) {
    super(oneLine(`${describeContext(context)}: ${reason}`), options);
    this.reason = oneLine(reason);
    this.kind = context.kind;
    this.insnIndex = context.insnIndex;
    this.accessStr = context.accessStr;
    this.localType = context.localType;
    this.path = context.path;
  }
}

/** `CO-RE FIELD_BYTE_OFFSET relocation of insn #12, struct task_struct::pid (access 0:0, local type [17] struct task_struct)`. */
function describeContext(c: CoreErrorContext): string {
  let text = `CO-RE ${c.kind ?? ""}${c.kind ? " " : ""}relocation`;
  if (c.insnIndex !== undefined) text += ` of insn #${c.insnIndex}`;
  if (c.path !== undefined) text += `, ${c.path}`;
  const details: string[] = [];
  if (c.accessStr !== undefined) details.push(`access ${JSON.stringify(c.accessStr)}`);
  if (c.localType !== undefined) details.push(`local type ${c.localType}`);
  if (details.length > 0) text += ` (${details.join(", ")})`;
  return text;
}
