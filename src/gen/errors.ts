import { TsebpfError } from "../errors.js";

/** `tsebpf gen` cannot generate bindings: a type not in BTF, a layout it cannot express. */
export class GenError extends TsebpfError {
  override readonly name = "GenError";
}
