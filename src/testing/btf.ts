/**
 * fast-check arbitraries of BTF: valid records whose references point anywhere in the list (so
 * loops of every kind happen: typedef -> typedef, const -> volatile -> const, a struct holding
 * itself, an array of itself, a function type taking a pointer to itself), towers of types past
 * the depth walks allow, and whole marshalled blobs in either byte order.
 */
import fc from "fast-check";
import { marshalBtf, type BtfType } from "../btf/index.js";

/** A BTF name: empty or a C identifier. */
export const btfName: fc.Arbitrary<string> = fc.oneof(fc.constant(""), fc.stringMatching(/^[a-z_][a-z0-9_]{0,12}$/));
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
export const btfTypes: fc.Arbitrary<BtfType[]> = fc.integer({ min: 1, max: 30 }).chain((n) => fc.array(btfType(fc.integer({ min: 0, max: n })), { minLength: n, maxLength: n }));

/** The kinds a tower is built of: each level refers to the one below. */
const towerKinds = ["typedef", "const", "ptr", "array", "struct", "func_proto"] as const;

/**
 * Arbitrary types, one time in eight topped by a tower of 240-300 types each referring to the one below
 * (typedefs, qualifiers, pointers, arrays, structs or function types, mixed or not): chains past
 * MAX_TYPE_DEPTH, the last one's bottom pointing back into the arbitrary part.
 */
export const btfTypesWithTowers: fc.Arbitrary<BtfType[]> = fc
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

/** A marshalled BTF blob: the types, the byte order and the bytes (`new Btf(bytes)` reads it). */
export interface BtfBlob {
  types: BtfType[];
  order: "little" | "big";
  bytes: Uint8Array;
}

/** Whole BTF blobs of `types` (default btfTypes), in either byte order unless one is given. */
export function btfBlob(options: { types?: fc.Arbitrary<BtfType[]>; order?: "little" | "big" } = {}): fc.Arbitrary<BtfBlob> {
  const order = options.order ? fc.constant(options.order) : fc.constantFrom("little" as const, "big" as const);
  return fc.tuple(options.types ?? btfTypes, order).map(([types, order]) => ({ types, order, bytes: marshalBtf(types, { order }) }));
}
