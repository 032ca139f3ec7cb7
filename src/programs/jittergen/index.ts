/**
 * jittergen as a library: `Jittergen.start(config)` loads the TC program, fills its rules, sets
 * up the delay engine and only then attaches it to `outIf`'s egress (TCX link where the kernel
 * has it, clsact + cls_bpf otherwise), in the calling thread's network namespace.
 *
 * Engines: `edt` writes departure times to skb->tstamp and makes `fq` the root qdisc (horizon and
 * flow limit set from the config); `recirculate` bounces not-yet-due packets between the
 * device's egress and ingress hooks (for kernels without fq; costly in softirq time, for low
 * rates); `userspace` copies them to a ring buffer and a thread of this process sends each one
 * out when due (runtime.PacketReleaser: no CPU while waiting; cannot be pinned). `auto` picks
 * edt where fq exists; without it, configs that delay refuse to start.
 *
 * Before changing anything, the interface's root qdisc tree and whether it had a clsact qdisc are
 * written to a record under /run/tsebpf; `stop()` restores them exactly and removes the record. A
 * start that finds the record of a run whose process is gone restores what it says first.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import { BpfMap, readCollectionSpec, runtime, type Collection } from "../../index.js";
import { isInterfaceName } from "../common/net.js";
import { sumPerCpu, u32Key } from "../common/maps.js";
import { pinDirectory, programObjectPath } from "../common/run.js";
import { HIST_BUCKETS, MAX_RULES, describeRule, keyError, needsDelay, type JittergenConfig, type RuleConfig } from "./config.js";
import { ControlCodec, JgStatsCodec, RuleSetCodec, load, type Loaded, type Rule, type RuleSet } from "./jittergen.gen.js";

export type { JittergenConfig, RuleConfig, Engine } from "./config.js";
export { loadConfig, parseConfig, describeRule, needsDelay, ENGINES } from "./config.js";

/** The engine that runs: `none` when no rule delays (drop only). */
export type ResolvedEngine = "edt" | "recirculate" | "userspace" | "none";

export const EGRESS_PROGRAM = "jg_egress";
export const INGRESS_PROGRAM = "jg_ingress";
const ACTION_CODE = { pass: 0, drop: 1, jitter: 2, reorder: 3 } as const;
const ENGINE_CODE = { edt: 0, recirculate: 1, userspace: 2, none: 0 } as const;
/** skb->mark of packets being recirculated ("jit" + 0); a duplicate carries this ^ 1. */
export const RECIRC_MARK = 0x6a697400;
/** userspace engine: SO_MARK of the socket that sends held packets when due (they pass the program). */
export const RELEASE_MARK = 0x6a697402;
const ALWAYS = 2n ** 32n;
const RECORD_DIR = "/run/tsebpf";
const PINNED_MAPS = ["rules", "control", "counters", "stats", "state"] as const;

export interface StartOptions {
  /** Attach with clsact + cls_bpf even where TCX works (survives a crash: the next start removes it). */
  readonly netlink?: boolean;
  /** Pin links and maps under pinDirectory("jittergen", outIf): it keeps running after exit. */
  readonly pin?: boolean;
  /** Where the crash record lives (default /run/tsebpf). */
  readonly recordDir?: string;
  /** Whether the kernel has fq (default: asked of the kernel's build configuration). */
  readonly fqAvailable?: boolean;
}

export interface RuleStatus {
  /** `action` (the top-level rule) or `rules[2]`. */
  readonly key: string;
  /** What it does (describeRule). */
  readonly description: string;
  readonly matched: bigint;
  readonly selected: bigint;
  readonly dropped: bigint;
  readonly delayed: bigint;
  readonly reordered: bigint;
  readonly duplicated: bigint;
  readonly corrupted: bigint;
  readonly overlimit: bigint;
  /** Mean delay given, ms (0 when none). */
  readonly meanDelayMs: number;
  /** Delay histogram: bucket i counts delays in [2^i, 2^(i+1)) µs (bucket 0 also < 1 µs). */
  readonly histogram: readonly bigint[];
}

