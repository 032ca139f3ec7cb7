/**
 * jittergen against the real kernel.
 *
 * - BPF_PROG_TEST_RUN of jg_egress (edt engine, so ctx_out.tstamp carries the departure time,
 *   although this kernel has no fq to honour it): the delay of 10,000 runs is uniform on
 *   [min, max] (Kolmogorov–Smirnov at a fixed threshold), per-flow order is kept, the selected
 *   fraction matches percent (binomial bounds), Gilbert-Elliott loss gives its mean burst length.
 * - In namespaces (veth pair, Node UDP probes, the program on A's egress): drop 30% ± bounds;
 *   the recirculate engine's delays seen as RTT within [min, max + 1 ms]; reorder, duplication,
 *   corruption, IPv6.
 * - Qdiscs: a root htb (with a class) or tbf made by the test over netlink is the same, parameter
 *   for parameter, after a run, after SIGINT, and after SIGKILL followed by the next start.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runtime } from "../../src/index.js";
import { encodeAttrs, nla } from "../../src/syscall/netlink.js";
import { parseConfig, type JittergenConfig } from "../../src/programs/jittergen/config.js";
import { Jittergen, loadProgram, recordPath, resolveEngine } from "../../src/programs/jittergen/index.js";
import { CliRun } from "../helpers/cli-run.js";
import { createVethPair, describeKernel, NetNs, udpReaches, type VethPair } from "../helpers/kernel.js";

const TC_ACT_SHOT = 2;
const SKB_SIZE = 192; // struct __sk_buff on 6.x
const SKB_TSTAMP = 152;
const SKB_CB = 48;
const CLI = join(process.cwd(), "dist/cli/main.js");

const config = (doc: Record<string, unknown>, outIf = "lo"): JittergenConfig => parseConfig({ outIf, ...doc }, "test.yml");

/** An Ethernet + IPv4/IPv6 + UDP packet. */
function udpPacket(o: { sport?: number; dport?: number; v6?: boolean; payload?: number } = {}): Buffer {
  const payload = Buffer.alloc(o.payload ?? 32, 0xab);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(o.sport ?? 40000, 0);
  udp.writeUInt16BE(o.dport ?? 5000, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  let ip: Buffer;
  if (o.v6) {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(8 + payload.length, 4);
    ip[6] = 17;
    ip[7] = 64;
    ip[8] = 0xfd;
    ip[23] = 1;
    ip[24] = 0xfd;
    ip[39] = 2;
  } else {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    ip.set([10, 0, 0, 1], 12);
    ip.set([10, 0, 0, 2], 16);
  }
  const eth = Buffer.alloc(14);
  eth.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
  eth.writeUInt16BE(o.v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, ip, udp, payload]);
}

interface Run {
  readonly verdict: number;
  readonly tstamp: bigint;
  readonly delayNs: number;
}

function run(program: runtime.Program, packet: Buffer): Run {
  const r = program.testRun({ data: packet, context: new Uint8Array(SKB_SIZE), repeat: 1 });
  return { verdict: r.returnValue | 0, tstamp: r.context.readBigUInt64LE(SKB_TSTAMP), delayNs: r.context.readUInt32LE(SKB_CB + 12) };
}

/** Binomial bounds: 5 standard deviations. */
function binomialBounds(n: number, p: number): [number, number] {
  const sd = Math.sqrt(n * p * (1 - p));
  return [n * p - 5 * sd, n * p + 5 * sd];
}

