/**
 * comtrace as a library: TCP connection lifetimes from the `sock:inet_sock_set_state`
 * tracepoint. `ComTrace.start(options)` loads the program, fills the filter maps, and only then
 * attaches it; `read(callback)` calls back with one `Connection` per connection that closes.
 *
 * Engines (how per-socket state is kept in the kernel):
 * - `sk_storage`: socket-local storage from a tp_btf program (the tracepoint's typed `struct
 *   sock *`); freed with the socket. Linux 5.11 (sk_storage from tracing programs).
 * - `hash`: an LRU hash keyed by the socket's address, from the plain tracepoint program.
 * `auto` takes the first this kernel loads. Events go through a BPF ring buffer (Linux 5.8),
 * or a perf event array where the kernel has no ring buffer.
 */
import { availableParallelism } from "node:os";
import { readFileSync } from "node:fs";
import { NotSupportedError, abi, readCollectionSpec, runtime, type CollectionSpec, type Program } from "../../index.js";
import { formatIPv6 } from "../../format.js";
import { programObjectPath } from "../common/run.js";
import { requireCapabilities } from "../common/capabilities.js";
import { checkTraceOptions, type TraceOptions } from "./config.js";
import { CloseReason, ConnEventView, ConnFlags, OwnerSource, StatIndex, load, type ConnEvent, type Loaded, type ProgramName } from "./comtrace.gen.js";

export { parseDuration, parseTraceFlags, type TraceOptions, type CliFlags, type ParsedFlags } from "./config.js";
export { formatConnection, formatHeader, csvHeader, csvLine, jsonLine, summaryText, summaryJson, type Columns } from "./format.js";

export type Engine = "sk_storage" | "hash";
export type EventOutput = "ringbuf" | "perf";
export const ENGINES: readonly (Engine | "auto")[] = ["auto", "sk_storage", "hash"];
export const OUTPUTS: readonly (EventOutput | "auto")[] = ["auto", "ringbuf", "perf"];

/** Who the owner (pid, comm) was learnt from. */
export type Owner = "connect" | "accept" | "close" | "unknown";
/** Why the connection closed: its FIN handshake, an RST it sent (abort) or received, a timeout, another error. */
export type Reason = "FIN" | "RST_SENT" | "RST_RECV" | "TIMEOUT" | "ERROR";

/** One TCP connection, reported when it closed. */
export interface Connection {
  /** The owning process (0 and "" when no process context was seen: owner "unknown"). */
  readonly pid: number;
  readonly comm: string;
  readonly owner: Owner;
  /** IPv4-mapped IPv6 connections are IPv4. */
  readonly family: "ipv4" | "ipv6";
  readonly laddr: string;
  readonly lport: number;
  readonly raddr: string;
  readonly rport: number;
  /** The kernel's counts (tcp_sock bytes_acked / bytes_received): the SYN and FIN are in them; undefined where its BTF lacks them. */
  readonly txRaw: number | undefined;
  readonly rxRaw: number | undefined;
  /** The application's bytes: sent and acknowledged, received. */
  readonly txBytes: number | undefined;
  readonly rxBytes: number | undefined;
  /** CLOCK_MONOTONIC ns: first seen opening (SYN_SENT, SYN_RECV) and closed. */
  readonly startNs: bigint;
  readonly endNs: bigint;
  /** Lifetime in milliseconds. */
  readonly ms: number;
  /** Wall-clock time of the close (ms since the epoch). */
  readonly closedAt: number;
  /** Smoothed RTT (µs), retransmitted segments, close reason, sk_err: undefined where the kernel's BTF lacks the field. */
  readonly srttUs: number | undefined;
  readonly retransmits: number | undefined;
  readonly reason: Reason | undefined;
  readonly error: number | undefined;
  /** The TCP state it closed from (FIN_WAIT2, LAST_ACK, ESTABLISHED …). */
  readonly closedFrom: string;
}

/** Every closed connection that comtrace saw open is reported, filtered or lost. */
export interface Counters {
  /** Sent to user space. */
  readonly reported: number;
  /** Dropped by the in-kernel filters. */
  readonly filtered: number;
  /** The event buffer had no room. */
  readonly lost: number;
  /** Closed without having been seen opening (opened before comtrace started): not reported. */
  readonly untracked: number;
}

