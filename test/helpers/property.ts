/**
 * The one way the suite runs fast-check properties: one knob for every property's run count, and
 * a failure that prints the shell line replaying it and keeps the shrunk counterexample on disk.
 *
 *   TSEBPF_PROPERTY_RUNS   unset: each property's default count (what CI runs);
 *                          `x10` / `x0.5`: every default multiplied (rounded up, at least 1);
 *                          `100000`: every property runs exactly that many cases.
 *   TSEBPF_PROPERTY_SEED   replay: the seed a failure printed
 *   TSEBPF_PROPERTY_PATH   replay: the path a failure printed (fast-check's shrink path)
 *   TSEBPF_PROPERTY_CALL   replay: which assertProperty call of the test (printed when not the first)
 *   TSEBPF_PROPERTY_OUT    where counterexamples are written (default out/property-failures)
 *
 * Usage in a test file:
 *
 *   it("decode inverts encode", () => {
 *     assertProperty(fc.property(anyInstruction, (ins) => { ... }), { numRuns: 2_000 });
 *   });
 *
 * `numRuns` is the default count; assertProperty scales it (do not pass propertyRuns(n) to it).
 * propertyRuns(n) is for the other counts a property test derives (fc.sample sizes, loop bounds,
 * a test's title).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, isAbsolute, join, relative } from "node:path";
import fc from "fast-check";
import { expect } from "vitest";

/** What TSEBPF_PROPERTY_RUNS asks for. */
export type RunsSetting = { kind: "default" } | { kind: "scale"; factor: number } | { kind: "absolute"; runs: number };

/** Parses a TSEBPF_PROPERTY_RUNS value; throws one line naming the variable on a bad value. */
export function parseRunsSetting(value: string | undefined): RunsSetting {
  const v = value?.trim() ?? "";
  if (v === "") return { kind: "default" };
  const scale = /^[x*]\s*(\d+(?:\.\d+)?)$/i.exec(v);
  if (scale) {
    const factor = Number(scale[1]);
    if (factor > 0) return { kind: "scale", factor };
  } else if (/^\d+$/.test(v) && Number(v) >= 1 && Number.isSafeInteger(Number(v))) {
    return { kind: "absolute", runs: Number(v) };
  }
  throw new Error(`TSEBPF_PROPERTY_RUNS=${JSON.stringify(value)}: expected a run count (e.g. 100000) or a multiplier (e.g. x10)`);
}

/** The run count for a property whose default (CI's) count is `base`, under TSEBPF_PROPERTY_RUNS. */
export function propertyRuns(base: number, setting: RunsSetting = parseRunsSetting(process.env.TSEBPF_PROPERTY_RUNS)): number {
  switch (setting.kind) {
    case "default":
      return base;
    case "scale":
      return Math.max(1, Math.ceil(base * setting.factor));
    case "absolute":
      return setting.runs;
  }
}

/**
 * The seed for a test that draws its own samples (fc.sample): TSEBPF_PROPERTY_SEED when replaying,
 * else `fallback`. Such a test prints `TSEBPF_PROPERTY_SEED=<seed>` in its failure message.
 */
export function propertySeed(fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const v = env.TSEBPF_PROPERTY_SEED;
  if (v === undefined || v === "") return fallback;
  const seed = Number(v);
  if (!Number.isInteger(seed)) throw new Error(`TSEBPF_PROPERTY_SEED=${JSON.stringify(v)}: expected an integer seed`);
  return seed;
}

/** Where a failing property lives, for its replay line: the test file and the test's own name. */
export interface PropertyContext {
  /** The test file (absolute or relative to the working directory). */
  file: string;
  /** The test's name (the leaf, without the describe blocks). */
  name: string;
  /** A vitest config other than the repository's (the replay line passes it with --config). */
  config?: string;
}

export interface AssertPropertyOptions<Ts> extends fc.Parameters<Ts> {
  /** Raw bytes of a counterexample (e.g. a mutated object), written beside its text as `.bin`. */
  bytes?: (counterexample: Ts) => Uint8Array;
  /** Overrides (parts of) the test file and name taken from vitest (for callers outside a test). */
  context?: Partial<PropertyContext>;
  /** Overrides the environment (TSEBPF_PROPERTY_*) — for tests of this helper. */
  env?: NodeJS.ProcessEnv;
}

/** What a failure leaves behind (also in the thrown error's message). */
export interface PropertyFailure {
  seed: number;
  path: string;
  /** The shell line that replays exactly this counterexample. */
  replay: string;
  /** The shrunk counterexample, as fast-check prints it. */
  counterexample: string;
  /** Files written: the counterexample's text (and `.bin` with `bytes`). */
  files: string[];
}

