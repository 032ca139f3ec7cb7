/**
 * A LAN for the load balancer's end-to-end tests: hosts (each in its own namespace) on one bridge
 * (in a namespace of its own), backends holding the VIP on loopback without answering ARP for it,
 * a client reaching the VIP through a balancer's MAC, and line servers on the backends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { NetNs, uniqueName } from "./kernel.js";

export interface LanHost {
  readonly ns: NetNs;
  readonly ifname: string;
  /** The veth end in the bridge namespace. */
  readonly port: string;
  readonly ip: string;
  readonly mac: string;
}

export interface BridgeLan {
  readonly bridge: NetNs;
  /** Host n (from 1) is hosts[n - 1]: `${subnet}.${n}`/24, MAC 02:00:00:<macByte>:00:<n>, IPv6 off. */
  readonly hosts: readonly LanHost[];
  /** Removes every namespace (the bridge's and the hosts'). */
  remove(): void;
}

/** `count` hosts on a bridge; whatever was made is removed when a step fails. */
export function createBridgeLan(subnet: string, macByte: string, count: number): BridgeLan {
  const made: NetNs[] = [];
  const remove = (): void => made.forEach((ns) => ns.remove());
  try {
    const bridge = NetNs.create();
    made.push(bridge);
    bridge.ip("link", "add", "br0", "type", "bridge");
    bridge.ip("link", "set", "br0", "up");
    const host = (n: number): LanHost => {
      const ns = NetNs.create();
      made.push(ns);
      const ifname = uniqueName("h");
      const port = uniqueName("p");
      ns.exec("ip", ["link", "add", ifname, "type", "veth", "peer", "name", port, "netns", bridge.name]);
      const mac = `02:00:00:${macByte}:00:${n.toString(16).padStart(2, "0")}`;
      bridge.ip("link", "set", port, "master", "br0");
      bridge.ip("link", "set", port, "up");
      ns.exec("sysctl", ["-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
      ns.ip("link", "set", ifname, "address", mac);
      ns.ip("addr", "add", `${subnet}.${n}/24`, "dev", ifname);
      ns.ip("link", "set", ifname, "up");
      return { ns, ifname, port, ip: `${subnet}.${n}`, mac };
    };
    const hosts = Array.from({ length: count }, (_, i) => host(i + 1));
    return { bridge, hosts, remove };
  } catch (e) {
    remove();
    throw e;
  }
}

/** The backends hold `vip` without answering ARP for it; the client reaches it through `via`'s MAC. */
export function serveVip(vip: string, client: LanHost, via: LanHost, backends: readonly LanHost[]): void {
  for (const b of backends) {
    b.ns.ip("addr", "add", `${vip}/32`, "dev", "lo");
    b.ns.exec("sysctl", ["-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2", `net.ipv4.conf.${b.ifname}.arp_ignore=1`, `net.ipv4.conf.${b.ifname}.arp_announce=2`]);
  }
  client.ns.ip("route", "add", `${vip}/32`, "dev", client.ifname);
  client.ns.ip("neigh", "replace", vip, "lladdr", via.mac, "dev", client.ifname, "nud", "permanent");
}

/** A TCP server on `port` (IPv4 and IPv6) in `host`'s namespace answering each line with `<name> <line>`; resolves once it listens. */
export async function startLineServer(host: LanHost, name: string, port: number): Promise<ChildProcess> {
  const script = `
    const net = require("node:net");
    const server = net.createServer((s) => {
      let buf = "";
      s.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\\n")) >= 0) { s.write(${JSON.stringify(name)} + " " + buf.slice(0, i) + "\\n"); buf = buf.slice(i + 1); }
      });
      s.on("error", () => undefined);
    });
    server.listen({ port: ${port}, host: "::", ipv6Only: false }, () => process.stdout.write("ready\\n"));`;
  const child = spawn("nsenter", [`--net=${host.ns.path}`, "--", process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`server ${name} exited with ${code}`)));
  });
  return child;
}

/** What one client connection got: its local port, the reply lines, and the error that ended it early. */
export interface ConnectionResult {
  readonly localPort: number;
  readonly replies: string[];
  readonly error?: string;
}

export interface OpenConnections {
  readonly vip: string;
  readonly port: number;
  readonly count: number;
  /** Replies each connection waits for (one line sent every `everyMs`). */
  readonly messages: number;
  readonly everyMs: number;
  /** How long past `messages × everyMs` a connection may take before it ends with "timeout". */
  readonly slackMs: number;
  /** Open the second half of the connections this long after the first (all at once without). */
  readonly secondHalfAfterMs?: number;
}

/** `count` TCP connections from the client, each sending a line every `everyMs` until `messages` replies; resolves when all have ended (rejects when the client fails). */
export function openConnections(client: LanHost, o: OpenConnections): Promise<ConnectionResult[]> {
  const half = Math.floor(o.count / 2);
  const script = `
    const net = require("node:net");
    const one = (i) => new Promise((resolve) => {
      const s = net.connect({ host: ${JSON.stringify(o.vip)}, port: ${o.port} });
      const replies = [];
      let buf = "", sent = 0, localPort = 0, timer;
      const done = (error) => { clearInterval(timer); s.destroy(); resolve({ localPort, replies, ...(error ? { error } : {}) }); };
      const deadline = setTimeout(() => done("timeout"), ${o.messages * o.everyMs + o.slackMs});
      s.on("connect", () => { localPort = s.localPort; timer = setInterval(() => s.write("c" + i + "-m" + sent++ + "\\n"), ${o.everyMs}); });
      s.on("data", (d) => {
        buf += d;
        let k;
        while ((k = buf.indexOf("\\n")) >= 0) { replies.push(buf.slice(0, k)); buf = buf.slice(k + 1); }
        if (replies.length >= ${o.messages}) { clearTimeout(deadline); done(); }
      });
      s.on("error", (e) => { clearTimeout(deadline); done(e.code || String(e)); });
    });
    (async () => {
      const first = Array.from({ length: ${o.secondHalfAfterMs === undefined ? o.count : half} }, (_, i) => one(i));
      ${o.secondHalfAfterMs === undefined ? "const second = [];" : `await new Promise((r) => setTimeout(r, ${o.secondHalfAfterMs}));
      const second = Array.from({ length: ${o.count - half} }, (_, i) => one(${half} + i));`}
      process.stdout.write(JSON.stringify(await Promise.all([...first, ...second])));
    })();`;
  return new Promise((resolve, reject) => {
    const child = spawn("nsenter", [`--net=${client.ns.path}`, "--", process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => void (out += d.toString()));
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as ConnectionResult[]) : reject(new Error(`client exited with ${code}`))));
  });
}
