import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { runtime } from "../../src/index.js";
import { formatAddress, formatPrefix, maskAddress, parseAddress } from "../../src/programs/common/net.js";
import { parseConfig } from "../../src/programs/packetfilter/config.js";
import { PacketFilter, pinPath, type DropSample } from "../../src/programs/packetfilter/index.js";
import { CLI, CliRun } from "../helpers/cli-run.js";
import { describeKernel, udpReaches, useTopology, type VethPair } from "../helpers/kernel.js";
import { frame } from "../helpers/packets.js";
import { assertProperty } from "../helpers/property.js";

const XDP_DROP = 1;
const XDP_PASS = 2;

const RULES = parseConfig(`
rules:
  interface: unused
  ipv4:
    default: allow
    block: [10.0.0.0/8, 10.1.2.0/24, 192.0.2.7]
    allow: [10.1.0.0/16, 10.1.2.3]
  ipv6:
    default: block
    allow: ["fd00:1::/64", "2001:db8::5"]
    block: ["fd00:1::bad"]
`);

const verdict = (f: PacketFilter, packet: Buffer): number => {
  const p = f.program;
  if (!p) throw new Error("no program");
  return p.testRun({ data: packet }).returnValue;
};

describeKernel("packetfilter through BPF_PROG_TEST_RUN", () => {
  it("the longest prefix wins; hosts beat prefixes; defaults apply per family", () => {
    using f = PacketFilter.load(RULES);
    const v4 = (src: string) => verdict(f, frame({ src, dst: "10.200.0.1" }));
    expect(v4("10.9.9.9")).toBe(XDP_DROP); // block /8
    expect(v4("10.1.9.9")).toBe(XDP_PASS); // allow /16 inside the blocked /8
    expect(v4("10.1.2.9")).toBe(XDP_DROP); // block /24 inside the allowed /16
    expect(v4("10.1.2.3")).toBe(XDP_PASS); // allowed host inside the blocked /24
    expect(v4("192.0.2.7")).toBe(XDP_DROP); // blocked host
    expect(v4("192.0.2.8")).toBe(XDP_PASS); // default allow
    const v6 = (src: string) => verdict(f, frame({ src, dst: "fd00:2::1" }));
    expect(v6("fd00:1::1")).toBe(XDP_PASS); // allowed /64
    expect(v6("fd00:1::bad")).toBe(XDP_DROP); // blocked host inside it
    expect(v6("2001:db8::5")).toBe(XDP_PASS); // allowed host
    expect(v6("2001:db8::6")).toBe(XDP_DROP); // default block
  });

  it("prefixes of more lengths than a hash lookup per length pays for go to an LPM trie, with the same verdicts", () => {
    // 5 lengths (IPv4) and 6 (IPv6): the trie; RULES above has 3 and 1: the hash map.
    using f = PacketFilter.load(
      parseConfig(`
rules:
  interface: unused
  ipv4:
    block: [10.0.0.0/8, 10.16.0.0/12, 10.17.0.0/16, 10.17.16.0/20, 10.17.17.0/24]
    allow: [10.17.17.17, 10.16.0.0/16]
  ipv6:
    default: block
    allow: ["fd00::/8", "fd00:1::/32", "fd00:1:2::/48", "fd00:1:2:3::/64", "fd00:1:2:3:4::/80", "fd00:1:2:3:4:5::/96"]
    block: ["fd00:1:2:3:4:5:6:0/112"]
`),
    );
    const v4 = (src: string) => verdict(f, frame({ src, dst: "10.200.0.1" }));
    expect(v4("10.1.1.1")).toBe(XDP_DROP); // /8
    expect(v4("10.16.1.1")).toBe(XDP_PASS); // allowed /16 inside the blocked /12
    expect(v4("10.17.17.1")).toBe(XDP_DROP); // /24
    expect(v4("10.17.17.17")).toBe(XDP_PASS); // host
    expect(v4("11.0.0.1")).toBe(XDP_PASS); // default
    const v6 = (src: string) => verdict(f, frame({ src, dst: "fd00:2::1" }));
    expect(v6("fd00:1:2:3:4:5:6:7")).toBe(XDP_DROP); // /112
    expect(v6("fd00:1:2:3:4:5:7:7")).toBe(XDP_PASS); // /96
    expect(v6("fe80::1")).toBe(XDP_DROP); // default
    expect(f.rules("ipv6").length).toBe(7);
  });

  it("hashed prefixes of every length a family allows: /1 to /31 (IPv4) and /1 to /127 (IPv6) at the edges", () => {
    for (const [block, hit, miss] of [
      ["128.0.0.0/1", "200.0.0.1", "100.0.0.1"],
      ["10.0.0.0/31", "10.0.0.1", "10.0.0.2"],
      ["8000::/1", "f000::1", "7000::1"],
      ["fd00::/63", "fd00:0:0:1::1", "fd00:0:0:2::1"],
      ["fd00::/64", "fd00::ffff", "fd00:0:0:1::"],
      ["fd00::/65", "fd00::7fff:0:0:1", "fd00::8000:0:0:0"],
      ["fd00::/127", "fd00::1", "fd00::2"],
    ] as const) {
      const family = block.includes(":") ? "ipv6" : "ipv4";
      using f = PacketFilter.load(parseConfig(JSON.stringify({ rules: { interface: "x", [family]: { block: [block] } } })));
      const dst = family === "ipv6" ? "fd99::1" : "10.200.0.1";
      expect(verdict(f, frame({ src: hit, dst })), `${hit} in ${block}`).toBe(XDP_DROP);
      expect(verdict(f, frame({ src: miss, dst })), `${miss} not in ${block}`).toBe(XDP_PASS);
    }
  });

  it("filters VLAN-tagged frames (802.1Q, 802.1ad + 802.1Q) by their inner header; non-IP and short frames pass", () => {
    using f = PacketFilter.load(RULES);
    expect(verdict(f, frame({ src: "10.9.9.9", dst: "10.200.0.1", vlans: [[0x8100, 10]] }))).toBe(XDP_DROP);
    expect(verdict(f, frame({ src: "10.9.9.9", dst: "10.200.0.1", vlans: [[0x88a8, 100], [0x8100, 10]] }))).toBe(XDP_DROP);
    expect(verdict(f, frame({ src: "10.1.9.9", dst: "10.200.0.1", vlans: [[0x88a8, 100], [0x8100, 10]] }))).toBe(XDP_PASS);
    expect(verdict(f, frame({ src: "2001:db8::6", dst: "fd00:2::1", vlans: [[0x8100, 7]] }))).toBe(XDP_DROP);
    const arp = Buffer.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    expect(verdict(f, arp)).toBe(XDP_PASS);
    const short = frame({ src: "10.9.9.9", dst: "10.200.0.1" }).subarray(0, 14 + 12);
    expect(verdict(f, short)).toBe(XDP_PASS);
    const c = f.counters();
    expect(c.ipv4.dropped.packets).toBe(2n);
    expect(c.ipv4.passed.packets).toBe(1n);
    expect(c.ipv6.droppedByDefault.packets).toBe(1n);
    expect(c.notIp.packets).toBe(1n);
    expect(c.malformed.packets).toBe(1n);
    expect(c.ipv4.dropped.bytes).toBe(BigInt(frame({ src: "10.9.9.9", dst: "10.200.0.1", vlans: [[0x8100, 10]] }).length + frame({ src: "10.9.9.9", dst: "10.200.0.1", vlans: [[0x88a8, 100], [0x8100, 10]] }).length));
  });

  it("counts hits per rule, applies a new rule set at once and carries the hits of unchanged rules", async () => {
    using f = PacketFilter.load(RULES);
    for (let i = 0; i < 3; i++) verdict(f, frame({ src: "10.9.9.9", dst: "10.200.0.1" }));
    verdict(f, frame({ src: "10.1.2.3", dst: "10.200.0.1" }));
    const hits = () => Object.fromEntries(f.rules("ipv4").map((r) => [`${r.action} ${Buffer.from(r.prefix.address).join(".")}/${r.prefix.length}`, r.hits]));
    expect(hits()).toMatchObject({ "block 10.0.0.0/8": 3n, "allow 10.1.2.3/32": 1n, "block 192.0.2.7/32": 0n });
    await f.apply(parseConfig("rules:\n  interface: x\n  ipv4:\n    default: block\n    block: [10.0.0.0/8]\n    allow: [8.8.8.8]\n"));
    expect(hits()).toEqual({ "block 10.0.0.0/8": 3n, "allow 8.8.8.8/32": 0n });
    expect(f.defaults()).toEqual({ ipv4: "block", ipv6: "allow" });
    expect(verdict(f, frame({ src: "10.1.2.3", dst: "10.200.0.1" }))).toBe(XDP_DROP); // now the /8 decides
    expect(verdict(f, frame({ src: "8.8.8.8", dst: "10.200.0.1" }))).toBe(XDP_PASS);
    expect(verdict(f, frame({ src: "9.9.9.9", dst: "10.200.0.1" }))).toBe(XDP_DROP); // default block
    expect(verdict(f, frame({ src: "2001:db8::6", dst: "fd00:2::1" }))).toBe(XDP_PASS); // ipv6 left out: allow
    await f.apply(parseConfig("rules:\n  interface: x\n"));
    expect(f.rules("ipv4")).toEqual([]);
    expect(verdict(f, frame({ src: "10.1.2.3", dst: "10.200.0.1" }))).toBe(XDP_PASS);
  });

  it("start: an interface that does not exist is a config error naming the file and key", async () => {
    const config = parseConfig("rules:\n  interface: nosuch0\n", "pf.yml");
    await expect(PacketFilter.start(config)).rejects.toThrow(/^pf\.yml: rules\.interface: interface "nosuch0": no such device$/);
    await expect(PacketFilter.start({ ...config, interfaceFrom: "--interface" })).rejects.toThrow(/^--interface: interface "nosuch0": no such device$/);
  });

  it("a counter a removed rule had starts from zero for the rule that gets it next; a rule added again starts from zero", async () => {
    const rules = (...hosts: string[]) => parseConfig(JSON.stringify({ rules: { interface: "x", ipv4: { block: hosts } } }));
    const send = (src: string, n: number) => {
      for (let i = 0; i < n; i++) expect(verdict(f, frame({ src, dst: "10.200.0.1" }))).toBe(XDP_DROP);
    };
    const hits = () => Object.fromEntries(f.rules("ipv4").map((r) => [formatPrefix(r.prefix), r.hits]));
    using f = PacketFilter.load(rules("10.0.0.1"));
    send("10.0.0.1", 5);
    // Two reloads later the counter of 10.0.0.1 is free again: 10.0.0.4 gets it, with a new tag.
    await f.apply(rules("10.0.0.2"));
    await f.apply(rules("10.0.0.3"));
    await f.apply(rules("10.0.0.4", "10.0.0.9"));
    expect(hits()).toEqual({ "10.0.0.4": 0n, "10.0.0.9": 0n });
    send("10.0.0.4", 2);
    expect(hits()).toEqual({ "10.0.0.4": 2n, "10.0.0.9": 0n });
    await f.apply(rules("10.0.0.4", "10.0.0.1"));
    send("10.0.0.1", 1);
    expect(hits()).toEqual({ "10.0.0.4": 2n, "10.0.0.1": 1n });
  });

  it("property: over any sequence of reloads, each rule's hits are exactly the packets it decided since it was last added", async () => {
    const v4 = ["10.0.0.0/29", "10.0.0.0/30", "10.0.0.4/30", "10.0.0.0/31", "10.0.0.6/31", "10.0.0.1", "10.0.0.2", "10.0.0.5", "10.0.0.7"];
    const v6 = ["fd00::/64", "fd00::/126", "fd00::1", "fd00::3"];
    const ruleSet = (prefixes: string[]) => fc.uniqueArray(fc.record({ prefix: fc.constantFrom(...prefixes), block: fc.boolean() }), { selector: (r) => r.prefix, maxLength: prefixes.length });
    const step = fc.record({
      ipv4: ruleSet(v4),
      ipv6: ruleSet(v6),
      sources: fc.array(fc.oneof(fc.nat(7).map((i) => `10.0.0.${i}`), fc.nat(3).map((i) => `fd00::${i}`)), { maxLength: 10 }),
    });
    type Step = { ipv4: { prefix: string; block: boolean }[]; ipv6: { prefix: string; block: boolean }[]; sources: string[] };
    const config = (st: Step) => {
      const fam = (rules: { prefix: string; block: boolean }[]) => ({ block: rules.filter((r) => r.block).map((r) => r.prefix), allow: rules.filter((r) => !r.block).map((r) => r.prefix) });
      return parseConfig(JSON.stringify({ rules: { interface: "x", ipv4: fam(st.ipv4), ipv6: fam(st.ipv6) } }));
    };
    await assertProperty(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        /** The model: hits by "action prefix" of the rules in the live set. */
        let model = new Map<string, number>();
        let f: PacketFilter | undefined;
        try {
          for (const st of steps) {
            const c = config(st);
            if (f) await f.apply(c);
            else f = PacketFilter.load(c);
            const next = new Map<string, number>();
            for (const fam of ["ipv4", "ipv6"] as const) {
              for (const r of c[fam].rules) {
                const id = `${r.action} ${formatPrefix(r.prefix)}`;
                next.set(id, model.get(id) ?? 0);
              }
            }
            model = next;
            for (const src of st.sources) {
              const fam = src.includes(":") ? "ipv6" : "ipv4";
              const address = parseAddress(src, fam) ?? new Uint8Array();
              const matching = c[fam].rules.filter((r) => maskAddress(address, r.prefix.length).every((b, i) => b === r.prefix.address[i]));
              const longest = matching.sort((a, b) => b.prefix.length - a.prefix.length)[0];
              verdict(f, frame({ src, dst: fam === "ipv6" ? "fd99::1" : "10.200.0.1" }));
              if (longest) {
                const id = `${longest.action} ${formatPrefix(longest.prefix)}`;
                model.set(id, (model.get(id) ?? 0) + 1);
              }
            }
            const seen = new Map<string, number>();
            for (const fam of ["ipv4", "ipv6"] as const) for (const r of f.rules(fam)) seen.set(`${r.action} ${formatPrefix(r.prefix)}`, Number(r.hits));
            expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(model));
          }
        } finally {
          f?.close();
        }
      }),
      { numRuns: 8 },
    );
  });

  it("property: the verdict is the longest matching rule's (or the default), for random rule sets of hosts and prefixes, hashed or in a trie", () => {
    // Rules and sources from a small space, so that sources hit rules of many lengths.
    const v4 = fc.tuple(fc.constantFrom(10, 11), fc.nat(3), fc.nat(255), fc.nat(255)).map((b) => Uint8Array.from(b));
    const v6 = fc.tuple(fc.constantFrom(0xfd, 0x20), fc.array(fc.nat(3), { minLength: 15, maxLength: 15 })).map(([first, rest]) => Uint8Array.from([first, ...rest]));
    const rule = <T extends Uint8Array>(address: fc.Arbitrary<T>, bits: number) =>
      fc.record({ address, length: fc.oneof(fc.constant(bits), fc.integer({ min: 1, max: bits })), block: fc.boolean() });
    const family = <T extends Uint8Array>(address: fc.Arbitrary<T>, bits: number) =>
      fc.record({ rules: fc.array(rule(address, bits), { maxLength: 24 }), block: fc.boolean(), sources: fc.array(address, { maxLength: 12 }) });
    assertProperty(
      fc.property(family(v4, 32), family(v6, 128), (f4, f6) => {
        const text = (a: Uint8Array, bits: number) => formatAddress(a, bits === 32 ? "ipv4" : "ipv6");
        const list = (f: typeof f4, bits: number, block: boolean) => [...new Set(f.rules.filter((r) => r.block === block).map((r) => `${text(maskAddress(r.address, r.length), bits)}/${r.length}`))];
        const doc = (f: typeof f4, bits: number) => ({ default: f.block ? "block" : "allow", block: list(f, bits, true), allow: list(f, bits, false) });
        using f = PacketFilter.load(parseConfig(JSON.stringify({ rules: { interface: "x", ipv4: doc(f4, 32), ipv6: doc(f6, 128) } })));
        for (const [fam, bits, dst] of [[f4, 32, "10.200.0.1"], [f6, 128, "fd99::1"]] as const) {
          // Every source, and each rule's own address (a hit of that rule or of a longer one).
          for (const src of [...fam.sources, ...fam.rules.map((r) => r.address)]) {
            const matching = fam.rules.filter((r) => maskAddress(src, r.length).every((b, i) => b === maskAddress(r.address, r.length)[i]));
            const longest = Math.max(-1, ...matching.map((r) => r.length));
            // A prefix in both lists is blocked.
            const block = longest < 0 ? fam.block : matching.some((r) => r.length === longest && r.block);
            expect(verdict(f, frame({ src: text(src, bits), dst })), `${text(src, bits)}`).toBe(block ? XDP_DROP : XDP_PASS);
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  it("samples dropped packets: the source, the rule that dropped it or the default, the frame's length", async () => {
    using f = PacketFilter.load(RULES, { sampleDrops: 1 });
    const v4 = (src: string) => frame({ src, dst: "10.200.0.1" });
    const packets = [v4("10.9.9.9"), v4("10.1.9.9") /* passed */, frame({ src: "2001:db8::6", dst: "fd00:2::1" }), v4("192.0.2.7"), v4("10.1.2.9")];
    for (const p of packets) verdict(f, p);
    const seen: DropSample[] = [];
    const stop = new AbortController();
    const n = await f.onDrop(
      (d) => {
        seen.push(d);
        if (seen.length === 4) stop.abort();
      },
      { signal: stop.signal },
    );
    expect(n).toBe(4);
    expect(seen.map((d) => [formatAddress(d.source, d.family), d.rule ? formatPrefix(d.rule) : "default", d.length])).toEqual([
      ["10.9.9.9", "10.0.0.0/8", packets[0]?.length],
      ["2001:db8::6", "default", packets[2]?.length],
      ["192.0.2.7", "192.0.2.7", packets[3]?.length], // a host rule
      ["10.1.2.9", "10.1.2.0/24", packets[4]?.length],
    ]);
    expect(seen.every((d, i) => d.ns > 0n && (i === 0 || d.ns >= (seen[i - 1]?.ns ?? 0n)))).toBe(true);
    expect(f.counters().samplesLost.packets).toBe(0n);
  });

  it("samples one drop in N; a full ring counts the samples it had no room for; without sampling, none", async () => {
    const drained = async (f: PacketFilter) => {
      let n = 0;
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 200);
      await f.onDrop(() => n++, { signal: stop.signal });
      return n;
    };
    const blocked = frame({ src: "10.9.9.9", dst: "10.200.0.1" });
    {
      using f = PacketFilter.load(RULES, { sampleDrops: 4 });
      f.program?.testRun({ data: blocked, repeat: 400 });
      const n = await drained(f);
      expect(n).toBeGreaterThan(50); // binomial(400, 1/4): 100 ± 9
      expect(n).toBeLessThan(150);
    }
    {
      // 256 KiB of 40-byte records (header included): about 6,550 fit.
      using f = PacketFilter.load(RULES, { sampleDrops: 1 });
      f.program?.testRun({ data: blocked, repeat: 10_000 });
      const lost = f.counters().samplesLost.packets;
      const n = await drained(f);
      expect(lost).toBeGreaterThan(0n);
      expect(BigInt(n) + lost).toBe(10_000n);
    }
    {
      using f = PacketFilter.load(RULES);
      f.program?.testRun({ data: blocked, repeat: 100 });
      expect(await drained(f)).toBe(0);
    }
    expect(() => PacketFilter.load(RULES, { sampleDrops: -1 })).toThrow(/sampleDrops: -1 is not a whole number/);
  });

  it("holds many prefixes (capacity beyond the originals' 1,024)", () => {
    const block = Array.from({ length: 5000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const hosts = Array.from({ length: 5000 }, (_, i) => `172.16.${i >> 8}.${i & 255}`);
    using f = PacketFilter.load(parseConfig(JSON.stringify({ rules: { interface: "x", ipv4: { block: [...block, ...hosts] } } })));
    expect(verdict(f, frame({ src: "10.19.135.77", dst: "10.200.0.1" }))).toBe(XDP_DROP);
    expect(verdict(f, frame({ src: "172.16.19.135", dst: "10.200.0.1" }))).toBe(XDP_DROP);
    expect(verdict(f, frame({ src: "10.20.0.1", dst: "10.200.0.1" }))).toBe(XDP_PASS);
    expect(f.rules("ipv4").length).toBe(10_000);
  });
});

/** The CLI's packetfilter as a child process inside a namespace; its output collected (killed after each test). */
class Cli extends CliRun {
  constructor(nsPath: string, args: string[], prefix: string[] = []) {
    super(["packetfilter", ...args], { nsPath, prefix, watch: "stdout", timeoutMs: 15_000 });
  }
}

/** Runs the CLI to completion inside the namespace. */
const cli = (pair: VethPair, ...args: string[]) => spawnSync("nsenter", [`--net=${pair.b.ns.path}`, "--", process.execPath, CLI, "packetfilter", ...args], { encoding: "utf8", timeout: 30_000 });

const xdpOn = (pair: VethPair) => runtime.withNetns(pair.b.ns.path, () => runtime.xdpAttached(runtime.ifindex(pair.b.ifname)));

describeKernel("tsebpf packetfilter on a veth pair", () => {
  const topology = useTopology();
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-pf-"));
  const cfg = join(dir, "filter.yml");
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    const pair = topology();
    if (existsSync(pinPath(pair.b.ifname))) cli(pair, "--unpin", "-i", pair.b.ifname);
  });
  const write = (pair: VethPair, ipv4: string, ipv6 = "{ default: allow }") => writeFileSync(cfg, `rules:\n  interface: ${pair.b.ifname}\n  ipv4: ${ipv4}\n  ipv6: ${ipv6}\n`);

  it("drops blocked sources, applies edits of the file and SIGHUP, and detaches on SIGINT", async () => {
    const pair = topology();
    write(pair, `{ default: allow, block: [${pair.a.ipv4}] }`, `{ default: block, allow: ["${pair.a.ipv6}"] }`);
    const run = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0", "--mode", "native", "--sample-drops", "1"]);
    await run.waitFor(/running:/);
    expect(xdpOn(pair).native).toBeGreaterThan(0);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7001)).toBe(false);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv6, 7002)).toBe(true);
    // Every drop is sampled: the source and the rule that dropped it.
    const source = pair.a.ipv4.replace(/\./g, "\\.");
    await run.waitFor(new RegExp(`drop ${source} by block ${source} \\(\\d+ bytes\\)`));

    // An edit of the file: the IPv4 source is allowed now, IPv6 falls to the default block.
    write(pair, "{ default: allow }", `{ default: block, allow: ["fd00:99::/64"] }`);
    await run.waitFor(/rules applied.*\n/);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7003)).toBe(true);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv6, 7004)).toBe(false);

    // A bad edit changes nothing and says why.
    writeFileSync(cfg, `rules:\n  interface: ${pair.b.ifname}\n  ipv4: { default: sometimes }\n`);
    await new Promise((r) => setTimeout(r, 600));
    expect(run.stderr).toMatch(/config not applied, the previous rules stay: .*rules\.ipv4\.default: expected allow or block, not 'sometimes'/);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7005)).toBe(true);

    // SIGHUP after a change (the watcher sees it too: either way it is applied once settled).
    write(pair, `{ default: block, allow: ["${pair.a.ipv4.replace(/\.\d+$/, ".0")}/24"] }`);
    run.child.kill("SIGHUP");
    await run.waitFor(/ipv4 default block, 1 allow/);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7006)).toBe(true);

    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
    expect(run.stdout).toMatch(/SIGINT: detached from /);
    expect(xdpOn(pair).attached).toBe("none");
  });

  it("filters VLAN-tagged frames on the wire (802.1Q and 802.1ad + 802.1Q) by their inner source", async () => {
    // This kernel has no 802.1Q devices: raw tagged frames are sent through an AF_PACKET socket,
    // and the filter's counters and rule hits tell what it decided for each.
    const pair = topology();
    write(pair, `{ default: allow, block: ["192.0.2.66"] }`);
    const run = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0", "--mode", "generic"]);
    await run.waitFor(/running:/);
    const send = (frames: Buffer[]) => {
      const hex = JSON.stringify(frames.map((f) => f.toString("hex")));
      const r = spawnSync("nsenter", [`--net=${pair.a.ns.path}`, "--", "python3", "-c", `
import socket, json
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("${pair.a.ifname}", 0))
for f in json.loads('${hex}'):
    s.send(bytes.fromhex(f))`], { encoding: "utf8" });
      expect(r.stderr).toBe("");
    };
    const blocked = (vlans: [number, number][]) => frame({ src: "192.0.2.66", dst: pair.b.ipv4, vlans, length: 64 });
    const allowed = (vlans: [number, number][]) => frame({ src: "192.0.2.67", dst: pair.b.ipv4, vlans, length: 64 });
    send([blocked([[0x8100, 10]]), blocked([[0x88a8, 100], [0x8100, 10]]), blocked([[0x88a8, 100], [0x8100, 10]]), allowed([[0x8100, 10]]), allowed([[0x88a8, 7], [0x8100, 8]])]);
    await new Promise((r) => setTimeout(r, 300));
    const status = JSON.parse(cli(pair, "status", "-i", pair.b.ifname, "--rules", "--json").stdout);
    expect(status.rules.ipv4).toEqual([{ rule: "192.0.2.66", action: "block", packets: 3 }]);
    expect(status.counters.ipv4.dropped.packets).toBe(3);
    expect(status.counters.ipv4.passed_by_default.packets).toBeGreaterThanOrEqual(2);
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
  });

  it("reloads without a gap: an allowed source never loses a packet while rules are reapplied, and its rule counts every one", async () => {
    const pair = topology();
    const other = (i: number) => `[${Array.from({ length: 50 }, (_, j) => `192.0.${(i + j) % 250}.${j}`).join(", ")}]`;
    write(pair, `{ default: block, allow: [${pair.a.ipv4}], block: ${other(0)} }`);
    const run = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0", "--mode", "generic"]);
    await run.waitFor(/running:/);
    // The receiver counts datagrams while the sender sends 2,000 of them, 1 per ms.
    const receiver = spawn("nsenter", [`--net=${pair.b.ns.path}`, "--", "python3", "-c", `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("${pair.b.ipv4}", 7100)); s.settimeout(3)
print("ready", flush=True)
seen = set()
try:
    while len(seen) < 2000:
        seen.add(int(s.recv(64)))
except socket.timeout:
    pass
print(len(seen), flush=True)`], { stdio: ["ignore", "pipe", "inherit"] });
    const receiverDone = new Promise((r) => receiver.on("exit", r));
    let received = "";
    receiver.stdout.on("data", (d) => (received += d));
    while (!received.includes("ready")) await new Promise((r) => setTimeout(r, 20));
    const sender = spawn("nsenter", [`--net=${pair.a.ns.path}`, "--", "python3", "-c", `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(2000):
    s.sendto(str(i).encode(), ("${pair.b.ipv4}", 7100)); time.sleep(0.001)`], { stdio: "ignore" });
    let reloads = 0;
    const senderDone = new Promise((r) => sender.on("exit", r));
    let done = false;
    void senderDone.then(() => (done = true));
    while (!done) {
      reloads++;
      write(pair, `{ default: block, allow: [${pair.a.ipv4}], block: ${other(reloads)} }`);
      run.child.kill("SIGHUP");
      await new Promise((r) => setTimeout(r, 40));
    }
    await receiverDone;
    expect(reloads).toBeGreaterThan(20);
    expect(received.trim().split("\n").pop()).toBe("2000");
    // Each counted on the allow rule, exactly: the rule stays in every generation, so it keeps
    // its counter; no reload copies or moves a count.
    const status = JSON.parse(cli(pair, "status", "-i", pair.b.ifname, "--rules", "--json").stdout);
    const allow = status.rules.ipv4.find((r: { rule: string }) => r.rule === pair.a.ipv4);
    expect(allow).toEqual({ rule: pair.a.ipv4, action: "allow", packets: 2000 });
    expect(status.counters.ipv4.passed.packets).toBe(2000);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.stdout.match(/rules applied/g)?.length ?? 0).toBeGreaterThan(10);
  });

  it("--pin keeps filtering after exit; --pin again applies a new config; status reads the pins; --unpin removes it", () => {
    const pair = topology();
    write(pair, `{ default: allow, block: [${pair.a.ipv4}] }`);
    const pinned = cli(pair, "-c", cfg, "--pin");
    expect(pinned.stderr).toBe("");
    expect(pinned.status).toBe(0);
    expect(pinned.stdout).toContain(`pinned at ${pinPath(pair.b.ifname)}`);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7201)).toBe(false);
    const status = JSON.parse(cli(pair, "status", "-i", pair.b.ifname, "--rules", "--json").stdout);
    expect(status).toMatchObject({ interface: pair.b.ifname, pinned: pinPath(pair.b.ifname), defaults: { ipv4: "allow", ipv6: "allow" } });
    expect(status.rules.ipv4).toEqual([{ rule: pair.a.ipv4, action: "block", packets: expect.any(Number) }]);
    expect(status.rules.ipv4[0].packets).toBeGreaterThanOrEqual(10);
    expect(status.counters.ipv4.dropped.packets).toBe(status.rules.ipv4[0].packets);

    write(pair, "{ default: allow }");
    expect(cli(pair, "-c", cfg, "--pin").stdout).toMatch(/new rules applied/);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7202)).toBe(true);

    // Running in the foreground while pinned is refused with what to do.
    const refused = cli(pair, "-c", cfg);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/a packetfilter is pinned on .*--unpin/);

    const programId = xdpOn(pair).progId;
    expect(runtime.listLinks().filter((l) => l.programId === programId)).toHaveLength(1);
    expect(cli(pair, "--unpin", "-i", pair.b.ifname).stdout).toMatch(/detached and unpinned/);
    expect(existsSync(pinPath(pair.b.ifname))).toBe(false);
    expect(xdpOn(pair).attached).toBe("none");
    expect(runtime.listLinks().filter((l) => l.programId === programId)).toEqual([]);
  });

  it("removes what a crashed run left attached through netlink", async () => {
    const pair = topology();
    write(pair, `{ default: allow, block: [${pair.a.ipv4}] }`);
    const crashed = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0", "--netlink", "--mode", "generic"]);
    await crashed.waitFor(/running:/);
    crashed.child.kill("SIGKILL");
    await crashed.exited;
    const left = xdpOn(pair).generic;
    expect(left).toBeGreaterThan(0);
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7301)).toBe(false);
    const next = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0"]);
    await next.waitFor(/running:/);
    expect(next.stderr).toContain(`removed a packetfilter (program id ${left}) an earlier run left attached`);
    next.child.kill("SIGINT");
    expect(await next.exited).toBe(0);
    expect(xdpOn(pair).attached).toBe("none");
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7302)).toBe(true);
  });

  it("runs and reloads without CAP_SYS_ADMIN (CAP_BPF and CAP_NET_ADMIN are what it needs)", async () => {
    const pair = topology();
    write(pair, `{ default: allow, block: [${pair.a.ipv4}] }`);
    const noAdmin = ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--"];
    const run = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0"], noAdmin);
    await run.waitFor(/running:/);
    const status = readFileSync(`/proc/${run.child.pid}/status`, "utf8");
    const effective = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? "0"}`);
    expect(effective & (1n << 21n)).toBe(0n); // CAP_SYS_ADMIN is gone
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7401)).toBe(false);
    for (let i = 0; i < 2; i++) {
      write(pair, i === 0 ? "{ default: allow }" : `{ default: allow, block: [${pair.a.ipv4}, 192.0.2.0/24] }`);
      run.child.kill("SIGHUP");
      await run.waitFor(new RegExp(`(rules applied.*\n[^]*){${i + 1}}`));
    }
    expect(run.stderr).toBe("");
    expect(udpReaches(pair.a.ns, pair.b.ns, pair.b.ipv4, 7402)).toBe(false);
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
  });

  it("refuses to take over a running filter; removes pins whose filter is gone; --json keeps stdout JSON", async () => {
    const pair = topology();
    write(pair, `{ default: allow, block: [${pair.a.ipv4}] }`);
    // A live netlink run holds its program: a second start must not detach it.
    const live = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0", "--netlink", "--mode", "generic"]);
    await live.waitFor(/running:/);
    const second = cli(pair, "-c", cfg, "--interval", "0");
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^tsebpf: another packetfilter is running on ${pair.b.ifname} \\(pid \\d+\\): stop it first\n$`));
    expect(xdpOn(pair).generic).toBeGreaterThan(0);
    live.child.kill("SIGINT");
    expect(await live.exited).toBe(0);
    expect(xdpOn(pair).attached).toBe("none");

    // Pins whose link was detached behind their back are a leftover: the next start removes them.
    expect(cli(pair, "-c", cfg, "--pin").status).toBe(0);
    runtime.Link.fromPin(`${pinPath(pair.b.ifname)}/link`).detach();
    const json = new Cli(pair.b.ns.path, ["-c", cfg, "--interval", "0.2", "--json"]);
    await new Promise((r) => setTimeout(r, 2500));
    expect(json.stderr).toContain(`removed ${pinPath(pair.b.ifname)}, pins of an earlier run whose filter is no longer attached`);
    expect(json.stderr).toContain("running:");
    const lines = json.stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ interface: pair.b.ifname, ipv4: { dropped: { packets: expect.any(Number) } } });
    json.child.kill("SIGINT");
    expect(await json.exited).toBe(0);
    expect(existsSync(pinPath(pair.b.ifname))).toBe(false);
  });

  it("--interface must name an interface: '..' is refused and no pin of anyone is touched", () => {
    const pair = topology();
    const other = `/sys/fs/bpf/tsebpf/packetfilter/${pair.a.ifname}`;
    mkdirSync(other, { recursive: true });
    try {
      for (const bad of ["..", ".", "a/b", "averyveryverylongname"]) {
        const r = cli(pair, "--unpin", "-i", bad);
        expect(r.status, bad).toBe(1);
        expect(r.stderr, bad).toBe(`tsebpf: --interface: '${bad}' is not an interface name\n`);
      }
      expect(existsSync(other)).toBe(true);
      const r = cli(pair, "-c", cfg, "--interval", "1e3");
      expect(r.stderr).toBe("tsebpf: --interval: expected seconds from 0 to 86400, not '1e3'\n");
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("bad configuration or interface: one line, exit 1, nothing attached", () => {
    const pair = topology();
    writeFileSync(cfg, `rules:\n  interface: ${pair.b.ifname}\n  ipv4: { block: [10.0.0.1/8] }\n`);
    const bad = cli(pair, "-c", cfg);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`tsebpf: ${cfg}: rules.ipv4.block[0]: '10.0.0.1/8' has host bits set (the prefix is 10.0.0.0/8)\n`);
    write(pair, "{ default: allow }");
    // An interface that does not exist: the file and key that name it, or the option.
    const noIf = cli(pair, "-c", cfg, "-i", "tsebpf-nope0");
    expect(noIf.status).toBe(1);
    expect(noIf.stderr).toBe('tsebpf: --interface: interface "tsebpf-nope0": no such device\n');
    writeFileSync(cfg, "rules:\n  interface: nosuch0\n  ipv4: { default: allow }\n");
    const noIfInFile = cli(pair, "-c", cfg);
    expect(noIfInFile.status).toBe(1);
    expect(noIfInFile.stderr).toBe(`tsebpf: ${cfg}: rules.interface: interface "nosuch0": no such device\n`);
    write(pair, "{ default: allow }");
    for (const [args, message] of [
      [["--sample-drops", "0"], "--sample-drops: '0' is not a number of packets (1..2147483648)"],
      [["--sample-drops", "1e3"], "--sample-drops: '1e3' is not a number of packets (1..2147483648)"],
      [["--sample-drops", "10", "--pin"], "--sample-drops needs the process that reads the samples: it does not go with --pin"],
    ] as const) {
      const r = cli(pair, "-c", cfg, ...args);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`tsebpf: ${message}\n`);
    }
    expect(xdpOn(pair).attached).toBe("none");
  });
});

