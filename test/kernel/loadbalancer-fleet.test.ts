/**
 * The load balancer as a fleet: several balancers behind an ECMP router with the same config
 * must send every flow to the same backend, whatever the order of their starts and reloads, so
 * that a flow whose packets reach another balancer (a rehash) keeps its backend.
 *
 * - BPF_PROG_TEST_RUN on two balancers loaded in two namespaces, with different histories ending
 *   in the same backend set (listed in different orders): 10,000 flows, opening and established
 *   segments, and flows alternating between the two.
 * - A moved slot's previous backend counts for `previousBackendSeconds` after a change, then the
 *   table decides (what a balancer that never saw the change does).
 * - End to end: a client whose connections alternate between two balancers on one bridge (its
 *   neighbour entry for the VIP switched back and forth, as an ECMP rehash would) keeps them.
 */
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runtime, type Collection } from "../../src/index.js";
import { formatMac, parseIPv4, parseMac } from "../../src/programs/common/net.js";
import { parseConfig, type LoadBalancerConfig } from "../../src/programs/loadbalancer/config.js";
import { LoadBalancer, PROGRAM_NAME, loadCollectionWithBackends } from "../../src/programs/loadbalancer/index.js";
import { flowSlot, maglevTable } from "../../src/programs/loadbalancer/maglev.js";
import type { BackendSet } from "../../src/programs/loadbalancer/backends.js";
import { frame } from "../helpers/packets.js";
import { createBridgeLan, openConnections, serveVip, startLineServer, type BridgeLan, type LanHost } from "../helpers/bridge-lan.js";
import { NetNs, describeKernel } from "../helpers/kernel.js";

const XDP_TX = 3;
const SYN = 0x02;
const ACK = 0x10;
const IF_MAC = parseMac("02:00:00:00:30:01") as Uint8Array;
const VIP = "10.0.0.100";
const BACKENDS = {
  alpha: "02:00:00:00:40:01",
  beta: "02:00:00:00:40:02",
  gamma: "02:00:00:00:40:03",
  delta: "02:00:00:00:40:04",
  epsilon: "02:00:00:00:40:05",
} as const;
type Name = keyof typeof BACKENDS;

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A config with these backends, in this order. */
const configOf = (names: readonly Name[], previousBackendSeconds: number): LoadBalancerConfig =>
  parseConfig({ listenInterface: "lb0", vip: VIP, tcp_port: 80, backends: names.map((name) => ({ mac: BACKENDS[name], name })), maglevTableSize: 1009, previousBackendSeconds }, "fleet.yml");

/** The backend MAC the names' Maglev table gives a flow from 172.16.x.y:sport. */
function predictedMac(config: LoadBalancerConfig, source: string, sport: number): string {
  const names = config.backends.map((b) => b.name);
  const slot = flowSlot({ family: 4, source: parseIPv4(source) as Uint8Array, destination: parseIPv4(VIP) as Uint8Array, sourcePort: sport, destinationPort: 80, protocol: 6 }, config.tableSize);
  return BACKENDS[names[maglevTable(names, config.tableSize)[slot] ?? 0] as Name];
}

/** A balancer loaded (not attached) in its own namespace, moved through a history of configs. */
class Balancer {
  readonly collection: Collection;
  private readonly backendSet: BackendSet;
  constructor(
    readonly ns: NetNs,
    history: readonly LoadBalancerConfig[],
  ) {
    const [first, ...rest] = history;
    if (!first) throw new Error("no config");
    const loaded = runtime.withNetns(ns.path, () => loadCollectionWithBackends(first, IF_MAC));
    this.collection = loaded.collection;
    this.backendSet = loaded.backendSet;
    for (const config of rest) this.backendSet.apply(config, "auto");
  }

  /** The backend MAC a TCP segment of the flow goes to (XDP_TX expected). */
  send(source: string, sport: number, flags: number): string {
    const data = frame({ src: source, dst: VIP, protocol: "tcp", srcPort: sport, dstPort: 80, tcpFlags: flags, dstMac: IF_MAC });
    const r = this.collection.program(PROGRAM_NAME).testRun({ data });
    expect(r.returnValue).toBe(XDP_TX);
    return formatMac(r.data.subarray(0, 6));
  }

  close(): void {
    this.collection.close();
  }
}

/** Flow n: a source address and port (10,000 distinct flows over 40 addresses). */
const flowOf = (n: number): [string, number] => [`172.16.${(n % 40) + 1}.7`, 20000 + Math.floor(n / 40)];

