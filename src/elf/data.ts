/**
 * Global data: `.data`, `.rodata`, `.bss`, `.data.*`, `.rodata.*` become single-entry array
 * maps whose value is the section; their symbols become variables. Also the BTF fix-ups that
 * clang leaves to the loader: DATASEC sizes and variable offsets, and the `.kconfig` layout.
 */
import { MapType } from "../abi/index.js";
import { Btf, alignOf, sizeOf, skipModifiers, type BtfDatasec } from "../btf/index.js";
import { ParseError } from "./errors.js";
import { emptyMapSpec, mapTypeName } from "./maps.js";
import type { ExternSpec, MapSpec, VariableSpec } from "./spec.js";

/** BPF_F_RDONLY_PROG: programs may only read the map. */
export const BPF_F_RDONLY_PROG = 0x80;

/** True for a section that holds global data. */
export const isDataSection = (name: string): boolean =>
  name === ".data" || name === ".rodata" || name === ".bss" || name.startsWith(".data.") || name.startsWith(".rodata.");

export const isReadOnlySection = (name: string): boolean => name === ".rodata" || name.startsWith(".rodata.");

/** Largest data section tsebpf allocates for (.bss has no bytes in the file to bound it). */
export const MAX_DATA_SECTION = 64 << 20;

/** The array map that holds a data section. */
export function dataMapSpec(section: string, size: number, bytes: Uint8Array | undefined, btf: Btf | undefined): MapSpec {
  if (size > MAX_DATA_SECTION) throw new ParseError(`${size} bytes of global data, more than ${MAX_DATA_SECTION}`, { section });
  const spec = emptyMapSpec(section, section);
  spec.type = MapType.ARRAY;
  spec.typeName = mapTypeName(spec.type);
  spec.keySize = 4;
  spec.valueSize = size;
  spec.maxEntries = 1;
  spec.readOnly = isReadOnlySection(section);
  spec.flags = spec.readOnly ? BPF_F_RDONLY_PROG : 0;
  // .bss has no bytes in the file: it starts zeroed.
  spec.data = bytes ? Uint8Array.from(bytes) : new Uint8Array(size);
  const datasec = btf?.find(section, "datasec");
  if (datasec !== undefined) {
    spec.keyType = undefined;
    spec.valueType = datasec;
  }
  return spec;
}

/** A symbol that names a variable in a data section. */
export interface DataSymbol {
  readonly name: string;
  readonly section: string;
  readonly offset: number;
  readonly size: number;
  readonly global: boolean;
}

/** The label of a variable whose name another variable of the object shares: `counter@.bss+8`. */
export const variableLabel = (name: string, section: string, offset: number): string => `${name}@${section}+${offset}`;

/**
 * Variables of the data sections, typed from the (fixed-up) BTF where it has them. A variable is
 * its section and offset, as libbpf has it: a name several symbols share (static variables of
 * objects linked together) labels each by place (variableLabel), a unique name labels itself.
 * Its type is the DATASEC entry at its offset — the one of its name where several are there —
 * since a linker may rename the symbol (tsebpf's `counter.1`) and not the BTF variable.
 */
export function dataVariables(symbols: readonly DataSymbol[], btf: Btf | undefined): VariableSpec[] {
  const uses = new Map<string, number>();
  for (const s of symbols) uses.set(s.name, (uses.get(s.name) ?? 0) + 1);
  const out: VariableSpec[] = [];
  for (const s of symbols) {
    let type = 0;
    const datasecId = btf?.find(s.section, "datasec");
    if (btf && datasecId !== undefined) {
      const ds = btf.type(datasecId) as BtfDatasec;
      const here = ds.vars.filter((v) => v.offset === s.offset);
      const sized = here.filter((v) => v.size === s.size);
      const secinfo = here.find((v) => btf.nameOf(v.type) === s.name) ?? (sized.length === 1 ? sized[0] : undefined);
      const variable = secinfo && btf.type(secinfo.type);
      if (variable?.kind === "var") type = variable.type;
    }
    const label = (uses.get(s.name) ?? 0) > 1 ? variableLabel(s.name, s.section, s.offset) : s.name;
    out.push({ name: s.name, label, map: s.section, offset: s.offset, size: s.size, type, linkage: s.global ? "global" : "static", readOnly: isReadOnlySection(s.section) });
  }
  return out;
}

