/**
 * Where each input section lands in the linked object: same-named sections are concatenated in
 * input order, each part aligned to its own alignment (code to 8 bytes).
 */
import { SHF, SHT, STT } from "../constants.js";
import type { ElfFile, ElfSection } from "../reader.js";
import { LinkError } from "./errors.js";

export interface OutputPart {
  readonly input: number;
  readonly section: ElfSection;
  /** Byte offset of this part in the output section. */
  readonly base: number;
}

export interface OutputSection {
  readonly name: string;
  readonly type: number;
  flags: number;
  align: number;
  size: number;
  readonly parts: OutputPart[];
}

/** True for the sections whose contents are linked: code, data, maps, license. */
export function isLinkedSection(s: ElfSection): boolean {
  if (s.type !== SHT.PROGBITS && s.type !== SHT.NOBITS) return false;
  return s.name !== "" && s.name !== ".BTF" && s.name !== ".BTF.ext" && !s.name.startsWith(".debug");
}

export interface Layout {
  readonly sections: OutputSection[];
  /** Where input `input`'s part of section `name` starts, undefined when it has none. */
  base(input: number, name: string): number | undefined;
  /** The output section and base of input `input`'s section number `index`. */
  placeOf(input: number, index: number): { section: OutputSection; base: number } | undefined;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Sections every object has one copy of, not concatenated: the objects must agree on them. */
export const SHARED: ReadonlySet<string> = new Set(["license", "version"]);

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
const describe = (d: Uint8Array): string => JSON.stringify(Buffer.from(d).toString("latin1").replace(/\0+$/, ""));

export function layOut(elfs: readonly ElfFile[], files: readonly string[]): Layout {
  const byName = new Map<string, OutputSection>();
  const sections: OutputSection[] = [];
  const places = new Map<string, { section: OutputSection; base: number }>();
  elfs.forEach((elf, input) => {
    // An empty section is left out (as libbpf's linker does), unless a symbol is defined in it.
    const holdsSymbols = new Set(elf.symbols.filter((y) => y.type !== STT.SECTION && y.index > 0).map((y) => y.sectionIndex));
    for (const s of elf.sections) {
      if (!isLinkedSection(s) || (s.size === 0 && !holdsSymbols.has(s.index))) continue;
      let out = byName.get(s.name);
      if (!out) {
        out = { name: s.name, type: s.type, flags: 0, align: 1, size: 0, parts: [] };
        byName.set(s.name, out);
        sections.push(out);
      } else if (out.type !== s.type) {
        const first = files[(out.parts[0] as OutputPart).input] as string;
        throw new LinkError(`section ${s.name} holds data in one object and is zero-filled (SHT_NOBITS) in the other`, { files: [first, files[input] as string], section: s.name });
      }
      const align = Math.max(1, s.addralign, (s.flags & SHF.EXECINSTR) !== 0 ? 8 : 1);
      if (SHARED.has(s.name) && out.parts.length > 0) {
        // One license (and kernel version) for the linked object: every object must agree.
        const first = out.parts[0] as OutputPart;
        if (!sameBytes(first.section.data, s.data)) {
          throw new LinkError(`section ${s.name} differs (${describe(first.section.data)} vs ${describe(s.data)})`, { files: [files[first.input] as string, files[input] as string], section: s.name });
        }
        out.parts.push({ input, section: s, base: 0 });
        places.set(`${input}:${s.index}`, { section: out, base: 0 });
        continue;
      }
      const base = alignUp(out.size, align);
      out.parts.push({ input, section: s, base });
      out.size = base + s.size;
      out.align = Math.max(out.align, align);
      out.flags |= s.flags;
      places.set(`${input}:${s.index}`, { section: out, base });
    }
  });
  return {
    sections,
    base: (input, name) => byName.get(name)?.parts.find((p) => p.input === input)?.base,
    placeOf: (input, index) => places.get(`${input}:${index}`),
  };
}

/** The output section's contents (empty for SHT_NOBITS). */
export function sectionData(out: OutputSection): Uint8Array {
  if (out.type === SHT.NOBITS) return new Uint8Array();
  const data = new Uint8Array(out.size);
  for (const p of out.parts) if (p.base + p.section.data.byteLength <= out.size) data.set(p.section.data, p.base);
  return data;
}
