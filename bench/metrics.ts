/**
 * Bench m1 metrics scrape: what a Prometheus scrape of `--metrics` costs the program's event loop.
 * A packetfilter is loaded (not attached) with 100k and with 1M block rules (hosts, half of them
 * IPv6), its endpoint served in this process as the CLI serves it, and scraped by a separate node
 * process (the client's parsing is not on this loop). During each scrape
 * perf_hooks.monitorEventLoopDelay (1 ms resolution) records how long the loop was held; the
 * peer is the read that `status --rules` makes (counters + every rule's hits, batch lookups),
 * timed alone. The scrape reads the same rules, of one generation, in slices (one batch of at most
 * SLICE_ENTRIES rules or one chunk of hit counters each) as their series are written, and writes
 * the exposition in pieces; the loop runs between slices and between pieces. Target: the longest
 * hold of a scrape under 100 ms, at 100k and at 1M rules; the scrape's CPU time is reported to
 * compare its total cost with the read's. Wall-clock figures: on a loaded machine they include
 * the time the process waited for a CPU.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { MetricsServer } from "../src/programs/common/metrics-server.js";
import { buildInfo } from "../src/programs/common/metrics.js";
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

/**
 * A scraper in another process, started once (forking a process with a large heap is itself a
 * long stop of the loop: not the scrape's); each `scrape()` asks it for one GET and resolves with
 * the bytes it got.
 */
class Scraper {
  private readonly child: ChildProcessWithoutNullStreams;
  private waiting: ((line: string) => void) | undefined;
  private buffered = "";

  constructor(url: string) {
    const script = `const http = require("node:http"); const url = process.argv[1];
require("node:readline").createInterface({ input: process.stdin }).on("line", () => {
  http.get(url, { agent: false }, (r) => { let n = 0; r.on("data", (d) => (n += d.length)); r.on("end", () => console.log(r.statusCode === 200 ? n : -r.statusCode)); });
});`;
    this.child = spawn(process.execPath, ["-e", script, url]);
    this.child.stdout.setEncoding("utf8");
    this.child.stdout.on("data", (d: string) => {
      this.buffered += d;
      const at = this.buffered.indexOf("\n");
      if (at < 0) return;
      const line = this.buffered.slice(0, at);
      this.buffered = this.buffered.slice(at + 1);
      this.waiting?.(line);
    });
  }

  scrape(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting = (line) => (Number(line) > 1000 ? resolve(Number(line)) : reject(new Error(`scrape failed: ${line}`)));
      this.child.stdin.write("go\n");
    });
  }

  close(): void {
    this.child.kill();
  }
}

export async function metricsBench(): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const [id, total] of [["m1", 100_000], ["m1m", 1_000_000]] as const) {
    using filter = load(total);
    const read = () => ({ counters: filter.counters(), rules: { ipv4: filter.rules("ipv4"), ipv6: filter.rules("ipv6") } });
    // As the CLI serves it: the counters read at once, the rules of one generation in slices as their series are written.
    const collect = () => [...packetfilterMetrics(filter.counters(), () => filter.ruleSnapshot()), buildInfo("bench")];
    const server = await MetricsServer.listen({ host: "127.0.0.1", port: 0 }, collect);
    const scraper = new Scraper(server.url);
    try {
      const holds: number[] = [];
      const reads: number[] = [];
      const scrapes: number[] = [];
      const cpus: number[] = [];
      const gaps: number[] = [];
      let bytes = 0;
      for (let i = 0; i < (total > 100_000 ? 3 : ROUNDS); i++) {
        const t0 = performance.now();
        read();
        reads.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
        const h = monitorEventLoopDelay({ resolution: 1 });
        let last = performance.now();
        let gap = 0;
        const ticker = setInterval(() => {
          const now = performance.now();
          gap = Math.max(gap, now - last);
          last = now;
        }, 1);
        h.enable();
        const t1 = performance.now();
        const c1 = process.cpuUsage();
        bytes = await scraper.scrape();
        scrapes.push(performance.now() - t1);
        const c = process.cpuUsage(c1);
        cpus.push((c.user + c.system) / 1000);
        h.disable();
        clearInterval(ticker);
        gaps.push(gap);
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
        target: "< 100 ms",
        pass: median(holds) < 100,
        note: `${label} rules: scrape ${median(scrapes).toFixed(0)} ms end to end; holds ${ms(holds)} ms, reads ${ms(reads)} ms; this process's CPU time per scrape (reads, exposition, HTTP) ${ms(cpus)} ms; longest gap of a 1 ms interval timer during the scrapes ${ms(gaps)} ms`,
      });
    } finally {
      scraper.close();
      await server.close();
    }
  }
  return figures;
}
