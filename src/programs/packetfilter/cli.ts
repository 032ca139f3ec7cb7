/** `tsebpf packetfilter`: run, pin, unpin, status and check of the XDP source-address filter. */
import { Option, type Command } from "commander";
import type { Output } from "../../cli/io.js";
import { parseInterval, runUntilStopped } from "../common/run.js";
import { parseSampleEvery } from "../common/samples.js";
import { metricsAddress, metricsOption, metricsText, serveMetrics, statusMetricsOption } from "../common/metrics-cli.js";
import { packetfilterMetrics } from "./metrics.js";
import { formatAddress, formatPrefix, isInterfaceName, type Family } from "../common/net.js";
import { PacketFilter, pinPath, readConfig, requireFilterCapabilities, type Counter, type Counters, type DropSample, type PacketFilterConfig, type XdpModeChoice } from "./index.js";

interface RunOptions {
  config: string;
  interface?: string;
  mode: XdpModeChoice;
  interval: string;
  json?: boolean;
  pin?: boolean;
  unpin?: boolean;
  netlink?: boolean;
  sampleDrops?: string;
  metrics?: string;
}

const FAMILIES: Family[] = ["ipv4", "ipv6"];

/** `--interface`, checked like `rules.interface`. */
function interfaceOf(opts: { interface?: string }): string | undefined {
  if (opts.interface !== undefined && !isInterfaceName(opts.interface)) throw new Error(`--interface: '${opts.interface}' is not an interface name`);
  return opts.interface;
}

/** The configuration file, with `--interface` overriding `rules.interface`. */
function loadConfig(opts: { config: string; interface?: string }): PacketFilterConfig {
  const ifname = interfaceOf(opts);
  const config = readConfig(opts.config);
  return ifname ? { ...config, interface: ifname, interfaceFrom: "--interface" } : config;
}

const n = (c: Counter): number => Number(c.packets);

/** `ipv4 passed 10 dropped 2 | ipv6 passed 4 dropped 0 | not IP 3` */
function summaryLine(c: Counters): string {
  const fam = (f: Family) => `${f} passed ${n(c[f].passed) + n(c[f].passedByDefault)} dropped ${n(c[f].dropped) + n(c[f].droppedByDefault)}`;
  return `${fam("ipv4")} | ${fam("ipv6")} | not IP ${n(c.notIp)}${n(c.malformed) ? ` | malformed ${n(c.malformed)}` : ""}${n(c.samplesLost) ? ` | drop samples lost ${n(c.samplesLost)}` : ""}`;
}

/** The metric families of an opened filter, for `status --metrics` (the same reads as `status --rules`). */
const metricsOf = (filter: PacketFilter) => packetfilterMetrics(filter.counters(), { ipv4: () => filter.rules("ipv4"), ipv6: () => filter.rules("ipv6") });
/** The same for a scrape: the rules of one generation read in bounded slices as their series are written, the event loop running between them. */
const scrapeOf = (filter: PacketFilter) => packetfilterMetrics(filter.counters(), () => filter.ruleSnapshot());

/** `drop 10.9.9.9 by block 10.0.0.0/8 (64 bytes)` */
const dropLine = (d: DropSample): string => `drop ${formatAddress(d.source, d.family)} by ${d.rule ? `block ${formatPrefix(d.rule)}` : `the ${d.family} default`} (${d.length} bytes)`;
const dropJson = (d: DropSample) => ({ source: formatAddress(d.source, d.family), family: d.family, rule: d.rule ? formatPrefix(d.rule) : null, bytes: d.length });

const counterJson = (c: Counter) => ({ packets: Number(c.packets), bytes: Number(c.bytes) });
function countersJson(c: Counters) {
  const fam = (f: Family) => ({
    passed: counterJson(c[f].passed),
    dropped: counterJson(c[f].dropped),
    passed_by_default: counterJson(c[f].passedByDefault),
    dropped_by_default: counterJson(c[f].droppedByDefault),
  });
  return { ipv4: fam("ipv4"), ipv6: fam("ipv6"), not_ip: counterJson(c.notIp), malformed: counterJson(c.malformed), samples_lost: Number(c.samplesLost.packets) };
}

function describeConfig(c: PacketFilterConfig): string {
  return FAMILIES.map((f) => {
    const allow = c[f].rules.filter((r) => r.action === "allow").length;
    return `${f} default ${c[f].default}, ${allow} allow, ${c[f].rules.length - allow} block`;
  }).join("; ");
}

