/**
 * Each program's mapping of its counters to metric families, on arbitrary counters (fast-check):
 * the exposition parses strictly and every value is the counter it stands for.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { writeExposition } from "../../src/programs/common/metrics.js";
import { formatPrefix } from "../../src/programs/common/net.js";
import { packetfilterMetrics } from "../../src/programs/packetfilter/metrics.js";
import { loadbalancerMetrics } from "../../src/programs/loadbalancer/metrics.js";
import { jittergenMetrics } from "../../src/programs/jittergen/metrics.js";
import { comtraceMetrics, ConnectionTotals, DURATION_BOUNDS } from "../../src/programs/comtrace/metrics.js";
import { lsmbpfMetrics } from "../../src/programs/lsmbpf/metrics.js";
import type { Connection } from "../../src/programs/comtrace/index.js";
import type { JittergenStatus } from "../../src/programs/jittergen/index.js";
import type { LoadBalancerStatus } from "../../src/programs/loadbalancer/status.js";
import type { Counters as PacketFilterCounters, RuleState } from "../../src/programs/packetfilter/index.js";
import { parseExposition, sampleValue } from "../helpers/exposition.js";
import { assertProperty } from "../helpers/property.js";

const count = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const small = fc.bigInt({ min: 0n, max: 1n << 40n });
const counter = fc.record({ packets: count, bytes: count });
const exact = (v: bigint) => Number(v); // the parser reads numbers: compare as numbers

describe("program metric families", () => {
  it("packetfilter: verdict rows, rule hits (each rule once) and rule counts", () => {
    const fam = fc.record({ passed: counter, dropped: counter, passedByDefault: counter, droppedByDefault: counter });
    const counters = fc.record({ ipv4: fam, ipv6: fam, notIp: counter, malformed: counter, samplesLost: counter });
    const rule4 = fc.record({ a: fc.nat(255), b: fc.nat(255), len: fc.constantFrom(8, 16, 24, 32), block: fc.boolean(), hits: count });
    assertProperty(
      fc.property(counters, fc.uniqueArray(rule4, { selector: (r) => `${r.a}.${r.b}/${r.len}`, maxLength: 20 }), (c: PacketFilterCounters, raw) => {
        const ipv4: RuleState[] = raw.map((r) => ({ prefix: { family: "ipv4", address: new Uint8Array([10, r.a, r.b, 0]), length: r.len }, action: r.block ? "block" : "allow", hits: r.hits }));
        const m = parseExposition(writeExposition(packetfilterMetrics(c, { ipv4, ipv6: () => [] })));
        expect(sampleValue(m, "tsebpf_packetfilter_packets_total", { family: "ipv4", verdict: "drop", reason: "default" })).toBe(exact(c.ipv4.droppedByDefault.packets));
        expect(sampleValue(m, "tsebpf_packetfilter_bytes_total", { family: "ipv6", verdict: "pass", reason: "rule" })).toBe(exact(c.ipv6.passed.bytes));
        expect(sampleValue(m, "tsebpf_packetfilter_packets_total", { family: "other", verdict: "pass", reason: "not_ip" })).toBe(exact(c.notIp.packets));
        for (const r of ipv4) expect(sampleValue(m, "tsebpf_packetfilter_rule_hits_total", { family: "ipv4", rule: formatPrefix(r.prefix), action: r.action })).toBe(exact(r.hits));
        expect(sampleValue(m, "tsebpf_packetfilter_rules", { family: "ipv4", action: "block" })).toBe(ipv4.filter((r) => r.action === "block").length);
        expect(sampleValue(m, "tsebpf_events_lost_total", { program: "packetfilter" })).toBe(exact(c.samplesLost.packets));
      }),
      { numRuns: 50 },
    );
  });

  it("loadbalancer: several instances, each series labelled with its interface", () => {
    const backend = fc.record({ packets: count, bytes: count, newFlows: count });
    const instance = fc.record({ servicePackets: count, forwarded: count, unbalanceable: count, noBackend: count, samplesLost: count, backends: fc.array(backend, { maxLength: 4 }) });
    assertProperty(
      fc.property(fc.array(instance, { minLength: 1, maxLength: 3 }), (raw) => {
        const all: LoadBalancerStatus[] = raw.map((r, i) => ({
          ...r,
          info: { listenInterface: `eth${i}`, vips: ["10.0.0.1"], protocol: "tcp", port: 80, mode: "generic", tableSize: 251, backends: [] },
          backends: r.backends.map((b, j) => ({ ...b, index: j, name: `b${j}`, mac: `02:00:00:00:00:0${j}` })),
        }));
        const m = parseExposition(writeExposition(loadbalancerMetrics(all)));
        all.forEach((s) => {
          const at = { interface: s.info.listenInterface };
          expect(sampleValue(m, "tsebpf_loadbalancer_packets_total", { ...at, outcome: "no_backend" })).toBe(exact(s.noBackend));
          for (const b of s.backends) expect(sampleValue(m, "tsebpf_loadbalancer_backend_flows_total", { ...at, backend: b.name, mac: b.mac })).toBe(exact(b.newFlows));
          expect(sampleValue(m, "tsebpf_loadbalancer_backends", at)).toBe(s.backends.length);
        });
      }),
      { numRuns: 50 },
    );
  });

  it("jittergen: per-rule counters and the delay histogram (cumulative log2 buckets, +Inf = delayed)", () => {
    const hist = fc.array(small, { minLength: 24, maxLength: 24 });
    const rule = fc.record({ matched: count, selected: count, dropped: count, reordered: count, duplicated: count, corrupted: count, overlimit: count, histogram: hist, meanDelayMs: fc.double({ min: 0, max: 1e4, noNaN: true }) });
    assertProperty(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 3 }), hist, (rules, late) => {
        const s: JittergenStatus = {
          outIf: "veth0",
          engine: "recirculate",
          packets: 1n,
          laps: 2n,
          released: late.reduce((a, b) => a + b, 0n),
          meanLateMs: 0.5,
          lateHistogram: late,
          handed: 0n,
          unheld: 0n,
          ringFull: 3n,
          holding: 0n,
          flushed: 0n,
          sendErrors: 0n,
          rules: rules.map((r, i) => ({ ...r, key: i === 0 ? "action" : `rules[${i - 1}]`, description: `rule ${i}`, delayed: r.histogram.reduce((a, b) => a + b, 0n) })),
        };
        const m = parseExposition(writeExposition(jittergenMetrics([s])));
        for (const r of s.rules) {
          const labels = { interface: "veth0", rule: r.key };
          expect(sampleValue(m, "tsebpf_jittergen_rule_matched_total", labels)).toBe(exact(r.matched));
          expect(sampleValue(m, "tsebpf_jittergen_delay_seconds_count", labels)).toBe(exact(r.delayed));
          expect(sampleValue(m, "tsebpf_jittergen_delay_seconds_bucket", { ...labels, le: "0.000004" })).toBe(exact((r.histogram[0] ?? 0n) + (r.histogram[1] ?? 0n)));
        }
        expect(sampleValue(m, "tsebpf_jittergen_release_lateness_seconds_count", { interface: "veth0" })).toBe(exact(s.released));
        expect(sampleValue(m, "tsebpf_events_lost_total", { interface: "veth0", program: "jittergen" })).toBe(3);
      }),
      { numRuns: 50 },
    );
  });

  it("comtrace: connection outcomes, and the lifetimes of the connections observed", () => {
    assertProperty(
      fc.property(fc.array(fc.double({ min: 0, max: 5e6, noNaN: true }), { maxLength: 30 }), fc.nat(), fc.nat(), (lifetimesMs, filtered, lost) => {
        const totals = new ConnectionTotals();
        for (const ms of lifetimesMs) totals.add({ ms, txBytes: 10, rxBytes: undefined } as unknown as Connection);
        const m = parseExposition(writeExposition(comtraceMetrics({ reported: lifetimesMs.length, filtered, lost, untracked: 0 }, totals)));
        expect(sampleValue(m, "tsebpf_comtrace_connections_total", { outcome: "filtered" })).toBe(filtered);
        expect(sampleValue(m, "tsebpf_comtrace_connection_duration_seconds_count")).toBe(lifetimesMs.length);
        for (const le of DURATION_BOUNDS) expect(sampleValue(m, "tsebpf_comtrace_connection_duration_seconds_bucket", { le: String(le) })).toBe(lifetimesMs.filter((ms) => ms / 1000 <= le).length);
        expect(sampleValue(m, "tsebpf_comtrace_bytes_total", { direction: "sent" })).toBe(10 * lifetimesMs.length);
        expect(sampleValue(m, "tsebpf_comtrace_bytes_total", { direction: "received" })).toBe(0);
        expect(sampleValue(m, "tsebpf_events_lost_total", { program: "comtrace" })).toBe(lost);
      }),
      { numRuns: 50 },
    );
  });

  it("lsmbpf: denials by engine, mode and action", () => {
    const n = fc.nat();
    assertProperty(
      fc.property(fc.record({ containerChroots: n, hostRoot: n, denied: n, killed: n, audited: n, killFailed: n, allowedByComm: n, allowedByCgroup: n, lost: n }), fc.constantFrom("lsm" as const, "signal" as const), fc.constantFrom("enforce" as const, "audit" as const), (k, engine, mode) => {
        const m = parseExposition(writeExposition(lsmbpfMetrics(k, engine, mode)));
        expect(sampleValue(m, "tsebpf_lsmbpf_denials_total", { engine, mode: "enforce", action: "kill_failed" })).toBe(k.killFailed);
        expect(sampleValue(m, "tsebpf_lsmbpf_denials_total", { engine, mode: "audit", action: "audited" })).toBe(k.audited);
        expect(sampleValue(m, "tsebpf_lsmbpf_allowed_total", { engine, by: "cgroup" })).toBe(k.allowedByCgroup);
        expect(sampleValue(m, "tsebpf_lsmbpf_guard_info", { engine, mode })).toBe(1);
      }),
      { numRuns: 50 },
    );
  });
});
