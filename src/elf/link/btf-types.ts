/** The type ids a BTF type refers to, and the same type with other ids: what merging renumbers. */
import type { BtfType } from "../../btf/index.js";

/** Every type id `t` refers to, in a fixed order (0 is void). */
export function typeRefs(t: BtfType): number[] {
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
      return [t.type];
    case "array":
      return [t.type, t.indexType];
    case "struct":
    case "union":
      return t.members.map((m) => m.type);
    case "func_proto":
      return [t.returnType, ...t.params.map((p) => p.type)];
    case "datasec":
      return t.vars.map((v) => v.type);
    case "int":
    case "enum":
    case "enum64":
    case "fwd":
    case "float":
      return [];
  }
}

/** `t` with the ids of `typeRefs(t)` replaced, in the same order. */
export function withRefs(t: BtfType, refs: readonly number[]): BtfType {
  const at = (i: number): number => refs[i] as number;
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
      return { ...t, type: at(0) };
    case "array":
      return { ...t, type: at(0), indexType: at(1) };
    case "struct":
    case "union":
      return { ...t, members: t.members.map((m, i) => ({ ...m, type: at(i) })) };
    case "func_proto":
      return { ...t, returnType: at(0), params: t.params.map((p, i) => ({ ...p, type: at(i + 1) })) };
    case "datasec":
      return { ...t, vars: t.vars.map((v, i) => ({ ...v, type: at(i) })) };
    case "int":
    case "enum":
    case "enum64":
    case "fwd":
    case "float":
      return t;
  }
}
