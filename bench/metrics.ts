/**
 * Bench m1 metrics scrape: what a Prometheus scrape of `--metrics` costs the program's event loop.
 * A packetfilter is loaded (not attached) with 100k and with 1M block rules (hosts, half of them
 * IPv6), its endpoint served in this process as the CLI serves it, and scraped by a separate node
 * process (the client's parsing is not on this loop). During each scrape
 * perf_hooks.monitorEventLoopDelay (1 ms resolution) records how long the loop was held; the
 * peer is the read that `status --rules` and the scrape both make (counters + every rule's hits,
 * batch lookups), timed alone. Target: the longest hold of a scrape within 1.25x of that read —
 * the exposition is written in pieces between which the loop runs, so only the read should hold
 * it (m1w: the longest piece after it). Wall-clock figures: on a loaded machine they include
 * the time the process waited for a CPU.
 */
import { spawn } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { MetricsServer } from "../src/programs/common/metrics-server.js";
import { buildInfo, exposition, type MetricFamily } from "../src/programs/common/metrics.js";
import { parseConfig } from "../src/programs/packetfilter/config.js";
import { PacketFilter } from "../src/programs/packetfilter/index.js";
import { packetfilterMetrics } from "../src/programs/packetfilter/metrics.js";
import { median, type Figure } from "./lib.js";

const ROUNDS = 5;

function load(total: number): PacketFilter {
  const half = total / 2;
  const v4 = Array.from({ length: half }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const v6 = Array.from({ length: half }, (_, i) => `fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
  return PacketFilter.load(parseConfig(JSON.stringify({ rules: { interface: "unused", ipv4: { default: "allow", block: v4, capacity: 2_000_000 }, ipv6: { default: "allow", block: v6, capacity: 2_000_000 } } })));
}

/** Scrapes from another process; resolves with the bytes it got. */
function scrape(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", `require("node:http").get(process.argv[1], { agent: false }, (r) => { let n = 0; r.on("data", (d) => (n += d.length)); r.on("end", () => console.log(n)); })`, url], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 && Number(out) > 1000 ? resolve(Number(out)) : reject(new Error(`scraper exited ${code} after ${out.trim() || 0} bytes`))));
  });
}

/** The exposition written the way the server writes it, timed: the synchronous start (the read and the first piece) and the longest piece after it. */
function pieces(collect: () => Iterable<MetricFamily>): { first: number; longest: number } {
  const t0 = performance.now();
  const it = exposition(collect())[Symbol.iterator]();
  let r = it.next();
  const first = performance.now() - t0;
  let longest = 0;
  while (!r.done) {
    const t = performance.now();
    r = it.next();
    longest = Math.max(longest, performance.now() - t);
  }
  return { first, longest };
}

export async function metricsBench(): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const [id, total] of [["m1", 100_000], ["m1m", 1_000_000]] as const) {
    using filter = load(total);
    const read = () => ({ counters: filter.counters(), rules: { ipv4: filter.rules("ipv4"), ipv6: filter.rules("ipv6") } });
    const collect = () => {
      const r = read();
      return [...packetfilterMetrics(r.counters, r.rules), buildInfo("bench")];
    };
    const server = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, collect);
    try {
      const holds: number[] = [];
      const reads: number[] = [];
      const scrapes: number[] = [];
      const firsts: number[] = [];
      const longest: number[] = [];
      let bytes = 0;
      for (let i = 0; i < (total > 100_000 ? 3 : ROUNDS); i++) {
        const t0 = performance.now();
        read();
        reads.push(performance.now() - t0);
        const p = pieces(collect);
        firsts.push(p.first);
        longest.push(p.longest);
        await new Promise((r) => setTimeout(r, 50));
        const h = monitorEventLoopDelay({ resolution: 1 });
        h.enable();
        const t1 = performance.now();
        bytes = await scrape(server.url);
        scrapes.push(performance.now() - t1);
        h.disable();
        holds.push(h.max / 1e6);
      }
      const ratio = median(holds.map((x, i) => x / (reads[i] as number)));
      const label = total === 100_000 ? "100k" : "1M";
      const ms = (xs: number[]) => xs.map((x) => x.toFixed(0)).join("/");
      figures.push({
        id,
        figure: `metrics scrape, packetfilter with ${label} rules (${(bytes / 1e6).toFixed(1)} MB): longest event-loop hold (monitorEventLoopDelay) vs the status --rules read alone`,
        tsebpf: `${median(holds).toFixed(0)} ms`,
        peer: `${median(reads).toFixed(0)} ms (read)`,
        ratio,
        target: id === "m1" ? "<= 1.25x" : "(reference)",
        pass: id === "m1" ? ratio <= 1.25 : undefined,
        note: `${label} rules: scrape ${median(scrapes).toFixed(0)} ms end to end; holds ${ms(holds)} ms, reads ${ms(reads)} ms; the server's synchronous start (read + first piece) ${ms(firsts)} ms, its longest later piece ${longest.map((x) => x.toFixed(1)).join("/")} ms`,
      });
      if (id === "m1") {
        const w = median(longest);
        figures.push({ id: "m1w", figure: "  the longest piece of exposition written after the read (256 series), 100k rules", tsebpf: `${w.toFixed(1)} ms`, peer: "-", ratio: undefined, target: "<= 50 ms", pass: w <= 50 });
      }
    } finally {
      await server.close();
    }
  }
  return figures;
}
