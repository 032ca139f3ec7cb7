import { describe, expect, it } from "vitest";
import { AttachType, ProgramType } from "../../src/abi/index.js";
import { classifySection } from "../../src/elf/section-names.js";

describe("section names", () => {
  const cases: [string, keyof typeof ProgramType, keyof typeof AttachType | undefined, string][] = [
    ["socket", "SOCKET_FILTER", undefined, ""],
    ["xdp", "XDP", "XDP", ""],
    ["xdp.frags", "XDP", "XDP", ""],
    ["xdp/devmap", "XDP", "XDP_DEVMAP", ""],
    ["tc", "SCHED_CLS", undefined, ""],
    ["tc/ingress", "SCHED_CLS", "TCX_INGRESS", ""],
    ["tcx/egress", "SCHED_CLS", "TCX_EGRESS", ""],
    ["tracepoint/sock/inet_sock_set_state", "TRACEPOINT", undefined, "sock/inet_sock_set_state"],
    ["tp/syscalls/sys_enter_chroot", "TRACEPOINT", undefined, "syscalls/sys_enter_chroot"],
    ["raw_tp/sched_switch", "RAW_TRACEPOINT", undefined, "sched_switch"],
    ["tp_btf/sched_switch", "TRACING", "TRACE_RAW_TP", "sched_switch"],
    ["kprobe/do_unlinkat", "KPROBE", undefined, "do_unlinkat"],
    ["kretprobe", "KPROBE", undefined, ""],
    ["uprobe//bin/true:main", "KPROBE", undefined, "/bin/true:main"],
    ["fentry/do_unlinkat", "TRACING", "TRACE_FENTRY", "do_unlinkat"],
    ["fmod_ret/security_path_chroot", "TRACING", "MODIFY_RETURN", "security_path_chroot"],
    ["lsm/path_chroot", "LSM", "LSM_MAC", "path_chroot"],
    ["lsm.s/path_chroot", "LSM", "LSM_MAC", "path_chroot"],
    ["iter/task", "TRACING", "TRACE_ITER", "task"],
    ["cgroup_skb/ingress", "CGROUP_SKB", "CGROUP_INET_INGRESS", ""],
    ["cgroup/connect4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT", ""],
    ["cgroup/sock", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE", ""],
    ["sk_lookup", "SK_LOOKUP", "SK_LOOKUP", ""],
    ["freplace/some_func", "EXT", undefined, "some_func"],
    ["struct_ops/dummy", "STRUCT_OPS", undefined, "dummy"],
    ["syscall", "SYSCALL", undefined, ""],
    // cilium/ebpf's convention
    ["xdp/my_filter", "XDP", "XDP", ""],
    ["socket/1", "SOCKET_FILTER", undefined, ""],
    ["tc/my_classifier", "SCHED_CLS", undefined, ""],
  ];
  for (const [name, type, attach, target] of cases) {
    it(`classifies ${name}`, () => {
      const k = classifySection(name);
      expect(k?.programTypeName).toBe(type);
      expect(k?.programType).toBe(ProgramType[type]);
      expect(k?.attachTypeName).toBe(attach);
      expect(k?.attachTarget).toBe(target);
      expect(k?.autoload).toBe(true);
    });
  }

  it("strips the ? prefix and marks the program not loaded by default", () => {
    expect(classifySection("?tc")).toMatchObject({ programTypeName: "SCHED_CLS", autoload: false });
  });

  it("applies strict matching: no prefix match for entries without +", () => {
    expect(classifySection("xdpfoo")).toBeUndefined();
    expect(classifySection("sockets")).toBeUndefined();
    expect(classifySection("kprobefoo")).toBeUndefined();
    expect(classifySection(".text")).toBeUndefined();
    expect(classifySection("license")).toBeUndefined();
  });

  it("records flags: sleepable, xdp frags, BTF targets, return probes", () => {
    expect(classifySection("fentry.s/foo")).toMatchObject({ sleepable: true, btfTarget: true });
    expect(classifySection("xdp.frags")?.xdpFrags).toBe(true);
    expect(classifySection("kretprobe/foo")).toMatchObject({ ret: true, attach: "kprobe" });
  });
});
