/**
 * What the fuzz campaign (and the regression fixtures' test) does with one object: every parse
 * tsebpf does of untrusted bytes — the ELF reader (sections, symbols, relocations), the
 * collection reader (maps, programs, BTF, BTF.ext), the .BTF and .BTF.ext parsers, and the CO-RE
 * relocations of the object against a target BTF (the object's own BTF mutated). The outcome is
 * "ok", a typed error (any TsebpfError: ParseError, BtfError, CoreError, …) or a finding: an
 * exception of another class ("escape"), or a CO-RE answer that breaks the rule the suite states
 * ("inconsistent": not poisoned means FIELD_EXISTS is 1, poisoned means 0, and the same question
 * twice gets the same answer).
 */
import { Btf, CoreReloKind, parseBtfExt, type CoreRelo } from "../../src/btf/index.js";
import { resolveCoreRelocation, type CoreResolution } from "../../src/btf/core/index.js";
import { readCollectionSpec } from "../../src/elf/collection.js";
import { SHT, readElf } from "../../src/elf/index.js";
import { TsebpfError } from "../../src/errors.js";

/** "hang" and "memory" come from the worker pool (pool.ts), never from examineObject itself. */
export type OutcomeKind = "ok" | "typed" | "escape" | "inconsistent" | "hang" | "memory";

export interface Outcome {
  kind: OutcomeKind;
  /** The error class (`ParseError`, `TypeError`, …); "" for ok. */
  errorClass: string;
  /** The message with numbers and quoted names taken out: the "kind" of error, for counting. */
  key: string;
  /** The first line of the message as thrown. */
  message: string;
  /** A stack (findings only). */
  stack?: string;
}

/** A message with its numbers, quoted names and offsets replaced, so that errors of one kind count once. */
export function errorKey(message: string): string {
  return message
    .split("\n")[0]!
    .replace(/"[^"]*"|'[^']*'|`[^`]*`/g, "…")
    .replace(/\b0x[0-9a-f]+\b/gi, "N")
    .replace(/-?\d+/g, "N")
    .slice(0, 100);
}

/** A finding the campaign must report (not ok, not a typed error). */
export const isFinding = (o: Outcome): boolean => o.kind !== "ok" && o.kind !== "typed";

class Inconsistent extends Error {}

/**
 * Environment hook for the tests of the campaign: a planted bug on objects whose EI_VERSION is
 * not 1 — `ei-version` throws a TypeError, `hang` never returns, `memory` allocates until the
 * worker's heap bound stops it.
 */
function plantedBug(bytes: Uint8Array): void {
  const plant = process.env.TSEBPF_FUZZ_PLANT;
  if (!plant || bytes.length <= 6 || bytes[6] === 1) return;
  if (plant === "ei-version") throw new TypeError("planted: EI_VERSION is not 1");
  if (plant === "hang") for (;;);
  if (plant === "memory") {
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array<number>(1 << 16).fill(hoard.length));
  }
}

/**
 * Runs every parse over `bytes`; `target` (BTF bytes) is the target of the object's CO-RE
 * relocations (none: the object's own BTF). Never throws.
 */
export function examineObject(bytes: Uint8Array, target?: Uint8Array): Outcome {
  try {
    plantedBug(bytes);
    parseAll(bytes, target);
    return { kind: "ok", errorClass: "", key: "", message: "" };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const message = err.message.split("\n")[0]!;
    if (e instanceof Inconsistent) return { kind: "inconsistent", errorClass: "CoreInconsistency", key: errorKey(message), message, stack: err.stack ?? "" };
    if (e instanceof TsebpfError) return { kind: "typed", errorClass: err.name, key: errorKey(message), message };
    return { kind: "escape", errorClass: err.name || err.constructor.name, key: errorKey(message), message, stack: err.stack ?? "" };
  }
}

function parseAll(bytes: Uint8Array, target: Uint8Array | undefined): void {
  const elf = readElf(bytes);
  for (const s of elf.sections) {
    void s.name;
    if (s.type === SHT.REL || s.type === SHT.RELA) elf.relocations(s);
    elf.relocationsFor(s);
  }
  for (const sym of elf.symbols) void sym.name;
  const btfSection = elf.sectionByName(".BTF");
  let btf: Btf | undefined;
  if (btfSection) {
    btf = new Btf(btfSection.data);
    for (const id of btf.ids()) {
      btf.type(id);
      btf.nameOf(id);
    }
  }
  const extSection = elf.sectionByName(".BTF.ext");
  if (btf && extSection) {
    const ext = parseBtfExt(extSection.data, btf);
    const relos = [...ext.coreRelos.values()].flat();
    if (relos.length > 0) checkCore(btf, relos, target ? new Btf(target) : btf);
  }
  readCollectionSpec(bytes);
}

const FIELD_FAMILY = new Set<number>([CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_BYTE_SIZE, CoreReloKind.FIELD_SIGNED, CoreReloKind.FIELD_LSHIFT_U64, CoreReloKind.FIELD_RSHIFT_U64]);

const same = (a: CoreResolution, b: CoreResolution) => a.poison === b.poison && a.target === b.target && a.local === b.local;

/** Each relocation against `target`: an answer or a typed error; a field relocation's answer agrees with FIELD_EXISTS. */
function checkCore(local: Btf, relos: readonly CoreRelo[], target: Btf): void {
  for (const relo of relos.slice(0, 64)) {
    let res: CoreResolution;
    try {
      res = resolveCoreRelocation(local, relo, target);
    } catch (e) {
      if (e instanceof TsebpfError) continue;
      throw e;
    }
    const again = resolveCoreRelocation(local, relo, target);
    const where = `CO-RE ${res.kindName} ${relo.accessStr} (type ${relo.typeId})`;
    if (!same(res, again)) throw new Inconsistent(`${where}: two resolutions differ`);
    if (FIELD_FAMILY.has(relo.kind)) {
      const exists = resolveCoreRelocation(local, { ...relo, kind: CoreReloKind.FIELD_EXISTS }, target);
      if (res.poison && exists.target !== 0) throw new Inconsistent(`${where}: poisoned, yet FIELD_EXISTS is ${String(exists.target)}`);
      if (!res.poison && exists.target !== 1) throw new Inconsistent(`${where}: applied (${String(res.target)}), yet FIELD_EXISTS is ${String(exists.target)}`);
      if (!res.poison && res.target === undefined) throw new Inconsistent(`${where}: neither poisoned nor a value`);
    }
  }
}
