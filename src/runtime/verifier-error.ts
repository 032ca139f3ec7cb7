/**
 * A program the verifier rejected: one line that says which instruction failed, why, and from
 * which source line; the whole log is kept on `log`. When the instruction is one the loader
 * poisoned because a CO-RE relocation could not be resolved (`call unknown#195896080`), the line
 * names the relocation instead: its number, instruction, kind, local type and accessor.
 */
import { POISON_HELPER_ID, coreGuard, describePoisonedRelocation, findPoisonedRelocation, type CoreResolution, type PoisonedRelocation } from "../btf/core/index.js";
import { errnoName } from "../syscall/index.js";
import { TsebpfError } from "../errors.js";

export interface VerifierSummary {
  /** The verifier's reason, e.g. `R1 type=ctx expected=map_ptr`. */
  readonly reason: string;
  /** The failing instruction's index and text, from the log (`5: (85) call bpf_map_lookup_elem#1`). */
  readonly instruction: string | undefined;
  /** The source line the verifier printed for it (`; v->packets++; @ maps.bpf.c:112`). */
  readonly source: string | undefined;
  /**
   * The CO-RE relocation behind the failing instruction, when the loader poisoned it (the
   * target kernel lacks the field, type or enumerator the program reads unguarded).
   */
  readonly relocation?: PoisonedRelocation;
}

const STATS = /^(processed \d+ insns|verification time|stack depth|max_states_per_insn|Func#|\s*$)/;

/** The useful tail of a verifier log. */
export function summarizeLog(log: string): VerifierSummary {
  const lines = log.split("\n").map((l) => l.trimEnd());
  let end = lines.length;
  while (end > 0 && STATS.test(lines[end - 1] as string)) end--;
  const reason = (lines[end - 1] ?? "").trim();
  let instruction: string | undefined;
  let source: string | undefined;
  for (let i = end - 2; i >= 0 && i >= end - 40; i--) {
    const line = lines[i] as string;
    if (instruction === undefined && /^\d+: \([0-9a-f]{2}\)/.test(line)) instruction = line.replace(/\s*;.*$/, "");
    else if (instruction !== undefined && line.startsWith("; ")) {
      source = line.slice(2);
      break;
    }
  }
  return { reason, instruction, source };
}

export class VerifierError extends TsebpfError {
  override readonly name = "VerifierError";
  readonly summary: VerifierSummary;

  constructor(
    readonly program: string,
    readonly errno: number,
    /** The verifier's whole log. */
    readonly log: string,
    /** The log was cut: the kernel had more to say than fit. */
    readonly truncated = false,
    /** The CO-RE relocation that poisoned the failing instruction (see `withPoisonedRelocation`). */
    relocation?: PoisonedRelocation,
  ) {
    const summary: VerifierSummary = { ...summarizeLog(log), ...(relocation ? { relocation } : {}) };
    const where = summary.instruction ? ` at ${summary.instruction}` : "";
    const src = summary.source ? ` (${sourceText(summary.source)})` : "";
    const rejected = `verifier rejected it (${errnoName(errno)})${where}: ${summary.reason || "no log"}${src}`;
    super(
      relocation
        ? `program "${program}": ${describePoisonedRelocation(relocation)}; the loader poisoned the instruction (as libbpf does) and the ${rejected}; guard the access with ${coreGuard(relocation.kind)} where the kernel may lack it`
        : `program "${program}": ${rejected}`,
    );
    this.summary = summary;
  }
}

/** `maps.bpf.c:112: v->packets++;` from the verifier's `; v->packets++; @ maps.bpf.c:112` (the file and line alone when the text is empty). */
function sourceText(source: string): string {
  const at = source.lastIndexOf("@");
  if (at < 0) return source.trim();
  const code = source.slice(0, at).trim();
  const where = source.slice(at + 1).trim();
  return code ? `${where}: ${code}` : where;
}

const POISON_CALL = new RegExp(`^(\\d+): \\(85\\) call unknown#${POISON_HELPER_ID}\\b`);

/**
 * The slot of the poisoned instruction the verifier stopped at (`19: (85) call
 * unknown#195896080` followed by `invalid func unknown#195896080`), or undefined when the
 * rejection is about something else.
 */
export function poisonedCallIndex(log: string): number | undefined {
  const summary = summarizeLog(log);
  if (!summary.reason.includes(`unknown#${POISON_HELPER_ID}`)) return undefined;
  const m = POISON_CALL.exec(summary.instruction ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * `error` with the CO-RE relocation named, when it is a VerifierError for a call to the poison
 * helper and `resolutions` (the program's CO-RE resolutions, computed only then) has the
 * relocation that poisoned that instruction; otherwise `error` itself.
 */
export function withPoisonedRelocation(error: unknown, resolutions: () => readonly CoreResolution[]): unknown {
  if (!(error instanceof VerifierError) || error.summary.relocation) return error;
  const index = poisonedCallIndex(error.log);
  if (index === undefined) return error;
  let found: PoisonedRelocation | undefined;
  try {
    found = findPoisonedRelocation(resolutions(), index);
  } catch {
    return error; // the relocations cannot be computed again: keep the verifier's own words
  }
  return found ? new VerifierError(error.program, error.errno, error.log, error.truncated, found) : error;
}
