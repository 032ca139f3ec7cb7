/**
 * Kernel functions that live in modules: a kfunc (or a ksym used as a value) that vmlinux's BTF
 * lacks is looked for in each loaded module's BTF, as libbpf does. A program that uses one is
 * loaded with an fd of that module's BTF object: in the `ld_imm64`'s second half for a value, at
 * an index of the program's fd_array (given in the call's `off`) for a call.
 */
import { HOST_ORDER } from "../asm/index.js";
import { kernel, nextId, fdById } from "../syscall/index.js";
import { btfById, type KernelBtfObject } from "./kernel-objects-btf.js";

/** A function found in a module's BTF. */
export interface ModuleFunction {
  /** The module's BTF object id (`bpftool btf list`). */
  readonly btfObjectId: number;
  readonly module: string;
  /** The FUNC's id in the module's (split) BTF. */
  readonly typeId: number;
}

let modules: KernelBtfObject[] | undefined;

/** The BTF of every loaded module (read once per process; clearModuleBtfCache forgets it). */
export function moduleBtfObjects(): KernelBtfObject[] {
  if (modules) return modules;
  const found: KernelBtfObject[] = [];
  for (let id = nextId("BTF", 0); id !== undefined; id = nextId("BTF", id)) {
    let object: KernelBtfObject;
    try {
      object = btfById(id);
    } catch {
      continue; // unloaded meanwhile, or BTF this process cannot read: not a module's
    }
    if (object.kernel && object.name !== "vmlinux") found.push(object);
  }
  modules = found;
  return found;
}

/** Forgets the modules read (a module loaded or unloaded since). */
export const clearModuleBtfCache = (): void => {
  modules = undefined;
};

/** The function of this name in a module's BTF, or undefined. */
export function findModuleFunction(name: string): ModuleFunction | undefined {
  for (const m of moduleBtfObjects()) {
    const typeId = m.btf.idsByName(name).find((id) => m.btf.kindOf(id) === "func");
    if (typeId !== undefined) return { btfObjectId: m.id, module: m.name, typeId };
  }
  return undefined;
}

/**
 * The module BTF fds one program load needs: opened on first use, each at its fd_array index
 * (from 1: index 0 stands for vmlinux), closed by close().
 */
export class ModuleBtfFds {
  private readonly byId = new Map<number, { fd: number; index: number }>();

  /** An fd of the BTF object with this id and its index in fd_array. */
  fd(btfObjectId: number): { fd: number; index: number } {
    const known = this.byId.get(btfObjectId);
    if (known) return known;
    const entry = { fd: fdById("BTF", btfObjectId), index: this.byId.size + 1 };
    this.byId.set(btfObjectId, entry);
    return entry;
  }

  /** BPF_PROG_LOAD's fd_array (int32 fds by index, index 0 unused), or undefined when no module is used. */
  get fdArray(): Uint8Array | undefined {
    if (this.byId.size === 0) return undefined;
    const out = new Uint8Array((this.byId.size + 1) * 4);
    const view = new DataView(out.buffer);
    for (const { fd, index } of this.byId.values()) view.setInt32(index * 4, fd, HOST_ORDER === "little");
    return out;
  }

  close(): void {
    for (const { fd } of this.byId.values()) kernel().close(fd);
    this.byId.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
