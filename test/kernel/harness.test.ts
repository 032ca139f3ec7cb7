import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { NetNs, createVethPair, describeKernel, ensurePseudoFilesystems, udpReaches, useTopology } from "../helpers/kernel.js";

describeKernel("kernel test harness", () => {
  const topology = useTopology();

  it("mounts bpffs and tracefs", () => {
    expect(ensurePseudoFilesystems().filter((m) => !m.startsWith("securityfs"))).toEqual([]);
    const mounts = readFileSync("/proc/self/mounts", "utf8");
    expect(mounts).toMatch(/ \/sys\/fs\/bpf bpf /);
    expect(mounts).toMatch(/ \/sys\/kernel\/tracing tracefs /);
  });

  it("joins two namespaces with a veth pair that carries IPv4 and IPv6", () => {
    const { a, b } = topology();
    expect(a.ns.ip("-o", "link", "show", a.ifname)).toContain("state UP");
    expect(udpReaches(a.ns, b.ns, b.ipv4, 40000)).toBe(true);
    expect(udpReaches(b.ns, a.ns, a.ipv6, 40001)).toBe(true);
    // With the link down nothing arrives: the probe does tell loss from delivery.
    a.ns.ip("link", "set", a.ifname, "down");
    expect(udpReaches(a.ns, b.ns, b.ipv4, 40002, 500)).toBe(false);
    a.ns.ip("link", "set", a.ifname, "up");
  });

  it("enters namespaces without hiding bpffs (nsenter, not ip netns exec)", () => {
    const { a } = topology();
    expect(a.ns.exec("cat", ["/proc/self/mounts"])).toMatch(/ \/sys\/fs\/bpf bpf /);
  });

  it("removes namespaces and their veth ends", () => {
    const x = NetNs.create();
    const y = NetNs.create();
    const pair = createVethPair(x, y);
    expect(existsSync(x.path)).toBe(true);
    x.remove();
    y.remove();
    expect(existsSync(x.path)).toBe(false);
    expect(existsSync(y.path)).toBe(false);
    // A veth pair dies with either namespace; nothing is left in the root namespace either.
    expect(spawnSync("ip", ["link", "show", pair.a.ifname]).status).not.toBe(0);
    expect(spawnSync("ip", ["link", "show", pair.b.ifname]).status).not.toBe(0);
  });
});
