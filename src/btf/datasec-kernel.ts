/**
 * DATASECs as BPF_BTF_LOAD checks them: each variable inside the section, in increasing offset
 * order, none overlapping, and a section size above 0.
 *
 * clang emits a DATASEC entry for every variable declared in a section, `extern` ones included
 * (`extern struct {...} m SEC(".maps")`, `extern int x;` in `.data`/`.bss`), all at offset 0:
 * reading the object fills sizes and offsets from the ELF section headers and symbols (see
 * fixupDatasecs in src/elf/data.ts), but an extern has no symbol in the section — it lives in
 * another object, until a link — so it stays at 0, on top of the first real variable. The kernel
 * refuses that ("Invalid offset"). libbpf, whose rules these follow, refuses such an object
 * before it gets there (externs are only allowed in `.kconfig` and `.ksyms`); tsebpf loads the
 * parts of it whose externs allow.
 *
 * The rules, per DATASEC:
 * - `.kconfig` and `.ksyms` are extern-backed: their externs are their contents (`.kconfig`
 *   laid out by the loader, `.ksyms` replaced by sanitizeForKernel); left as they are.
 * - any other: extern variables are dropped from it (the VAR types stay, same ids); the rest
 *   are sorted by offset (libbpf sorts them too: a linker may list them in any order).
 * - a DATASEC left with no variable and size 0 (declared only externs: the object has no such
 *   section) becomes an anonymous empty STRUCT, which the kernel accepts; its id stays valid.
 *
 * Ids and string offsets never change, so `.BTF.ext` records and map value type ids still hold.
 */
import { Btf } from "./btf.js";
import { readBtfHeader } from "./header.js";
import type { BtfDatasec } from "./types.js";

const STRUCT_KIND = 4;
const EXTERN_BACKED = new Set([".kconfig", ".ksyms"]);

/** True when `id` is a VAR declared `extern`. */
const isExternVar = (btf: Btf, id: number): boolean => {
  const t = btf.type(id);
  return t?.kind === "var" && t.linkage === "extern";
};

/** The new record of a DATASEC that needs one, or undefined when it is fine as it is. */
function fitRecord(btf: Btf, record: Uint8Array, ds: BtfDatasec): Uint8Array | undefined {
  if (EXTERN_BACKED.has(ds.name)) return undefined;
  const kept = ds.vars.filter((v) => !isExternVar(btf, v.type));
  const sorted = [...kept].sort((a, b) => a.offset - b.offset);
  const unchanged = kept.length === ds.vars.length && sorted.every((v, i) => v === kept[i]);
  if (unchanged && (ds.size > 0 || kept.length > 0)) return undefined;
  const le = btf.byteOrder === "little";
  if (sorted.length === 0 && ds.size === 0) {
    const out = new Uint8Array(12);
    new DataView(out.buffer).setUint32(4, STRUCT_KIND << 24, le);
    return out;
  }
  const out = new Uint8Array(12 + 12 * sorted.length);
  const view = new DataView(out.buffer);
  out.set(record.subarray(0, 12));
  const info = new DataView(record.buffer, record.byteOffset, 12).getUint32(4, le);
  view.setUint32(4, (info & ~0xffff) | sorted.length, le);
  sorted.forEach((v, i) => {
    view.setUint32(12 + i * 12, v.type, le);
    view.setUint32(16 + i * 12, v.offset, le);
    view.setUint32(20 + i * 12, v.size, le);
  });
  return out;
}

/**
 * A copy of `blob` (the BTF `btf` was read from) with its DATASECs fitted for the kernel (see
 * above); `blob` itself when none needs a change.
 */
export function fitDatasecsForKernel(blob: Uint8Array, btf: Btf): Uint8Array {
  const le = btf.byteOrder === "little";
  const { hdrLen, typeOff, typeLen, strOff } = readBtfHeader(blob, le);
  const typesStart = hdrLen + typeOff;
  const typesEnd = typesStart + typeLen;

  const ids = [...btf.ids()];
  const pieces: Uint8Array[] = [];
  let changed = false;
  ids.forEach((id, i) => {
    const start = btf.recordPosition(id);
    const next = ids[i + 1];
    const end = next === undefined ? typesEnd : btf.recordPosition(next);
    const record = blob.subarray(start, end);
    const t = btf.type(id);
    const fitted = t?.kind === "datasec" ? fitRecord(btf, record, t) : undefined;
    if (fitted) changed = true;
    pieces.push(fitted ?? record);
  });
  if (!changed) return blob;

  const newTypeLen = pieces.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(blob.byteLength - typeLen + newTypeLen);
  out.set(blob.subarray(0, typesStart), 0);
  let at = typesStart;
  for (const p of pieces) {
    out.set(p, at);
    at += p.byteLength;
  }
  out.set(blob.subarray(typesEnd), at);
  const view = new DataView(out.buffer);
  view.setUint32(12, newTypeLen, le);
  // Strings after the types move with their end; strings before them stay.
  if (strOff >= typeOff + typeLen) view.setUint32(16, strOff - typeLen + newTypeLen, le);
  return out;
}
