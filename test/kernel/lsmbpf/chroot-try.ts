/**
 * The chroot helper of the lsmbpf kernel tests (chroot-try.c, compiled with clang-19: node has no
 * chroot): a child chroots and the helper reports, as one JSON line, the child's host pid, its own
 * pid and PID namespace, and how it ended. A container is `unshare --pid --fork`.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export interface ChrootOutcome {
  readonly hostPid: number;
  readonly nsPid: number;
  readonly pidNs: string;
  /** The child ran on after its chroot returned (wrote to its parent). */
  readonly escaped: boolean;
  readonly exit: number;
  readonly signal: number;
}

export interface ChrootOptions {
  /** Another path of the helper (a link: its name is the comm). */
  readonly exe?: string;
  /** The cgroup.procs file the child joins first. */
  readonly cgroupProcs?: string;
  /** chroot from a second thread of the process. */
  readonly thread?: boolean;
  /** The classic escape from a jail at the target (chroot-try.c). */
  readonly escape?: boolean;
}

/** Compiles chroot-try.c into `dir`; its path. */
export function buildChrootTry(dir: string): string {
  const helper = join(dir, "chroot-try");
  const cc = spawnSync("clang-19", ["-O2", "-Wall", "-pthread", join(import.meta.dirname, "chroot-try.c"), "-o", helper], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`clang-19: ${cc.stderr}`);
  return helper;
}

/** Runs `helper` chrooting into `target`, in a new PID namespace (`container`) or on the host. */
export function chrootTry(helper: string, container: boolean, target: string, options: ChrootOptions = {}): ChrootOutcome {
  const exe = options.exe ?? helper;
  const args = options.thread ? [target, "thread"] : options.escape ? [target, "escape"] : [target];
  const env = { ...process.env, ...(options.cgroupProcs ? { CGROUP_PROCS: options.cgroupProcs } : {}) };
  const r = container ? spawnSync("unshare", ["--pid", "--fork", exe, ...args], { encoding: "utf8", env }) : spawnSync(exe, args, { encoding: "utf8", env });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (!line.startsWith("{")) throw new Error(`chroot-try ${target}: no result (status ${r.status}, stderr ${r.stderr})`);
  return JSON.parse(line) as ChrootOutcome;
}
