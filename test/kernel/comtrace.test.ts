/**
 * comtrace against the real kernel, in a network namespace the test owns: a server and a client
 * process it spawns (named ct-server and ct-client through a symlink to node, so pid and comm are
 * known) exchange exact byte counts over IPv4 and IPv6, hold each connection a known time and
 * close it with FIN or RST from either side; every connection must come back once per side with
 * the right owner, addresses, ports, bytes, duration (± 20 ms) and close reason. Then: each engine
 * and event transport, the in-kernel filters and their counters, the CLI's report file after -d,
 * SIGINT and SIGTERM, and a burst of 10,000 connections (reported + lost = sent).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ComTrace, type Connection, type Engine, type EventOutput, type StartOptions } from "../../src/programs/comtrace/index.js";
import { runComtrace } from "../../src/programs/comtrace/cli.js";
import { NetNs, describeKernel } from "../helpers/kernel.js";

/**
 * The peers' command names, unique to this run: comtrace traces every namespace of the machine,
 * so another run of these tests (or anything else named ct-client) must not count as ours.
 */
const RUN_TAG = (process.pid % 46656).toString(36).padStart(3, "0");
const CLIENT = `ct-client-${RUN_TAG}`;
const SERVER = `ct-server-${RUN_TAG}`;

interface Plan {
  /** Server port (one per connection: both sides know the plan by it). */
  readonly port: number;
  /** Where the client connects; the server listens there (or on "::", dual stack). */
  readonly host: "127.0.0.1" | "::1";
  readonly listen?: "::";
  readonly c2s: number;
  readonly s2c: number;
  readonly holdMs: number;
  readonly closer: "client" | "server";
  readonly how: "fin" | "rst";
}

interface SideResult {
  readonly i: number;
  readonly side: "client" | "server";
  readonly start: number;
  readonly end: number;
  readonly lport: number;
  readonly rport: number;
}

/** One peer process: serves or opens the plan's connections, prints "ready", then its results as JSON. */
const PEER = `
const net = require("node:net");
const plan = JSON.parse(process.env.PLAN);
const role = process.env.ROLE;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const results = [];
let pending = plan.length;
const done = (r) => { results.push(r); if (--pending === 0) { process.stdout.write(JSON.stringify(results) + "\\n"); process.exit(0); } };
const later = (at, fn) => setTimeout(fn, Math.max(0, at - now()));
if (role === "server") {
  let listening = 0;
  plan.forEach((p, i) => {
    const srv = net.createServer((s) => {
      const r = { i, side: "server", start: now(), end: 0, lport: s.localPort, rport: s.remotePort };
      const finish = () => { if (!r.end) r.end = now(); };
      let got = 0;
      s.on("data", (d) => {
        got += d.length;
        if (got !== p.c2s) return;
        s.write(Buffer.alloc(p.s2c, 1), () => {
          if (p.closer === "server") later(r.start + p.holdMs, () => { finish(); p.how === "rst" ? s.resetAndDestroy() : s.end(); });
        });
      });
      s.on("end", finish);
      s.on("error", finish);
      s.on("close", () => { finish(); srv.close(); done(r); });
    });
    srv.listen({ port: p.port, host: p.listen || p.host, ipv6Only: false }, () => { if (++listening === plan.length) process.stdout.write("ready\\n"); });
  });
} else {
  const go = () => plan.forEach((p, i) => {
    const r = { i, side: "client", start: now(), end: 0, lport: 0, rport: p.port };
    const finish = () => { if (!r.end) r.end = now(); };
    const c = net.connect({ port: p.port, host: p.host }, () => { r.lport = c.localPort; c.write(Buffer.alloc(p.c2s, 2)); });
    let got = 0;
    c.on("data", (d) => {
      got += d.length;
      if (got === p.s2c && p.closer === "client") later(r.start + p.holdMs, () => { finish(); p.how === "rst" ? c.resetAndDestroy() : c.end(); });
    });
    c.on("end", finish);
    c.on("error", finish);
    c.on("close", () => { finish(); done(r); });
  });
  process.stdout.write("ready\\n");
  // GATE: start on a line on stdin (once the test knows the pid).
  if (process.env.GATE) process.stdin.once("data", go);
  else go();
}`;

