/** How commands name a kernel object, like bpftool: `id N`, `pinned PATH`, `name NAME`. */
import { CliError } from "../io.js";
import { U32_MAX, parseInteger } from "./options.js";

export type ObjectRef = { kind: "id"; value: number } | { kind: "pinned"; path: string } | { kind: "name"; name: string };

export function objectRef(args: readonly string[], what: string): ObjectRef {
  const [how, arg, ...rest] = args;
  if (rest.length > 0 || arg === undefined) throw new CliError(`expected a ${what} as: id N | pinned PATH | name NAME, got '${args.join(" ")}'`);
  if (how === "id") {
    // Ids are __u32 in the kernel's attrs: a larger number must not wrap to another object.
    return { kind: "id", value: parseInteger(`${what} id`, arg, 0, U32_MAX) };
  }
  if (how === "pinned") return { kind: "pinned", path: arg };
  if (how === "name") return { kind: "name", name: arg };
  throw new CliError(`expected a ${what} as: id N | pinned PATH | name NAME, got '${args.join(" ")}'`);
}
