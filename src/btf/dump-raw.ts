/** BTF as text, one type per line with its members indented — the layout of bpftool's `format raw`. */
import type { Btf } from "./btf.js";
import type { BtfType } from "./types.js";

const q = (name: string) => `'${name || "(anon)"}'`;

function intEncoding(t: Extract<BtfType, { kind: "int" }>): string {
  return t.signed ? "SIGNED" : t.char ? "CHAR" : t.bool ? "BOOL" : "(none)";
}

/** The lines of one type. */
export function rawTypeLines(btf: Btf, id: number): string[] {
  const t = btf.type(id);
  if (!t) return [`[${id}] UNKNOWN`];
  const head = `[${id}] ${t.kind.toUpperCase()} ${q(t.name)}`;
  switch (t.kind) {
    case "int":
      return [`${head} size=${t.size} bits_offset=${t.bitOffset} nr_bits=${t.bits} encoding=${intEncoding(t)}`];
    case "ptr":
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag":
      return [`${head} type_id=${t.type}`];
    case "array":
      return [`${head} type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`];
    case "struct":
    case "union":
      return [
        `${head} size=${t.size} vlen=${t.members.length}`,
        ...t.members.map((m) => `\t${q(m.name)} type_id=${m.type} bits_offset=${m.bitOffset}${m.bitSize ? ` bitfield_size=${m.bitSize}` : ""}`),
      ];
    case "enum":
      return [
        `${head} encoding=${t.signed ? "SIGNED" : "UNSIGNED"} size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((v) => `\t${q(v.name)} val=${v.value}`),
      ];
    case "enum64":
      return [
        `${head} encoding=${t.signed ? "SIGNED" : "UNSIGNED"} size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((v) => `\t${q(v.name)} val=${v.value}${t.signed ? "LL" : "ULL"}`),
      ];
    case "fwd":
      return [`${head} fwd_kind=${t.union ? "union" : "struct"}`];
    case "func":
      return [`${head} type_id=${t.type} linkage=${t.linkage}`];
    case "func_proto":
      return [`${head} ret_type_id=${t.returnType} vlen=${t.params.length}`, ...t.params.map((p) => `\t${q(p.name)} type_id=${p.type}`)];
    case "var":
      return [`${head} type_id=${t.type}, linkage=${t.linkage}`];
    case "datasec":
      return [
        `${head} size=${t.size} vlen=${t.vars.length}`,
        ...t.vars.map((v) => `\ttype_id=${v.type} offset=${v.offset} size=${v.size} (${btf.kindOf(v.type).toUpperCase()} ${q(btf.nameOf(v.type))})`),
      ];
    case "float":
      return [`${head} size=${t.size}`];
    case "decl_tag":
      return [`${head} type_id=${t.type} component_idx=${t.componentIdx}`];
  }
}

/** Every type of the blob (not its base), as text. */
export function dumpRaw(btf: Btf): string {
  const out: string[] = [];
  for (const id of btf.ids()) for (const line of rawTypeLines(btf, id)) out.push(line);
  return `${out.join("\n")}\n`;
}
