/**
 * The walks over arbitrary BTF that must either answer or throw a typed error; the arbitraries
 * themselves ship as `tsebpf/testing` (src/testing/btf.ts) and are re-exported here.
 */
export { btfName, btfType, btfTypes, btfTypesWithTowers, btfBlob, type BtfBlob } from "../../src/testing/btf.js";
import { resolveCoreRelocation, CoreError, patchInstruction } from "../../src/btf/core/index.js";
import * as asm from "../../src/asm/index.js";
import { Btf, BtfError, CoreReloKind, alignOf, describeType, dumpC, dumpJson, dumpRaw, sizeOf, skipModifiers } from "../../src/btf/index.js";

/** What the walks over one blob did. */
export interface WalkOutcome {
  /** The C dump of the whole blob succeeded. */
  dumped: boolean;
  /** Types whose size and alignment were both known. */
  sized: number;
  /** CO-RE relocations resolved (not thrown). */
  resolved: number;
  /** Errors thrown (all typed). */
  errors: number;
}

/** Runs `f`; a BtfError or CoreError counts, anything else is rethrown (a bug). */
function typed(out: WalkOutcome, f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (!(e instanceof BtfError) && !(e instanceof CoreError)) throw e;
    if (e.message.includes("\n")) throw new Error(`a multi-line error message: ${e.message}`);
    out.errors++;
    return false;
  }
}

const KINDS = Object.values(CoreReloKind);

/**
 * Every walk over `btf`: size and alignment of every type, its description, the C dump of the
 * whole blob and of one type, the raw and JSON dumps, and CO-RE relocations of `local` (random
 * kinds, roots and access strings from `pick`) against it and of it against itself and `local`.
 */
export function walkAll(btf: Btf, local: Btf, pick: (max: number) => number): WalkOutcome {
  const out: WalkOutcome = { dumped: false, sized: 0, resolved: 0, errors: 0 };
  const count = btf.typeCount;
  for (let id = 1; id <= count; id++) {
    typed(out, () => {
      sizeOf(btf, id);
      alignOf(btf, id);
      out.sized++;
    });
    typed(out, () => skipModifiers(btf, id));
    typed(out, () => void describeType(btf, id));
  }
  out.dumped = typed(out, () => void dumpC(btf));
  if (count > 0) typed(out, () => void dumpC(btf, { types: [1 + pick(count - 1)] }));
  typed(out, () => void dumpRaw(btf));
  typed(out, () => void dumpJson(btf));
  const pairs: [Btf, Btf][] = [
    [btf, btf],
    [local, btf],
    [btf, local],
  ];
  for (const [from, to] of pairs) {
    // Roots mostly among the named types (an anonymous root has no candidates).
    const named: number[] = [];
    for (let id = 1; id <= from.typeCount; id++) typed(out, () => void (from.nameOf(id) !== "" && named.push(id)));
    for (let r = 0; r < 4; r++) {
      const accessStr = pick(2) === 0 ? "0" : Array.from({ length: 1 + pick(4) }, () => pick(3)).join(":");
      const kind = KINDS[pick(KINDS.length - 1)] as CoreReloKind;
      const typeId = named.length > 0 && pick(3) > 0 ? (named[pick(named.length - 1)] as number) : pick(from.typeCount + 1);
      const relo = { insnOff: 0, typeId, accessStr, kind };
      typed(out, () => {
        const res = resolveCoreRelocation(from, relo, to);
        out.resolved++;
        patchInstruction(asm.mov64Imm(1, Number(BigInt.asIntN(32, BigInt(res.local)))), res, 0);
      });
    }
  }
  return out;
}

/** A deterministic `pick(max)` (0..max) from a seed. */
export function picker(seed: number): (max: number) => number {
  let s = seed >>> 0;
  return (max) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return max <= 0 ? 0 : s % (max + 1);
  };
}
