/** How commands name a kernel object, like bpftool: `id N`, `pinned PATH`, `name NAME`. */
import { CliError } from "../io.js";

export type ObjectRef = { kind: "id"; value: number } | { kind: "pinned"; path: string } | { kind: "name"; name: string };

export function objectRef(args: readonly string[], what: string): ObjectRef {
  const [how, arg, ...rest] = args;
  if (rest.length > 0 || arg === undefined) throw new CliError(`expected a ${what} as: id N | pinned PATH | name NAME, got '${args.join(" ")}'`);
  if (how === "id") {
    if (!/^\d+$/.test(arg)) throw new CliError(`${what} id must be a number, not '${arg}'`);
    return { kind: "id", value: Number(arg) };
  }
  if (how === "pinned") return { kind: "pinned", path: arg };
  if (how === "name") return { kind: "name", name: arg };
  throw new CliError(`expected a ${what} as: id N | pinned PATH | name NAME, got '${args.join(" ")}'`);
}