describe("packetfilter help", () => {
  it("documents the config keys and the subcommands", () => {
    const help = spawnSync(process.execPath, [CLI, "packetfilter", "--help"], { encoding: "utf8" }).stdout;
    for (const word of ["rules:", "interface:", "default:", "allow:", "block:", "capacity:", "--pin", "--unpin", "--mode", "status", "check"]) expect(help).toContain(word);
  });
});

describeKernel("tsebpf packetfilter without its capabilities", () => {
  const topology = useTopology();
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-pf-caps-"));
  const cfg = join(dir, "filter.yml");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const loaded = () => (JSON.parse(spawnSync("bpftool", ["prog", "show", "--json"], { encoding: "utf8" }).stdout || "[]") as { name?: string }[]).filter((p) => p.name === "packetfilter").length;
  /** The CLI in the pair's namespace, with `drop` taken from the bounding set (and nothing inherited). */
  const run = (pair: VethPair, drop: string, ...args: string[]) =>
    spawnSync("nsenter", [`--net=${pair.b.ns.path}`, "--", "setpriv", "--inh-caps=-all", `--bounding-set=${drop}`, process.execPath, CLI, "packetfilter", ...args], { encoding: "utf8", timeout: 30_000 });

  it("one line naming the missing capability, exit 1, nothing loaded, nothing attached; check needs none", () => {
    expect(existsSync(CLI), "build the CLI first: npx tsc -p tsconfig.build.json").toBe(true);
    const pair = topology();
    writeFileSync(cfg, `rules:\n  interface: ${pair.b.ifname}\n  ipv4: { default: allow, block: [${pair.a.ipv4}] }\n`);
    const before = loaded();
    const why = "filtering packets with XDP needs CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN stands in for CAP_BPF)";
    for (const args of [["-c", cfg, "--interval", "0"], ["-c", cfg, "--pin"]]) {
      const noNetAdmin = run(pair, "-net_admin", ...args);
      expect(noNetAdmin.status, noNetAdmin.stderr).toBe(1);
      expect(noNetAdmin.stdout).toBe("");
      expect(noNetAdmin.stderr).toBe(`tsebpf: packetfilter: missing CAP_NET_ADMIN: ${why}; run as root or grant it\n`);
    }
    const noBpf = run(pair, "-bpf,-sys_admin", "-c", cfg, "--interval", "0");
    expect(noBpf.status, noBpf.stderr).toBe(1);
    expect(noBpf.stderr).toBe(`tsebpf: packetfilter: missing CAP_BPF: ${why}; run as root or grant it\n`);
    const none = run(pair, "-bpf,-sys_admin,-net_admin", "-c", cfg, "--interval", "0");
    expect(none.status, none.stderr).toBe(1);
    expect(none.stderr).toBe(`tsebpf: packetfilter: missing CAP_BPF and CAP_NET_ADMIN: ${why}; run as root or grant them\n`);
    expect(xdpOn(pair).attached).toBe("none");
    expect(existsSync(pinPath(pair.b.ifname))).toBe(false);
    expect(loaded()).toBe(before);
    // check loads nothing: it needs no capability at all.
    const check = run(pair, "-all", "check", "-c", cfg);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toMatch(new RegExp(`^${cfg}: ok: ${pair.b.ifname}: `));
  });
});
