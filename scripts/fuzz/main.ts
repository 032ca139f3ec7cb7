/**
 * tsebpf's fuzz campaign (`make fuzz [MINUTES=30] [OBJECTS=dir]`, or after `npm run fuzz --`):
 *
 *   node dist-tools/scripts/fuzz/main.js [--minutes N | --seconds N] [--objects DIR]... [--out DIR]
 *        [--seed N] [--time-bound MS] [--memory MB] [--no-cross-check] [--progress MS]
 *   node dist-tools/scripts/fuzz/main.js --replay FILE...
 *
 * Exit status: 0 when nothing escaped the typed errors (or, replaying, when the files parse or
 * raise typed errors), 1 with findings, 2 for bad arguments.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runCampaign, formatSummary } from "./campaign.js";
import { elfFilesUnder, repositoryCorpus } from "./corpus.js";
import { objdumpMismatch } from "./objdump-check.js";
import { BoundedWorker } from "./pool.js";

const USAGE = `usage: fuzz [--minutes N | --seconds N] [--objects DIR]... [--out DIR] [--seed N] [--time-bound MS] [--memory MB] [--no-cross-check] [--progress MS]
       fuzz --replay FILE...
  Mutates the repository's objects (test/fixtures, src/programs) and every ELF file under each
  --objects DIR, runs every parse over each (ELF, collection, .BTF, .BTF.ext, CO-RE against a
  mutated target BTF) in a worker bounded in time and heap, and writes each input that escapes
  the typed errors, hangs or runs out of memory to --out (default out/fuzz) as a minimized
  reproducer (.o, with .btf for its CO-RE target), a description (.txt) and the command that
  replays it (.cmd). Where llvm-objdump-19 is installed, objects with random instruction bytes
  are also listed by both and must agree.`;

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function number(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} ${JSON.stringify(value)}: expected a non-negative number`);
  return n;
}

const self = relative(process.cwd(), fileURLToPath(import.meta.url)) || fileURLToPath(import.meta.url);
const replayCommand = (path: string) => `${process.env.TSEBPF_FUZZ_PLANT ? `TSEBPF_FUZZ_PLANT=${process.env.TSEBPF_FUZZ_PLANT} ` : ""}node ${self} --replay ${path}`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        minutes: { type: "string" },
        seconds: { type: "string" },
        objects: { type: "string", multiple: true },
        out: { type: "string" },
        seed: { type: "string" },
        "time-bound": { type: "string" },
        memory: { type: "string" },
        "no-cross-check": { type: "boolean" },
        progress: { type: "string" },
        replay: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const v = args.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const bounds = { timeMs: number("time-bound", v["time-bound"], 2000), memoryMb: number("memory", v.memory, 512) };

  if (v.replay) {
    if (args.positionals.length === 0) fail("--replay needs the reproducer files");
    const worker = new BoundedWorker(bounds);
    const scratch = mkdtempSync(join(tmpdir(), "tsebpf-fuzz-replay-"));
    let findings = 0;
    try {
      for (const [id, file] of args.positionals.entries()) {
        if (!existsSync(file)) fail(`${file}: no such file`);
        const btf = file.replace(/\.o$/, ".btf");
        const item = { id, bytes: new Uint8Array(readFileSync(file)), ...(btf !== file && existsSync(btf) ? { target: new Uint8Array(readFileSync(btf)) } : {}) };
        const r = await worker.run([item]);
        const f = r.findings[0];
        if (f) {
          findings++;
          process.stdout.write(`${file}: ${f.outcome.kind} ${f.outcome.errorClass}: ${f.outcome.message}\n${f.outcome.stack ? `${f.outcome.stack}\n` : ""}`);
        } else if (!v["no-cross-check"] && objdumpMismatch(item.bytes, scratch)) {
          findings++;
          process.stdout.write(`${file}: inconsistent ObjdumpMismatch: ${objdumpMismatch(item.bytes, scratch)}\n`);
        } else {
          const [k] = Object.keys(r.counts);
          const [kind, cls, ...key] = (k ?? "ok||").split("|");
          process.stdout.write(`${file}: ${kind === "ok" ? "parsed" : `${kind} ${cls}: ${key.join("|")}`}\n`);
        }
      }
    } finally {
      await worker.close();
      rmSync(scratch, { recursive: true, force: true });
    }
    return findings > 0 ? 1 : 0;
  }

  const seconds = v.seconds !== undefined ? number("seconds", v.seconds, 60) : number("minutes", v.minutes, 1) * 60;
  const corpus = [...repositoryCorpus(), ...(v.objects ?? []).flatMap((dir) => {
    if (!existsSync(dir)) fail(`--objects ${dir}: no such directory`);
    const found = elfFilesUnder(dir);
    if (found.length === 0) fail(`--objects ${dir}: no ELF files under it`);
    return found;
  })];
  if (corpus.length === 0) fail("no objects to mutate (run it from the repository, or give --objects)");
  const seed = v.seed !== undefined ? Math.trunc(number("seed", v.seed, 0)) : Date.now() % 2 ** 31;
  const out = v.out ?? "out/fuzz";
  const progressMs = number("progress", v.progress, seconds < 120 ? 2000 : 5000);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`fuzz: ${corpus.length} objects (${(v.objects ?? []).length > 0 ? `${corpus.length - repositoryCorpus().length} from ${(v.objects ?? []).join(", ")}` : "the repository's"}), ${seconds} s, seed ${seed}, bounds ${bounds.timeMs} ms and ${bounds.memoryMb} MB per input, reproducers to ${out}`);
  const summary = await runCampaign({ corpus, seconds, seed, out, bounds, progressMs, crossCheck: !v["no-cross-check"], replayCommand, log });
  for (const line of formatSummary(summary, corpus.length)) log(line);
  return summary.findings.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`fuzz: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