export function registerPacketfilter(program: Command, io: Output): void {
  const say = (text: string) => io.out(`${text}\n`);
  // With --json, stdout carries only JSON: the other lines go to stderr.
  const tell = (json: boolean | undefined) => (text: string) => (json ? io.err(`${text}\n`) : say(text));
  const warn = (config: PacketFilterConfig) => config.warnings.forEach((w) => io.err(`warning: ${w}\n`));
  const configOption = () => new Option("-c, --config <path>", "configuration file").default("./config.yml");
  const interfaceOption = () => new Option("-i, --interface <name>", "interface (overrides rules.interface)");

  const cmd = program
    .command("packetfilter")
    .description("XDP filter: pass or drop incoming IPv4/IPv6 packets by source address or prefix")
    .enablePositionalOptions()
    .addOption(configOption())
    .addOption(interfaceOption())
    .addOption(new Option("--mode <mode>", "XDP mode: native (driver), generic (skb) or auto (native where the driver has it)").choices(["native", "generic", "auto"]).default("auto"))
    .option("--interval <seconds>", "print the counters every this many seconds (0: only at exit)", "5")
    .option("--json", "print counters as JSON lines")
    .option("--pin", "pin it and exit: it keeps filtering until --unpin (run again with --pin to apply a new config)")
    .option("--unpin", "detach and remove the pinned filter of the interface")
    .option("--netlink", "attach with netlink even where bpf_link works")
    .option("--sample-drops <n>", "print one dropped packet in n: its source and the rule that dropped it (not with --pin)")
    .addOption(metricsOption())
    .addHelpText(
      "after",
      `
Configuration (YAML; unknown keys and bad values are refused before anything is loaded):
  rules:
    interface: eth1
    ipv4:
      default: allow          # allow | block: what happens to sources no rule matches
      allow: [10.1.2.3, 192.168.0.0/16]
      block: [10.0.0.0/8]     # the longest prefix wins; a prefix in both lists is blocked
      capacity: 1000000       # most rules of this family (default 1M)
    ipv6:
      default: block
      allow: [fd00::/64]

Rules are in the kernel before the program attaches. SIGHUP or a change of the file applies the
new rules at once (packets see the old set or the new one, never a mix). SIGINT/SIGTERM
detach and exit. VLAN-tagged frames (802.1Q, 802.1ad) are filtered by their inner IP header;
frames that are not IP (ARP …) pass.

Metrics (--metrics ADDR:PORT while it runs, status --metrics for a pinned one):
  tsebpf_packetfilter_packets_total{family,verdict,reason}   reason: rule, default, not_ip, malformed
  tsebpf_packetfilter_bytes_total{family,verdict,reason}
  tsebpf_packetfilter_rule_hits_total{family,rule,action}     packets each rule decided
  tsebpf_packetfilter_rules{family,action}                    rules installed
  tsebpf_events_lost_total{program}, tsebpf_build_info{version,node}
A scrape reads the rules of the generation live when it starts, in slices (one batch of 4096
rules or one chunk of hit counters), the program running between them: a reload meanwhile does
not show in that scrape.

Examples:
  tsebpf packetfilter -c filter.yml                 # filter until Ctrl+C, counters every 5 s
  tsebpf packetfilter -c filter.yml --sample-drops 100  # and show one drop in 100
  tsebpf packetfilter -c filter.yml --pin           # keep filtering after exit
  tsebpf packetfilter -c filter.yml --pin           # again, after editing: apply to the pinned one
  tsebpf packetfilter -c filter.yml --metrics 127.0.0.1:9101  # Prometheus at /metrics
  tsebpf packetfilter status -i eth1 --rules        # counters and per-rule hits
  tsebpf packetfilter status -i eth1 --metrics > /var/lib/node_exporter/pf.prom.tmp
  tsebpf packetfilter --unpin -i eth1`,
    )
    .action(async (opts: RunOptions) => {
      if (opts.unpin) {
        const ifname = interfaceOf(opts) ?? loadConfig(opts).interface;
        say(PacketFilter.unpin(ifname) ? `packetfilter on ${ifname} detached and unpinned` : `no packetfilter is pinned for ${ifname} (${pinPath(ifname)})`);
        return;
      }
      const interval = parseInterval(opts.interval);
      const sampleDrops = parseSampleEvery("--sample-drops", opts.sampleDrops);
      if (sampleDrops && opts.pin) throw new Error("--sample-drops needs the process that reads the samples: it does not go with --pin");
      const metricsAt = metricsAddress(opts.metrics);
      if (metricsAt && opts.pin) throw new Error("--metrics needs the process that serves them: it does not go with --pin (status --metrics reads a pinned filter)");
      const config = loadConfig(opts);
      // A missing capability is one line naming it, before anything is loaded or changed.
      requireFilterCapabilities();
      const info = tell(opts.json);
      warn(config);
      if (opts.pin && PacketFilter.pinnedState(config.interface) === "live") {
        using filter = PacketFilter.open(config.interface);
        await filter.apply(config);
        info(`packetfilter pinned on ${config.interface}: new rules applied (${describeConfig(config)}); --mode and --netlink apply only when it starts`);
        return;
      }
      let started: PacketFilter | undefined;
      const metrics = metricsAt ? await serveMetrics(metricsAt, () => (started ? scrapeOf(started) : undefined), info) : undefined;
      const filter = await PacketFilter.start(config, { mode: opts.mode, ...(opts.pin ? { pin: true } : {}), ...(opts.netlink ? { netlink: true } : {}), ...(sampleDrops ? { sampleDrops } : {}) }).catch(async (e: unknown) => {
        await metrics?.close();
        throw e;
      });
      started = filter;
      try {
        for (const line of filter.leftovers) io.err(`${line}\n`);
        info(`packetfilter on ${config.interface}: ${filter.description ?? "attached"}; ${describeConfig(config)}`);
        if (opts.pin) {
          info(`pinned at ${filter.pinnedAt}: it keeps filtering after exit; remove it with: tsebpf packetfilter --unpin -i ${config.interface}`);
          return;
        }
        const print = () => (opts.json ? say(JSON.stringify({ time: new Date().toISOString(), interface: config.interface, ...countersJson(filter.counters()) })) : say(summaryLine(filter.counters())));
        const notApplied = (e: unknown) => io.err(`tsebpf: config not applied, the previous rules stay: ${e instanceof Error ? e.message : String(e)}\n`);
        // Reloads apply one after the other, in the order they came.
        let applying: Promise<void> = Promise.resolve();
        const stopped = await runUntilStopped({
          intervalMs: interval * 1000,
          tick: print,
          watchFile: opts.config,
          reload: () => {
            const next = loadConfig(opts);
            if (next.interface !== config.interface) throw new Error(`rules.interface changed to ${next.interface}: restart to move the filter`);
            warn(next);
            applying = applying
              .then(async () => {
                await filter.apply(next);
                info(`rules applied: ${describeConfig(next)}`);
              })
              .catch(notApplied);
          },
          onError: notApplied,
          onReady: () => info("running: SIGHUP or editing the config applies it; Ctrl+C (SIGINT) or SIGTERM detaches and exits"),
          ...(sampleDrops
            ? {
                background: (signal) =>
                  filter
                    .onDrop((d) => say(opts.json ? JSON.stringify({ time: new Date().toISOString(), interface: config.interface, drop: dropJson(d) }) : dropLine(d)), { signal })
                    .catch((e: unknown) => io.err(`tsebpf: drop samples stopped: ${e instanceof Error ? e.message : String(e)}\n`)),
              }
            : {}),
        });
        await applying;
        print();
        info(`${stopped}: detached from ${config.interface}`);
      } finally {
        started = undefined;
        await metrics?.close();
        filter.close();
      }
    });

  cmd
    .command("status")
    .description("counters and rules of the packetfilter running (or pinned) on an interface")
    .addOption(configOption())
    .addOption(interfaceOption())
    .option("--rules", "also list every rule with the packets it decided")
    .option("--json", "print JSON")
    .addOption(statusMetricsOption())
    .action((opts: { config: string; interface?: string; rules?: boolean; json?: boolean; metrics?: boolean }) => {
      const ifname = interfaceOf(opts) ?? loadConfig(opts).interface;
      using filter = PacketFilter.open(ifname);
      if (opts.metrics) {
        io.out(metricsText(metricsOf(filter)));
        return;
      }
      const counters = filter.counters();
      const defaults = filter.defaults();
      const rules = Object.fromEntries(FAMILIES.map((f) => [f, filter.rules(f).map((r) => ({ rule: formatPrefix(r.prefix), action: r.action, packets: Number(r.hits) }))]));
      if (opts.json) {
        say(JSON.stringify({ interface: ifname, pinned: filter.pinnedAt ?? null, defaults, counters: countersJson(counters), ...(opts.rules ? { rules } : {}) }, null, 2));
        return;
      }
      say(`packetfilter on ${ifname}${filter.pinnedAt ? ` (pinned at ${filter.pinnedAt})` : ""}: ipv4 default ${defaults.ipv4}, ipv6 default ${defaults.ipv6}`);
      say(summaryLine(counters));
      if (opts.rules) {
        for (const f of FAMILIES) for (const r of rules[f] ?? []) say(`  ${r.action.padEnd(5)} ${r.rule.padEnd(40)} ${r.packets}`);
      }
    });

  cmd
    .command("check")
    .description("validate a configuration file and print what it does (loads nothing)")
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = readConfig(opts.config);
      warn(config);
      say(`${opts.config}: ok: ${config.interface}: ${describeConfig(config)}`);
    });
}
