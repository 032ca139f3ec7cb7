import { existsSync, readFileSync, readdirSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { expect, it } from "vitest";
import { LinkType } from "../../src/abi/index.js";
import { helperSupported, linkTypeSupported, mapTypeSupported, programTypeSupported } from "../../src/runtime/probe.js";
import { tsebpf } from "../cli/run.js";
import { describeKernel } from "../helpers/kernel.js";

/** The running kernel's configuration (an oracle independent of the probes), when it is exposed. */
function kernelConfig(): Map<string, string> | undefined {
  if (!existsSync("/proc/config.gz")) return undefined;
  const text = gunzipSync(readFileSync("/proc/config.gz")).toString("utf8");
  const config = new Map<string, string>();
  for (const line of text.split("\n")) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set) config.set(set[1] as string, set[2] as string);
  }
  return config;
}

const openFds = () => readdirSync("/proc/self/fd").length;

describeKernel("feature probes", () => {
  it("finds what this kernel (6.x) has", () => {
    for (const t of ["HASH", "ARRAY", "RINGBUF", "LPM_TRIE", "BLOOM_FILTER", "ARRAY_OF_MAPS", "TASK_STORAGE", "QUEUE"] as const) expect(mapTypeSupported(t), t).toBe(true);
    for (const t of ["XDP", "SCHED_CLS", "SOCKET_FILTER", "TRACEPOINT", "CGROUP_SKB", "SK_LOOKUP", "CGROUP_SOCK_ADDR"] as const) expect(programTypeSupported(t), t).toBe(true);
    expect(helperSupported("XDP", "bpf_ringbuf_output")).toBe(true);
    expect(helperSupported("TRACEPOINT", "bpf_get_current_pid_tgid")).toBe(true);
  });

  it("says no where the kernel says no", () => {
    expect(helperSupported("SOCKET_FILTER", "bpf_xdp_adjust_head")).toBe(false);
    expect(helperSupported("XDP", "bpf_no_such_helper")).toBe(false);
  });

  it("link types this kernel makes (each probed with a real program and an impossible target)", () => {
    const fds = openFds();
    for (const t of ["XDP", "TCX", "CGROUP", "NETNS", "PERF_EVENT", "RAW_TRACEPOINT", "ITER", "UPROBE_MULTI", "NETFILTER", "SOCKMAP"] as const) {
      expect(linkTypeSupported(t), t).toBe(true);
    }
    // Programs, BTF and struct_ops maps of the probes are closed (a leak would be one per type).
    expect(openFds()).toBeLessThanOrEqual(fds + 2);
  });

  it("link types this kernel lacks are a no, as its configuration says", () => {
    const config = kernelConfig();
    if (!config) return; // no oracle here; the CI kernel exposes /proc/config.gz
    // netkit devices and fprobe (kprobe_multi's base) are configuration options.
    expect(linkTypeSupported("NETKIT"), "NETKIT").toBe(config.get("CONFIG_NETKIT") === "y");
    expect(linkTypeSupported("KPROBE_MULTI"), "KPROBE_MULTI").toBe(config.get("CONFIG_FPROBE") === "y");
    // The CI kernel has neither (kernel-facts.md): at least one "no" is asserted there.
    const answers = Object.keys(LinkType).filter((t) => t !== "UNSPEC").map((t) => linkTypeSupported(t as keyof typeof LinkType));
    expect(answers).toContain(false);
    expect(answers).toContain(true);
  });

  it("tsebpf probe prints the same answers", async () => {
    const r = await tsebpf("probe", "--json");
    expect(r.code).toBe(0);
    const links = (JSON.parse(r.stdout) as { link_types: Record<string, boolean> }).link_types;
    for (const t of Object.keys(LinkType).filter((t) => t !== "UNSPEC")) expect(links[t.toLowerCase()], t).toBe(linkTypeSupported(t as keyof typeof LinkType));
  });

  it("caches answers per process", () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) mapTypeSupported("RINGBUF");
    expect(Number(process.hrtime.bigint() - t0)).toBeLessThan(50e6);
  });
});
