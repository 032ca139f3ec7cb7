/**
 * #8 disassembler: `tsebpf disasm <objects>` against `llvm-objdump-19 -d --no-show-raw-insn
 * <objects>` (the listing tsebpf prints; raw bytes are not part of it), one fresh process per side
 * and round, stdout to /dev/null, rounds interleaved, median of per-round ratios. The objects are
 * every fixture object, in two runs per side, one per byte order: llvm-objdump-19 decodes every
 * file of a run in the first file's byte order, so a run mixing them is not the same work.
 * Before timing, each run's output is compared with the other side's (they must be equal byte for
 * byte). References: one object (start-up dominated), and `node -e 0` (Node's own start-up: the
 * floor under any tsebpf command). Needs `npm run build` first. Alone, after `npm run bench` has
 * compiled it: `node dist-tools/bench/disasm.js`.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { interleaved, median, ms, roundRatio, type Figure } from "./lib.js";

const CLI = "dist/cli/main.js";
const FIXTURES = "test/fixtures";
const ONE = "test/fixtures/tcplife.bpfel.o";
const ROUNDS = 15;
const WARMUP = 2;

/** Every object under test/fixtures, sorted by path. */
const fixtureObjects = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? fixtureObjects(join(dir, e.name)) : e.name.endsWith(".o") ? [join(dir, e.name)] : []))
    .sort();

/** llvm-objdump of LLVM 19 (what the suite compares the listing with), or undefined. */
function findObjdump(): string | undefined {
  for (const candidate of ["llvm-objdump-19", "llvm-objdump"]) {
    const r = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (r.status === 0 && /LLVM version 19\./.test(r.stdout)) return candidate;
  }
  return undefined;
}

interface Run {
  readonly file: string;
  readonly args: readonly string[];
}

/** The run's stdout; throws with its first stderr line when it fails. */
function output(run: Run): string {
  const r = spawnSync(run.file, run.args, { encoding: "utf8", maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`${run.file} ${run.args[0] ?? ""} ... exited ${r.status}: ${r.stderr.trim().split("\n")[0] ?? ""}`);
  return r.stdout;
}

/** Wall time of one run in ns, its stdout to /dev/null. */
function timed(run: Run, devNull: number): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(run.file, run.args, { stdio: ["ignore", devNull, "pipe"], encoding: "utf8" });
  const t1 = process.hrtime.bigint();
  if (r.status !== 0) throw new Error(`${run.file} ${run.args[0] ?? ""} ... exited ${r.status}: ${r.stderr.trim().split("\n")[0] ?? ""}`);
  return Number(t1 - t0);
}

/** Where two listings first differ, or undefined when they are equal. */
function firstDifference(ours: string, theirs: string): string | undefined {
  if (ours === theirs) return undefined;
  const a = ours.split("\n");
  const b = theirs.split("\n");
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `line ${i + 1}: tsebpf ${JSON.stringify(a[i] ?? "<end>")}, llvm-objdump ${JSON.stringify(b[i] ?? "<end>")}`;
}

/** Never throws: a failure is a row with the reason. */
export function disasmBench(): Figure[] {
  const failed = (note: string): Figure[] => [{ id: "8", figure: "disassembler: tsebpf disasm vs llvm-objdump -d, all fixture objects", tsebpf: "n/a", peer: "n/a", ratio: undefined, target: "<= 1.0x", pass: undefined, note }];
  if (!existsSync(CLI)) return failed(`${CLI} is missing: npm run build first`);
  const llvm = findObjdump();
  if (!llvm) return failed("llvm-objdump-19 is not installed (apt-get install llvm-19)");
  try {
    return measure(llvm);
  } catch (e) {
    return failed((e as Error).message);
  }
}

function measure(llvm: string): Figure[] {
  const objects = fixtureObjects(FIXTURES);
  const little = objects.filter((f) => f.endsWith(".bpfel.o"));
  const big = objects.filter((f) => f.endsWith(".bpfeb.o"));
  const node = process.execPath;
  const ours = (files: readonly string[]): Run => ({ file: node, args: [CLI, "disasm", ...files] });
  const theirs = (files: readonly string[]): Run => ({ file: llvm, args: ["-d", "--no-show-raw-insn", ...files] });
  const pairs = { little: [ours(little), theirs(little)], big: [ours(big), theirs(big)], one: [ours([ONE]), theirs([ONE])] } as const;
  const differences: string[] = [];
  for (const [name, [a, b]] of Object.entries(pairs)) {
    const difference = firstDifference(output(a), output(b));
    if (difference) differences.push(`${name}: ${difference}`);
  }
  const runs: Run[] = [{ file: node, args: ["-e", "0"] }, ...pairs.little, ...pairs.big, ...pairs.one];
  const devNull = openSync("/dev/null", "w");
  let samples: number[][];
  try {
    interleaved(WARMUP, runs.map((run) => () => timed(run, devNull)));
    samples = interleaved(ROUNDS, runs.map((run) => () => timed(run, devNull)));
  } finally {
    closeSync(devNull);
  }
  const [floor, oursLittle, theirsLittle, oursBig, theirsBig, oursOne, theirsOne] = samples as [number[], number[], number[], number[], number[], number[], number[]];
  const nodeFloor = median(floor);
  const same = differences.length === 0;
  const row = (id: string, figure: string, a: number[], b: number[], target: string): Figure => {
    const ratio = roundRatio(a, b);
    const ourMedian = median(a);
    return {
      id,
      figure,
      tsebpf: `${ms(ourMedian)} (${ms(ourMedian - nodeFloor)} above node -e 0)`,
      peer: ms(median(b)),
      ratio,
      target,
      pass: target === "(reference)" ? undefined : same && ratio <= 1.0,
    };
  };
  const figures: Figure[] = [
    row("8", `disasm of the ${little.length} .bpfel.o fixture objects, one process each side, vs llvm-objdump-19 -d --no-show-raw-insn (median of ${ROUNDS})`, oursLittle, theirsLittle, "<= 1.0x"),
    row("8b", `the same for the ${big.length} .bpfeb.o fixture objects`, oursBig, theirsBig, "<= 1.0x"),
    row("8s", `the same for one object (${ONE.split("/").pop() ?? ONE}): start-up`, oursOne, theirsOne, "(reference)"),
    {
      id: "8f",
      figure: `node -e 0 (Node's own start-up, the floor under tsebpf) vs llvm-objdump-19 on the ${little.length} .bpfel.o objects`,
      tsebpf: ms(nodeFloor),
      peer: ms(median(theirsLittle)),
      ratio: roundRatio(floor, theirsLittle),
      target: "(reference)",
      pass: undefined,
    },
  ];
  if (!same) figures[0] = { ...(figures[0] as Figure), note: `the listings differ (${differences.join("; ")})` };
  return figures;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = disasmBench();
  for (const f of figures) console.log([f.id, f.figure, f.tsebpf, f.peer, f.ratio === undefined ? "-" : `${f.ratio.toFixed(2)}x`, f.target].join("  |  "));
  for (const f of figures) if (f.note) console.log(`note #${f.id}: ${f.note}`);
}
