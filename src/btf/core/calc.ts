/**
 * The values of a relocation: what the compiler put in the instruction (computed from the local
 * BTF) and what the target needs, for each of the thirteen kinds; and `resolveCoreRelocation`,
 * which finds the target candidates, matches each, and decides.
 */
import type { Btf } from "../btf.js";
import { BtfError } from "../errors.js";
import { CoreReloKind, type CoreRelo } from "../ext.js";
import { skipModifiers } from "../query.js";
import type { BtfComposite, BtfType } from "../types.js";
import {
  CoreProblem,
  describeAccess,
  describeRoot,
  kindName,
  memberBitSize,
  parseAccessString,
  parseSpec,
  reloFamily,
  safeDescribe,
  sizeForAccess,
  type CoreAccessor,
  type CoreSpec,
} from "./accessor.js";
import { defaultCandidateCache, essentialName, type CandidateCache } from "./candidates.js";
import { CoreError, type CoreErrorContext } from "./errors.js";
import { matchSpec } from "./match.js";

export interface CoreOptions {
  /** Candidate indexes per target BTF; share one between relocations. Default: a module-wide cache. */
  readonly cache?: CandidateCache;
  /**
   * Throw a CoreError when the target lacks the field, type or enumerator, instead of
   * poisoning the instruction or (TYPE_SIZE, TYPE_ID_TARGET) resolving to 0 (the *_EXISTS and
   * TYPE_MATCHES kinds still resolve to 0).
   */
  readonly strict?: boolean;
  /**
   * Byte order of the machine that runs the program, for FIELD_LSHIFT_U64 of bitfields.
   * Default: the target BTF's (the kernel's BTF is in the host's order).
   */
  readonly byteOrder?: "little" | "big";
}

/** The decision for one relocation. */
export interface CoreResolution {
  readonly kind: CoreReloKind;
  /** `FIELD_BYTE_OFFSET`. */
  readonly kindName: string;
  /** Index (in 8-byte slots) of the instruction in its section: `insnOff / 8`. */
  readonly insnIndex: number;
  /** The access string, `0:1:2`. */
  readonly accessStr: string;
  /** The access as C, `struct sock::__sk_common.skc_family`. */
  readonly path: string;
  /** The local root type, `[25] struct sock`. */
  readonly localType: string;
  /**
   * The value the compiler computed from the local BTF (and put in the instruction). Numbers
   * are safe integers; only 64-bit enumerator values beyond 2^53 are bigints.
   */
  readonly local: number | bigint;
  /** The value for the target; undefined when poisoned. */
  readonly target: number | bigint | undefined;
  /** The instruction must be replaced by a call to the poison helper (the target lacks what it reads). */
  readonly poison: boolean;
  /** Why the target value is 0 (an *_EXISTS / TYPE_MATCHES miss) or why the instruction is poisoned. */
  readonly reason?: string;
  /**
   * Whether the instruction's current immediate/offset must equal `local`. False for a
   * bitfield's byte offset, byte size and left shift, where the compiler may choose another
   * load unit than the rules here do, and for type ids (TYPE_ID_LOCAL, TYPE_ID_TARGET), which a
   * static linker renumbers without touching the instructions.
   */
  readonly validate: boolean;
  /** FIELD_BYTE_OFFSET of a non-bitfield: the field's size in the local BTF (the load/store width). */
  readonly localSize?: number;
  /** FIELD_BYTE_OFFSET of a non-bitfield: the field's size in the target. */
  readonly targetSize?: number;
  /** Field relocations: whether the target field is a signed integer or enum. */
  readonly targetSigned?: boolean;
  /**
   * Set when the field's size differs and a load/store of it cannot be resized safely (only
   * pointers and unsigned integers can): patching a memory instruction then poisons it.
   */
  readonly resizeProblem?: string;
  /** The target type that matched (the candidate's id), when one did. */
  readonly targetTypeId?: number;
  /** One line: `insn #3 FIELD_BYTE_OFFSET struct task_struct::pid (0:0): 0 -> 2580 (target [123] struct task_struct)`. */
  readonly description: string;
}

/** Everything `calcValue` knows about the accessed field. */
interface FieldFacts {
  readonly bitfield: boolean;
  readonly byteOffset: number;
  readonly byteSize: number;
  readonly bitOffset: number;
  readonly bitSize: number;
  readonly signed: boolean;
  /** The field's type, modifiers skipped. */
  readonly typeId: number;
}

