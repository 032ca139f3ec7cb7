import { readFileSync, readdirSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { expect, it } from "vitest";
import { LinkType, MapType } from "../../src/abi/index.js";
import {
  helperSupported,
  linkTypeSupported,
  mapTypeSupported,
  probeIterator,
  probeLinkType,
  probeMapType,
  probeProgramType,
  probeTrampoline,
  programTypeSupported,
} from "../../src/runtime/probe.js";
import { tsebpf } from "../cli/run.js";
import { describeKernel } from "../helpers/kernel.js";
import { itWith, kernelConfigMissing } from "../helpers/oracle.js";

/** The running kernel's configuration: an oracle independent of the probes. */
function kernelConfig(): Map<string, string> {
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
  it("finds what every 6.x kernel with BPF has", () => {
    for (const t of ["HASH", "ARRAY", "RINGBUF", "LPM_TRIE", "BLOOM_FILTER", "ARRAY_OF_MAPS", "TASK_STORAGE", "QUEUE"] as const) expect(mapTypeSupported(t), t).toBe(true);
    for (const t of ["XDP", "SCHED_CLS", "SOCKET_FILTER", "TRACEPOINT", "CGROUP_SKB", "SK_LOOKUP", "CGROUP_SOCK_ADDR"] as const) expect(programTypeSupported(t), t).toBe(true);
    expect(helperSupported("XDP", "bpf_ringbuf_output")).toBe(true);
    expect(helperSupported("TRACEPOINT", "bpf_get_current_pid_tgid")).toBe(true);
    expect(probeIterator("task")).toEqual({ supported: true });
  });

  it("says no where the kernel says no, with the errno as the reason", () => {
    expect(helperSupported("SOCKET_FILTER", "bpf_xdp_adjust_head")).toBe(false);
    expect(helperSupported("XDP", "bpf_no_such_helper")).toBe(false);
    expect(probeIterator("tsebpf_no_such_target")).toEqual({ supported: false, reason: "no iterator tsebpf_no_such_target in this kernel's BTF" });
    // Every "no" names why; a refused type never throws (this process has the privileges).
    for (const t of Object.keys(MapType).filter((n) => n !== "UNSPEC") as (keyof typeof MapType)[]) {
      const a = probeMapType(t);
      if (!a.supported) expect(a.reason, t).toMatch(/^E[A-Z0-9]+$/);
    }
  });

  it("arena maps: created where the probe says yes, refused with EPERM (not a throw) where this build refuses them", () => {
    const a = probeMapType("ARENA");
    // Two kernel builds of 6.18 seen on this machine kind differ here: reason it out, don't assume.
    if (a.supported) expect(a.reason).toBeUndefined();
    else expect(["EPERM", "EINVAL"]).toContain(a.reason);
  });

  it("trampoline kinds and map-element iterators: each answer is a yes or an errno, and they agree with each other", () => {
    const fentry = probeTrampoline("fentry");
    // freplace rides on fentry's trampolines: the same answer.
    expect(probeTrampoline("freplace")).toEqual(fentry);
    // fexit and fentry share the trampoline code: a kernel has both or neither.
    expect(probeTrampoline("fexit").supported).toBe(fentry.supported);
    for (const k of ["fentry", "fexit", "fmod_ret", "lsm"] as const) {
      const a = probeTrampoline(k);
      if (!a.supported) expect(a.reason, k).toMatch(/^E[A-Z0-9]+$|^no kernel BTF function/);
    }
    // The TRACING link probe attaches fentry for real where trampolines exist.
    expect(linkTypeSupported("TRACING")).toBe(fentry.supported);
    for (const target of ["bpf_map_elem", "sockmap"]) {
      const a = probeIterator(target);
      if (!a.supported) expect(a.reason, target).toMatch(/^E[A-Z0-9]+$/);
    }
  });

  it("link types this kernel makes (each probed with a real program and an impossible target)", () => {
    const fds = openFds();
    for (const t of ["XDP", "TCX", "CGROUP", "NETNS", "PERF_EVENT", "RAW_TRACEPOINT", "ITER", "UPROBE_MULTI", "NETFILTER", "SOCKMAP"] as const) {
      expect(linkTypeSupported(t), t).toBe(true);
    }
    // Programs, BTF and struct_ops maps of the probes are closed (a leak would be one per type).
    expect(openFds()).toBeLessThanOrEqual(fds + 2);
  });

  itWith(kernelConfigMissing)("link types, trampolines and LSM programs follow the kernel's configuration", () => {
    const config = kernelConfig();
    const y = (option: string) => config.get(option) === "y";
    // netkit devices and fprobe (kprobe_multi's base) are configuration options.
    expect(linkTypeSupported("NETKIT"), "NETKIT").toBe(y("CONFIG_NETKIT"));
    expect(linkTypeSupported("KPROBE_MULTI"), "KPROBE_MULTI").toBe(y("CONFIG_FPROBE"));
    expect(probeLinkType("KPROBE_MULTI").reason).toBe(y("CONFIG_FPROBE") ? undefined : "EOPNOTSUPP");
    // Without BPF_JIT there are no trampolines; without BPF_LSM no LSM programs. The converse
    // need not hold (a build may refuse them by policy: EPERM), so only this direction is a rule.
    if (!y("CONFIG_BPF_JIT")) expect(probeTrampoline("fentry").supported).toBe(false);
    if (!y("CONFIG_BPF_LSM")) expect(probeTrampoline("lsm").supported).toBe(false);
    if (!y("CONFIG_BPF_LSM")) expect(probeProgramType("LSM").supported).toBe(false);
    const answers = Object.keys(LinkType).filter((t) => t !== "UNSPEC").map((t) => linkTypeSupported(t as keyof typeof LinkType));
    expect(answers).toContain(true);
  });

  it("tsebpf probe lists every type, exits 0 whatever the kernel lacks, and gives the errno of each no", async () => {
    const r = await tsebpf("probe", "--json");
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      map_types: Record<string, boolean>;
      link_types: Record<string, boolean>;
      trampolines: Record<string, boolean>;
      reasons: Record<string, Record<string, string>>;
    };
    for (const t of Object.keys(LinkType).filter((t) => t !== "UNSPEC")) expect(out.link_types[t.toLowerCase()], t).toBe(linkTypeSupported(t as keyof typeof LinkType));
    for (const t of Object.keys(MapType).filter((t) => t !== "UNSPEC") as (keyof typeof MapType)[]) {
      const a = probeMapType(t);
      expect(out.map_types[t.toLowerCase()], t).toBe(a.supported);
      expect(out.reasons.map_types?.[t.toLowerCase()], t).toBe(a.reason);
    }
    expect(out.trampolines.fentry).toBe(probeTrampoline("fentry").supported);
    const text = await tsebpf("probe");
    expect(text.code).toBe(0);
    const arena = probeMapType("ARENA");
    expect(text.stdout).toMatch(new RegExp(`^  arena +${arena.supported ? "yes" : `no \\(${arena.reason}\\)`}$`, "m"));
  });
});
