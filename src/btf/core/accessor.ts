/**
 * Access strings and specs: what a CO-RE relocation points at, resolved against one BTF.
 *
 * An access string is a list of indices, `0:1:2`. For field relocations the first index is an
 * array index on the root pointer (`p[0]`), each next one a member index into a struct or union
 * (anonymous members included) or an element index into an array. For enum value relocations it
 * is the enumerator's index; for type relocations it is always `0`.
 */
import type { Btf } from "../btf.js";
import { BtfError } from "../errors.js";
import { CoreReloKind } from "../ext.js";
import { describeType, sizeOf, skipModifiers } from "../query.js";
import type { BtfArray, BtfComposite, BtfType } from "../types.js";
import { CoreError } from "./errors.js";

/**
 * A problem found below `resolveCoreRelocation`, which rethrows it as a CoreError with the
 * relocation's context (kind, instruction, access). A CoreError itself, for direct callers.
 */
export class CoreProblem extends CoreError {}

/** Longest access (in indices) the engine follows, as the kernel's own CO-RE code allows. */
export const MAX_ACCESS_LENGTH = 64;

/** Name of each relocation kind, `FIELD_BYTE_OFFSET`. */
export const CORE_KIND_NAME: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(CoreReloKind).map(([name, value]) => [value, name]),
);
export const kindName = (kind: number): string => CORE_KIND_NAME[kind] ?? `kind ${kind}`;

/** Which of the three families a relocation kind belongs to. */
export type CoreReloFamily = "field" | "type" | "enumval";
export function reloFamily(kind: CoreReloKind): CoreReloFamily {
  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
    case CoreReloKind.FIELD_BYTE_SIZE:
    case CoreReloKind.FIELD_EXISTS:
    case CoreReloKind.FIELD_SIGNED:
    case CoreReloKind.FIELD_LSHIFT_U64:
    case CoreReloKind.FIELD_RSHIFT_U64:
      return "field";
    case CoreReloKind.ENUMVAL_EXISTS:
    case CoreReloKind.ENUMVAL_VALUE:
      return "enumval";
    case CoreReloKind.TYPE_ID_LOCAL:
    case CoreReloKind.TYPE_ID_TARGET:
    case CoreReloKind.TYPE_EXISTS:
    case CoreReloKind.TYPE_SIZE:
    case CoreReloKind.TYPE_MATCHES:
      return "type";
  }
  throw new CoreProblem(`unknown relocation kind ${kind as number}`);
}

/** One step of a spec that a target must reproduce. */
export interface CoreAccessor {
  /**
   * Member access: the struct or union (modifiers and typedefs skipped) holding the member.
   * Root and array element: the element type (skipped). Enumerator: the enum (skipped).
   */
  readonly typeId: number;
  /** Member, element or enumerator index. */
  readonly index: number;
  /** The member's or enumerator's name; undefined for the root and for array elements. */
  readonly name?: string | undefined;
}

/** A relocation's access, resolved against one BTF (the local one, or a target candidate). */
export interface CoreSpec {
  readonly btf: Btf;
  /** The root type as the relocation names it (typedefs not followed), or the target candidate. */
  readonly rootId: number;
  /** Every index of the access, anonymous members included. */
  readonly raw: readonly number[];
  /**
   * Field relocations: the root, then each named member and array element (anonymous members
   * are only in `raw`). Enum value relocations: the enumerator. Type relocations: empty.
   */
  readonly accessors: readonly CoreAccessor[];
  /** Field relocations: bit offset of the field from the root pointer. */
  readonly bitOffset: number;
}

/** Parses `0:1:2`. */
export function parseAccessString(text: string): number[] {
  if (!/^\d+(:\d+)*$/.test(text)) throw new CoreProblem(`malformed access string ${JSON.stringify(text)} (expected indices like "0:1:2")`);
  const raw = text.split(":").map(Number);
  if (raw.length > MAX_ACCESS_LENGTH) throw new CoreProblem(`access string has ${raw.length} indices, more than ${MAX_ACCESS_LENGTH}`);
  for (const i of raw) if (!Number.isSafeInteger(i) || i > 0xffffffff) throw new CoreProblem(`access index ${i} does not fit in 32 bits`);
  return raw;
}

const isComposite = (t: BtfType | undefined): t is BtfComposite => t?.kind === "struct" || t?.kind === "union";

/** Bit size of a struct member that is a bitfield, else 0. */
export function memberBitSize(t: BtfComposite, index: number): number {
  const m = t.members[index];
  return m && t.bitfields ? m.bitSize : 0;
}

/** Size of `id` for offset arithmetic, as a CoreProblem when it has none (void, fwd, func). */
export function sizeForAccess(btf: Btf, id: number, what: string): number {
  try {
    return sizeOf(btf, id);
  } catch (e) {
    if (!(e instanceof BtfError)) throw e;
    throw new CoreProblem(`${what} ${safeDescribe(btf, id)} has no size (${e.message})`, {}, { cause: e });
  }
}

/**
 * A flexible array member: an array of 0 elements that is the last member of its struct, reached
 * through that member (the accessor before the element index is that named member).
 */
export function isFlexibleArray(btf: Btf, previous: CoreAccessor | undefined, array: BtfArray): boolean {
  if (array.nelems !== 0 || previous?.name === undefined) return false;
  const holder = btf.type(previous.typeId);
  return isComposite(holder) && previous.index === holder.members.length - 1;
}

