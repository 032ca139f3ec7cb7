/**
 * Kernel-test harness: privileges, pseudo file systems, network namespaces and veth pairs.
 *
 * - `describeKernel` skips its tests with a reason where the kernel cannot be used (not root,
 *   no bpf(2)), except under CI=true, where a skip would hide a regression: there it fails.
 * - Namespaces and veth pairs get unique names, are removed after the test file (and at process
 *   exit), and are entered with `nsenter --net=` (never `ip netns exec`, which remounts /sys
 *   and hides bpffs).
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { afterAll, describe, it } from "vitest";

const PREFIX = "tsebpf-t";
const isCI = process.env.CI === "true";

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function isMounted(path: string, fstype: string): boolean {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .some((l) => {
      const [, mnt, type] = l.split(" ");
      return mnt === path && type === fstype;
    });
}

/** Mounts bpffs, tracefs and securityfs where they are missing. Returns what it could not mount. */
export function ensurePseudoFilesystems(): string[] {
  const wanted: [string, string][] = [
    ["/sys/fs/bpf", "bpf"],
    ["/sys/kernel/tracing", "tracefs"],
    ["/sys/kernel/security", "securityfs"],
  ];
  const missing: string[] = [];
  for (const [path, type] of wanted) {
    if (isMounted(path, type)) continue;
    const r = spawnSync("mount", ["-t", type, type, path], { encoding: "utf8" });
    if (r.status !== 0) missing.push(`${type} at ${path}: ${r.stderr.trim()}`);
  }
  return missing;
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  if (process.platform !== "linux") return `kernel tests need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "kernel tests need root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)";
  if (spawnSync("ip", ["-V"]).status !== 0) return "kernel tests need iproute2 (the ip command)";
  if (spawnSync("nsenter", ["--version"]).status !== 0) return "kernel tests need nsenter (util-linux)";
  const missing = ensurePseudoFilesystems().filter((m) => m.startsWith("bpf"));
  if (missing.length > 0) return `cannot mount ${missing.join("; ")}`;
  return undefined;
}

/**
 * A describe block for tests that need the real kernel. Where they cannot run, it registers
 * one skipped test that says why — or, under CI=true, one failing test.
 */
export function describeKernel(name: string, body: () => void): void {
  const reason = kernelSkipReason();
  if (reason === undefined) {
    describe(name, body);
  } else if (isCI) {
    describe(name, () => {
      it("runs in CI", () => {
        throw new Error(`kernel tests must not be skipped in CI: ${reason}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${reason})`, body);
  }
}

let counter = 0;
/** A unique short name: interface names must fit in 15 characters. */
export function uniqueName(kind: string): string {
  counter++;
  return `${PREFIX}${kind}${(process.pid % 10000).toString(36)}${counter.toString(36)}`.slice(0, 15);
}

const owned = new Set<{ remove(): void }>();
process.on("exit", () => {
  for (const r of owned) {
    try {
      r.remove();
    } catch {
      // best effort at exit
    }
  }
});

/** A network namespace created by a test; removed by `remove()` or at the end of its test file. */
export class NetNs {
  readonly path: string;
  private removed = false;

  private constructor(readonly name: string) {
    this.path = `/var/run/netns/${name}`;
  }

  static create(): NetNs {
    const ns = new NetNs(uniqueName("n"));
    sh("ip", ["netns", "add", ns.name]);
    owned.add(ns);
    ns.ip("link", "set", "lo", "up");
    return ns;
  }

  /** Runs a command inside the namespace; throws with its stderr when it fails. */
  exec(cmd: string, args: string[], input?: string): string {
    return execFileSync("nsenter", [`--net=${this.path}`, "--", cmd, ...args], {
      encoding: "utf8",
      input,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
  }

  /** Runs a command inside the namespace and returns its result whatever the exit status. */
  spawn(cmd: string, args: string[], timeoutMs = 10_000): SpawnSyncReturns<string> {
    return spawnSync("nsenter", [`--net=${this.path}`, "--", cmd, ...args], { encoding: "utf8", timeout: timeoutMs });
  }

  ip(...args: string[]): string {
    return this.exec("ip", args);
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    owned.delete(this);
    spawnSync("ip", ["netns", "del", this.name]);
  }

  [Symbol.dispose](): void {
    this.remove();
  }
}

/** A veth pair whose ends live in two namespaces, with IPv4 (and IPv6) addresses. */
export interface VethPair {
  readonly a: { ns: NetNs; ifname: string; ipv4: string; ipv6: string };
  readonly b: { ns: NetNs; ifname: string; ipv4: string; ipv6: string };
}

let subnet = 0;
/**
 * Creates a veth pair between two namespaces, addresses 10.x.y.1/24 and .2 (and fd00::/64
 * equivalents; DAD off so they are usable at once), both ends up. Removed with the namespaces.
 */
export function createVethPair(nsA: NetNs, nsB: NetNs): VethPair {
  const ifa = uniqueName("a");
  const ifb = uniqueName("b");
  subnet++;
  const net = `10.${200 + ((process.pid >> 8) % 50)}.${(process.pid + subnet) % 250}`;
  const net6 = `fd00:7:${(process.pid % 0xffff).toString(16)}:${subnet.toString(16)}`;
  sh("ip", ["link", "add", ifa, "netns", nsA.name, "type", "veth", "peer", "name", ifb, "netns", nsB.name]);
  for (const [ns, ifname, host] of [[nsA, ifa, 1], [nsB, ifb, 2]] as const) {
    ns.exec("sysctl", ["-qw", `net.ipv6.conf.${ifname}.accept_dad=0`]);
    ns.ip("addr", "add", `${net}.${host}/24`, "dev", ifname);
    ns.ip("addr", "add", `${net6}::${host}/64`, "dev", ifname, "nodad");
    ns.ip("link", "set", ifname, "up");
  }
  return {
    a: { ns: nsA, ifname: ifa, ipv4: `${net}.1`, ipv6: `${net6}::1` },
    b: { ns: nsB, ifname: ifb, ipv4: `${net}.2`, ipv6: `${net6}::2` },
  };
}

/**
 * Two namespaces joined by a veth pair, removed after the current test file. Call it inside a
 * describe block (it registers an afterAll).
 */
export function useTopology(): () => VethPair {
  let pair: VethPair | undefined;
  afterAll(() => {
    pair?.a.ns.remove();
    pair?.b.ns.remove();
  });
  return () => {
    if (!pair) pair = createVethPair(NetNs.create(), NetNs.create());
    return pair;
  };
}

/** Namespaces left by earlier test runs that died (their creating process is gone). */
export function staleNamespaces(): string[] {
  if (!existsSync("/var/run/netns")) return [];
  return readdirSync("/var/run/netns").filter((n) => n.startsWith(PREFIX));
}

/**
 * Sends one UDP datagram from `from` to `to`:`port` and reports whether it arrived, using
 * Node in both namespaces (no ping or nc here). IPv6 addresses select udp6.
 */
export function udpReaches(from: NetNs, to: NetNs, address: string, port: number, timeoutMs = 2000): boolean {
  const family = address.includes(":") ? "udp6" : "udp4";
  const receiver = `
    const s = require("node:dgram").createSocket(${JSON.stringify(family)});
    const t = setTimeout(() => { process.stdout.write("timeout"); process.exit(0); }, ${timeoutMs});
    s.on("message", (m) => { process.stdout.write("got:" + m); clearTimeout(t); s.close(); });
    s.bind(${port}, ${JSON.stringify(address)}, () => process.stderr.write("ready\\n"));`;
  const sender = `
    const s = require("node:dgram").createSocket(${JSON.stringify(family)});
    let n = 0;
    const send = () => s.send("ping", ${port}, ${JSON.stringify(address)}, () => { if (++n < 10) setTimeout(send, 50); else s.close(); });
    send();`;
  const script = `
    const { spawn, spawnSync } = require("node:child_process");
    const rx = spawn("nsenter", ["--net=${to.path}", "--", process.execPath, "-e", ${JSON.stringify(receiver)}]);
    let out = "";
    rx.stdout.on("data", (d) => (out += d));
    rx.stderr.once("data", () => spawnSync("nsenter", ["--net=${from.path}", "--", process.execPath, "-e", ${JSON.stringify(sender)}]));
    rx.on("close", () => process.stdout.write(out));`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: timeoutMs + 5000 });
  return r.stdout.startsWith("got:ping");
}
