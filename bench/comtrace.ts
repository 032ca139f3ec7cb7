/**
 * Bench #9 comtrace: the rate of a loopback connect/accept/close loop (a Node process, 16
 * connections in flight, one byte each way) untraced, with `tsebpf comtrace` running, and with
 * bpftrace on the same tracepoint printing the same fields (pid, comm, addresses, ports, KB each
 * way, ms; its program keeps birth and owner in maps keyed by the socket, as comtrace does). The
 * tracers are separate processes writing to a file, started fresh each round; rounds interleave
 * the three sides. Overhead = 1 − traced rate / untraced rate (median over rounds); comtrace's
 * lost count comes from its closing summary.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, roundRatio, type Figure } from "./lib.js";

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
    c.on("close", () => { if (++finished === count) { const s = Number(process.hrtime.bigint() - t0) / 1e9; process.stdout.write(String(count / s)); srv.close(); process.exit(0); } else one(); });
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

interface Tracer {
  readonly child: ChildProcess;
  readonly out: string;
  readonly err: () => string;
}

async function startTracer(kind: "comtrace" | "bpftrace", dir: string, round: number): Promise<Tracer> {
  const out = join(dir, `${kind}-${round}.out`);
  const fd = openSync(out, "w");
  let err = "";
  const args =
    kind === "comtrace"
      ? [join(process.cwd(), "dist/cli/main.js"), "comtrace", "-d", "0", "-o", join(dir, `report-${round}.log`)]
      : [join(dir, "comtrace.bt")];
  const child = spawn(kind === "comtrace" ? process.execPath : "bpftrace", args, { stdio: ["ignore", fd, "pipe"] });
  closeSync(fd);
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const ready = () => (kind === "comtrace" ? err.includes("Tracing") : readFileSync(out, "utf8").includes("Attaching"));
  const deadline = Date.now() + 30_000;
  while (!ready()) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${kind} did not start: ${err.trim().split("\n").at(-1) ?? ""}`);
    await sleep(25);
  }
  await sleep(200);
  return { child, out, err: () => err };
}

async function stopTracer(t: Tracer): Promise<string> {
  const exited = new Promise((r) => t.child.once("exit", r));
  t.child.kill("SIGINT");
  await exited;
  return readFileSync(t.out, "utf8");
}

function loop(port: number, count: number): number {
  const r = spawnSync(process.execPath, ["-e", LOOP, String(port), String(count), "16"], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`loop exited ${r.status}: ${r.stderr.trim().split("\n").find((l) => /error|server:/i.test(l)) ?? r.stderr.trim()}`);
  return Number(r.stdout);
}

export async function comtraceBench(): Promise<Figure[]> {
  if (!existsSync(join(process.cwd(), "dist/cli/main.js"))) throw new Error("build the CLI first (npx tsc -p tsconfig.build.json)");
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-bench-comtrace-"));
  writeFileSync(join(dir, "comtrace.bt"), BPFTRACE);
  const haveBpftrace = spawnSync("bpftrace", ["--version"]).status === 0;
  const rounds = Number(process.env.COMTRACE_BENCH_ROUNDS ?? 5);
  const count = Number(process.env.COMTRACE_BENCH_CONNECTIONS ?? 5000);
  // Below the ephemeral range (32768..), a fresh port per loop (no TIME_WAIT of an earlier one).
  let port = 12000 + (process.pid % 8000);
  const rates = { none: [] as number[], comtrace: [] as number[], bpftrace: [] as number[] };
  const lost: number[] = [];
  const reported: number[] = [];
  let bpftraceLines = 0;
  try {
    loop(port++, 1000); // warm-up
    for (let r = 0; r < rounds; r++) {
      const sides: ("none" | "comtrace" | "bpftrace")[] = haveBpftrace ? ["none", "comtrace", "bpftrace"] : ["none", "comtrace"];
      if (r % 2 === 1) sides.reverse();
      for (const side of sides) {
        if (side === "none") {
          rates.none.push(loop(port++, count));
          continue;
        }
        const t = await startTracer(side, dir, r);
        const rate = loop(port++, count);
        await sleep(300);
        const out = await stopTracer(t);
        rates[side].push(rate);
        if (side === "comtrace") {
          const m = /^# (\d+) connections?, (\d+) lost/m.exec(out);
          if (!m) throw new Error(`comtrace printed no summary: ${t.err().trim().split("\n").at(-1) ?? ""}`);
          reported.push(Number(m[1]));
          lost.push(Number(m[2]));
        } else {
          bpftraceLines = Math.max(bpftraceLines, out.split("\n").filter((l) => /^\d+\s/.test(l)).length);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = median(rates.none);
  // Each round's traced rate against the same round's untraced one (the machine's load drifts).
  const overhead = (xs: number[]) => 1 - roundRatio(xs, rates.none);
  const ours = overhead(rates.comtrace);
  const theirs = haveBpftrace ? overhead(rates.bpftrace) : undefined;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const totalLost = lost.reduce((a, b) => a + b, 0);
  const pass = ours <= 0.1 && totalLost === 0 && (theirs === undefined || ours <= theirs + 0.02);
  return [
    {
      id: "9",
      figure: "comtrace loop overhead",
      tsebpf: `${pct(ours)} (${Math.round(median(rates.comtrace))}/s)`,
      peer: theirs === undefined ? "bpftrace: not installed" : `bpftrace ${pct(theirs)} (${Math.round(median(rates.bpftrace))}/s)`,
      ratio: theirs === undefined || theirs <= 0 ? undefined : ours / theirs,
      target: "<= bpftrace, <= 10%, lost 0",
      pass,
      note:
        `untraced loop ${Math.round(base)} connections/s (${count} per round, 16 in flight, ${rounds} interleaved rounds; overhead = median of the per-round rate ratios); ` +
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
