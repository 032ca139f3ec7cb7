/**
 * comtrace's output: bcc tcplife's columns (`PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS`),
 * exact byte columns with --bytes, a TIME column with -T, the extended columns (SRTT_US,
 * RETRANS, CLOSE; `-` where the kernel's BTF lacks the field), CSV and JSON lines.
 */
import type { Connection, Counters } from "./index.js";

export interface Columns {
  /** TX_BYTES/RX_BYTES (the application's bytes) instead of TX_KB/RX_KB (the kernel's counts, in KiB). */
  readonly bytes?: boolean;
  /** A leading TIME column (HH:MM:SS, local time of the close). */
  readonly time?: boolean;
  /** SRTT_US, RETRANS and CLOSE columns. */
  readonly extended?: boolean;
  /** Address columns wide enough for IPv6 (39), not IPv4 (15). */
  readonly wide?: boolean;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
const padLeft = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s);
const absent = (v: number | string | undefined) => (v === undefined ? "-" : String(v));

/** HH:MM:SS of a wall-clock time in ms, local time. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

const kb = (n: number | undefined) => (n === undefined ? "-" : String(Math.floor(n / 1024)));

/** The header line (a caption: -c leaves it out). */
export function formatHeader(c: Columns = {}): string {
  const aw = c.wide ? 39 : 15;
  const parts = [c.time ? pad("TIME", 8) : undefined, pad("PID", 7), pad("COMM", 15), pad("LADDR", aw), padLeft("LPORT", 5), pad("RADDR", aw), padLeft("RPORT", 5)];
  parts.push(...(c.bytes ? [padLeft("TX_BYTES", 10), padLeft("RX_BYTES", 10)] : [padLeft("TX_KB", 5), padLeft("RX_KB", 5)]));
  parts.push(padLeft("MS", 9));
  if (c.extended) parts.push(padLeft("SRTT_US", 8), padLeft("RETRANS", 7), "CLOSE");
  return parts.filter((p) => p !== undefined).join(" ").trimEnd();
}

/** One connection in the columns of formatHeader (built by concatenation: one per closed connection). */
export function formatConnection(x: Connection, c: Columns = {}): string {
  const aw = c.wide ? 39 : 15;
  let line = c.time ? `${pad(clockTime(x.closedAt), 8)} ` : "";
  line += `${pad(String(x.pid), 7)} ${pad(x.comm === "" ? "-" : x.comm, 15)} ${pad(x.laddr, aw)} ${padLeft(String(x.lport), 5)} ${pad(x.raddr, aw)} ${padLeft(String(x.rport), 5)} `;
  line += c.bytes ? `${padLeft(absent(x.txBytes), 10)} ${padLeft(absent(x.rxBytes), 10)} ` : `${padLeft(kb(x.txRaw), 5)} ${padLeft(kb(x.rxRaw), 5)} `;
  line += padLeft(x.ms.toFixed(2), 9);
  if (c.extended) line += ` ${padLeft(absent(x.srttUs), 8)} ${padLeft(absent(x.retransmits), 7)} ${absent(x.reason)}`;
  return line.trimEnd();
}

/** RFC 4180: quoted when it holds a comma, quote or line break. */
function csvField(v: string | number | undefined): string {
  const s = v === undefined ? "" : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV header (a caption: -c leaves it out). */
export function csvHeader(c: Columns = {}): string {
  return [c.time ? "time" : undefined, "pid", "comm", "laddr", "lport", "raddr", "rport", ...(c.bytes ? ["tx_bytes", "rx_bytes"] : ["tx_kb", "rx_kb"]), "ms", ...(c.extended ? ["srtt_us", "retrans", "close"] : [])]
    .filter((p) => p !== undefined)
    .join(",");
}

/** One connection as a CSV record (absent values empty). */
export function csvLine(x: Connection, c: Columns = {}): string {
  const fields: (string | number | undefined)[] = [];
  if (c.time) fields.push(new Date(x.closedAt).toISOString());
  fields.push(x.pid, x.comm, x.laddr, x.lport, x.raddr, x.rport);
  if (c.bytes) fields.push(x.txBytes, x.rxBytes);
  else fields.push(x.txRaw === undefined ? undefined : Math.floor(x.txRaw / 1024), x.rxRaw === undefined ? undefined : Math.floor(x.rxRaw / 1024));
  fields.push(x.ms.toFixed(3));
  if (c.extended) fields.push(x.srttUs, x.retransmits, x.reason);
  return fields.map(csvField).join(",");
}

/** One connection as a JSON object (every field; absent ones null). */
export function jsonLine(x: Connection): string {
  const n = (v: number | string | undefined) => (v === undefined ? null : v);
  return JSON.stringify({
    time: new Date(x.closedAt).toISOString(),
    pid: x.pid,
    comm: x.comm,
    owner: x.owner,
    family: x.family,
    laddr: x.laddr,
    lport: x.lport,
    raddr: x.raddr,
    rport: x.rport,
    tx_bytes: n(x.txBytes),
    rx_bytes: n(x.rxBytes),
    tx_kb: x.txRaw === undefined ? null : Math.floor(x.txRaw / 1024),
    rx_kb: x.rxRaw === undefined ? null : Math.floor(x.rxRaw / 1024),
    ms: Math.round(x.ms * 1000) / 1000,
    srtt_us: n(x.srttUs),
    retrans: n(x.retransmits),
    close: n(x.reason),
    closed_from: x.closedFrom,
  });
}

/** What a run ends with: `# 12 connections, 0 lost (3 filtered in the kernel, 1 opened before the start)`. */
export function summaryText(k: Counters, shown: number): string {
  const extra = [k.filtered ? `${k.filtered} filtered in the kernel` : "", k.untracked ? `${k.untracked} opened before the start, not traced` : ""].filter(Boolean);
  return `${shown} connection${shown === 1 ? "" : "s"}, ${k.lost} lost${extra.length ? ` (${extra.join(", ")})` : ""}`;
}

/** The same as a JSON object (the last line of --json). */
export function summaryJson(k: Counters, shown: number, stoppedBy: string): string {
  return JSON.stringify({ summary: { connections: shown, reported: k.reported, lost: k.lost, filtered: k.filtered, untracked: k.untracked, stopped_by: stoppedBy } });
}
