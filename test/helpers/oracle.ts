/**
 * Tests that need an oracle (bpftool, llvm-19, clang-19, the kernel's BTF or /proc/config.gz).
 * Outside CI a missing oracle skips the test with the reason in its name. Under CI=true the CI
 * machine is set up to have every oracle, so a missing one is a defect of the setup: the test is
 * registered as a failure naming the oracle, never as a silent skip or an early return.
 */
import { existsSync } from "node:fs";
import { describe, it } from "vitest";

export const isCI = process.env.CI === "true";

/** The reason a file oracle is missing, or undefined. */
export const fileMissing = (path: string, what: string): string | undefined => (existsSync(path) ? undefined : `${what} (${path}) is not here`);

export const vmlinuxMissing = fileMissing("/sys/kernel/btf/vmlinux", "the kernel's BTF");
export const kernelConfigMissing = fileMissing("/proc/config.gz", "the kernel's configuration");

const failing = (missing: string) => () => {
  throw new Error(`oracle missing under CI: ${missing} (make setup installs it; CI must not skip)`);
};

/** `it` when the oracle is there; otherwise a skip (with the reason) or, in CI, a failure. */
export function itWith(missing: string | undefined): typeof it {
  if (missing === undefined) return it;
  const register = (name: string | Function) => {
    const title = typeof name === "string" ? name : name.name;
    if (isCI) it(title, failing(missing));
    else it.skip(`${title} (skipped: ${missing})`, () => undefined);
  };
  return register as unknown as typeof it;
}

/** `describe` when the oracle is there; otherwise a skipped block, or in CI one failing test. */
export function describeWith(missing: string | undefined): typeof describe {
  if (missing === undefined) return describe;
  const register = (name: string | Function, ...rest: unknown[]) => {
    const title = typeof name === "string" ? name : name.name;
    if (isCI) describe(title, () => it("has its oracle", failing(missing)));
    else describe.skip(`${title} (skipped: ${missing})`, (rest.find((r) => typeof r === "function") ?? (() => undefined)) as () => void);
  };
  return register as unknown as typeof describe;
}

/** The oracle itself, or a thrown error naming it (for checks inside a test that must not be skipped quietly). */
export function requireOracle<T>(value: T | undefined, missing: string | undefined): T {
  if (value === undefined || missing !== undefined) throw new Error(`oracle missing: ${missing ?? "unknown"}`);
  return value;
}
