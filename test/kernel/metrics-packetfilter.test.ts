import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { describeKernel, useTopology } from "../helpers/kernel.js";
import { parseExposition, sampleValue } from "../helpers/exposition.js";
import { CLI, ProgramRun, get, scrape, sendFrames, seriesOf } from "../helpers/metrics-run.js";
import { frame } from "../helpers/packets.js";

const VERSION = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;

/** A 64-byte frame that is not IP (a local experimental EtherType). */
const notIp = (): Buffer => {
  const f = Buffer.alloc(64);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, 0xa], 6);
  f.writeUInt16BE(0x88b5, 12);
  return f;
};

describeKernel("tsebpf packetfilter --metrics", () => {
  const topology = useTopology();
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-pfm-"));
  const cfg = join(dir, "filter.yml");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves every counter of the traffic sent, exactly; status --metrics reads the same; a port in use is one line", async () => {
    const pair = topology();
    writeFileSync(
      cfg,
      `rules:
  interface: ${pair.b.ifname}
  ipv4: { default: block, allow: [192.0.2.67], block: [192.0.2.66] }
  ipv6: { default: allow, allow: ["2001:db8::67"], block: ["2001:db8::66"] }
`,
    );
    const run = new ProgramRun(["packetfilter", "-c", cfg, "--interval", "0", "--mode", "generic", "--metrics", "127.0.0.1:0"], pair.b.ns.path);
    const url = await run.metricsUrl();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await run.waitFor(/running:/);
    const ns = pair.b.ns.path;
    const before = await scrape(url, ns);
    expect(seriesOf(before, "tsebpf_packetfilter_rule_hits_total")).toEqual({
      "action=allow,family=ipv4,rule=192.0.2.67": 0,
      "action=block,family=ipv4,rule=192.0.2.66": 0,
      "action=allow,family=ipv6,rule=2001:db8::67": 0,
      "action=block,family=ipv6,rule=2001:db8::66": 0,
    });
    const dst4 = pair.b.ipv4;
    const dst6 = pair.b.ipv6;
    const f = (src: string, n: number) => Array.from({ length: n }, () => frame({ src, dst: src.includes(":") ? dst6 : dst4, length: 64 }));
    sendFrames(pair.a.ns.path, pair.a.ifname, [...f("192.0.2.67", 3), ...f("192.0.2.66", 2), ...f("203.0.113.9", 4), ...f("2001:db8::66", 2), ...f("2001:db8::67", 1), notIp(), notIp(), notIp()]);
    await new Promise((r) => setTimeout(r, 300));

    const m = await scrape(url, ns);
    const packets = seriesOf(m, "tsebpf_packetfilter_packets_total");
    const bytes = seriesOf(m, "tsebpf_packetfilter_bytes_total");
    const base = seriesOf(before, "tsebpf_packetfilter_packets_total");
    const key = (family: string, verdict: string, reason: string) => `family=${family},reason=${reason},verdict=${verdict}`;
    // Exact: nothing else sends IPv4 here, and these sources are ours alone.
    const exact: [string, number][] = [
      [key("ipv4", "pass", "rule"), 3],
      [key("ipv4", "drop", "rule"), 2],
      [key("ipv4", "pass", "default"), 0],
      [key("ipv4", "drop", "default"), 4],
      [key("ipv6", "pass", "rule"), 1],
      [key("ipv6", "drop", "rule"), 2],
      [key("ipv6", "drop", "default"), 0],
      [key("other", "pass", "malformed"), 0],
    ];
    for (const [k, n] of exact) {
      expect(packets[k], k).toBe(n);
      expect(bytes[k], k).toBe(64 * n);
    }
    // Our 3 frames that are not IP; IPv6 link-local chatter (MLD, router solicitations) falls to the default.
    expect(packets[key("other", "pass", "not_ip")]).toBe((base[key("other", "pass", "not_ip")] ?? 0) + 3);
    expect(bytes[key("other", "pass", "not_ip")]).toBe((seriesOf(before, "tsebpf_packetfilter_bytes_total")[key("other", "pass", "not_ip")] ?? 0) + 3 * 64);
    expect(packets[key("ipv6", "pass", "default")]).toBeGreaterThanOrEqual(base[key("ipv6", "pass", "default")] ?? 0);
    expect(Object.keys(packets).length).toBe(10);
    expect(seriesOf(m, "tsebpf_packetfilter_rule_hits_total")).toEqual({
      "action=allow,family=ipv4,rule=192.0.2.67": 3,
      "action=block,family=ipv4,rule=192.0.2.66": 2,
      "action=allow,family=ipv6,rule=2001:db8::67": 1,
      "action=block,family=ipv6,rule=2001:db8::66": 2,
    });
    expect(seriesOf(m, "tsebpf_packetfilter_rules")).toEqual({ "action=allow,family=ipv4": 1, "action=block,family=ipv4": 1, "action=allow,family=ipv6": 1, "action=block,family=ipv6": 1 });
    expect(seriesOf(m, "tsebpf_events_lost_total")).toEqual({ "program=packetfilter": 0 });
    expect(seriesOf(m, "tsebpf_build_info")).toEqual({ [`node=${process.versions.node},version=${VERSION}`]: 1 });
    expect([...m.keys()]).toEqual(["tsebpf_packetfilter_packets_total", "tsebpf_packetfilter_bytes_total", "tsebpf_packetfilter_rule_hits_total", "tsebpf_packetfilter_rules", "tsebpf_events_lost_total", "tsebpf_build_info"]);

    // Elsewhere than /metrics: 404.
    expect((await get(url.replace(/\/metrics$/, "/"), ns)).status).toBe(404);

    // status --metrics reads the running filter the same way.
    const status = spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, CLI, "packetfilter", "status", "-i", pair.b.ifname, "--metrics"], { encoding: "utf8" });
    expect(status.stderr).toBe("");
    const fromStatus = parseExposition(status.stdout);
    expect(seriesOf(fromStatus, "tsebpf_packetfilter_rule_hits_total")).toEqual(seriesOf(m, "tsebpf_packetfilter_rule_hits_total"));
    for (const [k, n] of exact) expect(seriesOf(fromStatus, "tsebpf_packetfilter_packets_total")[k], k).toBe(n);
    expect(sampleValue(fromStatus, "tsebpf_build_info", { version: VERSION, node: process.versions.node })).toBe(1);

    // The port in use: one line, exit 1, and the running filter is untouched.
    const port = new URL(url).port;
    const again = spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, CLI, "packetfilter", "-c", cfg, "--metrics", `127.0.0.1:${port}`], { encoding: "utf8", timeout: 30_000 });
    expect(again.status).toBe(1);
    expect(again.stderr.trim()).toMatch(new RegExp(`^tsebpf: --metrics 127\\.0\\.0\\.1:${port}: address in use \\(EADDRINUSE\\)$`));
    const bad = spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, CLI, "packetfilter", "-c", cfg, "--metrics", "9100"], { encoding: "utf8", timeout: 30_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^tsebpf: --metrics: expected ADDR:PORT .*'9100': no port$/);
    sendFrames(pair.a.ns.path, pair.a.ifname, f("192.0.2.66", 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(sampleValue(await scrape(url, ns), "tsebpf_packetfilter_rule_hits_total", { family: "ipv4", rule: "192.0.2.66", action: "block" })).toBe(3);

    expect(await run.stop()).toBe(0);
    // Closed on exit.
    expect(spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, "-e", `require("node:http").get(${JSON.stringify(url)}).on("error", (e) => { console.log(e.code); })`], { encoding: "utf8" }).stdout.trim()).toBe("ECONNREFUSED");
  });
});
