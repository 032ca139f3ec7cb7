/**
 * lsmbpf against the real kernel. A tiny C helper (test/kernel/lsmbpf/chroot-try.c, compiled here
 * with clang-19: node has no chroot) forks a child that chroots and reports, as JSON, the child's
 * host pid, its own pid and PID namespace, and how it ended — read inside the namespace, since
 * util-linux's `unshare --fork` exits 1 when its child is SIGKILLed. Containers are
 * `unshare --pid --fork` (a new PID namespace, the host's filesystem: exactly the escape the
 * guard is for). The test process itself never chroots.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NotSupportedError, runtime } from "../../src/index.js";
import { ChrootGuard, PIN_DIR, cgroup2Mount, cgroupId, hostRoot, lsmAvailability, type GuardEvent } from "../../src/programs/lsmbpf/index.js";
import { runLsmbpf } from "../../src/programs/lsmbpf/cli.js";
import { describeKernel } from "../helpers/kernel.js";
import { buildChrootTry, chrootTry, type ChrootOptions, type ChrootOutcome } from "./lsmbpf/chroot-try.js";

type Outcome = ChrootOutcome;

let dir = "";
let helper = "";
let allowedHelper = "";
let rootLink = "";
let subdir = "";
const cgroups: string[] = [];
const mount = cgroup2Mount();

type RunOptions = Omit<ChrootOptions, "cgroupProcs"> & { readonly cgroup?: string };

function run(container: boolean, target: string, options: RunOptions = {}): Outcome {
  const { cgroup, ...rest } = options;
  return chrootTry(helper, container, target, { ...rest, ...(cgroup && mount ? { cgroupProcs: join(mount, cgroup, "cgroup.procs") } : {}) });
}

const inContainer = (target: string, options?: RunOptions) => run(true, target, options);
const onHost = (target: string, options?: RunOptions) => run(false, target, options);
const nsInode = (o: Outcome) => Number(/pid:\[(\d+)\]/.exec(o.pidNs)?.[1]);

/** The events that arrive within `ms` (at least `count` of them, or the time runs out). */
async function events(guard: ChrootGuard, count: number, ms = 1000): Promise<GuardEvent[]> {
  const got: GuardEvent[] = [];
  const until = Date.now() + ms;
  for (;;) {
    guard.flush((e) => got.push(e));
    if (got.length >= count && count > 0) return got;
    if (Date.now() > until) return got;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** lsmbpf programs loaded in the kernel now (bpftool). */
function guardPrograms(): string[] {
  const r = spawnSync("bpftool", ["prog", "show", "-j"], { encoding: "utf8" });
  return (JSON.parse(r.stdout || "[]") as { name?: string }[]).map((p) => p.name ?? "").filter((n) => n.startsWith("lsmbpf_"));
}

function expectEvent(e: GuardEvent | undefined, o: Outcome, target: string, fields: Partial<GuardEvent>): void {
  const root = hostRoot();
  expect(e).toBeDefined();
  expect(e).toMatchObject({
    pid: o.hostPid,
    tid: o.hostPid,
    nsPid: o.nsPid,
    pidNs: nsInode(o),
    comm: "chroot-try",
    cgroup: "/",
    target,
    device: root.device,
    inode: root.inode,
    engine: "signal",
    action: "killed",
    ...fields,
  });
  expect(Math.abs((e?.time ?? 0) - Date.now())).toBeLessThan(5000);
  expect(e?.pidNs).not.toBe(4026531836);
}

function newCgroup(name: string): string {
  if (!mount) throw new Error("no cgroup2");
  const path = `/lsmbpf-t${process.pid}-${name}`;
  mkdirSync(join(mount, path));
  cgroups.unshift(path); // children first when removed
  return path;
}

describeKernel("lsmbpf", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lsmbpf-"));
    helper = buildChrootTry(dir);
    allowedHelper = join(dir, "lsmt-allowed");
    symlinkSync(helper, allowedHelper); // exec through the link: its name is the comm
    rootLink = join(dir, "to-root");
    symlinkSync("/", rootLink);
    subdir = join(dir, "jail");
    mkdirSync(subdir);
  });

  afterAll(() => {
    for (const c of cgroups) if (mount && existsSync(join(mount, c))) rmdirSync(join(mount, c));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("signal engine: a containerized chroot into the host's root is killed (/, //, /./.., a symlink to /, from a second thread, out of a jail by chdir('..')), every event field checked; host and subdirectory chroots are allowed; allowed again once the guard stops", async () => {
    const aliases = ["/", "//", "/./..", rootLink];
    {
      using guard = ChrootGuard.start({ engine: "signal" });
      expect(guard.engine).toBe("signal");
      for (const target of aliases) {
        const o = inContainer(target);
        // Killed before it ran another instruction of its own: it never wrote "escaped".
        expect(o, `chroot ${target} in a container`).toMatchObject({ signal: 9, exit: -1, escaped: false });
        const [e, ...more] = await events(guard, 1);
        expect(more).toEqual([]);
        expectEvent(e, o, target, {});
      }
      // From a second thread: the whole process dies; the event names the thread.
      const threaded = inContainer("/", { thread: true });
      expect(threaded).toMatchObject({ signal: 9, escaped: false });
      const [te] = await events(guard, 1);
      expectEvent(te, threaded, "/", { tid: te?.tid ?? 0 });
      expect(te?.tid).not.toBe(te?.pid);
      // Out of a jail by chdir("..") from outside a nested chroot, then chroot("."): the name
      // says nothing, the identity does. The jail and the nested chroot are allowed.
      const escaped = inContainer(subdir, { escape: true });
      expect(escaped).toMatchObject({ signal: 9, escaped: false });
      expectEvent((await events(guard, 1))[0], escaped, ".", {});
      // Host processes, any target, any thread: allowed, no event.
      for (const target of [...aliases, subdir]) expect(onHost(target), `chroot ${target} on the host`).toMatchObject({ exit: 0, signal: 0, escaped: true });
      expect(onHost("/", { thread: true })).toMatchObject({ exit: 0, signal: 0, escaped: true });
      expect(onHost(subdir, { escape: true })).toMatchObject({ exit: 0, signal: 0, escaped: true });
      // A container's chroot into a directory of its own: allowed.
      expect(inContainer(subdir)).toMatchObject({ exit: 0, signal: 0, escaped: true });
      expect(await events(guard, 0, 200)).toEqual([]);
      expect(guard.counters()).toMatchObject({ containerChroots: 9, hostRoot: 6, killed: 6, denied: 0, audited: 0, killFailed: 0, lost: 0 });
    }
    // Stopped: the same escape succeeds.
    for (const target of aliases) expect(inContainer(target), `chroot ${target} after stop`).toMatchObject({ exit: 0, signal: 0, escaped: true });
  });

  it("CLI: the start-up line names the engine and why not lsm; events stream as JSON lines; SIGINT-like stop prints the summary; bad config is one line and loads nothing", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };
    const stop = new AbortController();
    const running = runLsmbpf({ config: join(dir, "absent-default.yml"), interval: "0", json: true }, io, stop.signal).catch((e: unknown) => {
      err.push(String(e));
    });
    // The default config path may be absent: here an explicit absent path is an error (one line), so use none.
    await running;
    expect(err.join("")).toMatch(/absent-default\.yml: no such file/);
    err.length = 0;
    expect(guardPrograms()).toEqual([]);
    const cwd = process.cwd();
    process.chdir(dir); // ./config.yml absent: the defaults
    let run: Promise<void>;
    try {
      run = runLsmbpf({ config: "./config.yml", interval: "0", json: true }, io, stop.signal);
    } finally {
      process.chdir(cwd);
    }
    const until = Date.now() + 5000;
    while (!err.join("").includes("lsmbpf: guarding") && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const start = err.join("");
    const lsm = lsmAvailability();
    expect(start).toMatch(lsm.usable ? /engine lsm, mode enforce: the chroot fails with EPERM/ : /engine signal, mode enforce: the process is killed with SIGKILL right after its chroot returns/);
    if (!lsm.usable) expect(start).toContain(`not the lsm engine (the chroot would fail with EPERM instead): ${lsm.reason}`);
    const o = inContainer("//");
    expect(o.signal).toBe(lsm.usable ? 0 : 9);
    const until2 = Date.now() + 2000;
    while (!out.join("").includes('"type":"event"') && Date.now() < until2) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await run;
    const lines = out.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: "event", pid: o.hostPid, nsPid: o.nsPid, pidNs: nsInode(o), comm: "chroot-try", target: "//", action: lsm.usable ? "denied" : "killed", cgroup: "/" });
    expect(lines.at(-1)).toMatchObject({ type: "summary", hostRoot: 1, stoppedBy: "abort", lost: 0 });
  });

  it("audit mode reports the would-be kill and lets the process live; switching the mode in place takes effect at once", async () => {
    using guard = ChrootGuard.start({ engine: "signal", mode: "audit" });
    const o = inContainer("/");
    expect(o).toMatchObject({ exit: 0, signal: 0 });
    const [e, ...more] = await events(guard, 1);
    expect(more).toEqual([]);
    expectEvent(e, o, "/", { action: "audited" });
    guard.setMode("enforce");
    const killed = inContainer("/");
    expect(killed.signal).toBe(9);
    expectEvent((await events(guard, 1))[0], killed, "/", { action: "killed" });
    guard.setMode("audit");
    expect(inContainer(rootLink).signal).toBe(0);
    expect(guard.counters()).toMatchObject({ hostRoot: 3, audited: 2, killed: 1 });
  });

  it("allow-lists: an allowed command name and an allowed cgroup (and its descendants) are let through and counted; others in the same cgroups are killed, their event naming the cgroup", async () => {
    const allowedCg = newCgroup("ok");
    const child = `${allowedCg}/job`;
    mkdirSync(join(mount ?? "", child));
    cgroups.unshift(child);
    const otherCg = newCgroup("other");
    using guard = ChrootGuard.start({ engine: "signal", allowComms: ["lsmt-allowed"], allowCgroups: [cgroupId(allowedCg)] });
    expect(inContainer("/", { exe: allowedHelper })).toMatchObject({ exit: 0, signal: 0 });
    expect(inContainer("/", { cgroup: allowedCg })).toMatchObject({ exit: 0, signal: 0 });
    expect(inContainer("//", { cgroup: child })).toMatchObject({ exit: 0, signal: 0 });
    expect(await events(guard, 0, 200)).toEqual([]);
    const o = inContainer("/", { cgroup: otherCg });
    expect(o.signal).toBe(9);
    expectEvent((await events(guard, 1))[0], o, "/", { cgroup: otherCg, cgroupId: cgroupId(otherCg) });
    expect(guard.counters()).toMatchObject({ hostRoot: 4, allowedByComm: 1, allowedByCgroup: 2, killed: 1 });
    // Replaced in place: the command is no longer allowed, the other cgroup is.
    guard.setAllowLists([], [cgroupId(otherCg)]);
    expect(inContainer("/", { cgroup: otherCg }).signal).toBe(0);
    const now = inContainer("/", { exe: allowedHelper });
    expect(now.signal).toBe(9);
    expectEvent((await events(guard, 1))[0], now, "/", { comm: "lsmt-allowed" });
  });

  it("--pin keeps guarding after the process let go; status reads the pinned counters; --unpin stops it", async () => {
    ChrootGuard.unpin();
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: () => undefined };
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await runLsmbpf({ config: "./config.yml", interval: "0", pin: true, engine: "signal" }, io);
    } finally {
      process.chdir(cwd);
    }
    try {
      expect(out.join("")).toContain(`chroot guard pinned at ${PIN_DIR} (engine signal, mode enforce)`);
      expect(guardPrograms()).toEqual(["lsmbpf_signal"]);
      expect(inContainer("/").signal).toBe(9);
      expect(ChrootGuard.pinnedStatus()).toMatchObject({ engine: "signal", mode: "enforce", links: 1, counters: { killed: 1, hostRoot: 1 } });
      await expect(runLsmbpf({ config: "./config.yml", interval: "0", pin: true }, io)).rejects.toThrow(`a guard is already pinned at ${PIN_DIR}`);
    } finally {
      await runLsmbpf({ config: "./config.yml", interval: "0", unpin: true }, io);
    }
    expect(out.at(-1)).toContain("unpinned the chroot guard");
    // The kernel frees programs after a grace period.
    for (const until = Date.now() + 3000; guardPrograms().length > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    expect(guardPrograms()).toEqual([]);
    expect(inContainer("/").signal).toBe(0);
  });

  it("CLI: SIGHUP (or an edit of the file) re-reads the config: mode and allow-lists change in place; a bad edit keeps the previous one, in one line", async () => {
    const file = join(dir, "guard.yml");
    writeFileSync(file, "mode: enforce\nengine: signal\n");
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };
    const stop = new AbortController();
    const run = runLsmbpf({ config: file, interval: "0" }, io, stop.signal);
    const waitFor = async (what: () => boolean) => {
      for (const until = Date.now() + 3000; !what() && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    };
    await waitFor(() => err.join("").includes("lsmbpf: guarding"));
    expect(err.join("")).toContain("engine signal, mode enforce");
    expect(inContainer("/").signal).toBe(9);
    writeFileSync(file, "mode: audit\nengine: signal\nallow: { comm: [lsmt-allowed] }\n");
    process.emit("SIGHUP", "SIGHUP");
    await waitFor(() => err.join("").includes("reloaded"));
    expect(err.join("")).toContain(`lsmbpf: reloaded ${file}: mode audit, allowed comm 1, cgroup 0`);
    expect(inContainer("//").signal).toBe(0);
    expect(inContainer("/", { exe: allowedHelper }).signal).toBe(0);
    writeFileSync(file, "mode: sometimes\n");
    await waitFor(() => err.join("").includes("reload failed"));
    expect(err.join("")).toContain(`lsmbpf: reload failed, the previous configuration stays: ${file}: mode: expected enforce or audit, not 'sometimes'`);
    expect(inContainer("/").signal).toBe(0);
    await waitFor(() => out.join("").split("\n").filter((l) => l.includes(" audited ")).length >= 2);
    stop.abort();
    await run;
    const text = out.join("");
    expect(text).toMatch(/ killed pid \d+ \(pid 2 in pidns \d+\) comm chroot-try cgroup \/ chroot "\/" = the host's root \(\d+:\d+ inode \d+\) \[signal\]/);
    expect(text).toContain("lsmbpf: stopped (abort): container chroots 4, into the host's root 4: denied 0, killed 1, audited 2, kill failed 0, allowed by comm 1, by cgroup 0; events lost 0");
  });

  it("lsm engine: loads, attaches and denies with EPERM where the probe says LSM programs load; elsewhere NotSupportedError naming what is missing and how to enable it, nothing left loaded", async () => {
    const probe = runtime.probeTrampoline("lsm");
    const lsm = lsmAvailability();
    expect(lsm.usable).toBe(probe.supported && (lsm.lsms ?? []).includes("bpf"));
    if (lsm.usable) {
      using guard = ChrootGuard.start({ engine: "lsm" });
      expect(guard.engine).toBe("lsm");
      const o = inContainer("/./..");
      expect(o).toMatchObject({ exit: 4, signal: 0 }); // chroot failed with EPERM, the process lives
      const [e] = await events(guard, 1);
      expect(e).toMatchObject({ pid: o.hostPid, nsPid: o.nsPid, pidNs: nsInode(o), comm: "chroot-try", engine: "lsm", action: "denied", device: hostRoot().device, inode: hostRoot().inode });
      expect(onHost("/")).toMatchObject({ exit: 0, signal: 0 });
      expect(inContainer(subdir)).toMatchObject({ exit: 0, signal: 0 });
      expect(guard.counters()).toMatchObject({ denied: 1, killed: 0 });
      return;
    }
    let error: unknown;
    try {
      ChrootGuard.start({ engine: "lsm" }).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NotSupportedError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    expect(message).toMatch(/^the lsm engine \(BPF LSM\) is not supported here/);
    if (!(lsm.lsms ?? []).includes("bpf")) {
      expect(message).toContain(lsm.reason ?? "?");
      expect(message).toContain("BPF LSM is not active");
      expect(message).toMatch(/lsm=\S*bpf/);
    } else {
      // Listed, but this kernel refuses the program: the load ran and the runtime named the refusal.
      expect(probe).toEqual({ supported: false, reason: "EPERM" });
      expect(message).toContain('program "lsmbpf_lsm" (lsm/path_chroot)');
      expect(message).toContain("this kernel refuses lsm programs (BPF_PROG_LOAD: EPERM");
      expect(message).toContain("LSM programs need them; bpf is already in /sys/kernel/security/lsm");
    }
    expect(message).toContain("or use engine: signal");
    expect(guardPrograms()).toEqual([]);
    // auto: falls back to signal and says why.
    using auto = ChrootGuard.start({ engine: "auto" });
    expect(auto.engine).toBe("signal");
    expect(auto.fallback?.reason).toBe(lsm.reason);
    expect(inContainer("/").signal).toBe(9);
  });

  it("CLI: --engine lsm where LSM cannot run, a bad config, a bad --mode: one line, nothing loaded", async () => {
    const io = { out: () => undefined, err: () => undefined };
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "mode: enforce\nallow: { cgroup: [/no-such-cgroup-here] }\n");
    await expect(runLsmbpf({ config: bad, interval: "0" }, io)).rejects.toThrow(/^bad\.yml|allow\.cgroup\[0\]: no such cgroup/);
    await expect(runLsmbpf({ config: bad, interval: "0", mode: "maybe" }, io)).rejects.toThrow("--mode: expected enforce or audit, not 'maybe'");
    if (!lsmAvailability().usable) {
      const good = join(dir, "good.yml");
      writeFileSync(good, "engine: lsm\n");
      await expect(runLsmbpf({ config: good, interval: "0" }, io)).rejects.toThrow(/^the lsm engine \(BPF LSM\) is not supported here: .*or use engine: signal$/);
    }
    expect(guardPrograms()).toEqual([]);
  });
});
