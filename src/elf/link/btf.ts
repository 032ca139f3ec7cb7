/**
 * Merging the `.BTF` of linked objects: all their types in one blob, structurally identical
 * types (also through pointer loops) kept once, an `extern` function or variable replaced by
 * its definition from another object, and one DATASEC per merged section with each object's
 * variables moved by where its part of the section landed.
 */
import type { Btf, BtfDatasec, BtfType, BtfVarSecinfo } from "../../btf/index.js";
import { typeRefs, withRefs } from "./btf-types.js";
import { LinkError } from "./errors.js";

export interface BtfMergeInput {
  /** The input's file name, for errors. */
  readonly file?: string;
  readonly btf: Btf | undefined;
  /** Where this object's part of section `name` starts in the output, undefined when it has none. */
  readonly sectionBase: (name: string) => number | undefined;
  /**
   * Offset of variable `name` in section `section` by the object's symbol table (clang leaves the
   * DATASEC offsets 0: the symbols say where each variable is).
   */
  readonly variableOffset?: (section: string, name: string) => number | undefined;
}

export interface MergedBtf {
  readonly types: BtfType[];
  /** The output id of input `input`'s type `id` (0 stays 0). */
  readonly idOf: (input: number, id: number) => number;
}

const enc = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : x));

/** Merges the inputs' BTF; `sectionSizes` gives the merged size of each output section. */
export function mergeBtf(inputs: readonly BtfMergeInput[], sectionSizes: ReadonlyMap<string, number>): MergedBtf {
  // Every input type gets a global id: offsets[i] + its id.
  const all: (BtfType | undefined)[] = [undefined];
  const offsets: number[] = [];
  const inputOf: number[] = [0];
  inputs.forEach((input, i) => {
    offsets.push(all.length - 1);
    for (const t of input.btf?.types() ?? []) {
      all.push(t);
      inputOf.push(i);
    }
  });
  const global = (input: number, id: number): number => (id === 0 ? 0 : (offsets[input] as number) + id);
  const refsOf = (g: number): number[] => typeRefs(all[g] as BtfType).map((r) => global(inputOf[g] as number, r));

  // An extern FUNC or VAR is its definition's type, when an object defines it.
  const definitions = new Map<string, number>();
  for (let g = 1; g < all.length; g++) {
    const t = all[g] as BtfType;
    if ((t.kind === "func" || t.kind === "var") && t.linkage !== "extern" && t.linkage !== "static" && !definitions.has(`${t.kind}:${t.name}`)) {
      definitions.set(`${t.kind}:${t.name}`, g);
    }
  }
  const forward = new Map<number, number>();
  for (let g = 1; g < all.length; g++) {
    const t = all[g] as BtfType;
    if ((t.kind === "func" || t.kind === "var") && t.linkage === "extern") {
      const def = definitions.get(`${t.kind}:${t.name}`);
      if (def !== undefined) forward.set(g, def);
    }
  }
  const resolve = (g: number): number => forward.get(g) ?? g;
  const isDatasec = (g: number): boolean => all[g]?.kind === "datasec";

  // Partition refinement: types start in classes by their own fields, then split by the
  // classes of what they refer to until nothing splits; a class is one type.
  // The prototype of a resolved extern function, when nothing else uses it, goes with it
  // (clang writes an extern's parameters without names: it would stay as an orphan).
  const orphans = new Map<number, number>();
  for (const [g, def] of forward) {
    if (all[g]?.kind === "func") orphans.set(refsOf(g)[0] as number, refsOf(def)[0] as number);
  }
  for (let g = 1; g < all.length && orphans.size > 0; g++) {
    if (forward.has(g)) continue;
    for (const r of refsOf(g)) orphans.delete(r);
  }
  const live: number[] = [];
  for (let g = 1; g < all.length; g++) if (!forward.has(g) && !isDatasec(g) && !orphans.has(g)) live.push(g);
  let cls = new Int32Array(all.length);
  let count = 0;
  {
    const keys = new Map<string, number>();
    for (const g of live) {
      const t = all[g] as BtfType;
      const key = enc(withRefs(t, typeRefs(t).map(() => 0)));
      let c = keys.get(key);
      if (c === undefined) keys.set(key, (c = keys.size + 1));
      cls[g] = c;
    }
    count = keys.size;
  }
  const refKey = (r: number): string => (r === 0 ? "v" : isDatasec(resolve(r)) ? `d${(all[resolve(r)] as BtfType).name}` : String(cls[resolve(r)]));
  for (;;) {
    const keys = new Map<string, number>();
    const next = new Int32Array(all.length);
    for (const g of live) {
      const key = `${cls[g]}|${refsOf(g).map(refKey).join(",")}`;
      let c = keys.get(key);
      if (c === undefined) keys.set(key, (c = keys.size + 1));
      next[g] = c;
    }
    cls = next;
    if (keys.size === count) break;
    count = keys.size;
  }

  checkExterns(all, forward, refsOf, (g) => (g === 0 ? 0 : (cls[resolve(g)] as number)), (g) => inputs[inputOf[g] as number]?.file ?? `object ${inputOf[g]}`);

  // Output ids: the first type of each class, in input order; then the merged DATASECs.
  const canonical = new Map<number, number>();
  const outId = new Int32Array(all.length);
  const kept: number[] = [];
  for (const g of live) {
    const c = cls[g] as number;
    const first = canonical.get(c);
    if (first === undefined) {
      canonical.set(c, g);
      kept.push(g);
      outId[g] = kept.length;
    } else outId[g] = outId[first] as number;
  }
  const datasecNames: string[] = [];
  for (let g = 1; g < all.length; g++) {
    const t = all[g] as BtfType;
    if (t.kind === "datasec" && !datasecNames.includes(t.name)) datasecNames.push(t.name);
  }
  const datasecId = new Map(datasecNames.map((name, i) => [name, kept.length + i + 1]));
  const map = (g: number): number => {
    if (g === 0) return 0;
    const r = resolve(orphans.get(g) ?? g);
    const t = all[r] as BtfType;
    return t.kind === "datasec" ? (datasecId.get(t.name) as number) : (outId[r] as number);
  };

  const types: BtfType[] = kept.map((g) => withRefs(all[g] as BtfType, refsOf(g).map(map)));
  for (const name of datasecNames) types.push(mergeDatasec(name, all, inputs, offsets, inputOf, map, sectionSizes));
  return { types, idOf: (input, id) => map(global(input, id)) };
}

