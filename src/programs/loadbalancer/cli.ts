/** `tsebpf loadbalancer`: run the XDP load balancer in the foreground, pin it, unpin it, show its counters. */
import { Command, Option } from "commander";
import type { Output } from "../../cli/io.js";
import { withLock } from "../common/lock.js";
import { formatAddress, isInterfaceName } from "../common/net.js";
import { parseInterval, runUntilStopped } from "../common/run.js";
import { parseSampleEvery } from "../common/samples.js";
import { metricsAddress, metricsOption, metricsText, serveMetrics, statusMetricsOption } from "../common/metrics-cli.js";
import { loadbalancerMetrics } from "./metrics.js";
import { loadConfig, type LoadBalancerConfig } from "./config.js";
import { LoadBalancer, MODES, PIN_ROOT, pinPath, requireBalancerCapabilities, type FlowSample, type Mode, type ReloadResult } from "./index.js";
import { describeInstance, formatSummary, statusJson, type LoadBalancerStatus } from "./status.js";

interface RunOptions {
  config: string;
  mode: Mode;
  interval: string;
  json?: boolean;
  pin?: boolean;
  unpin?: boolean;
  interface?: string;
  netlink?: boolean;
  sampleFlows?: string;
  metrics?: string;
}

interface StatusOptions {
  json?: boolean;
  interface?: string;
  metrics?: boolean;
}

const EXAMPLE_CONFIG = `
  listenInterface: eth1          # where client traffic for the VIP arrives
  vip: 10.0.0.100                # or fd00::100, or [10.0.0.100, fd00::100]
  tcp_port: 80                   # (or port:) the service port, 1..65535
  protocol: tcp                  # tcp (default) or udp
  backends:                      # MACs on the same L2 segment; each holds the VIP on lo
    - 02:00:00:00:00:0b
    - { mac: 02:00:00:00:00:0c, name: web2 }
  # maglevTableSize: 65537       # prime; the default suits up to a few hundred backends
  # maxConnections: 65536        # LRU connection table capacity (flows in Maglev slots a backend
  #                              # change moved, and UDP flows)
  # previousBackendSeconds: 120  # after a backend change, how long a moved slot sends connections
  #                              # it has not recorded to their old backend (0: never; fleets: README)`;

/** An --interface value: an interface name, or an error naming the option (never a path). */
function interfaceOption(name: string): string {
  if (!isInterfaceName(name)) throw new Error(`--interface: '${name}' is not an interface name (1 to 15 characters, no '/', ':' or spaces)`);
  return name;
}

function describeReload(r: ReloadResult, backends: number): string {
  const parts = [r.added.length ? `added ${r.added.join(", ")}` : "", r.removed.length ? `removed ${r.removed.join(", ")}` : "", r.changed.length ? `new MAC for ${r.changed.join(", ")}` : ""].filter(Boolean);
  return `config applied: ${backends} backend${backends === 1 ? "" : "s"}${parts.length ? ` (${parts.join("; ")})` : " (no change)"}`;
}

/** `flow 192.168.1.7:40000 -> web2 (02:00:00:00:00:0c)` */
function flowLine(f: FlowSample): string {
  const source = formatAddress(f.source, f.family);
  const backend = f.backend.name === undefined ? `backend ${f.backend.id}` : f.backend.name === f.backend.mac ? f.backend.name : `${f.backend.name} (${f.backend.mac})`;
  return `flow ${f.family === "ipv6" ? `[${source}]` : source}:${f.sourcePort} -> ${backend}`;
}

const flowJson = (f: FlowSample) => ({ source: formatAddress(f.source, f.family), port: f.sourcePort, backend: f.backend.name ?? null, mac: f.backend.mac ?? null, id: f.backend.id });

/**
 * What a configuration runs, in one line: `eth1 10.0.0.100:80/tcp: 2 backends (web1 (02:…:0b),
 * 02:…:0c); Maglev table 65537 slots, connection table 65536`.
 */
