/** jittergen's configuration: the original keys, the new ones, and one-line errors naming the key. */
import { describe, expect, it } from "vitest";
import { parseConfig, describeRule, needsDelay } from "../../src/programs/jittergen/config.js";
import { encodeRule } from "../../src/programs/jittergen/index.js";

const parse = (doc: unknown) => parseConfig(doc, "jg.yml");
const ORIGINAL = {
  outIf: "eth1",
  action: "jitter",
  match: { percent: 30, protocol: "udp", port: 5000 },
  jitter: { minDelayMs: 1, maxDelayMs: 5 },
  reorder: { delayMs: 10 },
};

describe("jittergen config", () => {
  it("reads an original config (every section present, the action's used)", () => {
    const c = parse(ORIGINAL);
    expect(c.outIf).toBe("eth1");
    expect(c.engine).toBe("auto");
    expect(c.rules).toHaveLength(1);
    const r = c.rules[0];
    expect(r).toMatchObject({ key: "action", action: "jitter", percent: 30, protocol: "udp", dstPorts: { lo: 5000, hi: 5000 }, minDelayMs: 1, maxDelayMs: 5, keepOrder: true });
    expect(describeRule(r!)).toBe("udp dport 5000 30%: jitter 1-5 ms");
    expect(needsDelay(r!)).toBe(true);
    expect(parse({ ...ORIGINAL, action: "drop" }).rules[0]?.action).toBe("drop");
    expect(needsDelay(parse({ ...ORIGINAL, action: "drop" }).rules[0]!)).toBe(false);
  });

  it("reads the new keys: engine, rules (first match wins), CIDRs, port ranges, loss models, duplicate, corrupt, rate", () => {
    const c = parse({
      outIf: "veth0",
      engine: "recirculate",
      horizonMs: 2000,
      rules: [
        { action: "drop", match: { protocol: "tcp", dst: "10.0.0.0/8", srcPort: "1000-2000" }, loss: { model: "gilbert-elliott", p: 1, r: 25 } },
        { action: "pass", match: { src: "fd00::/64" }, duplicate: 1, corrupt: 0.5, rate: "10mbit" },
        { action: "drop", match: { percent: 5 }, loss: { correlation: 25 } },
      ],
    });
    expect(c.engine).toBe("recirculate");
    expect(c.rules.map((r) => r.key)).toEqual(["rules[0]", "rules[1]", "rules[2]"]);
    expect(c.rules[0]).toMatchObject({ family: "ipv4", srcPorts: { lo: 1000, hi: 2000 }, loss: { model: "gilbert-elliott", p: 1, r: 25, lossInBad: 100, lossInGood: 0 } });
    expect(c.rules[1]).toMatchObject({ family: "ipv6", duplicate: 1, corrupt: 0.5, rateBytesPerSecond: 1_250_000 });
    expect(c.rules[2]?.loss).toEqual({ model: "bernoulli", correlation: 25 });
    const e = encodeRule(c.rules[0]!);
    expect(e).toMatchObject({ action: 1, family: 4, protocol: 6, loss_model: 1, dst_len: 8, sport_lo: 1000, sport_hi: 2000, dport_lo: 0, dport_hi: 0xffff });
    expect(e.dst[0]).toBe(10); // network-order bytes 10.0.0.0 as a host-order word
    expect(encodeRule(c.rules[2]!).select).toBe(BigInt(Math.round(0.05 * 2 ** 32)));
    expect(encodeRule(parse(ORIGINAL).rules[0]!)).toMatchObject({ min_delay_ns: 1_000_000n, max_delay_ns: 5_000_000n });
    expect(encodeRule(parse({ ...ORIGINAL, match: { percent: 100 } }).rules[0]!).select).toBe(2n ** 32n);
  });

  it.each([
    [{ ...ORIGINAL, jitter: { minDelayMs: 6, maxDelayMs: 5 } }, "jg.yml: jitter.minDelayMs: 6 is more than jitter.maxDelayMs 5"],
    [{ ...ORIGINAL, match: { percent: 101 } }, "jg.yml: match.percent: 101 is out of range (0..100)"],
    [{ ...ORIGINAL, match: { percent: -1 } }, "jg.yml: match.percent: -1 is out of range (0..100)"],
    [{ ...ORIGINAL, action: "delay" }, "jg.yml: action: expected drop or jitter or reorder or pass, not 'delay'"],
    [{ ...ORIGINAL, match: { protocol: "icmp" } }, "jg.yml: match.protocol: expected ip or tcp or udp, not 'icmp'"],
    [{ ...ORIGINAL, match: { protocol: "udp", port: 70000 } }, "jg.yml: match.port: 70000 is out of range (1..65535)"],
    [{ ...ORIGINAL, match: { port: 80 } }, "jg.yml: match.port: ports need match.protocol tcp or udp"],
    [{ ...ORIGINAL, outIf: "a/b" }, "jg.yml: outIf: 'a/b' is not an interface name"],
    [{ ...ORIGINAL, engine: "netem" }, "jg.yml: engine: expected auto or edt or recirculate or userspace, not 'netem'"],
    [{ ...ORIGINAL, colour: 1 }, "jg.yml: unknown key 'colour'"],
    [{ outIf: "eth1", action: "jitter" }, "jg.yml: jitter: missing (action jitter needs minDelayMs and maxDelayMs)"],
    [{ outIf: "eth1", action: "reorder" }, "jg.yml: reorder: missing (action reorder needs delayMs)"],
    [{ outIf: "eth1" }, "jg.yml: action: missing (give action, or a rules list)"],
    [{ action: "drop" }, "jg.yml: outIf: missing"],
    [{ ...ORIGINAL, horizonMs: 3 }, "jg.yml: horizonMs: 3 is below the 5 ms delay of action"],
    [{ outIf: "e", rules: [{ action: "drop", match: { src: "10.0.0.1/8" } }] }, "jg.yml: rules[0].match.src: '10.0.0.1/8' has host bits set"],
    [{ outIf: "e", rules: [{ action: "drop", match: { src: "10.0.0.0/8", dst: "fd00::/8" } }] }, "jg.yml: rules[0].match.dst: fd00::/8 is ipv6"],
    [{ outIf: "e", rules: [{ action: "jitter", jitter: { minDelayMs: 1, maxDelayMs: 2 }, loss: { p: 1 } }] }, "jg.yml: rules[0].loss: applies to action drop, not jitter"],
    [{ outIf: "e", rules: [{ action: "drop", loss: { model: "gilbert-elliott", p: 1, r: 0 } }] }, "jg.yml: rules[0].loss.r: 0 never leaves the bad state"],
    [{ outIf: "e", rules: [{ action: "pass", rate: "fast" }] }, "jg.yml: rules[0].rate: expected a rate like 10mbit"],
    [{ outIf: "e", rules: Array.from({ length: 17 }, () => ({ action: "drop" })) }, "jg.yml: rules: 17 entries is more than the capacity of 16"],
  ])("rejects %j with one line naming the key", (doc, message) => {
    expect(() => parse(doc)).toThrow(message);
    try {
      parse(doc);
    } catch (e) {
      expect((e as Error).message).not.toContain("\n");
    }
  });
});
