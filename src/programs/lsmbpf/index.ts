/**
 * lsmbpf as a library: a chroot guard for containers. `ChrootGuard.start(options)` picks an
 * engine, loads it, fills the allow-lists and the mode, and only then attaches; `read(callback)`
 * calls back with one `GuardEvent` per denial, kill or (audit mode) would-be denial.
 *
 * Engines (the same decision, lsmbpf.bpf.c's judge()):
 * - `lsm`: a BPF LSM program on `path_chroot`: the chroot fails with EPERM. Needs BPF LSM active
 *   (`bpf` in /sys/kernel/security/lsm: `lsm=…,bpf` on the kernel command line, CONFIG_BPF_LSM)
 *   and a kernel that loads trampoline programs (Linux 5.7).
 * - `signal`: tracepoints on the chroot syscall: a containerized process that has just made the
 *   host's root its root gets SIGKILL (bpf_send_signal, Linux 5.3) before it returns to user
 *   space. The chroot happened; the process never runs another instruction of its own.
 * `auto` takes `lsm` where it loads, else `signal`, and says why (`fallback`).
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { NotSupportedError, abi, readCollectionSpec, runtime, type Program } from "../../index.js";
import { TsebpfError } from "../../errors.js";
import { programObjectPath } from "../common/run.js";
import { requireCapabilities } from "../common/capabilities.js";
import { cgroup2Mount, type Engine, type EngineChoice, type Mode } from "./config.js";
import { ChrootEventView, GuardAction, GuardEngine, StatIndex, load, type Loaded, type ProgramName } from "./lsmbpf.gen.js";

export { MODES, ENGINES, DEFAULT_CONFIG, parseGuardConfig, readGuardConfig, resolveCgroups, cgroupId, cgroup2Mount, type GuardConfig, type Mode, type Engine, type EngineChoice } from "./config.js";

export type Action = "denied" | "killed" | "audited" | "kill-failed";

/** One denial (lsm), kill (signal), would-be denial (audit) or failed kill. */
export interface GuardEvent {
  /** Wall-clock time (ms since the epoch). */
  readonly time: number;
  /** Process and thread ids as the host sees them. */
  readonly pid: number;
  readonly tid: number;
  /** The process's pid inside its own PID namespace. */
  readonly nsPid: number;
  /** The PID namespace's inode number (`readlink /proc/PID/ns/pid` → `pid:[N]`). */
  readonly pidNs: number;
  readonly comm: string;
  /** cgroup v2 id, and its path under the cgroup2 mount when it could be found. */
  readonly cgroupId: bigint;
  readonly cgroup: string;
  /** What the process named (signal: the path it passed; lsm: the target's name). */
  readonly target: string;
  /** The target's identity: device (major:minor) and inode — the host's root. */
  readonly device: string;
  readonly inode: number;
  readonly engine: Engine;
  readonly action: Action;
  /** bpf_send_signal's error (kill-failed). */
  readonly error?: number;
}

export interface Counters {
  /** Chroots by containerized processes (signal engine: those that succeeded). */
  readonly containerChroots: number;
  /** Of those, into the host's root. */
  readonly hostRoot: number;
  readonly denied: number;
  readonly killed: number;
  readonly audited: number;
  readonly killFailed: number;
  readonly allowedByComm: number;
  readonly allowedByCgroup: number;
  /** Events the ring buffer had no room for (the decision was still made). */
  readonly lost: number;
}

export interface GuardOptions {
  readonly mode?: Mode;
  readonly engine?: EngineChoice;
  /** Command names let through (up to 15 bytes each). */
  readonly allowComms?: readonly string[];
  /** cgroup v2 ids let through (with their descendants): see resolveCgroups. */
  readonly allowCgroups?: readonly bigint[];
}

/** Whether BPF LSM can run here, and if not, what is missing and how to get it. */
export interface LsmAvailability {
  readonly usable: boolean;
  /** What is missing (absent when usable). */
  readonly reason?: string;
  /** How to enable it. */
  readonly hint?: string;
  /** /sys/kernel/security/lsm, when readable. */
  readonly lsms?: readonly string[];
}