describeKernel("jittergen: BPF_PROG_TEST_RUN of the departure-time logic (edt)", () => {
  it("gives each selected packet an independent delay uniform on [min, max] (Kolmogorov-Smirnov, 10,000 runs)", () => {
    using loaded = loadProgram(config({ action: "jitter", match: { protocol: "udp", port: 5000 }, jitter: { minDelayMs: 2, maxDelayMs: 7 }, keepOrder: false }), "edt", 1);
    const prog = loaded.programs.jg_egress;
    const n = 10_000;
    const delays: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = run(prog, udpPacket({ sport: 40000 + (i % 1000) }));
      expect(r.tstamp).toBeGreaterThan(0n);
      delays.push(r.delayNs);
    }
    const lo = 2e6;
    const hi = 7e6;
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(lo);
    expect(Math.max(...delays)).toBeLessThanOrEqual(hi);
    const u = delays.map((d) => (d - lo) / (hi - lo)).sort((a, b) => a - b);
    let ks = 0;
    u.forEach((x, i) => (ks = Math.max(ks, Math.abs((i + 1) / n - x), Math.abs(x - i / n))));
    // The 0.1% critical value of the one-sample KS statistic: 1.95 / sqrt(n).
    expect(ks).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it("keeps each flow's order: departure times of one flow never go backwards; other traffic passes untouched", () => {
    using loaded = loadProgram(config({ action: "jitter", match: { protocol: "udp", port: 5000 }, jitter: { minDelayMs: 1, maxDelayMs: 20 } }), "edt", 1);
    const prog = loaded.programs.jg_egress;
    let last = 0n;
    for (let i = 0; i < 2000; i++) {
      const r = run(prog, udpPacket());
      expect(r.tstamp).toBeGreaterThanOrEqual(last);
      last = r.tstamp;
    }
    const other = run(prog, udpPacket({ dport: 5001 }));
    expect(other.tstamp).toBe(0n);
    expect(other.verdict).toBe(-1);
  });

  it("selects the configured fraction (percent 30: binomial bounds), for drop and for jitter, IPv4 and IPv6", () => {
    const n = 10_000;
    for (const [action, v6] of [["drop", false], ["jitter", true]] as const) {
      using loaded = loadProgram(config({ action, match: { percent: 30, protocol: "udp" }, jitter: { minDelayMs: 1, maxDelayMs: 1 }, keepOrder: false }), "edt", 1);
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const r = run(loaded.programs.jg_egress, udpPacket({ v6 }));
        if (action === "drop" ? r.verdict === TC_ACT_SHOT : r.tstamp > 0n) hits++;
      }
      const [lo, hi] = binomialBounds(n, 0.3);
      expect(hits, `${action}`).toBeGreaterThan(lo);
      expect(hits, `${action}`).toBeLessThan(hi);
    }
  });

  it("Gilbert-Elliott loss: loss rate p/(p+r) and mean burst length 1/r", () => {
    using loaded = loadProgram(config({ action: "drop", loss: { model: "gilbert-elliott", p: 5, r: 25 } }), "edt", 1);
    const n = 20_000;
    const lost: boolean[] = [];
    for (let i = 0; i < n; i++) lost.push(run(loaded.programs.jg_egress, udpPacket()).verdict === TC_ACT_SHOT);
    const bursts: number[] = [];
    let len = 0;
    for (const l of [...lost, false]) {
      if (l) len++;
      else if (len > 0) {
        bursts.push(len);
        len = 0;
      }
    }
    const mean = bursts.reduce((a, b) => a + b, 0) / bursts.length;
    expect(mean).toBeGreaterThan(3.4);
    expect(mean).toBeLessThan(4.6);
    const rate = lost.filter(Boolean).length / n;
    expect(rate).toBeGreaterThan(1 / 6 - 0.04);
    expect(rate).toBeLessThan(1 / 6 + 0.04);
  });

  it("correlated loss (netem's correlation): a loss makes the next one likelier; without correlation it does not", () => {
    const n = 20_000;
    const conditional = (correlation: number): { afterLoss: number; afterPass: number } => {
      using loaded = loadProgram(config({ action: "drop", match: { percent: 30 }, loss: { model: "bernoulli", correlation } }), "edt", 1);
      const lost: boolean[] = [];
      for (let i = 0; i < n; i++) lost.push(run(loaded.programs.jg_egress, udpPacket()).verdict === TC_ACT_SHOT);
      let ll = 0, l = 0, pl = 0, p = 0;
      for (let i = 1; i < n; i++) {
        if (lost[i - 1]) { l++; if (lost[i]) ll++; } else { p++; if (lost[i]) pl++; }
      }
      return { afterLoss: ll / l, afterPass: pl / p };
    };
    const none = conditional(0);
    expect(Math.abs(none.afterLoss - none.afterPass)).toBeLessThan(0.04);
    // rho 0.75: the next draw is three quarters the previous one, so a loss (low draw) tends to follow a loss.
    const corr = conditional(75);
    expect(corr.afterLoss - corr.afterPass).toBeGreaterThan(0.3);
  });

  it("rate pacing: back-to-back packets leave len / rate apart (departure times from ctx_out.tstamp)", () => {
    // 10 kbyte/s: a 74-byte frame occupies 7.4 ms (longer than the runs take); nothing else delays (pass).
    using loaded = loadProgram(config({ action: "pass", rate: 10_000 }), "edt", 1);
    const first = run(loaded.programs.jg_egress, udpPacket());
    const times = [first.tstamp];
    for (let i = 0; i < 20; i++) times.push(run(loaded.programs.jg_egress, udpPacket()).tstamp);
    // The first leaves at once (no tstamp: not delayed), the next 7.4 ms after it, and so on.
    expect(first.tstamp).toBe(0n);
    const paced = times.slice(1);
    for (let i = 1; i < paced.length; i++) expect(paced[i]! - paced[i - 1]!).toBe(7_400_000n);
  });

  it("reorder delays the selected fraction by delayMs exactly; delays beyond the horizon are dropped", () => {
    using loaded = loadProgram(config({ action: "reorder", match: { percent: 100 }, reorder: { delayMs: 3 } }), "edt", 1);
    const r = run(loaded.programs.jg_egress, udpPacket());
    expect(r.delayNs).toBe(3e6);
    using capped = loadProgram(config({ action: "jitter", horizonMs: 50, jitter: { minDelayMs: 40, maxDelayMs: 40 }, rate: 1000 }), "edt", 1);
    // 1000 bytes/s: the second packet of 74 bytes waits 74 ms more than the first: over the horizon.
    expect(run(capped.programs.jg_egress, udpPacket()).verdict).toBe(-1);
    expect(run(capped.programs.jg_egress, udpPacket()).verdict).toBe(TC_ACT_SHOT);
  });

  it("engine auto refuses a delaying config without fq, naming the qdisc and the userspace and recirculate options; drop runs anywhere", () => {
    expect(() => resolveEngine(config({ action: "jitter", jitter: { minDelayMs: 1, maxDelayMs: 2 } }), false)).toThrow(/fq.*engine: recirculate/);
    expect(() => resolveEngine(config({ engine: "edt", action: "drop" }), false)).toThrow(/edt needs the fq qdisc/);
    expect(resolveEngine(config({ action: "drop" }), false)).toBe("none");
    expect(resolveEngine(config({ action: "jitter", engine: "recirculate", jitter: { minDelayMs: 1, maxDelayMs: 2 } }), false)).toBe("recirculate");
    expect(resolveEngine(config({ action: "jitter", engine: "userspace", jitter: { minDelayMs: 1, maxDelayMs: 2 } }), false)).toBe("userspace");
    expect(() => resolveEngine(config({ action: "jitter", jitter: { minDelayMs: 1, maxDelayMs: 2 } }), false)).toThrow(/engine: userspace .* or engine: recirculate/);
    expect(runtime.qdiscKindAvailable("fq")).toBe(existsSync("/proc/config.gz") ? /CONFIG_NET_SCH_FQ=[ym]/.test(spawnSync("zcat", ["/proc/config.gz"], { encoding: "utf8" }).stdout) : undefined);
  });
});

// ---- namespaces --------------------------------------------------------------------------------

/**
 * Sends `count` UDP probes from A to B:`port` every `gapMs`; B echoes each; prints what came back:
 * [seq, rtt ms, payload intact] in arrival order ([-1, -1, false] for a probe whose sequence
 * number is not one that was sent: corrupted).
 */
interface ProbeOptions {
  count: number;
  gapMs: number;
  port: number;
  v6?: boolean;
  size?: number;
  waitMs?: number;
}

