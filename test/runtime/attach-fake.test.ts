/** The attr each attach call builds, seen by a fake kernel (including kinds this machine refuses). */
import { afterEach, describe, expect, it } from "vitest";
import { AttachType, BpfCommand, MapType, ProgramType } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { attachTc, TCX_BEFORE } from "../../src/runtime/attach-tc.js";
import { attachRawTracepoint, attachTracing, readIterator } from "../../src/runtime/attach-trace.js";
import { attachSocketFilter } from "../../src/runtime/attach-net.js";
import { attachXdp } from "../../src/runtime/attach-xdp.js";
import { WrongTypeError } from "../../src/runtime/errors.js";
import { BpfMap } from "../../src/runtime/map.js";
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

function setup(type: number = ProgramType.TRACING): { k: RecordingKernel; prog: Program } {
  const k = new RecordingKernel();
  restore = useKernel(k as unknown as Kernel);
  const prog = Program.load({ name: "p", type, instructions: asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]), license: "GPL" });
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
    const { k, prog } = setup(ProgramType.SCHED_CLS);
    attachTc(prog, 7, "egress", { before: 42, expectedRevision: 3n }).close();
    const v = k.links[0] as DataView;
    expect([v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true), v.getUint32(16, true), v.getBigUint64(24, true)]).toEqual([7, AttachType.TCX_EGRESS, TCX_BEFORE, 42, 3n]);
    expect(() => attachTc(prog, 7, "egress", { before: 1, after: 2 })).toThrow(/before or after, not both/);
  });

  it("a map iterator's link carries the map fd in iter_info (union bpf_iter_link_info.map.map_fd)", () => {
    const { k, prog } = setup();
    const map = BpfMap.create({ name: "walked", type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4 });
    const info: number[] = [];
    const original = k.bpf.bind(k);
    k.bpf = (cmd: number, attr: Uint8Array) => {
      if (cmd === BpfCommand.LINK_CREATE) {
        const v = new DataView(attr.buffer, attr.byteOffset, attr.byteLength);
        const at = k.memoryAt(v.getBigUint64(16, true));
        info.push(v.getUint32(24, true), at ? new DataView(at.buffer, at.byteOffset).getUint32(0, true) : -1);
      }
      return original(cmd, attr);
    };
    expect(() => readIterator(prog, { map })).toThrow(); // the fake kernel has no ITER_CREATE
    expect(info).toEqual([4, map.fd]);
  });

  it("a program of the wrong type is refused before any system call, naming both types", () => {
    const { k, prog } = setup(ProgramType.TRACEPOINT);
    const calls = k.calls.length;
    expect(() => attachXdp(prog, 1)).toThrow(WrongTypeError);
    expect(() => attachXdp(prog, 1)).toThrow('attachXdp: program "p" is TRACEPOINT, not XDP');
    expect(() => attachTc(prog, 1, "ingress")).toThrow('attachTc: program "p" is TRACEPOINT, not SCHED_CLS or SCHED_ACT');
    expect(() => attachSocketFilter(prog, 3)).toThrow(/attachSocketFilter: program "p" is TRACEPOINT, not SOCKET_FILTER/);
    expect(() => readIterator(prog)).toThrow(/iterator: program "p" is TRACEPOINT, not TRACING/);
    expect(() => attachRawTracepoint(prog, "sched_switch")).toThrow(WrongTypeError);
    expect(k.calls.length).toBe(calls);
  });
});