export const LSM_FILE = "/sys/kernel/security/lsm";

/** `bpf` in the active LSMs (`lsms`), then the runtime's probe: does an LSM program load here? */
export function lsmAvailability(lsmText?: string, probe: () => runtime.ProbeAnswer = () => runtime.probeTrampoline("lsm")): LsmAvailability {
  let text = lsmText;
  if (text === undefined) {
    try {
      text = readFileSync(LSM_FILE, "utf8");
    } catch {
      return { usable: false, reason: `${LSM_FILE} is not readable (securityfs not mounted, or a kernel without LSM support)`, hint: "mount securityfs (mount -t securityfs none /sys/kernel/security), or boot a kernel with CONFIG_BPF_LSM=y and lsm=…,bpf" };
    }
  }
  const lsms = text.trim().split(",").filter(Boolean);
  if (!lsms.includes("bpf")) {
    return { usable: false, lsms, reason: `BPF LSM is not active (${LSM_FILE}: ${lsms.join(",") || "empty"})`, hint: `add lsm=${[...lsms, "bpf"].join(",")} to the kernel command line (and a kernel built with CONFIG_BPF_LSM=y), then reboot` };
  }
  let answer: runtime.ProbeAnswer;
  try {
    answer = probe();
  } catch (e) {
    answer = { supported: false, reason: e instanceof Error ? e.message : String(e) };
  }
  if (!answer.supported) {
    return {
      usable: false,
      lsms,
      reason: `this kernel refuses LSM programs (BPF_PROG_LOAD: ${answer.reason ?? "refused"}; ${answer.reason === "EPERM" ? "BPF trampolines are not available to this kernel build" : "no BPF trampoline"})`,
      hint: "boot a kernel build that loads BPF trampoline programs (CONFIG_BPF_JIT, CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS): LSM programs need them; bpf is already in /sys/kernel/security/lsm",
    };
  }
  return { usable: true, lsms };
}

const ENGINE_NAMES: Record<number, Engine> = { [GuardEngine.ENGINE_LSM]: "lsm", [GuardEngine.ENGINE_SIGNAL]: "signal" };
const ACTIONS: Record<number, Action> = {
  [GuardAction.ACTION_DENIED]: "denied",
  [GuardAction.ACTION_KILLED]: "killed",
  [GuardAction.ACTION_AUDITED]: "audited",
  [GuardAction.ACTION_KILL_FAILED]: "kill-failed",
};

/** A kernel dev_t (major << 20 | minor) as `major:minor`. */
export const formatDevice = (dev: number): string => `${dev >>> 20}:${dev & 0xfffff}`;

/**
 * The host's root (the init's, /proc/1/root; this process's own root where that cannot be read)
 * as device and inode, in the kernel's encoding.
 */
export function hostRoot(): { device: string; inode: number } {
  let st;
  try {
    st = statSync("/proc/1/root/", { bigint: true });
  } catch {
    st = statSync("/", { bigint: true });
  }
  const dev = st.dev;
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { device: `${major}:${minor}`, inode: Number(st.ino) };
}

/**
 * cgroup v2 ids to paths (under the cgroup2 mount), found by walking the hierarchy; remembered.
 * A cgroup created since the last walk triggers another walk (at most one per second).
 */
export class CgroupNames {
  private readonly names = new Map<bigint, string>();
  private lastWalk = 0;
  constructor(private readonly mount: string | undefined = cgroup2Mount()) {}

  name(id: bigint): string {
    const known = this.names.get(id);
    if (known !== undefined) return known;
    if (this.mount && Date.now() - this.lastWalk > 1000) {
      this.lastWalk = Date.now();
      this.walk(this.mount, "/", 0);
    }
    return this.names.get(id) ?? `cgroup id ${id}`;
  }

  private walk(dir: string, path: string, depth: number): void {
    try {
      this.names.set(statSync(dir, { bigint: true }).ino, path);
      if (depth >= 16) return;
      for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) this.walk(join(dir, d.name), path === "/" ? `/${d.name}` : `${path}/${d.name}`, depth + 1);
    } catch {
      // gone meanwhile
    }
  }
}

