/**
 * The XDP load balancer against the real kernel: BPF_PROG_TEST_RUN with crafted packets, then
 * end to end — client, balancer and two backends in namespaces on one bridge, real TCP
 * connections, in generic and native mode, and pinned.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { abi, asm, runtime, type Collection } from "../../src/index.js";
import { formatAddress, formatMac, parseIPv4, parseIPv6, parseMac } from "../../src/programs/common/net.js";
import { parseConfig, type LoadBalancerConfig } from "../../src/programs/loadbalancer/config.js";
import { LoadBalancer, PIN_ROOT, PROGRAM_NAME, decodeFlowSample, loadCollection, loadCollectionWithBackends, pinPath, type FlowSample } from "../../src/programs/loadbalancer/index.js";
import { registerLoadbalancer } from "../../src/programs/loadbalancer/cli.js";
import { flowKey, flowSlot, maglevTable, type Flow } from "../../src/programs/loadbalancer/maglev.js";
import { SLOT_CLEAN, encodeSlots, type MaglevSlot } from "../../src/programs/loadbalancer/slots.js";
import { readStatus } from "../../src/programs/loadbalancer/status.js";
import { u32Key } from "../../src/programs/common/maps.js";
import { createBridgeLan, openConnections, serveVip, startLineServer, type ConnectionResult, type LanHost } from "../helpers/bridge-lan.js";
import { CliRun } from "../helpers/cli-run.js";
import { NetNs, describeKernel, uniqueName } from "../helpers/kernel.js";

const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_TX = 3;

const mac = (text: string): Uint8Array => parseMac(text) as Uint8Array;
const v4 = (text: string): Uint8Array => parseIPv4(text) as Uint8Array;
const v6 = (text: string): Uint8Array => parseIPv6(text) as Uint8Array;

// ---- packets -------------------------------------------------------------------------------

function ether(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array, vlan?: number): Buffer {
  const tag = vlan === undefined ? Buffer.alloc(0) : Buffer.from([0x81, 0x00, vlan >> 8, vlan & 0xff]);
  const type2 = Buffer.from([type >> 8, type & 0xff]);
  return Buffer.concat([dst, src, tag, type2, payload]);
}

function ipv4(o: { src: Uint8Array; dst: Uint8Array; protocol: number; payload: Uint8Array; options?: Uint8Array; fragment?: number }): Buffer {
  const options = o.options ?? new Uint8Array(0);
  const h = Buffer.alloc(20 + options.byteLength);
  h[0] = 0x40 | (h.byteLength / 4);
  h.writeUInt16BE(h.byteLength + o.payload.byteLength, 2);
  h.writeUInt16BE(o.fragment ?? 0x4000 /* DF */, 6);
  h[8] = 64;
  h[9] = o.protocol;
  h.set(o.src, 12);
  h.set(o.dst, 16);
  h.set(options, 20);
  return Buffer.concat([h, o.payload]);
}

function ipv6(o: { src: Uint8Array; dst: Uint8Array; nextHeader: number; payload: Uint8Array }): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(o.payload.byteLength, 4);
  h[6] = o.nextHeader;
  h[7] = 64;
  h.set(o.src, 8);
  h.set(o.dst, 24);
  return Buffer.concat([h, o.payload]);
}

const SYN = 0x02;
const ACK = 0x10;

