/**
 * A program the verifier rejected: one line that says which instruction failed, why, and from
 * which source line; the whole log is kept on `log`.
 */
import { errnoName } from "../syscall/index.js";
import { TsebpfError } from "../errors.js";

export interface VerifierSummary {
  /** The verifier's reason, e.g. `R1 type=ctx expected=map_ptr`. */
  readonly reason: string;
  /** The failing instruction's index and text, from the log (`5: (85) call bpf_map_lookup_elem#1`). */
  readonly instruction: string | undefined;
  /** The source line the verifier printed for it (`; v->packets++; @ maps.bpf.c:112`). */
  readonly source: string | undefined;
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
  ) {
    const summary = summarizeLog(log);
    const where = summary.instruction ? ` at ${summary.instruction}` : "";
    const src = summary.source ? ` (${summary.source.replace(/^.*@\s*/, "")}: ${summary.source.replace(/\s*@.*$/, "").trim()})` : "";
    super(`program "${program}": verifier rejected it (${errnoName(errno)})${where}: ${summary.reason || "no log"}${src}`);
    this.summary = summary;
  }
}