interface Calculated {
  readonly value: bigint;
  readonly validate: boolean;
  readonly size?: number;
  readonly signed?: boolean;
  readonly typeId?: number;
}

const isSigned = (t: BtfType | undefined): boolean =>
  (t?.kind === "int" && t.signed) || ((t?.kind === "enum" || t?.kind === "enum64") && t.signed);

function fieldFacts(spec: CoreSpec): FieldFacts {
  const { btf, bitOffset } = spec;
  const acc = spec.accessors[spec.accessors.length - 1] as CoreAccessor;
  if (acc.name === undefined) {
    // The root, or an array element: a whole value.
    if (bitOffset % 8 !== 0) throw new CoreProblem(`element at bit ${bitOffset} does not start on a byte`);
    const byteSize = sizeForAccess(btf, acc.typeId, "element");
    return { bitfield: false, byteOffset: bitOffset / 8, byteSize, bitOffset, bitSize: byteSize * 8, signed: isSigned(btf.type(acc.typeId)), typeId: acc.typeId };
  }
  const holder = btf.type(acc.typeId) as BtfComposite;
  const member = holder.members[acc.index] as BtfComposite["members"][number];
  const typeId = skipModifiers(btf, member.type);
  const t = btf.type(typeId);
  const signed = isSigned(t);
  const bitSize = memberBitSize(holder, acc.index);
  if (bitSize === 0) {
    if (bitOffset % 8 !== 0) throw new CoreProblem(`member ${acc.name} starts at bit ${bitOffset}, not on a byte`);
    const byteSize = sizeForAccess(btf, typeId, "field");
    return { bitfield: false, byteOffset: bitOffset / 8, byteSize, bitOffset, bitSize: byteSize * 8, signed, typeId };
  }
  if (t?.kind !== "int" && t?.kind !== "enum" && t?.kind !== "enum64") {
    throw new CoreProblem(`bitfield ${acc.name} has type ${safeDescribe(btf, typeId)}, not an integer or enum`);
  }
  // The smallest naturally aligned load unit, starting from the member type's size, that holds
  // every bit of the field.
  let byteSize = Math.max(1, t.size);
  let byteOffset = Math.floor(bitOffset / 8 / byteSize) * byteSize;
  while (bitOffset + bitSize - byteOffset * 8 > byteSize * 8) {
    if (byteSize >= 8) throw new CoreProblem(`bitfield ${acc.name} (bits ${bitOffset}-${bitOffset + bitSize - 1}) cannot be read with one 64-bit load`);
    byteSize *= 2;
    byteOffset = Math.floor(bitOffset / 8 / byteSize) * byteSize;
  }
  return { bitfield: true, byteOffset, byteSize, bitOffset, bitSize, signed, typeId };
}

/** The value of a relocation for one spec (local or target). */
function calcValue(spec: CoreSpec, kind: CoreReloKind, byteOrder: "little" | "big"): Calculated {
  const { btf } = spec;
  switch (kind) {
    case CoreReloKind.TYPE_ID_LOCAL:
    case CoreReloKind.TYPE_ID_TARGET:
      // Not checked against the instruction: a static linker renumbers the object's types but
      // leaves the ids clang put in the instructions (libbpf does not check them either).
      return { value: BigInt(spec.rootId), validate: false };
    case CoreReloKind.TYPE_EXISTS:
    case CoreReloKind.TYPE_MATCHES:
    case CoreReloKind.ENUMVAL_EXISTS:
    case CoreReloKind.FIELD_EXISTS:
      return { value: 1n, validate: true };
    case CoreReloKind.TYPE_SIZE:
      return { value: BigInt(sizeForAccess(btf, spec.rootId, "type")), validate: true };
    case CoreReloKind.ENUMVAL_VALUE: {
      const acc = spec.accessors[0] as CoreAccessor;
      const t = btf.type(acc.typeId);
      if (t?.kind !== "enum" && t?.kind !== "enum64") throw new CoreProblem("enumerator's type is not an enum");
      return { value: BigInt((t.values[acc.index] as { value: number | bigint }).value), validate: true };
    }
  }
  const f = fieldFacts(spec);
  const common = { signed: f.signed };
  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
      return f.bitfield
        ? { ...common, value: BigInt(f.byteOffset), validate: false }
        : { ...common, value: BigInt(f.byteOffset), validate: true, size: f.byteSize, typeId: f.typeId };
    case CoreReloKind.FIELD_BYTE_SIZE:
      return { ...common, value: BigInt(f.byteSize), validate: !f.bitfield };
    case CoreReloKind.FIELD_SIGNED:
      return { ...common, value: f.signed ? 1n : 0n, validate: true };
    case CoreReloKind.FIELD_LSHIFT_U64:
    case CoreReloKind.FIELD_RSHIFT_U64: {
      if (f.byteSize > 8) throw new CoreProblem(`a ${f.byteSize}-byte field does not fit in a 64-bit register, so it has no shifts`);
      if (kind === CoreReloKind.FIELD_RSHIFT_U64) return { ...common, value: BigInt(64 - f.bitSize), validate: true };
      // Load byteSize bytes at byteOffset into a u64, shift left so that the field's top bit
      // lands in bit 63, then right by 64 - bitSize.
      const withinUnit = f.bitOffset - f.byteOffset * 8;
      const shift = byteOrder === "little" ? 64 - (withinUnit + f.bitSize) : (8 - f.byteSize) * 8 + withinUnit;
      return { ...common, value: BigInt(shift), validate: !f.bitfield };
    }
  }
  throw new CoreProblem(`unknown relocation kind ${kind as number}`);
}

