/**
 * A fuzz campaign: for a wall-clock budget, mutated copies of the corpus objects (the mutation
 * arbitraries of tsebpf/testing, and a mutated copy of the object's own BTF as the CO-RE target)
 * go through every parse (examine.ts) in a bounded worker thread; where llvm-objdump-19 is
 * installed, every corpus object, then copies with random instruction bytes, are also listed by
 * both. Findings are
 * minimized and written as reproducers with the command that replays them.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { readElf } from "../../src/elf/index.js";
import { applyMutations, mutationTargets, objectMutation, truncation, type ObjectMutation } from "../../src/testing/index.js";
import type { CorpusEntry } from "./corpus.js";
import { examineObject, type Outcome } from "./examine.js";
import { differingBytes, minimizeBytes } from "./minimize.js";
import { llvmObjdump, mutateInstructions, objdumpMismatch } from "./objdump-check.js";
import { BoundedWorker, type Bounds } from "./pool.js";
import type { WorkItem } from "./worker.js";

export interface CampaignOptions {
  corpus: CorpusEntry[];
  /** Wall-clock budget. */
  seconds: number;
  seed: number;
  /** Where reproducers go. */
  out: string;
  bounds: Bounds;
  /** Milliseconds between progress lines. */
  progressMs: number;
  /** Run the llvm-objdump cross-check (when installed). */
  crossCheck: boolean;
  /** The command that replays a reproducer, given its path. */
  replayCommand: (path: string) => string;
  log: (line: string) => void;
}

export interface Finding {
  signature: string;
  outcome: Outcome;
  /** Files written: the reproducer and its description and replay command. */
  reproducer: string;
  command: string;
  /** How many inputs had this signature. */
  count: number;
}

export interface CampaignSummary {
  inputs: number;
  seconds: number;
  /** Outcome counts by "kind|class|key". */
  counts: Record<string, number>;
  findings: Finding[];
  crossChecks: number;
  crossCheckSkipped?: string;
}

interface Input {
  base: number;
  mutations: ObjectMutation[];
  cut: number | null;
  targetWrites: [number, number][];
}

const BATCH = 256;

