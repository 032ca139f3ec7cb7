/**
 * #6 packetfilter data path: ns per packet through BPF_PROG_TEST_RUN on realistic 64-byte IPv4
 * and 78-byte IPv6 frames, with 10k and 1M rules, against xdp-filter's program (xdp-tools, policy
 * allow, rules drop: xdpfilt_alw_ip, from Debian's libxdp1 package, fetched into the bench's work
 * folder when the machine lacks it) holding the same 10k addresses, and against a trivial
 * XDP_DROP program. Same packets, same run, the sides' rounds interleaved (the order reversed
 * every other round); a ratio is the median of per-round ratios.
 *
 * The two programs do not do the same work per packet: xdp-filter looks up the destination, then
 * the source, in one hash map, counting the entry that matched; packetfilter looks up only the
 * source, and first checks a bitmap summary of its rules, which lets a source no rule can match
 * skip the hash lookup. So #6 (the mixed packets: per family a source on the list and one not)
 * is split in two rows: 6l, like for like, where every packet costs both exactly one hash-map hit
 * (source and destination both on the list: packetfilter hits on the source, xdp-filter on the
 * destination, its first lookup), and 6x, misses only, where xdp-filter makes two hash lookups
 * and packetfilter reads one bitmap word.
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
import { interleaved, median, roundRatio, workdir, type Figure } from "./lib.js";

const REPEAT = 200_000;
const ROUNDS = 11;
const XDP_FILTER_PROGRAM = "xdpfilt_alw_ip";
const XDP_FILTER_OBJECT = `usr/lib/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu/bpf/${XDP_FILTER_PROGRAM}.o`;
/** xdp-filter's map value flags: match the address as source, as destination. */
const MAP_FLAG_SRC = 1n;
const MAP_FLAG_DST = 2n;

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

const V4_UNLISTED = ["10.0.0.1", "10.0.0.2"];
const V6_UNLISTED = ["fd00::1", "fd00::2"];
const packet = (src: string, dst: string) => frame({ src, dst, length: src.includes(":") ? 78 : 64 });

/**
 * The #6 mix: per family a source on the list and one not, the destination never on it (ruleSet
 * draws no 10/8 or fd00::/8 address); then, with prefixes, per family a source in a listed prefix.
 */
function packets(rules: RuleSet): Buffer[] {
  const out = [packet(rules.hosts4[3] ?? "", V4_UNLISTED[1] ?? ""), packet(V4_UNLISTED[0] ?? "", V4_UNLISTED[1] ?? ""), packet(rules.hosts6[3] ?? "", V6_UNLISTED[1] ?? ""), packet(V6_UNLISTED[0] ?? "", V6_UNLISTED[1] ?? "")];
  if (rules.prefixes4.length) out.push(packet((rules.prefixes4[7] ?? "").replace(/\.0\/24$/, ".77"), V4_UNLISTED[1] ?? ""));
  if (rules.prefixes6.length) out.push(packet((rules.prefixes6[7] ?? "").replace(/::\/64$/, "::77"), V6_UNLISTED[1] ?? ""));
  return out;
}

/** 6l: per family source and destination both listed (each side's first lookup hits). */
const hitPackets = (rules: RuleSet): Buffer[] => [packet(rules.hosts4[3] ?? "", rules.hosts4[5] ?? ""), packet(rules.hosts6[3] ?? "", rules.hosts6[5] ?? "")];
/** 6x: per family neither listed. */
const missPackets = (): Buffer[] => [packet(V4_UNLISTED[0] ?? "", V4_UNLISTED[1] ?? ""), packet(V6_UNLISTED[0] ?? "", V6_UNLISTED[1] ?? "")];

/** One round: the mean ns/packet over the packet set (the kernel's own timing of each run). */
function nsPerPacket(program: runtime.Program, frames: readonly Buffer[]): number {
  let sum = 0;
  for (const data of frames) sum += program.testRun({ data, repeat: REPEAT }).duration;
  return sum / frames.length;
}

/** xdp-filter's object: the machine's, or one fetched from Debian's libxdp1 into the work folder. */
function xdpFilterObject(): { path?: string; reason?: string } {
  const installed = `/${XDP_FILTER_OBJECT}`;
  if (existsSync(installed)) return { path: installed };
  const fetched = spawnSync("sh", ["-c", `cd ${workdir} && apt-get download libxdp1 >/dev/null 2>&1 && dpkg -x libxdp1_*.deb libxdp1`], { encoding: "utf8" });
  const path = join(workdir, "libxdp1", XDP_FILTER_OBJECT);
  return fetched.status === 0 && existsSync(path) ? { path } : { reason: "xdp-filter's program is not here and `apt-get download libxdp1` failed: install xdp-tools (Debian: apt-get install libxdp1) for figures 6, 6l and 6x" };
}

