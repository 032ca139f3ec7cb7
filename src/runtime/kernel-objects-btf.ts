/** BTF objects loaded in the kernel (vmlinux, modules, programs'), read back by id. */
import { Btf } from "../btf/index.js";
import { Struct, fdById, kernel, objInfo } from "../syscall/index.js";
import { kernelBtf } from "./kernel-btf.js";

export interface KernelBtfObject {
  readonly id: number;
  /** `vmlinux`, a module's name, or "" for BTF loaded with programs. */
  readonly name: string;
  /** True for the kernel's and modules' own BTF. */
  readonly kernel: boolean;
  readonly btf: Btf;
}

/** Reads the BTF object with this id (module BTF comes with vmlinux as its base). */
export function btfById(id: number): KernelBtfObject {
  const fd = fdById("BTF", id);
  try {
    const what = `btf id ${id}`;
    const probe = new Struct("BpfBtfInfo");
    const name = Buffer.alloc(64);
    probe.set("name", kernel().address(name)).set("name_len", name.byteLength);
    objInfo(fd, probe, what);
    const size = probe.getU32("btf_size");
    const data = Buffer.alloc(size);
    const info = new Struct("BpfBtfInfo");
    info.set("btf", kernel().address(data)).set("btf_size", size).set("name", kernel().address(name)).set("name_len", name.byteLength);
    objInfo(fd, info, what);
    const objectName = name.toString("utf8", 0, Math.max(0, name.indexOf(0)));
    const isKernel = info.getU32("kernel_btf") !== 0;
    // Module BTF is split BTF on top of vmlinux's.
    const btf = isKernel && objectName !== "vmlinux" ? new Btf(data, { base: kernelBtf() }) : new Btf(data);
    return { id, name: objectName, kernel: isKernel, btf };
  } finally {
    kernel().close(fd);
  }
}
