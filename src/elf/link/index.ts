/**
 * The static linker: several BPF objects (clang output, or objects linked before) into one, as
 * `bpftool gen object` / libbpf's linker do. Pure: takes the files' bytes, returns the linked
 * object's bytes.
 *
 * - Same-named sections are concatenated in input order (each part aligned; code to 8 bytes),
 *   the legacy `maps` section included (its records may have another size per object: the
 *   symbols' sizes tell them apart).
 * - Globals resolve across objects: an `extern` function, variable or map in one object is the
 *   definition in another; a strong definition wins over weak ones; two strong ones are a
 *   LinkError naming both files. Unresolved externs (kfuncs, ksyms, kconfig) stay extern.
 * - Relocations move with their sections; those against a section symbol get their addend (in
 *   the instruction or data field) moved by where the referenced part landed.
 * - `.BTF` is merged (identical types kept once, externs replaced by their definitions, one
 *   DATASEC per section with variables at their new offsets) and `.BTF.ext` records are moved
 *   by their section parts' offsets.
 *
 * ```ts
 * const linked = linkObjects([{ name: "a.o", bytes: a }, { name: "b.o", bytes: b }]);
 * ```
 */
import { Btf, marshalBtf, parseBtfExt, type BtfExt } from "../../btf/index.js";
import { R_BPF, SHT, STT } from "../constants.js";
import { ParseError } from "../errors.js";
import { readElf, type ElfFile } from "../reader.js";
import { writeElf, type WriteRelocation, type WriteSection } from "../writer.js";
import { addBtfStrings, extStrings, writeBtfExt, type ExtSection } from "./btf-ext.js";
import { mergeBtf } from "./btf.js";
import { LinkError } from "./errors.js";
import { layOut, sectionData, type Layout, type OutputSection } from "./layout.js";
import { resolveSymbols } from "./symbols.js";

export { LinkError, type LinkErrorContext } from "./errors.js";

