/**
 * Arbitrary BTF for the properties: lists of valid records whose references point anywhere in
 * the list (so loops of every kind happen: typedef -> typedef, const -> volatile -> const,
 * a struct holding itself, an array of itself, a function type taking a pointer to itself), and
 * the walks over them that must either answer or throw a typed error.
 */
import fc from "fast-check";
import { resolveCoreRelocation, CoreError, patchInstruction } from "../../src/btf/core/index.js";
import * as asm from "../../src/asm/index.js";
import { Btf, BtfError, CoreReloKind, alignOf, describeType, dumpC, dumpJson, dumpRaw, sizeOf, skipModifiers, type BtfType } from "../../src/btf/index.js";

export const btfName = fc.oneof(fc.constant(""), fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Mostly small (so that records lay out and print), sometimes anything. */
const size = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 64 }), weight: 3 }, { arbitrary: u32, weight: 1 });

/** A member's offset: mostly on a byte and small, sometimes anything. */
const bitOffset = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 64 }).map((x) => x * 8), weight: 3 }, { arbitrary: u32, weight: 1 });

/** One valid record whose references are drawn from `ref`. */
export function btfType(ref: fc.Arbitrary<number>, name = btfName): fc.Arbitrary<BtfType> {
  const linkage = fc.constantFrom("static", "global", "extern") as fc.Arbitrary<"static" | "global" | "extern">;
  return fc.oneof(
    fc.record({ kind: fc.constant("int" as const), name, size: fc.constantFrom(1, 2, 4, 8, 16), signed: fc.boolean(), char: fc.boolean(), bool: fc.boolean(), bitOffset: fc.integer({ min: 0, max: 255 }), bits: fc.integer({ min: 0, max: 128 }) }),
    fc.record({ kind: fc.constant("ptr" as const), name: fc.constant(""), type: ref }),
    fc.record({ kind: fc.constant("array" as const), name: fc.constant(""), type: ref, indexType: ref, nelems: size }),
    fc.boolean().chain((bitfields) =>
      fc.record({
        kind: fc.constantFrom("struct" as const, "union" as const), name, size, bitfields: fc.constant(bitfields),
        members: fc.array(fc.record({ name, type: ref, bitOffset: bitfields ? fc.integer({ min: 0, max: 0xffffff }) : bitOffset, bitSize: bitfields ? fc.integer({ min: 0, max: 255 }) : fc.constant(0) }), { maxLength: 5 }),
      }),
    ),
    fc.boolean().chain((signed) =>
      fc.record({ kind: fc.constant("enum" as const), name, size: fc.constantFrom(1, 2, 4), signed: fc.constant(signed), values: fc.array(fc.record({ name, value: signed ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) : u32 }), { maxLength: 4 }) }),
    ),
    fc.boolean().chain((signed) =>
      fc.record({ kind: fc.constant("enum64" as const), name, size: fc.constant(8), signed: fc.constant(signed), values: fc.array(fc.record({ name, value: signed ? fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }) : fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }), { maxLength: 4 }) }),
    ),
    fc.record({ kind: fc.constant("fwd" as const), name, union: fc.boolean() }),
    fc.record({ kind: fc.constantFrom("typedef" as const, "volatile" as const, "const" as const, "restrict" as const, "type_tag" as const), name, type: ref }),
    fc.record({ kind: fc.constant("func" as const), name, type: ref, linkage }),
    fc.record({ kind: fc.constant("func_proto" as const), name: fc.constant(""), returnType: ref, params: fc.array(fc.record({ name, type: ref }), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant("var" as const), name, type: ref, linkage }),
    fc.record({ kind: fc.constant("datasec" as const), name, size: u32, vars: fc.array(fc.record({ type: ref, offset: u32, size: u32 }), { maxLength: 4 }) }),
    fc.record({ kind: fc.constant("float" as const), name, size: fc.constantFrom(4, 8, 16) }),
    fc.record({ kind: fc.constant("decl_tag" as const), name, type: ref, componentIdx: fc.integer({ min: -1, max: 10 }) }),
  );
}

/** A random list of n valid types whose references stay within 0..n. */
export const btfTypes = fc.integer({ min: 1, max: 30 }).chain((n) => fc.array(btfType(fc.integer({ min: 0, max: n })), { minLength: n, maxLength: n }));

/** The kinds a tower is built of: each level refers to the one below. */
const towerKinds = ["typedef", "const", "ptr", "array", "struct", "func_proto"] as const;

/**
 * Arbitrary types, one time in eight topped by a tower of 240-300 types each referring to the one below
 * (typedefs, qualifiers, pointers, arrays, structs or function types, mixed or not): chains past
 * MAX_TYPE_DEPTH, the last one's bottom pointing back into the arbitrary part.
 */
