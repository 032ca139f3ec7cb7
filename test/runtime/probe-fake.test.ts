/** Link-type probes against a fake kernel: the program they load, the attr they send, the errno they read. */
import { afterEach, describe, expect, it } from "vitest";
import { AttachType, BpfCommand, ProgramType } from "../../src/abi/index.js";
import { clearProbeCache, linkTypeSupported } from "../../src/runtime/probe.js";
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
