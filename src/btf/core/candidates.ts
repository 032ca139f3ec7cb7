/**
 * Candidate search: the target types a local type may correspond to. A candidate has the same
 * kind (enum and enum64 count as one) and the same essential name: the name without a
 * `___flavour` suffix, on both sides (`task_struct___old` and `task_struct___v2` both look for
 * `task_struct`, and find `task_struct` or `task_struct___x`).
 */
import type { Btf } from "../btf.js";
import type { BtfKind } from "../types.js";
import { CoreProblem, safeDescribe } from "./accessor.js";

/**
 * The name without its flavour: everything before the last `___` that has a character other
 * than `_` on both sides. `task_struct___old` → `task_struct`; `a___b___c` → `a___b`;
 * `__x___` and `a____b` keep their names.
 */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== "_" && name[i + 1] === "_" && name[i + 2] === "_" && name[i + 3] === "_" && name[i + 4] !== "_") {
      return name.slice(0, i + 1);
    }
  }
  return name;
}

/** enum and enum64 are interchangeable for CO-RE; every other kind only matches itself. */
export const kindGroup = (kind: BtfKind | "void"): string => (kind === "enum64" ? "enum" : kind);

/** True when CO-RE treats the two kinds as the same (equal, or enum and enum64). */
export const kindsCompatible = (a: BtfKind | "void", b: BtfKind | "void"): boolean => kindGroup(a) === kindGroup(b);

/**
 * Per-target indexes of types by kind and essential name, built once per target BTF on first
 * use and kept as long as the Btf object lives (a WeakMap: no leak when targets come and go).
 * Share one cache between all the relocations of all the programs loaded against a target.
 */
export class CandidateCache {
  private readonly indexes = new WeakMap<Btf, ReadonlyMap<string, readonly number[]>>();

  /**
   * Ids in `target` (its base's types first, for split BTF) whose kind and essential name
   * match local type `localId`, in id order.
   */
  candidates(local: Btf, localId: number, target: Btf): readonly number[] {
    const name = local.nameOf(localId);
    const essential = essentialName(name);
    if (essential === "") {
      throw new CoreProblem(`${safeDescribe(local, localId)} has no name, so it cannot be looked up in the target`);
    }
    const key = `${kindGroup(local.kindOf(localId))}:${essential}`;
    const out: number[] = [];
    for (let btf: Btf | undefined = target; btf; btf = btf.base) {
      const found = this.index(btf).get(key);
      if (found) out.unshift(...found);
    }
    return out;
  }

  /** The index of one blob's own types (not its base's). */
  private index(btf: Btf): ReadonlyMap<string, readonly number[]> {
    let index = this.indexes.get(btf);
    if (index) return index;
    const built = new Map<string, number[]>();
    for (const id of btf.ids()) {
      const name = btf.nameOf(id);
      if (name === "") continue;
      const key = `${kindGroup(btf.kindOf(id))}:${essentialName(name)}`;
      const ids = built.get(key);
      if (ids) ids.push(id);
      else built.set(key, [id]);
    }
    index = built;
    this.indexes.set(btf, index);
    return index;
  }
}

/** The cache used when the caller passes none. */
export const defaultCandidateCache = new CandidateCache();
