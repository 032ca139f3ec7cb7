/**
 * Candidate search: the target types a local type may correspond to. A candidate has the same
 * kind (enum and enum64 count as one) and the same essential name: the name without a
 * `___flavour` suffix, on both sides (`task_struct___old` and `task_struct___v2` both look for
 * `task_struct`, and find `task_struct` or `task_struct___x`).
 */
import type { Btf } from "../btf.js";
import type { BtfKind } from "../types.js";
import { essentialName } from "../name-index.js";
import { CoreProblem, safeDescribe } from "./accessor.js";

export { essentialName } from "../name-index.js";

/** enum and enum64 are interchangeable for CO-RE; every other kind only matches itself. */
export const kindGroup = (kind: BtfKind | "void"): string => (kind === "enum64" ? "enum" : kind);

/** True when CO-RE treats the two kinds as the same (equal, or enum and enum64). */
export const kindsCompatible = (a: BtfKind | "void", b: BtfKind | "void"): boolean => kindGroup(a) === kindGroup(b);

/**
 * Candidates by kind and essential name, per target BTF, remembered as long as the Btf object
 * lives (a WeakMap: no leak when targets come and go). The lookups themselves use the target's
 * name index, which reads names without decoding them. Share one cache between all the
 * relocations of all the programs loaded against a target.
 */
export class CandidateCache {
  private readonly memo = new WeakMap<Btf, Map<string, readonly number[]>>();

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
    const group = kindGroup(local.kindOf(localId));
    // The base's ids come first; no spread into a call: a crafted blob may hold millions of them.
    const blobs: Btf[] = [];
    for (let btf: Btf | undefined = target; btf; btf = btf.base) blobs.unshift(btf);
    return blobs.length === 1 ? this.ofBlob(target, group, essential) : blobs.flatMap((btf) => this.ofBlob(btf, group, essential));
  }

  private ofBlob(btf: Btf, group: string, essential: string): readonly number[] {
    let memo = this.memo.get(btf);
    if (!memo) {
      memo = new Map();
      this.memo.set(btf, memo);
    }
    const key = `${group}:${essential}`;
    let ids = memo.get(key);
    if (!ids) {
      ids = btf.idsByEssentialName(essential).filter((id) => kindGroup(btf.kindOf(id)) === group);
      memo.set(key, ids);
    }
    return ids;
  }
}

/** The cache used when the caller passes none. */
export const defaultCandidateCache = new CandidateCache();