export function describeConfig(config: LoadBalancerConfig): string {
  const info = describeInstance(config, "", []);
  const service = `${config.listenInterface} ${info.vips.map((v) => `${v.includes(":") ? `[${v}]` : v}:${config.port}`).join(",")}/${config.protocol}`;
  const backends = info.backends.map((b) => (b.name === b.mac ? b.mac : `${b.name} (${b.mac})`)).join(", ");
  const count = `${config.backends.length} backend${config.backends.length === 1 ? "" : "s"}`;
  return `${service}: ${count} (${backends}); Maglev table ${config.tableSize} slots, connection table ${config.maxConnections}`;
}

function printStatus(io: Output, s: LoadBalancerStatus, json: boolean | undefined): void {
  io.out(json ? `${JSON.stringify(statusJson(s))}\n` : `${formatSummary(s)}\n`);
}

export function registerLoadbalancer(program: Command, io: Output): void {
  const lb = program
    .command("loadbalancer")
    .description("XDP layer-4 load balancer with direct server return: packets for the VIP go to a backend chosen by Maglev hashing, replies bypass it")
    .enablePositionalOptions()
    .option("-c, --config <path>", "configuration file (YAML)", "./config.yml")
    .addOption(new Option("--mode <mode>", "XDP mode: native (driver), generic (skb) or auto (native where the driver has it; generic on veth)").choices(MODES).default("auto"))
    .option("--interval <sec>", "print a one-line summary every SEC seconds (0: only at exit)", "5")
    .option("--json", "print summaries as JSON, one object per line")
    .option("--pin", "pin the link and maps and exit, leaving the balancer running (remove with --unpin); again, with an edited config: apply its backends to the pinned balancer")
    .option("--unpin", "remove the balancer pinned on the config's listenInterface (or --interface) and exit")
    .option("--interface <name>", "with --unpin: the interface, instead of the config's listenInterface")
    .option("--netlink", "attach with netlink (IFLA_XDP) instead of a bpf_link (a crashed run leaves it attached: the next start removes it); not with --pin")
    .option("--sample-flows <n>", "print one new flow in n: its source and the backend it got (not with --pin)")
    .addOption(metricsOption())
    .addHelpText(
      "after",
      `
Configuration (original keys listenInterface, tcp_port, backends, plus vip and protocol):${EXAMPLE_CONFIG}

Every key is checked before anything is loaded; each error names the file and the key.
Maps are filled before the program is attached. SIGINT or SIGTERM detaches and exits. SIGHUP or
a change of the config file applies a new backend list while running: flows of the backends kept
stay on them, only the flows of removed backends move (the service — listenInterface, vip, port,
protocol — and the table sizes need a restart). With --pin the link and maps are pinned under
${PIN_ROOT}/<listenInterface>. Running --pin again while it is pinned and attached applies the
config's backend list to the pinned balancer in the same way (and prints what changed); a service
or table size change is refused, changing nothing: unpin and start again for that. Pins whose
balancer is no longer attached are a leftover: removed, then a normal start.

Fleet: balancers with the same backends (names and MACs, in any order) and maglevTableSize send
every new flow to the same backend, whatever their start and reload history, so a flow an ECMP
router moves to another balancer keeps its backend. After a backend change, connections one
balancer recorded are known to it alone; keep previousBackendSeconds short in a fleet (README).

Backends need the VIP on loopback and must not answer ARP for it:
  ip addr add 10.0.0.100/32 dev lo
  sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2

Native mode on veth also needs an XDP program on the peer veth (or XDP_TX frames are dropped)
and TX checksum offload off on the senders (ethtool -K IF tx off); generic mode works anywhere,
and is what --mode auto picks on veth.

Metrics (--metrics ADDR:PORT while it runs, status --metrics for pinned ones), each with {interface}:
  tsebpf_loadbalancer_service_packets_total             packets to VIP:port/protocol
  tsebpf_loadbalancer_packets_total{outcome}            forwarded, no_backend, unbalanceable
  tsebpf_loadbalancer_backend_packets_total{backend,mac}, _backend_bytes_total, _backend_flows_total
  tsebpf_loadbalancer_backends, tsebpf_events_lost_total{program}, tsebpf_build_info{version,node}

Examples:
  tsebpf loadbalancer                          # ./config.yml, summary every 5 s, Ctrl+C to stop
  tsebpf loadbalancer -c lb.yml --mode generic --interval 1
  tsebpf loadbalancer -c lb.yml --sample-flows 100   # and show one new flow in 100
  tsebpf loadbalancer -c lb.yml --metrics [::1]:9102  # Prometheus at http://[::1]:9102/metrics
  tsebpf loadbalancer -c lb.yml --pin          # keep running after exit
  tsebpf loadbalancer -c lb.yml --pin          # again, after editing the backends: apply them to it
  tsebpf loadbalancer status --json            # counters of pinned balancers
  tsebpf loadbalancer -c lb.yml --unpin        # detach and remove the pins
  tsebpf loadbalancer check lb.yml             # validate a config, load nothing`,
    )
    .action(async (opts: RunOptions) => {
      if (opts.interface !== undefined) interfaceOption(opts.interface);
      if (opts.unpin) {
        const ifname = opts.interface ?? loadConfig(opts.config).listenInterface;
        const removed = LoadBalancer.unpin(ifname);
        io.out(removed ? `unpinned the load balancer on ${ifname} (${pinPath(ifname)})\n` : `no load balancer pinned on ${ifname}\n`);
        return;
      }
      if (opts.interface) throw new Error("--interface: only with --unpin (the config's listenInterface says where to run)");
      const intervalMs = Math.round(parseInterval(opts.interval) * 1000);
      if (opts.pin && opts.netlink) throw new Error("--netlink: a netlink attachment cannot be pinned (--pin needs a bpf_link)");
      const sampleFlows = parseSampleEvery("--sample-flows", opts.sampleFlows);
      if (sampleFlows && opts.pin) throw new Error("--sample-flows needs the process that reads the samples: it does not go with --pin");
      const metricsAt = metricsAddress(opts.metrics);
      if (metricsAt && opts.pin) throw new Error("--metrics needs the process that serves them: it does not go with --pin (status --metrics reads a pinned balancer)");
      const config = loadConfig(opts.config);
      // A missing capability is one line naming it, before anything is loaded or changed.
      requireBalancerCapabilities();
      const state = LoadBalancer.pinnedState(config.listenInterface);
      if (opts.pin && state === "live") {
        // One process at a time reads the pinned state and writes the next one.
        const { result, at } = await withLock(`loadbalancer-${config.listenInterface}`, () => {
          using pinned = LoadBalancer.openPinned(config.listenInterface);
          return { result: pinned.applyBackends(config), at: pinned.pinned };
        });
        io.out(`load balancer pinned on ${config.listenInterface} (${at}): ${describeReload(result, config.backends.length)}; --mode applies only when it starts\n`);
        return;
      }
      let started: LoadBalancer | undefined;
      // Without --metrics nothing is awaited before the start: it runs in the caller's turn (and
      // network namespace, as the kernel tests run it).
      const metrics = metricsAt ? await serveMetrics(metricsAt, () => (started ? loadbalancerMetrics([started.status()]) : undefined), (line) => io.err(`${line}\n`)) : undefined;
      let balancer: LoadBalancer;
      try {
        balancer = LoadBalancer.start(config, { mode: opts.mode, pin: opts.pin === true, ...(opts.netlink ? { netlink: true } : {}), ...(sampleFlows ? { sampleFlows } : {}) });
      } catch (e) {
        await metrics?.close();
        throw e;
      }
      started = balancer;
      try {
        if (state === "stale") io.err(`removed the pins of a load balancer no longer attached to ${config.listenInterface} (${pinPath(config.listenInterface)})\n`);
        if (balancer.removedLeftover !== undefined) {
          io.err(`removed a load balancer (program id ${balancer.removedLeftover}) that an earlier run left attached to ${config.listenInterface}\n`);
        }
        const where = `${config.listenInterface} (${balancer.info.mode}), ${config.backends.length} backend${config.backends.length === 1 ? "" : "s"}`;
        if (opts.pin) {
          io.out(`load balancer pinned on ${where} at ${balancer.pinned}: 'tsebpf loadbalancer --unpin' removes it\n`);
          return;
        }
        if (!opts.json) io.out(`load balancer running on ${where}: Ctrl+C (SIGINT) or SIGTERM detaches, SIGHUP or editing the config applies new backends\n`);
        await runUntilStopped({
          intervalMs,
          tick: () => printStatus(io, balancer.status(), opts.json),
          watchFile: opts.config,
          reload: () => {
            const next = loadConfig(opts.config);
            const result = balancer.reload(next);
            if (!opts.json) io.out(`${describeReload(result, next.backends.length)}\n`);
          },
          onError: (e) => io.err(`tsebpf: config not applied, the previous backends stay: ${e instanceof Error ? e.message : String(e)}\n`),
          ...(sampleFlows
            ? {
                background: (signal) =>
                  balancer
                    .onFlow((f) => io.out(`${opts.json ? JSON.stringify({ time: new Date().toISOString(), interface: config.listenInterface, flow: flowJson(f) }) : flowLine(f)}\n`), { signal })
                    .catch((e: unknown) => io.err(`tsebpf: flow samples stopped: ${e instanceof Error ? e.message : String(e)}\n`)),
              }
            : {}),
        });
        printStatus(io, balancer.status(), opts.json);
      } finally {
        started = undefined;
        await metrics?.close();
        balancer.stop();
      }
      if (!opts.json) io.out("detached\n");
    });

  lb.command("status")
    .description("counters of pinned load balancers (per backend: packets, bytes, new flows)")
    .option("--json", "print JSON")
    .option("--interface <name>", "only the balancer on this interface")
    .addOption(statusMetricsOption())
    .addHelpText(
      "after",
      `
Reads the maps pinned under ${PIN_ROOT}/<interface> by 'tsebpf loadbalancer --pin'.

Examples:
  tsebpf loadbalancer status
  tsebpf loadbalancer status --interface eth1 --json
  tsebpf loadbalancer status --metrics > /var/lib/node_exporter/lb.prom.tmp  # textfile collector`,
    )
    .action((_opts: StatusOptions, command: Command) => {
      // Unless the root program has positional options, commander gives `status --json` to the
      // parent command (it has --json and --interface too): read both.
      const opts = command.optsWithGlobals<StatusOptions>();
      const interfaces = opts.interface !== undefined ? [interfaceOption(opts.interface)] : LoadBalancer.pinnedInterfaces();
      const all = interfaces.map((i) => LoadBalancer.pinnedStatus(i));
      if (opts.metrics === true) {
        io.out(metricsText(loadbalancerMetrics(all)));
        return;
      }
      if (opts.json) {
        io.out(`${JSON.stringify(all.map(statusJson), null, 2)}\n`);
        return;
      }
      if (all.length === 0) io.out("no load balancer is pinned (start one with 'tsebpf loadbalancer --pin')\n");
      for (const s of all) io.out(`${formatSummary(s)}\n`);
    });

  lb.command("check")
    .description("validate a configuration file and print what it would run (loads nothing, touches no interface)")
    .argument("[config]", "configuration file (YAML); default: -c, or the loadbalancer's --config (./config.yml)")
    .option("-c, --config <path>", "configuration file (YAML), instead of the argument")
    .addHelpText(
      "after",
      `
Every key is checked as a start would check it: one line naming the file and the key on the first
error (exit 1), or one line saying what the configuration runs (exit 0). Whether listenInterface
exists is not checked: the file may be meant for another host.

Examples:
  tsebpf loadbalancer check lb.yml
  tsebpf loadbalancer -c lb.yml check`,
    )
    .action((file: string | undefined, opts: { config?: string }, command: Command) => {
      if (file !== undefined && opts.config !== undefined && file !== opts.config) throw new Error(`check: give the configuration file once (${file} or --config ${opts.config})`);
      const path = file ?? opts.config ?? (command.parent?.opts<RunOptions>().config as string);
      io.out(`${path}: ok: ${describeConfig(loadConfig(path))}\n`);
    });
}
