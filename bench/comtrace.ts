/**
 * Bench #9 comtrace: the rate of a loopback connect/accept/close loop (a separate Node process,
 * not pinned, 16 connections in flight, one byte each way) untraced, with `tsebpf comtrace`
 * running, and with bpftrace on the same tracepoint printing the same fields (pid, comm,
 * addresses, ports, KB each way, ms; its program keeps birth and owner in maps keyed by the
 * socket, as comtrace does). The tracers are separate processes writing their stdout to a file,
 * started fresh for each traced run and given time to settle before the loop starts.
 *
 * Noise (2 shared cores): each round runs every traced side between two untraced runs
 * (none, A, none, B, none …), the tracers' order reversed every other round; a traced run's
 * ratio is its rate over the mean of the two untraced runs around it, and the overhead is
 * 1 − the median of those per-round ratios (with the interquartile range of the rounds). Less
 * sensitive to other load: the loop's own CPU per connection, traced over untraced (the BPF
 * programs and wake-ups run in its context), and the tracers' CPU time during the loop (from
 * /proc/PID/stat) per 1,000 connections. comtrace's lost count comes from its
 * closing summary. COMTRACE_BENCH_BASELINE=path/to/main.js adds an earlier build of the CLI
 * as a fourth side (before/after figures from the same run).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, type Figure } from "./lib.js";

const LOOP = `
const net = require("node:net");
const [port, count, parallel] = process.argv.slice(1).map(Number);
const srv = net.createServer((s) => { s.on("error", () => {}); s.end("x"); });
srv.on("error", (e) => { process.stderr.write("server: " + e.message + "\\n"); process.exit(1); });
srv.listen(port, "127.0.0.1", () => {
  let started = 0, finished = 0;
  const t0 = process.hrtime.bigint();
  const one = () => {
    if (started >= count) return;
    started++;
    const c = net.connect(port, "127.0.0.1", () => c.end("y"));
    c.on("data", () => {});
    c.on("error", () => {});
    c.on("close", () => { if (++finished === count) { const s = Number(process.hrtime.bigint() - t0) / 1e9; const u = process.cpuUsage(); process.stdout.write(count / s + " " + (u.user + u.system) / count); srv.close(); process.exit(0); } else one(); });
  };
  for (let k = 0; k < parallel; k++) one();
});`;

/** The same fields as comtrace's default columns, from the same tracepoint; state keyed by the socket. */
const BPFTRACE = `
tracepoint:sock:inet_sock_set_state /args->protocol == 6/
{
  $sk = args->skaddr;
  if (args->newstate == 2 || args->newstate == 3) { @birth[$sk] = nsecs; }
  if (args->newstate == 2 || args->newstate == 9 || args->newstate == 4) { @pid[$sk] = pid; @comm[$sk] = comm; }
  if (args->newstate == 7 && @birth[$sk] != 0) {
    $tp = (struct tcp_sock *)$sk;
    printf("%-7d %-15s %-15s %5d %-15s %5d %5d %5d %d\\n", @pid[$sk], @comm[$sk], ntop(args->saddr), args->sport, ntop(args->daddr), args->dport,
      $tp->bytes_acked / 1024, $tp->bytes_received / 1024, (nsecs - @birth[$sk]) / 1000000);
    delete(@birth[$sk]); delete(@pid[$sk]); delete(@comm[$sk]);
  }
}
END { clear(@birth); clear(@pid); clear(@comm); }
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Side = "none" | "comtrace" | "baseline" | "bpftrace";

interface Tracer {
  readonly child: ChildProcess;
  readonly out: string;
  readonly err: () => string;
}

async function startTracer(kind: Exclude<Side, "none">, dir: string, run: number, cli: string): Promise<Tracer> {
  const out = join(dir, `${kind}-${run}.out`);
  const fd = openSync(out, "w");
  let err = "";
  const args = kind === "bpftrace" ? [join(dir, "comtrace.bt")] : [cli, "comtrace", "-d", "0", "-o", join(dir, `report-${run}.log`)];
  const child = spawn(kind === "bpftrace" ? "bpftrace" : process.execPath, args, { stdio: ["ignore", fd, "pipe"] });
  closeSync(fd);
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const ready = () => (kind === "bpftrace" ? readFileSync(out, "utf8").includes("Attaching") : err.includes("Tracing"));
  const deadline = Date.now() + 30_000;
  while (!ready()) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${kind} did not start: ${err.trim().split("\n").at(-1) ?? ""}`);
    await sleep(25);
  }
  await sleep(300);
  return { child, out, err: () => err };
}

async function stopTracer(t: Tracer): Promise<string> {
  const exited = new Promise((r) => t.child.once("exit", r));
  t.child.kill("SIGINT");
  await exited;
  return readFileSync(t.out, "utf8");
}

/** User + system CPU time of a process so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One loop run: connections per second, and the loop process's CPU µs per connection (user + system, BPF programs run in its context included). */
function loop(port: number, count: number): { rate: number; cpu: number } {
  const r = spawnSync(process.execPath, ["-e", LOOP, String(port), String(count), "16"], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`loop exited ${r.status}: ${r.stderr.trim().split("\n").find((l) => /error|server:/i.test(l)) ?? r.stderr.trim()}`);
  const [rate, cpu] = r.stdout.trim().split(" ").map(Number);
  return { rate: rate ?? NaN, cpu: cpu ?? NaN };
}

