/**
 * comtrace's options: the original flags (-d duration, -o report file, -c no captions) and the
 * filters, parsed from command-line text into checked values. Every rejection is one line naming
 * the flag and the value, before anything is loaded.
 */
import { closeSync, openSync, statSync } from "node:fs";
import { TsebpfError } from "../../errors.js";

/** What the in-kernel filters keep (every list empty: everything). */
export interface TraceOptions {
  /** Only IPv4 (4) or only IPv6 (6) connections. */
  readonly family?: 4 | 6;
  /** Local ports (any of them). */
  readonly lports?: readonly number[];
  /** Remote ports. */
  readonly rports?: readonly number[];
  /** Owning process ids. */
  readonly pids?: readonly number[];
  /** Owning processes' command names (up to 15 bytes, as the kernel keeps them). */
  readonly comms?: readonly string[];
  /** Connections shorter than this many milliseconds are dropped. */
  readonly minMs?: number;
}

/** Filter capacities (the BPF maps' sizes). */
export const MAX_PORTS = 1024;
export const MAX_PIDS = 1024;
export const MAX_COMMS = 256;
/** The kernel's TASK_COMM_LEN − 1. */
export const COMM_BYTES = 15;

export class OptionError extends TsebpfError {
  override readonly name = "OptionError";
}

/** The options checked and complete (what the loader uses). */
export interface CheckedTrace {
  readonly family: 4 | 6 | undefined;
  readonly lports: readonly number[];
  readonly rports: readonly number[];
  readonly pids: readonly number[];
  readonly comms: readonly string[];
  readonly minMs: number;
}

function checkList<T>(name: string, list: readonly T[] | undefined, max: number, check: (v: T) => boolean, what: string): T[] {
  const out = [...new Set(list ?? [])];
  if (out.length > max) throw new OptionError(`${name}: ${out.length} values is more than the ${max} the filter holds`);
  for (const v of out) if (!check(v)) throw new OptionError(`${name}: ${JSON.stringify(v)} is not ${what}`);
  return out;
}

const isPort = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
const isPid = (p: number) => Number.isInteger(p) && p >= 1 && p <= 4194304;
const isComm = (c: string) => typeof c === "string" && c.length > 0 && Buffer.byteLength(c, "latin1") <= COMM_BYTES && !/[^\x01-\xff]/.test(c);

/** Checks library options (a RangeError-like OptionError names the option). */
export function checkTraceOptions(o: TraceOptions): CheckedTrace {
  if (o.family !== undefined && o.family !== 4 && o.family !== 6) throw new OptionError(`family: expected 4 or 6, not ${String(o.family)}`);
  const minMs = o.minMs ?? 0;
  if (!(typeof minMs === "number" && Number.isFinite(minMs) && minMs >= 0 && minMs <= 86_400_000)) throw new OptionError(`minMs: ${String(minMs)} is not a number of milliseconds from 0 to a day`);
  return {
    family: o.family,
    lports: checkList("lports", o.lports, MAX_PORTS, isPort, "a port (1..65535)"),
    rports: checkList("rports", o.rports, MAX_PORTS, isPort, "a port (1..65535)"),
    pids: checkList("pids", o.pids, MAX_PIDS, isPid, "a process id"),
    comms: checkList("comms", o.comms, MAX_COMMS, isComm, `a command name (1 to ${COMM_BYTES} bytes)`),
    minMs,
  };
}

/** The longest -d: a week. */
export const MAX_DURATION_MS = 7 * 86_400_000;
const UNITS: Record<string, number> = { ms: 1, s: 1000, "": 1000, m: 60_000, h: 3_600_000 };

/** `-d` text as milliseconds: `30` (seconds), `30s`, `2m`, `1h`, `500ms`, `1.5m`; `0`: until Ctrl+C. */
export function parseDuration(text: string, flag = "-d"): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * (UNITS[m[2] ?? ""] ?? NaN) : NaN;
  if (!(ms >= 0 && ms <= MAX_DURATION_MS)) throw new OptionError(`${flag}: '${text}' is not a duration (like 30, 30s, 2m, 1h; at most 7 days; 0 runs until Ctrl+C)`);
  return Math.round(ms);
}

/** Comma-separated and repeated values of a list flag, each parsed. */
function listOf(flag: string, values: readonly string[] | undefined, parse: (s: string) => number | undefined, what: string): number[] {
  const out: number[] = [];
  for (const v of values ?? []) {
    for (const item of v.split(",")) {
      const t = item.trim();
      const n = /^\d{1,10}$/.test(t) ? parse(t) : undefined;
      if (n === undefined) throw new OptionError(`${flag}: '${t}' is not ${what}`);
      out.push(n);
    }
  }
  return out;
}