export interface JittergenStatus {
  readonly outIf: string;
  readonly engine: ResolvedEngine;
  readonly packets: bigint;
  readonly laps: bigint;
  readonly released: bigint;
  /**
   * recirculate and userspace: how late the engine released delayed packets (release time −
   * deadline): mean in ms and a histogram like RuleStatus.histogram. recirculate: on a busy
   * machine this is ksoftirqd's wait for a CPU (the laps run in softirq context, deferred to
   * ksoftirqd after ~2 ms of it). userspace: measured by the release thread just before each sendto.
   */
  readonly meanLateMs: number;
  readonly lateHistogram: readonly bigint[];
  /** userspace: packets copied to user space to be held. */
  readonly handed: bigint;
  /** userspace: packets too large (or GSO) to copy, sent on at once undelayed. */
  readonly unheld: bigint;
  /** userspace: packets dropped because the ring to user space was full. */
  readonly ringFull: bigint;
  /** userspace: packets held now. */
  readonly holding: bigint;
  /** userspace: packets sent early at exit (held, not yet due). */
  readonly flushed: bigint;
  /** userspace: packets lost to a failed sendto. */
  readonly sendErrors: bigint;
  readonly rules: readonly RuleStatus[];
}

/** What is written under /run/tsebpf before anything changes (and read back after a crash). */
export interface RunRecord {
  readonly pid: number;
  readonly ifname: string;
  readonly ifindex: number;
  readonly netns: number;
  readonly engine: ResolvedEngine;
  readonly hadClsact: boolean;
  readonly qdiscs: runtime.QdiscSnapshot;
  readonly pinned: boolean;
  readonly config: string;
}

/** The calling thread's network namespace inode (records are per namespace and interface). */
function netnsInode(): number {
  return statSync("/proc/thread-self/ns/net").ino;
}

export function recordPath(ifname: string, dir = RECORD_DIR): string {
  if (!isInterfaceName(ifname)) throw new Error(`'${ifname}' is not an interface name`);
  return `${dir}/jittergen-${netnsInode()}-${ifname}.json`;
}

function readRecord(path: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RunRecord;
  } catch {
    return undefined;
  }
}

function writeRecord(path: string, r: RunRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(r));
  renameSync(`${path}.tmp`, path);
}

const alive = (pid: number): boolean => pid > 0 && existsSync(`/proc/${pid}`) && pid !== process.pid;

/**
 * Puts back what a crashed run changed (its record says what was there) and removes the record:
 * the programs it attached with netlink, a clsact qdisc it created, a root qdisc it replaced.
 * Returns what it did, or undefined when there was nothing to do. Refuses while the recorded
 * process lives or the record is of a pinned instance.
 */
export function recoverCrashedRun(ifname: string, recordDir = RECORD_DIR): string | undefined {
  const path = recordPath(ifname, recordDir);
  const r = readRecord(path);
  if (!existsSync(path)) return undefined;
  if (!r) {
    rmSync(path, { force: true });
    return `removed an unreadable record ${path}`;
  }
  if (r.pinned) throw new Error(`jittergen is pinned on ${ifname} (${pinPath(ifname)}): remove it with 'tsebpf jittergen --unpin' first`);
  if (alive(r.pid)) throw new Error(`another jittergen is running on ${ifname} (pid ${r.pid}): stop it first`);
  const done: string[] = [];
  let index: number | undefined;
  try {
    index = runtime.ifindex(ifname);
  } catch {
    index = undefined; // the interface went away: so did its qdiscs
  }
  if (index !== undefined && index === r.ifindex) {
    for (const hook of ["egress", "ingress"] as const) {
      if (!runtime.qdiscDump(index).some((q) => q.kind === "clsact")) break;
      for (const f of runtime.clsBpfFilters(index, hook)) {
        if (f.name.startsWith("jg_")) {
          runtime.clsBpfRemove(index, hook, f);
          done.push(`removed filter ${f.name} (${hook})`);
        }
      }
    }
    if (!r.hadClsact && runtime.qdiscDump(index).some((q) => q.kind === "clsact")) {
      runtime.qdiscDelete(index, runtime.TC_H_CLSACT);
      done.push("removed the clsact qdisc it created");
    }
    if (runtime.restoreRootQdisc(r.qdiscs)) done.push(`restored the root qdisc (${r.qdiscs.root?.kind ?? "default"})`);
  }
  rmSync(path, { force: true });
  return `an earlier jittergen run (pid ${r.pid}) on ${ifname} ended without cleaning up: ${done.length ? done.join(", ") : "nothing was left"}`;
}

