/** XDP attachments over bpf_link against a fake kernel: the attrs of attach and replace. */
import { afterEach, describe, expect, it } from "vitest";
import { AttachType, BpfCommand, Layouts, ProgramType } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { attachXdp } from "../../src/runtime/attach-xdp.js";
import { Program } from "../../src/runtime/program.js";
import { useKernel } from "../../src/syscall/index.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

/** Records LINK_UPDATE attrs; LINK_CREATE answers fd 300. */
class XdpKernel extends FakeKernel {
  readonly updates: DataView[] = [];
  override bpf(cmd: number, attr: Uint8Array): number {
    if (cmd === BpfCommand.LINK_UPDATE) this.updates.push(new DataView(Uint8Array.from(attr).buffer));
    const r = super.bpf(cmd, attr);
    return cmd === BpfCommand.LINK_CREATE ? 300 : r;
  }
}

let restore: (() => void) | undefined;
afterEach(() => restore?.());

const xdp = (name: string) => Program.load({ name, type: ProgramType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, 2), asm.exit()]), license: "GPL" });
const U = Layouts.AttrLinkUpdate.fields;
const C = Layouts.AttrLinkCreate.fields;

describe("XDP over bpf_link against a fake kernel", () => {
  it("attach: LINK_CREATE with the ifindex and mode flags; replace: LINK_UPDATE of that link with the new program", () => {
    const k = new XdpKernel();
    restore = useKernel(k);
    using first = xdp("first");
    using second = xdp("second");
    using att = attachXdp(first, 9, { mode: "generic" });
    const create = k.linkCreateAttrs[0] as DataView;
    expect([create.getUint32(C.prog_fd[0], true), create.getUint32(C.target_ifindex[0], true), create.getUint32(C.attach_type[0], true), create.getUint32(C.flags[0], true)]).toEqual([
      first.fd,
      9,
      AttachType.XDP,
      1 << 1,
    ]);
    expect(att.via).toBe("link");
    expect(att.link?.fd).toBe(300);
    att.replace(second);
    expect(k.updates.map((v) => [v.getUint32(U.link_fd[0], true), v.getUint32(U.new_prog_fd[0], true)])).toEqual([[300, second.fd]]);
    expect(att.program).toBe(second);
    expect(att.description).toBe('XDP program "second" on ifindex 9 (generic)');
  });

  it("a replace the kernel refuses leaves the attachment on the old program", () => {
    const k = new XdpKernel();
    restore = useKernel(k);
    using first = xdp("first");
    using second = xdp("second");
    using att = attachXdp(first, 9);
    k.fail.set("LINK_UPDATE", 22);
    expect(() => att.replace(second)).toThrow(/BPF_LINK_UPDATE XDP program "first" on ifindex 9: EINVAL/);
    expect(att.program).toBe(first);
  });
});