export async function comtraceBench(): Promise<Figure[]> {
  const cli = join(process.cwd(), "dist/cli/main.js");
  if (!existsSync(cli)) throw new Error("build the CLI first (npx tsc -p tsconfig.build.json)");
  const baseline = process.env.COMTRACE_BENCH_BASELINE;
  if (baseline && !existsSync(baseline)) throw new Error(`COMTRACE_BENCH_BASELINE: ${baseline} does not exist`);
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-bench-comtrace-"));
  writeFileSync(join(dir, "comtrace.bt"), BPFTRACE);
  const haveBpftrace = spawnSync("bpftrace", ["--version"]).status === 0;
  const rounds = Number(process.env.COMTRACE_BENCH_ROUNDS ?? 15);
  const count = Number(process.env.COMTRACE_BENCH_CONNECTIONS ?? 6000);
  // Below the ephemeral range (32768..), a fresh port per loop (no TIME_WAIT of an earlier one).
  let port = 12000 + (process.pid % 8000);
  const traced: Exclude<Side, "none">[] = ["comtrace", ...(baseline ? ["baseline" as const] : []), ...(haveBpftrace ? ["bpftrace" as const] : [])];
  const ratios = new Map<Side, number[]>(traced.map((s) => [s, []]));
  const rates = new Map<Side, number[]>([["none", []], ...traced.map((s): [Side, number[]] => [s, []])]);
  const cpu = new Map<Side, number[]>(traced.map((s) => [s, []]));
  // The loop's own CPU per connection, traced over untraced (less sensitive to other load than the rate).
  const loopCpu = new Map<Side, number[]>(traced.map((s) => [s, []]));
  const lost: number[] = [];
  const noneCpu: number[] = [];
  const reported: number[] = [];
  let bpftraceLines = 0;
  let run = 0;
  try {
    loop(port++, 1000); // warm-up
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 1 ? [...traced].reverse() : traced;
      let before = loop(port++, count);
      rates.get("none")?.push(before.rate);
      noneCpu.push(before.cpu);
      for (const side of order) {
        const t = await startTracer(side, dir, run++, side === "baseline" ? (baseline as string) : cli);
        const cpu0 = cpuMs(t.child.pid);
        const during = loop(port++, count);
        const used = cpuMs(t.child.pid) - cpu0;
        await sleep(300);
        const out = await stopTracer(t);
        const after = loop(port++, count);
        rates.get("none")?.push(after.rate);
        rates.get(side)?.push(during.rate);
        ratios.get(side)?.push(during.rate / ((before.rate + after.rate) / 2));
        loopCpu.get(side)?.push(during.cpu / ((before.cpu + after.cpu) / 2));
        cpu.get(side)?.push((used * 1000) / count);
        before = after;
        if (side === "comtrace") {
          const m = /^# (\d+) connections?, (\d+) lost/m.exec(out);
          if (!m) throw new Error(`comtrace printed no summary: ${t.err().trim().split("\n").at(-1) ?? ""}`);
          reported.push(Number(m[1]));
          lost.push(Number(m[2]));
        } else if (side === "bpftrace") {
          bpftraceLines = Math.max(bpftraceLines, out.split("\n").filter((l) => /^\d+\s/.test(l)).length);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const overhead = (side: Side) => 1 - median(ratios.get(side) ?? [NaN]);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const spread = (side: Side) => {
    const xs = (ratios.get(side) ?? []).map((x) => 1 - x).sort((a, b) => a - b);
    return `${pct(xs[Math.floor(xs.length / 4)] ?? NaN)}..${pct(xs[Math.floor((3 * xs.length) / 4)] ?? NaN)}`;
  };
  const cpuText = (side: Side) => `tracer ${median(cpu.get(side) ?? [NaN]).toFixed(0)} ms CPU per 1k connections, loop CPU per connection +${pct(median(loopCpu.get(side) ?? [NaN]) - 1)}`;
  const ours = overhead("comtrace");
  const theirs = haveBpftrace ? overhead("bpftrace") : undefined;
  const totalLost = lost.reduce((a, b) => a + b, 0);
  const untracedCpu = noneCpu;
  const pass = ours <= 0.1 && totalLost === 0 && (theirs === undefined || ours <= theirs + 0.02);
  const rate = (side: Side) => Math.round(median(rates.get(side) ?? [NaN]));
  return [
    {
      id: "9",
      figure: "comtrace loop overhead",
      tsebpf: `${pct(ours)} (${rate("comtrace")}/s; IQR ${spread("comtrace")}; ${cpuText("comtrace")})`,
      peer: theirs === undefined ? "bpftrace: not installed" : `bpftrace ${pct(theirs)} (${rate("bpftrace")}/s; IQR ${spread("bpftrace")}; ${cpuText("bpftrace")})`,
      ratio: theirs === undefined || theirs <= 0 ? undefined : ours / theirs,
      target: "<= bpftrace, <= 10%, lost 0",
      pass,
      note:
        `untraced loop ${rate("none")} connections/s, ${median(untracedCpu).toFixed(0)} µs CPU per connection (${count} per run, 16 in flight, not pinned; ${rounds} rounds, each traced run between two untraced ones; overhead = 1 - median of the per-round ratios); ` +
        (baseline ? `baseline build ${pct(overhead("baseline"))} (IQR ${spread("baseline")}; ${cpuText("baseline")}); ` : "") +
        `comtrace reported ${reported.join("/")} lines per round (both sides of each connection, plus other traffic), lost ${lost.join("/")}; ` +
        (haveBpftrace ? `bpftrace printed up to ${bpftraceLines} lines per round; ` : "bpftrace is not installed (apt-get install bpftrace): no peer row; ") +
        `the 2% margin on "<= bpftrace" is the rounds' noise on 2 shared cores`,
    },
  ];
}

// Run alone: node dist-tools/bench/comtrace.js
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of await comtraceBench()) console.log(JSON.stringify(f, null, 2));
}