/** A burst: `count` connections to `port`, `parallel` at a time, 10 bytes each way, FIN closes. */
const BURST = `
const net = require("node:net");
const [port, count, parallel] = JSON.parse(process.env.BURST);
const srv = net.createServer((s) => { s.on("error", () => {}); s.on("data", () => s.end("0123456789")); });
srv.listen(port, "127.0.0.1", () => {
  let started = 0, finished = 0, failed = 0;
  const one = () => {
    if (started >= count) return;
    started++;
    const c = net.connect(port, "127.0.0.1", () => c.write("0123456789"));
    c.on("data", () => {});
    c.on("error", () => { failed++; });
    c.on("close", () => { finished++; if (finished === count) { srv.close(); process.stdout.write(JSON.stringify({ finished, failed }) + "\\n"); process.exit(0); } else one(); });
  };
  for (let k = 0; k < parallel; k++) one();
});`;

let ns: NetNs;
let bin: string;

/** Spawns node under `name` (its comm) in the namespace. */
function peer(name: string, env: Record<string, string>, script = PEER): ChildProcess {
  return spawn("nsenter", [`--net=${ns.path}`, "--", join(bin, name), "-e", script], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
}

/** Resolves with the stdout lines of a child as they come: "ready" first, the JSON when it exits. */
function lines(child: ChildProcess): { ready: Promise<void>; result: Promise<string> } {
  let out = "";
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyResolve = r));
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("ready\n")) readyResolve();
  });
  const result = new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => (code === 0 ? resolve(out.replace("ready\n", "").trim()) : reject(new Error(`peer exited with ${code}: ${out}`))));
  });
  return { ready, result };
}

let nextPort = 20000 + (process.pid % 20000);
const ports = (n: number) => Array.from({ length: n }, () => nextPort++);

/** Runs the plan between a ct-server and a ct-client; returns both processes' pids and results. */
async function exchange(plan: Plan[]): Promise<{ serverPid: number; clientPid: number; results: SideResult[] }> {
  const server = peer(SERVER, { ROLE: "server", PLAN: JSON.stringify(plan) });
  const s = lines(server);
  await s.ready;
  const client = peer(CLIENT, { ROLE: "client", PLAN: JSON.stringify(plan) });
  const c = lines(client);
  const [sr, cr] = await Promise.all([s.result, c.result]);
  return { serverPid: server.pid ?? 0, clientPid: client.pid ?? 0, results: [...(JSON.parse(sr) as SideResult[]), ...(JSON.parse(cr) as SideResult[])] };
}

/** Traces while `body` runs; the connections seen (after the last events are flushed). */
async function traced(options: StartOptions, body: () => Promise<void>, settleMs = 300): Promise<{ seen: Connection[]; trace: ComTrace }> {
  const trace = ComTrace.start(options);
  const seen: Connection[] = [];
  const stop = new AbortController();
  const reading = trace.read((c) => seen.push(c), { signal: stop.signal });
  try {
    await body();
    await new Promise((r) => setTimeout(r, settleMs));
  } finally {
    stop.abort();
    await reading;
    trace.detach();
    trace.flush((c) => seen.push(c));
  }
  return { seen, trace };
}

const mine = (seen: Connection[], plan: Plan[]) => {
  const set = new Set(plan.map((p) => p.port));
  return seen.filter((c) => set.has(c.lport) || set.has(c.rport));
};

