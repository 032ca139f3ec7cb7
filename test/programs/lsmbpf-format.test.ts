/** lsmbpf's output: event lines, JSON, the summary and the start-up line naming the engine. */
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { describeStart, eventJson, formatEvent, registerLsmbpf, summaryJson, summaryText } from "../../src/programs/lsmbpf/cli.js";
import { CAPABILITIES } from "../../src/programs/common/capabilities.js";
import { requireGuardCapabilities } from "../../src/programs/lsmbpf/index.js";
import { DEFAULT_GUARD_CONFIG } from "../../src/programs/lsmbpf/config.js";
import type { Counters, GuardEvent } from "../../src/programs/lsmbpf/index.js";

const event: GuardEvent = {
  time: Date.UTC(2026, 11, 7, 2, 50, 1, 123),
  pid: 4242,
  tid: 4242,
  nsPid: 2,
  pidNs: 4026532438,
  comm: "sh",
  cgroupId: 1234n,
  cgroup: "/ci.slice/job",
  target: "/./..",
  device: "8:1",
  inode: 2,
  engine: "signal",
  action: "killed",
};
const counters: Counters = { containerChroots: 5, hostRoot: 4, denied: 0, killed: 3, audited: 0, killFailed: 0, allowedByComm: 1, allowedByCgroup: 0, lost: 0 };

describe("lsmbpf output", () => {
  it("an event is one line with time, action, pids, namespace, comm, cgroup, target and its identity", () => {
    expect(formatEvent(event)).toBe(`2026-12-07T02:50:01.123Z killed pid 4242 (pid 2 in pidns 4026532438) comm sh cgroup /ci.slice/job chroot "/./.." = the host's root (8:1 inode 2) [signal]`);
    expect(formatEvent({ ...event, action: "kill-failed", error: 16 })).toContain(" kill-failed (errno 16) pid 4242");
  });

  it("JSON: every field, the cgroup id as a string", () => {
    expect(JSON.parse(eventJson(event))).toEqual({ type: "event", ...event, time: "2026-12-07T02:50:01.123Z", cgroupId: "1234" });
    expect(JSON.parse(summaryJson(counters, { stoppedBy: "SIGINT" }))).toEqual({ type: "summary", ...counters, stoppedBy: "SIGINT" });
  });

  it("the summary counts every outcome", () => {
    expect(summaryText(counters)).toBe("container chroots 5, into the host's root 4: denied 0, killed 3, audited 0, kill failed 0, allowed by comm 1, by cgroup 0; events lost 0");
  });

  it("the start-up line says which engine runs, what it does, and why not lsm", () => {
    const signal = describeStart("signal", "enforce", { usable: false, reason: "this kernel refuses LSM programs (BPF_PROG_LOAD: EPERM; …)", hint: "a kernel with trampolines" }, DEFAULT_GUARD_CONFIG);
    expect(signal).toMatch(/^lsmbpf: guarding chroot into the host's root( \(\d+:\d+ inode \d+\))? by containerized processes — engine signal, mode enforce: the process is killed with SIGKILL right after its chroot returns/);
    expect(signal).toContain("; not the lsm engine (the chroot would fail with EPERM instead): this kernel refuses LSM programs (BPF_PROG_LOAD: EPERM; …); to enable it: a kernel with trampolines");
    const lsm = describeStart("lsm", "audit", undefined, { ...DEFAULT_GUARD_CONFIG, allow: { comm: ["runc"], cgroup: ["/ci"] } });
    expect(lsm).toContain("engine lsm, mode audit: reported only (enforcing: the chroot fails with EPERM (BPF LSM on path_chroot)); allowed: comm runc; cgroup /ci");
    expect(lsm).not.toContain("not the lsm engine");
  });
});

describe("tsebpf lsmbpf --help", () => {
  it("names both engines and the difference (EPERM vs killed right after), every option, the config keys", () => {
    let out = "";
    const program = new Command("tsebpf").exitOverride().configureOutput({ writeOut: (t) => (out += t) });
    registerLsmbpf(program, { out: (t) => void (out += t), err: () => undefined });
    expect(() => program.parse(["lsmbpf", "--help"], { from: "user" })).toThrow();
    for (const flag of ["--config", "--mode", "--engine", "--interval", "--json", "--pin", "--unpin", "status"]) expect(out, flag).toContain(flag);
    expect(out).toContain("lsm     the chroot fails with EPERM (BPF LSM on path_chroot).");
    expect(out).toContain("signal  the process is killed with SIGKILL right after its chroot returns");
    expect(out).toContain("lsm=...,bpf on the kernel command line");
    // What the signal engine costs the rest of the host, and why not raw_tp/tp_btf.
    expect(out).toContain("every system call of every\n          task takes the kernel's syscall slow path");
    expect(out).toContain("raw_tp or tp_btf on sys_exit\n          would save little per chroot and cost every other system call more");
    expect(out).toMatch(/mode: enforce +# enforce \| audit/);
  });

  it("a missing capability is one line naming it, before anything is loaded", () => {
    const only = (...caps: (keyof typeof CAPABILITIES)[]) => caps.reduce((m, c) => m | (1n << BigInt(CAPABILITIES[c])), 0n);
    expect(() => requireGuardCapabilities(only("CAP_BPF"))).toThrow("lsmbpf: missing CAP_PERFMON: guarding chroot with BPF needs CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON); run as root or grant it");
    expect(() => requireGuardCapabilities(only("CAP_SYS_ADMIN"))).not.toThrow();
  });
});