/** Chooses the engine; throws, naming what is missing, when the config cannot run here. */
export function resolveEngine(config: JittergenConfig, fqAvailable: boolean | undefined): ResolvedEngine {
  const delays = config.rules.some(needsDelay);
  if (config.engine === "recirculate") return "recirculate";
  if (config.engine === "userspace") return "userspace";
  if (config.engine === "edt") {
    if (fqAvailable === false) throw keyError(config, "engine", "edt needs the fq qdisc (CONFIG_NET_SCH_FQ), which this kernel lacks: use engine: userspace or engine: recirculate");
    return "edt";
  }
  if (!delays) return "none";
  if (fqAvailable === false) {
    const r = config.rules.find(needsDelay);
    throw keyError(config, "engine", `${r?.key ?? "a rule"} delays packets, which needs the fq qdisc (CONFIG_NET_SCH_FQ), missing in this kernel: set engine: userspace (a thread of this process holds them; accurate, cannot be pinned) or engine: recirculate (bounces packets between egress and ingress until due; for low rates)`);
  }
  return "edt";
}

/** Network-order address bytes as the host-order u32 words the BPF struct holds. */
function words(address: Uint8Array | undefined): number[] {
  const b = new Uint8Array(16);
  if (address) b.set(address);
  return [...new Uint32Array(b.buffer)];
}

const threshold = (percent: number): bigint => (percent >= 100 ? ALWAYS : BigInt(Math.round((percent / 100) * 2 ** 32)));
const ns = (ms: number): bigint => BigInt(Math.round(ms * 1e6));

/** A rule as the BPF program's struct rule. */
export function encodeRule(r: RuleConfig): Rule {
  const ge = r.loss.model === "gilbert-elliott" ? r.loss : undefined;
  return {
    action: ACTION_CODE[r.action],
    family: r.family === "ipv4" ? 4 : r.family === "ipv6" ? 6 : 0,
    protocol: r.protocol === "tcp" ? 6 : r.protocol === "udp" ? 17 : 0,
    loss_model: ge ? 1 : 0,
    src_len: r.src?.length ?? 0,
    dst_len: r.dst?.length ?? 0,
    keep_order: r.keepOrder ? 1 : 0,
    pad: 0,
    sport_lo: r.srcPorts?.lo ?? 0,
    sport_hi: r.srcPorts?.hi ?? 0xffff,
    dport_lo: r.dstPorts?.lo ?? 0,
    dport_hi: r.dstPorts?.hi ?? 0xffff,
    correlation_ppm: r.loss.model === "bernoulli" ? Math.round(r.loss.correlation * 10_000) : 0,
    src: words(r.src?.address),
    dst: words(r.dst?.address),
    select: threshold(r.percent),
    ge_p: threshold(ge?.p ?? 0),
    ge_r: threshold(ge?.r ?? 0),
    ge_loss_bad: threshold(ge?.lossInBad ?? 0),
    ge_loss_good: threshold(ge?.lossInGood ?? 0),
    duplicate: threshold(r.duplicate),
    corrupt: threshold(r.corrupt),
    min_delay_ns: ns(r.minDelayMs),
    max_delay_ns: ns(r.maxDelayMs),
    reorder_delay_ns: ns(r.reorderDelayMs),
    rate_bytes_per_sec: BigInt(r.rateBytesPerSecond),
  };
}