/** wall-clock ns − CLOCK_MONOTONIC ns, now. */
function clockOffset(): bigint {
  const before = process.hrtime.bigint();
  return BigInt(Date.now()) * 1_000_000n - before;
}

export function toEvent(e: ChrootEventView, clockOffsetNs: bigint, cgroups: CgroupNames): GuardEvent {
  const action = ACTIONS[e.action] ?? "denied";
  return {
    time: Number((e.time_ns + clockOffsetNs) / 1_000_000n),
    pid: e.pid,
    tid: e.tid,
    nsPid: e.ns_pid,
    pidNs: e.pidns_ino,
    comm: e.comm,
    cgroupId: e.cgroup_id,
    cgroup: cgroups.name(e.cgroup_id),
    target: e.target,
    device: formatDevice(e.root_dev),
    inode: Number(e.root_ino),
    engine: ENGINE_NAMES[e.engine] ?? "signal",
    action,
    ...(action === "kill-failed" ? { error: -e.error } : {}),
  };
}

/** Where `--pin` keeps the links and maps. */
export const PIN_DIR = "/sys/fs/bpf/tsebpf/lsmbpf";

const ENGINE_PROGRAMS: Record<Engine, readonly ProgramName[]> = { lsm: ["lsmbpf_lsm"], signal: ["lsmbpf_signal"] };

/** What each engine does to a containerized process that chroots into the host's root. */
export const ENGINE_EFFECT: Record<Engine, string> = {
  lsm: "the chroot fails with EPERM (BPF LSM on path_chroot)",
  signal: "the process is killed with SIGKILL right after its chroot returns, before it runs another instruction (tracepoint on sys_exit_chroot)",
};

export class ChrootGuard {
  private links: runtime.Attachment[];
  private reader: runtime.RingBufferReader | undefined;
  private closed = false;
  private pinnedAt: string | undefined;
  readonly clockOffsetNs = clockOffset();
  readonly cgroups = new CgroupNames();

  private constructor(
    private readonly loaded: Loaded<ProgramName>,
    /** The engine that runs. */
    readonly engine: Engine,
    /** Why `auto` did not take the lsm engine (undefined when it did, or one was asked for). */
    readonly fallback: LsmAvailability | undefined,
    links: runtime.Attachment[],
    private currentMode: Mode,
  ) {
    this.links = links;
  }

  /** Loads, fills the allow-lists and the mode, attaches. Throws, leaving nothing behind, when a step fails. */
  static start(options: GuardOptions = {}): ChrootGuard {
    requireGuardCapabilities();
    const mode = options.mode ?? "enforce";
    const wanted = options.engine ?? "auto";
    let engine: Engine;
    let fallback: LsmAvailability | undefined;
    if (wanted === "signal") engine = "signal";
    else {
      const lsm = lsmAvailability();
      if (wanted === "lsm" && !lsm.usable && !lsm.lsms?.includes("bpf")) {
        // Not even listed: loading could not help.
        throw new NotSupportedError("the lsm engine (BPF LSM)", undefined, `${lsm.reason}; to enable it: ${lsm.hint}; or use engine: signal`);
      }
      engine = wanted === "lsm" || lsm.usable ? "lsm" : "signal";
      if (wanted === "auto" && !lsm.usable) fallback = lsm;
    }
    let loaded: Loaded<ProgramName>;
    try {
      loaded = loadEngine(engine, mode);
    } catch (e) {
      if (engine === "lsm" && e instanceof NotSupportedError) {
        const lsm = lsmAvailability();
        const refused = new NotSupportedError("the lsm engine (BPF LSM)", undefined, `${e.message}${lsm.hint ? `; ${lsm.hint}` : ""}; or use engine: signal`);
        if (wanted === "lsm") throw refused;
        // auto: the probe said yes, the load said no.
        fallback = { usable: false, reason: refused.message, ...(lsm.hint ? { hint: lsm.hint } : {}) };
        engine = "signal";
        loaded = loadEngine(engine, mode);
      } else throw e;
    }
    const links: runtime.Attachment[] = [];
    try {
      fillAllowLists(loaded, options.allowComms ?? [], options.allowCgroups ?? []);
      if (engine === "lsm") {
        links.push(runtime.attachTracing(program(loaded, "lsmbpf_lsm"), abi.AttachType.LSM_MAC, "path_chroot"));
      } else {
        links.push(runtime.attachTracepoint(program(loaded, "lsmbpf_signal"), "syscalls", "sys_exit_chroot"));
      }
      return new ChrootGuard(loaded, engine, fallback, links, mode);
    } catch (e) {
      for (const l of links.reverse()) l.close();
      loaded.close();
      if (engine === "lsm" && e instanceof NotSupportedError) throw new NotSupportedError("the lsm engine (BPF LSM)", undefined, `${e.message}; or use engine: signal`);
      throw e;
    }
  }