function l4(sport: number, dport: number, protocol: "tcp" | "udp", flags = SYN): Buffer {
  const h = Buffer.alloc(protocol === "tcp" ? 20 : 8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  if (protocol === "tcp") {
    h[12] = 5 << 4;
    h[13] = flags;
  } else h.writeUInt16BE(8, 4);
  return h;
}

// ---- test run --------------------------------------------------------------------------------

const IF_MAC = mac("02:00:00:00:10:01");
const CLIENT_MAC = mac("02:00:00:00:10:02");
const BACKENDS = [
  { mac: "02:00:00:00:20:01", name: "alpha" },
  { mac: "02:00:00:00:20:02", name: "beta" },
];
const testConfig = (extra: Record<string, unknown> = {}): LoadBalancerConfig =>
  parseConfig({ listenInterface: "lb0", vip: ["10.0.0.100", "fd00::100"], tcp_port: 80, backends: BACKENDS, maglevTableSize: 251, ...extra }, "test.yml");

/**
 * `n` connections were opened: the new-flow counters count each SYN, so a SYN the client sent
 * again (its first one unanswered within a second, as when the backend still resolves the
 * client's address) counts twice.
 */
function expectConnectionsOpened(s: { backends: readonly { newFlows: bigint }[] }, n: number): void {
  const opened = Number(s.backends.reduce((a, b) => a + b.newFlows, 0n));
  expect(opened).toBeGreaterThanOrEqual(n);
  expect(opened).toBeLessThanOrEqual(2 * n);
}

/** The backend (index) the TypeScript Maglev table and flow hash predict for a flow. */
function predicted(config: LoadBalancerConfig, flow: Flow): number {
  const table = maglevTable(
    config.backends.map((b) => b.name),
    config.tableSize,
  );
  return table[flowSlot(flow, config.tableSize)] ?? -1;
}

describeKernel("loadbalancer: the XDP program under BPF_PROG_TEST_RUN", () => {
  const config = testConfig();
  // Loaded in beforeAll: a skipped describe still runs its body (without root, that would throw).
  let coll: Collection;
  beforeAll(() => {
    coll = loadCollection(config, IF_MAC);
  });
  afterAll(() => coll?.close());
  const prog = () => coll.program(PROGRAM_NAME);
  const run = (packet: Buffer) => prog().testRun({ data: packet });
  const tcp4 = (src: string, sport: number, o: { dst?: string; dport?: number; options?: Uint8Array; vlan?: number; fragment?: number; protocol?: "tcp" | "udp"; flags?: number } = {}) =>
    ether(
      IF_MAC,
      CLIENT_MAC,
      0x0800,
      ipv4({ src: v4(src), dst: v4(o.dst ?? "10.0.0.100"), protocol: o.protocol === "udp" ? 17 : 6, payload: l4(sport, o.dport ?? 80, o.protocol ?? "tcp", o.flags), ...(o.options ? { options: o.options } : {}), ...(o.fragment !== undefined ? { fragment: o.fragment } : {}) }),
      o.vlan,
    );
  const flow4 = (src: string, sport: number) => ({ family: 4 as const, source: v4(src), destination: v4("10.0.0.100"), sourcePort: sport, destinationPort: 80, protocol: 6 });
  const expectTx = (r: runtime.TestRunResult, packet: Buffer, backend: number) => {
    expect(r.returnValue).toBe(XDP_TX);
    expect(formatMac(r.data.subarray(0, 6))).toBe(BACKENDS[backend]?.mac);
    expect(formatMac(r.data.subarray(6, 12))).toBe(formatMac(IF_MAC));
    expect(r.data.subarray(12).equals(packet.subarray(12))).toBe(true);
  };

  it("sends a TCP SYN to the VIP to the backend Maglev picks, from the balancer's MAC (XDP_TX)", () => {
    for (let sport = 40000; sport < 40040; sport++) {
      const packet = tcp4("192.168.1.7", sport);
      expectTx(run(packet), packet, predicted(config, flow4("192.168.1.7", sport)));
    }
  });

  it("passes what is not for the service: other addresses, ports, protocols, ARP, runts", () => {
    for (const packet of [
      tcp4("192.168.1.7", 40000, { dst: "10.0.0.101" }),
      tcp4("192.168.1.7", 40000, { dport: 81 }),
      tcp4("192.168.1.7", 40000, { protocol: "udp" }),
      ether(IF_MAC, CLIENT_MAC, 0x0806, Buffer.alloc(28)),
      ether(IF_MAC, CLIENT_MAC, 0x0800, Buffer.alloc(10)),
      ether(IF_MAC, CLIENT_MAC, 0x0800, ipv4({ src: v4("192.168.1.7"), dst: v4("10.0.0.100"), protocol: 6, payload: Buffer.alloc(2) })),
    ]) {
      const r = run(packet);
      expect(r.returnValue).toBe(XDP_PASS);
      expect(r.data.equals(packet)).toBe(true);
    }
  });

  it("reads the ports after IPv4 options (IHL > 5)", () => {
    // Options that, read as a TCP header, would say port 80: a program ignoring IHL would balance it.
    const lookalike = Uint8Array.from([0x01, 0x01, 0x00, 0x50, 0x01, 0x01, 0x00, 0x50]);
    const wrongPort = tcp4("192.168.1.8", 40000, { dport: 81, options: lookalike });
    expect(run(wrongPort).returnValue).toBe(XDP_PASS);
    const withOptions = tcp4("192.168.1.8", 40001, { options: Uint8Array.from([0x01, 0x01, 0x01, 0x00]) });
    expectTx(run(withOptions), withOptions, predicted(config, flow4("192.168.1.8", 40001)));
    const maxOptions = tcp4("192.168.1.8", 40002, { options: new Uint8Array(40).fill(1) });
    expectTx(run(maxOptions), maxOptions, predicted(config, flow4("192.168.1.8", 40002)));
  });

  it("balances IPv6 to the IPv6 VIP, and VLAN-tagged frames (keeping the tag)", () => {
    const payload = l4(50000, 80, "tcp");
    const packet = ether(IF_MAC, CLIENT_MAC, 0x86dd, ipv6({ src: v6("fd00::7"), dst: v6("fd00::100"), nextHeader: 6, payload }));
    expectTx(run(packet), packet, predicted(config, { family: 6, source: v6("fd00::7"), destination: v6("fd00::100"), sourcePort: 50000, destinationPort: 80, protocol: 6 }));
    const other = ether(IF_MAC, CLIENT_MAC, 0x86dd, ipv6({ src: v6("fd00::7"), dst: v6("fd00::101"), nextHeader: 6, payload }));
    expect(run(other).returnValue).toBe(XDP_PASS);
    const tagged = tcp4("192.168.1.9", 40100, { vlan: 42 });
    const r = run(tagged);
    expectTx(r, tagged, predicted(config, flow4("192.168.1.9", 40100)));
    expect([...r.data.subarray(12, 16)]).toEqual([0x81, 0x00, 0, 42]);
  });

  it("passes IPv4 fragments (no ports to balance on) and counts them", () => {
    const before = readStatus({ counters: coll.map("counters"), stats: coll.map("stats"), info: coll.map("info") }).unbalanceable;
    expect(run(tcp4("192.168.1.10", 40000, { fragment: 0x2000 /* MF */ })).returnValue).toBe(XDP_PASS);
    expect(run(tcp4("192.168.1.10", 40000, { fragment: 0x0010 /* offset */ })).returnValue).toBe(XDP_PASS);
    expect(readStatus({ counters: coll.map("counters"), stats: coll.map("stats"), info: coll.map("info") }).unbalanceable - before).toBe(2n);
  });

  it("a clean slot keeps its flows without the connection table; once the slot changes, established flows stay and new connections follow it", () => {
    const src = "192.168.2.1";
    let sport = 41000;
    while (predicted(config, flow4(src, sport)) !== 0) sport++;
    const opening = tcp4(src, sport);
    const established = tcp4(src, sport, { flags: ACK });
    const conntrack = coll.map("conntrack");
    expectTx(run(opening), opening, 0);
    expectTx(run(established), established, 0);
    // Nothing recorded: the slot has always named backend 0.
    expect(conntrack.lookup(flowKey(flow4(src, sport)))).toBeUndefined();
    // Give every slot to backend 1, remembering backend 0 (as a backend change does).
    const maglev = coll.map("maglev");
    const generation0 = coll.map("backends").lookup(u32Key(0))?.readUInt32LE(8) ?? 0;
    expect(generation0).toBeGreaterThan(0);
    const keys = Buffer.alloc(4 * 251);
    for (let i = 0; i < 251; i++) keys.writeUInt32LE(i, 4 * i);
    const slotsOf = (slot: (i: number) => MaglevSlot) => encodeSlots(Array.from({ length: 251 }, (_, i) => slot(i)));
    runtime.updateBatch(maglev, keys, slotsOf(() => ({ id: 1, prev: 0, prevGeneration: generation0 })));
    // The established flow stays on 0, and is recorded now; a new connection goes to 1.
    expectTx(run(established), established, 0);
    expect(conntrack.lookup(flowKey(flow4(src, sport)))?.readUInt32LE(0)).toBe(0);
    expectTx(run(established), established, 0);
    const other = sport === 65535 ? sport - 1 : sport + 1;
    const fresh = tcp4(src, other);
    expectTx(run(fresh), fresh, 1);
    expectTx(run(tcp4(src, other, { flags: ACK })), tcp4(src, other, { flags: ACK }), 1);
    // A recorded flow whose backend is gone (another generation) starts over on the slot's backend,
    // not on the previous one.
    const stale = Buffer.alloc(8);
    stale.writeUInt32LE(0, 0);
    stale.writeUInt32LE(generation0 + 1000, 4);
    conntrack.update(flowKey(flow4(src, sport)), stale);
    expectTx(run(established), established, 1);
    // A previous backend of another generation is none: unrecorded flows follow the slot.
    expect(conntrack.delete(flowKey(flow4(src, sport)))).toBe(true);
    runtime.updateBatch(maglev, keys, slotsOf(() => ({ id: 1, prev: 0, prevGeneration: generation0 + 1000 })));
    expectTx(run(established), established, 1);
    // Forgotten, it opens again: the slot's backend.
    expect(conntrack.delete(flowKey(flow4(src, sport)))).toBe(true);
    runtime.updateBatch(maglev, keys, slotsOf(() => ({ id: 1, prev: 0, prevGeneration: generation0 })));
    expectTx(run(opening), opening, 1);
    for (const key of [flowKey(flow4(src, sport)), flowKey(flow4(src, other))]) conntrack.delete(key);
    const table = maglevTable(
      config.backends.map((b) => b.name),
      251,
    );
    runtime.updateBatch(maglev, keys, slotsOf((i) => ({ id: table[i] ?? 0, prev: SLOT_CLEAN, prevGeneration: 0 })));
  });

  it("samples new flows (with the backend each got); a full ring counts the samples it had no room for", async () => {
    using c = loadCollection(config, IF_MAC, "auto", 1);
    const info = readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") }).info;
    const ports = [43300, 43301, 43302];
    for (const sport of ports) expect(c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.4.3", sport) }).returnValue).toBe(XDP_TX);
    // Segments of open connections are not new flows.
    c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.4.3", 43300, { flags: ACK }) });
    const seen: FlowSample[] = [];
    {
      using reader = new runtime.RingBufferReader(c.map("flows"));
      reader.consume((r) => seen.push(decodeFlowSample(r.view, info)));
    }
    expect(seen.map((f) => [formatAddress(f.source, f.family), f.sourcePort, f.backend.name])).toEqual(ports.map((p) => ["192.168.4.3", p, BACKENDS[predicted(config, flow4("192.168.4.3", p))]?.name]));
    expect(seen.every((f) => f.backend.mac === BACKENDS.find((b) => b.name === f.backend.name)?.mac && f.ns > 0n)).toBe(true);
    // 256 KiB of 40-byte records (header included): about 6,550 fit. (One run each: a repeat
    // would see the frame XDP_TX re-addressed, for another MAC.)
    const syn = tcp4("192.168.4.3", 43303);
    for (let i = 0; i < 8000; i++) c.program(PROGRAM_NAME).testRun({ data: syn });
    let n = 0;
    {
      using reader = new runtime.RingBufferReader(c.map("flows"));
      n = reader.consume(() => {});
    }
    const lost = readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") }).samplesLost;
    expect(lost).toBeGreaterThan(0n);
    expect(BigInt(n) + lost).toBe(8000n);
    expect(() => loadCollection(config, IF_MAC, "auto", 0.5)).toThrow(/sampleFlows: 0.5 is not a whole number/);
  });

  it("UDP flows are recorded when first seen (no connection start to tell new from established)", () => {
    using c = loadCollection(testConfig({ protocol: "udp", tcp_port: 53 }), IF_MAC);
    const flow = { ...flow4("192.168.4.9", 43100), destinationPort: 53, protocol: 17 };
    expect(c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.4.9", 43100, { protocol: "udp", dport: 53 }) }).returnValue).toBe(XDP_TX);
    expect(c.map("conntrack").lookup(flowKey(flow))?.readUInt32LE(0)).toBe(predicted(testConfig({ protocol: "udp", tcp_port: 53 }), flow));
    expect(readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") }).backends.reduce((a, b) => a + b.newFlows, 0n)).toBe(1n);
  });

  it("counts packets, bytes and new flows per backend", () => {
    using c = loadCollection(config, IF_MAC);
    const status = () => readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") });
    const packet = tcp4("192.168.3.1", 42000);
    const b = predicted(config, flow4("192.168.3.1", 42000));
    // One connection: its SYN, then two segments of it.
    for (const data of [packet, tcp4("192.168.3.1", 42000, { flags: ACK }), tcp4("192.168.3.1", 42000, { flags: ACK | 0x08 })]) {
      expect(c.program(PROGRAM_NAME).testRun({ data }).returnValue).toBe(XDP_TX);
    }
    c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.3.1", 42000, { dport: 22 }) });
    const s = status();
    expect(s.backends[b]).toMatchObject({ name: BACKENDS[b]?.name, mac: BACKENDS[b]?.mac, packets: 3n, bytes: BigInt(3 * packet.byteLength), newFlows: 1n });
    expect(s.backends[1 - b]).toMatchObject({ packets: 0n, bytes: 0n, newFlows: 0n });
    expect(s).toMatchObject({ servicePackets: 3n, forwarded: 3n, noBackend: 0n });
  });

  it("UDP services balance UDP and pass TCP", () => {
    using c = loadCollection(testConfig({ protocol: "udp", tcp_port: 53 }), IF_MAC);
    const udp = tcp4("192.168.4.1", 43000, { protocol: "udp", dport: 53 });
    expect(c.program(PROGRAM_NAME).testRun({ data: udp }).returnValue).toBe(XDP_TX);
    expect(c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.4.1", 43000, { dport: 53 }) }).returnValue).toBe(XDP_PASS);
  });

  it("an IPv6-only service balances IPv6 only; IPv6 extension headers are passed and counted", () => {
    const v6only = testConfig({ vip: "fd00::100" });
    using c = loadCollection(v6only, IF_MAC);
    expect(c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.4.2", 43001) }).returnValue).toBe(XDP_PASS);
    const packet = ether(IF_MAC, CLIENT_MAC, 0x86dd, ipv6({ src: v6("fd00::8"), dst: v6("fd00::100"), nextHeader: 6, payload: l4(50001, 80, "tcp") }));
    expect(c.program(PROGRAM_NAME).testRun({ data: packet }).returnValue).toBe(XDP_TX);
    // An extension header before TCP: not balanced (passed), counted.
    const hopByHop = Buffer.concat([Buffer.from([6, 0, 1, 4, 0, 0, 0, 0]), l4(50002, 80, "tcp")]);
    const withExt = ether(IF_MAC, CLIENT_MAC, 0x86dd, ipv6({ src: v6("fd00::8"), dst: v6("fd00::100"), nextHeader: 0, payload: hopByHop }));
    expect(c.program(PROGRAM_NAME).testRun({ data: withExt }).returnValue).toBe(XDP_PASS);
    expect(readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") }).unbalanceable).toBe(1n);
  });

  it("balances only frames sent to the interface's MAC: flooded or promiscuous frames pass", () => {
    const src = v4("192.168.6.1");
    const frame = (dst: Uint8Array) => ether(dst, CLIENT_MAC, 0x0800, ipv4({ src, dst: v4("10.0.0.100"), protocol: 6, payload: l4(45000, 80, "tcp") }));
    for (const dst of [mac("02:00:00:00:10:09"), mac("ff:ff:ff:ff:ff:ff"), mac("03:00:00:00:10:01"), mac("02:00:00:00:10:00")]) {
      const packet = frame(dst);
      const r = run(packet);
      expect(r.returnValue).toBe(XDP_PASS);
      expect(r.data.equals(packet)).toBe(true);
    }
    expect(run(frame(IF_MAC)).returnValue).toBe(XDP_TX);
  });

  it("counts as unbalanceable only the service protocol to the VIP: ICMPv6 and other protocols are passed uncounted", () => {
    using c = loadCollection(config, IF_MAC);
    const unbalanceable = () => readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") }).unbalanceable;
    const to = (nextHeader: number, payload: Uint8Array) => ether(IF_MAC, CLIENT_MAC, 0x86dd, ipv6({ src: v6("fd00::9"), dst: v6("fd00::100"), nextHeader, payload }));
    const echo = Buffer.from([128, 0, 0, 0, 0, 1, 0, 1]);
    const hopByHop = (next: number) => Buffer.from([next, 0, 1, 4, 0, 0, 0, 0]);
    for (const packet of [
      to(58, echo), // ICMPv6 echo request
      to(0, Buffer.concat([hopByHop(58), echo])), // hop-by-hop, then ICMPv6
      to(17, l4(50003, 80, "udp")), // UDP to a TCP service
      to(0, Buffer.concat([hopByHop(17), l4(50004, 80, "udp")])),
      tcp4("192.168.6.2", 45001, { protocol: "udp", fragment: 0x2000 }), // a UDP fragment to a TCP service
    ]) {
      expect(c.program(PROGRAM_NAME).testRun({ data: packet }).returnValue).toBe(XDP_PASS);
    }
    expect(unbalanceable()).toBe(0n);
    // TCP behind extension headers (hop-by-hop, destination options, fragment): counted.
    const destOpts = Buffer.from([6, 0, 1, 4, 0, 0, 0, 0]);
    for (const payload of [Buffer.concat([hopByHop(6), l4(50005, 80, "tcp")]), Buffer.concat([hopByHop(60), destOpts, l4(50006, 80, "tcp")]), Buffer.concat([Buffer.from([6, 0, 0, 1, 0, 0, 0, 7]), l4(50007, 80, "tcp")])]) {
      const first = payload[0] === 6 && payload[2] === 0 && payload[3] === 1 ? 44 : 0;
      expect(c.program(PROGRAM_NAME).testRun({ data: to(first, payload) }).returnValue).toBe(XDP_PASS);
    }
    expect(unbalanceable()).toBe(3n);
  });

  it("live backend changes: flows of kept backends stay, a removed backend's flows move, new flows follow the new table; a reused id is a new backend", () => {
    const three = [...BACKENDS, { mac: "02:00:00:00:20:03", name: "gamma" }];
    const configOf = (list: { mac: string; name: string }[]) => testConfig({ backends: list });
    const c1 = configOf(three);
    const { collection: c, backendSet } = loadCollectionWithBackends(c1, IF_MAC);
    using _c = c;
    const macOf = (r: runtime.TestRunResult) => {
      expect(r.returnValue).toBe(XDP_TX);
      return formatMac(r.data.subarray(0, 6));
    };
    // A connection's first segment (SYN) or a later one (ACK).
    const open = (src: string, sport: number) => macOf(c.program(PROGRAM_NAME).testRun({ data: tcp4(src, sport) }));
    const send = (src: string, sport: number) => macOf(c.program(PROGRAM_NAME).testRun({ data: tcp4(src, sport, { flags: ACK }) }));
    const predictedMac = (cfg: LoadBalancerConfig, src: string, sport: number) => formatMac(cfg.backends[predicted(cfg, flow4(src, sport))]?.mac ?? new Uint8Array(6));
    const find = (cfg: LoadBalancerConfig, src: string, want: (m: string) => boolean, from: number) => {
      for (let sport = from; sport < from + 20000; sport++) if (want(predictedMac(cfg, src, sport))) return sport;
      throw new Error("no such flow");
    };
    const src = "192.168.7.1";
    const [alpha, beta, gamma] = three.map((b) => b.mac);
    const two = configOf(BACKENDS);
    // Established flows: one on beta (kept), two on gamma (removed), and 300 more.
    const onBeta = find(c1, src, (m) => m === beta, 46000);
    const onGamma = find(c1, src, (m) => m === gamma, 46000);
    const withDelta = configOf([...BACKENDS, { mac: "02:00:00:00:20:04", name: "delta" }]);
    const delta = "02:00:00:00:20:04";
    // Not sent again until delta has gamma's id: a bare id match would send it to delta.
    let onGamma2 = onGamma + 1;
    while (!(predictedMac(c1, src, onGamma2) === gamma && predictedMac(withDelta, src, onGamma2) !== delta)) onGamma2++;
    expect(open(src, onBeta)).toBe(beta);
    expect(open(src, onGamma)).toBe(gamma);
    expect(open(src, onGamma2)).toBe(gamma);
    const many = new Map<number, string>();
    for (let sport = 48000; sport < 48300; sport++) many.set(sport, open(src, sport));
    expect(new Set(many.values())).toEqual(new Set([alpha, beta, gamma]));
    const gammaBefore = readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") }).backends.find((b) => b.name === "gamma");
    expect(gammaBefore?.packets).toBe(2n + BigInt([...many.values()].filter((m) => m === gamma).length));

    // Remove gamma.
    expect(backendSet.apply(two, "auto")).toEqual({ added: [], removed: ["gamma"], changed: [] });
    expect(send(src, onBeta)).toBe(beta);
    expect(send(src, onGamma)).toBe(predictedMac(two, src, onGamma));
    // New flows: the two-backend table, both backends used, never gamma.
    const seen = new Set<string>();
    for (let sport = 47000; sport < 47060; sport++) {
      const m = open(src, sport);
      expect(m).toBe(predictedMac(two, src, sport));
      seen.add(m);
    }
    expect(seen).toEqual(new Set([alpha, beta]));
    // Every established flow of alpha and beta stayed (even where the new table gives its slot to
    // the other one); each of gamma's moved to what the new table says.
    for (const [sport, before] of many) expect(send(src, sport)).toBe(before === gamma ? predictedMac(two, src, sport) : before);

    // Add delta: it takes gamma's id (the lowest free) with a new generation. A flow gamma had is
    // not delta's: it is a new flow. An established flow on alpha stays, even where delta now
    // holds its slot.
    let established = 49000;
    while (!(predictedMac(two, "192.168.7.2", established) === alpha && predictedMac(withDelta, "192.168.7.2", established) === delta)) established++;
    expect(open("192.168.7.2", established)).toBe(alpha);
    expect(backendSet.apply(withDelta, "auto")).toEqual({ added: ["delta"], removed: [], changed: [] });
    expect(backendSet.ids(withDelta)).toEqual([0, 1, 2]);
    expect(send("192.168.7.2", established)).toBe(alpha);
    // gamma's connection is gone: the client opens it again.
    expect(open(src, onGamma2)).toBe(predictedMac(withDelta, src, onGamma2));
    const status = readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") });
    expect(status.backends.map((b) => [b.name, b.index])).toEqual([
      ["alpha", 0],
      ["beta", 1],
      ["delta", 2],
    ]);
    // delta's counters started from zero (gamma's are not carried over).
    const d = status.backends.find((b) => b.name === "delta");
    expect(d).toMatchObject({ packets: 0n, newFlows: 0n });
    const all = new Set<string>();
    for (let sport = 50000; sport < 50090; sport++) {
      const m = open("192.168.7.3", sport);
      expect(m).toBe(predictedMac(withDelta, "192.168.7.3", sport));
      all.add(m);
    }
    expect(all).toEqual(new Set([alpha, beta, delta]));
    // A new MAC under the same name: that backend's flows start over, the others stay.
    const moved = configOf([{ mac: "02:00:00:00:20:11", name: "alpha" }, BACKENDS[1] as { mac: string; name: string }, { mac: delta, name: "delta" }]);
    const onAlpha = find(withDelta, "192.168.7.4", (m) => m === alpha, 51000);
    expect(open("192.168.7.4", onAlpha)).toBe(alpha);
    expect(send(src, onBeta)).toBe(beta);
    expect(backendSet.apply(moved, "auto")).toEqual({ added: [], removed: [], changed: ["alpha"] });
    expect(send("192.168.7.4", onAlpha)).toBe("02:00:00:00:20:11");
    // The flow established on alpha where delta holds the slot now is a new flow: it goes to delta.
    expect(send("192.168.7.2", established)).toBe(delta);
    expect(send(src, onBeta)).toBe(beta);
  });

  it("the largest description validation accepts fits the kernel's info map (checked before load, not after)", () => {
    const macOf = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;
    const named = (quotes: number) => Array.from({ length: 256 }, (_, i) => ({ mac: macOf(i), name: `${String(i).padStart(3, "0")}${'"'.repeat(quotes)}${"x".repeat(60 - quotes)}` }));
    // Each quote is two bytes in JSON: 17 per name is the most that fits, 18 is refused.
    expect(() => testConfig({ backends: named(18), maglevTableSize: 65537 })).toThrow(/backends: the instance description .* would be \d+ bytes, more than the 32767 its map holds/);
    const largest = testConfig({ backends: named(17), maglevTableSize: 65537 });
    using c = loadCollection(largest, IF_MAC, "generic (auto on veth)");
    const s = readStatus({ counters: c.map("counters"), stats: c.map("stats"), info: c.map("info") });
    expect(s.backends.map((b) => b.name)).toEqual(largest.backends.map((b) => b.name));
    expect(s.backends.at(-1)?.index).toBe(255);
  });

  it("drops service packets when the table names no configured backend (never in a started balancer)", () => {
    using c = loadCollection(config, IF_MAC);
    const keys = Buffer.alloc(4 * 251);
    for (let i = 0; i < 251; i++) keys.writeUInt32LE(i, 4 * i);
    const slots = (prev: number) => encodeSlots(Array.from({ length: 251 }, () => ({ id: 7, prev, prevGeneration: 0 })));
    // Clean slots, and changed ones (the connection-table path).
    for (const prev of [SLOT_CLEAN, 0]) {
      runtime.updateBatch(c.map("maglev"), keys, slots(prev));
      expect(c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.5.1", 44000) }).returnValue).toBe(XDP_DROP);
      expect(c.program(PROGRAM_NAME).testRun({ data: tcp4("192.168.5.1", 44000, { flags: ACK }) }).returnValue).toBe(XDP_DROP);
    }
  });
});

// ---- end to end -------------------------------------------------------------------------------

type Host = LanHost;

interface Lan {
  readonly bridge: NetNs;
  readonly client: Host;
  readonly balancer: Host;
  readonly backends: readonly Host[];
  readonly vip: string;
  remove(): void;
}

const SUBNET = "192.168.77";
const VIP = "192.168.100.10";
const VIP6 = "fd00:100::10";
const SUBNET6 = "fd00:77:";
const SERVICE_PORT = 8080;

/** Four hosts on one bridge (in its own namespace): client, balancer, two backends holding the VIP on loopback. */
function createLan(): Lan {
  const lan = createBridgeLan(SUBNET, "77", 4);
  try {
    const [client, balancer, ...backends] = lan.hosts as [Host, Host, Host, Host];
    serveVip(VIP, client, balancer, backends);
    return { bridge: lan.bridge, client, balancer, backends, vip: VIP, remove: lan.remove };
  } catch (e) {
    lan.remove();
    throw e;
  }
}

/** `count` TCP connections from the client, `messages` lines each, one after the other. */
function connect(client: Host, count: number, messages: number, timeoutMs = 4000, address = VIP): ConnectionResult[] {
  const script = `
    const net = require("node:net");
    const one = (i) => new Promise((resolve) => {
      const s = net.connect({ host: ${JSON.stringify(address)}, port: ${SERVICE_PORT} });
      const replies = [];
      let buf = "", sent = 0, localPort = 0;
      const timer = setTimeout(() => { s.destroy(); resolve({ localPort, replies, error: "timeout" }); }, ${timeoutMs});
      const send = () => s.write("c" + i + "-m" + sent++ + "\\n");
      s.on("connect", () => { localPort = s.localPort; send(); });
      s.on("data", (d) => {
        buf += d;
        let k;
        while ((k = buf.indexOf("\\n")) >= 0) { replies.push(buf.slice(0, k)); buf = buf.slice(k + 1); }
        if (replies.length >= ${messages}) { clearTimeout(timer); s.end(); resolve({ localPort, replies }); }
        else if (replies.length === sent) send();
      });
      s.on("error", (e) => { clearTimeout(timer); resolve({ localPort, replies, error: e.code || String(e) }); });
    });
    (async () => { const out = []; for (let i = 0; i < ${count}; i++) out.push(await one(i)); process.stdout.write(JSON.stringify(out)); })();`;
  const r = spawnSync("nsenter", [`--net=${client.ns.path}`, "--", process.execPath, "-e", script], { encoding: "utf8", timeout: count * timeoutMs + 10_000 });
  if (r.status !== 0) throw new Error(`client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ConnectionResult[];
}

/** `count` TCP connections at once to the VIP, each sending a line every `everyMs` until `messages` replies. */
const openLive = (client: Host, count: number, messages: number, everyMs: number): Promise<ConnectionResult[]> =>
  openConnections(client, { vip: VIP, port: SERVICE_PORT, count, messages, everyMs, slackMs: 3000 });

/** Interface counters from `ip -s -j link` (in the host's namespace). */
function linkStats(host: Host): { rx: number; tx: number } {
  const [link] = JSON.parse(host.ns.ip("-s", "-j", "link", "show", "dev", host.ifname)) as { stats64: { rx: { packets: number }; tx: { packets: number } } }[];
  return { rx: link?.stats64.rx.packets ?? 0, tx: link?.stats64.tx.packets ?? 0 };
}

/** Whether the interface has an XDP program, and in which mode (`xdpgeneric`, `xdp` for native). */
function xdpShown(host: Host): string | undefined {
  return / (xdp\w*) /.exec(host.ns.ip("-d", "link", "show", "dev", host.ifname))?.[1];
}

function lanDocument(lan: Lan): Record<string, unknown> {
  return {
    listenInterface: lan.balancer.ifname,
    vip: lan.vip,
    tcp_port: SERVICE_PORT,
    backends: lan.backends.map((b, i) => ({ mac: b.mac, name: `backend-${i}` })),
  };
}

const lanConfig = (lan: Lan): LoadBalancerConfig => parseConfig(lanDocument(lan), "e2e.yml");

describeKernel("loadbalancer: end to end on a bridge (client, balancer, two backends)", () => {
  let lan: Lan;
  const servers: ChildProcess[] = [];
  beforeAll(async () => {
    lan = createLan();
    for (const [i, b] of lan.backends.entries()) servers.push(await startLineServer(b, `backend-${i}`, SERVICE_PORT));
  });
  afterAll(() => {
    for (const s of servers) s.kill();
    lan?.remove();
  });

  it("without the balancer the VIP is unreachable (the balancer does not own it)", () => {
    const [r] = connect(lan.client, 1, 1, 1000);
    expect(r?.error).toBeDefined();
  });

  /** Connections from the client through a started balancer, checked; returns its status. */
  function balanceAndCheck(lb: LoadBalancer, config: LoadBalancerConfig) {
    const lbBefore = linkStats(lan.balancer);
    const backendsBefore = lan.backends.map(linkStats);
    const results = connect(lan.client, 16, 5);
    for (const r of results) {
      expect(r.error, JSON.stringify(r)).toBeUndefined();
      expect(r.replies).toHaveLength(5);
      // Every message of a connection answered by the same backend.
      const names = new Set(r.replies.map((line) => line.split(" ")[0]));
      expect(names.size, JSON.stringify(r)).toBe(1);
      // The one Maglev and the flow hash in TypeScript predict.
      const flow = { family: 4 as const, source: v4(lan.client.ip), destination: v4(VIP), sourcePort: r.localPort, destinationPort: SERVICE_PORT, protocol: 6 };
      expect([...names][0]).toBe(`backend-${predicted(config, flow)}`);
    }
    const used = new Set(results.map((r) => r.replies[0]?.split(" ")[0]));
    expect(used).toEqual(new Set(["backend-0", "backend-1"]));
    const s = lb.status();
    const packets = s.backends.reduce((a, b) => a + b.packets, 0n);
    expect(s.forwarded).toBe(packets);
    expect(s.servicePackets).toBe(s.forwarded);
    expectConnectionsOpened(s, 16);
    // Direct server return: the balancer receives the client's packets only (plus a few ARP
    // frames); the backends' replies, about as many, go straight to the client's MAC.
    const lbReceived = linkStats(lan.balancer).rx - lbBefore.rx;
    const backendsSent = lan.backends.map(linkStats).reduce((a, b, i) => a + b.tx - (backendsBefore[i]?.tx ?? 0), 0);
    expect(lbReceived).toBeGreaterThanOrEqual(Number(s.forwarded));
    expect(lbReceived).toBeLessThan(Number(s.forwarded) + 10);
    expect(backendsSent).toBeGreaterThan(Number(s.forwarded) / 2);
    for (const b of lan.backends) expect(b.ns.ip("neigh", "show", lan.client.ip)).toContain(lan.client.mac);
    return { s, lbReceived, backendsSent };
  }

  it("generic mode: connections reach both backends, each stays on one, replies bypass the balancer", () => {
    const config = lanConfig(lan);
    const fds = runtime.openFdCount();
    const lb = withNs(lan.balancer, () => LoadBalancer.start(config, { mode: "generic" }));
    try {
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      const { s, lbReceived, backendsSent } = balanceAndCheck(lb, config);
      console.log(`generic: ${s.forwarded} forwarded, balancer received ${lbReceived}, backends sent ${backendsSent}`);
    } finally {
      lb.stop();
    }
    expect(runtime.openFdCount()).toBe(fds);
    expect(xdpShown(lan.balancer)).toBeUndefined();
    expect(connect(lan.client, 1, 1, 1000)[0]?.error).toBeDefined();
  });

  it("native mode: with an XDP program on the peer veth and TX checksum offload off on the client", () => {
    const config = lanConfig(lan);
    // The topology's part: XDP_TX frames leave through the bridge-side peer, which only takes
    // them with an XDP program of its own; native XDP on veth loses CHECKSUM_PARTIAL.
    using pass = runtime.Program.load({ name: "lb_peer_pass", type: abi.ProgramType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, XDP_PASS), asm.exit()]), license: "GPL" });
    using peer = runtime.withNetns(lan.bridge.path, () => runtime.attachXdp(pass, runtime.ifindex(lan.balancer.port), { mode: "native" }));
    const offload = runtime.withNetns(lan.client.ns.path, () => runtime.txChecksumOffload(lan.client.ifname));
    expect(offload).toBe(true);
    runtime.withNetns(lan.client.ns.path, () => runtime.setTxChecksumOffload(lan.client.ifname, false));
    try {
      expect(runtime.withNetns(lan.client.ns.path, () => runtime.txChecksumOffload(lan.client.ifname))).toBe(false);
      const lb = withNs(lan.balancer, () => LoadBalancer.start(config, { mode: "native" }));
      try {
        expect(xdpShown(lan.balancer)).toBe("xdp");
        const { s, lbReceived, backendsSent } = balanceAndCheck(lb, config);
        console.log(`native: ${s.forwarded} forwarded, balancer received ${lbReceived}, backends sent ${backendsSent}`);
      } finally {
        lb.stop();
      }
      expect(xdpShown(lan.balancer)).toBeUndefined();
    } finally {
      runtime.withNetns(lan.client.ns.path, () => runtime.setTxChecksumOffload(lan.client.ifname, true));
      void peer;
    }
  });

  it("IPv6: connections to the IPv6 VIP reach both backends, each stays on one, replies bypass the balancer", () => {
    const hosts = [lan.client, lan.balancer, ...lan.backends];
    hosts.forEach((h, i) => {
      h.ns.exec("sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=0", `net.ipv6.conf.${h.ifname}.disable_ipv6=0`, "net.ipv6.conf.lo.disable_ipv6=0", `net.ipv6.conf.${h.ifname}.accept_dad=0`]);
      h.ns.ip("-6", "addr", "add", `${SUBNET6}:${i + 1}/64`, "dev", h.ifname, "nodad");
    });
    for (const b of lan.backends) b.ns.ip("-6", "addr", "add", `${VIP6}/128`, "dev", "lo");
    lan.client.ns.ip("-6", "route", "add", `${VIP6}/128`, "dev", lan.client.ifname);
    lan.client.ns.ip("-6", "neigh", "replace", VIP6, "lladdr", lan.balancer.mac, "dev", lan.client.ifname, "nud", "permanent");
    const config = parseConfig({ ...lanDocument(lan), vip: [VIP, VIP6] }, "e2e.yml");
    const lb = withNs(lan.balancer, () => LoadBalancer.start(config, { mode: "generic" }));
    try {
      const lbBefore = linkStats(lan.balancer).rx;
      const results = connect(lan.client, 12, 3, 4000, VIP6);
      const lbReceived = linkStats(lan.balancer).rx - lbBefore;
      for (const r of results) {
        expect(r.error, JSON.stringify(r)).toBeUndefined();
        expect(new Set(r.replies.map((line) => line.split(" ")[0])).size).toBe(1);
        const flow = { family: 6 as const, source: v6(`${SUBNET6}:1`), destination: v6(VIP6), sourcePort: r.localPort, destinationPort: SERVICE_PORT, protocol: 6 };
        expect(r.replies[0]?.split(" ")[0]).toBe(`backend-${predicted(config, flow)}`);
      }
      expect(new Set(results.map((r) => r.replies[0]?.split(" ")[0]))).toEqual(new Set(["backend-0", "backend-1"]));
      const s = lb.status();
      expectConnectionsOpened(s, 12);
      // The balancer sees the client's packets, plus neighbour solicitations flooded by the bridge.
      expect(lbReceived).toBeGreaterThanOrEqual(Number(s.forwarded));
      expect(lbReceived).toBeLessThan(Number(s.forwarded) + 20);
      // IPv4 still works beside it.
      expect(connect(lan.client, 2, 1).every((r) => r.error === undefined)).toBe(true);
      for (const b of lan.backends) expect(b.ns.ip("-6", "neigh", "show", `${SUBNET6}:1`)).toContain(lan.client.mac);
    } finally {
      lb.stop();
    }
  });

  it("adding a backend under open connections: every one stays on its backend (half of them in slots the new backend takes), new ones reach both", async () => {
    const both = lanConfig(lan);
    const one = parseConfig({ ...lanDocument(lan), backends: [{ mac: lan.backends[0]?.mac, name: "backend-0" }] }, "e2e.yml");
    const lb = withNs(lan.balancer, () => LoadBalancer.start(one, { mode: "generic" }));
    try {
      const live = openLive(lan.client, 12, 12, 150);
      await new Promise((r) => setTimeout(r, 600));
      expect(lb.reload(both)).toEqual({ added: ["backend-1"], removed: [], changed: [] });
      const during = await live;
      for (const r of during) {
        expect(r.error, JSON.stringify(r)).toBeUndefined();
        expect(r.replies).toHaveLength(12);
        expect(r.replies.every((line) => line.startsWith("backend-0 ")), JSON.stringify(r)).toBe(true);
      }
      // Some of them hash to slots that backend-1 holds now: those were kept by the slot's memory.
      const moved = during.filter((r) => predicted(both, { family: 4, source: v4(lan.client.ip), destination: v4(VIP), sourcePort: r.localPort, destinationPort: SERVICE_PORT, protocol: 6 }) === 1);
      expect(moved.length).toBeGreaterThan(0);
      const after = connect(lan.client, 12, 2);
      expect(after.every((r) => r.error === undefined)).toBe(true);
      expect(new Set(after.map((r) => r.replies[0]?.split(" ")[0]))).toEqual(new Set(["backend-0", "backend-1"]));
    } finally {
      lb.stop();
    }
  });

  it("samples new connections: each one's source port and the backend that answered it", async () => {
    const lb = withNs(lan.balancer, () => LoadBalancer.start(lanConfig(lan), { mode: "generic", sampleFlows: 1 }));
    try {
      const results = connect(lan.client, 6, 1);
      expect(results.every((r) => r.error === undefined)).toBe(true);
      const seen: FlowSample[] = [];
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 300);
      await lb.onFlow((f) => seen.push(f), { signal: stop.signal });
      // Each connection's SYN (a retransmitted one would be sampled again).
      const byPort = new Map(seen.map((f) => [f.sourcePort, f]));
      for (const r of results) {
        const f = byPort.get(r.localPort);
        expect(f && formatAddress(f.source, f.family)).toBe(lan.client.ip);
        expect(f?.backend.name).toBe(r.replies[0]?.split(" ")[0]);
      }
      expect(lb.status().samplesLost).toBe(0n);
    } finally {
      lb.stop();
    }
  });

  it("auto mode picks generic on veth (whose native XDP_TX needs the peer's cooperation)", () => {
    expect(withNs(lan.balancer, () => runtime.interfaceDriver(lan.balancer.ifname))).toBe("veth");
    const lb = withNs(lan.balancer, () => LoadBalancer.start(lanConfig(lan)));
    try {
      expect(lb.info.mode).toBe("generic (auto on veth)");
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      expect(connect(lan.client, 4, 2).every((r) => r.error === undefined && r.replies.length === 2)).toBe(true);
    } finally {
      lb.stop();
    }
  });

  it("pinned: keeps balancing after the process lets go, status reads the pins, unpin detaches", () => {
    const config = lanConfig(lan);
    const dir = pinPath(config.listenInterface);
    const lb = withNs(lan.balancer, () => LoadBalancer.start(config, { mode: "generic", pin: true }));
    try {
      expect(lb.pinned).toBe(dir);
      lb.stop(); // closes this process's fds: the pins keep it attached
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      const results = connect(lan.client, 6, 3);
      expect(results.every((r) => r.error === undefined && r.replies.length === 3)).toBe(true);
      expect(LoadBalancer.pinnedInterfaces()).toContain(config.listenInterface);
      const s = LoadBalancer.pinnedStatus(config.listenInterface);
      expect(s.backends.map((b) => b.name)).toEqual(["backend-0", "backend-1"]);
      expectConnectionsOpened(s, 6);
      expect(s.info).toMatchObject({ listenInterface: config.listenInterface, vips: [VIP], port: SERVICE_PORT, protocol: "tcp", mode: "generic" });
      // A second instance on the same interface is refused, with the way out.
      expect(() => withNs(lan.balancer, () => LoadBalancer.start(config, { mode: "generic" }))).toThrow(/already pinned on .*--unpin/);
    } finally {
      expect(LoadBalancer.unpin(config.listenInterface)).toBe(true);
    }
    expect(existsSync(dir)).toBe(false);
    expect(xdpShown(lan.balancer)).toBeUndefined();
    expect(LoadBalancer.unpin(config.listenInterface)).toBe(false);
    expect(() => LoadBalancer.pinnedStatus(config.listenInterface)).toThrow(/no load balancer pinned/);
  });

  it("--pin again applies a new backend list to the pinned balancer: kept flows stay, new flows follow; service changes are refused; --unpin cleans up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-lb-repin-"));
    const ifname = lan.balancer.ifname;
    try {
      const file = join(dir, "config.yml");
      const doc = lanDocument(lan);
      const backends = doc.backends as unknown[];
      const cli = async (args: string[]) => {
        let out = "";
        let err = "";
        const program = new Command("tsebpf").exitOverride();
        registerLoadbalancer(program, { out: (t: string) => void (out += t), err: (t: string) => void (err += t) });
        let running: Promise<unknown> = Promise.resolve();
        withNs(lan.balancer, () => void (running = program.parseAsync(["loadbalancer", ...args], { from: "user" })));
        await running;
        return { out, err };
      };
      writeFileSync(file, JSON.stringify(doc));
      expect((await cli(["-c", file, "--mode", "generic", "--pin"])).out).toMatch(/^load balancer pinned on /);
      expect(withNs(lan.balancer, () => LoadBalancer.pinnedState(ifname))).toBe("live");
      expect(connect(lan.client, 8, 1).every((r) => r.error === undefined)).toBe(true);

      // Connections open while backend-1 is removed from the pinned balancer (20: all of them hashing
      // to one backend has odds of 2^-20, so the test never depends on luck).
      const live = openLive(lan.client, 20, 12, 150);
      await new Promise((r) => setTimeout(r, 600));
      writeFileSync(file, JSON.stringify({ ...doc, backends: backends.slice(0, 1) }));
      const applied = await cli(["-c", file, "--pin"]);
      expect(applied.out).toBe(`load balancer pinned on ${ifname} (${pinPath(ifname)}): config applied: 1 backend (removed backend-1); --mode applies only when it starts\n`);
      const during = await live;
      const on = (name: string) => during.filter((r) => r.replies[0]?.startsWith(`${name} `));
      expect(on("backend-0").length + on("backend-1").length).toBe(20);
      expect(on("backend-0").length).toBeGreaterThan(0);
      for (const r of on("backend-0")) {
        expect(r.error, JSON.stringify(r)).toBeUndefined();
        expect(r.replies).toHaveLength(12);
        expect(r.replies.every((line) => line.startsWith("backend-0 "))).toBe(true);
      }
      for (const r of on("backend-1")) expect(r.replies.length, JSON.stringify(r)).toBeLessThan(12);
      const after = connect(lan.client, 8, 2);
      expect(after.every((r) => r.error === undefined && r.replies.every((line) => line.startsWith("backend-0 ")))).toBe(true);
      const status = LoadBalancer.pinnedStatus(ifname);
      expect(status.backends.map((b) => b.name)).toEqual(["backend-0"]);
      expect(status.backends[0]?.mac).toBe(lan.backends[0]?.mac);
      const shown = await cli(["status", "--interface", ifname, "--json"]);
      expect((JSON.parse(shown.out) as { backends: { name: string }[] }[])[0]?.backends.map((b) => b.name)).toEqual(["backend-0"]);

      // The library: the same, from a fresh open of the pins (backend-1 comes back as a new backend).
      {
        using pinned = withNs(lan.balancer, () => LoadBalancer.openPinned(ifname));
        expect(pinned.applyBackends(lanConfig(lan))).toEqual({ added: ["backend-1"], removed: [], changed: [] });
        expect(pinned.status().backends.map((b) => b.name)).toEqual(["backend-0", "backend-1"]);
      }
      const both = connect(lan.client, 24, 1);
      expect(both.every((r) => r.error === undefined)).toBe(true);
      expect(new Set(both.map((r) => r.replies[0]?.split(" ")[0]))).toEqual(new Set(["backend-0", "backend-1"]));
      writeFileSync(file, JSON.stringify(doc));
      expect((await cli(["-c", file, "--pin"])).out).toContain("config applied: 2 backends (no change)");

      // A service change is refused and changes nothing.
      writeFileSync(file, JSON.stringify({ ...doc, backends: backends.slice(0, 1), tcp_port: SERVICE_PORT + 1 }));
      await expect(cli(["-c", file, "--pin"])).rejects.toThrow(`the port (${SERVICE_PORT} → ${SERVICE_PORT + 1}) changed: the pinned load balancer keeps its service; unpin and start again`);
      writeFileSync(file, JSON.stringify({ ...doc, maglevTableSize: 251 }));
      await expect(cli(["-c", file, "--pin"])).rejects.toThrow(/maglevTableSize \(\d+ → 251\) changed: .*unpin and start again/);
      expect(LoadBalancer.pinnedStatus(ifname).backends.map((b) => b.name)).toEqual(["backend-0", "backend-1"]);
      expect(LoadBalancer.pinnedStatus(ifname).info.port).toBe(SERVICE_PORT);
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      // A foreground start is still refused while it is pinned.
      expect(() => withNs(lan.balancer, () => LoadBalancer.start(lanConfig(lan), { mode: "generic" }))).toThrow(/already pinned on .*--unpin/);

      writeFileSync(file, JSON.stringify(doc));
      expect((await cli(["-c", file, "--unpin"])).out).toBe(`unpinned the load balancer on ${ifname} (${pinPath(ifname)})\n`);
      expect(existsSync(pinPath(ifname))).toBe(false);
      expect(xdpShown(lan.balancer)).toBeUndefined();

      // Pins whose balancer is no longer attached: a leftover, removed; then a normal start.
      await cli(["-c", file, "--mode", "generic", "--pin"]);
      {
        using link = runtime.Link.fromPin(`${pinPath(ifname)}/link`);
        link.detach();
      }
      expect(xdpShown(lan.balancer)).toBeUndefined();
      expect(withNs(lan.balancer, () => LoadBalancer.pinnedState(ifname))).toBe("stale");
      expect(() => withNs(lan.balancer, () => LoadBalancer.openPinned(ifname))).toThrow(/leftover/);
      const restarted = await cli(["-c", file, "--mode", "generic", "--pin"]);
      expect(restarted.err).toContain(`removed the pins of a load balancer no longer attached to ${ifname}`);
      expect(restarted.out).toMatch(/^load balancer pinned on /);
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      expect(connect(lan.client, 4, 1).every((r) => r.error === undefined)).toBe(true);
    } finally {
      LoadBalancer.unpin(ifname);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(xdpShown(lan.balancer)).toBeUndefined();
  });

  it("the CLI runs it in the foreground with periodic summaries and detaches on SIGTERM; --pin, status, --unpin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-lb-cli-"));
    try {
      const file = join(dir, "config.yml");
      writeFileSync(file, [`listenInterface: ${lan.balancer.ifname}`, `vip: ${VIP}`, `tcp_port: ${SERVICE_PORT}`, "backends:", ...lan.backends.map((b, i) => `  - { mac: "${b.mac}", name: backend-${i} }`), ""].join("\n"));
      const cli = () => {
        let out = "";
        const io = { out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
        const program = new Command("tsebpf").exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
        registerLoadbalancer(program, io);
        return { program, output: () => out };
      };
      // The command starts the balancer synchronously (before its first await): start it inside
      // the balancer's namespace, let it run outside.
      const fg = cli();
      let running: Promise<unknown> = Promise.resolve();
      withNs(lan.balancer, () => void (running = fg.program.parseAsync(["loadbalancer", "--config", file, "--mode", "generic", "--interval", "0.2", "--sample-flows", "1"], { from: "user" })));
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      expect(connect(lan.client, 4, 2).every((r) => r.error === undefined)).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      process.emit("SIGTERM");
      await running;
      expect(xdpShown(lan.balancer)).toBeUndefined();
      const lines = fg.output().trimEnd().split("\n");
      expect(lines[0]).toBe(`load balancer running on ${lan.balancer.ifname} (generic), 2 backends: Ctrl+C (SIGINT) or SIGTERM detaches, SIGHUP or editing the config applies new backends`);
      expect(lines.at(-1)).toBe("detached");
      expect(lines.at(-2)).toMatch(new RegExp(`^${lan.balancer.ifname} ${VIP}:${SERVICE_PORT}/tcp: \\d+ packets, \\d+ forwarded \\| backend-0 \\(${lan.backends[0]?.mac}\\) \\d+ pkts .* flows \\| backend-1 `));
      expect(lines.length).toBeGreaterThanOrEqual(4);
      // --sample-flows 1: every connection's SYN, with the backend it got.
      const flowLines = lines.filter((l) => l.startsWith("flow "));
      expect(flowLines.length).toBeGreaterThanOrEqual(4);
      for (const l of flowLines) expect(l).toMatch(new RegExp(`^flow ${lan.client.ip.replace(/\./g, "\\.")}:\\d+ -> backend-[01] \\(02:`));

      const pinned = cli();
      withNs(lan.balancer, () => void (running = pinned.program.parseAsync(["loadbalancer", "-c", file, "--mode", "generic", "--pin"], { from: "user" })));
      await running;
      expect(pinned.output()).toMatch(/^load balancer pinned on .* at \/sys\/fs\/bpf\/tsebpf\/loadbalancer\//);
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      expect(connect(lan.client, 2, 2).every((r) => r.error === undefined)).toBe(true);
      const status = cli();
      await status.program.parseAsync(["loadbalancer", "status", "--interface", lan.balancer.ifname, "--json"], { from: "user" });
      const [json] = JSON.parse(status.output()) as { interface: string; backends: { name: string; new_flows: number }[] }[];
      expect(json?.interface).toBe(lan.balancer.ifname);
      expect(json?.backends.map((b) => b.name)).toEqual(["backend-0", "backend-1"]);
      expectConnectionsOpened({ backends: json?.backends.map((b) => ({ newFlows: BigInt(b.new_flows) })) ?? [] }, 2);
      const unpin = cli();
      await unpin.program.parseAsync(["loadbalancer", "-c", file, "--unpin"], { from: "user" });
      expect(unpin.output()).toBe(`unpinned the load balancer on ${lan.balancer.ifname} (${pinPath(lan.balancer.ifname)})\n`);
      expect(xdpShown(lan.balancer)).toBeUndefined();
      await expect(cli().program.parseAsync(["loadbalancer", "-c", file, "--sample-flows", "0"], { from: "user" })).rejects.toThrow("--sample-flows: '0' is not a number of packets (1..2147483648)");
      await expect(cli().program.parseAsync(["loadbalancer", "-c", file, "--sample-flows", "5", "--pin"], { from: "user" })).rejects.toThrow("--sample-flows needs the process that reads the samples: it does not go with --pin");
      expect(xdpShown(lan.balancer)).toBeUndefined();
    } finally {
      LoadBalancer.unpin(lan.balancer.ifname);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a start removes what a run that died while pinning left (maps without a link)", () => {
    const config = lanConfig(lan);
    const dir = pinPath(config.listenInterface);
    mkdirSync(dir, { recursive: true });
    {
      using stale = runtime.BpfMap.create({ name: "stats", type: abi.MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
      stale.pin(`${dir}/stats`);
    }
    const lb = withNs(lan.balancer, () => LoadBalancer.start(config, { mode: "generic" }));
    try {
      expect(existsSync(dir)).toBe(false);
      expect(connect(lan.client, 2, 1).every((r) => r.error === undefined)).toBe(true);
    } finally {
      lb.stop();
    }
  });

  it("--unpin --interface .. (or . or a path) exits 1 with one line and removes nothing; unpin removes only its own pins", () => {
    const cliPath = join(process.cwd(), "dist/cli/main.js");
    expect(existsSync(cliPath), "build the CLI first: npx tsc -p tsconfig.build.json").toBe(true);
    // Pins of another program and of another balancer instance, which a recursive removal of the
    // parent would take with it.
    const otherProgram = `/sys/fs/bpf/tsebpf/packetfilter/${uniqueName("x")}`;
    const otherInstance = pinPath(uniqueName("y"));
    const made = [otherProgram, otherInstance];
    try {
      for (const dir of made) {
        mkdirSync(dir, { recursive: true });
        using m = runtime.BpfMap.create({ name: "stats", type: abi.MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
        m.pin(`${dir}/stats`);
      }
      for (const name of ["..", ".", "../packetfilter", "x/../..", ""]) {
        const r = spawnSync(process.execPath, [cliPath, "loadbalancer", "--unpin", "--interface", name], { encoding: "utf8" });
        expect(r.status, r.stderr).toBe(1);
        expect(r.stderr).toBe(`tsebpf: --interface: '${name}' is not an interface name (1 to 15 characters, no '/', ':' or spaces)\n`);
        expect(r.stdout).toBe("");
        for (const dir of made) expect(existsSync(`${dir}/stats`), dir).toBe(true);
      }
      expect(() => LoadBalancer.unpin("..")).toThrow("'..' is not an interface name");
      for (const dir of made) expect(existsSync(`${dir}/stats`)).toBe(true);
      // A directory of ours holding something we did not pin: our pins go, the rest stays.
      const name = uniqueName("z");
      const dir = pinPath(name);
      mkdirSync(dir, { recursive: true });
      made.push(dir);
      {
        using ours = runtime.BpfMap.create({ name: "counters", type: abi.MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
        ours.pin(`${dir}/counters`);
        using foreign = runtime.BpfMap.create({ name: "foreign", type: abi.MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
        foreign.pin(`${dir}/foreign`);
      }
      expect(() => LoadBalancer.unpin(name)).toThrow(`${dir}: holds files the load balancer did not pin (foreign): left in place`);
      expect(existsSync(`${dir}/counters`)).toBe(false);
      expect(existsSync(`${dir}/foreign`)).toBe(true);
      expect(existsSync(`${otherInstance}/stats`)).toBe(true);
    } finally {
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
      for (const dir of [dirname(otherProgram), PIN_ROOT]) {
        try {
          rmdirSync(dir);
        } catch {
          // not empty: someone else's pins
        }
      }
    }
  });

  it("a netlink run that was SIGKILLed leaves its program attached: a held one is refused (naming the pid), the next start removes it", async () => {
    const cliPath = join(process.cwd(), "dist/cli/main.js");
    expect(existsSync(cliPath), "build the CLI first: npx tsc -p tsconfig.build.json").toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-lb-netlink-"));
    try {
      const file = join(dir, "config.yml");
      writeFileSync(file, JSON.stringify(lanDocument(lan)));
      const run = new CliRun(["loadbalancer", "-c", file, "--mode", "generic", "--netlink", "--interval", "0"], { nsPath: lan.balancer.ns.path, watch: "stdout" });
      await run.waitFor(/load balancer running/);
      const ifindex = withNs(lan.balancer, () => runtime.ifindex(lan.balancer.ifname));
      const attached = withNs(lan.balancer, () => runtime.xdpAttached(ifindex)).generic;
      expect(attached).toBeGreaterThan(0);
      expect(connect(lan.client, 2, 1).every((r) => r.error === undefined)).toBe(true);
      // Running: refused, with the pid that holds it.
      expect(() => withNs(lan.balancer, () => LoadBalancer.start(lanConfig(lan), { mode: "generic" }))).toThrow(`another loadbalancer is running on ${lan.balancer.ifname} (pid ${run.child.pid})`);
      await run.stop("SIGKILL");
      // Netlink attachments outlive their process: still attached, still balancing.
      expect(xdpShown(lan.balancer)).toBe("xdpgeneric");
      expect(withNs(lan.balancer, () => runtime.xdpAttached(ifindex)).generic).toBe(attached);
      // The next start (the CLI, for its message) removes it and takes over.
      let out = "";
      let err = "";
      const program = new Command("tsebpf").exitOverride();
      registerLoadbalancer(program, { out: (t: string) => void (out += t), err: (t: string) => void (err += t) });
      let running: Promise<unknown> = Promise.resolve();
      withNs(lan.balancer, () => void (running = program.parseAsync(["loadbalancer", "-c", file, "--mode", "generic", "--interval", "0"], { from: "user" })));
      try {
        expect(err).toBe(`removed a load balancer (program id ${attached}) that an earlier run left attached to ${lan.balancer.ifname}\n`);
        const now = withNs(lan.balancer, () => runtime.xdpAttached(ifindex)).generic;
        expect(now).toBeGreaterThan(0);
        expect(now).not.toBe(attached);
        expect(connect(lan.client, 2, 1).every((r) => r.error === undefined)).toBe(true);
      } finally {
        process.emit("SIGTERM");
        await running;
      }
      expect(out).toMatch(/load balancer running on .*\ndetached\n$/s);
      expect(xdpShown(lan.balancer)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the CLI applies a new backend list on a file change and on SIGHUP, refuses service changes and bad files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-lb-reload-"));
    try {
      const file = join(dir, "config.yml");
      const doc = lanDocument(lan);
      writeFileSync(file, JSON.stringify(doc));
      let out = "";
      let err = "";
      const program = new Command("tsebpf").exitOverride();
      registerLoadbalancer(program, { out: (t: string) => void (out += t), err: (t: string) => void (err += t) });
      let running: Promise<unknown> = Promise.resolve();
      withNs(lan.balancer, () => void (running = program.parseAsync(["loadbalancer", "-c", file, "--mode", "generic", "--interval", "0"], { from: "user" })));
      const settle = () => new Promise((r) => setTimeout(r, 400));
      try {
        expect(connect(lan.client, 8, 1).every((r) => r.error === undefined)).toBe(true);
        // Open connections while backend-1 is removed: those on backend-0 carry on untouched;
        // those on backend-1 now reach backend-0, which does not know them (reset).
        const live = openLive(lan.client, 20, 12, 150);
        await new Promise((r) => setTimeout(r, 600));
        const backends = doc.backends as unknown[];
        writeFileSync(file, JSON.stringify({ ...doc, backends: backends.slice(0, 1) }));
        const during = await live;
        const on = (name: string) => during.filter((r) => r.replies[0]?.startsWith(`${name} `));
        expect(on("backend-0").length + on("backend-1").length).toBe(20);
        for (const r of on("backend-0")) {
          expect(r.error, JSON.stringify(r)).toBeUndefined();
          expect(r.replies).toHaveLength(12);
          expect(r.replies.every((line) => line.startsWith("backend-0 "))).toBe(true);
        }
        for (const r of on("backend-1")) expect(r.replies.length, JSON.stringify(r)).toBeLessThan(12);
        console.log(`reload: ${on("backend-0").length} open connections on backend-0 kept, ${on("backend-1").length} on backend-1 cut (${on("backend-1").map((r) => r.error).join(", ")})`);
        expect(out).toContain("config applied: 1 backend (removed backend-1)\n");
        const results = connect(lan.client, 6, 2);
        expect(results.every((r) => r.error === undefined && r.replies.every((line) => line.startsWith("backend-0 ")))).toBe(true);
        // SIGHUP reloads (and does not kill).
        const before = out.length;
        process.emit("SIGHUP", "SIGHUP");
        expect(out.slice(before)).toBe("config applied: 1 backend (no change)\n");
        // A service change or a bad file: refused, the running backends stay.
        writeFileSync(file, JSON.stringify({ ...doc, backends: backends.slice(0, 1), tcp_port: SERVICE_PORT + 1 }));
        await settle();
        expect(err).toContain(`tsebpf: config not applied, the previous backends stay: the port (${SERVICE_PORT} → ${SERVICE_PORT + 1}) changed: restart the load balancer to apply that (the backends were not changed either)\n`);
        writeFileSync(file, "backends: [");
        await settle();
        expect(err).toMatch(/config not applied, the previous backends stay: .*config\.yml:/);
        expect(connect(lan.client, 4, 1).every((r) => r.error === undefined && r.replies[0]?.startsWith("backend-0 "))).toBe(true);
        writeFileSync(file, JSON.stringify(doc));
        await settle();
        expect(out).toContain("config applied: 2 backends (added backend-1)\n");
        const both = connect(lan.client, 24, 1);
        expect(new Set(both.map((r) => r.replies[0]?.split(" ")[0]))).toEqual(new Set(["backend-0", "backend-1"]));
      } finally {
        process.emit("SIGTERM");
        await running;
      }
      expect(xdpShown(lan.balancer)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a start that fails leaves nothing attached or pinned", () => {
    const fds = runtime.openFdCount();
    const config = parseConfig({ listenInterface: "tsebpf-none0", vip: VIP, tcp_port: SERVICE_PORT, backends: ["02:00:00:00:00:01"] }, "e2e.yml");
    expect(() => withNs(lan.balancer, () => LoadBalancer.start(config))).toThrow(/no such device/);
    expect(existsSync(pinPath("tsebpf-none0"))).toBe(false);
    // Another program on the interface: refused before anything is loaded, naming it.
    using other = runtime.Program.load({ name: "lb_other", type: abi.ProgramType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, XDP_PASS), asm.exit()]), license: "GPL" });
    const taken = withNs(lan.balancer, () => runtime.attachXdp(other, runtime.ifindex(lan.balancer.ifname), { mode: "generic" }));
    try {
      expect(() => withNs(lan.balancer, () => LoadBalancer.start(lanConfig(lan), { mode: "generic", pin: true }))).toThrow(new RegExp(`^${lan.balancer.ifname} already has an XDP program, "lb_other" \\(id \\d+\\), not a load balancer: detach it first`));
      expect(existsSync(pinPath(lan.balancer.ifname))).toBe(false);
    } finally {
      taken.close();
    }
    other.close();
    expect(runtime.openFdCount()).toBe(fds);
  });
});

const withNs = <T>(host: Host, fn: () => T): T => runtime.withNetns(host.ns.path, fn);

describe("loadbalancer: pin directory", () => {
  it("is under /sys/fs/bpf/tsebpf/loadbalancer/<interface>", () => {
    expect(pinPath("eth1")).toBe("/sys/fs/bpf/tsebpf/loadbalancer/eth1");
  });
});

describeKernel("loadbalancer: without its capabilities", () => {
  let lan: Lan;
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-lb-caps-"));
  const file = join(dir, "config.yml");
  const cliPath = join(process.cwd(), "dist/cli/main.js");
  beforeAll(() => {
    lan = createLan();
  });
  afterAll(() => {
    lan?.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  // Program names are cut to 15 characters: xdp_loadbalance.
  const loaded = () => (JSON.parse(spawnSync("bpftool", ["prog", "show", "--json"], { encoding: "utf8" }).stdout || "[]") as { name?: string }[]).filter((p) => p.name !== undefined && PROGRAM_NAME.startsWith(p.name)).length;
  /** The CLI in the balancer's namespace, with `drop` taken from the bounding set (and nothing inherited). */
  const run = (drop: string, ...args: string[]) =>
    spawnSync("nsenter", [`--net=${lan.balancer.ns.path}`, "--", "setpriv", "--inh-caps=-all", `--bounding-set=${drop}`, process.execPath, cliPath, "loadbalancer", ...args], { encoding: "utf8", timeout: 30_000 });

  it("one line naming the missing capability, exit 1, nothing loaded, nothing attached; check needs none", () => {
    expect(existsSync(cliPath), "build the CLI first: npx tsc -p tsconfig.build.json").toBe(true);
    writeFileSync(file, JSON.stringify(lanDocument(lan)));
    const before = loaded();
    const why = "balancing with XDP needs CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN stands in for CAP_BPF)";
    for (const args of [["-c", file, "--mode", "generic", "--interval", "0"], ["-c", file, "--pin"]]) {
      const noNetAdmin = run("-net_admin", ...args);
      expect(noNetAdmin.status, noNetAdmin.stderr).toBe(1);
      expect(noNetAdmin.stdout).toBe("");
      expect(noNetAdmin.stderr).toBe(`tsebpf: loadbalancer: missing CAP_NET_ADMIN: ${why}; run as root or grant it\n`);
    }
    const noBpf = run("-bpf,-sys_admin", "-c", file, "--interval", "0");
    expect(noBpf.status, noBpf.stderr).toBe(1);
    expect(noBpf.stderr).toBe(`tsebpf: loadbalancer: missing CAP_BPF: ${why}; run as root or grant it\n`);
    const none = run("-bpf,-sys_admin,-net_admin", "-c", file, "--interval", "0");
    expect(none.status, none.stderr).toBe(1);
    expect(none.stderr).toBe(`tsebpf: loadbalancer: missing CAP_BPF and CAP_NET_ADMIN: ${why}; run as root or grant them\n`);
    expect(xdpShown(lan.balancer)).toBeUndefined();
    expect(withNs(lan.balancer, () => runtime.xdpAttached(runtime.ifindex(lan.balancer.ifname))).attached).toBe("none");
    expect(existsSync(pinPath(lan.balancer.ifname))).toBe(false);
    expect(loaded()).toBe(before);
    // check loads nothing: it needs no capability at all.
    const check = run("-all", "check", file);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toMatch(new RegExp(`^${file}: ok: ${lan.balancer.ifname} `));
  });
});
