/** Lines of trace_pipe as the kernel formats them, split into fields (no kernel needed). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TsebpfError } from "../../src/errors.js";
import { TracePipeError, parseTraceLine, tracePipe } from "../../src/runtime/trace-pipe.js";

describe("parseTraceLine", () => {
  it("splits task, pid, cpu, flags, timestamp, event and message", () => {
    const line = "            node-4242    [001] ...11 98765.432100: bpf_trace_printk: tsebpf token=7 line=0";
    expect(parseTraceLine(line)).toEqual({
      task: "node",
      pid: 4242,
      cpu: 1,
      flags: "...11",
      timestamp: 98765.4321,
      event: "bpf_trace_printk",
      message: "tsebpf token=7 line=0",
      line,
    });
  });

  it("keeps colons and spaces of the message, and an unknown comm", () => {
    const l = parseTraceLine("           <...>-12345   [003] d..31  1234.567890: bpf_trace_printk: a: b  c ");
    expect(l).toMatchObject({ task: "<...>", pid: 12345, cpu: 3, flags: "d..31", event: "bpf_trace_printk", message: "a: b  c " });
  });

  it("takes the last -digits before the CPU as the pid (comm with dashes and spaces)", () => {
    expect(parseTraceLine("  kworker/0:1-events-12 [000] d.h2. 12.000001: sched_switch: prev_comm=a")).toMatchObject({ task: "kworker/0:1-events", pid: 12, event: "sched_switch", message: "prev_comm=a" });
    expect(parseTraceLine("  Web Content-3456 [002] .... 100.5: tracing_mark_write: x")).toMatchObject({ task: "Web Content", pid: 3456, flags: "....", timestamp: 100.5, event: "tracing_mark_write" });
  });

  it("reads the tgid column of the record-tgid option (and leaves it out when unknown)", () => {
    expect(parseTraceLine("            bash-1977    (   1970) [000] .....  4567.123456: bpf_trace_printk: hi")).toMatchObject({ task: "bash", pid: 1977, tgid: 1970, cpu: 0, message: "hi" });
    expect(parseTraceLine("            bash-1977    (-------) [000] .....  4567.123456: bpf_trace_printk: hi")).not.toHaveProperty("tgid");
  });

  it("without irq-info flags, with a counter clock, and function tracer lines without an event", () => {
    expect(parseTraceLine("            node-42    [000]  55.000100: bpf_trace_printk: x")).toMatchObject({ pid: 42, flags: "", timestamp: 55.0001, message: "x" });
    expect(parseTraceLine("            node-42    [000] ..... 123456789: bpf_trace_printk: x")).toMatchObject({ timestamp: 123456789, message: "x" });
    expect(parseTraceLine("            bash-1    [000] ..... 1.000000: do_sys_open <-do_syscall_64")).toMatchObject({ event: "", message: "do_sys_open <-do_syscall_64" });
  });

  it("a line that is not an event keeps only message and line", () => {
    const line = "CPU:2 [LOST 34 EVENTS]";
    expect(parseTraceLine(line)).toEqual({ task: "", pid: -1, cpu: -1, flags: "", timestamp: Number.NaN, event: "", message: line, line });
  });
});

describe("tracePipe", () => {
  it("reads lines from a given file, and ends when aborted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-tp-"));
    writeFileSync(join(dir, "trace_pipe"), "  node-1 [000] ..... 1.5: bpf_trace_printk: one\n  node-1 [000] ..... 1.6: bpf_trace_printk: two\n");
    const ac = new AbortController();
    const got: string[] = [];
    for await (const l of tracePipe({ path: dir, signal: ac.signal, intervalMs: 5 })) {
      got.push(l.message);
      if (got.length === 2) setTimeout(() => ac.abort(), 20); // a regular file then reads 0 bytes: waits until aborted
    }
    expect(got).toEqual(["one", "two"]);
  });

  it("a missing file is a TracePipeError naming it; a bad interval a RangeError", async () => {
    const it = tracePipe({ path: "/nonexistent/trace_pipe" });
    await expect(it.next()).rejects.toThrow(TracePipeError);
    await expect(tracePipe({ path: "/nonexistent/trace_pipe" }).next()).rejects.toThrow(/\/nonexistent\/trace_pipe: no such file/);
    await expect(tracePipe({ path: "/nonexistent/trace_pipe" }).next()).rejects.toBeInstanceOf(TsebpfError);
    await expect(tracePipe({ intervalMs: 0 }).next()).rejects.toThrow(RangeError);
  });
});
