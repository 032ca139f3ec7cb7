/** `tsebpf comtrace`: trace TCP connection lifetimes for a while, stream them, write the report file on exit. */
import { writeSync } from "node:fs";
import { Command, Option } from "commander";
import type { Output } from "../../cli/io.js";
import { runUntilStopped } from "../common/run.js";
import { DEFAULT_DURATION, DEFAULT_REPORT, DEFAULT_RING_KB, closeReport, openReport, parseTraceFlags, type CliFlags, type ParsedFlags } from "./config.js";
import { csvHeader, csvLine, formatConnection, formatHeader, jsonLine, summaryJson, summaryText, type Columns } from "./format.js";
import { ComTrace, requireTracingCapabilities, type Connection } from "./index.js";
import { metricsAddress, metricsOption, serveMetrics } from "../common/metrics-cli.js";
import { ConnectionTotals, comtraceMetrics } from "./metrics.js";

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * Lines to stdout and to the report file. Lines are gathered while a drain of the event buffer
 * runs and written with one `write` when it ends (a microtask: the drain is synchronous), so a
 * busy trace makes one stdout write per wake-up, not one per connection; the report file gets
 * the same text in larger batches, and everything by the time `close` returns.
 */
class Sink {
  private batch = "";
  private scheduled = false;
  private report = "";
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly io: Output,
    private readonly fd: number,
  ) {}

  line(text: string): void {
    this.batch += `${text}\n`;
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.emit);
    }
  }

  /** The lines gathered so far to stdout (one write) and to the report's batch. */
  private readonly emit = (): void => {
    this.scheduled = false;
    const text = this.batch;
    if (text === "") return;
    this.batch = "";
    this.io.out(text);
    this.report += text;
    if (this.report.length >= 1 << 16) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), 200);
  };

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.report === "") return;
    const bytes = Buffer.from(this.report);
    this.report = "";
    for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off);
  }

  close(): void {
    try {
      this.emit();
      this.flush();
    } finally {
      closeReport(this.fd);
    }
  }
}

function describeFilters(p: ParsedFlags): string {
  const t = p.trace;
  const parts = [
    t.family ? `IPv${t.family} only` : "",
    t.pids.length ? `pid ${t.pids.join(",")}` : "",
    t.comms.length ? `comm ${t.comms.join(",")}` : "",
    t.lports.length ? `lport ${t.lports.join(",")}` : "",
    t.rports.length ? `rport ${t.rports.join(",")}` : "",
    t.minMs ? `at least ${t.minMs} ms` : "",
  ].filter(Boolean);
  return parts.length ? `; filters: ${parts.join(", ")}` : "";
}

/** Runs a trace as the command does; resolves when it stopped (duration, SIGINT, SIGTERM or `signal`). */
export async function runComtrace(flags: CliFlags & { readonly metrics?: string }, io: Output, signal?: AbortSignal): Promise<void> {
  const p = parseTraceFlags(flags);
  const metricsAt = metricsAddress(flags.metrics);
  // A missing capability is one line naming it, before the report file is touched.
  requireTracingCapabilities();
  let trace: ComTrace | undefined;
  const totals = new ConnectionTotals();
  const metrics = metricsAt ? await serveMetrics(metricsAt, () => (trace ? comtraceMetrics(trace.counters(), totals) : undefined), (line) => io.err(`${line}\n`)) : undefined;
  let fd: number;
  try {
    // The report path is checked (and truncated) before anything is loaded.
    fd = openReport(p.reportPath);
  } catch (e) {
    await metrics?.close();
    throw e;
  }
  const sink = new Sink(io, fd);
  try {
    trace = ComTrace.start({ ...p.trace, engine: p.engine, output: p.events, bufferBytes: p.bufferBytes });
    const columns: Columns = { bytes: p.bytes, time: p.time, extended: p.extended, wide: p.trace.family === 6 };
    const show = p.format === "json" ? (c: Connection) => jsonLine(c) : p.format === "csv" ? (c: Connection) => csvLine(c, columns) : (c: Connection) => formatConnection(c, columns);
    // On stderr, not a caption of the output: says tracing has begun (what the engine is).
    const how = `${trace.engine === "sk_storage" ? "socket storage" : "hash by socket"}, ${trace.output === "ringbuf" ? "ring buffer" : "perf buffer"}${trace.tracksAccept ? "" : ", accept() not traced"}`;
    io.err(`Tracing TCP connections ${p.durationMs ? `for ${p.durationMs / 1000} s` : "until Ctrl+C"} (Ctrl+C or SIGTERM stops; report: ${p.reportPath}) [${how}${describeFilters(p)}]\n`);
    if (p.captions) {
      if (p.format === "text") sink.line(formatHeader(columns));
      if (p.format === "csv") sink.line(csvHeader(columns));
    }
    let shown = 0;
    const onConnection = (c: Connection) => {
      shown++;
      totals.add(c);
      sink.line(show(c));
    };
    const stop = new AbortController();
    const timer = p.durationMs > 0 ? setTimeout(() => stop.abort(), p.durationMs) : undefined;
    const onOuter = () => stop.abort();
    signal?.addEventListener("abort", onOuter);
    const running = trace;
    let why: string;
    try {
      const stoppedBy = await runUntilStopped({
        intervalMs: 0,
        signal: stop.signal,
        background: (s) =>
          running.read(onConnection, { signal: s }).catch((e: unknown) => {
            io.err(`tsebpf: comtrace: reading events stopped: ${e instanceof Error ? e.message : String(e)}\n`);
          }),
      });
      why = stoppedBy === "abort" ? (signal?.aborted ? "abort" : "duration") : stoppedBy;
    } finally {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onOuter);
    }
    // No more events once detached: what is in the buffer is the rest.
    trace.detach();
    trace.flush(onConnection);
    const k = trace.counters();
    if (p.format === "json") sink.line(summaryJson(k, shown, why));
    else if (p.captions && p.format === "text") sink.line(`# ${summaryText(k, shown)}`);
    else io.err(`comtrace: ${summaryText(k, shown)}\n`);
  } finally {
    try {
      sink.close();
    } finally {
      await metrics?.close();
      trace?.close();
    }
  }
}

