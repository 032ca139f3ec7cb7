/** The loader against a fake kernel: error paths that a real kernel seldom shows on demand. */
import { readFileSync } from "node:fs";
import { ProgramType } from "../../src/abi/index.js";
import { clearProbeCache } from "../../src/runtime/probe.js";
import { itWith, vmlinuxMissing } from "../helpers/oracle.js";
import { describe, expect, it } from "vitest";
import { Btf } from "../../src/btf/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { NotFoundError } from "../../src/errors.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { VerifierError } from "../../src/runtime/verifier-error.js";
import { SyscallError } from "../../src/syscall/index.js";
import { installFakeKernel } from "../helpers/fake-kernel.js";

const spec = (name: string) => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));
// CO-RE and ksyms resolve against the object's own BTF here: no kernel BTF is read.
const own = (name: string) => ({ targetBtf: spec(name).btf as Btf });

const VMLINUX = "/sys/kernel/btf/vmlinux";

describe("loader against a fake kernel", () => {
  it("loads maps then programs, and closes everything on close()", () => {
    const k = installFakeKernel();
    const c = Collection.load(spec("subprogs"), own("subprogs"));
    expect(k.calls.filter((x) => x === "MAP_CREATE")).toHaveLength(2);
    expect(k.calls.filter((x) => x === "PROG_LOAD")).toHaveLength(3);
    expect(k.open.size).toBe(2 + 3 + 1); // maps, programs, object BTF
    c.close();
    expect(k.open.size).toBe(0);
  });

  it("EPERM: a SyscallError with the hint, and nothing left open", () => {
    const k = installFakeKernel();
    k.progLoad = () => ({ errno: 1 });
    let err: unknown;
    try {
      Collection.load(spec("subprogs"), own("subprogs"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).code).toBe("EPERM");
    expect((err as Error).message).toMatch(/^BPF_PROG_LOAD program "first": EPERM: needs root or CAP_BPF/);
    expect(k.open.size).toBe(0);
  });

  it("E2BIG: a SyscallError that says the program is too large", () => {
    const k = installFakeKernel();
    k.progLoad = () => ({ errno: 7 });
    expect(() => Collection.load(spec("legacy"), own("legacy"))).toThrow(/E2BIG: the program is too large/);
    expect(k.open.size).toBe(0);
  });

  it("EINVAL with a log: a VerifierError; the log buffer grows until the log fits", () => {
    const k = installFakeKernel();
    const log = `${"0: (b7) r0 = 0\n".repeat(200_000)}5: (85) call bpf_map_lookup_elem#1\nR1 type=ctx expected=map_ptr\nprocessed 6 insns\n`;
    k.progLoad = () => ({ errno: 22, log });
    let err: unknown;
    try {
      Collection.load(spec("legacy"), own("legacy"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerifierError);
    const v = err as VerifierError;
    expect(v.log.length).toBe(log.length);
    expect(v.summary).toMatchObject({ reason: "R1 type=ctx expected=map_ptr", instruction: "5: (85) call bpf_map_lookup_elem#1" });
    // First without a log, then with 1 MiB (too small: ENOSPC), then with enough.
    expect(k.progLoads.map((c) => c.logLevel)).toEqual([0, 1, 1]);
    expect(k.progLoads[2]?.logSize).toBeGreaterThan(log.length);
    expect(k.open.size).toBe(0);
  });

  it("a program, map or variable that is not there: NotFoundError listing what is", () => {
    installFakeKernel();
    using c = Collection.load(spec("subprogs"), own("subprogs"));
    expect(() => c.program("nope")).toThrow(NotFoundError);
    expect(() => c.program("nope")).toThrow('no program "nope" in this collection (there are: first, second, third)');
    expect(() => c.map("nope")).toThrow(/^no map "nope" in this collection \(there are: (?=.*progs)(?=.*sums)/);
    expect(() => Collection.load(spec("subprogs"), { ...own("subprogs"), programs: ["nope"] })).toThrow(/^no program "nope" in this object/);
    expect(() => Collection.load(spec("subprogs"), { ...own("subprogs"), maxEntries: { nope: 1 } })).toThrow(NotFoundError);
  });

  it("a map the kernel refuses: SyscallError naming the map", () => {
    const k = installFakeKernel();
    k.fail.set("MAP_CREATE", 22);
    expect(() => Collection.load(spec("legacy"), own("legacy"))).toThrow(/^BPF_MAP_CREATE map "legacy_hash": EINVAL/);
    expect(k.open.size).toBe(0);
  });

  itWith(vmlinuxMissing)("trampoline programs refused with EPERM while other programs load: NotSupportedError naming the kind", () => {
    clearProbeCache();
    const k = installFakeKernel();
    k.progLoad = (call) => (call.type === ProgramType.LSM || call.type === ProgramType.TRACING ? { errno: 1 } : {});
    const s = spec("sections");
    // The attach target (bpf_lsm_path_chroot) is looked up in the kernel's BTF.
    const targetBtf = new Btf(readFileSync(VMLINUX));
    expect(() => Collection.load(s, { targetBtf, programs: ["s_lsm"] })).toThrow(NotSupportedError);
    expect(() => Collection.load(s, { targetBtf, programs: ["s_lsm"] })).toThrow(/program "s_lsm" \(lsm\/path_chroot\): a program that needs a BPF trampoline is not supported here: this kernel refuses lsm programs/);
    expect(k.open.size).toBe(0);
    clearProbeCache();
  });

  itWith(vmlinuxMissing)("EPERM for every program (no privileges): the kernel's SyscallError with the capability hint, not NotSupportedError", () => {
    clearProbeCache();
    const k = installFakeKernel();
    k.progLoad = () => ({ errno: 1 });
    const targetBtf = new Btf(readFileSync(VMLINUX));
    let error: unknown;
    try {
      Collection.load(spec("sections"), { targetBtf, programs: ["s_lsm"] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as Error).message).toMatch(/BPF_PROG_LOAD program "s_lsm": EPERM: needs root or CAP_BPF/);
    expect(k.open.size).toBe(0);
    clearProbeCache();
  });
});
