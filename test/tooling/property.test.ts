/**
 * The property tooling (test/helpers/property.ts): TSEBPF_PROPERTY_RUNS changes the run count
 * fast-check reports; a seed and path replay the same inputs; a planted failing property (in
 * test/tooling/planted/, outside the suite) leaves a shrunk counterexample on disk and a replay
 * line that, run in a shell, fails again on the same counterexample.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { PropertyFailedError, assertProperty, parseRunsSetting, propertyRuns, propertySeed, replayCommand } from "../helpers/property.js";

const scratch = mkdtempSync(join(tmpdir(), "tsebpf-property-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("TSEBPF_PROPERTY_RUNS", () => {
  it("unset keeps the default; xN multiplies it; a number replaces it; anything else is one clear error", () => {
    expect(propertyRuns(1000, parseRunsSetting(undefined))).toBe(1000);
    expect(propertyRuns(1000, parseRunsSetting(""))).toBe(1000);
    expect(propertyRuns(1000, parseRunsSetting("x10"))).toBe(10_000);
    expect(propertyRuns(7, parseRunsSetting("x0.5"))).toBe(4);
    expect(propertyRuns(1, parseRunsSetting("x0.01"))).toBe(1);
    expect(propertyRuns(1000, parseRunsSetting("100000"))).toBe(100_000);
    for (const bad of ["0", "x0", "-5", "ten", "1e5", "x"]) {
      expect(() => parseRunsSetting(bad), bad).toThrow(/^TSEBPF_PROPERTY_RUNS=".*": expected a run count \(e\.g\. 100000\) or a multiplier \(e\.g\. x10\)$/);
    }
  });

  it("changes the run count fast-check reports", () => {
    const runs = (env: NodeJS.ProcessEnv) => {
      let calls = 0;
      const details = assertProperty(fc.property(fc.nat(), () => void calls++), { numRuns: 40, env });
      expect(calls).toBe(details.numRuns);
      return details.numRuns;
    };
    expect(runs({})).toBe(40);
    expect(runs({ TSEBPF_PROPERTY_RUNS: "x3" })).toBe(120);
    expect(runs({ TSEBPF_PROPERTY_RUNS: "250" })).toBe(250);
  });

  it("reaches the suite's own properties (a child vitest of the ELF reader's properties with TSEBPF_PROPERTY_RUNS=37)", { timeout: 240_000 }, () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && !k.startsWith("TSEBPF_PROPERTY")));
    const r = spawnSync("npx", ["vitest", "run", "--reporter", "verbose", "test/elf/reader.prop.test.ts", "-t", "objects \\("], { encoding: "utf8", env: { ...env, TSEBPF_PROPERTY_RUNS: "37", NODE_OPTIONS: "", NO_COLOR: "1", FORCE_COLOR: "0" }, timeout: 200_000 });
    const text = r.stdout + r.stderr;
    expect(r.status, text).toBe(0);
    expect(text).toContain("byte-mutated objects (37 cases)");
    expect(text).toContain("truncated objects (37 cases)");
  });

  it("an async property too", async () => {
    const details = await assertProperty(fc.asyncProperty(fc.nat(), async () => {}), { numRuns: 10, env: { TSEBPF_PROPERTY_RUNS: "x2" } });
    expect(details.numRuns).toBe(20);
  });
});

describe("replay", () => {
  const failing = (seen: number[][]) => fc.property(fc.array(fc.integer({ min: 0, max: 1000 })), (xs) => {
    seen.push(xs);
    return xs.reduce((a, b) => a + b, 0) < 1500;
  });

  it("the same seed generates the same inputs", () => {
    const run = (seed: number) => {
      const seen: number[][] = [];
      assertProperty(fc.property(fc.array(fc.nat()), (xs) => void seen.push(xs)), { numRuns: 50, env: { TSEBPF_PROPERTY_SEED: String(seed) } });
      return seen;
    };
    expect(run(1234)).toEqual(run(1234));
    expect(run(1234)).not.toEqual(run(4321));
    expect(propertySeed(5, {})).toBe(5);
    expect(propertySeed(5, { TSEBPF_PROPERTY_SEED: "-77" })).toBe(-77);
  });

  it("a failure's seed and path replay its shrunk counterexample first, and the failure carries the replay line", () => {
    const out = join(scratch, "in-process");
    const seen: number[][] = [];
    let failure: PropertyFailedError | undefined;
    try {
      assertProperty(failing(seen), { numRuns: 500, env: { TSEBPF_PROPERTY_OUT: out }, context: { file: "test/x/y.prop.test.ts", name: "sums (a+b)?" } });
    } catch (e) {
      failure = e as PropertyFailedError;
    }
    expect(failure).toBeInstanceOf(PropertyFailedError);
    const { seed, path, replay, counterexample, files } = failure!.failure;
    expect(replay).toBe(replayCommand({ file: "test/x/y.prop.test.ts", name: "sums (a+b)?" }, seed, path));
    expect(replay).toBe(`TSEBPF_PROPERTY_SEED=${seed} TSEBPF_PROPERTY_PATH=${path} npx vitest run test/x/y.prop.test.ts -t 'sums \\(a\\+b\\)\\?$'`);
    expect(failure!.message).toContain(`Replay: ${replay}`);
    expect(files).toEqual([join(out, "y.prop--sums_a_b.txt")]);
    expect(readFileSync(files[0]!, "utf8").split("\n")[0]).toBe(counterexample);

    const again: number[][] = [];
    let replayed: PropertyFailedError | undefined;
    try {
      assertProperty(failing(again), { numRuns: 500, env: { TSEBPF_PROPERTY_SEED: String(seed), TSEBPF_PROPERTY_PATH: path, TSEBPF_PROPERTY_OUT: out }, context: { file: "f", name: "n" } });
    } catch (e) {
      replayed = e as PropertyFailedError;
    }
    expect(fc.stringify([again[0]])).toBe(counterexample);
    expect(replayed?.failure.counterexample).toBe(counterexample);
    // A failure under the knob keeps it in its replay line (test titles may show the count).
    expect(replayCommand({ file: "t.ts", name: "n" }, 5, "0", 0, "x10")).toBe("TSEBPF_PROPERTY_SEED=5 TSEBPF_PROPERTY_PATH=0 TSEBPF_PROPERTY_RUNS=x10 npx vitest run t.ts -t 'n$'");
  });

  it("a planted failing test (vitest in a child process): shrunk counterexample saved, and its replay line fails again on the same counterexample", { timeout: 240_000 }, () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && !k.startsWith("TSEBPF_PROPERTY")));
    const run = (command: string, out: string) =>
      spawnSync("bash", ["-c", command], { encoding: "utf8", env: { ...env, TSEBPF_PROPERTY_OUT: out, PLANTED_SEEN: "1", NODE_OPTIONS: "", FORCE_COLOR: "0", NO_COLOR: "1" }, timeout: 120_000 });

    const first = run("npx vitest run --config test/tooling/planted/vitest.config.ts test/tooling/planted/failing.planted.ts", join(scratch, "a"));
    const text = first.stdout + first.stderr;
    expect(first.status, text).toBe(1);
    const replay = /^Replay: (.+)$/m.exec(text)?.[1];
    expect(replay, text).toMatch(/^TSEBPF_PROPERTY_SEED=-?\d+ TSEBPF_PROPERTY_PATH=[\d:]+ npx vitest run --config test\/tooling\/planted\/vitest\.config\.ts test\/tooling\/planted\/failing\.planted\.ts -t 'planted: small byte sums\$'$/);
    const saved = readdirSync(join(scratch, "a")).sort();
    expect(saved).toEqual(["failing.planted--planted_small_byte_sums.bin", "failing.planted--planted_small_byte_sums.txt"]);
    const shrunk = readFileSync(join(scratch, "a", saved[1]!), "utf8").split("\n")[0]!;
    const bytes = readFileSync(join(scratch, "a", saved[0]!));
    expect(shrunk).toBe(`[Uint8Array.from([${[...bytes].join(",")}])]`);
    // Shrunk: still failing, after at least one shrink step.
    expect(bytes.reduce((a, b) => a + b, 0)).toBeGreaterThan(300);
    expect(Number(/Shrunk (\d+) time/.exec(text)?.[1]), text).toBeGreaterThan(0);

    const second = run(replay!, join(scratch, "b"));
    const text2 = second.stdout + second.stderr;
    expect(second.status, text2).toBe(1);
    // The replay generates the counterexample first, and fails on it.
    expect(/^PLANTED_SEEN ([0-9a-f]*)/m.exec(text2)?.[1], text2).toBe(bytes.toString("hex"));
    expect(readFileSync(join(scratch, "b", saved[1]!), "utf8").split("\n")[0]).toBe(shrunk);
  });
});
