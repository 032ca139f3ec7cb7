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
 *
 * The other attach points the signal engine could use, in the same rounds
 * (bench/objects/lsmbpf-variants.bpf.c, built here against out/vmlinux.h, the engine's judge()
 * included): raw_tp/sys_exit and tp_btf/sys_exit, an empty program and the guard on each. They
 * build no perf record, but run at every system call's exit of every task; the notes give
 * their figures so the engine's choice can be checked.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { asm, abi, readCollectionSpec, runtime } from "../src/index.js";
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

/** The variants' object: lsmbpf.bpf.c plus raw_tp/tp_btf programs on sys_exit. */
function buildVariants(): string {
  const out = join(workdir, "lsmbpf-variants.bpf.o");
  const args = ["-target", "bpfel", "-O2", "-g", "-mcpu=v3", "-Wall", "-Wno-unused-function", "-I/usr/include/x86_64-linux-gnu", "-Iout", "-c", "bench/objects/lsmbpf-variants.bpf.c", "-o", out];
  const r = spawnSync("clang-19", args, { encoding: "utf8" });
  if (r.error || r.status !== 0) throw new Error(`clang-19 lsmbpf-variants.bpf.c (needs out/vmlinux.h: make vmlinux): ${r.error?.message ?? r.stderr.trim().split("\n")[0]}`);
  return out;
}

/** One variant: its program loaded alone (own maps), attached for one loop run. */
interface Variant {
  readonly name: string;
  readonly run: (body: () => number) => number;
  readonly close: () => void;
}

function variant(object: string, program: string, attach: (p: runtime.Program) => { close(): void }): Variant {
  const coll = runtime.Collection.load(readCollectionSpec(readFileSync(object)), { programs: [program] });
  const p = coll.programs.get(program);
  if (!p) throw new Error(`${program} did not load`);
  return {
    name: program,
    run: (body) => {
      const link = attach(p);
      try {
        return body();
      } finally {
        link.close();
      }
    },
    close: () => coll.close(),
  };
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
  const variantsObject = buildVariants();
  const jail = join(workdir, "jail");
  mkdirSync(jail, { recursive: true });
  using empty = runtime.Program.load({ name: "empty", type: ProgramType.TRACEPOINT, instructions: asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]), license: "GPL" });
  const raw = (p: runtime.Program) => runtime.attachRawTracepoint(p, "sys_exit");
  const typed = (p: runtime.Program) => runtime.attachTracing(p, abi.AttachType.TRACE_RAW_TP, "sys_exit");
  const variants: Variant[] = [];
  try {
    variants.push(variant(variantsObject, "raw_empty", raw), variant(variantsObject, "raw_guard", raw), variant(variantsObject, "btf_empty", typed), variant(variantsObject, "btf_guard", typed));
    return measure(helper, jail, empty, variants);
  } finally {
    for (const v of variants) v.close();
  }
}

const VARIANT_LABELS: Readonly<Record<string, string>> = {
  raw_empty: "raw_tp/sys_exit empty",
  raw_guard: "raw_tp/sys_exit guard",
  btf_empty: "tp_btf/sys_exit empty",
  btf_guard: "tp_btf/sys_exit guard",
};

/** "label ns (ratio x)" for each variant, against the unguarded samples of the same rounds. */
function variantNote(variants: readonly Variant[], samples: readonly number[][], off: readonly number[]): string {
  return variants.map((v, i) => `${VARIANT_LABELS[v.name] ?? v.name} ${median(samples[i] ?? []).toFixed(0)} (${roundRatio(samples[i] ?? [], off).toFixed(2)}x)`).join(", ");
}

function measure(helper: string, jail: string, empty: runtime.Program, variants: readonly Variant[]): Figure[] {
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
    const others = variants.map((v) => () => v.run(none));
    const [off = [], bare = [], on = [], ...rest] = interleaved(ROUNDS, [none, floor, guarded, ...others]);
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
      note: `${who}: ${ROUNDS} interleaved rounds of ${CALLS} chroot(".") calls, CPU ns per call: unguarded ${median(off).toFixed(0)}, an empty program on sys_exit_chroot ${median(bare).toFixed(0)} (${tracepoint.toFixed(2)}x: the kernel's tracepoint path, the floor of this engine), the guard ${median(on).toFixed(0)} (${own.toFixed(2)}x the empty program: its own code); other attach points: ${variantNote(variants, rest, off)}`,
    });
  }
  // Every other system call, while the guard (or a variant) runs.
  const getppid = () => {
    const r = spawnSync(helper, ["-", "getppid", "200000"], { encoding: "utf8" });
    const ns = Number(r.stdout.trim());
    if (r.status !== 0 || !(ns > 0)) throw new Error(`getppid loop failed: ${r.stderr.trim() || `status ${r.status}`}`);
    return ns;
  };
  const [plain = [], beside = [], ...rest] = interleaved(ROUNDS, [
    getppid,
    () => {
      using guard = ChrootGuard.start({ engine: "auto" });
      void guard;
      return getppid();
    },
    ...variants.map((v) => () => v.run(getppid)),
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
    note: `getppid while the guard runs: ${other.toFixed(2)}x (${(median(beside) - median(plain)).toFixed(0)} ns more per system call, every task: the syscall tracepoint's slow path); with the other attach points instead: ${variantNote(variants, rest, plain)}`,
  });
  return figures;
}
