/** Socket options go through the kernel seam: a fake kernel sees every setsockopt. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as asm from "../../src/asm/index.js";
import { attachSocketFilter } from "../../src/runtime/attach-net.js";
import { Program } from "../../src/runtime/program.js";
import { SOL_SOCKET, SO_ATTACH_BPF, SO_DETACH_BPF, SyscallError, setSocketOptionInt } from "../../src/syscall/index.js";
import { FakeKernel, installKernel } from "../helpers/fake-kernel.js";

class SockoptKernel extends FakeKernel {
  readonly sockopts: [number, number, number, number][] = [];
  answer = 0;
  override setsockopt = (fd: number, level: number, option: number, value: Uint8Array) => {
    this.sockopts.push([fd, level, option, new DataView(value.buffer, value.byteOffset, value.byteLength).getInt32(0, true)]);
    return this.answer;
  };
}


describe("setsockopt through the seam", () => {
  it("SO_ATTACH_BPF / SO_DETACH_BPF of a socket filter reach the fake kernel", () => {
    const k = installKernel(new SockoptKernel());
    const prog = Program.load({ name: "filter", type: 1 /* SOCKET_FILTER */, instructions: asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]), license: "GPL" });
    const attachment = attachSocketFilter(prog, 7);
    attachment.close();
    attachment.close();
    expect(k.sockopts).toEqual([
      [7, SOL_SOCKET, SO_ATTACH_BPF, prog.fd],
      [7, SOL_SOCKET, SO_DETACH_BPF, 0],
    ]);
  });

  it("a failure is a SyscallError with the errno the fake returned", () => {
    const k = installKernel(new SockoptKernel());
    k.answer = -9; // EBADF
    let error: unknown;
    try {
      setSocketOptionInt(3, SOL_SOCKET, SO_ATTACH_BPF, 1, "SO_ATTACH_BPF on socket fd 3");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SyscallError);
    expect((error as SyscallError).code).toBe("EBADF");
    expect((error as SyscallError).message).toBe("setsockopt SO_ATTACH_BPF on socket fd 3: EBADF");
  });

  it("nothing outside kernel.ts calls libc directly", () => {
    const root = join(import.meta.dirname, "../../src");
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts") && !p.endsWith("syscall/kernel.ts") && !p.endsWith("syscall/ffi.ts") && /\blibc\(\)/.test(readFileSync(p, "utf8"))) offenders.push(p);
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});