const port = (t: string) => (isPort(Number(t)) ? Number(t) : undefined);
const pid = (t: string) => (isPid(Number(t)) ? Number(t) : undefined);

/** The command line as commander gives it. */
export interface CliFlags {
  readonly duration?: string;
  readonly output?: string;
  readonly caption?: boolean;
  readonly bytes?: boolean;
  readonly json?: boolean;
  readonly csv?: boolean;
  readonly time?: boolean;
  readonly extended?: boolean;
  readonly pid?: readonly string[];
  readonly comm?: readonly string[];
  readonly lport?: readonly string[];
  readonly rport?: readonly string[];
  readonly ipv4?: boolean;
  readonly ipv6?: boolean;
  readonly minMs?: string;
  readonly engine?: string;
  readonly events?: string;
  readonly ringSize?: string;
}

/** Everything a run needs, checked. */
export interface ParsedFlags {
  readonly durationMs: number;
  readonly reportPath: string;
  readonly captions: boolean;
  readonly bytes: boolean;
  readonly format: "text" | "json" | "csv";
  readonly time: boolean;
  readonly extended: boolean;
  readonly trace: CheckedTrace;
  readonly engine: "auto" | "sk_storage" | "hash";
  readonly events: "auto" | "ringbuf" | "perf";
  readonly bufferBytes: number;
}

export const DEFAULT_DURATION = "30s";
export const DEFAULT_REPORT = "tcp_trace.log";
export const DEFAULT_RING_KB = 1024;

/** Checks the flags (no kernel, no files touched). */
export function parseTraceFlags(f: CliFlags): ParsedFlags {
  if (f.json && f.csv) throw new OptionError("--json and --csv: choose one output format");
  if (f.ipv4 && f.ipv6) throw new OptionError("-4 and -6: choose one family (neither: both)");
  const minText = f.minMs ?? "0";
  const minMs = /^\d+(\.\d+)?$/.test(minText) ? Number(minText) : NaN;
  if (!(minMs >= 0 && minMs <= 86_400_000)) throw new OptionError(`--min-ms: '${minText}' is not a number of milliseconds (0 to 86400000)`);
  const comms = (f.comm ?? []).flatMap((c) => c.split(",")).map((c) => c.trim());
  for (const c of comms) if (!isComm(c)) throw new OptionError(`--comm: '${c}' is not a command name (1 to ${COMM_BYTES} bytes: the kernel keeps no more)`);
  const engine = f.engine ?? "auto";
  if (engine !== "auto" && engine !== "sk_storage" && engine !== "hash") throw new OptionError(`--engine: expected auto, sk_storage or hash, not '${engine}'`);
  const events = f.events ?? "auto";
  if (events !== "auto" && events !== "ringbuf" && events !== "perf") throw new OptionError(`--events: expected auto, ringbuf or perf, not '${events}'`);
  const ringText = f.ringSize ?? String(DEFAULT_RING_KB);
  const ringKb = /^\d{1,7}$/.test(ringText) ? Number(ringText) : NaN;
  if (!(ringKb >= 4 && ringKb <= 1 << 20 && (ringKb & (ringKb - 1)) === 0)) throw new OptionError(`--ring-size: '${ringText}' is not a power of two of KiB from 4 to 1048576`);
  const trace = checkTraceOptions({
    ...(f.ipv4 ? { family: 4 as const } : f.ipv6 ? { family: 6 as const } : {}),
    lports: listOf("--lport", f.lport, port, "a port (1..65535)"),
    rports: listOf("--rport", f.rport, port, "a port (1..65535)"),
    pids: listOf("--pid", f.pid, pid, "a process id"),
    comms,
    minMs,
  });
  const reportPath = f.output ?? DEFAULT_REPORT;
  if (reportPath === "") throw new OptionError("-o: the report file name is empty");
  return {
    durationMs: parseDuration(f.duration ?? DEFAULT_DURATION),
    reportPath,
    captions: f.caption !== false,
    bytes: f.bytes === true,
    format: f.json ? "json" : f.csv ? "csv" : "text",
    time: f.time === true,
    extended: f.extended === true,
    trace,
    engine,
    events,
    bufferBytes: ringKb * 1024,
  };
}

/**
 * Opens the report file for writing, truncated (what the run writes, and what it leaves on exit):
 * an unwritable path is one line naming -o, before anything is loaded. Returns the fd.
 */
export function openReport(path: string): number {
  try {
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    return openSync(path, "w", 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "its directory does not exist" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EISDIR" ? "is a directory" : code === "EROFS" ? "read-only file system" : (e as Error).message;
    throw new OptionError(`-o: cannot write the report file '${path}': ${why}`);
  }
}

export const closeReport = (fd: number): void => closeSync(fd);
