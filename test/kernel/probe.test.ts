import { expect, it } from "vitest";
import { helperSupported, linkTypeSupported, mapTypeSupported, programTypeSupported } from "../../src/runtime/probe.js";
import { describeKernel } from "../helpers/kernel.js";

describeKernel("feature probes", () => {
  it("finds what this kernel (6.x) has", () => {
    for (const t of ["HASH", "ARRAY", "RINGBUF", "LPM_TRIE", "BLOOM_FILTER", "ARRAY_OF_MAPS", "TASK_STORAGE", "QUEUE"] as const) expect(mapTypeSupported(t), t).toBe(true);
    for (const t of ["XDP", "SCHED_CLS", "SOCKET_FILTER", "TRACEPOINT", "CGROUP_SKB", "SK_LOOKUP", "CGROUP_SOCK_ADDR"] as const) expect(programTypeSupported(t), t).toBe(true);
    expect(helperSupported("XDP", "bpf_ringbuf_output")).toBe(true);
    expect(helperSupported("TRACEPOINT", "bpf_get_current_pid_tgid")).toBe(true);
    expect(linkTypeSupported("XDP")).toBe(true);
    expect(linkTypeSupported("TCX")).toBe(true);
  });

  it("says no where the kernel says no", () => {
    expect(helperSupported("SOCKET_FILTER", "bpf_xdp_adjust_head")).toBe(false);
    expect(helperSupported("XDP", "bpf_no_such_helper")).toBe(false);
  });

  it("caches answers per process", () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) mapTypeSupported("RINGBUF");
    expect(Number(process.hrtime.bigint() - t0)).toBeLessThan(50e6);
  });
});
