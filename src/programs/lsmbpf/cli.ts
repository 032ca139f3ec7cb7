/** `tsebpf lsmbpf`: guard chroot in containers in the foreground, pin it, unpin it, show its counters. */
import { existsSync } from "node:fs";
import { Command, Option } from "commander";
import type { Output } from "../../cli/io.js";
import { TsebpfError } from "../../errors.js";
import { parseInterval, runUntilStopped } from "../common/run.js";
import { DEFAULT_CONFIG, ENGINES, MODES, readGuardConfig, resolveCgroups, type EngineChoice, type GuardConfig, type Mode } from "./config.js";
import { metricsAddress, metricsOption, metricsText, serveMetrics, statusMetricsOption } from "../common/metrics-cli.js";
import { lsmbpfMetrics } from "./metrics.js";
import { ChrootGuard, ENGINE_EFFECT, PIN_DIR, hostRoot, requireGuardCapabilities, type Counters, type GuardEvent, type LsmAvailability } from "./index.js";

export interface LsmbpfFlags {
  config: string;
  mode?: string;
  engine?: string;
  interval: string;
  json?: boolean;
  pin?: boolean;
  unpin?: boolean;
  /** `--metrics ADDR:PORT`: serve the counters while it runs. */
  metrics?: string;
}

/** One line per event: time, what happened, who, where it chrooted to. */
export function formatEvent(e: GuardEvent): string {
  const what = e.action === "kill-failed" ? `kill-failed (errno ${e.error ?? "?"})` : e.action;
  return `${new Date(e.time).toISOString()} ${what} pid ${e.pid} (pid ${e.nsPid} in pidns ${e.pidNs}) comm ${e.comm} cgroup ${e.cgroup} chroot ${JSON.stringify(e.target)} = the host's root (${e.device} inode ${e.inode}) [${e.engine}]`;
}

export function eventJson(e: GuardEvent): string {
  return JSON.stringify({ type: "event", ...e, time: new Date(e.time).toISOString(), cgroupId: e.cgroupId.toString() });
}

export function summaryText(k: Counters): string {
  return `container chroots ${k.containerChroots}, into the host's root ${k.hostRoot}: denied ${k.denied}, killed ${k.killed}, audited ${k.audited}, kill failed ${k.killFailed}, allowed by comm ${k.allowedByComm}, by cgroup ${k.allowedByCgroup}; events lost ${k.lost}`;
}

export function summaryJson(k: Counters, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: "summary", ...k, ...extra });
}

/** The start-up line: which engine runs, what it does, and (auto) why not the other. */
export function describeStart(engine: "lsm" | "signal", mode: Mode, fallback: LsmAvailability | undefined, config: GuardConfig): string {
  const root = (() => {
    try {
      const r = hostRoot();
      return ` (${r.device} inode ${r.inode})`;
    } catch {
      return "";
    }
  })();
  const allow = [config.allow.comm.length ? `comm ${config.allow.comm.join(",")}` : "", config.allow.cgroup.length ? `cgroup ${config.allow.cgroup.join(",")}` : ""].filter(Boolean);
  const why = fallback ? `; not the lsm engine (the chroot would fail with EPERM instead): ${fallback.reason}${fallback.hint ? `; to enable it: ${fallback.hint}` : ""}` : "";
  return `lsmbpf: guarding chroot into the host's root${root} by containerized processes — engine ${engine}, mode ${mode}: ${mode === "audit" ? `reported only (enforcing: ${ENGINE_EFFECT[engine]})` : ENGINE_EFFECT[engine]}${allow.length ? `; allowed: ${allow.join("; ")}` : ""}${why}`;
}

function chosen<T extends string>(flag: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!choices.includes(value as T)) throw new TsebpfError(`${flag}: expected ${choices.join(" or ")}, not '${value}'`);
  return value as T;
}

