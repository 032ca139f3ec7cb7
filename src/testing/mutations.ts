/**
 * fast-check arbitraries of object mutations: edge values and random words written over the
 * parts of an object parsers trust most (the ELF header, the section header table, symbol,
 * relocation and string tables, BTF), with occasional truncation. `mutatedObject(corpus)` draws
 * a corpus entry and mutates it; the description it carries replays the same bytes.
 */
import fc from "fast-check";
import { SHT } from "../elf/constants.js";
import { readElf } from "../elf/reader.js";

/** One write: `width` bytes of `value` at a position inside one of the target ranges. */
export interface ObjectMutation {
  /** Which target range (modulo their number). */
  range: number;
  /** Where inside it (modulo its length); its low bit picks the byte order of the write. */
  at: number;
  width: 1 | 2 | 4 | 8;
  value: bigint;
}

const U64_EDGES = [0n, 1n, 0xffn, 0xffffn, 0xffffffffn, 1n << 53n, (1n << 53n) - 1n, 1n << 63n, (1n << 64n) - 1n];

/** A write of an edge value (0, 1, 2^k - 1, 2^53, 2^63, …), a small number or any 64-bit word. */
export const objectMutation: fc.Arbitrary<ObjectMutation> = fc.record({
  range: fc.nat(),
  at: fc.nat(),
  width: fc.constantFrom(1 as const, 1 as const, 2 as const, 4 as const, 8 as const),
  value: fc.oneof(fc.constantFrom(...U64_EDGES), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 64n })),
});

/** A truncation point: mostly none (null), sometimes anywhere (modulo the length + 1). */
export const truncation: fc.Arbitrary<number | null> = fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: fc.nat(), weight: 1 });

/** Byte ranges [start, end) worth aiming at in an object: the whole file, the ELF header, the section header table and every table section. Objects that do not read get the whole file and its first 64 bytes. */
export function mutationTargets(bytes: Uint8Array): [number, number][] {
  const ranges: [number, number][] = [[0, bytes.length], [0, Math.min(64, bytes.length)]];
  try {
    const elf = readElf(bytes);
    ranges.push([elf.header.e_shoff, bytes.length]);
    const tables: number[] = [SHT.SYMTAB, SHT.REL, SHT.RELA, SHT.STRTAB, SHT.SYMTAB_SHNDX];
    for (const s of elf.sections) {
      if (tables.includes(s.type) || s.name === ".BTF" || s.name === ".BTF.ext") ranges.push([s.offset, s.offset + s.size]);
    }
  } catch {
    // Not an object tsebpf reads: aim anywhere.
  }
  return ranges.filter(([a, b]) => b > a && b <= bytes.length);
}

/** A copy of `bytes` with the mutations written into `targets` (mutationTargets) and cut at `cut` (modulo the length + 1). */
export function applyMutations(bytes: Uint8Array, targets: readonly (readonly [number, number])[], mutations: readonly ObjectMutation[], cut: number | null = null): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (targets.length > 0) {
    for (const { range, at, width, value } of mutations) {
      const [a, b] = targets[range % targets.length]!;
      const pos = Math.min(a + (at % (b - a)), out.length - width);
      if (pos < 0) continue;
      const little = (at & 1) === 0;
      if (width === 1) view.setUint8(pos, Number(value & 0xffn));
      else if (width === 2) view.setUint16(pos, Number(value & 0xffffn), little);
      else if (width === 4) view.setUint32(pos, Number(value & 0xffffffffn), little);
      else view.setBigUint64(pos, BigInt.asUintN(64, value), little);
    }
  }
  return cut === null ? out : out.subarray(0, cut % (out.length + 1));
}

/** A mutated copy of a corpus object, with what was done to it. */
export interface MutatedObject {
  /** Index of the corpus object. */
  base: number;
  mutations: ObjectMutation[];
  cut: number | null;
  bytes: Uint8Array;
}

/** Mutated (and sometimes truncated) copies of the corpus objects: 1 to `maxMutations` (6) writes each. */
export function mutatedObject(corpus: readonly Uint8Array[], options: { maxMutations?: number } = {}): fc.Arbitrary<MutatedObject> {
  if (corpus.length === 0) throw new RangeError("mutatedObject(): the corpus is empty");
  const targets = corpus.map(mutationTargets);
  return fc
    .tuple(fc.nat({ max: corpus.length - 1 }), fc.array(objectMutation, { minLength: 1, maxLength: options.maxMutations ?? 6 }), truncation)
    .map(([base, mutations, cut]) => ({ base, mutations, cut, bytes: applyMutations(corpus[base]!, targets[base]!, mutations, cut) }));
}
