import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { describeKernel, useTopology, type VethPair } from "../helpers/kernel.js";
import { parseExposition, sampleValue } from "../helpers/exposition.js";
import { CLI, ProgramRun, scrape, seriesOf } from "../helpers/metrics-run.js";

/** UDP datagrams from b (jittergen's outIf) to a: one to port 9 first (the neighbour resolved), then `counts` per port. */
function send(pair: VethPair, counts: Record<number, number>): void {
  const r = pair.b.ns.spawn("python3", [
    "-c",
    `
import socket, time, json, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", (sys.argv[1], 9)); time.sleep(0.3)
for port, n in json.loads(sys.argv[2]).items():
    for i in range(n):
        s.sendto(b"payload", (sys.argv[1], int(port))); time.sleep(0.002)`,
    pair.a.ipv4,
    JSON.stringify(counts),
  ]);
  if (r.status !== 0) throw new Error(`send failed: ${r.stderr}`);
}

describeKernel("tsebpf jittergen --metrics", () => {
  const topology = useTopology();
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-jgm-"));
  const cfg = join(dir, "jitter.yml");
  afterAll(() => {
    spawnSync("nsenter", [`--net=${topology().b.ns.path}`, "--", process.execPath, CLI, "jittergen", "-c", cfg, "--unpin"], { encoding: "utf8" });
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves per-rule counters and the delay histogram of the datagrams sent, exactly; status --metrics reads a pinned one", async () => {
    const pair = topology();
    writeFileSync(
      cfg,
      `outIf: ${pair.b.ifname}
engine: recirculate
action: jitter
match: { protocol: udp, port: 5000 }
jitter: { minDelayMs: 3, maxDelayMs: 4 }
rules:
  - action: drop
    match: { protocol: udp, port: 5001 }
`,
    );
    const ns = pair.b.ns.path;
    const run = new ProgramRun(["jittergen", "-c", cfg, "--interval", "0", "--metrics", "127.0.0.1:0"], ns);
    const url = await run.metricsUrl();
    await run.waitFor(/jittergen running on/);
    send(pair, { 5000: 20, 5001: 7 });
    await new Promise((r) => setTimeout(r, 300));

    const m = await scrape(url, ns);
    const at = `interface=${pair.b.ifname}`;
    const both = (jitter: number, drop: number) => ({ [`${at},rule=action`]: jitter, [`${at},rule=rules[0]`]: drop });
    expect(seriesOf(m, "tsebpf_jittergen_rule_matched_total")).toEqual(both(20, 7));
    expect(seriesOf(m, "tsebpf_jittergen_rule_selected_total")).toEqual(both(20, 7));
    expect(seriesOf(m, "tsebpf_jittergen_rule_delayed_total")).toEqual(both(20, 0));
    expect(seriesOf(m, "tsebpf_jittergen_rule_dropped_total")).toEqual(both(0, 7));
    for (const name of ["reordered", "duplicated", "corrupted", "overlimit"]) expect(seriesOf(m, `tsebpf_jittergen_rule_${name}_total`)).toEqual(both(0, 0));
    expect(seriesOf(m, "tsebpf_jittergen_rule_info")).toEqual({
      [`description=udp dport 5000 100%: jitter 3-4 ms,${at},rule=action`]: 1,
      [`description=udp dport 5001 100%: drop,${at},rule=rules[0]`]: 1,
    });
    // Every delay was 3-4 ms: all in the bucket [2048, 4096) µs, none below it.
    const rule = { interface: pair.b.ifname, rule: "action" };
    expect(sampleValue(m, "tsebpf_jittergen_delay_seconds_bucket", { ...rule, le: "0.002048" })).toBe(0);
    expect(sampleValue(m, "tsebpf_jittergen_delay_seconds_bucket", { ...rule, le: "0.004096" })).toBe(20);
    expect(sampleValue(m, "tsebpf_jittergen_delay_seconds_count", rule)).toBe(20);
    const sum = sampleValue(m, "tsebpf_jittergen_delay_seconds_sum", rule);
    expect(sum).toBeGreaterThanOrEqual(0.06);
    expect(sum).toBeLessThanOrEqual(0.08);
    expect(sampleValue(m, "tsebpf_jittergen_delay_seconds_count", { interface: pair.b.ifname, rule: "rules[0]" })).toBe(0);
    // The recirculate engine released each delayed datagram once, and timed each release.
    expect(seriesOf(m, "tsebpf_jittergen_released_total")).toEqual({ [at]: 20 });
    expect(sampleValue(m, "tsebpf_jittergen_release_lateness_seconds_count", { interface: pair.b.ifname })).toBe(20);
    expect(seriesOf(m, "tsebpf_jittergen_laps_total")[at]).toBeGreaterThan(0);
    expect(seriesOf(m, "tsebpf_jittergen_packets_total")[at]).toBeGreaterThanOrEqual(28);
    expect(seriesOf(m, "tsebpf_jittergen_info")).toEqual({ [`engine=recirculate,${at}`]: 1 });
    expect(seriesOf(m, "tsebpf_events_lost_total")).toEqual({ [`${at},program=jittergen`]: 0 });
    expect(Object.values(seriesOf(m, "tsebpf_build_info"))).toEqual([1]);
    expect(await run.stop()).toBe(0);

    // Pinned: status --metrics (node_exporter's textfile collector) reads the pins.
    const pin = spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, CLI, "jittergen", "-c", cfg, "--pin"], { encoding: "utf8", timeout: 30_000 });
    expect(pin.status, pin.stderr).toBe(0);
    try {
      send(pair, { 5001: 5 });
      const status = spawnSync(process.execPath, [CLI, "jittergen", "status", "--interface", pair.b.ifname, "--metrics"], { encoding: "utf8" });
      expect(status.stderr).toBe("");
      const pinned = parseExposition(status.stdout);
      expect(seriesOf(pinned, "tsebpf_jittergen_rule_dropped_total")).toEqual(both(0, 5));
      expect(seriesOf(pinned, "tsebpf_jittergen_info")).toEqual({ [`engine=recirculate,${at}`]: 1 });
    } finally {
      expect(spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, CLI, "jittergen", "-c", cfg, "--unpin"], { encoding: "utf8" }).status).toBe(0);
    }
  });
});
