/** `tsebpf jittergen`: drop, delay, reorder, duplicate and corrupt packets on an interface's egress. */
import { Command } from "commander";
import type { Output } from "../../cli/io.js";
import { NETWORK_PROGRAM_CAPABILITIES, requireCapabilities } from "../common/capabilities.js";
import { withLock } from "../common/lock.js";
import { isInterfaceName } from "../common/net.js";
import { parseInterval, runUntilStopped } from "../common/run.js";
import { describeRule, loadConfig, type JittergenConfig } from "./config.js";
import { Jittergen, PIN_ROOT, PIN_USERSPACE, type JittergenStatus } from "./index.js";
import { metricsAddress, metricsOption, metricsText, serveMetrics, statusMetricsOption } from "../common/metrics-cli.js";
import { jittergenMetrics } from "./metrics.js";

interface RunOptions {
  config: string;
  interval: string;
  json?: boolean;
  pin?: boolean;
  unpin?: boolean;
  interface?: string;
  netlink?: boolean;
  metrics?: string;
}

const EXAMPLE_CONFIG = `
  outIf: eth1                    # the interface whose egress is changed
  action: jitter                 # drop | jitter | reorder (| pass: only duplicate/corrupt/rate)
  match: { percent: 30, protocol: udp, port: 5000 }   # port: destination port (or 5000-5099)
  jitter: { minDelayMs: 1, maxDelayMs: 5 }             # uniform on [min, max], flow order kept
  reorder: { delayMs: 10 }
  engine: auto                   # auto | edt (fq) | userspace (no fq needed; not with --pin) | recirculate
  # horizonMs: 10000             # the longest hold (the fq horizon); flowLimit: 1000 (fq)
  # more rules, first match wins (after the top-level one):
  rules:
    - action: drop
      match: { protocol: tcp, dst: 10.0.0.0/8, srcPort: 1000-2000, percent: 5 }
      loss: { model: gilbert-elliott, p: 1, r: 25, lossInBad: 100, lossInGood: 0 }
    - action: pass
      match: { family: ipv6 }
      duplicate: 1               # percent of matched packets sent twice
      corrupt: 0.5               # percent with one payload bit flipped
      rate: 10mbit               # pacing (bit, kbit, mbit, gbit; bps, kbps … are bytes/s)`;

const n = (v: bigint): string => v.toString();

/** One line: `veth0 recirculate: action (udp dport 5000 30%: drop) matched 100 dropped 31 …`. */
export function formatSummary(s: JittergenStatus): string {
  const rules = s.rules.map((r) => {
    const parts = [`matched ${n(r.matched)}`];
    if (r.dropped) parts.push(`dropped ${n(r.dropped)}`);
    if (r.delayed) parts.push(`delayed ${n(r.delayed)} (mean ${r.meanDelayMs.toFixed(2)} ms)`);
    if (r.reordered) parts.push(`reordered ${n(r.reordered)}`);
    if (r.duplicated) parts.push(`duplicated ${n(r.duplicated)}`);
    if (r.corrupted) parts.push(`corrupted ${n(r.corrupted)}`);
    if (r.overlimit) parts.push(`overlimit ${n(r.overlimit)}`);
    return `${r.key} [${r.description}] ${parts.join(" ")}`;
  });
  const laps = s.engine === "recirculate" ? `, laps ${n(s.laps)}` : "";
  const held =
    s.engine === "userspace"
      ? `, released ${n(s.released)} (late ${s.meanLateMs.toFixed(3)} ms on average), holding ${n(s.holding)}${s.unheld ? `, unheld ${n(s.unheld)}` : ""}${s.ringFull ? `, ring full ${n(s.ringFull)}` : ""}${s.sendErrors ? `, send errors ${n(s.sendErrors)}` : ""}`
      : "";
  return `${s.outIf} ${s.engine}: packets ${n(s.packets)}${laps}${held}; ${rules.join("; ")}`;
}

export function statusJson(s: JittergenStatus): unknown {
  return JSON.parse(JSON.stringify({ time: new Date().toISOString(), ...s }, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)));
}

function printStatus(io: Output, s: JittergenStatus, json: boolean | undefined): void {
  io.out(json ? `${JSON.stringify(statusJson(s))}\n` : `${formatSummary(s)}\n`);
}

function interfaceOption(name: string): string {
  if (!isInterfaceName(name)) throw new Error(`--interface: '${name}' is not an interface name (1 to 15 characters, no '/', ':' or spaces)`);
  return name;
}

/** Throws, naming the capability, when this process cannot load the TC programs and change the qdiscs. */
export function requireJittergenCapabilities(effective?: bigint): void {
  requireCapabilities("jittergen", NETWORK_PROGRAM_CAPABILITIES, "changing egress with TC", ...(effective === undefined ? [] : [effective]));
}

