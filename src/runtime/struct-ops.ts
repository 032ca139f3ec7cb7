/**
 * struct_ops: kernel structs of function pointers (e.g. `tcp_congestion_ops`) filled with BPF
 * programs. Loading matches the object's struct to the kernel's by member name: each program is
 * loaded as BPF_PROG_TYPE_STRUCT_OPS with attach_btf_id = the kernel struct and
 * expected_attach_type = the index of the member it fills; the map is BPF_MAP_TYPE_STRUCT_OPS
 * whose value is the kernel's `bpf_struct_ops_<struct>`, built member by member: program fds at
 * the function pointers, the object's data copied by name. Registering writes the value (a
 * `.struct_ops` map registers right then) and, for a `.struct_ops.link` map, creates a
 * struct_ops link; closing the registration unregisters.
 */
import { AttachType, MapType } from "../abi/index.js";
import { sizeOf, skipModifiers, type Btf, type BtfComposite } from "../btf/index.js";
import type { CollectionSpec, StructOpsMapSpec, StructOpsMember } from "../elf/index.js";
import { isStructOpsMap } from "../elf/index.js";
import { Struct, SyscallError, bpfCall, objInfo, objectName } from "../syscall/index.js";
import { TsebpfError } from "../errors.js";
import { NotSupportedError } from "./errors.js";
import { Link, linkCreate, type Attachment } from "./link.js";
import { BpfMap } from "./map.js";

/** A struct_ops object the kernel cannot take as it is: names the map, the member and why. */
export class StructOpsError extends TsebpfError {
  override readonly name = "StructOpsError";
}

/** How a struct_ops program is loaded: against the kernel struct, at the member it fills. */
export interface StructOpsProgramTarget {
  /** Kernel BTF id of the struct (`tcp_congestion_ops`): the program's attach_btf_id. */
  readonly btfId: number;
  /** Index of the member in the kernel's struct: the program's expected_attach_type. */
  readonly memberIndex: number;
  readonly typeName: string;
  readonly member: string;
}

/** One member of the object's struct and where the kernel's struct has it. */
interface Fill {
  readonly member: StructOpsMember;
  readonly kernelOffset: number;
}

/** A struct_ops map laid out against the kernel's BTF, before anything is created. */
export interface StructOpsLayout {
  readonly spec: StructOpsMapSpec;
  /** Kernel BTF ids of the struct and of its `bpf_struct_ops_<struct>` value type. */
  readonly kernelTypeId: number;
  readonly valueTypeId: number;
  readonly valueSize: number;
  /** Offset of the struct in the value (the member of the value type whose type it is). */
  readonly dataOffset: number;
  readonly fills: readonly Fill[];
}

/** The layouts of the spec's struct_ops maps and the load target of each program they use. */
export interface StructOpsPlan {
  readonly maps: ReadonlyMap<string, StructOpsLayout>;
  readonly programs: ReadonlyMap<string, StructOpsProgramTarget>;
}

const isZero = (bytes: Uint8Array): boolean => bytes.every((b) => b === 0);

function kernelStruct(btf: Btf, name: string, what: string): { id: number; type: BtfComposite } {
  const id = btf.find(name, "struct");
  const type = id === undefined ? undefined : btf.type(id);
  if (id === undefined || type?.kind !== "struct") {
    throw new NotSupportedError(what, undefined, `this kernel's BTF has no struct ${name}`);
  }
  return { id, type };
}

