/**
 * Feature probes: does this kernel support a map type, a program type, a helper for a program
 * type, a link type? Each answer is found by asking the kernel once, and cached per process.
 */
import { AttachType, LinkType, MapType, ProgramType, type MapTypeName, type ProgramTypeName } from "../abi/index.js";
import * as asm from "../asm/index.js";
import { helperByName } from "../asm/index.js";
import { marshalBtf } from "../btf/index.js";
import { Struct, bpfTry, btfLoad, kernel, mapCreate, progLoad, SyscallError } from "../syscall/index.js";

const cache = new Map<string, boolean>();
const memo = (key: string, f: () => boolean): boolean => {
  const known = cache.get(key);
  if (known !== undefined) return known;
  const v = f();
  cache.set(key, v);
  return v;
};

const MINIMAL = asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]);

/** Map types that need more than key/value/max_entries to be created. */
function mapAttributes(type: MapTypeName): { keySize: number; valueSize: number; maxEntries: number; flags: number } {
  switch (type.replace(/_DEPRECATED$/, "") as MapTypeName) {
    case "RINGBUF":
    case "USER_RINGBUF":
      return { keySize: 0, valueSize: 0, maxEntries: 4096, flags: 0 };
    case "QUEUE":
    case "STACK":
    case "BLOOM_FILTER":
      return { keySize: 0, valueSize: 4, maxEntries: 1, flags: 0 };
    case "LPM_TRIE":
      return { keySize: 8, valueSize: 4, maxEntries: 1, flags: 1 };
    case "SK_STORAGE":
    case "INODE_STORAGE":
    case "TASK_STORAGE":
    case "CGRP_STORAGE":
      return { keySize: 4, valueSize: 4, maxEntries: 0, flags: 1 };
    case "ARRAY_OF_MAPS":
    case "HASH_OF_MAPS":
      return { keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 };
    case "CGROUP_STORAGE":
    case "PERCPU_CGROUP_STORAGE":
      return { keySize: 8, valueSize: 4, maxEntries: 0, flags: 0 };
    case "STACK_TRACE":
      return { keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 };
    case "ARENA":
      return { keySize: 0, valueSize: 0, maxEntries: 1, flags: 1 << 10 };
    default:
      return { keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 };
  }
}

const NEEDS_BTF: ReadonlySet<MapTypeName> = new Set(["SK_STORAGE", "INODE_STORAGE", "TASK_STORAGE", "CGRP_STORAGE"]);

/** A BTF holding one `int` (id 1), for map types that insist on typed values. */
function intBtf(): number {
  const blob = marshalBtf([{ kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }]);
  const { result } = btfLoad(blob);
  return result;
}

/** Whether the kernel can create maps of this type. */
export function mapTypeSupported(type: MapTypeName): boolean {
  return memo(`map:${type}`, () => {
    const attrs = mapAttributes(type);
    let inner: number | undefined;
    let btf: number | undefined;
    try {
      if (type === "ARRAY_OF_MAPS" || type === "HASH_OF_MAPS") inner = mapCreate({ name: "probe_inner", type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
      if (NEEDS_BTF.has(type)) btf = intBtf();
      const typed = btf !== undefined && btf >= 0 ? { btfFd: btf, btfKeyTypeId: 1, btfValueTypeId: 1 } : {};
      const fd = mapCreate({ name: "probe", type: MapType[type], ...attrs, ...(inner === undefined ? {} : { innerMapFd: inner }), ...typed });
      kernel().close(fd);
      return true;
    } catch (e) {
      if (e instanceof SyscallError && e.code !== "EPERM") return false;
      throw e;
    } finally {
      if (inner !== undefined) kernel().close(inner);
      if (btf !== undefined && btf >= 0) kernel().close(btf);
    }
  });
}

/** Whether the kernel loads programs of this type (a two-instruction program). */
export function programTypeSupported(type: ProgramTypeName): boolean {
  return memo(`prog:${type}`, () => {
    const r = load(ProgramType[type], MINIMAL, expectedAttach(type));
    return r !== "EINVAL" && r !== "EPERM";
  });
}

function expectedAttach(type: ProgramTypeName): number {
  switch (type) {
    case "CGROUP_SOCK_ADDR":
      return AttachType.CGROUP_INET4_CONNECT;
    case "SK_LOOKUP":
      return AttachType.SK_LOOKUP;
    case "CGROUP_SOCKOPT":
      return AttachType.CGROUP_GETSOCKOPT;
    case "NETFILTER":
      return AttachType.NETFILTER;
    default:
      return 0;
  }
}

function load(type: number, insns: Uint8Array, attach: number): "ok" | string {
  const log = Buffer.alloc(4096);
  const { result } = progLoad({ name: "probe", type, instructions: insns, license: "GPL", expectedAttachType: attach, log, logLevel: 1 });
  if (result >= 0) {
    kernel().close(result);
    return "ok";
  }
  if (-result === 1) {
    // EPERM for one type while a socket filter loads: the type is refused here (trampolines).
    if (type !== ProgramType.SOCKET_FILTER && programTypeSupported("SOCKET_FILTER")) return "EPERM";
    throw new SyscallError(1, { syscall: "bpf", command: "BPF_PROG_LOAD", object: "feature probe", hint: "probes need CAP_BPF" });
  }
  const text = log.toString("utf8", 0, Math.max(0, log.indexOf(0)));
  return /unknown func|invalid func|program of this type cannot use helper/.test(text) ? "no-helper" : -result === 22 && !text ? "EINVAL" : text ? "rejected" : `errno ${-result}`;
}

/** Whether programs of `type` may call `helper` (by name or id). */
export function helperSupported(type: ProgramTypeName, helper: string | number): boolean {
  const id = typeof helper === "number" ? helper : helperByName(helper)?.id;
  if (id === undefined) return false;
  return memo(`helper:${type}:${id}`, () => {
    const insns = asm.encode([asm.call(id), asm.mov64Imm(asm.R0, 0), asm.exit()]);
    return load(ProgramType[type], insns, expectedAttach(type)) !== "no-helper";
  });
}

/** Whether BPF_LINK_CREATE knows this link type (probed by the error it gives for a bad fd). */
export function linkTypeSupported(type: keyof typeof LinkType): boolean {
  return memo(`link:${type}`, () => {
    const attach: Partial<Record<keyof typeof LinkType, number>> = {
      XDP: AttachType.XDP, TCX: AttachType.TCX_INGRESS, CGROUP: AttachType.CGROUP_INET_INGRESS, NETNS: AttachType.SK_LOOKUP,
      TRACING: AttachType.TRACE_FENTRY, PERF_EVENT: AttachType.PERF_EVENT, KPROBE_MULTI: AttachType.TRACE_KPROBE_MULTI,
      UPROBE_MULTI: AttachType.TRACE_UPROBE_MULTI, NETKIT: AttachType.NETKIT_PRIMARY, NETFILTER: AttachType.NETFILTER,
      ITER: AttachType.TRACE_ITER, RAW_TRACEPOINT: AttachType.TRACE_RAW_TP, STRUCT_OPS: AttachType.STRUCT_OPS,
    };
    const a = new Struct("AttrLinkCreate");
    a.set("prog_fd", 0x7fffffff).set("target_fd", 0).set("attach_type", attach[type] ?? 0);
    const r = bpfTry("LINK_CREATE", a, a.end("flags"));
    // EBADF: the kernel got as far as the program fd: it knows the command and attach type.
    return -r === 9;
  });
}
