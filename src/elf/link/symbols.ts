/**
 * Symbol resolution across linked objects: a global defined in one object satisfies the
 * `extern` declarations of the others; a strong definition wins over weak ones (the first weak
 * one wins among weak ones); two strong definitions are a LinkError naming both files. Local
 * symbols stay local, renamed `name.N` (N: the input's number) when another object already uses
 * the name (for readable listings: tsebpf and libbpf tell functions apart by section and offset,
 * so same-named statics, as libbpf's linker leaves them, read either way).
 */
import { SHN, STB, STT } from "../constants.js";
import type { ElfFile, ElfSymbol } from "../reader.js";
import type { WriteSymbol } from "../writer.js";
import { LinkError } from "./errors.js";
import type { Layout } from "./layout.js";

interface Definition {
  readonly input: number;
  readonly symbol: ElfSymbol;
  readonly weak: boolean;
}

export interface ResolvedSymbols {
  readonly symbols: WriteSymbol[];
  /** The key relocations use for input `input`'s symbol `index`, or undefined when it has none. */
  keyOf(input: number, index: number): string | undefined;
  /** Names defined by more than one object (weak ones overridden), for reports. */
  readonly overridden: readonly string[];
}

const isDefined = (s: ElfSymbol): boolean => s.sectionIndex !== SHN.UNDEF && s.sectionIndex < SHN.LORESERVE;

export const sectionKey = (name: string): string => `\u00a7${name}`;

export function resolveSymbols(elfs: readonly ElfFile[], files: readonly string[], layout: Layout): ResolvedSymbols {
  const definitions = new Map<string, Definition>();
  const references = new Map<string, { weak: boolean; type: number }>();
  const overridden: string[] = [];
  elfs.forEach((elf, input) => {
    for (const s of elf.symbols) {
      if (s.index === 0 || s.bind === STB.LOCAL || s.type === STT.FILE || s.name === "") continue;
      if (s.sectionIndex >= SHN.LORESERVE) continue; // absolute or common: nothing BPF links
      if (!isDefined(s)) {
        const known = references.get(s.name);
        references.set(s.name, { weak: (known?.weak ?? true) && s.bind === STB.WEAK, type: known?.type ?? s.type });
        continue;
      }
      if (!layout.placeOf(input, s.sectionIndex)) continue;
      const weak = s.bind === STB.WEAK;
      const known = definitions.get(s.name);
      if (!known) definitions.set(s.name, { input, symbol: s, weak });
      else if (!known.weak && !weak && samePlace(known, { input, symbol: s, weak })) continue;
      else if (!known.weak && !weak) {
        throw new LinkError(`symbol ${s.name} is defined in both objects (make one static, or weak)`, { files: [files[known.input] as string, files[input] as string], symbol: s.name });
      } else {
        overridden.push(s.name);
        if (known.weak && !weak) definitions.set(s.name, { input, symbol: s, weak });
      }
    }
  });

  const locals: WriteSymbol[] = [];
  function samePlace(a: Definition, b: Definition): boolean {
    const pa = layout.placeOf(a.input, a.symbol.sectionIndex);
    const pb = layout.placeOf(b.input, b.symbol.sectionIndex);
    return pa !== undefined && pa.section === pb?.section && pa.base + a.symbol.value === pb.base + b.symbol.value;
  }
  const sectionSymbols = new Set<string>();
  const localKeys = new Map<string, string>();
  const taken = new Map<string, number>();
  for (const name of definitions.keys()) taken.set(name, -1);
  elfs.forEach((elf, input) => {
    for (const s of elf.symbols) {
      if (s.index === 0 || s.bind !== STB.LOCAL || s.type === STT.FILE || !isDefined(s)) continue;
      const place = layout.placeOf(input, s.sectionIndex);
      if (!place) continue;
      if (s.type === STT.SECTION) {
        const key = sectionKey(place.section.name);
        localKeys.set(`${input}:${s.index}`, key);
        if (!sectionSymbols.has(key)) {
          sectionSymbols.add(key);
          locals.push({ name: "", key, section: place.section.name, value: 0, size: 0, type: STT.SECTION, bind: STB.LOCAL });
        }
        continue;
      }
      let name = s.name;
      const owner = taken.get(name);
      if (name !== "" && owner !== undefined && owner !== input) name = `${s.name}.${input}`;
      if (name !== "") taken.set(name, input);
      const key = `${input}:${s.index}`;
      localKeys.set(key, key);
      locals.push({ name, key, section: place.section.name, value: s.value + place.base, size: s.size, type: s.type, bind: STB.LOCAL, other: s.other });
    }
  });

  const globals: WriteSymbol[] = [];
  for (const [name, d] of definitions) {
    const place = layout.placeOf(d.input, d.symbol.sectionIndex) as { section: { name: string }; base: number };
    globals.push({ name, section: place.section.name, value: d.symbol.value + place.base, size: d.symbol.size, type: d.symbol.type, bind: d.weak ? STB.WEAK : STB.GLOBAL, other: d.symbol.other });
  }
  for (const [name, r] of references) {
    if (definitions.has(name)) continue;
    globals.push({ name, section: undefined, value: 0, size: 0, type: r.type, bind: r.weak ? STB.WEAK : STB.GLOBAL });
  }

  return {
    symbols: [...locals, ...globals],
    keyOf: (input, index) => {
      const local = localKeys.get(`${input}:${index}`);
      if (local !== undefined) return local;
      const s = elfs[input]?.symbols[index];
      if (!s || s.bind === STB.LOCAL || s.name === "") return undefined;
      return definitions.has(s.name) || references.has(s.name) ? s.name : undefined;
    },
    overridden,
  };
}
