/** BTF as JSON, in the shape of bpftool's `btf dump -j`: `{ "types": [ { id, kind, name, … } ] }`. */
import type { Btf } from "./btf.js";
import type { BtfType } from "./types.js";

/** One type as a JSON-ready object (64-bit enumerators as strings when past 2^53). */
export function typeJson(id: number, t: BtfType): Record<string, unknown> {
  const name = t.name || "(anon)";
  const base = { id, kind: t.kind.toUpperCase(), name };
  const big = (v: number | bigint) => (typeof v === "bigint" && (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) ? v.toString() : Number(v));
  switch (t.kind) {
    case "int":
      return { ...base, size: t.size, bits_offset: t.bitOffset, nr_bits: t.bits, encoding: t.signed ? "SIGNED" : t.char ? "CHAR" : t.bool ? "BOOL" : "(none)" };
    case "ptr":
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag":
      return { ...base, type_id: t.type };
    case "array":
      return { ...base, type_id: t.type, index_type_id: t.indexType, nr_elems: t.nelems };
    case "struct":
    case "union":
      return {
        ...base, size: t.size, vlen: t.members.length,
        members: t.members.map((m) => ({ name: m.name || "(anon)", type_id: m.type, bits_offset: m.bitOffset, ...(t.bitfields && m.bitSize ? { bitfield_size: m.bitSize } : {}) })),
      };
    case "enum":
    case "enum64":
      return { ...base, encoding: t.signed ? "SIGNED" : "UNSIGNED", size: t.size, vlen: t.values.length, values: t.values.map((v) => ({ name: v.name, val: big(v.value) })) };
    case "fwd":
      return { ...base, fwd_kind: t.union ? "union" : "struct" };
    case "func":
      return { ...base, type_id: t.type, linkage: t.linkage };
    case "func_proto":
      return { ...base, ret_type_id: t.returnType, vlen: t.params.length, params: t.params.map((p) => ({ name: p.name || "(anon)", type_id: p.type })) };
    case "var":
      return { ...base, type_id: t.type, linkage: t.linkage };
    case "datasec":
      return { ...base, size: t.size, vlen: t.vars.length, vars: t.vars.map((v) => ({ type_id: v.type, offset: v.offset, size: v.size })) };
    case "float":
      return { ...base, size: t.size };
    case "decl_tag":
      return { ...base, type_id: t.type, component_idx: t.componentIdx };
  }
}

/** Every type of the blob (not its base). */
export function dumpJson(btf: Btf): { types: Record<string, unknown>[] } {
  const types: Record<string, unknown>[] = [];
  for (const id of btf.ids()) types.push(typeJson(id, btf.type(id) as BtfType));
  return { types };
}