function probe(pair: VethPair, o: ProbeOptions): Array<[number, number, boolean]> {
  const r = spawnSync(process.execPath, ["-e", probeScript(pair, o)], { encoding: "utf8", timeout: o.count * o.gapMs + (o.waitMs ?? 1000) + 20_000 });
  if (!r.stdout.startsWith("[")) throw new Error(`probe printed nothing (status ${r.status}, signal ${r.signal}, ${r.error?.message ?? "no error"}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Array<[number, number, boolean]>;
}

/** `probe` without blocking this thread (the test can act while the probes are out). */
async function probeAsync(pair: VethPair, o: ProbeOptions): Promise<Array<[number, number, boolean]>> {
  const child = spawn(process.execPath, ["-e", probeScript(pair, o)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  await new Promise((r) => child.on("close", r));
  if (!out.startsWith("[")) throw new Error(`probe printed nothing: ${err}`);
  return JSON.parse(out) as Array<[number, number, boolean]>;
}

function probeScript(pair: VethPair, o: ProbeOptions): string {
  const family = o.v6 ? "udp6" : "udp4";
  const address = o.v6 ? pair.b.ipv6 : pair.b.ipv4;
  const echo = `
    const s = require("node:dgram").createSocket(${JSON.stringify(family)});
    s.on("message", (m, r) => s.send(m, r.port, r.address));
    s.bind(${o.port}, ${JSON.stringify(address)}, () => process.stderr.write("ready\\n"));
    setTimeout(() => process.exit(0), ${o.count * o.gapMs + (o.waitMs ?? 1000) + 3000});`;
  const sender = `
    const s = require("node:dgram").createSocket(${JSON.stringify(family)});
    const size = ${o.size ?? 64};
    const body = (seq) => { const b = Buffer.alloc(size); for (let i = 4; i < size; i++) b[i] = (seq + i) & 0xff; b.writeUInt32BE(seq, 0); return b; };
    const sent = new Map(); const got = [];
    s.on("message", (m) => { const t = process.hrtime.bigint(); const seq = m.readUInt32BE(0); const at = sent.get(seq); got.push(at === undefined ? [-1, -1, false] : [seq, Number(t - at) / 1e6, body(seq).equals(m)]); });
    s.bind(0, () => {
      let i = 0;
      const tick = () => {
        if (i < ${o.count}) { const b = body(i); sent.set(i, process.hrtime.bigint()); s.send(b, ${o.port}, ${JSON.stringify(address)}); i++; setTimeout(tick, ${o.gapMs}); }
        else setTimeout(() => { process.stdout.write(JSON.stringify(got)); process.exit(0); }, ${o.waitMs ?? 1000});
      };
      tick();
    });`;
  const script = `
    const { spawn } = require("node:child_process");
    const rx = spawn("nsenter", ["--net=${pair.b.ns.path}", "--", process.execPath, "-e", ${JSON.stringify(echo)}], { stdio: ["ignore", "ignore", "pipe"] });
    rx.stderr.once("data", (d) => {
      if (!String(d).startsWith("ready")) { process.stderr.write("echo: " + d); process.exit(1); }
      const tx = spawn("nsenter", ["--net=${pair.a.ns.path}", "--", process.execPath, "-e", ${JSON.stringify(sender)}], { stdio: ["ignore", "pipe", "pipe"] });
      tx.stderr.on("data", (d) => process.stderr.write("sender: " + d));
      let out = ""; tx.stdout.on("data", (d) => (out += d));
      tx.on("close", () => { rx.kill(); process.stdout.write(out); });
    });`;
  return script;
}

function inA<T>(pair: VethPair, fn: () => T): T {
  return runtime.withNetns(pair.a.ns.path, fn);
}

/** Netlink qdisc and class dumps of A's veth: kinds, handles, parents and raw options. */
function tcState(pair: VethPair): string {
  return inA(pair, () => {
    const index = runtime.ifindex(pair.a.ifname);
    const hex = (o: runtime.TcObject) => `${o.kind} ${o.handle.toString(16)} ${o.parent.toString(16)} ${Buffer.from(o.options).toString("hex")}`;
    return JSON.stringify({ qdiscs: runtime.qdiscDump(index).map(hex), classes: runtime.tclassDump(index).map(hex) });
  });
}

/** A root htb 1: (default 10, r2q 10) with class 1:10 at 1 Mbit/s, made over netlink. */
function makeHtb(pair: VethPair): void {
  inA(pair, () => {
    const index = runtime.ifindex(pair.a.ifname);
    const glob = Buffer.alloc(20);
    glob.writeUInt32LE(3, 0); // version
    glob.writeUInt32LE(10, 4); // rate2quantum
    glob.writeUInt32LE(0x10, 8); // default class 1:10
    runtime.qdiscCreate(index, { kind: "htb", parent: runtime.TC_H_ROOT, handle: 0x10000, options: encodeAttrs([nla.bytes(2 /* TCA_HTB_INIT */, glob)]) }, { replace: true });
    const opt = Buffer.alloc(44); // struct tc_htb_opt
    const rate = 125_000; // bytes/s
    opt.writeUInt8(10, 0); // rate.cell_log
    opt.writeUInt8(1, 1); // linklayer ethernet
    opt.writeUInt32LE(rate, 8);
    opt.writeUInt8(10, 12);
    opt.writeUInt8(1, 13);
    opt.writeUInt32LE(rate * 2, 20); // ceil
    opt.writeUInt32LE(200_000, 24); // buffer (ticks)
    opt.writeUInt32LE(200_000, 28); // cbuffer
    opt.writeUInt32LE(1514, 32); // quantum
    opt.writeUInt32LE(0, 36); // level
    opt.writeUInt32LE(3, 40); // prio
    runtime.tclassCreate(index, { kind: "htb", parent: 0x10000, handle: 0x10010, options: encodeAttrs([nla.bytes(1 /* TCA_HTB_PARMS */, opt)]) });
  });
}

/** A root tbf at 10 Mbit/s, limit 30000 bytes, made over netlink. */
function makeTbf(pair: VethPair): void {
  inA(pair, () => {
    const index = runtime.ifindex(pair.a.ifname);
    const q = Buffer.alloc(36); // struct tc_tbf_qopt: rate, peakrate (tc_ratespec, 12 each), limit, buffer, mtu
    q.writeUInt8(1, 1);
    q.writeUInt32LE(1_250_000, 8);
    q.writeUInt32LE(30_000, 24);
    q.writeUInt32LE(100_000, 28);
    q.writeUInt32LE(0, 32);
    runtime.qdiscCreate(index, { kind: "tbf", parent: runtime.TC_H_ROOT, handle: 0x20000, options: encodeAttrs([nla.bytes(1 /* TCA_TBF_PARMS */, q), nla.u32(6 /* TCA_TBF_BURST */, 12_500)]) }, { replace: true });
  });
}

describeKernel("jittergen: in network namespaces", () => {
  let pair: VethPair;
  let dir: string;
  beforeAll(() => {
    pair = createVethPair(NetNs.create(), NetNs.create());
    dir = mkdtempSync(join(tmpdir(), "jittergen-"));
  });
  afterAll(() => {
    pair?.a.ns.remove();
    pair?.b.ns.remove();
  });

  const start = (doc: Record<string, unknown>, options: Parameters<typeof Jittergen.start>[1] = {}): Jittergen => {
    // Neighbours resolved first: the first probe would otherwise wait for ARP/NDP as well.
    udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 6999, 500);
    udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv6, 6999, 500);
    return inA(pair, () => Jittergen.start(config(doc, pair.a.ifname), options));
  };
  const stop = (j: Jittergen): void => inA(pair, () => j.stop());
  const cli = (args: string[]) => spawnSync("nsenter", [`--net=${pair.a.ns.path}`, "--", process.execPath, CLI, "jittergen", ...args], { encoding: "utf8", timeout: 30_000 });

  it("drop at 30% drops 30% ± binomial bounds of the probes; counters agree; the qdiscs are as before", () => {
    makeHtb(pair);
    const before = tcState(pair);
    const j = start({ action: "drop", match: { percent: 30, protocol: "udp", port: 7001 } });
    try {
      const n = 1000;
      const got = probe(pair, { count: n, gapMs: 1, port: 7001, waitMs: 500 });
      const [lo, hi] = binomialBounds(n, 0.3);
      const dropped = n - got.length;
      expect(dropped).toBeGreaterThan(lo);
      expect(dropped).toBeLessThan(hi);
      const s = j.status().rules[0];
      expect(Number(s?.matched)).toBe(n);
      expect(Number(s?.dropped)).toBe(dropped);
      expect(j.engine).toBe("none");
    } finally {
      stop(j);
    }
    expect(tcState(pair)).toBe(before);
  });

  /**
   * Recirculate accuracy. Where the time goes (measured on this 2-CPU machine, load average ~4
   * from other work, HZ=250, PREEMPT_NONE; 200 probes 10 ms apart, five runs):
   * - The engine itself: 8,500–13,800 laps per delayed packet (~0.4 µs each). The laps run in
   *   softirq context; after ~2 ms of it the kernel hands the rest to ksoftirqd (which used
   *   0.4–0.8 s of CPU per run, ~all of the hold time), an ordinary thread that waits behind the
   *   other work until the next tick processes the pending softirq inline. So the kernel's own
   *   release lateness (stats.lateHistogram) is < 2 µs for 51–93% of packets and otherwise up to
   *   one tick (4 ms), once in [4.1, 8.2) ms; mean 0.06–0.85 ms depending on the load.
   * - The machine: the same probe without jittergen (sender and echo are Node processes woken by
   *   the scheduler) had p95 1.6–3.2 ms, p99 3.1–17.9 ms, max up to 47 ms; 89–93.5% ≤ 1 ms.
   * - Together, the share of RTTs within [min, max + 1 ms]: jitter 2–6 ms 0.705–0.985 (baseline
   *   ≤ 1 ms share minus at most 0.23); fixed 5 ms 0.46–0.875 over IPv4, 0.535–0.905 over IPv6
   *   (minus at most 0.48). Never early in any run.
   * The bounds below: never early; release lateness below four ticks; the in-range share no more
   * than 0.4 (jitter) / 0.6 (fixed 5 ms, all its packets held long enough to reach ksoftirqd)
   * under the baseline's own share measured just before in the same test.
   */
  const baseline = (port: number, v6 = false): number[] => probe(pair, { count: 200, gapMs: 10, port, v6 }).map((g) => g[1]);
  const share = (xs: number[], lo: number, hi: number): number => xs.filter((x) => x >= lo && x <= hi).length / xs.length;
  const quantiles = (xs: number[]): string => [0.5, 0.9, 0.99, 1].map((q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]?.toFixed(2)).join("/");
  const FOUR_TICKS_BUCKET = 14; // [16.4, 32.8) ms and above: HIST bucket i is [2^i, 2^(i+1)) µs

  it("recirculate: jitter 2-6 ms seen as RTT never early, within [min, max + 1 ms] about as often as the machine allows, spread over the range, flow order kept", () => {
    const base = baseline(7002);
    const j = start({ engine: "recirculate", action: "jitter", match: { protocol: "udp", port: 7002 }, jitter: { minDelayMs: 2, maxDelayMs: 6 } });
    let got: Array<[number, number, boolean]>;
    let s: ReturnType<Jittergen["status"]>;
    try {
      got = probe(pair, { count: 200, gapMs: 10, port: 7002 });
      s = j.status();
    } finally {
      stop(j);
    }
    expect(got.length).toBe(200);
    expect(Number(s.rules[0]?.delayed)).toBe(200);
    expect(Number(s.released)).toBe(200);
    expect(s.laps).toBeGreaterThan(200n);
    // What was drawn (the kernel's own sum): the mean of 200 uniform draws on [2, 6] is 4 ± 0.08 ms (1 sd).
    expect(s.rules[0]?.meanDelayMs).toBeGreaterThan(3.5);
    expect(s.rules[0]?.meanDelayMs).toBeLessThan(4.5);
    const rtts = got.map((g) => g[1]);
    const inRange = share(rtts, 2, 7);
    console.log(`jitter 2-6 ms: RTT p50/p90/p99/max ${quantiles(rtts)} ms, ${inRange} within [2, 7]; baseline ${quantiles(base)}, ${share(base, 0, 1)} ≤ 1 ms; released late by ${s.meanLateMs.toFixed(3)} ms on average; late histogram ${s.lateHistogram.join(",")}`);
    for (const r of rtts) expect(r).toBeGreaterThanOrEqual(2);
    expect(s.lateHistogram.slice(FOUR_TICKS_BUCKET).every((c) => c === 0n)).toBe(true);
    expect(inRange).toBeGreaterThanOrEqual(share(base, 0, 1) - 0.4);
    // Spread: each millisecond of [2, 6) gets some of the probes (25% expected; the RTT tail moves some up).
    for (let ms = 2; ms < 6; ms++) expect(share(rtts, ms, ms + 1 - 1e-9), `RTT in [${ms}, ${ms + 1}) ms`).toBeGreaterThan(0.05);
    expect(got.map((g) => g[0])).toEqual([...got.map((g) => g[0])].sort((a, b) => a - b));
  });

  it("recirculate over IPv6: a fixed 5 ms delay, never early, within [5, 6] ms about as often as the machine allows", () => {
    const base = baseline(7003, true);
    const j = start({ engine: "recirculate", action: "jitter", match: { protocol: "udp", port: 7003 }, jitter: { minDelayMs: 5, maxDelayMs: 5 } });
    let got: Array<[number, number, boolean]>;
    let s: ReturnType<Jittergen["status"]>;
    try {
      got = probe(pair, { count: 200, gapMs: 10, port: 7003, v6: true });
      s = j.status();
    } finally {
      stop(j);
    }
    expect(got.length).toBe(200);
    expect(Number(s.released)).toBe(200);
    expect(s.rules[0]?.meanDelayMs).toBe(5);
    const rtts = got.map((g) => g[1]);
    const inRange = share(rtts, 5, 6);
    console.log(`IPv6 5 ms: RTT p50/p90/p99/max ${quantiles(rtts)} ms, ${inRange} within [5, 6]; baseline ${quantiles(base)}, ${share(base, 0, 1)} ≤ 1 ms; released late by ${s.meanLateMs.toFixed(3)} ms on average`);
    for (const r of rtts) expect(r).toBeGreaterThanOrEqual(5);
    expect(s.lateHistogram.slice(FOUR_TICKS_BUCKET).every((c) => c === 0n)).toBe(true);
    expect(inRange).toBeGreaterThanOrEqual(share(base, 0, 1) - 0.6);
  });

  it("reorder 20% by 15 ms: the receiver sees the selected probes after their successors", () => {
    const j = start({ engine: "recirculate", action: "reorder", match: { percent: 20, protocol: "udp", port: 7004 }, reorder: { delayMs: 15 } });
    let got: Array<[number, number, boolean]>;
    let reordered = 0;
    try {
      got = probe(pair, { count: 400, gapMs: 2, port: 7004 });
      reordered = Number(j.status().rules[0]?.reordered);
    } finally {
      stop(j);
    }
    expect(got.length).toBe(400);
    // A probe arrived late when a later sequence number arrived before it.
    const seqs = got.map((g) => g[0]);
    let maxSeen = -1;
    let late = 0;
    for (const s of seqs) {
      if (s < maxSeen) late++;
      maxSeen = Math.max(maxSeen, s);
    }
    const [lo, hi] = binomialBounds(400, 0.2);
    expect(late).toBeGreaterThan(lo);
    expect(late).toBeLessThan(hi);
    // A selected probe among the last few has fewer successors to arrive before it.
    expect(late).toBeGreaterThanOrEqual(reordered - 8);
    expect(late).toBeLessThanOrEqual(reordered);
  });

  // Each variant: the copy made by bpf_clone_redirect goes through the program again (not copied
  // again; a jitter rule gives it a delay of its own) and reaches the receiver, which echoes both.
  it.each([
    { name: "recirculate jitter 1-2 ms, TCX", doc: { engine: "recirculate", action: "jitter", jitter: { minDelayMs: 1, maxDelayMs: 2 } }, options: {} },
    { name: "pass, netlink (clsact + cls_bpf)", doc: { action: "pass" }, options: { netlink: true } },
    { name: "userspace jitter 1-2 ms, TCX", doc: { engine: "userspace", action: "jitter", jitter: { minDelayMs: 1, maxDelayMs: 2 } }, options: {} },
    { name: "userspace jitter 1-2 ms, netlink", doc: { engine: "userspace", action: "jitter", jitter: { minDelayMs: 1, maxDelayMs: 2 } }, options: { netlink: true } },
  ])("duplication 30% ($name) is seen by the receiver as often as counted", ({ doc, options }) => {
    const j = start({ ...doc, match: { protocol: "udp", port: 7007 }, duplicate: 30 }, options);
    const n = 300;
    let got: Array<[number, number, boolean]>;
    let s;
    try {
      got = probe(pair, { count: n, gapMs: 2, port: 7007 });
      s = j.status().rules[0];
    } finally {
      stop(j);
    }
    const seen = new Map<number, number>();
    for (const [seq] of got) seen.set(seq, (seen.get(seq) ?? 0) + 1);
    expect(seen.size).toBe(n);
    expect(Math.max(...seen.values())).toBeLessThanOrEqual(2);
    const twice = [...seen.values()].filter((c) => c === 2).length;
    expect(twice).toBe(Number(s?.duplicated));
    expect(Number(s?.matched)).toBe(n);
    const [lo, hi] = binomialBounds(n, 0.3);
    expect(twice).toBeGreaterThan(lo);
    expect(twice).toBeLessThan(hi);
  });

  // A flipped bit may land in the sequence number: such a probe comes back as [-1, -1, false].
  it("corruption is seen by the receiver and counted", () => {
    const j = start({ engine: "recirculate", action: "pass", match: { protocol: "udp", port: 7005 }, corrupt: 20 });
    let got: Array<[number, number, boolean]>;
    let s;
    try {
      got = probe(pair, { count: 300, gapMs: 2, port: 7005, size: 200 });
      s = j.status().rules[0];
    } finally {
      stop(j);
    }
    const corrupted = got.filter((g) => !g[2]).length;
    expect(got.length).toBe(300);
    expect(corrupted).toBe(Number(s?.corrupted));
    const [lo, hi] = binomialBounds(300, 0.2);
    expect(corrupted).toBeGreaterThan(lo);
    expect(corrupted).toBeLessThan(hi);
  });

  /**
   * The userspace engine: held packets wait in a thread of this process (SCHED_FIFO), released by
   * AF_PACKET. Measured on this 2-CPU machine at load average 12-15 (other work): the thread's
   * release lateness mean 0.04-0.1 ms, none over 0.5 ms; RTTs never early; in [min, max + 1 ms]:
   * jitter 2-6 ms 0.77-0.94, fixed 5 ms over IPv6 0.755-0.9, against a baseline ≤ 1 ms share of
   * 0.92-0.98. A held reply finds the sender asleep (the baseline's comes back while it still
   * runs), so the RTT carries one more wake-up than the baseline: the share is bounded at the
   * baseline's minus 0.35 (recirculate: 0.4 and 0.6), the lateness below four ticks as there.
   */

  it("userspace: jitter 2-6 ms seen as RTT never early, within [min, max + 1 ms] about as often as the machine allows, spread over the range, flow order kept; released packets pass untouched", () => {
    const base = baseline(7012);
    const j = start({ engine: "userspace", action: "jitter", match: { protocol: "udp", port: 7012 }, jitter: { minDelayMs: 2, maxDelayMs: 6 } });
    let got: Array<[number, number, boolean]>;
    let s: ReturnType<Jittergen["status"]>;
    try {
      expect(j.engine).toBe("userspace");
      got = probe(pair, { count: 200, gapMs: 10, port: 7012 });
      s = j.status();
    } finally {
      stop(j);
    }
    expect(got.length).toBe(200);
    // Each probe matched once: the copy user space sent (SO_MARK) was not taken for a new packet.
    expect(Number(s.rules[0]?.matched)).toBe(200);
    expect(Number(s.rules[0]?.delayed)).toBe(200);
    expect(Number(s.handed)).toBe(200);
    expect(Number(s.released)).toBe(200);
    expect(s.laps).toBe(0n);
    expect(s.holding).toBe(0n);
    expect(s.sendErrors + s.ringFull + s.unheld).toBe(0n);
    expect(s.rules[0]?.meanDelayMs).toBeGreaterThan(3.5);
    expect(s.rules[0]?.meanDelayMs).toBeLessThan(4.5);
    expect(got.every((g) => g[2])).toBe(true); // payloads intact, checksums right (the receiver checks them)
    const rtts = got.map((g) => g[1]);
    const inRange = share(rtts, 2, 7);
    console.log(`userspace jitter 2-6 ms: RTT p50/p90/p99/max ${quantiles(rtts)} ms, ${inRange} within [2, 7]; baseline ${quantiles(base)}, ${share(base, 0, 1)} ≤ 1 ms; released late by ${s.meanLateMs.toFixed(3)} ms on average; late histogram ${s.lateHistogram.join(",")}`);
    for (const r of rtts) expect(r).toBeGreaterThanOrEqual(2);
    expect(s.lateHistogram.slice(FOUR_TICKS_BUCKET).every((c) => c === 0n)).toBe(true);
    expect(inRange).toBeGreaterThanOrEqual(share(base, 0, 1) - 0.35);
    for (let ms = 2; ms < 6; ms++) expect(share(rtts, ms, ms + 1 - 1e-9), `RTT in [${ms}, ${ms + 1}) ms`).toBeGreaterThan(0.05);
    expect(got.map((g) => g[0])).toEqual([...got.map((g) => g[0])].sort((a, b) => a - b));
  });

  it("userspace over IPv6: a fixed 5 ms delay, never early, within [5, 6] ms about as often as the machine allows", () => {
    const base = baseline(7013, true);
    const j = start({ engine: "userspace", action: "jitter", match: { protocol: "udp", port: 7013 }, jitter: { minDelayMs: 5, maxDelayMs: 5 } });
    let got: Array<[number, number, boolean]>;
    let s: ReturnType<Jittergen["status"]>;
    try {
      got = probe(pair, { count: 200, gapMs: 10, port: 7013, v6: true });
      s = j.status();
    } finally {
      stop(j);
    }
    expect(got.length).toBe(200);
    expect(got.every((g) => g[2])).toBe(true);
    expect(Number(s.released)).toBe(200);
    expect(s.rules[0]?.meanDelayMs).toBe(5);
    const rtts = got.map((g) => g[1]);
    const inRange = share(rtts, 5, 6);
    console.log(`userspace IPv6 5 ms: RTT p50/p90/p99/max ${quantiles(rtts)} ms, ${inRange} within [5, 6]; baseline ${quantiles(base)}, ${share(base, 0, 1)} ≤ 1 ms; released late by ${s.meanLateMs.toFixed(3)} ms on average`);
    for (const r of rtts) expect(r).toBeGreaterThanOrEqual(5);
    expect(s.lateHistogram.slice(FOUR_TICKS_BUCKET).every((c) => c === 0n)).toBe(true);
    expect(inRange).toBeGreaterThanOrEqual(share(base, 0, 1) - 0.35);
  });

  it("userspace: reorder 20% by 15 ms — the receiver sees the selected probes after their successors", () => {
    const j = start({ engine: "userspace", action: "reorder", match: { percent: 20, protocol: "udp", port: 7014 }, reorder: { delayMs: 15 } });
    let got: Array<[number, number, boolean]>;
    let reordered = 0;
    try {
      got = probe(pair, { count: 400, gapMs: 2, port: 7014 });
      reordered = Number(j.status().rules[0]?.reordered);
    } finally {
      stop(j);
    }
    expect(got.length).toBe(400);
    let maxSeen = -1;
    let late = 0;
    for (const [seq] of got) {
      if (seq < maxSeen) late++;
      maxSeen = Math.max(maxSeen, seq);
    }
    const [lo, hi] = binomialBounds(400, 0.2);
    expect(late).toBeGreaterThan(lo);
    expect(late).toBeLessThan(hi);
    expect(late).toBeGreaterThanOrEqual(reordered - 8);
    expect(late).toBeLessThanOrEqual(reordered);
  });

  it("userspace: corruption (jitter 1 ms, corrupt 20%) — the corrupted copies reach the receiver, as many as counted", () => {
    const j = start({ engine: "userspace", action: "jitter", jitter: { minDelayMs: 1, maxDelayMs: 1 }, match: { protocol: "udp", port: 7015 }, corrupt: 20 });
    let got: Array<[number, number, boolean]>;
    let s;
    try {
      got = probe(pair, { count: 300, gapMs: 2, port: 7015, size: 200 });
      s = j.status();
    } finally {
      stop(j);
    }
    const corrupted = got.filter((g) => !g[2]).length;
    expect(got.length).toBe(300);
    expect(Number(s.released)).toBe(300);
    expect(corrupted).toBe(Number(s.rules[0]?.corrupted));
    const [lo, hi] = binomialBounds(300, 0.2);
    expect(corrupted).toBeGreaterThan(lo);
    expect(corrupted).toBeLessThan(hi);
  });

  // The original is consumed by a redirect to no device, which dev_queue_xmit reports as sent. Were
  // it reported dropped (TC_ACT_SHOT), TCP would keep the segment as unsent and send it again, each
  // copy held in turn, and take the peer's ACK of the released copy for an ACK of unsent data: the
  // exchange would stall instead of completing.
  it("userspace over TCP: request/response RTTs never under the delay, every byte right, every exchange completes", () => {
    const server = `require("node:net").createServer((c) => c.pipe(c)).listen(7018, ${JSON.stringify(pair.b.ipv4)}, () => process.stderr.write("ready\\n")); setTimeout(() => process.exit(0), 20000);`;
    const client = `
      const c = require("node:net").connect(7018, ${JSON.stringify(pair.b.ipv4)});
      const out = []; let i = 0; let t = 0n; let buf = "";
      const next = () => { if (i === 30) { c.end(); process.stdout.write(JSON.stringify(out)); return; } t = process.hrtime.bigint(); c.write("request " + i + " " + "x".repeat(100) + "\\n"); };
      c.on("connect", next);
      c.on("data", (d) => { buf += d; if (buf.endsWith("\\n")) { out.push([buf === "request " + i + " " + "x".repeat(100) + "\\n", Number(process.hrtime.bigint() - t) / 1e6]); buf = ""; i++; next(); } });
      c.on("error", (e) => { process.stderr.write(String(e)); process.exit(1); });`;
    const script = `
      const { spawn } = require("node:child_process");
      const rx = spawn("nsenter", ["--net=${pair.b.ns.path}", "--", process.execPath, "-e", ${JSON.stringify(server)}], { stdio: ["ignore", "ignore", "pipe"] });
      rx.stderr.once("data", () => {
        const tx = spawn("nsenter", ["--net=${pair.a.ns.path}", "--", process.execPath, "-e", ${JSON.stringify(client)}], { stdio: ["ignore", "pipe", "inherit"] });
        let out = ""; tx.stdout.on("data", (d) => (out += d)); tx.on("close", () => { rx.kill(); process.stdout.write(out); });
      });`;
    const j = start({ engine: "userspace", action: "jitter", match: { protocol: "tcp", port: 7018 }, jitter: { minDelayMs: 2, maxDelayMs: 3 } });
    let got: Array<[boolean, number]>;
    let s;
    try {
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 30_000 });
      expect(r.stdout.startsWith("["), r.stderr).toBe(true);
      got = JSON.parse(r.stdout) as Array<[boolean, number]>;
      s = j.status();
    } finally {
      stop(j);
    }
    expect(got.length).toBe(30);
    expect(got.every(([ok]) => ok)).toBe(true);
    for (const [, rtt] of got) expect(rtt).toBeGreaterThanOrEqual(2);
    expect(Number(s.released)).toBeGreaterThanOrEqual(30);
    expect(Number(s.released)).toBe(Number(s.handed));
    expect(s.sendErrors).toBe(0n);
  });

  it("userspace: --pin is refused in one line and nothing changes; a reload keeps the release thread", () => {
    const before = tcState(pair);
    const doc = { engine: "userspace", action: "jitter", match: { protocol: "udp", port: 7016 }, jitter: { minDelayMs: 2, maxDelayMs: 2 } };
    expect(() => start(doc, { pin: true })).toThrow(/^--pin: the userspace engine holds packets in this process/);
    expect(tcState(pair)).toBe(before);
    const file = join(dir, "pin-userspace.yml");
    writeFileSync(file, `outIf: ${pair.a.ifname}\nengine: userspace\naction: jitter\njitter: { minDelayMs: 1, maxDelayMs: 2 }\n`);
    const r = cli(["-c", file, "--pin"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^tsebpf: --pin: the userspace engine .*\n$/);
    expect(r.stderr.split("\n").length).toBe(2);
    expect(tcState(pair)).toBe(before);
    const j = start(doc);
    try {
      expect(probe(pair, { count: 20, gapMs: 10, port: 7016 }).every((g) => g[1] >= 2)).toBe(true);
      inA(pair, () => j.reload(config({ ...doc, jitter: { minDelayMs: 4, maxDelayMs: 4 } }, pair.a.ifname)));
      const got = probe(pair, { count: 20, gapMs: 10, port: 7016 });
      expect(got.length).toBe(20);
      for (const g of got) expect(g[1]).toBeGreaterThanOrEqual(4);
      expect(j.releaseStats?.released).toBe(40);
    } finally {
      stop(j);
    }
    expect(tcState(pair)).toBe(before);
  });

  it("userspace: at SIGINT the packets still held are sent at once (in departure order) and counted as flushed; none is lost", async () => {
    const before = tcState(pair);
    const file = join(dir, "flush.yml");
    writeFileSync(file, `outIf: ${pair.a.ifname}\nengine: userspace\naction: jitter\nmatch: { protocol: udp, port: 7017 }\njitter: { minDelayMs: 4000, maxDelayMs: 4000 }\n`);
    const run = new CliRun(["jittergen", "-c", file, "--interval", "0.1"], { nsPath: pair.a.ns.path });
    await run.waitFor(/running/);
    // 20 probes held for 4 s; SIGINT once the summary says all 20 are held; the probes wait for answers 6 s.
    const probes = probeAsync(pair, { count: 20, gapMs: 5, port: 7017, waitMs: 6000 });
    await run.waitFor(/holding 20;/);
    await run.stop("SIGINT");
    const got = await probes;
    expect(run.stdout + run.stderr).toContain("sent the 20 packets still held at once");
    expect(run.stdout + run.stderr).toContain("detached, qdiscs restored");
    expect(got.length).toBe(20);
    expect(got.map((g) => g[0])).toEqual([...Array(20).keys()]);
    for (const g of got) expect(g[1]).toBeLessThan(4000);
    expect(tcState(pair)).toBe(before);
  });

  it("a tbf root is the same after a run and after SIGINT of the CLI (netlink attachment)", async () => {
    makeTbf(pair);
    const before = tcState(pair);
    const file = join(dir, "int.yml");
    writeFileSync(file, `outIf: ${pair.a.ifname}\nengine: recirculate\naction: jitter\nmatch: { protocol: udp, port: 7006 }\njitter: { minDelayMs: 1, maxDelayMs: 2 }\n`);
    const run = new CliRun(["jittergen", "-c", file, "--netlink", "--interval", "0"], { nsPath: pair.a.ns.path });
    await run.waitFor(/running/);
    expect(tcState(pair)).not.toBe(before); // clsact + filters while it runs
    await run.stop("SIGINT");
    expect(run.stdout + run.stderr).toContain("qdiscs restored");
    expect(tcState(pair)).toBe(before);
  });

  it("after SIGKILL, the next start finds the record and restores the qdiscs exactly (htb root and class, clsact removed)", async () => {
    makeHtb(pair);
    const before = tcState(pair);
    const file = join(dir, "kill.yml");
    writeFileSync(file, `outIf: ${pair.a.ifname}\nengine: recirculate\naction: drop\nmatch: { percent: 10 }\n`);
    const run = new CliRun(["jittergen", "-c", file, "--netlink", "--interval", "0"], { nsPath: pair.a.ns.path, watch: "stdout" });
    await run.waitFor(/running/);
    const record = inA(pair, () => recordPath(pair.a.ifname));
    expect(existsSync(record)).toBe(true);
    // What a crash may also leave: a root qdisc replaced (as the edt engine does with fq).
    inA(pair, () => runtime.replaceRootQdisc(runtime.ifindex(pair.a.ifname), "pfifo"));
    await run.stop("SIGKILL");
    // nsenter's child is the Node process: wait until it is gone too.
    await new Promise((r) => setTimeout(r, 300));
    expect(tcState(pair)).not.toBe(before);
    const j = start({ action: "drop", match: { percent: 0 } });
    expect(j.recovered).toMatch(/ended without cleaning up.*removed the clsact qdisc.*restored the root qdisc \(htb\)/);
    stop(j);
    expect(tcState(pair)).toBe(before);
    expect(existsSync(record)).toBe(false);
  });

  it("CLI: --pin leaves it running, status reads its counters, --unpin removes it and restores the qdiscs; an engine refusal is one line", () => {
    makeTbf(pair);
    const before = tcState(pair);
    const file = join(dir, "pin.yml");
    writeFileSync(file, `outIf: ${pair.a.ifname}\naction: drop\nmatch: { percent: 100, protocol: udp, port: 7010 }\n`);
    const pinned = cli(["-c", file, "--pin"]);
    try {
      expect(pinned.status, pinned.stderr).toBe(0);
      expect(pinned.stdout).toMatch(/jittergen pinned on .* egress \(tcx, engine none\)/);
      // It runs with no process: the probes to 7010 are dropped and counted.
      expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7010, 800)).toBe(false);
      const st = cli(["status", "--json", "--interface", pair.a.ifname]);
      expect(st.status, st.stderr).toBe(0);
      const [s] = JSON.parse(st.stdout) as Array<{ outIf: string; rules: Array<{ matched: number; dropped: number }> }>;
      expect(s?.outIf).toBe(pair.a.ifname);
      expect(s?.rules[0]?.dropped).toBeGreaterThanOrEqual(10);
      expect(s?.rules[0]?.dropped).toBe(s?.rules[0]?.matched);
      expect(cli(["status"]).stdout).toContain(`${pair.a.ifname} none: packets`);
    } finally {
      const un = cli(["-c", file, "--unpin"]);
      expect(un.stdout).toContain(`unpinned jittergen on ${pair.a.ifname}; qdiscs restored`);
    }
    expect(tcState(pair)).toBe(before);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7010, 800)).toBe(true);
    expect(cli(["--unpin", "--interface", pair.a.ifname]).stdout).toBe(`no jittergen pinned on ${pair.a.ifname}\n`);
    // auto without fq refuses a delaying config: exit 1, one line naming the key, nothing changed.
    const refusing = join(dir, "refuse.yml");
    writeFileSync(refusing, `outIf: ${pair.a.ifname}\naction: jitter\njitter: { minDelayMs: 1, maxDelayMs: 2 }\n`);
    const refused = cli(["-c", refusing]);
    if (runtime.qdiscKindAvailable("fq") === false) {
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/^tsebpf: .*refuse\.yml: engine: .*engine: recirculate.*\n$/);
      expect(refused.stderr.split("\n").length).toBe(2);
      expect(tcState(pair)).toBe(before);
    }
  });

  it("CLI: SIGHUP applies new rules without detaching", async () => {
    const file = join(dir, "hup.yml");
    writeFileSync(file, `outIf: ${pair.a.ifname}\naction: drop\nmatch: { percent: 0, protocol: udp, port: 7011 }\n`);
    const run = new CliRun(["jittergen", "-c", file, "--interval", "0"], { nsPath: pair.a.ns.path });
    try {
      await run.waitFor(/running/);
      expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7011, 800)).toBe(true);
      writeFileSync(file, `outIf: ${pair.a.ifname}\naction: drop\nmatch: { percent: 100, protocol: udp, port: 7011 }\n`);
      run.child.kill("SIGHUP");
      await run.waitFor(/config applied: 1 rule/);
      expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7011, 800)).toBe(false);
      // A broken file is refused and the rules in effect stay.
      writeFileSync(file, `outIf: ${pair.a.ifname}\naction: explode\n`);
      run.child.kill("SIGHUP");
      await run.waitFor(/config not applied/);
      expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7011, 800)).toBe(false);
    } finally {
      await run.stop("SIGINT");
    }
    expect(run.stdout + run.stderr).toContain("detached, qdiscs restored");
    expect(run.stdout + run.stderr).toMatch(/action \[.*\] matched [1-9]\d* dropped [1-9]/);
  });

  it("an unknown interface is refused naming outIf, and nothing is touched", () => {
    const before = tcState(pair);
    expect(() => inA(pair, () => Jittergen.start(config({ action: "drop" }, "nosuch0")))).toThrow(/test\.yml: outIf: .*nosuch0/);
    expect(tcState(pair)).toBe(before);
  });
});