/** A bigint as the API shows it: a number when it is a safe integer. */
const out = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/** Why loading a field of `localType` as `targetType` with another width would read garbage, if it would. */
function resizeProblem(local: Btf, localType: number, target: Btf, targetType: number): string | undefined {
  const l = local.type(localType);
  const t = target.type(targetType);
  if (l?.kind === "ptr" && t?.kind === "ptr") return undefined;
  if (l?.kind === "int" && t?.kind === "int" && !l.signed && !t.signed) return undefined;
  return `the field is ${safeDescribe(local, localType)} locally and ${safeDescribe(target, targetType)} in the target: only pointers and unsigned integers can be loaded or stored with another width`;
}

/** The kinds for which "the target lacks it" is an answer (0), not a reason to poison. */
const MISS_IS_ZERO = new Set<CoreReloKind>([
  CoreReloKind.FIELD_EXISTS,
  CoreReloKind.TYPE_EXISTS,
  CoreReloKind.TYPE_MATCHES,
  CoreReloKind.ENUMVAL_EXISTS,
]);

/**
 * Kinds that resolve to 0 when the target lacks the type, as libbpf resolves every type
 * relocation (a TYPE_SIZE or TYPE_ID_TARGET of a missing type is 0, never poisoned), unless
 * `strict` asks for an error.
 */
const MISS_IS_ZERO_UNLESS_STRICT = new Set<CoreReloKind>([CoreReloKind.TYPE_SIZE, CoreReloKind.TYPE_ID_TARGET]);

/** `struct`, `enum`, `typedef`: how a kind is named in C (and in messages). */
const kindLabel = (kind: string): string => (kind === "enum64" ? "enum" : kind === "fwd" ? "struct/union" : kind);

const fmt = (v: number | bigint | undefined): string => (v === undefined ? "?" : v.toString());

/**
 * Resolves one CO-RE relocation of an object (local BTF) against a target BTF (the kernel's,
 * a module's split BTF, or any other).
 *
 * Candidates are the target types of the same kind and essential name; each is matched
 * against the local access. No match: FIELD_EXISTS, ENUMVAL_EXISTS and every type
 * relocation (TYPE_EXISTS, TYPE_MATCHES, TYPE_SIZE, TYPE_ID_TARGET) resolve to 0, as libbpf
 * resolves them; the field and enumerator value kinds poison the instruction (or, with
 * `strict`, throw — as do TYPE_SIZE and TYPE_ID_TARGET). Several matches must agree on the value (and field size), else CoreError; when
 * some of them carry exactly the local name (flavour included), only those count.
 * TYPE_ID_LOCAL needs no target.
 */