const EMPTY_RULE: Rule = encodeRule({
  key: "",
  action: "pass",
  percent: 0,
  protocol: "ip",
  minDelayMs: 0,
  maxDelayMs: 0,
  reorderDelayMs: 0,
  keepOrder: false,
  loss: { model: "bernoulli", correlation: 0 },
  duplicate: 0,
  corrupt: 0,
  rateBytesPerSecond: 0,
});

interface RuleMaps {
  readonly rules: BpfMap;
  readonly control: BpfMap;
  readonly counters: BpfMap;
  readonly state: BpfMap;
  readonly stats: BpfMap;
}

/**
 * Writes the rules to the idle half and makes it the active one (a packet sees the old rules or
 * the new ones); counters and per-rule state start again from zero, since rule numbers may now
 * mean other rules.
 */
export function applyRules(maps: RuleMaps, rules: readonly RuleConfig[]): void {
  if (rules.length > MAX_RULES) throw new RangeError(`${rules.length} rules: at most ${MAX_RULES}`);
  const zero = u32Key(0);
  const current = maps.control.lookup(zero);
  const active = current ? ControlCodec.decode(new DataView(current.buffer, current.byteOffset, current.byteLength)).active & 1 : 0;
  const idle = active ^ 1;
  const set: RuleSet = { count: rules.length, pad: 0, rules: Array.from({ length: MAX_RULES }, (_, i) => (rules[i] ? encodeRule(rules[i]) : EMPTY_RULE)) };
  const bytes = new Uint8Array(RuleSetCodec.size);
  RuleSetCodec.encode(set, bytes);
  maps.rules.update(u32Key(idle), bytes);
  // Per-CPU maps take every CPU's value at once (userValueSize covers them all).
  const counterZero = new Uint8Array(maps.counters.userValueSize);
  const stateZero = new Uint8Array(maps.state.userValueSize);
  for (let i = 0; i < MAX_RULES; i++) {
    maps.counters.update(u32Key(i), counterZero);
    maps.state.update(u32Key(i), stateZero);
  }
  const ctl = new Uint8Array(ControlCodec.size);
  ControlCodec.encode({ active: idle }, ctl);
  maps.control.update(zero, ctl);
}

/** The counters now, per rule. */
export function readStatus(maps: Pick<RuleMaps, "counters" | "stats">, config: { readonly outIf: string; readonly rules: readonly { readonly key: string; readonly description: string }[] }, engine: ResolvedEngine): JittergenStatus {
  const totals = sumPerCpu(maps.stats, u32Key(0), JgStatsCodec.size / 8);
  const [packets = 0n, laps = 0n, released = 0n, lateNs = 0n] = totals;
  const [handed = 0n, unheld = 0n, ringFull = 0n] = totals.slice(4 + HIST_BUCKETS);
  const rules = config.rules.map(({ key, description }, i): RuleStatus => {
    const v = sumPerCpu(maps.counters, u32Key(i), 9 + HIST_BUCKETS);
    const [matched = 0n, selected = 0n, dropped = 0n, delayed = 0n, reordered = 0n, duplicated = 0n, corrupted = 0n, overlimit = 0n, delayNs = 0n] = v;
    return { key, description, matched, selected, dropped, delayed, reordered, duplicated, corrupted, overlimit, meanDelayMs: delayed ? Number(delayNs / delayed) / 1e6 : 0, histogram: v.slice(9) };
  });
  return {
    outIf: config.outIf,
    engine,
    packets,
    laps,
    released,
    meanLateMs: released ? Number(lateNs / released) / 1e6 : 0,
    lateHistogram: totals.slice(4, 4 + HIST_BUCKETS),
    handed,
    unheld,
    ringFull,
    holding: 0n,
    flushed: 0n,
    sendErrors: 0n,
    rules,
  };
}

