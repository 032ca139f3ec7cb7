/** Names of the kernel's type numbers, for messages: `HASH` for map type 1, `XDP` for program type 6. */
import { AttachType, LinkType, MapType, ProgramType } from "./enums.generated.js";

function namer(values: Readonly<Record<string, number>>): (n: number) => string {
  const names = new Map<number, string>();
  for (const [name, n] of Object.entries(values)) if (!names.has(n) && !name.endsWith("_DEPRECATED")) names.set(n, name);
  return (n) => names.get(n) ?? `type ${n}`;
}

/** `HASH` for 1; `type 99` for a number this table does not know. */
export const mapTypeName: (type: number) => string = namer(MapType);
/** `XDP` for 6; `type 99` for a number this table does not know. */
export const programTypeName: (type: number) => string = namer(ProgramType);
/** `XDP` for 37; `type 99` for a number this table does not know. */
export const attachTypeName: (type: number) => string = namer(AttachType);
/** `XDP` for 6; `type 99` for a number this table does not know. */
export const linkTypeName: (type: number) => string = namer(LinkType);