const checkedBits = (bits: number): number => {
  if (!Number.isSafeInteger(bits)) throw new CoreProblem("field offset overflows");
  return bits;
};

/** Resolves the access of a relocation of `kind` on root type `rootId` against `btf`. */
export function parseSpec(btf: Btf, rootId: number, raw: readonly number[], kind: CoreReloKind): CoreSpec {
  if (rootId === 0) throw new CoreProblem("root type is void (type id 0)");
  if (rootId > btf.typeCount) throw new CoreProblem(`root type id ${rootId} is past the last type (${btf.typeCount})`);
  const family = reloFamily(kind);
  if (family === "type") {
    if (raw.length !== 1 || raw[0] !== 0) throw new CoreProblem(`a type relocation's access string must be "0", not "${raw.join(":")}"`);
    return { btf, rootId, raw, accessors: [], bitOffset: 0 };
  }
  const id = skipModifiers(btf, rootId);
  const t = btf.type(id);
  if (family === "enumval") {
    if (t?.kind !== "enum" && t?.kind !== "enum64") throw new CoreProblem(`an enum value relocation needs an enum, but the root is ${safeDescribe(btf, id)}`);
    if (raw.length !== 1) throw new CoreProblem(`an enum value relocation's access string has one index, not ${raw.length}`);
    const index = raw[0] as number;
    const value = t.values[index];
    if (!value) throw new CoreProblem(`enumerator index ${index} is out of range: ${safeDescribe(btf, id)} has ${t.values.length}`);
    return { btf, rootId, raw, accessors: [{ typeId: id, index, name: value.name }], bitOffset: 0 };
  }
  return parseFieldSpec(btf, rootId, raw);
}

function parseFieldSpec(btf: Btf, rootId: number, raw: readonly number[]): CoreSpec {
  let id = skipModifiers(btf, rootId);
  const first = raw[0] as number;
  const accessors: CoreAccessor[] = [{ typeId: id, index: first }];
  let bitOffset = first === 0 ? 0 : checkedBits(first * sizeForAccess(btf, id, "root type") * 8);
  for (let i = 1; i < raw.length; i++) {
    const index = raw[i] as number;
    id = skipModifiers(btf, id);
    const t = btf.type(id);
    if (isComposite(t)) {
      const m = t.members[index];
      if (!m) throw new CoreProblem(`member index ${index} is out of range: ${safeDescribe(btf, id)} has ${t.members.length} members`);
      bitOffset = checkedBits(bitOffset + m.bitOffset);
      if (m.name !== "") accessors.push({ typeId: id, index, name: m.name });
      else if (i === raw.length - 1) {
        throw new CoreProblem(`the access ends at member ${index} of ${safeDescribe(btf, id)}, which has no name to look it up by in a target`);
      }
      id = m.type;
    } else if (t?.kind === "array") {
      const elem = skipModifiers(btf, t.type);
      if (!isFlexibleArray(btf, accessors[accessors.length - 1], t) && index >= t.nelems) {
        throw new CoreProblem(`array index ${index} is out of range: ${safeDescribe(btf, id)} has ${t.nelems} elements`);
      }
      accessors.push({ typeId: elem, index });
      if (index !== 0) bitOffset = checkedBits(bitOffset + index * sizeForAccess(btf, elem, "array element") * 8);
      id = elem;
    } else {
      throw new CoreProblem(`index ${i} (${index}) goes into ${safeDescribe(btf, id)}, which is neither a struct, a union nor an array`);
    }
  }
  return { btf, rootId, raw, accessors, bitOffset };
}

/** `describeType` that never throws (for messages about broken input). */
export function safeDescribe(btf: Btf, id: number): string {
  try {
    return describeType(btf, id);
  } catch {
    return `type ${id}`;
  }
}

/** `[17] struct task_struct`. */
export const describeRoot = (btf: Btf, id: number): string => `[${id}] ${safeDescribe(btf, id)}`;

/**
 * The access as C, in LLVM's notation: `struct sock::__sk_common.skc_reuse`,
 * `struct task_struct::comm[3]`, `struct foo[2]`, `enum tcp_ca_state::TCP_CA_Loss`,
 * `struct task_struct`. Anonymous members are not named (as in C). Never throws: an index that
 * does not fit the type is shown as `?N`.
 */
export function describeAccess(btf: Btf, rootId: number, raw: readonly number[], family: CoreReloFamily): string {
  let text = safeDescribe(btf, rootId);
  try {
    if (family === "type") return text;
    let id = skipModifiers(btf, rootId);
    if (family === "enumval") {
      const t = btf.type(id);
      const index = raw[0] ?? 0;
      const name = t?.kind === "enum" || t?.kind === "enum64" ? t.values[index]?.name : undefined;
      return `${text}::${name ?? `?${index}`}`;
    }
    if (raw[0] !== undefined && raw[0] !== 0) text += `[${raw[0]}]`;
    let named = 0;
    for (let i = 1; i < raw.length; i++) {
      const index = raw[i] as number;
      const t = btf.type(skipModifiers(btf, id));
      if (isComposite(t) && t.members[index]) {
        const m = t.members[index];
        if (m.name !== "") text += `${named++ === 0 ? "::" : "."}${m.name}`;
        id = m.type;
      } else if (t?.kind === "array") {
        text += `[${index}]`;
        id = t.type;
      } else {
        text += `${named++ === 0 ? "::" : "."}?${index}`;
        break;
      }
    }
  } catch {
    text += " (?)";
  }
  return text;
}
