/** comtrace's flags: durations, lists, filters, formats; each bad value is one line naming the flag. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { checkTraceOptions, openReport, closeReport, parseDuration, parseTraceFlags } from "../../src/programs/comtrace/config.js";
import { registerComtrace, runComtrace } from "../../src/programs/comtrace/cli.js";

describe("comtrace -d", () => {
  it("accepts the original forms and a few more", () => {
    expect(parseDuration("30")).toBe(30_000);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("1.5m")).toBe(90_000);
    expect(parseDuration("0")).toBe(0);
  });

  it("refuses anything else in one line naming -d", () => {
    for (const bad of ["", "x", "-1", "30x", "1d", "2 m", "1e3", "8h0", "169h"]) {
      expect(() => parseDuration(bad), bad).toThrow(new RegExp(`^-d: '${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}' is not a duration`));
    }
  });
});

describe("comtrace flags", () => {
  it("defaults: 30 s, tcp_trace.log, captions, text, both families, no filters, auto engine and events, 1 MiB ring", () => {
    expect(parseTraceFlags({})).toEqual({
      durationMs: 30_000,
      reportPath: "tcp_trace.log",
      captions: true,
      bytes: false,
      format: "text",
      time: false,
      extended: false,
      trace: { family: undefined, lports: [], rports: [], pids: [], comms: [], minMs: 0 },
      engine: "auto",
      events: "auto",
      bufferBytes: 1 << 20,
    });
  });

  it("lists: comma-separated and repeated, duplicates once", () => {
    const p = parseTraceFlags({ lport: ["80,443", "8080", "80"], rport: ["53"], pid: ["1,42"], comm: ["curl,wget", "nginx"], ipv6: true, minMs: "12.5", json: true, caption: false });
    expect(p.trace).toEqual({ family: 6, lports: [80, 443, 8080], rports: [53], pids: [1, 42], comms: ["curl", "wget", "nginx"], minMs: 12.5 });
    expect([p.format, p.captions]).toEqual(["json", false]);
  });

  it("bad ports, pids, names and combinations are one line naming the flag", () => {
    const cases: [Parameters<typeof parseTraceFlags>[0], RegExp][] = [
      [{ lport: ["0"] }, /^--lport: '0' is not a port \(1\.\.65535\)$/],
      [{ lport: ["80,"] }, /^--lport: '' is not a port/],
      [{ rport: ["65536"] }, /^--rport: '65536' is not a port/],
      [{ rport: ["http"] }, /^--rport: 'http' is not a port/],
      [{ pid: ["-3"] }, /^--pid: '-3' is not a process id$/],
      [{ pid: ["0"] }, /^--pid: '0' is not a process id$/],
      [{ pid: ["99999999999"] }, /^--pid: '99999999999' is not a process id$/],
      [{ comm: ["a-name-longer-than-15"] }, /^--comm: 'a-name-longer-than-15' is not a command name \(1 to 15 bytes/],
      [{ comm: ["a,,b"] }, /^--comm: '' is not a command name/],
      [{ json: true, csv: true }, /^--json and --csv: choose one/],
      [{ ipv4: true, ipv6: true }, /^-4 and -6: choose one family/],
      [{ minMs: "-1" }, /^--min-ms: '-1' is not a number of milliseconds/],
      [{ duration: "soon" }, /^-d: 'soon' is not a duration/],
      [{ engine: "kprobe" }, /^--engine: expected auto, sk_storage or hash, not 'kprobe'$/],
      [{ events: "pipe" }, /^--events: expected auto, ringbuf or perf, not 'pipe'$/],
      [{ ringSize: "1000" }, /^--ring-size: '1000' is not a power of two of KiB/],
      [{ output: "" }, /^-o: the report file name is empty$/],
    ];
    for (const [flags, message] of cases) expect(() => parseTraceFlags(flags), JSON.stringify(flags)).toThrow(message);
  });

  it("too many filter values are refused with the capacity", () => {
    const many = Array.from({ length: 1025 }, (_, i) => String(i + 1)).join(",");
    expect(() => parseTraceFlags({ lport: [many] })).toThrow(/^lports: 1025 values is more than the 1024 the filter holds$/);
  });

  it("library options are checked the same way", () => {
    expect(() => checkTraceOptions({ family: 5 as 4 })).toThrow(/^family: expected 4 or 6/);
    expect(() => checkTraceOptions({ lports: [1.5] })).toThrow(/^lports: 1\.5 is not a port/);
    expect(() => checkTraceOptions({ minMs: Number.NaN })).toThrow(/^minMs: NaN is not a number of milliseconds/);
    expect(checkTraceOptions({ pids: [7, 7] }).pids).toEqual([7]);
  });
});

describe("comtrace report file", () => {
  it("is opened truncated; an unwritable path is one line naming -o", () => {
    const dir = mkdtempSync(join(tmpdir(), "comtrace-unit-"));
    try {
      const file = join(dir, "r.log");
      writeFileSync(file, "old contents\n");
      closeReport(openReport(file));
      expect(readFileSync(file, "utf8")).toBe("");
      expect(() => openReport(join(dir, "missing", "r.log"))).toThrow(/^-o: cannot write the report file '.*\/missing\/r\.log': its directory does not exist$/);
      expect(() => openReport(dir)).toThrow(/^-o: cannot write the report file '.*': is a directory$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the command checks flags and the report path before loading anything (no kernel needed)", async () => {
    const io = { out: () => undefined, err: () => undefined };
    await expect(runComtrace({ duration: "2x" }, io)).rejects.toThrow(/^-d: '2x' is not a duration/);
    await expect(runComtrace({ output: "/nonexistent-comtrace-dir/x.log" }, io)).rejects.toThrow(/^-o: cannot write the report file/);
  });
});

describe("tsebpf comtrace --help", () => {
  it("explains every flag", () => {
    let out = "";
    const program = new Command("tsebpf").exitOverride().configureOutput({ writeOut: (t) => (out += t) });
    registerComtrace(program, { out: (t) => void (out += t), err: () => undefined });
    expect(() => program.parse(["comtrace", "--help"], { from: "user" })).toThrow();
    for (const flag of ["-d, --duration", "-o, --output", "-c, --no-caption", "-T, --time", "--bytes", "--extended", "--json", "--csv", "--pid", "--comm", "--lport", "--rport", "-4, --ipv4", "-6, --ipv6", "--min-ms", "--engine", "--events", "--ring-size"]) {
      expect(out, flag).toContain(flag);
    }
    expect(out).toContain("PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS");
    expect(out).toContain("tcp_trace.log");
  });
});