/** xdp-filter with these addresses, each matched as source and as destination (hosts only: it has no prefixes). */
function loadXdpFilter(path: string, rules: RuleSet): Collection {
  const c = Collection.load(readCollectionSpec(readFileSync(path)));
  const fill = (map: runtime.BpfMap, addresses: string[], family: "ipv4" | "ipv6") => {
    const value = Buffer.alloc(map.userValueSize);
    for (let off = 0; off < value.length; off += 8) value.writeBigUInt64LE(MAP_FLAG_SRC | MAP_FLAG_DST, off);
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

const n = (x: number) => x.toFixed(1);

export function packetfilterBench(): Figure[] {
  const figures: Figure[] = [];
  // Like with like: xdp-filter has no prefixes, so both hold the same 10k addresses per family.
  const addresses = ruleSet(10_000, 0);
  const mix = packets(addresses);
  const hits = hitPackets(addresses);
  const misses = missPackets();
  using floor = runtime.Program.load({ name: "xdp_drop", type: ProgramType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, 1), asm.exit()]), license: "GPL" });
  using filter = packetFilter(addresses);
  const ours = filter.program as runtime.Program;
  const peer = xdpFilterObject();
  using xdpFilter = peer.path ? loadXdpFilter(peer.path, addresses) : undefined;
  const theirs = xdpFilter?.program(XDP_FILTER_PROGRAM);
  const on = (program: runtime.Program | undefined, frames: readonly Buffer[]) => () => (program ? nsPerPacket(program, frames) : NaN);
  const [oursMix = [], theirsMix = [], floorMix = [], oursHit = [], theirsHit = [], oursMiss = [], theirsMiss = []] = interleaved(ROUNDS, [
    on(ours, mix), on(theirs, mix), on(floor, mix), on(ours, hits), on(theirs, hits), on(ours, misses), on(theirs, misses),
  ]);
  const versus = (id: string, figure: string, a: number[], b: number[], target: string, limit: number | undefined) => {
    if (!theirs) return figures.push({ id, figure, tsebpf: n(median(a)), peer: "-", ratio: undefined, target, pass: undefined, note: peer.reason ?? "" });
    const ratio = roundRatio(a, b);
    return figures.push({ id, figure, tsebpf: n(median(a)), peer: `${n(median(b))} (xdp-filter)`, ratio, target, pass: limit === undefined ? undefined : ratio <= limit });
  };
  versus("6", "packetfilter vs xdp-filter ns/packet, 10k addresses/family; mix: v4:v6 1:1, 50% source hits, dst never listed (not the same lookups, see 6l/6x)", oursMix, theirsMix, "<= 1.0x", 1.0);
  versus("6l", "  like for like: 100% hits, one hash-map hit per packet on both (src and dst listed), v4:v6 1:1", oursHit, theirsHit, "<= 1.0x", 1.0);
  versus("6x", "  misses only: xdp-filter 2 hash lookups (dst, src), packetfilter 1 bitmap word, v4:v6 1:1", oursMiss, theirsMiss, "(reference)", undefined);
  if (figures[0]) figures[0] = { ...figures[0], note: "xdp-filter looks up the destination and then the source (2 hash lookups per packet of the mix, hits counted); packetfilter looks up the source only, after a bitmap summary check that lets the misses skip the lookup" };
  const f = roundRatio(oursMix, floorMix);
  figures.push({ id: "6f", figure: "packetfilter vs XDP_DROP, 10k addresses/family, the #6 mix", tsebpf: n(median(oursMix)), peer: `${n(median(floorMix))} (XDP_DROP)`, ratio: f, target: "<= 3x", pass: f <= 3 });

  // Prefixes: half hosts, half /24 (/64) prefixes, hits of both kinds and misses.
  for (const [id, total] of [["6p", 10_000], ["6m", 1_000_000]] as const) {
    const rules = ruleSet(total / 2, total / 2);
    const frames = packets(rules);
    using withPrefixes = packetFilter(rules);
    const [ns = [], floorNs = []] = interleaved(ROUNDS, [on(withPrefixes.program as runtime.Program, frames), on(floor, frames)]);
    const ratio = roundRatio(ns, floorNs);
    const label = total === 10_000 ? "10k" : "1M";
    figures.push({ id, figure: `packetfilter vs XDP_DROP, ${label} rules/family (half /24, /64 prefixes); mix: v4:v6 1:1, 1/3 host hits, 1/3 prefix hits, 1/3 misses`, tsebpf: n(median(ns)), peer: `${n(median(floorNs))} (XDP_DROP)`, ratio, target: id === "6p" ? "<= 3x" : "(reference)", pass: id === "6p" ? ratio <= 3 : undefined });
  }
  return figures;
}