  get mode(): Mode {
    return this.currentMode;
  }

  /** Switches enforce/audit in place (a .bss variable the programs read). */
  setMode(mode: Mode): void {
    this.loaded.variables.audit_mode.set(mode === "audit" ? 1 : 0);
    this.currentMode = mode;
  }

  /** Replaces the allow-lists: new entries first, then the old ones go (never an empty list in between). */
  setAllowLists(comms: readonly string[], cgroups: readonly bigint[]): void {
    const m = this.loaded.typedMaps;
    const oldComms = [...m.allow_comms.entries()].map(([k]) => k.comm);
    const oldCgroups = [...m.allow_cgroups.entries()].map(([k]) => k);
    fillAllowLists(this.loaded, comms, cgroups);
    for (const c of oldComms) if (!comms.includes(c)) m.allow_comms.delete({ comm: c });
    for (const id of oldCgroups) if (!cgroups.includes(id)) m.allow_cgroups.delete(id);
  }

  private eventReader(): runtime.RingBufferReader {
    if (this.closed) throw new TsebpfError("lsmbpf: closed");
    this.reader ??= new runtime.RingBufferReader(this.loaded.maps.events);
    return this.reader;
  }

  /** Calls `callback` with each event as it comes, until `signal` aborts; resolves with how many. */
  read(callback: (e: GuardEvent) => void, options: { readonly signal?: AbortSignal } = {}): Promise<number> {
    const offset = this.clockOffsetNs;
    return this.eventReader().on((e: ChrootEventView) => callback(toEvent(e, offset, this.cgroups)), { view: ChrootEventView, ...(options.signal ? { signal: options.signal } : {}) });
  }

  /** The events waiting now. */
  flush(callback: (e: GuardEvent) => void): number {
    const offset = this.clockOffsetNs;
    return this.eventReader().consume((e: ChrootEventView) => callback(toEvent(e, offset, this.cgroups)), { view: ChrootEventView });
  }

  counters(): Counters {
    return countersOf(this.loaded.typedMaps.stats);
  }

  get programs(): readonly Program[] {
    return [...this.loaded.collection.programs.values()];
  }

  get pinned(): string | undefined {
    return this.pinnedAt;
  }

