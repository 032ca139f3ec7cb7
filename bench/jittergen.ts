/**
 * #12 jittergen.
 *
 * Drop path: ns per packet of jg_egress with one drop rule (percent 100, matching the frame)
 * through BPF_PROG_TEST_RUN, against a sched_cls program that returns TC_ACT_OK at once (the
 * floor), same frame, rounds interleaved; the ratio is the median of per-round ratios.
 *
 * Delay accuracy, for the two engines this kernel can run (no fq): recirculate and userspace.
 * Two namespaces joined by a veth pair, UDP probes at 1,000 packets/s for 1 s from A to an echo
 * in B, a fixed delay of 1, 5 and 20 ms on A's egress. "Error" is the RTT minus the configured delay minus the
 * median RTT of the same probe without jittergen (measured first): what jittergen adds beyond
 * the delay. The kernel's own release lateness (how long after its deadline the engine let a
 * packet go, jg_stats) is shown beside it: on a busy machine the RTT error also holds the sender's
 * and echo's scheduling, which the lateness does not. For userspace the lateness is the release
 * thread's (send time − departure, CLOCK_MONOTONIC). CPU per delayed packet: softirq time of all
 * CPUs (/proc/stat) during the run over the packets delayed, and for userspace also this
 * process's CPU time (the release thread: the main thread waits in spawnSync meanwhile). Both
 * include what else runs on the machine at the time.
 *
 * One-way rows (12uo/12ao), beside the RTT rows: the RTT's p99 is mostly the two Node processes'
 * own wake-ups (the baseline RTT's p99 is already +0.4–0.65 ms on an idle machine), so the same
 * delays are also measured one way with a C peer built at bench time (bench/peers/oneway.c): a
 * sender in A stamps each datagram with CLOCK_REALTIME right before its sendto, a receiver in B
 * reads the kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME, taken in B's receive
 * path before the socket and the receiver's wake-up; one machine, one clock). One-way error =
 * (rx stamp − tx stamp) − delay − the baseline's median one-way time (same peer, no jittergen),
 * each delay in a jittergen instance of its own started after the RTT run's (whose CPU figures
 * stay the RTT run's).
 * It includes the sender's path from the stamp to TC egress, the hold and release, and veth; it
 * excludes both processes' scheduling (the sender's lateness only moves its send time). The
 * kernel's software TX stamp (SO_TIMESTAMPING TX_SOFTWARE) is not used as the send time: veth
 * takes it in veth_xmit, after the TC egress hook where jittergen holds the packet (so it would
 * hide the delay); the sender asks for it anyway and the note says what came back.
 */
import { spawnSync } from "node:child_process";
import { cpuUsage } from "node:process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { asm, runtime } from "../src/index.js";
import { ProgramType } from "../src/abi/index.js";
import { parseConfig } from "../src/programs/jittergen/config.js";
import { Jittergen, loadProgram } from "../src/programs/jittergen/index.js";
import { frame } from "../test/helpers/packets.js";
import { buildPeer, interleaved, median, roundRatio, workdir, type Figure } from "./lib.js";

const REPEAT = 100_000;
const ROUNDS = 11;

/** Exported so the drop row can be measured alone (the accuracy rows need namespaces and take minutes). */
export function dropPath(): Figure {
  const cfg = parseConfig({ outIf: "lo", action: "drop", match: { percent: 100, protocol: "udp", port: 5000 } }, "bench.yml");
  using jg = loadProgram(cfg, "none", 1);
  using floor = runtime.Program.load({ name: "tc_ok", type: ProgramType.SCHED_CLS, instructions: asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]), license: "GPL" });
  const data = frame({ src: "10.0.0.1", dst: "10.0.0.2", protocol: "udp", dstPort: 5000 });
  const [ours = [], theirs = []] = interleaved(ROUNDS, [
    () => jg.programs.jg_egress.testRun({ data, repeat: REPEAT }).duration,
    () => floor.testRun({ data, repeat: REPEAT }).duration,
  ]);
  const ratio = roundRatio(ours, theirs);
  return { id: "12d", figure: "jittergen drop path (ns/packet)", tsebpf: `${median(ours).toFixed(1)} ns`, peer: `${median(theirs).toFixed(1)} ns (TC_ACT_OK)`, ratio, target: "≤ 2x", pass: ratio <= 2 };
}