/** The error assertProperty throws: fast-check's report plus the replay line and saved files. */
export class PropertyFailedError extends Error {
  override name = "PropertyFailedError";
  constructor(
    message: string,
    readonly failure: PropertyFailure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const calls = new Map<string, number>();

function currentContext(): PropertyContext | undefined {
  const state = expect.getState();
  if (!state.testPath || !state.currentTestName) return undefined;
  // currentTestName is "describe > ... > test"; -t matches "describe ... test", so use the leaf.
  const name = state.currentTestName.split(" > ").at(-1)!;
  return { file: state.testPath, name };
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
const regexEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const slug = (s: string) => s.replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 80) || "property";

/**
 * The shell line replaying a failure of the `call`-th property (0-based) of a test; `runs` is the
 * TSEBPF_PROPERTY_RUNS the failure ran under (kept: test titles may show the count).
 */
export function replayCommand(context: PropertyContext, seed: number, path: string, call = 0, runs?: string): string {
  const file = isAbsolute(context.file) ? relative(process.cwd(), context.file) : context.file;
  const vars = [`TSEBPF_PROPERTY_SEED=${seed}`, `TSEBPF_PROPERTY_PATH=${shellQuote(path)}`];
  if (call > 0) vars.push(`TSEBPF_PROPERTY_CALL=${call}`);
  if (runs) vars.push(`TSEBPF_PROPERTY_RUNS=${shellQuote(runs)}`);
  const config = context.config ? ` --config ${shellQuote(context.config)}` : "";
  return `${vars.join(" ")} npx vitest run${config} ${shellQuote(file)} -t ${shellQuote(`${regexEscape(context.name)}$`)}`;
}

/**
 * fc.assert with the suite's conventions: `numRuns` (the default count) scaled by
 * TSEBPF_PROPERTY_RUNS; seed and path taken from TSEBPF_PROPERTY_SEED/PATH when replaying; on
 * failure the shrunk counterexample is written under TSEBPF_PROPERTY_OUT and the error (and
 * stderr) carries the command that replays it. Returns fast-check's run details (a promise of
 * them for an async property): `numRuns` is the count actually run.
 */
export function assertProperty<Ts>(property: fc.IProperty<Ts>, options?: AssertPropertyOptions<Ts>): fc.RunDetails<Ts>;
export function assertProperty<Ts>(property: fc.IAsyncProperty<Ts>, options?: AssertPropertyOptions<Ts>): Promise<fc.RunDetails<Ts>>;
export function assertProperty<Ts>(property: fc.IRawProperty<Ts>, options: AssertPropertyOptions<Ts> = {}): fc.RunDetails<Ts> | Promise<fc.RunDetails<Ts>> {
  const { bytes, context: given, env = process.env, ...params } = options;
  const context: PropertyContext = { file: "<unknown test file>", name: "<unknown test>", ...currentContext(), ...given };
  const key = `${context.file}\0${context.name}`;
  const call = calls.get(key) ?? 0;
  calls.set(key, call + 1);

  const runParams: fc.Parameters<Ts> = { ...params, numRuns: propertyRuns(params.numRuns ?? 100, parseRunsSetting(env.TSEBPF_PROPERTY_RUNS)) };
  // A replay line names its call only when not the test's first (a failing first call ends the test).
  const replaying = env.TSEBPF_PROPERTY_SEED !== undefined && env.TSEBPF_PROPERTY_SEED !== "" && (!env.TSEBPF_PROPERTY_CALL || Number(env.TSEBPF_PROPERTY_CALL) === call);
  if (replaying) {
    const seed = Number(env.TSEBPF_PROPERTY_SEED);
    if (!Number.isInteger(seed)) throw new Error(`TSEBPF_PROPERTY_SEED=${JSON.stringify(env.TSEBPF_PROPERTY_SEED)}: expected an integer seed`);
    runParams.seed = seed;
    if (env.TSEBPF_PROPERTY_PATH) runParams.path = env.TSEBPF_PROPERTY_PATH;
  }

  const report = (details: fc.RunDetails<Ts>): fc.RunDetails<Ts> => {
    if (!details.failed) return details;
    const shown = details.counterexample === null ? "(none: the property was interrupted)" : fc.stringify(details.counterexample);
    const replay = replayCommand(context, details.seed, details.counterexamplePath ?? "", call, env.TSEBPF_PROPERTY_RUNS?.trim() || undefined);
    const dir = env.TSEBPF_PROPERTY_OUT || join("out", "property-failures");
    const stem = join(dir, `${slug(basename(context.file).replace(/(\.test)?\.ts$/, ""))}--${slug(context.name)}${call > 0 ? `--${call}` : ""}`);
    const files: string[] = [];
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${stem}.txt`, `${shown}\n# seed ${details.seed} path ${details.counterexamplePath ?? ""}\n# replay: ${replay}\n`);
      files.push(`${stem}.txt`);
      if (bytes && details.counterexample !== null) {
        writeFileSync(`${stem}.bin`, bytes(details.counterexample));
        files.push(`${stem}.bin`);
      }
    } catch (e) {
      files.push(`(not saved: ${(e as Error).message})`);
    }
    const failure: PropertyFailure = { seed: details.seed, path: details.counterexamplePath ?? "", replay, counterexample: shown, files };
    const message = [
      fc.defaultReportMessage(details) ?? "Property failed",
      "",
      `Replay: ${replay}`,
      `Counterexample saved: ${files.join(", ")}`,
    ].join("\n");
    process.stderr.write(`\n[property] ${context.name} failed\n[property] replay: ${replay}\n[property] counterexample: ${files.join(", ")}\n`);
    throw new PropertyFailedError(message, failure, { cause: details.errorInstance });
  };

  const out = fc.check(property as fc.IRawProperty<Ts, boolean>, runParams) as fc.RunDetails<Ts> | Promise<fc.RunDetails<Ts>>;
  return out instanceof Promise ? out.then(report) : report(out);
}
