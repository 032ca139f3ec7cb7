/**
 * #6 packetfilter data path: ns per packet through BPF_PROG_TEST_RUN on realistic 64-byte IPv4
 * and IPv6 frames, with 10k and 1M rules, against xdp-filter's deny-by-address program (xdp-tools,
 * from Debian's libxdp1 package, fetched into the bench's work folder when the machine lacks it)
 * holding 10k addresses, and against a trivial XDP_DROP program: same packets, same run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { asm, Collection, readCollectionSpec, runtime } from "../src/index.js";
import { ProgramType } from "../src/abi/index.js";
import { formatIPv4, formatIPv6 } from "../src/programs/common/net.js";
import { parseConfig } from "../src/programs/packetfilter/config.js";
import { PacketFilter } from "../src/programs/packetfilter/index.js";
import { frame } from "../test/helpers/packets.js";
import { median, workdir, type Figure } from "./lib.js";

const REPEAT = 200_000;
const ROUNDS = 7;
const XDP_FILTER_OBJECT = "usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_ip.o";
/** xdp-filter's map value flag: match the source address. */
const MAP_FLAG_SRC = 1n;

/** A deterministic pseudo-random stream (the same rules and packets on every run). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s;
  };
}

const v4 = (r: () => number) => formatIPv4(Uint8Array.of(11 + (r() % 200), r() & 255, r() & 255, r() & 255));
const v6 = (r: () => number) => formatIPv6(Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 1 ? 0x01 : r() & 255)));

interface RuleSet {
  readonly hosts4: string[];
  readonly hosts6: string[];
  readonly prefixes4: string[];
  readonly prefixes6: string[];
}

/** Per family `hosts` addresses and `prefixes` prefixes (/24 for IPv4, /64 for IPv6). */
function ruleSet(hosts: number, prefixes: number): RuleSet {
  const r = random(hosts * 7 + prefixes);
  const unique = (make: () => string, count: number) => {
    const s = new Set<string>();
    while (s.size < count) s.add(make());
    return [...s];
  };
  return {
    hosts4: unique(() => v4(r), hosts),
    hosts6: unique(() => v6(r), hosts),
    prefixes4: unique(() => `${v4(r).replace(/\.\d+$/, ".0")}/24`, prefixes),
    prefixes6: unique(() => `${v6(r).split(":").slice(0, 4).join(":")}::/64`, prefixes),
  };
}

/** The measured packets: per family a host hit, a prefix hit (where there are prefixes) and a miss. */
function packets(rules: RuleSet): Buffer[] {
  const sources = [rules.hosts4[3] ?? "", "10.0.0.1", rules.hosts6[3] ?? "", "fd00::1"];
  if (rules.prefixes4.length) sources.push((rules.prefixes4[7] ?? "").replace(/\.0\/24$/, ".77"));
  if (rules.prefixes6.length) sources.push((rules.prefixes6[7] ?? "").replace(/::\/64$/, "::77"));
  return sources.map((src) => frame({ src, dst: src.includes(":") ? "fd00::2" : "10.0.0.2", length: src.includes(":") ? 78 : 64 }));
}

/** Median over rounds of the mean ns/packet over the packet set (the kernel's own timing). */
function nsPerPacket(program: runtime.Program, frames: Buffer[]): number {
  const rounds: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let sum = 0;
    for (const data of frames) sum += program.testRun({ data, repeat: REPEAT }).duration;
    rounds.push(sum / frames.length);
  }
  return median(rounds);
}

/** xdp-filter's object: the machine's, or one fetched from Debian's libxdp1 into the work folder. */
function xdpFilterObject(): { path?: string; reason?: string } {
  const installed = `/${XDP_FILTER_OBJECT}`;
  if (existsSync(installed)) return { path: installed };
  const fetched = spawnSync("sh", ["-c", `cd ${workdir} && apt-get download libxdp1 >/dev/null 2>&1 && dpkg -x libxdp1_*.deb libxdp1`], { encoding: "utf8" });
  const path = join(workdir, "libxdp1", XDP_FILTER_OBJECT);
  return fetched.status === 0 && existsSync(path) ? { path } : { reason: "xdp-filter's program is not here and `apt-get download libxdp1` failed" };
}