const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
};

/** RTTs (ms) of `count` probes `gapMs` apart from ns A to an echo in ns B. */
function probe(nsA: string, nsB: string, address: string, port: number, count: number, gapMs: number): number[] {
  const echo = `const s = require("node:dgram").createSocket("udp4"); s.on("message", (m, r) => s.send(m, r.port, r.address));
    s.bind(${port}, "${address}", () => process.stderr.write("ready\\n")); setTimeout(() => process.exit(0), ${count * gapMs + 4000});`;
  const sender = `const s = require("node:dgram").createSocket("udp4"); const sent = new Map(); const rtt = [];
    s.on("message", (m) => { const at = sent.get(m.readUInt32BE(0)); if (at !== undefined) rtt.push(Number(process.hrtime.bigint() - at) / 1e6); });
    s.bind(0, () => { let i = 0; const t0 = process.hrtime.bigint();
      const tick = () => { // paced against the clock: a late timer sends what is due
        while (i < ${count} && Number(process.hrtime.bigint() - t0) / 1e6 >= i * ${gapMs}) { const b = Buffer.alloc(64); b.writeUInt32BE(i, 0); sent.set(i, process.hrtime.bigint()); s.send(b, ${port}, "${address}"); i++; }
        if (i < ${count}) setTimeout(tick, 0.5); else setTimeout(() => { process.stdout.write(JSON.stringify(rtt)); process.exit(0); }, 1000);
      }; tick(); });`;
  const script = `const { spawn } = require("node:child_process");
    const rx = spawn("nsenter", ["--net=/var/run/netns/${nsB}", "--", process.execPath, "-e", ${JSON.stringify(echo)}], { stdio: ["ignore", "ignore", "pipe"] });
    rx.stderr.once("data", () => { const tx = spawn("nsenter", ["--net=/var/run/netns/${nsA}", "--", process.execPath, "-e", ${JSON.stringify(sender)}], { stdio: ["ignore", "pipe", "inherit"] });
      let out = ""; tx.stdout.on("data", (d) => (out += d)); tx.on("close", () => { rx.kill(); process.stdout.write(out); }); });`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: count * gapMs + 30_000 });
  if (!r.stdout.startsWith("[")) throw new Error(`probe failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as number[];
}

/**
 * One-way times (ms) of `count` datagrams `gapUs` apart from ns A to ns B through the C peer
 * (`peer`): kernel receive stamp − the sender's CLOCK_REALTIME stamp before sendto, per datagram
 * received; and for those the kernel also stamped at TX (software), TX stamp − sender stamp.
 */
function oneWay(peer: string, nsA: string, nsB: string, address: string, port: number, count: number, gapUs: number): { oneWay: number[]; txLag: number[] } {
  const [rx, rxErr, tx] = ["rx.txt", "rx.err", "tx.txt"].map((f) => join(workdir, `oneway-${f}`)) as [string, string, string];
  const q = (x: string) => `'${x}'`;
  const script = `nsenter --net=/var/run/netns/${nsB} -- ${q(peer)} rx ${address} ${port} ${count} > ${q(rx)} 2> ${q(rxErr)} & pid=$!
    n=0; until grep -q ready ${q(rxErr)} 2>/dev/null; do n=$((n+1)); [ $n -gt 500 ] && { cat ${q(rxErr)} >&2; exit 1; }; sleep 0.01; done
    nsenter --net=/var/run/netns/${nsA} -- ${q(peer)} tx ${address} ${port} ${count} ${gapUs} txsw > ${q(tx)} || exit 1
    wait $pid`;
  sh("sh", ["-c", script]);
  const sent = new Map<number, bigint>();
  const txsw = new Map<number, bigint>(readFileSync(tx, "utf8").trim().split("\n").filter(Boolean).map((l) => { const [i = "0", t = "0"] = l.split(" "); return [Number(i), BigInt(t)] as const; }));
  const oneWayMs: number[] = [];
  const txLag: number[] = [];
  for (const line of readFileSync(rx, "utf8").trim().split("\n").filter(Boolean)) {
    const [i = "0", t = "0", r = "0"] = line.split(" ");
    if (sent.has(Number(i)) || r === "0") continue; // duplicates; no stamp
    sent.set(Number(i), BigInt(t));
    oneWayMs.push(Number(BigInt(r) - BigInt(t)) / 1e6);
    const sw = txsw.get(Number(i));
    if (sw !== undefined) txLag.push(Number(sw - BigInt(t)) / 1e6);
  }
  return { oneWay: oneWayMs, txLag };
}

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const softirqTicks = (): number => Number(readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/)[7] ?? 0);

function accuracy(): Figure[] {
  const tag = `jgb${process.pid % 100000}`;
  const [nsA, nsB, ifA, ifB] = [`tsebpf-${tag}a`, `tsebpf-${tag}b`, `${tag}a`, `${tag}b`];
  const figures: Figure[] = [];
  try {
    sh("ip", ["netns", "add", nsA]);
    sh("ip", ["netns", "add", nsB]);
    sh("ip", ["link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB]);
    for (const [ns, ifname, host] of [[nsA, ifA, 1], [nsB, ifB, 2]] as const) {
      sh("ip", ["-n", ns, "addr", "add", `10.251.${process.pid % 250}.${host}/24`, "dev", ifname]);
      sh("ip", ["-n", ns, "link", "set", ifname, "up"]);
    }
    const address = `10.251.${process.pid % 250}.2`;
    probe(nsA, nsB, address, 7100, 20, 10); // neighbours resolved
    const baseRtts = probe(nsA, nsB, address, 7100, 1000, 1);
    const base = median(baseRtts);
    const baseP99 = quantile(baseRtts.map((r) => r - base), 0.99);
    const peer = buildPeer("oneway.c", []);
    const baseOneWay = peer.path ? oneWay(peer.path, nsA, nsB, address, 7100, 1000, 1000) : undefined;
    const owBase = baseOneWay ? median(baseOneWay.oneWay) : NaN;
    const owBaseP99 = baseOneWay ? quantile(baseOneWay.oneWay.map((r) => r - owBase), 0.99) : NaN;
    // userspace first: the recirculate runs leave the CPUs busy with laps (and softirq time runs before any thread).
    for (const [engine, id, delay] of [["userspace", "12u"], ["recirculate", "12a"]].flatMap(([e, i]) => [1, 5, 20].map((d) => [e as "userspace" | "recirculate", i as string, d] as const))) {
      const cfg = parseConfig({ outIf: ifA, engine, action: "jitter", match: { protocol: "udp", port: 7100 }, jitter: { minDelayMs: delay, maxDelayMs: delay } }, "bench.yml");
      const jg = runtime.withNetns(`/var/run/netns/${nsA}`, () => Jittergen.start(cfg));
      let rtts: number[];
      let s: ReturnType<Jittergen["status"]>;
      const t0 = softirqTicks();
      const c0 = cpuUsage();
      try {
        rtts = probe(nsA, nsB, address, 7100, 1000, 1);
        s = jg.status();
      } finally {
        runtime.withNetns(`/var/run/netns/${nsA}`, () => jg.stop());
      }
      const cpuUs = ((softirqTicks() - t0) * 1e6) / 100 / Math.max(1, Number(s.released));
      const c1 = cpuUsage(c0);
      const processUs = (c1.user + c1.system) / Math.max(1, Number(s.released));
      const err = rtts.map((r) => r - delay - base);
      const p50 = quantile(err, 0.5);
      const p99 = quantile(err, 0.99);
      const late = s.lateHistogram;
      const lateP99Bucket = late.findIndex((_, i) => late.slice(0, i + 1).reduce((a, b) => a + b, 0n) * 100n >= 99n * (s.released || 1n));
      figures.push({
        id,
        figure: `jittergen ${engine} ${delay} ms delay error p50/p99 (1k pkt/s)`,
        tsebpf: `${p50.toFixed(2)}/${p99.toFixed(2)} ms`,
        peer: `baseline RTT p50 ${base.toFixed(2)} ms, p99 +${baseP99.toFixed(2)} ms`,
        ratio: undefined,
        target: "p99 ≤ 1 ms",
        pass: p99 <= 1,
        note:
          engine === "recirculate"
            ? `${delay} ms: ${rtts.length}/1000 back; kernel release lateness mean ${s.meanLateMs.toFixed(3)} ms, p99 < ${(2 ** (lateP99Bucket + 1) / 1000).toFixed(3)} ms; ${(Number(s.laps) / Math.max(1, Number(s.released))).toFixed(0)} laps and ~${cpuUs.toFixed(0)} µs softirq CPU per delayed packet`
            : `${delay} ms: ${rtts.length}/1000 back; release thread lateness mean ${s.meanLateMs.toFixed(3)} ms, p99 < ${(2 ** (lateP99Bucket + 1) / 1000).toFixed(3)} ms (SCHED_FIFO ${jg.releaseStats?.realtimePriority ?? 0}); release thread CPU ${(((jg.releaseStats?.cpuUserUs ?? 0) + (jg.releaseStats?.cpuSystemUs ?? 0)) / Math.max(1, Number(s.released))).toFixed(1)} µs per delayed packet (user ${((jg.releaseStats?.cpuUserUs ?? 0) / Math.max(1, Number(s.released))).toFixed(1)}, system ${((jg.releaseStats?.cpuSystemUs ?? 0) / Math.max(1, Number(s.released))).toFixed(1)}: its sendto carries the packet through the veth peer's receive path), start-up ${((jg.releaseStats?.startupCpuUs ?? 0) / 1000).toFixed(0)} ms; process ~${processUs.toFixed(1)} µs, softirq (whole machine) ~${cpuUs.toFixed(1)} µs`,
      });
      // A fresh instance for the one-way run: the RTT row's CPU figures stay its own.
      let ow: ReturnType<typeof oneWay> | undefined;
      if (peer.path) {
        const jg1 = runtime.withNetns(`/var/run/netns/${nsA}`, () => Jittergen.start(cfg));
        try {
          ow = oneWay(peer.path, nsA, nsB, address, 7100, 1000, 1000);
        } finally {
          runtime.withNetns(`/var/run/netns/${nsA}`, () => jg1.stop());
        }
      }
      const owId = `${id}o`;
      const owFigure = `jittergen ${engine} ${delay} ms one-way delay error p50/p99 (1k pkt/s, kernel RX stamp)`;
      if (!ow || !baseOneWay) {
        figures.push({ id: owId, figure: owFigure, tsebpf: "n/a", peer: "n/a", ratio: undefined, target: "p99 ≤ 1 ms", pass: undefined, note: peer.reason });
        continue;
      }
      const owErr = ow.oneWay.map((t) => t - delay - owBase);
      const owP99 = quantile(owErr, 0.99);
      const lag = ow.txLag.length ? `${ow.txLag.length} software TX stamps came back, stamp − sender stamp p50 ${quantile(ow.txLag, 0.5).toFixed(3)} ms (taken after the hold)` : "no software TX stamp came back (the original is taken at TC egress; the copy sent has no socket)";
      figures.push({
        id: owId,
        figure: owFigure,
        tsebpf: `${quantile(owErr, 0.5).toFixed(3)}/${owP99.toFixed(3)} ms`,
        peer: `baseline one-way p50 ${(owBase * 1000).toFixed(1)} µs, p99 +${(owBaseP99 * 1000).toFixed(1)} µs`,
        ratio: undefined,
        target: "p99 ≤ 1 ms",
        pass: owP99 <= 1 && ow.oneWay.length > 0,
        note: `${delay} ms: ${ow.oneWay.length}/1000 received, min error ${quantile(owErr, 0).toFixed(3)} ms, max ${quantile(owErr, 1).toFixed(3)} ms; ${lag}; baseline ${baseOneWay.oneWay.length}/1000`,
      });
    }
  } finally {
    spawnSync("ip", ["netns", "del", nsA]);
    spawnSync("ip", ["netns", "del", nsB]);
  }
  return figures;
}

export function jittergenBench(): Figure[] {
  return [dropPath(), ...accuracy()];
}