/** The status with the release thread's counters (userspace engine): released and lateness are measured there. */
export function withReleaseStats(s: JittergenStatus, r: runtime.ReleaseStats): JittergenStatus {
  const big = (v: number): bigint => BigInt(Math.round(v));
  return { ...s, released: big(r.released), meanLateMs: r.meanLateMs, lateHistogram: r.lateHistogram.map(big), holding: big(r.holding), flushed: big(r.flushed), sendErrors: big(r.sendErrors) };
}

function described(config: JittergenConfig): { outIf: string; rules: { key: string; description: string }[] } {
  return { outIf: config.outIf, rules: config.rules.map((r) => ({ key: r.key, description: describeRule(r) })) };
}

export const pinPath = (outIf: string): string => pinDirectory("jittergen", outIf);
/** Why --pin and the userspace engine do not go together. */
export const PIN_USERSPACE = "--pin: the userspace engine holds packets in this process, and nothing would send them after it exits: pin with engine: recirculate (or edt), or run without --pin";
export const PIN_ROOT = dirname(pinPath("lo"));
/** What a pinned instance runs (rules described, engine), for `status`: bpffs holds no regular files. */
export const pinInfoPath = (outIf: string): string => {
  if (!isInterfaceName(outIf)) throw new Error(`'${outIf}' is not an interface name`);
  return `${RECORD_DIR}/jittergen-pinned/${outIf}.json`;
};

export interface LoadedProgram {
  readonly loaded: Loaded;
  readonly collection: Collection;
}

/** Loads the program with its constants and the rules filled, attached nowhere (tests run it with BPF_PROG_TEST_RUN). */
export function loadProgram(config: JittergenConfig, engine: ResolvedEngine, ifindex: number): Loaded {
  const loaded = load({
    spec: readCollectionSpec(readFileSync(programObjectPath("jittergen"))),
    variables: { engine: ENGINE_CODE[engine], ifindex, recirc_mark: RECIRC_MARK, release_mark: RELEASE_MARK, horizon_ns: ns(config.horizonMs) },
  });
  try {
    applyRules(loaded.maps, config.rules);
    return loaded;
  } catch (e) {
    loaded.close();
    throw e;
  }
}

/** Removes a pinned instance's links, maps and description (its programs go with the links). */
function removePins(outIf: string): void {
  const dir = pinPath(outIf);
  for (const name of ["link-egress", "link-ingress", ...PINNED_MAPS]) rmSync(`${dir}/${name}`, { force: true });
  rmSync(pinInfoPath(outIf), { force: true });
  try {
    rmdirSync(dir);
    rmdirSync(PIN_ROOT);
  } catch {
    // not empty: another instance
  }
}

export class Jittergen {
  private attachments: runtime.TcAttachment[];
  private current: JittergenConfig;
  private stopped = false;
  private pinnedAt: string | undefined;
  private releaser: runtime.PacketReleaser | undefined;
  private released: runtime.ReleaseStats | undefined;

  private constructor(
    private readonly loaded: Loaded,
    attachments: runtime.TcAttachment[],
    config: JittergenConfig,
    readonly engine: ResolvedEngine,
    private readonly record: { path: string; data: RunRecord },
    /** What the start found of a crashed run and put back, if anything. */
    readonly recovered: string | undefined,
  ) {
    this.attachments = attachments;
    this.current = config;
  }