/** Lays one struct_ops map out against the kernel BTF (pure: no system call). */
export function layoutStructOps(spec: StructOpsMapSpec, kernel: Btf): StructOpsLayout {
  const typeName = spec.structOps.typeName;
  const what = `struct_ops ${typeName} (map ${spec.name})`;
  const kstruct = kernelStruct(kernel, typeName, what);
  const value = kernelStruct(kernel, `bpf_struct_ops_${typeName}`, what);
  const holder = value.type.members.find((m) => skipModifiers(kernel, m.type) === kstruct.id);
  if (!holder) throw new StructOpsError(`${what}: bpf_struct_ops_${typeName} has no member of type struct ${typeName}`);
  const data = spec.data ?? new Uint8Array(spec.valueSize);
  const fills: Fill[] = [];
  for (const member of spec.structOps.members) {
    const bytes = data.subarray(member.offset, member.offset + member.size);
    if (member.name === "") {
      // Members are matched by name: an anonymous one can only be left empty.
      if (isZero(bytes)) continue;
      throw new StructOpsError(`map ${spec.name}: the anonymous member at offset ${member.offset} of struct ${typeName} holds data, but members are matched to the kernel's by name`);
    }
    const k = kstruct.type.members.find((m) => m.name === member.name);
    if (!k) {
      // A member this kernel's struct lacks: fine while the object leaves it empty.
      if (member.program === undefined && isZero(bytes)) continue;
      throw new StructOpsError(`map ${spec.name}: member ${member.name} of struct ${typeName} is not in this kernel's struct ${typeName}`);
    }
    if (k.bitSize !== 0 || k.bitOffset % 8 !== 0) throw new StructOpsError(`map ${spec.name}: member ${member.name} of struct ${typeName} is a bitfield in this kernel`);
    const ktype = kernel.type(skipModifiers(kernel, k.type));
    const kfunc = ktype?.kind === "ptr" && kernel.type(skipModifiers(kernel, ktype.type))?.kind === "func_proto";
    if (member.kind === "program") {
      if (!kfunc) throw new StructOpsError(`map ${spec.name}: member ${member.name} is a function pointer in the object but not in this kernel's struct ${typeName}`);
      if (member.program === undefined && !isZero(bytes)) throw new StructOpsError(`map ${spec.name}: member ${member.name} holds a value but names no program`);
    } else {
      if (kfunc) throw new StructOpsError(`map ${spec.name}: member ${member.name} is a function pointer in this kernel's struct ${typeName}, data in the object`);
      const ksize = sizeOf(kernel, k.type);
      if (ksize !== member.size) throw new StructOpsError(`map ${spec.name}: member ${member.name} is ${member.size} bytes in the object, ${ksize} in this kernel's struct ${typeName}`);
    }
    fills.push({ member, kernelOffset: k.bitOffset / 8 });
  }
  return { spec, kernelTypeId: kstruct.id, valueTypeId: value.id, valueSize: value.type.size, dataOffset: holder.bitOffset / 8, fills };
}

/** Layouts of every struct_ops map of the spec, and each program's load target (consistent across maps). */
export function planStructOps(spec: CollectionSpec, kernel: () => Btf): StructOpsPlan {
  const maps = new Map<string, StructOpsLayout>();
  const programs = new Map<string, StructOpsProgramTarget>();
  const structOpsMaps = [...spec.maps.values()].filter(isStructOpsMap);
  if (structOpsMaps.length === 0) return { maps, programs };
  const btf = kernel();
  for (const m of structOpsMaps) {
    const layout = layoutStructOps(m, btf);
    maps.set(m.name, layout);
    const kstruct = btf.type(layout.kernelTypeId) as BtfComposite;
    for (const f of layout.fills) {
      const program = f.member.program;
      if (program === undefined) continue;
      const target: StructOpsProgramTarget = { btfId: layout.kernelTypeId, memberIndex: kstruct.members.findIndex((x) => x.name === f.member.name), typeName: m.structOps.typeName, member: f.member.name };
      const seen = programs.get(program);
      if (seen && (seen.btfId !== target.btfId || seen.memberIndex !== target.memberIndex)) {
        throw new StructOpsError(`struct_ops program ${program} fills both ${seen.typeName}.${seen.member} and ${target.typeName}.${target.member}: a program loads for one member`);
      }
      programs.set(program, target);
    }
  }
  return { maps, programs };
}