describeKernel("loadbalancer fleet: two balancers, same config, different histories (BPF_PROG_TEST_RUN)", () => {
  const made: (NetNs | Balancer)[] = [];
  afterAll(() => {
    for (const m of made.reverse()) (m instanceof Balancer ? m.close() : m.remove());
  });
  const balancer = (history: LoadBalancerConfig[]) => {
    const ns = NetNs.create();
    made.push(ns);
    const b = new Balancer(ns, history);
    made.push(b);
    return b;
  };

  it("10,000 flows get the same backend from both, opening or established; flows alternating between them keep it", async () => {
    const W = 1;
    const final = configOf(["alpha", "beta", "gamma", "delta"], W);
    // A starts with the final set, goes through another and comes back (listed otherwise); B
    // starts later with a different set and reloads to the final one, in a third order.
    const a = balancer([final, configOf(["beta", "alpha", "epsilon"], W), configOf(["delta", "gamma", "beta", "alpha"], W)]);
    const b = balancer([configOf(["epsilon", "gamma"], W), configOf(["gamma", "alpha", "delta", "beta"], W)]);
    const FLOWS = 10_000;
    // Connections that open now: the same backend on both, the one the names' table gives.
    const used = new Set<string>();
    for (let n = 0; n < FLOWS; n++) {
      const [src, sport] = flowOf(n);
      const want = predictedMac(final, src, sport);
      expect(a.send(src, sport, SYN)).toBe(want);
      expect(b.send(src, sport, SYN)).toBe(want);
      used.add(want);
    }
    expect(used).toEqual(new Set([BACKENDS.alpha, BACKENDS.beta, BACKENDS.gamma, BACKENDS.delta]));
    // Once the slots' previous backends no longer count (W seconds after the last change),
    // established segments neither balancer recorded go where the table says, on both.
    await settle((W + 1.5) * 1000);
    for (let n = FLOWS; n < 2 * FLOWS; n++) {
      const [src, sport] = flowOf(n);
      const want = predictedMac(final, src, sport);
      expect(a.send(src, sport, ACK)).toBe(want);
      expect(b.send(src, sport, ACK)).toBe(want);
    }
    // A client whose connections alternate: opened through one, continued through both.
    for (let n = 2 * FLOWS; n < 2 * FLOWS + 2000; n++) {
      const [src, sport] = flowOf(n);
      const [first, second] = n % 2 === 0 ? [a, b] : [b, a];
      const backend = first.send(src, sport, SYN);
      for (let k = 0; k < 4; k++) expect((k % 2 === 0 ? second : first).send(src, sport, ACK)).toBe(backend);
    }
  }, 120_000);

  it("a slot a change moved sends connections it has not recorded to their previous backend for previousBackendSeconds, then where the table says", async () => {
    const two = (w: number) => configOf(["alpha", "beta"], w);
    const three = (w: number) => configOf(["alpha", "beta", "gamma"], w);
    // Flows the change moves from alpha or beta to gamma.
    const moved: [string, number, string][] = [];
    for (let n = 0; moved.length < 200; n++) {
      const [src, sport] = flowOf(n);
      const before = predictedMac(two(0), src, sport);
      if (predictedMac(three(0), src, sport) === BACKENDS.gamma) moved.push([src, sport, before]);
    }
    // A long window: established connections the balancer never recorded (open before the
    // change, unseen since) stay on the backend they began on; new ones go to gamma.
    const long = balancer([two(600), three(600)]);
    for (const [src, sport, before] of moved.slice(0, 100)) expect(long.send(src, sport, ACK)).toBe(before);
    for (const [src, sport] of moved.slice(100, 200)) expect(long.send(src, sport, SYN)).toBe(BACKENDS.gamma);
    // Recorded by their first packet: they stay there.
    for (const [src, sport, before] of moved.slice(0, 100)) expect(long.send(src, sport, ACK)).toBe(before);
    // No window: what another balancer of the fleet would do with them, at once.
    const none = balancer([two(0), three(0)]);
    for (const [src, sport] of moved.slice(0, 100)) expect(none.send(src, sport, ACK)).toBe(BACKENDS.gamma);
    // A three-second window (at least three: the deadline is rounded up), waited out: the
    // table's backend; flows recorded during it keep theirs.
    const short = balancer([two(3), three(3)]);
    for (const [src, sport, before] of moved.slice(0, 50)) expect(short.send(src, sport, ACK)).toBe(before);
    await settle(4500);
    for (const [src, sport, before] of moved.slice(0, 50)) expect(short.send(src, sport, ACK)).toBe(before);
    for (const [src, sport] of moved.slice(50, 100)) expect(short.send(src, sport, ACK)).toBe(BACKENDS.gamma);
  }, 60_000);
});

