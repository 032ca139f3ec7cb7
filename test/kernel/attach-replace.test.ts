/**
 * Replacing programs in the real kernel: an XDP program swapped for another on a live interface
 * (bpf_link and netlink), and freplace/fentry targets found in a loaded program's BTF (the load
 * itself is refused here: this kernel has no BPF trampolines).
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { ProgramType } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { attachXdp } from "../../src/runtime/attach-xdp.js";
import { Collection, attachFreplace, targetFunctionBtfId } from "../../src/runtime/collection.js";
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

  it("an freplace (by Program and by id) or fentry program loaded against it: refused here with NotSupportedError naming the target, nothing leaked", () => {
    using c = Collection.load(fixture("subprogs"), { programs: ["second"] });
    const target = c.program("second");
    const targetId = target.info().id;
    const sections = fixture("sections");
    const fds = openFdCount();
    const refused = (options: Parameters<typeof Collection.load>[1]) => {
      try {
        Collection.load(sections, options).close();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const byProgram = refused({ programs: ["s_freplace"], attachTargets: { s_freplace: { program: target, function: "global_add" } } });
    expect(byProgram).toBeInstanceOf(NotSupportedError);
    expect((byProgram as Error).message).toMatch(/program "s_freplace" \(freplace\/some_func\) on function global_add of program "second": a program that needs a BPF trampoline/);
    const byId = refused({ programs: ["s_freplace"], attachTargets: { s_freplace: { program: { id: targetId }, function: "global_add" } } });
    expect((byId as Error).message).toMatch(new RegExp(`on function global_add of program id ${targetId}: `));
    expect(refused({ programs: ["s_fentry"], attachTargets: { s_fentry: { program: target, function: "second" } } })).toBeInstanceOf(NotSupportedError);
    expect(openFdCount()).toBe(fds);
  });

  it("attachFreplace refuses a program that is not an extension before asking the kernel", () => {
    using c = Collection.load(fixture("subprogs"), { programs: ["second"] });
    expect(() => attachFreplace(c.program("second"), { program: c.program("second"), function: "global_add" })).toThrow(/not an freplace \(EXT\) program/);
  });
});