export function registerComtrace(program: Command, io: Output): void {
  program
    .command("comtrace")
    .description("trace TCP connection lifetimes (sock:inet_sock_set_state): owner, addresses, bytes and duration of each connection as it closes")
    .option("-d, --duration <time>", "how long to trace: 30 (seconds), 30s, 2m, 1h; 0: until Ctrl+C", DEFAULT_DURATION)
    .option("-o, --output <file>", "report file, written (truncated) with what stdout shows; always, also on Ctrl+C and SIGTERM", DEFAULT_REPORT)
    .option("-c, --no-caption", "no caption lines (the header and the closing summary)")
    .option("-T, --time", "a TIME column: the wall-clock time of the close (HH:MM:SS)")
    .option("--bytes", "exact byte counts of the application's data (TX_BYTES RX_BYTES) instead of the kernel's counts in KiB")
    .option("--extended", "also SRTT_US (smoothed RTT), RETRANS (retransmitted segments) and CLOSE (FIN, RST_SENT, RST_RECV, TIMEOUT, ERROR); '-' where the kernel lacks the field")
    .option("--json", "one JSON object per connection (every field), then a summary object with the lost count")
    .option("--csv", "CSV: a header (a caption), then one record per connection")
    .option("--pid <pids>", "only connections owned by these processes (comma-separated or repeated)", collect)
    .option("--comm <names>", "only connections owned by processes with these command names (comma-separated or repeated)", collect)
    .option("--lport <ports>", "only these local ports (comma-separated or repeated)", collect)
    .option("--rport <ports>", "only these remote ports (comma-separated or repeated)", collect)
    .option("-4, --ipv4", "only IPv4 connections (IPv4-mapped IPv6 ones included)")
    .option("-6, --ipv6", "only IPv6 connections")
    .option("--min-ms <ms>", "only connections that lived at least this many milliseconds")
    .addOption(new Option("--engine <engine>", "per-socket state: sk_storage (socket-local storage, tp_btf), hash (keyed by the socket's address, plain tracepoint) or auto").default("auto"))
    .addOption(new Option("--events <kind>", "event transport: ringbuf, perf (perf event array) or auto (the ring buffer where the kernel has one)").default("auto"))
    .option("--ring-size <KiB>", "event buffer size in KiB, a power of two", String(DEFAULT_RING_KB))
    .addOption(metricsOption())
    .addHelpText(
      "after",
      `
Each TCP connection (IPv4 and IPv6, both sides of it) is one line when it closes:
  PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS
the bcc tcplife layout. The owner (PID, COMM) is the process that connect()ed, the one accept()
returned the socket to, or (for connections whose open was not seen) the one that closed it —
recorded in process context, never the task a softirq interrupted. TX_KB/RX_KB are the kernel's
counts (bytes_acked, bytes_received, which include the SYN and FIN); --bytes shows the
application's exact bytes. MS runs from the first SYN to the close. Connections already open when
the trace starts are not reported (their start is unknown); the closing summary counts them.

Filters run in the kernel; the summary says how many connections they dropped and how many events
were lost (no room in the buffer: raise --ring-size). With --json the summary is the last line.

Lines stream to stdout as connections close; the report file (-o, default ${DEFAULT_REPORT}) gets the same
lines and is complete when comtrace exits: after -d, on Ctrl+C (SIGINT) or SIGTERM. An unwritable
report path is refused before anything is loaded.

--metrics ADDR:PORT serves, while it traces, tsebpf_comtrace_connections_total{outcome}
(reported, filtered, lost, untracked), tsebpf_comtrace_connection_duration_seconds (a histogram
of the reported connections' lifetimes), tsebpf_comtrace_bytes_total{direction} (sent,
received), tsebpf_events_lost_total{program} and tsebpf_build_info. comtrace is never pinned:
there is no status --metrics.

Needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN; root has them): without them it says which is
missing and loads nothing. No kprobes or fentry: the sock:inet_sock_set_state tracepoint
(tp_btf with socket storage, or the plain tracepoint with a hash) and the accept syscalls' exit
tracepoints.

Examples:
  tsebpf comtrace                         # 30 s, report in ./tcp_trace.log
  tsebpf comtrace -d 2m -o /tmp/tcp.log -T
  tsebpf comtrace -d 0 --lport 80,443 --bytes --extended   # until Ctrl+C
  tsebpf comtrace --comm curl -6 --json
  tsebpf comtrace -c --csv -o conns.csv --min-ms 100
  tsebpf comtrace -d 0 -o /dev/null --metrics 127.0.0.1:9103   # for Prometheus`,
    )
    .action(async (opts: CliFlags) => {
      await runComtrace(opts, io);
    });
}