export function resolveCoreRelocation(local: Btf, relo: CoreRelo, target: Btf, options: CoreOptions = {}): CoreResolution {
  const kind = relo.kind;
  const context: { -readonly [K in keyof CoreErrorContext]: CoreErrorContext[K] } = {
    kind: kindName(kind),
    insnIndex: relo.insnOff % 8 === 0 ? relo.insnOff / 8 : undefined,
    accessStr: relo.accessStr,
  };
  try {
    if (relo.insnOff % 8 !== 0) throw new CoreProblem(`instruction offset ${relo.insnOff} is not a multiple of 8`);
    const family = reloFamily(kind);
    context.localType = describeRoot(local, relo.typeId);
    context.path = describeAccess(local, relo.typeId, [], family);
    const raw = parseAccessString(relo.accessStr);
    context.path = describeAccess(local, relo.typeId, raw, family);
    const localSpec = parseSpec(local, relo.typeId, raw, kind);
    const byteOrder = options.byteOrder ?? target.byteOrder;
    const mine = calcValue(localSpec, kind, byteOrder);
    const base = {
      kind,
      kindName: context.kind as string,
      insnIndex: context.insnIndex as number,
      accessStr: relo.accessStr,
      path: context.path,
      localType: context.localType,
      local: out(mine.value),
      validate: mine.validate,
      ...(mine.size !== undefined ? { localSize: mine.size } : {}),
    };
    const describe = (what: string) => `insn #${base.insnIndex} ${base.kindName} ${base.path} (${relo.accessStr}): ${fmt(base.local)} -> ${what}`;
    if (kind === CoreReloKind.TYPE_ID_LOCAL) {
      return { ...base, target: base.local, poison: false, description: describe(fmt(base.local)) };
    }

    const cache = options.cache ?? defaultCandidateCache;
    const candidates = cache.candidates(local, relo.typeId, target);
    type Found = { id: number; calc: Calculated; spec: CoreSpec };
    const found: Found[] = [];
    const misses: string[] = [];
    for (const id of candidates) {
      const m = matchSpec(localSpec, kind, target, id);
      if (m.spec === undefined) {
        misses.push(m.why);
        continue;
      }
      found.push({ id, spec: m.spec, calc: calcValue(m.spec, kind, byteOrder) });
    }

    // A candidate with exactly the local name (same flavour) wins over the other flavours:
    // resolving an object against its own BTF, or a target that carries several flavours,
    // picks the type the program named.
    const localName = local.nameOf(relo.typeId);
    const exact = found.filter((f) => target.nameOf(f.id) === localName);
    const chosen = exact.length > 0 ? exact : found;
    const first = chosen[0];
    if (first === undefined) {
      const name = essentialName(localName);
      const reason = candidates.length === 0
        ? `the target has no ${kindLabel(local.kindOf(relo.typeId))} ${name}`
        : `no candidate fits: ${misses.join("; ")}`;
      if (MISS_IS_ZERO.has(kind) || (MISS_IS_ZERO_UNLESS_STRICT.has(kind) && !options.strict)) {
        return { ...base, target: 0, poison: false, reason, description: describe(`0 (${reason})`) };
      }
      if (options.strict) throw new CoreProblem(reason);
      return { ...base, target: undefined, poison: true, reason, description: describe(`poisoned (${reason})`) };
    }
    for (const other of chosen.slice(1)) {
      if (other.calc.value !== first.calc.value || other.calc.size !== first.calc.size) {
        const show = (f: Found) => `[${f.id}] ${safeDescribe(target, f.id)} gives ${f.calc.value}${f.calc.size !== undefined ? ` (size ${f.calc.size})` : ""}`;
        throw new CoreProblem(`ambiguous: candidates ${show(first)} but ${show(other)}`);
      }
    }
    const theirs = first.calc;
    const extra = {
      ...(theirs.size !== undefined ? { targetSize: theirs.size } : {}),
      ...(theirs.signed !== undefined ? { targetSigned: theirs.signed } : {}),
    };
    let resize: string | undefined;
    if (mine.size !== undefined && theirs.size !== undefined && mine.size !== theirs.size && mine.typeId !== undefined && theirs.typeId !== undefined) {
      resize = resizeProblem(local, mine.typeId, target, theirs.typeId);
    }
    const value = out(theirs.value);
    return {
      ...base,
      ...extra,
      target: value,
      poison: false,
      ...(resize !== undefined ? { resizeProblem: resize } : {}),
      targetTypeId: first.id,
      description: describe(`${fmt(value)} (target [${first.id}] ${safeDescribe(target, first.id)})`),
    };
  } catch (e) {
    if (e instanceof CoreProblem) throw new CoreError(e.reason, context, e.cause === undefined ? {} : { cause: e.cause });
    if (e instanceof BtfError) throw new CoreError(e.message, context, { cause: e });
    throw e;
  }
}

/** Resolves every relocation of a section; see `resolveCoreRelocation`. */
export function resolveCoreRelocations(local: Btf, relos: readonly CoreRelo[], target: Btf, options: CoreOptions = {}): CoreResolution[] {
  const cache = options.cache ?? defaultCandidateCache;
  return relos.map((relo) => resolveCoreRelocation(local, relo, target, { ...options, cache }));
}
