import { describe, expect, it } from "vitest";
import { formatBytes, formatSummary, statusJson, type LoadBalancerStatus } from "../../src/programs/loadbalancer/status.js";

const status: LoadBalancerStatus = {
  info: {
    listenInterface: "eth1",
    vips: ["10.0.0.100", "fd00::100"],
    protocol: "tcp",
    port: 80,
    mode: "generic",
    tableSize: 65537,
    backends: [
      { name: "web1", mac: "02:00:00:00:00:0b" },
      { name: "02:00:00:00:00:0c", mac: "02:00:00:00:00:0c" },
    ],
  },
  servicePackets: 12n,
  forwarded: 12n,
  unbalanceable: 0n,
  noBackend: 0n,
  samplesLost: 0n,
  backends: [
    { index: 0, name: "web1", mac: "02:00:00:00:00:0b", packets: 7n, bytes: 1234n, newFlows: 2n },
    { index: 1, name: "02:00:00:00:00:0c", mac: "02:00:00:00:00:0c", packets: 5n, bytes: 2n ** 60n, newFlows: 1n },
  ],
};

describe("loadbalancer status", () => {
  it("is one line: the service, then each backend", () => {
    expect(formatSummary(status)).toBe("eth1 10.0.0.100:80,[fd00::100]:80/tcp: 12 packets, 12 forwarded | web1 (02:00:00:00:00:0b) 7 pkts 1.2 kB 2 flows | 02:00:00:00:00:0c 5 pkts 1.2 EB 1 flows");
    expect(formatSummary({ ...status, unbalanceable: 3n, noBackend: 1n })).toMatch(/^eth1 .*: 12 packets, 12 forwarded, 3 unbalanceable, 1 without backend \| /);
    expect(formatSummary({ ...status, samplesLost: 4n })).toMatch(/^eth1 .*: 12 packets, 12 forwarded, 4 flow samples lost \| /);
  });

  it("prints bytes with SI units", () => {
    expect([0n, 999n, 1000n, 1_500_000n, 2_000_000_000n].map(formatBytes)).toEqual(["0 B", "999 B", "1.0 kB", "1.5 MB", "2.0 GB"]);
  });

  it("is JSON with numbers where they are exact and strings beyond", () => {
    const json = statusJson(status);
    expect(json).toMatchObject({ interface: "eth1", vips: ["10.0.0.100", "fd00::100"], port: 80, protocol: "tcp", mode: "generic", service_packets: 12, forwarded: 12, samples_lost: 0 });
    expect(json.backends).toEqual([
      { index: 0, name: "web1", mac: "02:00:00:00:00:0b", packets: 7, bytes: 1234, new_flows: 2 },
      { index: 1, name: "02:00:00:00:00:0c", mac: "02:00:00:00:00:0c", packets: 5, bytes: (2n ** 60n).toString(), new_flows: 1 },
    ]);
    expect(() => JSON.stringify(json)).not.toThrow();
  });
});