function mergeDatasec(
  name: string,
  all: readonly (BtfType | undefined)[],
  inputs: readonly BtfMergeInput[],
  offsets: readonly number[],
  inputOf: readonly number[],
  map: (g: number) => number,
  sectionSizes: ReadonlyMap<string, number>,
): BtfDatasec {
  const vars: BtfVarSecinfo[] = [];
  const seen = new Set<string>();
  let end = 0;
  for (let g = 1; g < all.length; g++) {
    const t = all[g] as BtfType;
    if (t.kind !== "datasec" || t.name !== name) continue;
    const input = inputOf[g] as number;
    const base = (inputs[input] as BtfMergeInput).sectionBase(name);
    for (const v of t.vars) {
      const varGlobal = (offsets[input] as number) + v.type;
      const variable = all[varGlobal];
      const id = map(varGlobal);
      const own = base === undefined || variable?.kind !== "var" ? undefined : (inputs[input] as BtfMergeInput).variableOffset?.(name, variable.name);
      const offset = (own ?? v.offset) + (base ?? 0);
      if (base !== undefined) {
        // A real section: an extern (a map declared in another object) has no place in it, and
        // a shared section (license) lists its variable once.
        if (variable?.kind === "var" && variable.linkage === "extern") continue;
        if (seen.has(`${id}@${offset}`)) continue;
        seen.add(`${id}@${offset}`);
      } else if (seen.has(String(id))) continue; // .kconfig, .ksyms: each extern once
      else seen.add(String(id));
      vars.push({ type: id, offset, size: v.size });
      end = Math.max(end, offset + v.size);
    }
  }
  vars.sort((a, b) => a.offset - b.offset);
  return { kind: "datasec", name, size: sectionSizes.get(name) ?? end, vars };
}

/**
 * An extern must be declared as it is defined: a variable or map of the same type (a map's
 * definition struct member for member), a function with the same parameter and return types
 * (parameter names may differ). `classOf` gives equal numbers to equal types.
 */
function checkExterns(
  all: readonly (BtfType | undefined)[],
  forward: ReadonlyMap<number, number>,
  refsOf: (g: number) => number[],
  classOf: (g: number) => number,
  fileOf: (g: number) => string,
): void {
  for (const [g, def] of forward) {
    const t = all[g] as BtfType;
    const declared = refsOf(g)[0] as number;
    const defined = refsOf(def)[0] as number;
    let same: boolean;
    if (t.kind === "var") same = classOf(declared) === classOf(defined);
    else {
      const dp = all[declared];
      const fp = all[defined];
      const dr = refsOf(declared);
      const fr = refsOf(defined);
      same = dp?.kind === "func_proto" && fp?.kind === "func_proto" && dr.length === fr.length && dr.every((r, i) => classOf(r) === classOf(fr[i] as number));
    }
    if (!same) {
      const what = t.kind === "var" ? "variable or map" : "function";
      throw new LinkError(`extern ${what} ${t.name} is declared with another type than it is defined with`, { files: [fileOf(g), fileOf(def)], symbol: t.name });
    }
  }
}