/** Runs the guard as the command does; resolves when it stopped (SIGINT, SIGTERM or `signal`), or at once with --pin/--unpin. */
export async function runLsmbpf(flags: LsmbpfFlags, io: Output, signal?: AbortSignal): Promise<void> {
  if (flags.unpin) {
    io.out(ChrootGuard.unpin() ? `unpinned the chroot guard (${PIN_DIR}): it no longer runs\n` : `no chroot guard pinned (${PIN_DIR})\n`);
    return;
  }
  const interval = parseInterval(flags.interval);
  const modeFlag = chosen("--mode", flags.mode, MODES);
  const engineFlag = chosen<EngineChoice>("--engine", flags.engine, ENGINES);
  const metricsAt = metricsAddress(flags.metrics);
  if (metricsAt && flags.pin) throw new TsebpfError("--metrics needs the process that serves them: it does not go with --pin (status --metrics reads a pinned guard)");
  // Everything about the configuration is checked before anything is loaded.
  const read = () => {
    const file = readGuardConfig(flags.config);
    return { config: file, mode: modeFlag ?? file.mode, cgroupIds: resolveCgroups(file, flags.config) };
  };
  const first = read();
  requireGuardCapabilities();
  if (flags.pin && ChrootGuard.pinnedStatus()) throw new TsebpfError(`lsmbpf: a guard is already pinned at ${PIN_DIR}: 'tsebpf lsmbpf --unpin' removes it`);
  let started: ChrootGuard | undefined;
  const metrics = metricsAt ? await serveMetrics(metricsAt, () => (started ? lsmbpfMetrics(started.counters(), started.engine, started.mode) : undefined), (line) => io.err(`${line}\n`)) : undefined;
  let guard: ChrootGuard;
  try {
    guard = ChrootGuard.start({ mode: first.mode, engine: engineFlag ?? first.config.engine, allowComms: first.config.allow.comm, allowCgroups: first.cgroupIds });
  } catch (e) {
    await metrics?.close();
    throw e;
  }
  started = guard;
  try {
    io.err(`${describeStart(guard.engine, guard.mode, guard.fallback, first.config)}\n`);
    if (flags.pin) {
      const at = guard.pin();
      io.out(`chroot guard pinned at ${at} (engine ${guard.engine}, mode ${guard.mode}): it keeps running after exit; 'tsebpf lsmbpf status' shows its counters, 'tsebpf lsmbpf --unpin' removes it\n`);
      return;
    }
    const summary = () => io.out(flags.json ? `${summaryJson(guard.counters())}\n` : `lsmbpf: ${summaryText(guard.counters())}\n`);
    const show = (e: GuardEvent) => io.out(`${flags.json ? eventJson(e) : formatEvent(e)}\n`);
    const stoppedBy = await runUntilStopped({
      intervalMs: interval * 1000,
      tick: summary,
      ...(signal ? { signal } : {}),
      ...(existsSync(flags.config) ? { watchFile: flags.config } : {}),
      reload: () => {
        const next = read();
        if ((engineFlag ?? next.config.engine) !== (engineFlag ?? first.config.engine)) io.err(`lsmbpf: engine: a change applies at the next start (running: ${guard.engine})\n`);
        guard.setAllowLists(next.config.allow.comm, next.cgroupIds);
        guard.setMode(next.mode);
        io.err(`lsmbpf: reloaded ${flags.config}: mode ${next.mode}, allowed comm ${next.config.allow.comm.length}, cgroup ${next.cgroupIds.length}\n`);
      },
      onError: (e) => io.err(`lsmbpf: reload failed, the previous configuration stays: ${e instanceof Error ? e.message : String(e)}\n`),
      background: (s) =>
        guard.read(show, { signal: s }).catch((e: unknown) => {
          io.err(`tsebpf: lsmbpf: reading events stopped: ${e instanceof Error ? e.message : String(e)}\n`);
        }),
    });
    guard.detach();
    guard.flush(show);
    const k = guard.counters();
    io.out(flags.json ? `${summaryJson(k, { stoppedBy })}\n` : `lsmbpf: stopped (${stoppedBy}): ${summaryText(k)}\n`);
  } finally {
    started = undefined;
    await metrics?.close();
    guard.close();
  }
}

