/** The type ids a BTF type refers to, and the same type with other ids: what merging renumbers. */
import type { BtfType } from "../../btf/index.js";

/**
 * `t` with each type id it refers to replaced by `f(id)`, `f` called once per id in a fixed order
 * (0 is void): the referenced type; an array's element, then index type; a struct's or union's
 * members; a function prototype's return type, then its parameters; a datasec's variables.
 */
export function mapRefs(t: BtfType, f: (id: number) => number): BtfType {
  switch (t.kind) {
    case "ptr":
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag":
    case "func":
    case "var":
    case "decl_tag":
      return { ...t, type: f(t.type) };
    case "array":
      return { ...t, type: f(t.type), indexType: f(t.indexType) };
    case "struct":
    case "union":
      return { ...t, members: t.members.map((m) => ({ ...m, type: f(m.type) })) };
    case "func_proto":
      return { ...t, returnType: f(t.returnType), params: t.params.map((p) => ({ ...p, type: f(p.type) })) };
    case "datasec":
      return { ...t, vars: t.vars.map((v) => ({ ...v, type: f(v.type) })) };
    case "int":
    case "enum":
    case "enum64":
    case "fwd":
    case "float":
      return t;
  }
}

/** Every type id `t` refers to, in mapRefs' order. */
export function typeRefs(t: BtfType): number[] {
  const refs: number[] = [];
  mapRefs(t, (id) => {
    refs.push(id);
    return id;
  });
  return refs;
}

/** `t` with the ids of `typeRefs(t)` replaced by `refs`, in the same order. */
export function withRefs(t: BtfType, refs: readonly number[]): BtfType {
  let i = 0;
  return mapRefs(t, () => refs[i++] as number);
}