const STATES = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"];
const OWNERS: Record<number, Owner> = { [OwnerSource.OWNER_CONNECT]: "connect", [OwnerSource.OWNER_ACCEPT]: "accept", [OwnerSource.OWNER_CLOSE]: "close" };
const REASONS: Record<number, Reason> = {
  [CloseReason.REASON_FIN]: "FIN",
  [CloseReason.REASON_RST_SENT]: "RST_SENT",
  [CloseReason.REASON_RST_RECEIVED]: "RST_RECV",
  [CloseReason.REASON_TIMEOUT]: "TIMEOUT",
  [CloseReason.REASON_ERROR]: "ERROR",
};

/** The members of a struct conn_event a Connection is made of: the decoded object or its view. */
export type ConnEventFields = Readonly<Omit<ConnEvent, "pad">>;

/**
 * A record as a Connection. `clockOffsetNs` turns CLOCK_MONOTONIC into wall-clock ns (wall −
 * monotonic, taken at start).
 */
export function toConnection(e: ConnEventFields, clockOffsetNs: bigint): Connection {
  // Read once per record, each getter of a view once (a view re-reads its memory every time).
  const flags = e.flags;
  const v4 = e.family === 4;
  const bytes = (flags & ConnFlags.FLAG_HAVE_BYTES) !== 0;
  const txRaw = bytes ? Number(e.bytes_acked) : undefined;
  const rxRaw = bytes ? Number(e.bytes_received) : undefined;
  // bytes_acked counts our SYN once the handshake completed (active side) and our FIN once
  // acknowledged; bytes_received counts the peer's FIN: the application's bytes are the rest.
  const synAcked = (flags & (ConnFlags.FLAG_ACTIVE | ConnFlags.FLAG_ESTABLISHED)) === (ConnFlags.FLAG_ACTIVE | ConnFlags.FLAG_ESTABLISHED) ? 1 : 0;
  const finAcked = (flags & ConnFlags.FLAG_FIN_ACKED) !== 0 ? 1 : 0;
  const finReceived = (flags & ConnFlags.FLAG_FIN_RECEIVED) !== 0 ? 1 : 0;
  const haveReason = (flags & ConnFlags.FLAG_HAVE_REASON) !== 0;
  const startNs = e.start_ns;
  const endNs = e.end_ns;
  return {
    pid: e.pid,
    comm: e.comm,
    owner: OWNERS[e.owner] ?? "unknown",
    family: v4 ? "ipv4" : "ipv6",
    laddr: address(e.laddr, v4),
    lport: e.lport,
    raddr: address(e.raddr, v4),
    rport: e.rport,
    txRaw,
    rxRaw,
    txBytes: txRaw === undefined ? undefined : Math.max(0, txRaw - synAcked - finAcked),
    rxBytes: rxRaw === undefined ? undefined : Math.max(0, rxRaw - finReceived),
    startNs,
    endNs,
    ms: Number(endNs - startNs) / 1e6,
    closedAt: Number((endNs + clockOffsetNs) / 1_000_000n),
    srttUs: (flags & ConnFlags.FLAG_HAVE_SRTT) !== 0 ? e.srtt_us : undefined,
    retransmits: (flags & ConnFlags.FLAG_HAVE_RETRANS) !== 0 ? e.retrans : undefined,
    reason: haveReason ? REASONS[e.reason] : undefined,
    error: haveReason ? e.sk_err : undefined,
    closedFrom: STATES[e.oldstate] ?? String(e.oldstate),
  };
}

/** An address field (IPv4 in its first 4 bytes) as text; IPv4 without going through a copy. */
function address(b: Uint8Array, v4: boolean): string {
  return v4 ? `${b[0] ?? 0}.${b[1] ?? 0}.${b[2] ?? 0}.${b[3] ?? 0}` : formatIPv6(b);
}

/** wall-clock ns − CLOCK_MONOTONIC ns, now (process.hrtime is CLOCK_MONOTONIC, as bpf_ktime_get_ns). */
export function clockOffset(): bigint {
  const before = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * 1_000_000n;
  return wall - before;
}