/** The map's value: the kernel's `bpf_struct_ops_<struct>`, program fds at the function pointers. */
export function structOpsValue(layout: StructOpsLayout, programFd: (name: string) => number | undefined): Uint8Array {
  const value = new Uint8Array(layout.valueSize);
  const view = new DataView(value.buffer);
  const data = layout.spec.data ?? new Uint8Array(layout.spec.valueSize);
  for (const { member, kernelOffset } of layout.fills) {
    const at = layout.dataOffset + kernelOffset;
    if (member.kind === "data") {
      value.set(data.subarray(member.offset, member.offset + member.size), at);
      continue;
    }
    if (member.program === undefined) continue;
    const fd = programFd(member.program);
    if (fd === undefined) throw new StructOpsError(`map ${layout.spec.name}: program ${member.program} (member ${member.name}) was not loaded (a struct_ops map needs every program it names: list it in \`programs\`)`);
    view.setBigUint64(at, BigInt(fd), true);
  }
  return value;
}

/** Errnos that say the kernel refuses a struct_ops step itself (no trampolines, policy). */
const REFUSED = new Set(["EPERM", "EOPNOTSUPP", "ENOTSUPP"]);

/** BPF_MAP_CREATE of a struct_ops map: its value type is the kernel's, `btfFd` the object's BTF. */
export function createStructOpsMap(layout: StructOpsLayout, btfFd: number | undefined): BpfMap {
  const name = layout.spec.name;
  if (btfFd === undefined) throw new NotSupportedError(`struct_ops map ${name}`, undefined, "the kernel did not take the object's BTF, which a struct_ops map needs");
  const a = new Struct("AttrMapCreate");
  a.set("map_type", MapType.STRUCT_OPS).set("key_size", 4).set("value_size", layout.valueSize).set("max_entries", 1).set("map_flags", layout.spec.flags);
  a.setBytes("map_name", objectName(name)).set("btf_fd", btfFd).set("btf_vmlinux_value_type_id", layout.valueTypeId);
  let fd: number;
  try {
    fd = bpfCall("MAP_CREATE", a, a.end("map_extra"), `struct_ops map "${name}"`);
  } catch (e) {
    // Created after its programs loaded, so privileges are not what is missing.
    if (e instanceof SyscallError && REFUSED.has(e.code)) {
      throw new NotSupportedError(`struct_ops ${layout.spec.structOps.typeName} "${name}": creating its map`, undefined, `this kernel refuses it (${e.code})`);
    }
    throw e;
  }
  return BpfMap.fromFd(fd);
}


/** A struct_ops map of a loaded collection: its map and how to register it. */
export class StructOps {
  private registration: StructOpsRegistration | undefined;
  /** The value is written once: the kernel refuses a second write (EBUSY). */
  private written = false;

  constructor(
    readonly map: BpfMap,
    readonly layout: StructOpsLayout,
    private readonly value: Uint8Array,
  ) {}

  get name(): string {
    return this.layout.spec.name;
  }

  /** The kernel struct it fills (`tcp_congestion_ops`). */
  get typeName(): string {
    return this.layout.spec.structOps.typeName;
  }

  /** From `.struct_ops.link`: registered by a struct_ops link. */
  get link(): boolean {
    return this.layout.spec.structOps.link;
  }

  /** The current registration, if any. */
  get registered(): StructOpsRegistration | undefined {
    return this.registration && !this.registration.closed ? this.registration : undefined;
  }

  /** @internal What the collection unregisters when it closes: a registration made by register(). */
  get ownRegistration(): StructOpsRegistration | undefined {
    const r = this.registered;
    return r && !r.byAttachments ? r : undefined;
  }

  /**
   * Registers the struct with the kernel (a congestion control appears in
   * tcp_available_congestion_control): writes the map's value — which registers a `.struct_ops`
   * map — and for a `.struct_ops.link` map creates the struct_ops link. Close the registration
   * to unregister. NotSupportedError when this kernel refuses the step (naming it and the errno).
   */
  register(): StructOpsRegistration {
    return this.registerOwned(false);
  }