const PLAN_PORTS = ports(8);
const PLAN: Plan[] = [
  { port: PLAN_PORTS[0]!, host: "127.0.0.1", c2s: 1234, s2c: 5000, holdMs: 150, closer: "client", how: "fin" },
  { port: PLAN_PORTS[1]!, host: "127.0.0.1", c2s: 70_000, s2c: 10, holdMs: 250, closer: "server", how: "fin" },
  { port: PLAN_PORTS[2]!, host: "127.0.0.1", c2s: 100, s2c: 200_000, holdMs: 200, closer: "client", how: "rst" },
  { port: PLAN_PORTS[3]!, host: "127.0.0.1", c2s: 1, s2c: 1, holdMs: 120, closer: "server", how: "rst" },
  { port: PLAN_PORTS[4]!, host: "::1", c2s: 4321, s2c: 8765, holdMs: 180, closer: "client", how: "fin" },
  { port: PLAN_PORTS[5]!, host: "::1", c2s: 33_333, s2c: 3, holdMs: 300, closer: "server", how: "fin" },
  { port: PLAN_PORTS[6]!, host: "::1", c2s: 7, s2c: 77_777, holdMs: 160, closer: "server", how: "rst" },
  // IPv4 to a dual-stack listener: the accepted socket is AF_INET6 with mapped addresses, reported as IPv4.
  { port: PLAN_PORTS[7]!, host: "127.0.0.1", listen: "::", c2s: 555, s2c: 666, holdMs: 140, closer: "client", how: "fin" },
];

