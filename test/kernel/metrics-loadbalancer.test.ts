import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { parseIPv4 } from "../../src/programs/common/net.js";
import { flowSlot, maglevTable } from "../../src/programs/loadbalancer/maglev.js";
import { describeKernel, useTopology } from "../helpers/kernel.js";
import { parseExposition } from "../helpers/exposition.js";
import { CLI, ProgramRun, scrape, sendFrames, seriesOf } from "../helpers/metrics-run.js";

const VIP = "10.0.0.100";
const BACKENDS = [
  { mac: "02:00:00:00:20:01", name: "alpha" },
  { mac: "02:00:00:00:20:02", name: "beta" },
];
const TABLE = 251;
const CLIENT = "192.168.7.1";
const LENGTH = 64;

/** A 64-byte TCP frame to the VIP's port 80 (SYN or ACK), or an IPv4 fragment of one. */
function tcp(dstMac: Buffer, sport: number, o: { flags?: number; fragment?: boolean } = {}): Buffer {
  const f = Buffer.alloc(LENGTH);
  dstMac.copy(f, 0);
  f.set([2, 0, 0, 0, 0x10, 2], 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(40, 16);
  f.writeUInt16BE(o.fragment ? 0x2000 : 0x4000, 20); // MF (a first fragment) or DF
  f[22] = 64;
  f[23] = 6;
  f.set(parseIPv4(CLIENT) as Uint8Array, 26);
  f.set(parseIPv4(VIP) as Uint8Array, 30);
  f.writeUInt16BE(sport, 34);
  f.writeUInt16BE(80, 36);
  f[46] = 5 << 4;
  f[47] = o.flags ?? 0x02;
  return f;
}

/** The backend the Maglev table and flow hash (TypeScript twins of the program's) pick for a client port. */
const backendOf = (sport: number): string => {
  const table = maglevTable(
    BACKENDS.map((b) => b.name),
    TABLE,
  );
  const slot = flowSlot({ family: 4, source: parseIPv4(CLIENT) as Uint8Array, destination: parseIPv4(VIP) as Uint8Array, sourcePort: sport, destinationPort: 80, protocol: 6 }, TABLE);
  return BACKENDS[table[slot] ?? -1]?.name ?? "none";
};

describeKernel("tsebpf loadbalancer --metrics", () => {
  const topology = useTopology();
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-lbm-"));
  const cfg = join(dir, "lb.yml");
  afterAll(() => {
    const pair = topology();
    spawnSync("nsenter", [`--net=${pair.b.ns.path}`, "--", process.execPath, CLI, "loadbalancer", "-c", cfg, "--unpin"], { encoding: "utf8" });
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves per-backend packets, bytes and flows and the service counters of the traffic sent, exactly; status --metrics reads a pinned one", async () => {
    const pair = topology();
    writeFileSync(cfg, `listenInterface: ${pair.b.ifname}\nvip: ${VIP}\ntcp_port: 80\nmaglevTableSize: ${TABLE}\nbackends:\n${BACKENDS.map((b) => `  - { mac: "${b.mac}", name: ${b.name} }`).join("\n")}\n`);
    const link = JSON.parse(pair.b.ns.ip("-j", "link", "show", pair.b.ifname)) as { address: string }[];
    const mac = Buffer.from((link[0]?.address ?? "").split(":").map((h) => parseInt(h, 16)));
    const run = new ProgramRun(["loadbalancer", "-c", cfg, "--interval", "0", "--mode", "generic", "--metrics", "127.0.0.1:0"], pair.b.ns.path);
    const url = await run.metricsUrl();
    await run.waitFor(/load balancer running/);
    const ns = pair.b.ns.path;
    const zero = await scrape(url, ns);
    expect(seriesOf(zero, "tsebpf_loadbalancer_backend_flows_total")).toEqual({
      [`backend=alpha,interface=${pair.b.ifname},mac=02:00:00:00:20:01`]: 0,
      [`backend=beta,interface=${pair.b.ifname},mac=02:00:00:00:20:02`]: 0,
    });

    // 12 connections: a SYN and two ACKs each; 3 first fragments (no ports: unbalanceable).
    const ports = Array.from({ length: 12 }, (_, i) => 41000 + i * 7);
    const frames = ports.flatMap((p) => [tcp(mac, p), tcp(mac, p, { flags: 0x10 }), tcp(mac, p, { flags: 0x10 })]);
    sendFrames(pair.a.ns.path, pair.a.ifname, [...frames, tcp(mac, 40000, { fragment: true }), tcp(mac, 40001, { fragment: true }), tcp(mac, 40002, { fragment: true })]);
    await new Promise((r) => setTimeout(r, 300));

    const m = await scrape(url, ns);
    const at = `interface=${pair.b.ifname}`;
    const flows: Record<string, number> = { alpha: 0, beta: 0 };
    for (const p of ports) flows[backendOf(p)] = (flows[backendOf(p)] ?? 0) + 1;
    expect((flows.alpha ?? 0) + (flows.beta ?? 0)).toBe(12);
    const series = (name: string, per: (n: number) => number) =>
      expect(seriesOf(m, name)).toEqual({
        [`backend=alpha,${at},mac=02:00:00:00:20:01`]: per(flows.alpha ?? 0),
        [`backend=beta,${at},mac=02:00:00:00:20:02`]: per(flows.beta ?? 0),
      });
    series("tsebpf_loadbalancer_backend_flows_total", (n) => n);
    series("tsebpf_loadbalancer_backend_packets_total", (n) => 3 * n);
    series("tsebpf_loadbalancer_backend_bytes_total", (n) => 3 * n * LENGTH);
    expect(seriesOf(m, "tsebpf_loadbalancer_service_packets_total")).toEqual({ [at]: 36 });
    expect(seriesOf(m, "tsebpf_loadbalancer_packets_total")).toEqual({ [`${at},outcome=forwarded`]: 36, [`${at},outcome=unbalanceable`]: 3, [`${at},outcome=no_backend`]: 0 });
    expect(seriesOf(m, "tsebpf_loadbalancer_backends")).toEqual({ [at]: 2 });
    expect(seriesOf(m, "tsebpf_events_lost_total")).toEqual({ [`${at},program=loadbalancer`]: 0 });
    expect(Object.values(seriesOf(m, "tsebpf_build_info"))).toEqual([1]);
    expect(await run.stop("SIGTERM")).toBe(0);

    // Pinned: status --metrics reads its pins (node_exporter's textfile collector).
    const pin = spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, CLI, "loadbalancer", "-c", cfg, "--mode", "generic", "--pin"], { encoding: "utf8", timeout: 30_000 });
    expect(pin.status, pin.stderr).toBe(0);
    sendFrames(pair.a.ns.path, pair.a.ifname, ports.slice(0, 5).map((p) => tcp(mac, p)));
    await new Promise((r) => setTimeout(r, 300));
    const status = spawnSync(process.execPath, [CLI, "loadbalancer", "status", "--interface", pair.b.ifname, "--metrics"], { encoding: "utf8" });
    expect(status.stderr).toBe("");
    const pinned = parseExposition(status.stdout);
    const five: Record<string, number> = { alpha: 0, beta: 0 };
    for (const p of ports.slice(0, 5)) five[backendOf(p)] = (five[backendOf(p)] ?? 0) + 1;
    expect(seriesOf(pinned, "tsebpf_loadbalancer_backend_flows_total")).toEqual({
      [`backend=alpha,${at},mac=02:00:00:00:20:01`]: five.alpha,
      [`backend=beta,${at},mac=02:00:00:00:20:02`]: five.beta,
    });
    expect(seriesOf(pinned, "tsebpf_loadbalancer_service_packets_total")).toEqual({ [at]: 5 });
    expect(spawnSync("nsenter", [`--net=${ns}`, "--", process.execPath, CLI, "loadbalancer", "-c", cfg, "--unpin"], { encoding: "utf8" }).status).toBe(0);
  });

  it("--metrics with --pin is refused in one line, before anything is loaded", () => {
    const pair = topology();
    const r = spawnSync("nsenter", [`--net=${pair.b.ns.path}`, "--", process.execPath, CLI, "loadbalancer", "-c", cfg, "--pin", "--metrics", "127.0.0.1:0"], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^tsebpf: --metrics needs the process that serves them: it does not go with --pin/);
    expect(spawnSync(process.execPath, [CLI, "loadbalancer", "status", "--interface", pair.b.ifname, "--json"], { encoding: "utf8" }).status).not.toBe(0);
  });
});