// ---- end to end --------------------------------------------------------------------------------

const SUBNET = "192.168.78";
const E2E_VIP = "192.168.101.10";
const PORT = 8080;

type Host = LanHost;

describeKernel("loadbalancer fleet: a client alternating between two balancers on a bridge keeps its connections", () => {
  let lan: BridgeLan | undefined;
  const servers: ChildProcess[] = [];
  let client: Host;
  let balancers: Host[];
  let backends: Host[];
  beforeAll(async () => {
    lan = createBridgeLan(SUBNET, "78", 5);
    const [c, a, b, x, y] = lan.hosts as [Host, Host, Host, Host, Host];
    client = c;
    balancers = [a, b];
    backends = [x, y];
    serveVip(E2E_VIP, client, balancers[0] as Host, backends);
    for (const [i, b] of backends.entries()) servers.push(await startLineServer(b, `backend-${i}`, PORT));
  }, 60_000);
  afterAll(() => {
    for (const s of servers) s.kill();
    lan?.remove();
  });

  it("connections opened through either balancer and switched between them every 150 ms get every reply from one backend, the one the table names", async () => {
    const [hostA, hostB] = balancers as [Host, Host];
    const on = (h: Host, order: number[], w: number) =>
      parseConfig({ listenInterface: h.ifname, vip: E2E_VIP, tcp_port: PORT, backends: order.map((i) => ({ mac: backends[i]?.mac, name: `backend-${i}` })), previousBackendSeconds: w }, "e2e.yml");
    // A: one backend, then both. B: both in the other order, one, both again.
    const a = runtime.withNetns(hostA.ns.path, () => LoadBalancer.start(on(hostA, [0], 1), { mode: "generic" }));
    let b: LoadBalancer | undefined;
    try {
      a.reload(on(hostA, [0, 1], 1));
      b = runtime.withNetns(hostB.ns.path, () => LoadBalancer.start(on(hostB, [1, 0], 1), { mode: "generic" }));
      b.reload(on(hostB, [1], 1));
      b.reload(on(hostB, [1, 0], 1));
      // The moved slots' previous backends stop counting (a connection opened through the other
      // balancer would otherwise be taken for one older than the change).
      await settle(2500);
      const COUNT = 16;
      const MESSAGES = 20;
      // Half of them opened while the client goes through A, half after a switch to B.
      let running = true;
      const done = openConnections(client, { vip: E2E_VIP, port: PORT, count: COUNT, messages: MESSAGES, everyMs: 100, slackMs: 8000, secondHalfAfterMs: 400 }).finally(() => (running = false));
      // Switch the client's next hop for the VIP between the balancers while the connections run.
      for (let k = 1; running; k++) {
        await settle(150);
        const to = k % 2 === 0 ? hostA : hostB;
        client.ns.ip("neigh", "replace", E2E_VIP, "lladdr", to.mac, "dev", client.ifname, "nud", "permanent");
      }
      const results = await done;
      const final = on(hostA, [0, 1], 1);
      const names = final.backends.map((x) => x.name);
      const table = maglevTable(names, final.tableSize);
      for (const r of results) {
        expect(r.error, JSON.stringify(r)).toBeUndefined();
        expect(r.replies).toHaveLength(MESSAGES);
        const answered = new Set(r.replies.map((line) => line.split(" ")[0]));
        const slot = flowSlot({ family: 4, source: parseIPv4(client.ip) as Uint8Array, destination: parseIPv4(E2E_VIP) as Uint8Array, sourcePort: r.localPort, destinationPort: PORT, protocol: 6 }, final.tableSize);
        expect([...answered], JSON.stringify(r)).toEqual([names[table[slot] ?? 0]]);
      }
      expect(new Set(results.map((r) => r.replies[0]?.split(" ")[0]))).toEqual(new Set(["backend-0", "backend-1"]));
      // Both balancers carried the connections' packets, well beyond their openings.
      for (const lb of [a, b]) expect(Number(lb.status().forwarded)).toBeGreaterThan(COUNT * 3);
    } finally {
      b?.stop();
      a.stop();
    }
  }, 60_000);
});