  /** Loads, configures, records, sets up the engine, attaches. Throws leaving nothing changed. */
  static start(config: JittergenConfig, options: StartOptions = {}): Jittergen {
    let index: number;
    try {
      index = runtime.ifindex(config.outIf);
    } catch (e) {
      throw keyError(config, "outIf", e instanceof Error ? e.message : String(e), e);
    }
    const engine = resolveEngine(config, options.fqAvailable ?? runtime.qdiscKindAvailable("fq"));
    if (options.pin && options.netlink) throw new Error("a netlink attachment cannot be pinned (pinning needs TCX links)");
    if (options.pin && engine === "userspace") throw new Error(PIN_USERSPACE);
    const recordDir = options.recordDir ?? RECORD_DIR;
    const recovered = recoverCrashedRun(config.outIf, recordDir);
    const loaded = loadProgram(config, engine, index);
    const path = recordPath(config.outIf, recordDir);
    const data: RunRecord = {
      pid: process.pid,
      ifname: config.outIf,
      ifindex: index,
      netns: netnsInode(),
      engine,
      hadClsact: runtime.qdiscDump(index).some((q) => q.kind === "clsact"),
      qdiscs: runtime.snapshotRootQdisc(index),
      pinned: false,
      config: config.source,
    };
    const attachments: runtime.TcAttachment[] = [];
    let started: Jittergen | undefined;
    let releaser: runtime.PacketReleaser | undefined;
    try {
      writeRecord(path, data);
      // The release thread runs before the program can hold anything.
      if (engine === "userspace") releaser = runtime.PacketReleaser.start({ ring: loaded.maps.held, ifindex: index, mark: RELEASE_MARK, what: `jittergen on ${config.outIf}` });
      if (engine === "edt") {
        runtime.replaceRootQdisc(index, "fq", runtime.fqOptions({ horizonUs: Math.ceil(config.horizonMs * 1000), flowLimit: config.flowLimit }));
      }
      const tc = options.netlink ? { netlink: true } : {};
      if (engine === "recirculate") attachments.push(runtime.attachTc(loaded.programs.jg_ingress, index, "ingress", tc));
      attachments.push(runtime.attachTc(loaded.programs.jg_egress, index, "egress", tc));
      started = new Jittergen(loaded, attachments, config, engine, { path, data }, recovered);
      started.releaser = releaser;
      if (options.pin) started.pin();
      return started;
    } catch (e) {
      if (started) started.stop();
      else {
        for (const a of attachments.reverse()) a.close();
        releaser?.stop();
        loaded.close();
        try {
          runtime.restoreRootQdisc(data.qdiscs);
        } finally {
          rmSync(path, { force: true });
        }
      }
      throw e;
    }
  }

  get config(): JittergenConfig {
    return this.current;
  }

  get pinned(): string | undefined {
    return this.pinnedAt;
  }

  /** How it is attached: tcx or netlink. */
  get via(): string {
    return this.attachments[this.attachments.length - 1]?.via ?? "detached";
  }

  /** New rules while running, without detaching. outIf, engine and horizonMs need a restart. */
  reload(config: JittergenConfig): void {
    if (this.stopped) throw new Error("jittergen is stopped");
    if (config.outIf !== this.current.outIf) throw new Error(`outIf changed (${this.current.outIf} → ${config.outIf}): restart to apply that (the rules were not changed either)`);
    if (config.horizonMs !== this.current.horizonMs || config.flowLimit !== this.current.flowLimit) throw new Error("horizonMs or flowLimit changed: restart to apply that (the rules were not changed either)");
    const engine = resolveEngine(config, this.engine === "edt" ? true : this.engine === "recirculate" ? undefined : runtime.qdiscKindAvailable("fq"));
    if (config.engine !== this.current.engine || (engine !== "none" && engine !== this.engine)) throw new Error(`the engine changed (${this.engine} → ${engine}): restart to apply that (the rules were not changed either)`);
    applyRules(this.loaded.maps, config.rules);
    this.current = config;
  }

  status(): JittergenStatus {
    const s = readStatus(this.loaded.maps, described(this.current), this.engine);
    return this.releaser ? withReleaseStats(s, this.releaser.stats()) : s;
  }