export function describeConfig(c: JittergenConfig): string {
  return `${c.outIf}, engine ${c.engine}: ${c.rules.map((r) => `${r.key} [${describeRule(r)}]`).join("; ")}`;
}

export function registerJittergen(program: Command, io: Output): void {
  const jg = program
    .command("jittergen")
    .description("network-condition simulator on TC egress: drop, delay (jitter), reorder, duplicate, corrupt and pace selected packets")
    .enablePositionalOptions()
    .option("-c, --config <path>", "configuration file (YAML)", "./config.yml")
    .option("--interval <sec>", "print a one-line summary every SEC seconds (0: only at exit)", "5")
    .option("--json", "print summaries as JSON, one object per line")
    .option("--pin", "pin the links and maps and exit, leaving it running (remove with --unpin)")
    .option("--unpin", "remove the jittergen pinned on the config's outIf (or --interface), restoring its qdiscs, and exit")
    .option("--interface <name>", "with --unpin: the interface, instead of the config's outIf")
    .option("--netlink", "attach with clsact + cls_bpf instead of TCX links (a crashed run leaves them: the next start removes them)")
    .addOption(metricsOption())
    .addHelpText(
      "after",
      `
Configuration (original keys outIf, action, match, jitter, reorder; the rest is new):${EXAMPLE_CONFIG}

Delay engines:
  edt          the departure time goes to skb->tstamp and fq becomes the root qdisc (horizon
               and flow limit from the config), the way Cilium's bandwidth manager works.
  userspace    for kernels without fq: a packet not yet due is copied (up to 9 KiB; a larger or
               GSO one leaves undelayed, counted as unheld) to a ring buffer with its departure
               time and consumed; a thread of this process keeps it in a heap, sleeps on a
               timerfd until it is due and sends it out of the interface with an AF_PACKET socket
               (SO_MARK: the program lets it pass). Waiting costs no CPU; each delayed packet
               costs a ring record, a copy and a sendto (54-74 µs of the thread's CPU here, vs
               350-850 µs of softirq for recirculate), plus one thread. It lives in this
               process: no --pin; at exit the packets still held are sent at once (flushed).
               TCP/UDP checksums are recomputed; the copy leaves with skb->mark 0.
  recirculate  for kernels without fq: a packet not yet due is bounced between the interface's
               egress and ingress hooks (its deadline in skb->cb and a mark) until it is. Every
               held packet costs softirq CPU on every lap (~0.6 µs each, thousands per ms): late
               by milliseconds once the CPUs are busy. Survives --pin. For low packet rates.
  auto         edt where the kernel has fq; otherwise a config that delays refuses to start and
               says so (naming userspace and recirculate). drop works with any engine.
  Which: edt wherever there is fq; userspace for accurate delays without it (released within
  ~0.1 ms of the departure here); recirculate only where it must outlive the process (--pin).

Each selected packet gets its own delay, uniform on [minDelayMs, maxDelayMs]; with jitter a packet
never leaves before its flow's previous one (keepOrder: false lifts that), and delays do not pile
up. reorder holds the selected fraction for delayMs so it arrives after its successors.

The root qdisc tree and the clsact qdisc are recorded under /run/tsebpf before any change and put
back exactly at exit (SIGINT, SIGTERM); a start after a crashed run restores what it left. SIGHUP
or a change of the config file applies new rules without detaching (outIf, engine, horizonMs
need a restart). Counters per rule: matched, dropped, delayed (with a log2 delay histogram in
--json), reordered, duplicated, corrupted; 'tsebpf jittergen status' reads a pinned instance's.
--metrics ADDR:PORT serves them in the Prometheus text format (status --metrics prints them for
a pinned one): tsebpf_jittergen_rule_{matched,selected,dropped,delayed,reordered,duplicated,
corrupted,overlimit}_total{interface,rule}, tsebpf_jittergen_delay_seconds (a histogram),
tsebpf_jittergen_packets_total, the engines' counters, tsebpf_events_lost_total, build info.

Examples:
  tsebpf jittergen -c jitter.yml --interval 1
  tsebpf jittergen -c jitter.yml --pin        # keep running after exit
  tsebpf jittergen status --json
  tsebpf jittergen -c jitter.yml --metrics 127.0.0.1:9105   # Prometheus at /metrics
  tsebpf jittergen status --metrics > /var/lib/node_exporter/jg.prom.tmp  # textfile collector
  tsebpf jittergen -c jitter.yml --unpin
  tsebpf jittergen check jitter.yml           # validate, load nothing`,
    )
    .action(async (opts: RunOptions) => {
      if (opts.interface !== undefined) interfaceOption(opts.interface);
      if (opts.unpin) {
        const ifname = opts.interface ?? loadConfig(opts.config).outIf;
        io.out(Jittergen.unpin(ifname) ? `unpinned jittergen on ${ifname}; qdiscs restored\n` : `no jittergen pinned on ${ifname}\n`);
        return;
      }
      if (opts.interface) throw new Error("--interface: only with --unpin (the config's outIf says where to run)");
      const intervalMs = Math.round(parseInterval(opts.interval) * 1000);
      if (opts.pin && opts.netlink) throw new Error("--netlink: a netlink attachment cannot be pinned (--pin needs TCX links)");
      const metricsAt = metricsAddress(opts.metrics);
      if (metricsAt && opts.pin) throw new Error("--metrics needs the process that serves them: it does not go with --pin (status --metrics reads a pinned instance)");
      const config = loadConfig(opts.config);
      if (opts.pin && config.engine === "userspace") throw new Error(PIN_USERSPACE);
      // A missing capability is one line naming it, before any qdisc is touched or anything loaded.
      requireJittergenCapabilities();
      let started: Jittergen | undefined;
      const metrics = metricsAt ? await serveMetrics(metricsAt, () => (started ? jittergenMetrics([started.status()]) : undefined), (line) => io.err(`${line}\n`)) : undefined;
      const jitter = await withLock(`jittergen-${config.outIf}`, () => Jittergen.start(config, { pin: opts.pin === true, ...(opts.netlink ? { netlink: true } : {}) })).catch(async (e: unknown) => {
        await metrics?.close();
        throw e;
      });
      started = jitter;
      try {
        if (jitter.recovered) io.err(`${jitter.recovered}\n`);
        const where = `${config.outIf} egress (${jitter.via}, engine ${jitter.engine})`;
        if (opts.pin) {
          io.out(`jittergen pinned on ${where} at ${jitter.pinned}: 'tsebpf jittergen --unpin' removes it\n`);
          return;
        }
        let releaseFailureShown = false;
        if (!opts.json) io.out(`jittergen running on ${where}: ${config.rules.map((r) => `${r.key} [${describeRule(r)}]`).join("; ")}; Ctrl+C (SIGINT) or SIGTERM restores everything, SIGHUP or editing the config applies new rules\n`);
        await runUntilStopped({
          intervalMs,
          tick: () => {
            printStatus(io, jitter.status(), opts.json);
            const failure = jitter.releaseFailure;
            if (failure && !releaseFailureShown) {
              releaseFailureShown = true;
              io.err(`tsebpf: the packet release thread failed, delayed packets are no longer sent: ${failure.message}\n`);
            }
          },
          watchFile: opts.config,
          reload: () => {
            const next = loadConfig(opts.config);
            jitter.reload(next);
            if (!opts.json) io.out(`config applied: ${next.rules.length} rule${next.rules.length === 1 ? "" : "s"}\n`);
          },
          onError: (e) => io.err(`tsebpf: config not applied, the previous rules stay: ${e instanceof Error ? e.message : String(e)}\n`),
        });
        printStatus(io, jitter.status(), opts.json);
      } finally {
        started = undefined;
        await metrics?.close();
        jitter.stop();
      }
      const flushed = jitter.releaseStats?.flushed;
      if (flushed !== undefined && !opts.json) io.out(`sent the ${flushed} packets still held at once\n`);
      if (!opts.json) io.out("detached, qdiscs restored\n");
    });

  jg.command("status")
    .description("counters of pinned jittergen instances (per rule)")
    .option("--json", "print JSON")
    .option("--interface <name>", "only the instance on this interface")
    .addOption(statusMetricsOption())
    .action((_opts: { json?: boolean; interface?: string; metrics?: boolean }, command: Command) => {
      const opts = command.optsWithGlobals<{ json?: boolean; interface?: string; metrics?: boolean }>();
      const interfaces = opts.interface !== undefined ? [interfaceOption(opts.interface)] : Jittergen.pinnedInterfaces();
      const all = interfaces.map((i) => Jittergen.pinnedStatus(i));
      if (opts.metrics === true) {
        io.out(metricsText(jittergenMetrics(all)));
        return;
      }
      if (opts.json) {
        io.out(`${JSON.stringify(all.map(statusJson), null, 2)}\n`);
        return;
      }
      if (all.length === 0) io.out(`no jittergen is pinned (${PIN_ROOT}; start one with 'tsebpf jittergen --pin')\n`);
      for (const s of all) io.out(`${formatSummary(s)}\n`);
    });

  jg.command("check")
    .description("validate a configuration file and print what it would run (loads nothing)")
    .argument("[config]", "configuration file (YAML); default: -c, or ./config.yml")
    .option("-c, --config <path>", "configuration file (YAML), instead of the argument")
    .action((file: string | undefined, opts: { config?: string }, command: Command) => {
      const path = file ?? opts.config ?? (command.parent?.opts<RunOptions>().config as string);
      io.out(`${path}: ok: ${describeConfig(loadConfig(path))}\n`);
    });
}