/** What each side must report for a plan entry. */
function expectSides(seen: Connection[], plan: Plan[], run: { serverPid: number; clientPid: number; results: SideResult[] }): void {
  const ours = mine(seen, plan);
  expect(ours.length, JSON.stringify(ours, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).toBe(2 * plan.length);
  plan.forEach((p, i) => {
    const cr = run.results.find((r) => r.i === i && r.side === "client");
    const sr = run.results.find((r) => r.i === i && r.side === "server");
    expect(cr && sr, `plan ${i} ran`).toBeTruthy();
    const clientSide = ours.filter((c) => c.rport === p.port && c.lport === cr!.lport);
    const serverSide = ours.filter((c) => c.lport === p.port && c.rport === cr!.lport);
    expect(clientSide, `plan ${i}: one client record`).toHaveLength(1);
    expect(serverSide, `plan ${i}: one server record`).toHaveLength(1);
    const client = clientSide[0]!;
    const server = serverSide[0]!;
    const family = p.host === "::1" ? "ipv6" : "ipv4";
    const at = `plan ${i} (${p.host} ${p.closer} ${p.how})`;
    expect({ pid: client.pid, comm: client.comm, owner: client.owner, family: client.family, laddr: client.laddr, raddr: client.raddr }, at).toEqual({ pid: run.clientPid, comm: CLIENT, owner: "connect", family, laddr: p.host, raddr: p.host });
    expect({ pid: server.pid, comm: server.comm, owner: server.owner, family: server.family, laddr: server.laddr, raddr: server.raddr }, at).toEqual({ pid: run.serverPid, comm: SERVER, owner: "accept", family, laddr: p.host, raddr: p.host });
    expect({ tx: client.txBytes, rx: client.rxBytes }, `${at}: client bytes`).toEqual({ tx: p.c2s, rx: p.s2c });
    expect({ tx: server.txBytes, rx: server.rxBytes }, `${at}: server bytes`).toEqual({ tx: p.s2c, rx: p.c2s });
    // The kernel's own counts are the exact ones plus at most the SYN and the FIN.
    expect(client.txRaw! - p.c2s).toBeGreaterThanOrEqual(0);
    expect(client.txRaw! - p.c2s).toBeLessThanOrEqual(2);
    expect(client.ms, `${at}: client ms (${client.ms} vs ${cr!.end - cr!.start})`).toBeGreaterThanOrEqual(cr!.end - cr!.start - 20);
    expect(client.ms, `${at}: client ms (${client.ms} vs ${cr!.end - cr!.start})`).toBeLessThanOrEqual(cr!.end - cr!.start + 20);
    expect(server.ms, `${at}: server ms (${server.ms} vs ${sr!.end - sr!.start})`).toBeGreaterThanOrEqual(sr!.end - sr!.start - 20);
    expect(server.ms, `${at}: server ms (${server.ms} vs ${sr!.end - sr!.start})`).toBeLessThanOrEqual(sr!.end - sr!.start + 20);
    const closerSide = p.closer === "client" ? client : server;
    const otherSide = p.closer === "client" ? server : client;
    if (p.how === "fin") {
      expect([closerSide.reason, otherSide.reason], at).toEqual(["FIN", "FIN"]);
    } else {
      expect([closerSide.reason, otherSide.reason], at).toEqual(["RST_SENT", "RST_RECV"]);
    }
    for (const c of [client, server]) {
      expect(c.srttUs, at).toBeGreaterThan(0);
      // Present (this kernel's BTF has it); a tail-loss probe on a busy machine counts as one.
      expect(c.retransmits, at).toBeTypeOf("number");
      expect(c.retransmits!, at).toBeLessThan(5);
    }
  });
}

describeKernel("comtrace", () => {
  beforeAll(() => {
    ns = NetNs.create();
    bin = mkdtempSync(join(tmpdir(), "comtrace-"));
    symlinkSync(process.execPath, join(bin, SERVER));
    symlinkSync(process.execPath, join(bin, CLIENT));
  });
  afterAll(() => {
    ns?.remove();
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  it("reports every connection once per side: owner, addresses, ports, exact bytes, duration ± 20 ms, FIN and RST, IPv4 and IPv6", async () => {
    let run!: Awaited<ReturnType<typeof exchange>>;
    const { seen, trace } = await traced({}, async () => {
      run = await exchange(PLAN);
    });
    try {
      expect(trace.engine).toBe("sk_storage");
      expect(trace.output).toBe("ringbuf");
      expect(trace.tracksAccept).toBe(true);
      expectSides(seen, PLAN, run);
      expect(trace.counters().lost).toBe(0);
    } finally {
      trace.close();
    }
  });

  for (const [engine, output] of [
    ["hash", "ringbuf"],
    ["sk_storage", "perf"],
    ["hash", "perf"],
  ] as [Engine, EventOutput][]) {
    it(`the ${engine} engine with the ${output} transport reports the same`, async () => {
      const plan: Plan[] = [
        { ...PLAN[0]!, port: ports(1)[0]! },
        { ...PLAN[3]!, port: ports(1)[0]! },
        { ...PLAN[5]!, port: ports(1)[0]! },
      ];
      let run!: Awaited<ReturnType<typeof exchange>>;
      const { seen, trace } = await traced({ engine, output }, async () => {
        run = await exchange(plan);
      });
      try {
        expect([trace.engine, trace.output]).toEqual([engine, output]);
        expectSides(seen, plan, run);
      } finally {
        trace.close();
      }
    });
  }

  it("filters in the kernel: pid, comm, ports, family, minimum duration; the counters show what was dropped", async () => {
    const plan: Plan[] = [
      { ...PLAN[0]!, port: ports(1)[0]!, holdMs: 50 },
      { ...PLAN[1]!, port: ports(1)[0]!, holdMs: 250 },
      { ...PLAN[4]!, port: ports(1)[0]!, holdMs: 50 },
      { ...PLAN[5]!, port: ports(1)[0]!, holdMs: 250 },
    ];
    // Several traces at once, each with its own filters, over the same connections.
    const filters: { name: string; options: StartOptions; keep: (c: Connection) => boolean }[] = [
      { name: "comm ct-server", options: { comms: [SERVER] }, keep: (c) => c.comm === SERVER },
      { name: "lport (server side of two)", options: { lports: [plan[0]!.port, plan[3]!.port] }, keep: (c) => c.lport === plan[0]!.port || c.lport === plan[3]!.port },
      { name: "rport", options: { rports: [plan[1]!.port] }, keep: (c) => c.rport === plan[1]!.port },
      { name: "IPv6", options: { family: 6, comms: [SERVER, CLIENT] }, keep: (c) => c.family === "ipv6" },
      { name: "IPv4", options: { family: 4, comms: [SERVER, CLIENT] }, keep: (c) => c.family === "ipv4" },
      { name: "min 200 ms", options: { minMs: 200, comms: [SERVER, CLIENT] }, keep: (c) => c.ms >= 200 },
    ];
    const traces = filters.map((f) => ({ f, trace: ComTrace.start(f.options), seen: [] as Connection[] }));
    const pidTraces: ComTrace[] = [];
    try {
      const stop = new AbortController();
      const reading = traces.map((t) => t.trace.read((c) => t.seen.push(c), { signal: stop.signal }));
      const run = await exchange(plan);
      await new Promise((r) => setTimeout(r, 300));
      stop.abort();
      await Promise.all(reading);
      for (const t of traces) {
        t.trace.detach();
        t.trace.flush((c) => t.seen.push(c));
      }
      // Everything this exchange made, as an unfiltered trace would see it (from the first test's rules).
      const all = { count: 2 * plan.length };
      for (const t of traces) {
        const ours = mine(t.seen, plan);
        // Only what the filter keeps arrived (other traffic on the machine may match port-less filters: not ours).
        expect(ours.every(t.f.keep), `${t.f.name}: ${JSON.stringify(ours.map((c) => [c.comm, c.lport, c.rport, c.family, c.ms]))}`).toBe(true);
        const expected = t.f.name.startsWith("comm") ? plan.length : t.f.name.startsWith("lport") ? 2 : t.f.name === "rport" ? 1 : t.f.name.startsWith("IPv") ? 4 : 4;
        expect(ours.length, t.f.name).toBe(expected);
        const k = t.trace.counters();
        // The rest of this exchange was dropped in the kernel, never sent.
        expect(k.filtered, t.f.name).toBeGreaterThanOrEqual(all.count - expected);
        expect(k.lost, t.f.name).toBe(0);
        expect(k.reported, t.f.name).toBe(t.seen.length);
      }
      // pid filters, started after the pids are known: a second exchange from new processes is all dropped.
      pidTraces.push(ComTrace.start({ pids: [run.clientPid] }));
      const again = plan.map((p) => ({ ...p, port: ports(1)[0]!, holdMs: 20 }));
      await exchange(again);
      await new Promise((r) => setTimeout(r, 200));
      const seenByPid: Connection[] = [];
      pidTraces[0]!.detach();
      pidTraces[0]!.flush((c) => seenByPid.push(c));
      expect(mine(seenByPid, again)).toHaveLength(0);
      expect(pidTraces[0]!.counters().filtered).toBeGreaterThanOrEqual(2 * again.length);
    } finally {
      for (const t of traces) t.trace.close();
      for (const t of pidTraces) t.close();
    }
  });

  it("a pid filter keeps exactly that process's connections", async () => {
    // The client's pid is known only once it runs: a client that waits for a go before connecting.
    const plan: Plan[] = [
      { ...PLAN[0]!, port: ports(1)[0]!, holdMs: 30 },
      { ...PLAN[4]!, port: ports(1)[0]!, holdMs: 30 },
    ];
    const server = peer(SERVER, { ROLE: "server", PLAN: JSON.stringify(plan) });
    const s = lines(server);
    await s.ready;
    const client = spawn("nsenter", [`--net=${ns.path}`, "--", join(bin, CLIENT), "-e", PEER], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ROLE: "client", GATE: "1", PLAN: JSON.stringify(plan) } });
    const c = lines(client);
    await c.ready;
    const { seen, trace } = await traced({ pids: [client.pid!] }, async () => {
      client.stdin?.write("go\n");
      await Promise.all([s.result, c.result]);
    });
    try {
      const ours = mine(seen, plan);
      expect(ours.map((x) => [x.pid, x.comm, x.owner])).toEqual([
        [client.pid, CLIENT, "connect"],
        [client.pid, CLIENT, "connect"],
      ]);
      expect(trace.counters().filtered).toBeGreaterThanOrEqual(2);
    } finally {
      trace.close();
    }
  });

  const cliPath = join(process.cwd(), "dist/cli/main.js");

  /** Runs the built CLI with a connection while it traces; stops it with `stop` (or lets -d expire). */
  async function cliRun(args: string[], stop: "SIGINT" | "SIGTERM" | "duration"): Promise<{ stdout: string; report: string; code: number | null; port: number }> {
    expect(existsSync(cliPath), "build the CLI first: npx tsc -p tsconfig.build.json").toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "comtrace-cli-"));
    const report = join(dir, "report.log");
    const port = ports(1)[0]!;
    const child = spawn(process.execPath, [cliPath, "comtrace", "-o", report, "--comm", `${CLIENT},${SERVER}`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    // Tracing has begun once it says so on stderr.
    const deadline = Date.now() + 20_000;
    while (!stderr.includes("Tracing") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(stderr).toContain("Tracing");
    await exchange([{ ...PLAN[0]!, port, holdMs: 30 }]);
    await new Promise((r) => setTimeout(r, 200));
    if (stop !== "duration") child.kill(stop);
    const code = await exited;
    const text = readFileSync(report, "utf8");
    rmSync(dir, { recursive: true, force: true });
    return { stdout, report: text, code, port };
  }

  it("the CLI writes the report file, the same as stdout, after -d expires", async () => {
    const r = await cliRun(["-d", "3", "--bytes"], "duration");
    expect(r.code).toBe(0);
    expect(r.report).toBe(r.stdout);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^PID\s+COMM\s+LADDR\s+LPORT\s+RADDR\s+RPORT\s+TX_BYTES\s+RX_BYTES\s+MS$/);
    expect(lines.filter((l) => /ct-(client|server)/.test(l))).toHaveLength(2);
    expect(lines.find((l) => l.includes(CLIENT))).toMatch(new RegExp(`127\\.0\\.0\\.1\\s+\\d+ 127\\.0\\.0\\.1\\s+${r.port}\\s+1234\\s+5000\\s+[\\d.]+$`));
    expect(lines.at(-1)).toMatch(/^# 2 connections, 0 lost/);
  }, 30_000);

  it("the CLI writes the report file after SIGINT (JSON, summary with lost) and after SIGTERM (-c CSV)", async () => {
    const a = await cliRun(["-d", "0", "--json"], "SIGINT");
    expect(a.code).toBe(0);
    expect(a.report).toBe(a.stdout);
    const objects = a.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objects.filter((o) => o.comm === CLIENT || o.comm === SERVER)).toHaveLength(2);
    expect(objects.at(-1)).toMatchObject({ summary: { connections: 2, lost: 0, stopped_by: "SIGINT" } });
    const b = await cliRun(["-d", "0", "--csv", "-c", "-T", "--extended"], "SIGTERM");
    expect(b.code).toBe(0);
    expect(b.report).toBe(b.stdout);
    const rows = b.stdout.trim().split("\n");
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z,\d+,ct-(client|server)-[0-9a-z]{3},127\.0\.0\.1,\d+,127\.0\.0\.1,\d+,\d+,\d+,[\d.]+,\d+,\d+,FIN$/);
  }, 60_000);

  it("lines stream as connections close under the wake-up policy: a trailing record arrives without more traffic or a flush", async () => {
    const trace = ComTrace.start({ comms: [CLIENT, SERVER] });
    expect(trace.wakeupMs).toBeGreaterThan(0);
    const seen: { c: Connection; at: number }[] = [];
    const stop = new AbortController();
    const reading = trace.read((c) => seen.push({ c, at: Date.now() }), { signal: stop.signal });
    try {
      const plan = ports(3).map((port, i): Plan => ({ ...PLAN[i % 2]!, port, c2s: 10, s2c: 10, holdMs: 20 + 10 * i }));
      await exchange(plan);
      const done = Date.now();
      while (mine(seen.map((s) => s.c), plan).length < 6 && Date.now() < done + 2000) await new Promise((r) => setTimeout(r, 5));
      const ours = seen.filter((s) => mine([s.c], plan).length === 1);
      expect(ours).toHaveLength(6);
      // Within two wake-up intervals and a scheduling margin of the peers' exit (which follows the closes).
      for (const s of ours) expect(s.at - done).toBeLessThanOrEqual(2 * trace.wakeupMs + 250);
    } finally {
      stop.abort();
      await reading;
      trace.close();
    }
  }, 30_000);

  it("without CAP_BPF/CAP_PERFMON: one line naming the missing capability, exit 1, the report untouched, nothing loaded", () => {
    expect(existsSync(cliPath), "build the CLI first: npx tsc -p tsconfig.build.json").toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "comtrace-caps-"));
    const loaded = () => (JSON.parse(spawnSync("bpftool", ["prog", "show", "--json"], { encoding: "utf8" }).stdout || "[]") as { name?: string }[]).filter((p) => p.name?.startsWith("comtrace_")).length;
    const before = loaded();
    try {
      const run = (drop: string) => spawnSync("setpriv", ["--inh-caps=-all", `--bounding-set=${drop}`, process.execPath, cliPath, "comtrace", "-d", "1", "-o", join(dir, "r.log")], { encoding: "utf8" });
      const none = run("-perfmon,-bpf,-sys_admin");
      expect(none.status).toBe(1);
      expect(none.stdout).toBe("");
      expect(none.stderr).toMatch(/^tsebpf: comtrace: missing CAP_BPF and CAP_PERFMON: tracing TCP state changes needs CAP_BPF and CAP_PERFMON \(CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON\); run as root or grant them\n$/);
      const perfmon = run("-perfmon,-sys_admin");
      expect(perfmon.status).toBe(1);
      expect(perfmon.stderr).toMatch(/^tsebpf: comtrace: missing CAP_PERFMON: .*grant it\n$/);
      expect(existsSync(join(dir, "r.log")), "the report file is not touched").toBe(false);
      expect(loaded()).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it("refuses an unwritable report path before loading anything", async () => {
    await expect(runComtrace({ output: "/nonexistent-dir/x.log" }, { out: () => undefined, err: () => undefined })).rejects.toThrow(/^-o: cannot write the report file '\/nonexistent-dir\/x.log': its directory does not exist$/);
  });

  it("10,000 connections in a burst: every one reported, or the loss counted exactly (sent = reported + lost)", async () => {
    const port = ports(1)[0]!;
    const count = 10_000;
    const { seen, trace } = await traced(
      { rports: [port] },
      async () => {
        const burst = peer(CLIENT, { BURST: JSON.stringify([port, count, 32]) }, BURST);
        const out = lines(burst);
        const result = JSON.parse(await out.result) as { finished: number; failed: number };
        expect(result).toEqual({ finished: count, failed: 0 });
      },
      500,
    );
    try {
      const ours = seen.filter((c) => c.rport === port);
      const k = trace.counters();
      expect(ours.length + k.lost).toBe(count);
      expect(k.reported).toBe(ours.length);
      for (const c of ours) expect([c.txBytes, c.rxBytes, c.comm]).toEqual([10, 10, CLIENT]);
      console.log(`burst: ${ours.length} reported, ${k.lost} lost of ${count}`);
    } finally {
      trace.close();
    }
  }, 120_000);

  it("a ring too small for a burst the reader does not drain counts every loss (sent = reported + lost)", async () => {
    const port = ports(1)[0]!;
    const count = 2_000;
    const trace = ComTrace.start({ rports: [port], bufferBytes: 4096 });
    try {
      // Nothing reads while the burst runs: a 4 KiB ring holds ~34 records, the rest are lost.
      const burst = peer(CLIENT, { BURST: JSON.stringify([port, count, 32]) }, BURST);
      expect(JSON.parse(await lines(burst).result)).toEqual({ finished: count, failed: 0 });
      await new Promise((r) => setTimeout(r, 300));
      trace.detach();
      const seen: Connection[] = [];
      trace.flush((c) => seen.push(c));
      const k = trace.counters();
      expect(k.lost).toBeGreaterThan(0);
      expect(seen.length).toBe(k.reported);
      expect(seen.length + k.lost).toBe(count);
    } finally {
      trace.close();
    }
  }, 60_000);
});