  /**
   * userspace engine: the release thread's counters — after stop, its final ones, `flushed`
   * counting the packets still held at stop (sent at once then, in departure order).
   */
  get releaseStats(): runtime.ReleaseStats | undefined {
    return this.released ?? this.releaser?.stats();
  }

  /** userspace engine: why the release thread ended, if it failed (held packets are no longer sent). */
  get releaseFailure(): Error | undefined {
    return this.releaser?.failure;
  }

  /** The loaded programs and maps (tests). */
  get programs(): Loaded["programs"] {
    return this.loaded.programs;
  }

  /** Pins the links and maps: it keeps running after this process exits ('--unpin' removes it). */
  pin(): string {
    if (this.releaser) throw new Error(PIN_USERSPACE);
    const dir = pinPath(this.current.outIf);
    if (this.attachments.some((a) => !a.pin)) throw new Error("attached with netlink: cannot be pinned");
    const info = pinInfoPath(this.current.outIf);
    mkdirSync(dirname(info), { recursive: true });
    writeFileSync(info, JSON.stringify({ ...described(this.current), engine: this.engine }));
    mkdirSync(dir, { recursive: true });
    try {
      for (const name of PINNED_MAPS) this.loaded.maps[name].pin(`${dir}/${name}`);
      for (const a of this.attachments) a.pin?.(`${dir}/link-${a.direction}`);
      writeRecord(this.record.path, { ...this.record.data, pinned: true, pid: 0 });
    } catch (e) {
      removePins(this.current.outIf);
      throw e;
    }
    this.pinnedAt = dir;
    return dir;
  }

  /** Detaches (unless pinned), restores the qdiscs, removes the record, releases every fd. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      if (!this.pinnedAt) {
        // Egress first: packets still circulating go out when the ingress program meets them.
        for (const a of [...this.attachments].reverse()) a.close();
        // Nothing is held any more; the release thread sends what it holds at once and ends.
        if (this.releaser) this.released = this.releaser.stop();
        try {
          runtime.restoreRootQdisc(this.record.data.qdiscs);
        } finally {
          rmSync(this.record.path, { force: true });
        }
      } else {
        for (const a of this.attachments) a.close();
      }
    } finally {
      this.attachments = [];
      this.loaded.close();
    }
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  /** Removes a pinned instance: detaches it, restores the qdiscs its record names. False when there was none. */
  static unpin(outIf: string, recordDir = RECORD_DIR): boolean {
    if (!existsSync(pinPath(outIf))) return false;
    removePins(outIf);
    const path = recordPath(outIf, recordDir);
    const r = readRecord(path);
    if (r) {
      try {
        if (runtime.ifindex(outIf) === r.ifindex) runtime.restoreRootQdisc(r.qdiscs);
      } finally {
        rmSync(path, { force: true });
      }
    }
    return true;
  }

  static pinnedInterfaces(): string[] {
    if (!existsSync(PIN_ROOT)) return [];
    return readdirSync(PIN_ROOT).filter((n) => isInterfaceName(n) && existsSync(pinInfoPath(n))).sort();
  }

  /** The counters of a pinned instance. */
  static pinnedStatus(outIf: string): JittergenStatus {
    const dir = pinPath(outIf);
    if (!existsSync(`${dir}/counters`) || !existsSync(pinInfoPath(outIf))) throw new Error(`no jittergen pinned on ${outIf} (nothing at ${dir})`);
    const saved = JSON.parse(readFileSync(pinInfoPath(outIf), "utf8")) as ReturnType<typeof described> & { engine: ResolvedEngine };
    using counters = BpfMap.fromPin(`${dir}/counters`);
    using stats = BpfMap.fromPin(`${dir}/stats`);
    return readStatus({ counters, stats }, saved, saved.engine);
  }
}

