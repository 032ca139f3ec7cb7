/**
 * The fuzz campaign as its users run it: `make fuzz` with a short budget over the repository's
 * objects plus a user directory prints progress and a summary and exits 0; a planted bug
 * (TSEBPF_FUZZ_PLANT) yields a minimized reproducer whose replay command fails on it, and
 * `make fuzz-fixture` turns that reproducer into a regression fixture. Plus the minimizer and
 * the error-kind keys on their own.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { errorKey, examineObject } from "../../scripts/fuzz/examine.js";
import { repositoryCorpus } from "../../scripts/fuzz/corpus.js";
import { differingBytes, minimizeBytes } from "../../scripts/fuzz/minimize.js";

const scratch = mkdtempSync(join(tmpdir(), "tsebpf-fuzz-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "TSEBPF_FUZZ_PLANT" && !k.startsWith("MAKE")));
const sh = (command: string, extra: Record<string, string> = {}) => {
  const r = spawnSync("bash", ["-c", command], { encoding: "utf8", env: { ...env, ...extra }, timeout: 280_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

describe("make fuzz", () => {
  it("a short campaign over the repository's objects and a user directory: progress lines, a summary, exit 0", { timeout: 300_000 }, () => {
    const objects = join(scratch, "mine");
    mkdirSync(join(objects, "build"), { recursive: true });
    copyFileSync("test/fixtures/core.bpfel.o", join(objects, "build", "prog.o"));
    const r = sh(`make fuzz FUZZ_SECONDS=12 OBJECTS=${objects} FUZZ_OUT=${join(scratch, "out")} FUZZ_FLAGS="--progress 2000"`);
    expect(r.status, r.out).toBe(0);
    const corpus = repositoryCorpus().length + 1;
    expect(r.out).toMatch(new RegExp(`^fuzz: ${corpus} objects \\(1 from ${objects}\\), 12 s, seed \\d+`, "m"));
    const progress = r.out.split("\n").filter((l) => /^fuzz \d+:\d\d {2}inputs [\d,]+ {2}[\d,]+\/s {2}parsed [\d.]+% {2}error kinds \d+ {2}findings 0/.test(l));
    expect(progress.length, r.out).toBeGreaterThanOrEqual(3);
    const summary = /^fuzz summary: ([\d,]+) inputs from (\d+) objects in [\d.]+ s/m.exec(r.out);
    expect(summary, r.out).not.toBeNull();
    expect(Number(summary![1]!.replaceAll(",", ""))).toBeGreaterThan(500);
    expect(Number(summary![2])).toBe(corpus);
    expect(r.out).toMatch(/^ {2}typed ParseError +\d+ {2}\(\d+ distinct message kinds?\)$/m);
    expect(r.out).toMatch(/^ {2}parsed +\d+/m);
    expect(r.out).toContain("findings: none — every input parsed or raised a typed error, within the time and memory bounds");
    expect(existsSync(join(scratch, "out"))).toBe(false);
  });

  it("a planted bug: a minimized reproducer, a replay command that fails on it, and make fuzz-fixture", { timeout: 120_000 }, () => {
    // Uses the dist-tools build of the test above (make fuzz compiles it).
    const out = join(scratch, "planted");
    const r = sh(`node dist-tools/scripts/fuzz/main.js --seconds 5 --no-cross-check --out ${out}`, { TSEBPF_FUZZ_PLANT: "ei-version" });
    expect(r.status, r.out).toBe(1);
    expect(r.out).toMatch(/^fuzz: FINDING escape TypeError: planted: EI_VERSION is not 1$/m);
    expect(r.out).toMatch(/^ {2}findings: 1$/m);
    // The reproducer, its description and replay command (and its CO-RE target when the input had one).
    const files = readdirSync(out).filter((f) => !f.endsWith(".btf")).sort();
    const stem = join(out, files[0]!.replace(/\.\w+$/, ""));
    expect(files.map((f) => f.replace(/^escape-[0-9a-f]{10}/, ""))).toEqual([".cmd", ".o", ".txt"]);
    expect(readdirSync(out).length - files.length).toBe(existsSync(`${stem}.btf`) ? 1 : 0);
    const bytes = readFileSync(`${stem}.o`);
    expect(bytes[6]).not.toBe(1);
    const txt = readFileSync(`${stem}.txt`, "utf8");
    // Minimized: one byte differs from the object it came from, the rest cut away.
    expect(txt).toMatch(/^minimized: \d+ -> 1 bytes differ from \S+ \(\d+ -> 7 bytes long\)$/m);
    expect(bytes.length).toBe(7);
    const command = readFileSync(`${stem}.cmd`, "utf8").trim();
    expect(command).toBe(`TSEBPF_FUZZ_PLANT=ei-version node dist-tools/scripts/fuzz/main.js --replay ${stem}.o`);

    const replay = sh(command);
    expect(replay.status, replay.out).toBe(1);
    expect(replay.out).toContain(`${stem}.o: escape TypeError: planted: EI_VERSION is not 1`);
    // Without the planted bug (as after a fix) the same file is a typed error, exit 0.
    const fixed = sh(command.replace(/^TSEBPF_FUZZ_PLANT=\S+ /, ""));
    expect(fixed.status, fixed.out).toBe(0);
    expect(fixed.out).toMatch(new RegExp(`^${stem}\\.o: typed ParseError: `, "m"));

    const regressions = join(scratch, "regressions");
    const made = sh(`make -s fuzz-fixture REPRO=${stem}.o NAME=ei-version REGRESSIONS=${regressions}`);
    expect(made.status, made.out).toBe(0);
    expect(readFileSync(join(regressions, "ei-version.o"))).toEqual(bytes);
    expect(examineObject(new Uint8Array(bytes)).kind).toBe("typed");
    const bad = sh(`make -s fuzz-fixture REPRO=${join(scratch, "nope.o")}`);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toContain(`fuzz-fixture: ${join(scratch, "nope.o")}: no such file`);
  });
});

describe("bounds", () => {
  it("an input that hangs, or allocates past the heap bound, is a finding of its own kind, and the worker is replaced", { timeout: 120_000 }, () => {
    // Uses the dist-tools build of make fuzz above. The reproducer: EI_VERSION 2 (the planted bugs' trigger).
    const bytes = readFileSync("test/fixtures/maps.bpfel.o");
    bytes[6] = 2;
    const file = join(scratch, "ei2.o");
    writeFileSync(file, bytes);
    const ok = join(scratch, "ok.o");
    copyFileSync("test/fixtures/maps.bpfel.o", ok);
    const hang = sh(`node dist-tools/scripts/fuzz/main.js --time-bound 300 --replay ${file} ${ok}`, { TSEBPF_FUZZ_PLANT: "hang" });
    expect(hang.status, hang.out).toBe(1);
    expect(hang.out).toContain(`${file}: hang Hang: no answer within 300 ms`);
    expect(hang.out).toContain(`${ok}: parsed`);
    const memory = sh(`node dist-tools/scripts/fuzz/main.js --memory 64 --replay ${file} ${ok}`, { TSEBPF_FUZZ_PLANT: "memory" });
    expect(memory.status, memory.out).toBe(1);
    expect(memory.out).toContain(`${file}: memory OutOfMemory: heap past 64 MB`);
    expect(memory.out).toContain(`${ok}: parsed`);
  });
});

describe("campaign parts", () => {
  it("minimizeBytes keeps only the bytes the failure needs, and cuts the tail", () => {
    const original = new Uint8Array(200).map((_, i) => i);
    const failing = original.slice();
    for (const i of [3, 50, 90, 120, 150]) failing[i] = 0xff;
    const min = minimizeBytes(original, failing, (b) => b.length > 90 && b[90] === 0xff);
    expect(differingBytes(original, min)).toBe(1);
    expect(min.length).toBe(91);
  });

  it("errorKey: one key for messages that differ only in numbers and names", () => {
    expect(errorKey(`ELF section ".text" at offset 0x40: symbol 7 is in section 12`)).toBe(errorKey(`ELF section "xdp" at offset 0x1c0: symbol 3 is in section 99`));
    expect(errorKey("a\nb")).toBe("a");
  });
});