/** Layout of `.kconfig` externs: each at its natural alignment, in declaration order. */
export function layoutKconfig(btf: Btf): { externs: ExternSpec[]; size: number } {
  const id = btf.find(".kconfig", "datasec");
  if (id === undefined) return { externs: [], size: 0 };
  const ds = btf.type(id) as BtfDatasec;
  let offset = 0;
  const externs: ExternSpec[] = [];
  for (const v of ds.vars) {
    const variable = btf.type(v.type);
    if (variable?.kind !== "var") throw new ParseError(`.kconfig entry ${btf.nameOf(v.type)} is not a variable`, { section: ".kconfig" });
    const size = sizeOf(btf, variable.type);
    const align = alignOf(btf, variable.type);
    if (size > MAX_DATA_SECTION || offset > MAX_DATA_SECTION) throw new ParseError(`.kconfig extern ${variable.name} is ${size} bytes: too large`, { section: ".kconfig" });
    offset = Math.ceil(offset / align) * align;
    externs.push({ name: variable.name, kind: "kconfig", type: v.type, weak: false, offset, size, typeless: false });
    offset += size;
  }
  return { externs, size: Math.ceil(offset / 8) * 8 };
}

/** `.ksyms` externs: kfuncs (FUNC) and kernel variables (VAR, typeless when `const void`). */
export function ksymExterns(btf: Btf): ExternSpec[] {
  const id = btf.find(".ksyms", "datasec");
  if (id === undefined) return [];
  const ds = btf.type(id) as BtfDatasec;
  return ds.vars.map((v): ExternSpec => {
    const t = btf.type(v.type);
    if (t?.kind === "func") return { name: t.name, kind: "kfunc", type: v.type, weak: false, offset: 0, size: 0, typeless: false };
    if (t?.kind !== "var") throw new ParseError(`.ksyms entry ${btf.nameOf(v.type)} is neither a function nor a variable`, { section: ".ksyms" });
    const typeless = btf.type(skipModifiers(btf, t.type)) === undefined;
    return { name: t.name, kind: "ksym", type: v.type, weak: false, offset: 0, size: 0, typeless };
  });
}

/**
 * clang leaves DATASEC sizes and variable offsets at 0 for the loader to fill from the ELF
 * sections and symbols (the kernel rejects them as they are). Returns a copy of the BTF blob
 * with those filled in place — ids and string offsets stay as they are, so `.BTF.ext` records
 * still refer to the right strings. `.kconfig` gets the layout of `layoutKconfig`. As libbpf
 * does, a DATASEC whose size is already set (a linker's output) is left as it is: its offsets
 * are right, and a name two static variables share would find only one of their symbols.
 * Externs have no symbol in the section and stay at 0 (sanitizeForKernel takes them out).
 */
export function fixupDatasecs(
  blob: Uint8Array,
  btf: Btf,
  sectionSize: (name: string) => number | undefined,
  symbolOffset: (section: string, name: string) => number | undefined,
  kconfig: { externs: readonly ExternSpec[]; size: number },
): Btf {
  const out = Uint8Array.from(blob);
  const view = new DataView(out.buffer);
  const le = btf.byteOrder === "little";
  let changed = false;
  for (const id of btf.ids()) {
    if (btf.kindOf(id) !== "datasec") continue;
    const t = btf.type(id) as BtfDatasec;
    const isKconfig = t.name === ".kconfig";
    if (!isKconfig && t.size !== 0) continue;
    const size = isKconfig ? kconfig.size : sectionSize(t.name);
    if (size === undefined) continue;
    const pos = btf.recordPosition(id);
    if (size !== t.size) {
      view.setUint32(pos + 8, size, le);
      changed = true;
    }
    t.vars.forEach((v, i) => {
      const offset = isKconfig ? kconfig.externs[i]?.offset : symbolOffset(t.name, btf.nameOf(v.type));
      if (offset === undefined || offset === v.offset) return;
      view.setUint32(pos + 12 + i * 12 + 4, offset, le);
      changed = true;
    });
  }
  return changed ? new Btf(out) : btf;
}
