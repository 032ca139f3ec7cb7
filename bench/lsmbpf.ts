/**
 * Bench #13 lsmbpf: what the chroot guard adds to a chroot call. A small C loop
 * (test/kernel/lsmbpf/chroot-try.c, built here with clang-19) calls chroot(".") N times from a
 * directory of its own — allowed, so for a containerized caller the guard's whole decision runs
 * (the new root's device+inode read and compared with the host init's root) and for a host
 * caller only the namespace check — and prints its thread's CPU ns per call (the kernel's work
 * in the call included; other load on the 2 shared cores left out). Containers are
 * `unshare --pid --fork`.
 *
 * Same run, interleaved, for the container and the host caller: each round runs the loop with
 * nothing attached, with an empty program (r0 = 0; exit) on the same tracepoint — the floor of
 * any guard built on it: the kernel's syscall-tracepoint path (syscall slow path, perf record,
 * program dispatch) — and with `ChrootGuard` (engine auto: signal here, lsm where it loads), the
 * order reversed every other round. Figures: the guard over nothing (target ≤ 1.10) and, in
 * the note, the guard over the empty program (what the guard's own code costs). A last row:
 * what every other system call (getppid) pays meanwhile — an enabled syscall tracepoint sends
 * every task's system calls through the kernel's slow path.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { asm, runtime } from "../src/index.js";
import { ProgramType } from "../src/abi/index.js";
import { ChrootGuard } from "../src/programs/lsmbpf/index.js";
import { interleaved, median, roundRatio, workdir, type Figure } from "./lib.js";

const CALLS = 20_000;
const ROUNDS = 9;

function build(): string {
  const out = join(workdir, "chroot-try");
  const r = spawnSync("clang-19", ["-O2", "-pthread", "-o", out, "test/kernel/lsmbpf/chroot-try.c"], { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`clang-19 chroot-try.c: ${r.error?.message ?? r.stderr.trim().split("\n")[0]}`);
  return out;
}

/** ns per chroot call of one loop run. */
function loop(helper: string, jail: string, container: boolean): number {
  const args = [jail, "loop", String(CALLS)];
  const r = container ? spawnSync("unshare", ["--pid", "--fork", helper, ...args], { encoding: "utf8" }) : spawnSync(helper, args, { encoding: "utf8" });
  const ns = Number(r.stdout.trim());
  if (r.status !== 0 || !(ns > 0)) throw new Error(`chroot loop (${container ? "container" : "host"}) failed: ${r.stderr.trim() || `status ${r.status}`}`);
  return ns;
}

export function lsmbpfBench(): Figure[] {
  const helper = build();
  const jail = join(workdir, "jail");
  mkdirSync(jail, { recursive: true });
  using empty = runtime.Program.load({ name: "empty", type: ProgramType.TRACEPOINT, instructions: asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]), license: "GPL" });
  const figures: Figure[] = [];
  for (const container of [true, false]) {
    let engine = "";
    const none = () => loop(helper, jail, container);
    const floor = () => {
      using link = runtime.attachTracepoint(empty, "syscalls", "sys_exit_chroot");
      void link;
      return loop(helper, jail, container);
    };
    const guarded = () => {
      using guard = ChrootGuard.start({ engine: "auto" });
      engine = guard.engine;
      const ns = loop(helper, jail, container);
      const k = guard.counters();
      if (k.killed + k.denied > 0) throw new Error("the bench's chroots were judged the host's root");
      return ns;
    };
    const [off = [], bare = [], on = []] = interleaved(ROUNDS, [none, floor, guarded]);
    const ratio = roundRatio(on, off);
    const own = roundRatio(on, bare);
    const tracepoint = roundRatio(bare, off);
    const who = container ? "container" : "host";
    figures.push({
      id: "13",
      figure: `lsmbpf chroot, ${who} (${engine})`,
      tsebpf: `${median(on).toFixed(0)} ns/call`,
      peer: `${median(off).toFixed(0)} ns/call unguarded`,
      ratio,
      target: "≤ 1.10x",
      pass: ratio <= 1.1,
      note: `${who}: ${ROUNDS} interleaved rounds of ${CALLS} chroot(".") calls, CPU ns per call: unguarded ${median(off).toFixed(0)}, an empty program on sys_exit_chroot ${median(bare).toFixed(0)} (${tracepoint.toFixed(2)}x: the kernel's tracepoint path, the floor of this engine), the guard ${median(on).toFixed(0)} (${own.toFixed(2)}x the empty program: its own code)`,
    });
  }
  // Every other system call, while the guard runs.
  const getppid = () => {
    const r = spawnSync(helper, ["-", "getppid", "200000"], { encoding: "utf8" });
    const ns = Number(r.stdout.trim());
    if (r.status !== 0 || !(ns > 0)) throw new Error(`getppid loop failed: ${r.stderr.trim() || `status ${r.status}`}`);
    return ns;
  };
  const [plain = [], beside = []] = interleaved(ROUNDS, [
    getppid,
    () => {
      using guard = ChrootGuard.start({ engine: "auto" });
      void guard;
      return getppid();
    },
  ]);
  const other = roundRatio(beside, plain);
  figures.push({
    id: "13",
    figure: "lsmbpf: any other syscall (getppid)",
    tsebpf: `${median(beside).toFixed(0)} ns/call`,
    peer: `${median(plain).toFixed(0)} ns/call unguarded`,
    ratio: other,
    target: "-",
    pass: undefined,
    note: `getppid while the guard runs: ${other.toFixed(2)}x (${(median(beside) - median(plain)).toFixed(0)} ns more per system call, every task: the syscall tracepoint's slow path)`,
  });
  return figures;
}