export function registerLsmbpf(program: Command, io: Output): void {
  const cmd = program
    .command("lsmbpf")
    .description("chroot guard for containers: a process in another PID namespace that chroots into the host's root is denied (BPF LSM, EPERM) or killed (signal engine)")
    .option("-c, --config <path>", `YAML config (every key optional; no file at the default path: the defaults)`, DEFAULT_CONFIG)
    .addOption(new Option("--mode <mode>", "enforce or audit (overrides the config's mode)"))
    .addOption(new Option("--engine <engine>", "auto, lsm or signal (overrides the config's engine)"))
    .option("--interval <seconds>", "print the counters every this many seconds (0: only at exit)", "60")
    .option("--json", "events and summaries as JSON lines")
    .option("--pin", "pin the links and maps and exit, leaving the guard running (remove with --unpin)")
    .option("--unpin", "remove a pinned guard and exit")
    .addOption(metricsOption())
    .addHelpText(
      "after",
      `
A containerized process (one in another PID namespace than the host's) must not make the host's
root filesystem its root. The target is judged by what it is — its device and inode compared with
those of the host init's root — never by its name: chroot /, //, /./.., a symlink to / and a bind
mount of / are the same. A container's chroot into its own directories works; host processes are
never judged.

Engines (the start-up line says which runs, and why):
  lsm     ${ENGINE_EFFECT.lsm}.
          Needs bpf in /sys/kernel/security/lsm (lsm=...,bpf on the kernel command line,
          CONFIG_BPF_LSM=y) and a kernel that loads BPF trampoline programs.
  signal  ${wrapped(`${ENGINE_EFFECT.signal}.`, 88, "          ")}
          The chroot itself happened, but the process never uses it. Works where LSM programs
          cannot load. Cost: ~1.2x per chroot, and while it runs every system call of every
          task takes the kernel's syscall slow path (~+30 ns). raw_tp or tp_btf on sys_exit
          would save little per chroot and cost every other system call more: they run at
          each one's exit (bench #13).
  auto    lsm where it loads, else signal (the start-up line names what is missing).

Modes: enforce; audit (report only). Each denial, kill or would-be denial is a line (--json: a
JSON object) with time, pid, pid in its namespace, PID-namespace inode, comm, cgroup, target; the
counters print every --interval and at exit.

Config (${DEFAULT_CONFIG}; all keys optional):
  mode: enforce            # enforce | audit
  engine: auto             # auto | lsm | signal
  allow:
    comm: [runc]           # command names let through
    cgroup: [/ci.slice]    # cgroup v2 paths (as in /proc/PID/cgroup), with their descendants
SIGHUP re-reads it (mode and allow-lists change in place; the engine at the next start).
SIGINT and SIGTERM detach. --pin keeps the guard after exit (${PIN_DIR}).

Metrics (--metrics ADDR:PORT while it runs, status --metrics for a pinned guard):
  tsebpf_lsmbpf_denials_total{engine,mode,action}   action: denied, killed, kill_failed, audited
  tsebpf_lsmbpf_container_chroots_total{engine}, tsebpf_lsmbpf_host_root_chroots_total{engine}
  tsebpf_lsmbpf_allowed_total{engine,by}            by: comm, cgroup
  tsebpf_lsmbpf_guard_info{engine,mode} 1, tsebpf_events_lost_total{program}, tsebpf_build_info

Needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN; root has them).

Examples:
  tsebpf lsmbpf                              # defaults, until Ctrl+C
  tsebpf lsmbpf --mode audit --json          # report only, JSON lines
  tsebpf lsmbpf --config guard.yml --pin     # keep guarding after exit
  tsebpf lsmbpf --metrics 127.0.0.1:9104     # and serve the counters to Prometheus
  tsebpf lsmbpf status                       # a pinned guard's counters
  tsebpf lsmbpf status --metrics > /var/lib/node_exporter/lsmbpf.prom.tmp
  tsebpf lsmbpf --unpin`,
    )
    .action(async (opts: LsmbpfFlags) => {
      await runLsmbpf(opts, io);
    });
  cmd
    .command("status")
    .description("the pinned guard's engine, mode and counters")
    .option("--json", "as one JSON object")
    .addOption(statusMetricsOption())
    .action((opts: { json?: boolean; metrics?: boolean }) => {
      const s = ChrootGuard.pinnedStatus();
      if (opts.metrics) {
        if (!s) throw new TsebpfError(`no chroot guard pinned (${PIN_DIR}): nothing to print metrics of`);
        io.out(metricsText(lsmbpfMetrics(s.counters, s.engine, s.mode)));
        return;
      }
      if (!s) {
        io.out(opts.json ? `${JSON.stringify({ pinned: false })}\n` : `no chroot guard pinned (${PIN_DIR})\n`);
        return;
      }
      io.out(opts.json ? `${JSON.stringify({ pinned: true, ...s })}\n` : `chroot guard pinned at ${s.dir}: engine ${s.engine}, mode ${s.mode}, ${s.links} link(s); ${summaryText(s.counters)}\n`);
    });
}

/** Text broken at spaces into lines of at most `width` characters, the lines after the first indented. */
function wrapped(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${indent}`);
}