const SOCK_PROGRAM: Record<Engine, ProgramName> = { sk_storage: "comtrace_btf", hash: "comtrace_tp" };
const ACCEPT_PROGRAMS = [
  ["comtrace_accept4", "sys_exit_accept4"],
  ["comtrace_accept", "sys_exit_accept"],
] as const;
/** Records of 112 bytes: a 1 MiB ring holds ~8,700 of them. */
export const DEFAULT_RING_BYTES = 1 << 20;
/**
 * The ring buffer wakes the reader at most once per this many ms (and whenever a quarter of the
 * ring is waiting); the reader also drains on its own every 2 × this while records come in.
 * So a line waits at most ~2 × this long, and a busy machine pays ~100 wake-ups a second
 * instead of one per connection.
 */
export const DEFAULT_WAKEUP_MS = 10;

export interface StartOptions extends TraceOptions {
  /** How per-socket state is kept (default auto: sk_storage where the kernel loads it, else hash). */
  readonly engine?: Engine | "auto";
  /** Ring buffer or perf event array (default auto: the ring buffer where the kernel has one). */
  readonly output?: EventOutput | "auto";
  /** Ring buffer bytes (a power of two, at least a page), or perf pages per CPU × page size. */
  readonly bufferBytes?: number;
  /**
   * Ring buffer: wake the reader at most once per this many milliseconds (plus when a quarter
   * of the ring is waiting); records in between are read within 2 × this. 0: a wake-up per
   * record (the kernel's default). Default DEFAULT_WAKEUP_MS. The perf array wakes per record.
   */
  readonly wakeupMs?: number;
}

export class ComTrace {
  private links: runtime.Attachment[] = [];
  private reader: runtime.EventReader | undefined;
  private closed = false;
  /** wall − monotonic ns at start. */
  readonly clockOffsetNs = clockOffset();

  private constructor(
    private readonly loaded: Loaded<ProgramName>,
    /** The engine that runs. */
    readonly engine: Engine,
    /** Where events go. */
    readonly output: EventOutput,
    /** Whether accept() is traced (the owner of passive connections); false where syscall tracepoints are missing. */
    readonly tracksAccept: boolean,
    links: runtime.Attachment[],
    /** Bytes of the event buffer (the ring; per CPU for perf). */
    private readonly bufferBytes: number,
    /** The wake-up interval (ms; 0: per record). */
    readonly wakeupMs: number,
  ) {
    this.links = links;
  }

