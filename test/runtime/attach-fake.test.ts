/** The attr each attach call builds, seen by a fake kernel (including kinds this machine refuses). */
import { afterEach, describe, expect, it } from "vitest";
import { AttachType, BpfCommand } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { attachTc, TCX_BEFORE } from "../../src/runtime/attach-tc.js";
import { attachTracing } from "../../src/runtime/attach-trace.js";
import { Program } from "../../src/runtime/program.js";
import { useKernel, type Kernel } from "../../src/syscall/index.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

/** A fake kernel that records every LINK_CREATE attr. */
class RecordingKernel extends FakeKernel {
  readonly links: DataView[] = [];
  override bpf(cmd: number, attr: Uint8Array): number {
    if (cmd === BpfCommand.LINK_CREATE) this.links.push(new DataView(Uint8Array.from(attr).buffer));
    return cmd === BpfCommand.LINK_CREATE ? 200 + this.links.length : super.bpf(cmd, attr);
  }
}

let restore: (() => void) | undefined;
afterEach(() => restore?.());

function setup(): { k: RecordingKernel; prog: Program } {
  const k = new RecordingKernel();
  restore = useKernel(k as unknown as Kernel);
  const prog = Program.load({ name: "p", type: 26 /* TRACING */, instructions: asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]), license: "GPL" });
  return { k, prog };
}

describe("attach attrs", () => {
  it("fentry/fexit/LSM links carry the program and its attach type, target 0", () => {
    const { k, prog } = setup();
    for (const type of [AttachType.TRACE_FENTRY, AttachType.TRACE_FEXIT, AttachType.MODIFY_RETURN, AttachType.LSM_MAC]) attachTracing(prog, type, "x").close();
    expect(k.links.map((v) => [v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)])).toEqual([
      [prog.fd, 0, AttachType.TRACE_FENTRY],
      [prog.fd, 0, AttachType.TRACE_FEXIT],
      [prog.fd, 0, AttachType.MODIFY_RETURN],
      [prog.fd, 0, AttachType.LSM_MAC],
    ]);
  });

  it("TCX ordering: before a program, with an expected revision", () => {
    const { k, prog } = setup();
    attachTc(prog, 7, "egress", { before: 42, expectedRevision: 3n }).close();
    const v = k.links[0] as DataView;
    expect([v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true), v.getUint32(16, true), v.getBigUint64(24, true)]).toEqual([7, AttachType.TCX_EGRESS, TCX_BEFORE, 42, 3n]);
    expect(() => attachTc(prog, 7, "egress", { before: 1, after: 2 })).toThrow(/before or after, not both/);
  });
});
