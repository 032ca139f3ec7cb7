/**
 * trace_pipe read back: a program that bpf_printk's (run with BPF_PROG_TEST_RUN in this process)
 * and the lines the iterator yields for it; a child process that reads trace_pipe exits promptly
 * once aborted (and, without keepAlive, is not kept alive at all).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { tracePipe, type TraceLine } from "../../src/runtime/trace-pipe.js";
import { packageRoot } from "../helpers/dist.js";
import { describeKernel } from "../helpers/kernel.js";

function printk(token: number, count: number): void {
  using c = Collection.load(readCollectionSpec(readFileSync("test/fixtures/printk.bpfel.o")));
  const ctx = Buffer.alloc(8);
  ctx.writeUInt32LE(token, 0);
  ctx.writeUInt32LE(count, 4);
  expect(c.program("printk").testRun({ context: ctx }).returnValue).toBe(0);
}

/** Lines carrying `token`, read until `count` came (other lines of the shared buffer are skipped). */
async function readToken(token: number, count: number, keepAlive: boolean): Promise<TraceLine[]> {
  const ac = new AbortController();
  const timeout = setTimeout(() => ac.abort(), 10_000);
  const found: TraceLine[] = [];
  const lines = tracePipe({ signal: ac.signal, keepAlive });
  // Start the reader (trace_pipe opened and waiting), then print.
  const first = lines.next();
  await new Promise((r) => setTimeout(r, 50));
  printk(token, count);
  try {
    for (let r = await first; !r.done; r = await lines.next()) {
      if (r.value.message.includes(`token=${token} `)) found.push(r.value);
      if (found.length === count) break;
    }
  } finally {
    clearTimeout(timeout);
    await lines.return();
  }
  return found;
}

/** Runs `script` (an ES module) in a child node process; its stdout and exit code, and how long it lived. */
function child(script: string): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const t0 = performance.now();
  const c = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  c.stdout.on("data", (d) => (out += d));
  c.stderr.on("data", (d) => (err += d));
  const kill = setTimeout(() => c.kill("SIGKILL"), 20_000);
  return new Promise((resolve) =>
    c.on("close", (code) => {
      clearTimeout(kill);
      resolve({ code, out, err, ms: performance.now() - t0 });
    }),
  );
}

describeKernel("tracePipe", () => {
  const comm = readFileSync("/proc/self/comm", "utf8").trim();

  for (const keepAlive of [false, true]) {
    it(`reads back what bpf_printk wrote, parsed (${keepAlive ? "epoll" : "timer"} wait)`, async () => {
      const token = 100_000 + Math.floor(Math.random() * 900_000);
      const lines = await readToken(token, 3, keepAlive);
      expect(lines.map((l) => l.message)).toEqual([0, 1, 2].map((i) => `tsebpf token=${token} line=${i}`));
      for (const l of lines) {
        expect(l.event).toBe("bpf_trace_printk");
        // A syscall program runs in the calling thread: this process's main thread.
        expect(l.pid).toBe(process.pid);
        expect(l.task).toBe(comm);
        expect(l.cpu).toBeGreaterThanOrEqual(0);
        expect(l.timestamp).toBeGreaterThan(0);
        expect(l.line).toContain(`-${process.pid}`);
      }
      expect(lines[2]!.timestamp).toBeGreaterThanOrEqual(lines[0]!.timestamp);
    });
  }

  it("a child process reading trace_pipe exits promptly after abort (epoll wait in flight) and is not kept alive by the default wait", async () => {
    const index = pathToFileURL(join(packageRoot(), "dist/index.js")).href;
    // keepAlive: an epoll wait is in flight on a worker thread when the abort comes.
    const aborted = await child(`
      import { runtime } from ${JSON.stringify(index)};
      const ac = new AbortController();
      let at = 0;
      process.on("exit", () => process.stdout.write("exit " + (performance.now() - at).toFixed(1) + "\\n"));
      setTimeout(() => { at = performance.now(); ac.abort(); }, 500);
      for await (const l of runtime.tracePipe({ signal: ac.signal, keepAlive: true })) {}
      process.stdout.write("ended " + (performance.now() - at).toFixed(1) + "\\n");
    `);
    expect(aborted.err).toBe("");
    expect(aborted.code).toBe(0);
    const ended = Number(/ended ([\d.]+)/.exec(aborted.out)?.[1]);
    const exited = Number(/exit ([\d.]+)/.exec(aborted.out)?.[1]);
    console.log(`trace_pipe child: loop ended ${ended} ms and process exited ${exited} ms after abort (child lived ${aborted.ms.toFixed(0)} ms)`);
    expect(ended).toBeLessThan(200);
    expect(exited).toBeLessThan(250);

    // Default wait: a loop reading in the background does not keep the process alive.
    const background = await child(`
      import { readdirSync, readlinkSync } from "node:fs";
      import { runtime } from ${JSON.stringify(index)};
      const t0 = performance.now();
      process.on("exit", (code) => process.stdout.write("exit " + (performance.now() - t0).toFixed(1) + "\\n"));
      (async () => { for await (const l of runtime.tracePipe()) {} })();
      await new Promise((r) => setTimeout(r, 200));
      const open = readdirSync("/proc/self/fd").some((fd) => { try { return readlinkSync("/proc/self/fd/" + fd).endsWith("trace_pipe"); } catch { return false; } });
      process.stdout.write("open " + open + "\\n");
    `);
    expect(background.err).toBe("");
    expect(background.code).toBe(0);
    expect(background.out).toContain("open true");
    const lived = Number(/exit ([\d.]+)/.exec(background.out)?.[1]);
    console.log(`trace_pipe child without keepAlive: exited ${lived} ms after start (200 ms of them its own wait)`);
    expect(lived).toBeLessThan(500);
  });

  it("tsebpf prog tracelog --json prints the lines as JSON objects and exits 0 promptly on SIGINT", async () => {
    const cli = join(packageRoot(), "dist/cli/main.js");
    const token = 100_000 + Math.floor(Math.random() * 900_000);
    const c = spawn(process.execPath, [cli, "prog", "tracelog", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    c.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => c.on("close", resolve));
    const seen = new Promise<void>((resolve) =>
      c.stdout.on("data", (d) => {
        out += d;
        if ((out.match(new RegExp(`token=${token} `, "g")) ?? []).length >= 2) resolve();
      }),
    );
    // Printed once the command has had time to open trace_pipe (and again, in case it had not).
    const printer = setInterval(() => printk(token, 2), 500);
    try {
      await Promise.race([seen, exited.then((code) => Promise.reject(new Error(`tracelog exited ${code}: ${err}`)))]);
    } finally {
      clearInterval(printer);
    }
    const t0 = performance.now();
    c.kill("SIGINT");
    const code = await exited;
    const ms = performance.now() - t0;
    console.log(`prog tracelog exited ${ms.toFixed(1)} ms after SIGINT`);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(1000);
    const rows = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => String(r.message).includes(`token=${token} `));
    expect(rows[0]).toEqual({ task: expect.any(String), pid: process.pid, cpu: expect.any(Number), flags: expect.any(String), timestamp: expect.any(Number), event: "bpf_trace_printk", message: `tsebpf token=${token} line=0` });
  });

  it("an aborted signal yields nothing and opens nothing", async () => {
    const ac = new AbortController();
    ac.abort();
    const got: TraceLine[] = [];
    for await (const l of tracePipe({ signal: ac.signal })) got.push(l);
    expect(got).toEqual([]);
  });
});
