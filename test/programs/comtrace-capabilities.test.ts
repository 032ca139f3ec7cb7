/**
 * comtrace's capability check (src/programs/common/capabilities.ts): the effective set read from
 * /proc status text, CAP_SYS_ADMIN standing in for CAP_BPF and CAP_PERFMON as the kernel lets it,
 * and one line naming what is missing — thrown before anything is loaded or the report touched.
 */
import { describe, expect, it } from "vitest";
import { CAPABILITIES, MissingCapabilityError, missingCapabilities, parseEffective, requireCapabilities, type Capability } from "../../src/programs/common/capabilities.js";
import { requireTracingCapabilities } from "../../src/programs/comtrace/index.js";
import { runComtrace } from "../../src/programs/comtrace/cli.js";

const set = (...caps: Capability[]) => caps.reduce((s, c) => s | (1n << BigInt(CAPABILITIES[c])), 0n);

describe("capabilities", () => {
  it("reads CapEff from /proc status text", () => {
    expect(parseEffective("Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n")).toBe(0x1ffffffffffn);
    expect(parseEffective("CapEff:\t0000000000000000\n")).toBe(0n);
    expect(parseEffective("Name:\tnode\n")).toBeUndefined();
  });

  it("names what is missing; CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, not CAP_NET_ADMIN", () => {
    const needed: Capability[] = ["CAP_BPF", "CAP_PERFMON"];
    expect(missingCapabilities(needed, set("CAP_BPF", "CAP_PERFMON"))).toEqual([]);
    expect(missingCapabilities(needed, set("CAP_BPF"))).toEqual(["CAP_PERFMON"]);
    expect(missingCapabilities(needed, set("CAP_PERFMON"))).toEqual(["CAP_BPF"]);
    expect(missingCapabilities(needed, 0n)).toEqual(["CAP_BPF", "CAP_PERFMON"]);
    expect(missingCapabilities(needed, set("CAP_SYS_ADMIN"))).toEqual([]);
    expect(missingCapabilities(["CAP_BPF", "CAP_NET_ADMIN"], set("CAP_SYS_ADMIN"))).toEqual(["CAP_NET_ADMIN"]);
  });

  it("throws one line naming the missing capability", () => {
    expect(() => requireTracingCapabilities(set("CAP_BPF", "CAP_PERFMON"))).not.toThrow();
    expect(() => requireTracingCapabilities(set("CAP_SYS_ADMIN"))).not.toThrow();
    expect(() => requireTracingCapabilities(set("CAP_BPF"))).toThrow(
      /^comtrace: missing CAP_PERFMON: tracing TCP state changes needs CAP_BPF and CAP_PERFMON \(CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON\); run as root or grant it$/,
    );
    let error: unknown;
    try {
      requireTracingCapabilities(0n);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MissingCapabilityError);
    expect((error as MissingCapabilityError).missing).toEqual(["CAP_BPF", "CAP_PERFMON"]);
    expect((error as Error).message).toMatch(/^comtrace: missing CAP_BPF and CAP_PERFMON: .*; run as root or grant them$/);
    expect((error as Error).message).not.toContain("\n");
    // Where /proc cannot say, the kernel's own EPERM is left to speak.
    expect(() => requireCapabilities("x", ["CAP_BPF"], "y", undefined)).not.toThrow();
  });

  it("the CLI checks them before the report file is touched (a run without them, when this process lacks them)", async () => {
    // Meaningful only unprivileged; as root the kernel test drops them with setpriv instead.
    let missing = false;
    try {
      requireTracingCapabilities();
    } catch {
      missing = true;
    }
    if (!missing) return;
    await expect(runComtrace({ output: "/nonexistent-dir/x.log" }, { out: () => undefined, err: () => undefined })).rejects.toThrow(/^comtrace: missing CAP_/);
  });
});
