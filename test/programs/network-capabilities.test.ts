/**
 * The capability checks of the XDP and TC programs (packetfilter, loadbalancer, jittergen): the
 * effective set → nothing, or one line naming what is missing. CAP_SYS_ADMIN stands in for CAP_BPF
 * (bpf_capable), never for CAP_NET_ADMIN.
 */
import { describe, expect, it } from "vitest";
import { CAPABILITIES, MissingCapabilityError, NETWORK_PROGRAM_CAPABILITIES, type Capability } from "../../src/programs/common/capabilities.js";
import { requireJittergenCapabilities } from "../../src/programs/jittergen/cli.js";
import { requireBalancerCapabilities } from "../../src/programs/loadbalancer/index.js";
import { requireFilterCapabilities } from "../../src/programs/packetfilter/index.js";

const set = (...caps: Capability[]) => caps.reduce((s, c) => s | (1n << BigInt(CAPABILITIES[c])), 0n);

const programs: [string, (effective?: bigint) => void, string][] = [
  ["packetfilter", requireFilterCapabilities, "filtering packets with XDP"],
  ["loadbalancer", requireBalancerCapabilities, "balancing with XDP"],
  ["jittergen", requireJittergenCapabilities, "changing egress with TC"],
];

describe.each(programs)("%s capability check", (name, check, why) => {
  const line = (missing: string, them: "it" | "them") => `${name}: missing ${missing}: ${why} needs CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN stands in for CAP_BPF); run as root or grant ${them}`;
  const thrown = (effective: bigint): MissingCapabilityError => {
    try {
      check(effective);
    } catch (e) {
      expect(e).toBeInstanceOf(MissingCapabilityError);
      return e as MissingCapabilityError;
    }
    throw new Error("did not throw");
  };

  it("passes with CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN in place of CAP_BPF", () => {
    expect(NETWORK_PROGRAM_CAPABILITIES).toEqual(["CAP_BPF", "CAP_NET_ADMIN"]);
    expect(() => check(set("CAP_BPF", "CAP_NET_ADMIN"))).not.toThrow();
    expect(() => check(set("CAP_SYS_ADMIN", "CAP_NET_ADMIN"))).not.toThrow();
    expect(() => check(set("CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON", "CAP_SYS_ADMIN"))).not.toThrow();
  });

  it("names the one missing capability in one line", () => {
    const noNetAdmin = thrown(set("CAP_BPF", "CAP_PERFMON"));
    expect(noNetAdmin.message).toBe(line("CAP_NET_ADMIN", "it"));
    expect(noNetAdmin.missing).toEqual(["CAP_NET_ADMIN"]);
    // CAP_SYS_ADMIN does not stand in for CAP_NET_ADMIN.
    expect(thrown(set("CAP_SYS_ADMIN")).message).toBe(line("CAP_NET_ADMIN", "it"));
    const noBpf = thrown(set("CAP_NET_ADMIN", "CAP_PERFMON"));
    expect(noBpf.message).toBe(line("CAP_BPF", "it"));
    expect(noBpf.missing).toEqual(["CAP_BPF"]);
  });

  it("names both when both are missing", () => {
    const none = thrown(0n);
    expect(none.message).toBe(line("CAP_BPF and CAP_NET_ADMIN", "them"));
    expect(none.missing).toEqual(["CAP_BPF", "CAP_NET_ADMIN"]);
    expect(none.message).not.toContain("\n");
  });
});