/** The target BTF of an input: the base object's own .BTF with the writes applied (undefined: no writes, or no BTF). */
function targetOf(btf: Uint8Array | undefined, writes: readonly [number, number][]): Uint8Array | undefined {
  if (!btf || writes.length === 0) return undefined;
  const out = btf.slice();
  for (const [pos, value] of writes) out[pos % out.length] = value;
  return out;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignSummary> {
  const corpus = o.corpus.map((c) => c.bytes);
  const targets = corpus.map(mutationTargets);
  const btfs = corpus.map((bytes) => {
    try {
      return readElf(bytes).sectionByName(".BTF")?.data.slice();
    } catch {
      return undefined;
    }
  });
  const input: fc.Arbitrary<Input> = fc.record({
    base: fc.nat({ max: corpus.length - 1 }),
    mutations: fc.array(objectMutation, { minLength: 1, maxLength: 6 }),
    cut: truncation,
    targetWrites: fc.oneof({ arbitrary: fc.constant([] as [number, number][]), weight: 2 }, { arbitrary: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), weight: 1 }),
  });
  const materialize = (i: Input): WorkItem & { input: Input } => {
    const target = targetOf(btfs[i.base], i.targetWrites);
    return { id: 0, bytes: applyMutations(corpus[i.base]!, targets[i.base]!, i.mutations, i.cut), ...(target ? { target } : {}), input: i };
  };

  const worker = new BoundedWorker(o.bounds);
  const scratch = mkdtempSync(join(tmpdir(), "tsebpf-fuzz-"));
  const summary: CampaignSummary = { inputs: 0, seconds: 0, counts: {}, findings: [], crossChecks: 0 };
  if (o.crossCheck && !llvmObjdump) summary.crossCheckSkipped = "llvm-objdump-19 is not installed";
  const bySignature = new Map<string, Finding>();
  const start = Date.now();
  const deadline = start + o.seconds * 1000;
  let lastProgress = start;
  let crossBudgetMs = 0;
  let plainNext = corpus.length - 1;
  const progress = () => {
    const t = (Date.now() - start) / 1000;
    const kinds = Object.keys(summary.counts).filter((k) => k.startsWith("typed|")).length;
    const ok = Object.entries(summary.counts).filter(([k]) => k.startsWith("ok|")).reduce((n, [, v]) => n + v, 0);
    o.log(`fuzz ${fmtTime(t)}  inputs ${summary.inputs.toLocaleString("en")}  ${Math.round(summary.inputs / Math.max(t, 0.001)).toLocaleString("en")}/s  parsed ${pct(ok, summary.inputs)}  error kinds ${kinds}  findings ${bySignature.size}${llvmObjdump && o.crossCheck ? `  objdump cross-checks ${summary.crossChecks}` : ""}`);
  };

  const record = (outcome: Outcome, item: WorkItem & { input: Input }, note: string) => {
    const signature = `${outcome.kind}|${outcome.errorClass}|${outcome.key}`;
    const known = bySignature.get(signature);
    if (known) {
      known.count++;
      return;
    }
    const original = corpus[item.input.base]!;
    let bytes = item.bytes;
    let minimized = "not minimized (a hang or memory finding is only re-run in the bounded worker)";
    if (outcome.kind === "escape" || outcome.kind === "inconsistent") {
      const objdump = outcome.errorClass === "ObjdumpMismatch";
      const same = (b: Uint8Array) => {
        if (objdump) return objdumpMismatch(b, scratch) !== undefined;
        const r = examineObject(b, item.target);
        return r.kind === outcome.kind && r.errorClass === outcome.errorClass && r.key === outcome.key;
      };
      const before = differingBytes(original, bytes);
      // An llvm-objdump run per candidate: a smaller budget.
      bytes = minimizeBytes(original, bytes, same, objdump ? 40 : 2000);
      minimized = `minimized: ${before} -> ${differingBytes(original, bytes)} bytes differ from ${o.corpus[item.input.base]!.path} (${item.bytes.length} -> ${bytes.length} bytes long)`;
    }
    const hash = createHash("sha1").update(bytes).update(item.target ?? new Uint8Array()).digest("hex").slice(0, 10);
    mkdirSync(o.out, { recursive: true });
    const stem = join(o.out, `${outcome.kind}-${hash}`);
    writeFileSync(`${stem}.o`, bytes);
    if (item.target) writeFileSync(`${stem}.btf`, item.target);
    const command = o.replayCommand(`${stem}.o`);
    writeFileSync(`${stem}.cmd`, `${command}\n`);
    writeFileSync(
      `${stem}.txt`,
      [
        `${outcome.kind}: ${outcome.errorClass}: ${outcome.message}`,
        `from: ${o.corpus[item.input.base]!.path}${note}`,
        minimized,
        item.target ? `CO-RE target BTF: ${stem}.btf (the object's own .BTF with ${item.input.targetWrites.length} byte(s) changed)` : "CO-RE target BTF: the object's own",
        `replay: ${command}`,
        `make it a regression fixture: make fuzz-fixture REPRO=${stem}.o`,
        "",
        outcome.stack ?? "",
      ].join("\n"),
    );
    const finding: Finding = { signature, outcome, reproducer: `${stem}.o`, command, count: 1 };
    bySignature.set(signature, finding);
    summary.findings.push(finding);
    o.log(`fuzz: FINDING ${outcome.kind} ${outcome.errorClass}: ${outcome.message}`);
    o.log(`fuzz:   reproducer ${stem}.o — replay: ${command}`);
  };

  try {
    for (let batch = 0; Date.now() < deadline; batch++) {
      const inputs = fc.sample(input, { seed: o.seed + batch, numRuns: BATCH }).map(materialize);
      inputs.forEach((it, i) => (it.id = i));
      const result = await worker.run(inputs, batch);
      summary.inputs += inputs.length;
      for (const [k, n] of Object.entries(result.counts)) summary.counts[k] = (summary.counts[k] ?? 0) + n;
      for (const f of result.findings) record(f.outcome, inputs[f.id]!, `, seed ${o.seed + batch}, input ${f.id} of the batch`);
      // Cross-checks: about a tenth of the wall clock.
      if (o.crossCheck && llvmObjdump && crossBudgetMs < (Date.now() - start) / 10) {
        const t0 = Date.now();
        // First every corpus object as it is (the user's own first), then ones with random instruction bytes.
        const plain = plainNext >= 0 ? plainNext-- : -1;
        const [[drawn, writes]] = fc.sample(fc.tuple(fc.nat({ max: corpus.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 })), { seed: o.seed + batch, numRuns: 1 }) as [[number, [number, number][]]];
        const base = plain >= 0 ? plain : drawn;
        const bytes = plain >= 0 ? corpus[plain] : mutateInstructions(corpus[base]!, writes);
        if (bytes) {
          summary.crossChecks++;
          const mismatch = objdumpMismatch(bytes, scratch);
          if (mismatch) record({ kind: "inconsistent", errorClass: "ObjdumpMismatch", key: mismatch.replace(/\d+/g, "N").slice(0, 100), message: mismatch }, { id: 0, bytes, input: { base, mutations: [], cut: null, targetWrites: [] } }, plain >= 0 ? " (as it is; compare: llvm-objdump-19 -d --no-show-raw-insn -r)" : " (instruction bytes changed; compare: llvm-objdump-19 -d --no-show-raw-insn -r)");
        }
        crossBudgetMs += Date.now() - t0;
      }
      if (Date.now() - lastProgress >= o.progressMs) {
        lastProgress = Date.now();
        progress();
      }
    }
  } finally {
    await worker.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  summary.seconds = (Date.now() - start) / 1000;
  if (Date.now() - lastProgress > 500) progress();
  return summary;
}

const pct = (n: number, of: number) => `${of === 0 ? 0 : ((100 * n) / of).toFixed(1)}%`;
const fmtTime = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

/** The summary as lines: totals, outcomes by error class, the most frequent kinds, the findings. */
export function formatSummary(s: CampaignSummary, corpusSize: number): string[] {
  const lines = [`fuzz summary: ${s.inputs.toLocaleString("en")} inputs from ${corpusSize} objects in ${s.seconds.toFixed(1)} s (${Math.round(s.inputs / Math.max(s.seconds, 0.001)).toLocaleString("en")}/s)`];
  const byClass = new Map<string, { n: number; kinds: number }>();
  for (const [k, n] of Object.entries(s.counts)) {
    const [kind, cls] = k.split("|");
    const name = kind === "ok" ? "parsed" : `${kind} ${cls}`;
    const e = byClass.get(name) ?? { n: 0, kinds: 0 };
    e.n += n;
    e.kinds++;
    byClass.set(name, e);
  }
  for (const [name, e] of [...byClass].sort((a, b) => b[1].n - a[1].n)) lines.push(`  ${name.padEnd(28)} ${String(e.n).padStart(9)}  (${e.kinds} distinct message kind${e.kinds === 1 ? "" : "s"})`);
  const top = Object.entries(s.counts).filter(([k]) => k.startsWith("typed|")).sort((a, b) => b[1] - a[1]).slice(0, 8);
  if (top.length > 0) lines.push("  most frequent errors:");
  for (const [k, n] of top) lines.push(`    ${String(n).padStart(8)}  ${k.split("|")[1]}: ${k.split("|").slice(2).join("|")}`);
  if (s.crossCheckSkipped) lines.push(`  objdump cross-check skipped: ${s.crossCheckSkipped}`);
  else lines.push(`  objdump cross-checks: ${s.crossChecks}`);
  if (s.findings.length === 0) lines.push("  findings: none — every input parsed or raised a typed error, within the time and memory bounds");
  else {
    lines.push(`  findings: ${s.findings.length}`);
    for (const f of s.findings) lines.push(`    ${f.outcome.kind} ${f.outcome.errorClass}: ${f.outcome.message} (x${f.count})`, `      ${f.reproducer}`, `      replay: ${f.command}`);
  }
  return lines;
}
