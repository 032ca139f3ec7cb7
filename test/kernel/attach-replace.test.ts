/**
 * Replacing programs in the real kernel: an XDP program swapped for another on a live interface
 * (bpf_link and netlink), and freplace/fentry targets found in a loaded program's BTF (loaded and
 * attached where the kernel has BPF trampolines, NotSupportedError where its build refuses them).
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { AttachType, ProgramType } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { attachXdp } from "../../src/runtime/attach-xdp.js";
import { attachTracing } from "../../src/runtime/attach-trace.js";
import { Collection, attachFreplace, targetFunctionBtfId, type TargetProgram } from "../../src/runtime/collection.js";
import { probeTrampoline } from "../../src/runtime/probe.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { openFdCount } from "../../src/runtime/fd.js";
import { btfById } from "../../src/runtime/kernel-objects-btf.js";
import { ResolveError } from "../../src/runtime/link-program.js";
import { Program } from "../../src/runtime/program.js";
import { ifindex, withNetns } from "../../src/syscall/netns.js";
import { xdpAttach, xdpQuery } from "../../src/syscall/rtnetlink.js";
import { describeKernel, udpReaches, useTopology } from "../helpers/kernel.js";

const fixture = (name: string) => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));
const xdpProgram = (name: string, verdict: number) =>
  Program.load({ name, type: ProgramType.XDP, instructions: asm.encode([asm.mov64Imm(asm.R0, verdict), asm.exit()]), license: "GPL" });
const XDP_DROP = 1;
const XDP_PASS = 2;

describeKernel("XDP replace on a live interface", () => {
  const topology = useTopology();
  let port = 43000;

  for (const netlink of [false, true]) {
    for (const mode of ["generic", "native"] as const) {
      it(`a drop program replaced by a pass program: traffic flows, the interface reports the new program (${netlink ? "netlink" : "bpf_link"}, ${mode})`, () => {
        const { a, b } = topology();
        using drop = xdpProgram("rep_drop", XDP_DROP);
        using pass = xdpProgram("rep_pass", XDP_PASS);
        const index = withNetns(b.ns.path, () => ifindex(b.ifname));
        const attachedId = () => withNetns(b.ns.path, () => xdpQuery(index).progId);
        const att = withNetns(b.ns.path, () => attachXdp(drop, index, { mode, netlink }));
        try {
          expect(att.via).toBe(netlink ? "netlink" : "link");
          expect(att.link === undefined).toBe(netlink);
          expect(attachedId()).toBe(drop.info().id);
          expect(udpReaches(a.ns, b.ns, b.ipv4, ++port, 800)).toBe(false);

          att.replace(pass); // from outside the namespace: the attachment knows where it belongs
          expect(attachedId()).toBe(pass.info().id);
          expect(att.program).toBe(pass);
          expect(att.description).toMatch(/"rep_pass"/);
          if (!netlink) expect(att.link?.info().programId).toBe(pass.info().id);
          expect(udpReaches(a.ns, b.ns, b.ipv4, ++port)).toBe(true);

          att.replace(drop); // and back
          expect(attachedId()).toBe(drop.info().id);
          expect(udpReaches(a.ns, b.ns, b.ipv4, ++port, 800)).toBe(false);
        } finally {
          att.close();
        }
        expect(attachedId()).toBeUndefined();
        expect(udpReaches(a.ns, b.ns, b.ipv4, ++port)).toBe(true);
      });
    }
  }

  it("netlink replace is a compare-and-swap: a program attached by someone else meanwhile is not replaced", () => {
    const { b } = topology();
    using drop = xdpProgram("rep_drop", XDP_DROP);
    using pass = xdpProgram("rep_pass", XDP_PASS);
    using other = xdpProgram("rep_other", XDP_PASS);
    const index = withNetns(b.ns.path, () => ifindex(b.ifname));
    const att = withNetns(b.ns.path, () => attachXdp(drop, index, { mode: "generic", netlink: true }));
    try {
      withNetns(b.ns.path, () => xdpAttach(index, other.fd, { mode: "generic", replace: true }));
      expect(() => att.replace(pass)).toThrow(/EEXIST/);
      expect(withNetns(b.ns.path, () => xdpQuery(index).progId)).toBe(other.info().id);
      expect(att.program).toBe(drop);
    } finally {
      att.close();
    }
  });
});

describeKernel("freplace and fentry targets in a loaded program's BTF", () => {
  it("finds a global subprogram of a real program by name; static and foreign functions are refused", () => {
    // "second" calls global_add (global), which calls square (static).
    using c = Collection.load(fixture("subprogs"), { programs: ["second"] });
    const target = c.program("second");
    const info = target.info();
    expect(info.btfId).toBeGreaterThan(0);
    const btf = btfById(info.btfId).btf;
    const id = targetFunctionBtfId(target.fd, "global_add", { replace: true });
    expect(btf.type(id)).toMatchObject({ kind: "func", name: "global_add", linkage: "global" });
    expect(btf.type(targetFunctionBtfId(target.fd, "second"))).toMatchObject({ kind: "func", name: "second" });
    expect(btf.type(targetFunctionBtfId(target.fd, "square"))).toMatchObject({ kind: "func", name: "square", linkage: "static" }); // fentry may trace it
    expect(() => targetFunctionBtfId(target.fd, "square", { replace: true })).toThrow(/square of target program "second" \(id \d+\) is static/);
    expect(() => targetFunctionBtfId(target.fd, "first")).toThrow(/function first is not part of target program "second"/);
    expect(() => targetFunctionBtfId(target.fd, "no_such_function")).toThrow(ResolveError);
  });

  // Trampolines are a property of the kernel build (this machine's refuses them with EPERM; the
  // Vagrantfile's kernel has them): the probe decides which branch runs, and both assert.
  it("freplace (by Program and by id) and fentry on a BPF program: replace and trace it where the kernel has trampolines, NotSupportedError naming the target where it refuses them; nothing leaked", () => {
    using c = Collection.load(fixture("subprogs"), { programs: ["second"] });
    const target = c.program("second");
    const targetId = target.info().id;
    // "second" returns global_add(len, 1) = len + 1 + len²; new_add replaces it with len * 1.
    const packet = Buffer.alloc(64);
    const original = 64 + 1 + 64 * 64;
    expect(target.testRun({ data: packet }).returnValue).toBe(original);
    const optional = fixture("optional");
    const fds = openFdCount();
    const replaceBy = (program: TargetProgram) => ({ programs: ["new_add"], attachTargets: { new_add: { program, function: "global_add" } } });
    const traceBy = { programs: ["on_second"], attachTargets: { on_second: { program: target, function: "second" } } };
    if (probeTrampoline("freplace").supported) {
      for (const by of [target, { id: targetId }]) {
        using ext = Collection.load(optional, replaceBy(by));
        using link = attachFreplace(ext.program("new_add"));
        expect(link.fd).toBeGreaterThan(0);
        expect(target.testRun({ data: packet }).returnValue, "replaced").toBe(64);
      }
      expect(target.testRun({ data: packet }).returnValue, "the link closed: the original again").toBe(original);
      using tracer = Collection.load(optional, traceBy);
      using _link = attachTracing(tracer.program("on_second"), AttachType.TRACE_FENTRY, 'program "second"');
      target.testRun({ data: packet, repeat: 3 });
      expect((tracer.map(".bss").lookup(Buffer.alloc(4)) as Buffer).readBigUInt64LE(16), "runs of second seen by fentry").toBeGreaterThanOrEqual(3n);
    } else {
      expect(probeTrampoline("freplace").reason).toBe("EPERM");
      const refused = (options: Parameters<typeof Collection.load>[1]) => {
        try {
          Collection.load(optional, options).close();
        } catch (e) {
          return e;
        }
        return undefined;
      };
      const byProgram = refused(replaceBy(target));
      expect(byProgram).toBeInstanceOf(NotSupportedError);
      expect((byProgram as Error).message).toMatch(/program "new_add" \(freplace\/global_add\) on function global_add of program "second": a program that needs a BPF trampoline is not supported here: this kernel refuses freplace programs \(BPF_PROG_LOAD: EPERM/);
      const byId = refused(replaceBy({ id: targetId }));
      expect((byId as Error).message).toMatch(new RegExp(`on function global_add of program id ${targetId}: `));
      const fentry = refused(traceBy);
      expect(fentry).toBeInstanceOf(NotSupportedError);
      expect((fentry as Error).message).toMatch(/program "on_second" \(fentry\/second\).*this kernel refuses fentry programs/);
      expect(target.testRun({ data: packet }).returnValue).toBe(original);
    }
    expect(openFdCount()).toBe(fds);
  });

  it("fentry and fexit on a kernel function: they fire where the kernel has trampolines, NotSupportedError where it refuses them", () => {
    const optional = fixture("optional");
    const fentry = probeTrampoline("fentry");
    if (fentry.supported) {
      using c = Collection.load(optional, { programs: ["on_test1", "after_test1"] });
      using _entry = attachTracing(c.program("on_test1"), AttachType.TRACE_FENTRY, "bpf_fentry_test1");
      using _exit = attachTracing(c.program("after_test1"), AttachType.TRACE_FEXIT, "bpf_fentry_test1");
      // BPF_PROG_TEST_RUN of a tracing program calls bpf_fentry_test1(1), which returns 2.
      c.program("on_test1").testRun();
      const bss = c.map(".bss").lookup(Buffer.alloc(4)) as Buffer;
      expect(bss.readBigUInt64LE(0), "fentry hits").toBeGreaterThanOrEqual(1n);
      expect(bss.readBigUInt64LE(8), "fexit saw the return value").toBe(2n);
    } else {
      expect(fentry.reason).toBe("EPERM");
      for (const name of ["on_test1", "after_test1"]) {
        expect(() => Collection.load(optional, { programs: [name] }), name).toThrow(NotSupportedError);
        expect(() => Collection.load(optional, { programs: [name] }), name).toThrow(new RegExp(`program "${name}" \\((fentry|fexit)/bpf_fentry_test1\\): a program that needs a BPF trampoline`));
      }
    }
  });

  it("attachFreplace refuses a program that is not an extension before asking the kernel", () => {
    using c = Collection.load(fixture("subprogs"), { programs: ["second"] });
    expect(() => attachFreplace(c.program("second"), { program: c.program("second"), function: "global_add" })).toThrow(/not an freplace \(EXT\) program/);
  });
});
