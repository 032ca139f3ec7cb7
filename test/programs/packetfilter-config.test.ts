import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/programs/common/config.js";
import { describeRules, parseConfig } from "../../src/programs/packetfilter/config.js";

const rejects = (yaml: string) => {
  try {
    parseConfig(yaml, "f.yml");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("accepted");
};

describe("packetfilter configuration", () => {
  it("reads the original keys, prefixes and hosts of both families", () => {
    const c = parseConfig(`
rules:
  interface: eth1
  ipv4:
    default: block
    allow: [10.1.2.3, 192.168.0.0/16]
    block: [10.0.0.0/8]
  ipv6:
    default: allow
    block: ["fd00::/64", "2001:db8::1"]
`);
    expect(c.interface).toBe("eth1");
    // Where the interface was named, for a later "no such device" (PacketFilter.start).
    expect(c.interfaceFrom).toBe("config: rules.interface");
    expect(parseConfig("rules:\n  interface: eth0\n", "pf.yml").interfaceFrom).toBe("pf.yml: rules.interface");
    expect(describeRules(c.ipv4)).toEqual({ default: "block", allow: ["10.1.2.3", "192.168.0.0/16"], block: ["10.0.0.0/8"] });
    expect(describeRules(c.ipv6)).toEqual({ default: "allow", allow: [], block: ["fd00::/64", "2001:db8::1"] });
    expect(c.ipv4.capacity).toBe(1_000_000);
    expect(c.warnings).toEqual([]);
  });

  it("a family left out allows everything; capacity is configurable", () => {
    const c = parseConfig("rules:\n  interface: eth0\n  ipv6:\n    capacity: 2\n    block: ['::1', 'fe80::/10']\n");
    expect(c.ipv4).toEqual({ default: "allow", rules: [], capacity: 1_000_000 });
    expect(c.ipv6.capacity).toBe(2);
  });

  it("a prefix in both lists is blocked, with a warning", () => {
    const c = parseConfig("rules:\n  interface: eth0\n  ipv4:\n    allow: [10.0.0.0/8]\n    block: [10.0.0.0/8]\n");
    expect(describeRules(c.ipv4)).toEqual({ default: "allow", allow: [], block: ["10.0.0.0/8"] });
    expect(c.warnings).toEqual(["rules.ipv4: 10.0.0.0/8 is in both allow and block: it is blocked"]);
  });

  it("rejects bad input with one line naming the key and the value", () => {
    const base = "rules:\n  interface: eth0\n";
    expect(rejects("rules:\n  ipv4: {}\n")).toBe("f.yml: rules.interface: missing");
    expect(rejects("{}\n")).toBe("f.yml: rules: missing");
    expect(rejects("rule:\n  interface: eth0\n")).toBe("f.yml: unknown key 'rule' (expected rules)");
    expect(rejects(`${base}  ipv4:\n    default: maybe\n`)).toBe("f.yml: rules.ipv4.default: expected allow or block, not 'maybe'");
    expect(rejects(`${base}  ipv4:\n    allow: [10.0.0.256]\n`)).toBe("f.yml: rules.ipv4.allow[0]: '10.0.0.256' is not an IPv4 address or prefix");
    expect(rejects(`${base}  ipv4:\n    allow: ["fd00::1"]\n`)).toBe("f.yml: rules.ipv4.allow[0]: 'fd00::1' is an IPv6 address, not IPv4");
    expect(rejects(`${base}  ipv6:\n    block: [10.0.0.1]\n`)).toBe("f.yml: rules.ipv6.block[0]: '10.0.0.1' is an IPv4 address, not IPv6");
    expect(rejects(`${base}  ipv4:\n    block: [10.0.0.1/8]\n`)).toBe("f.yml: rules.ipv4.block[0]: '10.0.0.1/8' has host bits set (the prefix is 10.0.0.0/8)");
    expect(rejects(`${base}  ipv4:\n    block: [10.0.0.0/33]\n`)).toBe("f.yml: rules.ipv4.block[0]: '10.0.0.0/33': prefix length must be 0..32");
    expect(rejects(`${base}  ipv4:\n    block: [0.0.0.0/0]\n`)).toBe("f.yml: rules.ipv4.block[0]: '0.0.0.0/0' matches every address: set rules.ipv4.default: block instead");
    expect(rejects(`${base}  ipv4:\n    block: [10.0.0.1, 10.0.0.1]\n`)).toBe("f.yml: rules.ipv4.block[1]: '10.0.0.1' is listed twice in rules.ipv4.block");
    expect(rejects(`${base}  ipv4:\n    block: 10.0.0.1\n`)).toBe("f.yml: rules.ipv4.block: expected a list, not '10.0.0.1'");
    expect(rejects(`${base}  ipv4:\n    capacity: 1\n    block: [10.0.0.1, 10.0.0.2]\n`)).toBe("f.yml: rules.ipv4.capacity: 2 rules do not fit in a capacity of 1");
    expect(rejects(`${base}  ipv4:\n    capacity: 0\n`)).toBe("f.yml: rules.ipv4.capacity: 0 is out of range (1..16777216)");
    expect(rejects(`${base}  ipv6:\n    allow: [1]\n`)).toBe("f.yml: rules.ipv6.allow[0]: '1' is not an IPv6 address or prefix");
    expect(rejects("rules:\n  interface: a/b\n")).toBe("f.yml: rules.interface: 'a/b' is not an interface name");
    expect(rejects("rules:\n  interface: averyveryverylongname\n")).toBe("f.yml: rules.interface: 'averyveryverylongname' is not an interface name");
    expect(rejects("rules:\n  interface: eth0\n  interface: eth1\n")).toBe("f.yml:3:3: Map keys must be unique");
    expect(rejects("rules: [\n")).toMatch(/^f\.yml:\d+:\d+: /);
  });
});