export interface LinkInput {
  /** How errors name the input (its file name). */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Links `inputs` (at least one) into one relocatable BPF object. Throws LinkError. */
export function linkObjects(inputs: readonly LinkInput[]): Uint8Array {
  if (inputs.length === 0) throw new LinkError("nothing to link: give at least one object");
  const files = inputs.map((i) => i.name);
  const elfs = inputs.map((input) => {
    try {
      return readElf(input.bytes);
    } catch (e) {
      if (e instanceof ParseError) throw new LinkError(e.message, { files: [input.name] }, { cause: e });
      throw e;
    }
  });
  const order = (elfs[0] as ElfFile).byteOrder;
  elfs.forEach((elf, i) => {
    if (elf.byteOrder !== order) throw new LinkError(`is ${elf.byteOrder}-endian but ${files[0]} is ${order}-endian`, { files: [files[i] as string] });
    if (elf.sections.some((s) => s.type === SHT.RELA)) throw new LinkError("has SHT_RELA relocations; BPF objects use SHT_REL", { files: [files[i] as string] });
  });

  const layout = layOut(elfs, files);
  const data = new Map<string, Uint8Array>(layout.sections.map((s) => [s.name, sectionData(s)]));
  const resolved = resolveSymbols(elfs, files, layout);
  const relocations = moveRelocations(elfs, files, layout, data, resolved.keyOf, order);

  const sections: WriteSection[] = layout.sections.map((s: OutputSection) => ({
    name: s.name,
    type: s.type,
    flags: s.flags,
    data: data.get(s.name) as Uint8Array,
    size: s.size,
    align: s.align,
  }));
  const btf = linkBtf(elfs, files, layout, order);
  if (btf) {
    sections.push({ name: ".BTF", flags: 0, data: btf.btf, align: 4 });
    if (btf.ext) sections.push({ name: ".BTF.ext", flags: 0, data: btf.ext, align: 4 });
  }
  return writeElf({ byteOrder: order, sections, symbols: resolved.symbols, relocations });
}

/** Every relocation of a linked section, at its new offset, against the output symbol. */
function moveRelocations(
  elfs: readonly ElfFile[],
  files: readonly string[],
  layout: Layout,
  data: ReadonlyMap<string, Uint8Array>,
  keyOf: (input: number, index: number) => string | undefined,
  order: "little" | "big",
): WriteRelocation[] {
  const le = order === "little";
  const out: WriteRelocation[] = [];
  elfs.forEach((elf, input) => {
    for (const rel of elf.sections) {
      if (rel.type !== SHT.REL) continue;
      const target = layout.placeOf(input, rel.info);
      if (!target) continue; // .rel.BTF, .rel.BTF.ext, DWARF: rebuilt or dropped
      const bytes = data.get(target.section.name) as Uint8Array;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const r of elf.relocations(rel)) {
        if (r.type === R_BPF.NONE) continue;
        const at = r.offset + target.base;
        const fail = (why: string): never => {
          throw new LinkError(`relocation ${r.index} of ${rel.name} (symbol ${r.symbol.name || `#${r.symbolIndex}`}): ${why}`, { files: [files[input] as string], section: target.section.name, symbol: r.symbol.name });
        };
        const key = keyOf(input, r.symbolIndex);
        if (key === undefined) fail("points at a symbol the linked object does not keep");
        if (r.symbol.type === STT.SECTION) {
          const referenced = layout.placeOf(input, r.symbol.sectionIndex);
          if (!referenced) fail("points into a section the linker does not keep");
          const delta = (referenced as { base: number }).base;
          if (delta !== 0) shiftAddend(view, at, r.type, delta, le, fail);
        }
        out.push({ section: target.section.name, offset: at, symbol: key as string, type: r.type });
      }
    }
  });
  return out;
}

/** Moves the addend a REL relocation keeps in the relocated field by `delta` bytes. */
function shiftAddend(view: DataView, at: number, type: number, delta: number, le: boolean, fail: (why: string) => never): void {
  if (at + 8 > view.byteLength && type !== R_BPF["64_ABS32"] && type !== R_BPF["64_NODYLD32"]) fail(`offset ${at} is past the section`);
  switch (type) {
    case R_BPF["64_64"]:
      view.setInt32(at + 4, view.getInt32(at + 4, le) + delta, le);
      return;
    case R_BPF["64_32"]:
      if (delta % 8 !== 0) fail(`a call's target moved by ${delta} bytes, not whole instructions`);
      view.setInt32(at + 4, view.getInt32(at + 4, le) + delta / 8, le);
      return;
    case R_BPF["64_ABS64"]:
      view.setBigUint64(at, view.getBigUint64(at, le) + BigInt(delta), le);
      return;
    case R_BPF["64_ABS32"]:
    case R_BPF["64_NODYLD32"]:
      view.setUint32(at, (view.getUint32(at, le) + delta) >>> 0, le);
      return;
    default:
      fail(`relocation type ${type} against a section symbol cannot be moved`);
  }
}

/** Looks up a data object's symbol (global or static) by section and name: its offset. */
function variableOffsets(elf: ElfFile): (section: string, name: string) => number | undefined {
  const offsets = new Map<string, number>();
  for (const s of elf.symbols) {
    if (s.type !== STT.OBJECT && s.type !== STT.NOTYPE) continue;
    const section = elf.sections[s.sectionIndex];
    if (!section || s.name === "" || s.sectionIndex === 0) continue;
    const key = `${section.name}\0${s.name}`;
    if (!offsets.has(key)) offsets.set(key, s.value);
  }
  return (section, name) => offsets.get(`${section}\0${name}`);
}

/** The merged .BTF and .BTF.ext, or undefined when no input has BTF. */
function linkBtf(elfs: readonly ElfFile[], files: readonly string[], layout: Layout, order: "little" | "big"): { btf: Uint8Array; ext: Uint8Array | undefined } | undefined {
  const parsed = elfs.map((elf, i) => {
    const section = elf.sectionByName(".BTF");
    if (!section) return { btf: undefined, ext: undefined };
    try {
      const btf = new Btf(section.data);
      const extSection = elf.sectionByName(".BTF.ext");
      const ext: BtfExt | undefined = extSection ? parseBtfExt(extSection.data, btf) : undefined;
      return { btf, ext };
    } catch (e) {
      throw new LinkError(`its BTF does not parse: ${(e as Error).message}`, { files: [files[i] as string] }, { cause: e });
    }
  });
  if (parsed.every((p) => p.btf === undefined)) return undefined;
  const sizes = new Map(layout.sections.map((s) => [s.name, s.size]));
  const merged = mergeBtf(
    parsed.map((p, i) => ({ file: files[i] as string, btf: p.btf, sectionBase: (name: string) => layout.base(i, name), variableOffset: variableOffsets(elfs[i] as ElfFile) })),
    sizes,
  );
  const marshalled = marshalBtf(merged.types, { order });
  if (parsed.every((p) => p.ext === undefined)) return { btf: marshalled, ext: undefined };

  const ext: ExtSection[] = layout.sections.map((s) => {
    const section: { name: string; funcInfo: ExtSection["funcInfo"][number][]; lineInfo: ExtSection["lineInfo"][number][]; coreRelos: ExtSection["coreRelos"][number][] } = { name: s.name, funcInfo: [], lineInfo: [], coreRelos: [] };
    parsed.forEach((p, i) => {
      const base = layout.base(i, s.name);
      if (!p.ext || base === undefined) return;
      for (const f of p.ext.funcInfo.get(s.name) ?? []) section.funcInfo.push({ insnOff: f.insnOff + base, typeId: merged.idOf(i, f.typeId) });
      for (const l of p.ext.lineInfo.get(s.name) ?? []) section.lineInfo.push({ ...l, insnOff: l.insnOff + base });
      for (const r of p.ext.coreRelos.get(s.name) ?? []) section.coreRelos.push({ ...r, insnOff: r.insnOff + base, typeId: merged.idOf(i, r.typeId) });
    });
    return section;
  });
  const { bytes, offsetOf } = addBtfStrings(marshalled, extStrings(ext), order);
  return { btf: bytes, ext: writeBtfExt(ext, offsetOf, order) };
}