  /** Pins the links and maps under PIN_DIR: the guard keeps running after this process exits. */
  pin(dir = PIN_DIR): string {
    if (this.pinnedAt) return this.pinnedAt;
    if (existsSync(dir) && readdirSync(dir).length > 0) throw new TsebpfError(`lsmbpf: a guard is already pinned at ${dir}: 'tsebpf lsmbpf --unpin' removes it`);
    mkdirSync(dir, { recursive: true });
    try {
      this.links.forEach((l, i) => {
        if (!l.pin) throw new TsebpfError(`lsmbpf: ${l.description} cannot be pinned`);
        l.pin(join(dir, `link_${this.engine}_${i}`));
      });
      for (const name of ["stats", "events", "allow_comms", "allow_cgroups"] as const) this.loaded.maps[name].pin(join(dir, name));
      this.loaded.maps[".bss"].pin(join(dir, "bss"));
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    this.pinnedAt = dir;
    return dir;
  }

  /** Stops guarding (no more events); counters and buffered events stay readable until close(). */
  detach(): void {
    const links = this.links;
    this.links = [];
    for (const l of links.reverse()) l.close();
  }

  /** Detaches (unless pinned) and releases everything. Idempotent. */
  close(): void {
    if (this.closed) return;
    try {
      this.detach();
    } finally {
      this.closed = true;
      this.reader?.close();
      this.reader = undefined;
      this.loaded.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Removes a pinned guard (its links go with their pins: the guard stops). False when none. */
  static unpin(dir = PIN_DIR): boolean {
    if (!existsSync(dir)) return false;
    rmSync(dir, { recursive: true, force: true });
    return true;
  }

  /** A pinned guard's engine, mode and counters; undefined when none is pinned. */
  static pinnedStatus(dir = PIN_DIR): PinnedStatus | undefined {
    if (!existsSync(dir)) return undefined;
    const names = readdirSync(dir);
    const engine: Engine = names.some((n) => n.startsWith("link_lsm")) ? "lsm" : "signal";
    using stats = runtime.BpfMap.fromPin(join(dir, "stats"));
    const counters = countersOf({
      getPerCpu: (i: number) => {
        const value = stats.lookup(u32(i));
        return value ? stats.perCpuValues(value).map((b) => b.readBigUInt64LE(0)) : undefined;
      },
    });
    let mode: Mode = "enforce";
    try {
      using bss = runtime.BpfMap.fromPin(join(dir, "bss"));
      const offset = readCollectionSpec(readFileSync(programObjectPath("lsmbpf"))).variables.get("audit_mode")?.offset ?? 0;
      const value = bss.lookup(u32(0));
      if (value && value.readUInt32LE(offset) === 1) mode = "audit";
    } catch {
      // older pins: enforce
    }
    return { dir, engine, mode, counters, links: names.filter((n) => n.startsWith("link_")).length };
  }
}

export interface PinnedStatus {
  readonly dir: string;
  readonly engine: Engine;
  readonly mode: Mode;
  readonly counters: Counters;
  readonly links: number;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

function countersOf(stats: { getPerCpu(i: number): bigint[] | undefined }): Counters {
  const sum = (i: number) => Number((stats.getPerCpu(i) ?? []).reduce((a, b) => a + b, 0n));
  return {
    containerChroots: sum(StatIndex.STAT_CONTAINER_CHROOTS),
    hostRoot: sum(StatIndex.STAT_HOST_ROOT),
    denied: sum(StatIndex.STAT_DENIED),
    killed: sum(StatIndex.STAT_KILLED),
    audited: sum(StatIndex.STAT_AUDITED),
    killFailed: sum(StatIndex.STAT_KILL_FAILED),
    allowedByComm: sum(StatIndex.STAT_ALLOWED_COMM),
    allowedByCgroup: sum(StatIndex.STAT_ALLOWED_CGROUP),
    lost: sum(StatIndex.STAT_LOST),
  };
}

function program(loaded: Loaded<ProgramName>, name: ProgramName): Program {
  const p = loaded.collection.programs.get(name);
  if (!p) throw new TsebpfError(`lsmbpf: program ${name} is not loaded`);
  return p;
}

function loadEngine(engine: Engine, mode: Mode): Loaded<ProgramName> {
  const spec = readCollectionSpec(readFileSync(programObjectPath("lsmbpf")));
  return load<ProgramName>({ spec, programs: ENGINE_PROGRAMS[engine], variables: { audit_mode: mode === "audit" ? 1 : 0 } });
}

function fillAllowLists(loaded: Loaded<ProgramName>, comms: readonly string[], cgroups: readonly bigint[]): void {
  for (const c of comms) loaded.typedMaps.allow_comms.set({ comm: c }, 1);
  for (const id of cgroups) loaded.typedMaps.allow_cgroups.set(id, 1);
}

/** Throws, naming the capability, when this process cannot load and attach the guard. */
export function requireGuardCapabilities(effective?: bigint): void {
  requireCapabilities("lsmbpf", ["CAP_BPF", "CAP_PERFMON"], "guarding chroot with BPF", ...(effective === undefined ? [] : [effective]));
}

export const objectPath = (): string => programObjectPath("lsmbpf");