  /** Loads, configures the filters, attaches. Throws, leaving nothing behind, when a step fails. */
  static start(options: StartOptions = {}): ComTrace {
    const trace = checkTraceOptions(options);
    const wakeupMs = checkWakeup(options.wakeupMs ?? DEFAULT_WAKEUP_MS);
    requireTracingCapabilities();
    const output = chooseOutput(options.output ?? "auto");
    const engines: Engine[] = options.engine === undefined || options.engine === "auto" ? autoEngines() : [options.engine];
    let loaded: Loaded<ProgramName> | undefined;
    let engine: Engine | undefined;
    const failures: string[] = [];
    for (const candidate of engines) {
      try {
        loaded = loadEngine(candidate, output, trace, options.bufferBytes, wakeupMs);
        engine = candidate;
        break;
      } catch (e) {
        if (engines.length === 1) throw e;
        failures.push(`${candidate}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
      }
    }
    if (!loaded || !engine) throw new Error(`comtrace: no engine loads on this kernel (${failures.join("; ")})`);
    const links: runtime.Attachment[] = [];
    try {
      fillFilters(loaded, trace);
      // Owners of passive connections first: a connection accepted while the rest attaches is known.
      let tracksAccept = true;
      for (const [name, event] of ACCEPT_PROGRAMS) {
        try {
          links.push(runtime.attachTracepoint(program(loaded, name), "syscalls", event));
        } catch {
          tracksAccept = false; // no syscall tracepoints: passive connections get the closer as owner
        }
      }
      const main = program(loaded, SOCK_PROGRAM[engine]);
      links.push(engine === "sk_storage" ? runtime.attachTracing(main, abi.AttachType.TRACE_RAW_TP, "inet_sock_set_state") : runtime.attachTracepoint(main, "sock", "inet_sock_set_state"));
      return new ComTrace(loaded, engine, output, tracksAccept, links, options.bufferBytes ?? DEFAULT_RING_BYTES, output === "ringbuf" ? wakeupMs : 0);
    } catch (e) {
      for (const l of links.reverse()) l.close();
      loaded.close();
      throw e;
    }
  }

  private eventReader(): runtime.EventReader {
    if (this.closed) throw new Error("comtrace: closed");
    this.reader ??= this.output === "ringbuf" ? new runtime.RingBufferReader(this.loaded.maps.events) : new runtime.PerfEventReader(this.loaded.maps.events_perf, { pages: perfPages(this.bufferBytes) });
    return this.reader;
  }

  /**
   * Calls `callback` with each connection as it closes, until `signal` aborts; resolves with how
   * many there were. Waiting does not block the event loop.
   */
  async read(callback: (c: Connection) => void, options: { readonly signal?: AbortSignal } = {}): Promise<number> {
    const offset = this.clockOffsetNs;
    const reader = this.eventReader();
    // Each record read in place through one view (the generated ConnEventView): only the Connection is made.
    if (this.wakeupMs === 0) return reader.on((e: ConnEventView) => callback(toConnection(e, offset)), { view: ConnEventView, ...(options.signal ? { signal: options.signal } : {}) });
    // The kernel wakes us at most once per wakeupMs: records that came in after a wake-up are
    // drained by a timer, armed whenever a drain found records and kept going while they come.
    const period = 2 * this.wakeupMs;
    const stop = new AbortController();
    const outer = options.signal;
    const onOuter = () => stop.abort();
    if (outer?.aborted) stop.abort();
    else outer?.addEventListener("abort", onOuter);
    let timer: NodeJS.Timeout | undefined;
    let failure: { error: unknown } | undefined;
    let drained = 0;
    let lastRecordAt = 0;
    const tick = () => {
      timer = undefined;
      try {
        drained += reader.consume(each, { view: ConnEventView });
      } catch (e) {
        failure = { error: e };
        stop.abort();
        return;
      }
      // A record committed without a wake-up follows a woken one by less than wakeupMs, and the
      // woken one was handled here: keep ticking until `period` has passed since the last record
      // handled, even when this tick found nothing (a later record may still be on its way).
      const since = Date.now() - lastRecordAt;
      if (!timer && since < period) timer = setTimeout(tick, period - since);
    };
    const each = (e: ConnEventView) => {
      lastRecordAt = Date.now();
      timer ??= setTimeout(tick, period);
      callback(toConnection(e, offset));
    };
    try {
      const n = await reader.on(each, { view: ConnEventView, signal: stop.signal });
      if (failure) throw failure.error;
      return n + drained;
    } finally {
      if (timer) clearTimeout(timer);
      outer?.removeEventListener("abort", onOuter);
    }
  }

  /** The connections waiting in the buffer now (after `detach`: the last ones). Returns how many. */
  flush(callback: (c: Connection) => void): number {
    const offset = this.clockOffsetNs;
    return this.eventReader().consume((e: ConnEventView) => callback(toConnection(e, offset)), { view: ConnEventView });
  }

  /** Stops tracing (no more events); the counters and the buffer stay readable until close(). */
  detach(): void {
    const links = this.links;
    this.links = [];
    for (const l of links.reverse()) l.close();
  }

  /** The counters now, summed over the CPUs. */
  counters(): Counters {
    const stats = this.loaded.typedMaps.stats;
    const sum = (i: number) => Number((stats.getPerCpu(i) ?? []).reduce((a, b) => a + b, 0n));
    return { reported: sum(StatIndex.STAT_REPORTED), filtered: sum(StatIndex.STAT_FILTERED), lost: sum(StatIndex.STAT_LOST), untracked: sum(StatIndex.STAT_UNTRACKED) };
  }

  /** The programs loaded (ids for bpftool, bpf_stats). */
  get programs(): readonly Program[] {
    return [...this.loaded.collection.programs.values()];
  }

  /** Detaches and releases everything. Idempotent. */
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
}

function program(loaded: Loaded<ProgramName>, name: ProgramName): Program {
  const p = loaded.collection.programs.get(name);
  if (!p) throw new Error(`comtrace: program ${name} is not loaded`);
  return p;
}

/** sk_storage where the kernel has the map type, then the hash. */
function autoEngines(): Engine[] {
  return runtime.probeMapType("SK_STORAGE").supported ? ["sk_storage", "hash"] : ["hash"];
}

function chooseOutput(wanted: EventOutput | "auto"): EventOutput {
  const ring = runtime.probeMapType("RINGBUF");
  if (wanted === "auto") return ring.supported ? "ringbuf" : "perf";
  if (wanted === "ringbuf" && !ring.supported) throw new NotSupportedError("BPF ring buffers", "5.8", "use --output perf");
  return wanted;
}

/** Perf pages per CPU for about `bytes` over all CPUs (a power of two, at least 2). */
function perfPages(bytes: number): number {
  const pages = Math.max(2, Math.ceil(bytes / 4096 / Math.max(1, availableParallelism())));
  return 2 ** Math.ceil(Math.log2(pages));
}

/** A map the loaded programs never use, made as small as the kernel allows (its type may be one the kernel lacks). */
function placeholder(spec: CollectionSpec, name: string): void {
  const m = spec.maps.get(name);
  if (!m) return;
  spec.maps.set(name, { ...m, type: abi.MapType.ARRAY, typeName: "array", keySize: 4, valueSize: Math.max(4, m.valueSize), maxEntries: 1, flags: 0, keyType: undefined, valueType: undefined });
}

function loadEngine(engine: Engine, output: EventOutput, trace: ReturnType<typeof checkTraceOptions>, bufferBytes = DEFAULT_RING_BYTES, wakeupMs = DEFAULT_WAKEUP_MS): Loaded<ProgramName> {
  // The committed object by its place in the package (dist/ holds no copy of it).
  const base = readCollectionSpec(readFileSync(programObjectPath("comtrace")));
  const spec: CollectionSpec = { ...base, maps: new Map(base.maps) };
  if (engine === "hash") placeholder(spec, "sk_state");
  if (output === "perf") placeholder(spec, "events");
  // The unused state table is kept tiny (LRU hashes preallocate).
  const maxEntries: Partial<Record<"sock_states" | "events", number>> = { sock_states: engine === "hash" ? 65536 : 64 };
  if (output === "ringbuf") maxEntries.events = checkRingBytes(bufferBytes);
  const ringWakeup = output === "ringbuf" && wakeupMs > 0;
  return load<ProgramName>({
    spec,
    programs: [SOCK_PROGRAM[engine], "comtrace_accept4", "comtrace_accept"],
    maxEntries,
    variables: {
      use_ringbuf: output === "ringbuf" ? 1 : 0,
      family_filter: trace.family === 4 ? 2 : trace.family === 6 ? 10 : 0,
      filter_lport: trace.lports.length ? 1 : 0,
      filter_rport: trace.rports.length ? 1 : 0,
      filter_pid: trace.pids.length ? 1 : 0,
      filter_comm: trace.comms.length ? 1 : 0,
      min_ns: BigInt(Math.round(trace.minMs * 1e6)),
      wakeup_ns: ringWakeup ? BigInt(Math.round(wakeupMs * 1e6)) : 0n,
      wakeup_bytes: ringWakeup ? BigInt(bufferBytes / 4) : 0n,
    },
  });
}

function checkWakeup(ms: number): number {
  if (!(typeof ms === "number" && Number.isFinite(ms) && ms >= 0 && ms <= 1000)) throw new RangeError(`wakeupMs: ${String(ms)} is not a number of milliseconds from 0 to 1000`);
  return ms;
}

function checkRingBytes(n: number): number {
  if (!Number.isInteger(n) || n < 4096 || (n & (n - 1)) !== 0) throw new RangeError(`bufferBytes: ${n} is not a power of two of at least 4096`);
  return n;
}

function fillFilters(loaded: Loaded<ProgramName>, trace: ReturnType<typeof checkTraceOptions>): void {
  const m = loaded.typedMaps;
  for (const p of trace.lports) m.lports.set(p, 1);
  for (const p of trace.rports) m.rports.set(p, 1);
  for (const p of trace.pids) m.pids.set(p, 1);
  for (const c of trace.comms) m.comms.set({ comm: c }, 1);
}

/** Throws, naming the capability, when this process cannot load and attach comtrace (checked before anything is loaded). */
export function requireTracingCapabilities(effective?: bigint): void {
  requireCapabilities("comtrace", ["CAP_BPF", "CAP_PERFMON"], "tracing TCP state changes", ...(effective === undefined ? [] : [effective]));
}

/** The object's path (for tools that want to inspect it). */
export const objectPath = (): string => programObjectPath("comtrace");