/** xdp-filter deny mode with these addresses (hosts only: it has no prefixes). */
function loadXdpFilter(path: string, rules: RuleSet): Collection {
  const c = Collection.load(readCollectionSpec(readFileSync(path)));
  const fill = (map: runtime.BpfMap, addresses: string[], family: "ipv4" | "ipv6") => {
    const value = Buffer.alloc(map.userValueSize);
    for (let off = 0; off < value.length; off += 8) value.writeBigUInt64LE(MAP_FLAG_SRC, off);
    for (const a of addresses) {
      const key = family === "ipv4" ? Buffer.from(a.split(".").map(Number)) : Buffer.from(frame({ src: a, dst: "::1" }).subarray(22, 38));
      map.update(key, value);
    }
  };
  fill(c.map("filter_ipv4"), [...rules.hosts4, ...rules.prefixes4.map((p) => p.replace(/\/24$/, ""))].slice(0, 10_000), "ipv4");
  fill(c.map("filter_ipv6"), [...rules.hosts6, ...rules.prefixes6.map((p) => p.replace(/::\/64$/, "::"))].slice(0, 10_000), "ipv6");
  return c;
}

function packetFilter(rules: RuleSet): PacketFilter {
  return PacketFilter.load(
    parseConfig(
      JSON.stringify({
        rules: {
          interface: "unused",
          ipv4: { default: "allow", block: [...rules.hosts4, ...rules.prefixes4], capacity: 2_000_000 },
          ipv6: { default: "allow", block: [...rules.hosts6, ...rules.prefixes6], capacity: 2_000_000 },
        },
      }),
    ),
  );
}

export function packetfilterBench(): Figure[] {
  const figures: Figure[] = [];
  // Like with like: xdp-filter has no prefixes, so both hold the same 10k addresses per family.
  const addresses = ruleSet(10_000, 0);
  const frames = packets(addresses);
  using floor = runtime.Program.load({ name: "xdp_drop", type: ProgramType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, 1), asm.exit()]), license: "GPL" });
  const measure = (rules: RuleSet, on: Buffer[]) => {
    using f = packetFilter(rules);
    return nsPerPacket(f.program as runtime.Program, on);
  };
  const floorNs = nsPerPacket(floor, frames);
  const ours = measure(addresses, frames);
  const peer = xdpFilterObject();
  if (peer.path) {
    using c = loadXdpFilter(peer.path, addresses);
    const theirs = nsPerPacket(c.program("xdpfilt_dny_ip"), frames);
    figures.push({ id: "6", figure: "packetfilter ns/packet, 10k addresses/family", tsebpf: ours.toFixed(1), peer: `${theirs.toFixed(1)} (xdp-filter)`, ratio: ours / theirs, target: "<= 1.0x", pass: ours / theirs <= 1.0 });
  } else {
    figures.push({ id: "6", figure: "packetfilter ns/packet, 10k addresses/family", tsebpf: ours.toFixed(1), peer: "-", ratio: undefined, target: "<= 1.0x", pass: undefined, note: peer.reason ?? "" });
  }
  figures.push({ id: "6f", figure: "packetfilter vs XDP_DROP, 10k addresses/family", tsebpf: ours.toFixed(1), peer: `${floorNs.toFixed(1)} (XDP_DROP)`, ratio: ours / floorNs, target: "<= 3x", pass: ours / floorNs <= 3 });

  // Prefixes: half hosts, half /24 (/64) prefixes, hits of both kinds and misses.
  for (const [id, total] of [["6p", 10_000], ["6m", 1_000_000]] as const) {
    const rules = ruleSet(total / 2, total / 2);
    const on = packets(rules);
    const ns = measure(rules, on);
    const floorHere = nsPerPacket(floor, on);
    const label = total === 10_000 ? "10k" : "1M";
    figures.push({ id, figure: `packetfilter vs XDP_DROP, ${label} rules/family (half prefixes)`, tsebpf: ns.toFixed(1), peer: `${floorHere.toFixed(1)} (XDP_DROP)`, ratio: ns / floorHere, target: id === "6p" ? "<= 3x" : "(reference)", pass: id === "6p" ? ns / floorHere <= 3 : undefined });
  }
  return figures;
}