export const btfTypesWithTowers = fc
  .tuple(
    btfTypes,
    fc.oneof(
      { arbitrary: fc.constant(null), weight: 7 },
      { arbitrary: fc.tuple(fc.integer({ min: 240, max: 300 }), fc.constantFrom(...towerKinds, "mixed" as const), fc.nat()), weight: 1 },
    ),
  )
  .map(([types, tower]) => {
    if (!tower) return types;
    const [height, kind, seed] = tower;
    const out = [...types];
    let below = (seed % types.length) + 1;
    for (let i = 0; i < height; i++) {
      const k = kind === "mixed" ? (towerKinds[(seed + i * 7) % towerKinds.length] as (typeof towerKinds)[number]) : kind;
      out.push(level(k, below, i));
      below = out.length;
    }
    return out;
  });

function level(kind: (typeof towerKinds)[number], below: number, i: number): BtfType {
  switch (kind) {
    case "typedef":
      return { kind, name: `t${i}`, type: below };
    case "const":
      return { kind, name: "", type: below };
    case "ptr":
      return { kind, name: "", type: below };
    case "array":
      return { kind, name: "", type: below, indexType: 0, nelems: 1 };
    case "struct":
      return { kind, name: `s${i}`, size: 8, bitfields: false, members: [{ name: "m", type: below, bitOffset: 0, bitSize: 0 }] };
    case "func_proto":
      return { kind, name: "", returnType: 0, params: [{ name: "p", type: below }] };
  }
}

/** What the walks over one blob did. */
export interface WalkOutcome {
  /** The C dump of the whole blob succeeded. */
  dumped: boolean;
  /** Types whose size and alignment were both known. */
  sized: number;
  /** CO-RE relocations resolved (not thrown). */
  resolved: number;
  /** Errors thrown (all typed). */
  errors: number;
}

/** Runs `f`; a BtfError or CoreError counts, anything else is rethrown (a bug). */
function typed(out: WalkOutcome, f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (!(e instanceof BtfError) && !(e instanceof CoreError)) throw e;
    if (e.message.includes("\n")) throw new Error(`a multi-line error message: ${e.message}`);
    out.errors++;
    return false;
  }
}

const KINDS = Object.values(CoreReloKind);

/**
 * Every walk over `btf`: size and alignment of every type, its description, the C dump of the
 * whole blob and of one type, the raw and JSON dumps, and CO-RE relocations of `local` (random
 * kinds, roots and access strings from `pick`) against it and of it against itself and `local`.
 */
export function walkAll(btf: Btf, local: Btf, pick: (max: number) => number): WalkOutcome {
  const out: WalkOutcome = { dumped: false, sized: 0, resolved: 0, errors: 0 };
  const count = btf.typeCount;
  for (let id = 1; id <= count; id++) {
    typed(out, () => {
      sizeOf(btf, id);
      alignOf(btf, id);
      out.sized++;
    });
    typed(out, () => skipModifiers(btf, id));
    typed(out, () => void describeType(btf, id));
  }
  out.dumped = typed(out, () => void dumpC(btf));
  if (count > 0) typed(out, () => void dumpC(btf, { types: [1 + pick(count - 1)] }));
  typed(out, () => void dumpRaw(btf));
  typed(out, () => void dumpJson(btf));
  const pairs: [Btf, Btf][] = [
    [btf, btf],
    [local, btf],
    [btf, local],
  ];
  for (const [from, to] of pairs) {
    // Roots mostly among the named types (an anonymous root has no candidates).
    const named: number[] = [];
    for (let id = 1; id <= from.typeCount; id++) typed(out, () => void (from.nameOf(id) !== "" && named.push(id)));
    for (let r = 0; r < 4; r++) {
      const accessStr = pick(2) === 0 ? "0" : Array.from({ length: 1 + pick(4) }, () => pick(3)).join(":");
      const kind = KINDS[pick(KINDS.length - 1)] as CoreReloKind;
      const typeId = named.length > 0 && pick(3) > 0 ? (named[pick(named.length - 1)] as number) : pick(from.typeCount + 1);
      const relo = { insnOff: 0, typeId, accessStr, kind };
      typed(out, () => {
        const res = resolveCoreRelocation(from, relo, to);
        out.resolved++;
        patchInstruction(asm.mov64Imm(1, Number(BigInt.asIntN(32, BigInt(res.local)))), res, 0);
      });
    }
  }
  return out;
}

/** A deterministic `pick(max)` (0..max) from a seed. */
export function picker(seed: number): (max: number) => number {
  let s = seed >>> 0;
  return (max) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return max <= 0 ? 0 : s % (max + 1);
  };
}
