/** Link-type probes against a fake kernel: the program they load, the attr they send, the errno they read. */
import { afterEach, describe, expect, it } from "vitest";
import { AttachType, BpfCommand, ProgramType } from "../../src/abi/index.js";
import { MapType } from "../../src/abi/index.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { BpfMap } from "../../src/runtime/map.js";
import { clearProbeCache, linkTypeSupported, probeMapType, probeProgramType } from "../../src/runtime/probe.js";
import { SyscallError } from "../../src/syscall/index.js";
import { useKernel, type Kernel } from "../../src/syscall/index.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

/** Answers LINK_CREATE with `linkErrno` and records its attr and the program types loaded. */
class LinkProbeKernel extends FakeKernel {
  readonly links: DataView[] = [];
  linkErrno = 22;
  override bpf(cmd: number, attr: Uint8Array): number {
    if (cmd !== BpfCommand.LINK_CREATE) return super.bpf(cmd, attr);
    this.links.push(new DataView(Uint8Array.from(attr).buffer));
    return -this.linkErrno;
  }
}

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
  clearProbeCache();
});

function probe(type: Parameters<typeof linkTypeSupported>[0], linkErrno: number): { supported: boolean; k: LinkProbeKernel } {
  clearProbeCache();
  const k = new LinkProbeKernel();
  k.linkErrno = linkErrno;
  restore?.();
  restore = useKernel(k as unknown as Kernel);
  return { supported: linkTypeSupported(type), k };
}

describe("link type probes", () => {
  it("link a freshly loaded program of the right type, not a bad program fd", () => {
    const { k } = probe("CGROUP", 9);
    expect(k.progLoads.map((p) => p.type)).toEqual([ProgramType.CGROUP_SKB]);
    const v = k.links[0] as DataView;
    expect(v.getUint32(0, true)).toBeGreaterThanOrEqual(100); // the fake kernel's program fd
    expect([v.getUint32(4, true), v.getUint32(8, true)]).toEqual([0xffffffff, AttachType.CGROUP_INET_INGRESS]);
    expect(k.open.size).toBe(0); // the probe's program is closed again
  });

  it("map the link type's own errno to yes, EINVAL (and stubs' EOPNOTSUPP) to no", () => {
    expect(probe("CGROUP", 9).supported).toBe(true); // EBADF: the target fd was looked at
    expect(probe("CGROUP", 22).supported).toBe(false); // EINVAL: no such link for this program type
    expect(probe("TCX", 19).supported).toBe(true); // ENODEV: no interface 0
    expect(probe("TCX", 22).supported).toBe(false);
    expect(probe("NETKIT", 19).supported).toBe(true);
    expect(probe("NETKIT", 22).supported).toBe(false); // CONFIG_NETKIT=n
    expect(probe("KPROBE_MULTI", 14).supported).toBe(true); // EFAULT: the address list was read
    expect(probe("KPROBE_MULTI", 95).supported).toBe(false); // EOPNOTSUPP: no fprobe
    expect(probe("XDP", 95).supported).toBe(true); // the loopback driver has no offload
    expect(probe("XDP", 22).supported).toBe(false);
    // EBADF is no longer a yes for types whose own code never returns it.
    expect(probe("TCX", 9).supported).toBe(false);
  });

  it("a program the kernel refuses is a no, without asking for a link", () => {
    clearProbeCache();
    const k = new LinkProbeKernel();
    k.progLoad = () => ({ errno: 1 });
    restore = useKernel(k as unknown as Kernel);
    expect(linkTypeSupported("UPROBE_MULTI")).toBe(false);
    expect(k.links).toEqual([]);
  });

  it("the XDP probe asks for the loopback device in offload mode, nothing attachable", () => {
    const { k } = probe("XDP", 95);
    const v = k.links[0] as DataView;
    expect([v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)]).toEqual([1, AttachType.XDP, 8 /* XDP_FLAGS_HW_MODE */]);
  });
});

/** MAP_CREATE refuses the map types in `refused` with their errno; `everything` refuses every map. */
class MapProbeKernel extends FakeKernel {
  readonly refused = new Map<number, number>();
  everything = 0;
  override bpf(cmd: number, attr: Uint8Array): number {
    if (cmd !== BpfCommand.MAP_CREATE) return super.bpf(cmd, attr);
    const type = new DataView(attr.buffer, attr.byteOffset).getUint32(0, true);
    const errno = this.everything || this.refused.get(type);
    return errno ? -errno : super.bpf(cmd, attr);
  }
}

function withMapKernel(setup: (k: MapProbeKernel) => void): MapProbeKernel {
  clearProbeCache();
  const k = new MapProbeKernel();
  setup(k);
  restore?.();
  restore = useKernel(k as unknown as Kernel);
  return k;
}

describe("EPERM: a refused type or missing privileges", () => {
  it("answers are cached per process: asking again makes no system call", () => {
    const k = withMapKernel(() => undefined);
    expect(probeMapType("RINGBUF").supported).toBe(true);
    const calls = k.calls.length;
    for (let i = 0; i < 100; i++) probeMapType("RINGBUF");
    expect(k.calls.length).toBe(calls);
  });

  it("a type refused with EPERM while an array map is created is a 'no (EPERM)', not a throw", () => {
    withMapKernel((k) => k.refused.set(MapType.ARENA, 1));
    expect(probeMapType("ARENA")).toEqual({ supported: false, reason: "EPERM" });
    expect(probeMapType("HASH")).toEqual({ supported: true });
  });

  it("EPERM for every map: the probe throws once, naming the missing privilege", () => {
    withMapKernel((k) => (k.everything = 1));
    expect(() => probeMapType("ARENA")).toThrow(SyscallError);
    expect(() => probeMapType("HASH")).toThrow(/EPERM: probes need root or CAP_BPF/);
  });

  it("EPERM for one program type while a socket filter loads: 'no (EPERM)'; EPERM for all: a throw", () => {
    clearProbeCache();
    const k = new FakeKernel();
    k.progLoad = (call) => (call.type === 29 /* LSM */ ? { errno: 1 } : {});
    restore?.();
    restore = useKernel(k as unknown as Kernel);
    expect(probeProgramType("LSM")).toEqual({ supported: false, reason: "EPERM" });
    clearProbeCache();
    k.progLoad = () => ({ errno: 1 });
    expect(() => probeProgramType("XDP")).toThrow(/EPERM: probes need root or CAP_BPF/);
  });

  it("BpfMap.create: EPERM for a type the probe proves refused is NotSupportedError naming it; otherwise the kernel's EPERM stays", () => {
    withMapKernel((k) => k.refused.set(MapType.ARENA, 1));
    const arena = { name: "arena", type: MapType.ARENA, keySize: 0, valueSize: 0, maxEntries: 2, flags: 1 << 10 };
    expect(() => BpfMap.create(arena)).toThrow(NotSupportedError);
    expect(() => BpfMap.create(arena)).toThrow(/map "arena": BPF_MAP_TYPE_ARENA is not supported here: this kernel refuses arena maps \(BPF_MAP_CREATE: EPERM/);
    withMapKernel((k) => (k.everything = 1));
    let error: unknown;
    try {
      BpfMap.create(arena);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).message).toMatch(/BPF_MAP_CREATE map "arena": EPERM: needs root or CAP_BPF/);
  });
});
