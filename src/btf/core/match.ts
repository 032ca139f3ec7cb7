/**
 * Matching a local spec against one target candidate, and the three type relations CO-RE uses:
 *
 * - fields compatible (a named member found in the target): structs and unions are interchangeable,
 *   any integer matches any integer (a size change is the loader's business), pointers match
 *   pointers, enums and forward declarations need the same essential name unless one is
 *   anonymous, arrays compare their elements;
 * - types compatible (TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE): same kind after typedefs and
 *   qualifiers; pointers, arrays and function prototypes compare what they point at or hold
 *   (a typedef of a function prototype, of a pointer to one or of an array is followed the same
 *   way); a float is compatible with nothing, as libbpf rules (its kinds list has no float);
 * - types match (TYPE_MATCHES), stricter: integers by size and signedness, enums by size and by
 *   the names of the local enumerators, structs and unions member by member (each local member
 *   must exist in the target under the same name with a matching type), arrays by length and
 *   element, function prototypes by parameter count and types; behind a pointer a struct or union
 *   only needs the same name and kind (or a forward declaration of that kind). Floats match
 *   nothing (as in libbpf). Unlike libbpf, integers are not compared by name: "unsigned long"
 *   from clang matches "long unsigned int" from gcc.
 */
import type { Btf } from "../btf.js";
import { CoreReloKind } from "../ext.js";
import { cycleError, skipModifiers } from "../query.js";
import type { BtfComposite, BtfEnum, BtfEnum64, BtfType } from "../types.js";
import {
  CoreProblem,
  MAX_ACCESS_LENGTH,
  isFlexibleArray,
  reloFamily,
  safeDescribe,
  sizeForAccess,
  type CoreAccessor,
  type CoreSpec,
} from "./accessor.js";
import { essentialName, kindsCompatible } from "./candidates.js";

/** How deep the type relations recurse before declaring a loop. */
const MAX_DEPTH = 32;
/**
 * How many pairs of types one comparison visits at most: function prototypes and structs fan
 * out, so a loop or a deep nest of them would otherwise take exponential time.
 */
const MAX_STEPS = 20_000;

/** Visits left to one top-level comparison. */
interface Budget {
  left: number;
}

const spend = (budget: Budget): void => {
  if (--budget.left < 0) throw new CoreProblem(`comparing the types takes more than ${MAX_STEPS} steps (a loop in the BTF?)`);
};

const isComposite = (t: BtfType | undefined): t is BtfComposite => t?.kind === "struct" || t?.kind === "union";
const isEnum = (t: BtfType | undefined): t is BtfEnum | BtfEnum64 => t?.kind === "enum" || t?.kind === "enum64";

const tooDeep = (): never => {
  throw new CoreProblem(`types nest deeper than ${MAX_DEPTH} levels (a loop in the BTF?)`);
};

/** Essential names equal, or one of them anonymous. */
const namesCompatible = (a: string, b: string): boolean => a === "" || b === "" || essentialName(a) === essentialName(b);

/** Can a local member of type `localId` be read as a target member of type `targetId`? */
export function fieldsCompatible(local: Btf, localId: number, target: Btf, targetId: number): boolean {
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const l = local.type(skipModifiers(local, localId));
    const t = target.type(skipModifiers(target, targetId));
    if (isComposite(l) && isComposite(t)) return true;
    if (!l || !t || !kindsCompatible(l.kind, t.kind)) return false;
    switch (l.kind) {
      case "ptr":
      case "float":
        return true;
      case "fwd":
      case "enum":
      case "enum64":
        return namesCompatible(l.name, t.name);
      case "int":
        return l.bitOffset === 0 && (t as typeof l).bitOffset === 0;
      case "array":
        localId = l.type;
        targetId = (t as typeof l).type;
        continue;
      default:
        return false;
    }
  }
  return tooDeep();
}