  /**
   * @internal register() for attachAll: the registration belongs to the Attachments (which
   * close it, or release it to the caller), so closing the collection leaves it alone.
   */
  registerOwned(byAttachments: boolean): StructOpsRegistration {
    if (this.registered) throw new StructOpsError(`struct_ops ${this.typeName} "${this.name}" is registered already`);
    if (!this.link) {
      if (this.written) throw new StructOpsError(`struct_ops ${this.typeName} "${this.name}" was registered and unregistered: a .struct_ops map registers once (load the object again)`);
      this.refusable("registering (the map update builds its BPF trampolines)", () => this.map.update(new Uint8Array(4), this.value));
      this.written = true;
      this.registration = new StructOpsRegistration(this, undefined, byAttachments);
      return this.registration;
    }
    this.prepareForLink();
    const link = this.refusable("registering through a struct_ops link", () =>
      linkCreate({ programFd: this.map.fd, target: 0, attachType: AttachType.STRUCT_OPS, description: `struct_ops ${this.typeName} "${this.name}"` }),
    );
    this.registration = new StructOpsRegistration(this, link, byAttachments);
    return this.registration;
  }

  /** Writes a `.struct_ops.link` map's value (once), which builds its trampolines but registers nothing. */
  prepareForLink(): void {
    if (!this.link) throw new StructOpsError(`struct_ops ${this.typeName} "${this.name}" is not a .struct_ops.link map`);
    if (this.written) return;
    this.refusable("writing its map value (which builds its BPF trampolines)", () => this.map.update(new Uint8Array(4), this.value));
    this.written = true;
  }

  private refusable<T>(step: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof SyscallError && REFUSED.has(e.code)) {
        throw new NotSupportedError(`struct_ops ${this.typeName} "${this.name}": ${step}`, undefined, `this kernel refuses it (${e.code})`);
      }
      if (e instanceof SyscallError && e.code === "EEXIST") {
        throw new StructOpsError(`struct_ops ${this.typeName} "${this.name}": the kernel has one of this name registered already (EEXIST)`, { cause: e });
      }
      throw e;
    }
  }

  close(): void {
    this.registration?.close();
    this.map.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A registered struct_ops: closing it unregisters (deletes the map's value, or closes the link). */
export class StructOpsRegistration implements Attachment {
  private isClosed = false;
  readonly description: string;

  constructor(
    private readonly ops: StructOps,
    /** The struct_ops link of a `.struct_ops.link` map. */
    readonly link: Link | undefined,
    /** @internal Made by attachAll: its Attachments close it (or release it to the caller). */
    readonly byAttachments = false,
  ) {
    this.description = `struct_ops ${ops.typeName} "${ops.name}"${link ? " (link)" : ""}`;
    if (link) this.pin = (path: string) => link.pin(path);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Pins the struct_ops link: the struct stays registered until the pin is removed. Present only
   * for a `.struct_ops.link` map's registration (a `.struct_ops` one has no link to pin).
   */
  readonly pin?: (path: string) => void;

  /** Id of the map the struct_ops link registers now (it changes with `update`). */
  mapId(): number {
    if (!this.link) return this.ops.map.info().id;
    const info = new Struct("BpfLinkInfo");
    objInfo(this.link.fd, info, this.description);
    return info.getU32("struct_ops.map_id");
  }

  /**
   * Swaps in another `.struct_ops.link` map of the same struct (BPF_LINK_UPDATE with map fds),
   * its value written first: the kernel replaces the registered struct in place.
   */
  update(next: StructOps): void {
    if (!this.link) throw new StructOpsError(`${this.description}: only a .struct_ops.link map's registration can be updated`);
    if (!next.link) throw new StructOpsError(`${this.description}: map "${next.name}" is not a .struct_ops.link map`);
    next.prepareForLink();
    const a = new Struct("AttrLinkUpdate");
    a.set("link_fd", this.link.fd).set("new_map_fd", next.map.fd);
    bpfCall("LINK_UPDATE", a, a.end("old_map_fd"), this.description);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.link) this.link.close();
    else this.ops.map.delete(new Uint8Array(4));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