/** The relation of TYPE_ID_TARGET, TYPE_EXISTS and TYPE_SIZE (root names already match). */
export function typesCompatible(local: Btf, localId: number, target: Btf, targetId: number, depth = 0, budget: Budget = { left: MAX_STEPS }): boolean {
  for (; depth < MAX_DEPTH; depth++) {
    spend(budget);
    localId = skipModifiers(local, localId);
    targetId = skipModifiers(target, targetId);
    const l = local.type(localId);
    const t = target.type(targetId);
    if (!l || !t) return !l && !t;
    if (!kindsCompatible(l.kind, t.kind)) return false;
    switch (l.kind) {
      case "struct":
      case "union":
      case "enum":
      case "enum64":
      case "fwd":
        return true;
      case "int":
        return l.bitOffset === 0 && (t as typeof l).bitOffset === 0;
      case "ptr":
      case "array":
        localId = l.type;
        targetId = (t as typeof l).type;
        continue;
      case "func_proto": {
        const tp = t as typeof l;
        if (l.params.length !== tp.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          if (!typesCompatible(local, (l.params[i] as { type: number }).type, target, (tp.params[i] as { type: number }).type, depth + 1, budget)) return false;
        }
        localId = l.returnType;
        targetId = tp.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  return tooDeep();
}

/** Essential names equal (both anonymous counts as equal). */
const sameEssentialName = (a: string, b: string): boolean => essentialName(a) === essentialName(b);

/** The TYPE_MATCHES relation. */
export function typesMatch(
  local: Btf,
  localId: number,
  target: Btf,
  targetId: number,
  behindPointer = false,
  depth = 0,
  budget: Budget = { left: MAX_STEPS },
): boolean {
  for (; depth < MAX_DEPTH; depth++) {
    spend(budget);
    localId = skipModifiers(local, localId);
    targetId = skipModifiers(target, targetId);
    const l = local.type(localId);
    const t = target.type(targetId);
    if (!l || !t) return !l && !t;
    // Integers are matched by what they are, not by what a compiler calls them ("unsigned long"
    // from clang is "long unsigned int" from gcc).
    if (l.kind !== "int" && !sameEssentialName(l.name, t.name)) return false;
    switch (l.kind) {
      case "fwd":
        if (t.kind === "fwd") return t.union === l.union;
        return behindPointer && t.kind === (l.union ? "union" : "struct");
      case "enum":
      case "enum64":
        return isEnum(t) && enumsMatch(l, t);
      case "struct":
      case "union":
        if (behindPointer) return t.kind === l.kind || (t.kind === "fwd" && t.union === (l.kind === "union"));
        return t.kind === l.kind && compositesMatch(local, l, target, t, depth + 1, budget);
      case "int":
        return t.kind === "int" && t.size === l.size && t.signed === l.signed;
      case "ptr":
        if (t.kind !== "ptr") return false;
        behindPointer = true;
        localId = l.type;
        targetId = t.type;
        continue;
      case "array":
        if (t.kind !== "array" || t.nelems !== l.nelems) return false;
        localId = l.type;
        targetId = t.type;
        continue;
      case "func_proto": {
        if (t.kind !== "func_proto" || t.params.length !== l.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          const lp = (l.params[i] as { type: number }).type;
          const tp = (t.params[i] as { type: number }).type;
          if (!typesMatch(local, lp, target, tp, behindPointer, depth + 1, budget)) return false;
        }
        localId = l.returnType;
        targetId = t.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  return tooDeep();
}

function enumsMatch(l: BtfEnum | BtfEnum64, t: BtfEnum | BtfEnum64): boolean {
  if (l.size !== t.size) return false;
  const names = new Set(t.values.map((v) => essentialName(v.name)));
  return l.values.every((v) => names.has(essentialName(v.name)));
}

function compositesMatch(local: Btf, l: BtfComposite, target: Btf, t: BtfComposite, depth: number, budget: Budget): boolean {
  if (l.members.length > t.members.length) return false;
  return l.members.every((lm) =>
    t.members.some((tm) => tm.name === lm.name && typesMatch(local, lm.type, target, tm.type, false, depth, budget)),
  );
}

/** A target spec, or why this candidate does not fit. */
export type SpecMatch = { readonly spec: CoreSpec; readonly why?: undefined } | { readonly spec?: undefined; readonly why: string };

/**
 * Reproduces the local spec on target candidate `candidateId`: the same named members (found
 * through any anonymous structs and unions of the target), the same array indices, the same
 * enumerator (by essential name), or a compatible / matching type.
 */
export function matchSpec(localSpec: CoreSpec, kind: CoreReloKind, target: Btf, candidateId: number): SpecMatch {
  const local = localSpec.btf;
  const candidate = safeDescribe(target, candidateId);
  switch (reloFamily(kind)) {
    case "type": {
      const ok = kind === CoreReloKind.TYPE_MATCHES
        ? typesMatch(local, localSpec.rootId, target, candidateId)
        : typesCompatible(local, localSpec.rootId, target, candidateId);
      if (!ok) return { why: `[${candidateId}] ${candidate} does not ${kind === CoreReloKind.TYPE_MATCHES ? "match" : "fit"} the local type` };
      return { spec: { btf: target, rootId: candidateId, raw: [0], accessors: [], bitOffset: 0 } };
    }
    case "enumval": {
      const id = skipModifiers(target, candidateId);
      const t = target.type(id);
      const wanted = localSpec.accessors[0]?.name ?? "";
      if (!isEnum(t)) return { why: `[${candidateId}] ${candidate} is not an enum` };
      const essential = essentialName(wanted);
      const index = t.values.findIndex((v) => essentialName(v.name) === essential);
      if (index < 0) return { why: `[${candidateId}] ${candidate} has no enumerator ${essential}` };
      const name = (t.values[index] as { name: string }).name;
      return { spec: { btf: target, rootId: candidateId, raw: [index], accessors: [{ typeId: id, index, name }], bitOffset: 0 } };
    }
    case "field":
      return matchFieldSpec(localSpec, target, candidateId);
  }
}

function matchFieldSpec(localSpec: CoreSpec, target: Btf, candidateId: number): SpecMatch {
  const local = localSpec.btf;
  const raw: number[] = [];
  const accessors: CoreAccessor[] = [];
  let bitOffset = 0;
  let id = candidateId;
  for (let i = 0; i < localSpec.accessors.length; i++) {
    const la = localSpec.accessors[i] as CoreAccessor;
    id = skipModifiers(target, id);
    if (i === 0) {
      accessors.push({ typeId: id, index: la.index });
      raw.push(la.index);
      if (la.index !== 0) bitOffset += la.index * sizeForAccess(target, id, "root type") * 8;
      continue;
    }
    if (la.name !== undefined) {
      const holder = local.type(la.typeId) as BtfComposite;
      const localMember = holder.members[la.index] as BtfComposite["members"][number];
      const t = target.type(id);
      if (!isComposite(t)) return { why: `${describePartial(target, candidateId, accessors)} is ${safeDescribe(target, id)}, not a struct or union with member ${la.name}` };
      const state: SearchState = { raw, bitOffset, incompatible: undefined, searched: new Set([id]), open: [id] };
      const found = findMember(local, localMember.type, la.name, target, id, state);
      if (found === undefined) {
        const where = accessors.length > 1 ? `${describePartial(target, candidateId, accessors)} (${safeDescribe(target, id)})` : describePartial(target, candidateId, accessors);
        return { why: state.incompatible ?? `${where} has no member ${la.name}` };
      }
      bitOffset = state.bitOffset;
      accessors.push({ typeId: found.holder, index: found.index, name: la.name });
      id = found.type;
    } else {
      const t = target.type(id);
      if (t?.kind !== "array") return { why: `${describePartial(target, candidateId, accessors)} is ${safeDescribe(target, id)}, not an array` };
      if (!isFlexibleArray(target, accessors[accessors.length - 1], t) && la.index >= t.nelems) {
        return { why: `${describePartial(target, candidateId, accessors)} has ${t.nelems} elements, no index ${la.index}` };
      }
      const elem = skipModifiers(target, t.type);
      if (raw.length >= MAX_ACCESS_LENGTH) throw new CoreProblem(`the target access is longer than ${MAX_ACCESS_LENGTH} indices`);
      accessors.push({ typeId: elem, index: la.index });
      raw.push(la.index);
      if (la.index !== 0) bitOffset += la.index * sizeForAccess(target, elem, "array element") * 8;
      id = elem;
    }
  }
  if (!Number.isSafeInteger(bitOffset)) throw new CoreProblem("target field offset overflows");
  return { spec: { btf: target, rootId: candidateId, raw, accessors, bitOffset } };
}

interface SearchState {
  readonly raw: number[];
  bitOffset: number;
  incompatible: string | undefined;
  /**
   * Holders entered so far: one met again is either searched already (and has no such member,
   * so it is skipped) or still open, on the path to itself: a loop, refused.
   */
  readonly searched: Set<number>;
  readonly open: number[];
}

/**
 * Finds member `name` in target struct/union `holderId`, descending into anonymous members.
 * Pushes the raw indices of the path (anonymous members included) and adds their offsets.
 */
function findMember(
  local: Btf,
  localType: number,
  name: string,
  target: Btf,
  holderId: number,
  state: SearchState,
): { holder: number; index: number; type: number } | undefined {
  const t = target.type(holderId);
  if (!isComposite(t)) return undefined;
  for (let i = 0; i < t.members.length; i++) {
    const m = t.members[i] as BtfComposite["members"][number];
    if (state.raw.length >= MAX_ACCESS_LENGTH) throw new CoreProblem(`the target access is longer than ${MAX_ACCESS_LENGTH} indices`);
    state.raw.push(i);
    state.bitOffset += m.bitOffset;
    if (m.name === "") {
      const inner = skipModifiers(target, m.type);
      const open = state.open.indexOf(inner);
      if (open >= 0) throw cycleError(target, inner, "holds itself by value", [...state.open.slice(open), inner]);
      if (!state.searched.has(inner)) {
        state.searched.add(inner);
        state.open.push(inner);
        const found = findMember(local, localType, name, target, inner, state);
        state.open.pop();
        if (found) return found;
      }
    } else if (m.name === name) {
      if (fieldsCompatible(local, localType, target, m.type)) return { holder: holderId, index: i, type: m.type };
      state.incompatible = `member ${name} of ${safeDescribe(target, holderId)} is ${safeDescribe(target, m.type)} in the target but ${safeDescribe(local, localType)} locally`;
    }
    state.raw.pop();
    state.bitOffset -= m.bitOffset;
  }
  return undefined;
}

/** The target path walked so far, for messages: `struct task_struct::se`. */
function describePartial(target: Btf, rootId: number, accessors: readonly CoreAccessor[]): string {
  let text = safeDescribe(target, rootId);
  let named = 0;
  for (let i = 1; i < accessors.length; i++) {
    const a = accessors[i] as CoreAccessor;
    text += a.name !== undefined ? `${named++ === 0 ? "::" : "."}${a.name}` : `[${a.index}]`;
  }
  return `[${rootId}] ${text}`;
}
