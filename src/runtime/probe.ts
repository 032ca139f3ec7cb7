/**
 * Feature probes: does this kernel support a map type, a program type, a helper for a program
 * type, a link type? Each answer is found by asking the kernel once, and cached per process.
 */
import { AttachType, LinkType, MapType, ProgramType, type MapTypeName, type ProgramTypeName } from "../abi/index.js";
import * as asm from "../asm/index.js";
import { helperByName } from "../asm/index.js";
import { marshalBtf } from "../btf/index.js";
import { Struct, bpfTry, btfLoad, kernel, mapCreate, progLoad, SyscallError } from "../syscall/index.js";
import { kernelBtf } from "./kernel-btf.js";

const cache = new Map<string, boolean>();

/** Forgets every answer (tests that change the kernel under the probes). */
export const clearProbeCache = (): void => cache.clear();
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

// ---------------------------------------------------------------------------------------------
// Link types. BPF_LINK_CREATE takes the program fd before it looks at the attach type, so a bad
// program fd says nothing (EBADF for every type). Each probe loads a minimal program of the type
// the link needs and asks for a link to a target that cannot exist: the kernel's own code for
// that link type then refuses the target with an errno of its own (EBADF for a bad target fd,
// ENODEV for a missing interface, EFAULT for an unreadable target list …), where a kernel
// without the link type answers EINVAL (or EOPNOTSUPP from a stub) or refuses the program.

type LinkTypeName = keyof typeof LinkType;

interface LinkProbe {
  readonly program: ProgramTypeName;
  readonly expectedAttach?: number;
  /** A kernel function the program attaches to (tracing, iterators), found in the kernel's BTF. */
  readonly btfFunction?: string;
  readonly attach: number;
  /** Fills the impossible target into the attr; `keep` holds buffers the attr points at. */
  readonly target: (a: Struct<"AttrLinkCreate">, keep: Uint8Array[]) => void;
  /** The errnos of the link type's own code: the kernel knows it. */
  readonly known: readonly number[];
}

const EBADF = 9;
const EFAULT = 14;
const ENODEV = 19;
const EOPNOTSUPP = 95;
const EAFNOSUPPORT = 97;
const BAD_FD = 0xffffffff;
/** An address no process maps (the zero page): the kernel's copy from it fails with EFAULT. */
const BAD_ADDRESS = 8;
const XDP_FLAGS_HW_MODE = 8;

const badTargetFd = (a: Struct<"AttrLinkCreate">) => void a.set("target_fd", BAD_FD);
const noInterface = (a: Struct<"AttrLinkCreate">) => void a.set("target_ifindex", 0);

const LINK_PROBES: Partial<Record<LinkTypeName, LinkProbe>> = {
  CGROUP: { program: "CGROUP_SKB", expectedAttach: AttachType.CGROUP_INET_INGRESS, attach: AttachType.CGROUP_INET_INGRESS, target: badTargetFd, known: [EBADF] },
  NETNS: { program: "SK_LOOKUP", expectedAttach: AttachType.SK_LOOKUP, attach: AttachType.SK_LOOKUP, target: badTargetFd, known: [EBADF] },
  PERF_EVENT: { program: "TRACEPOINT", attach: AttachType.PERF_EVENT, target: badTargetFd, known: [EBADF] },
  SOCKMAP: { program: "SK_SKB", expectedAttach: AttachType.SK_SKB_STREAM_VERDICT, attach: AttachType.SK_SKB_STREAM_VERDICT, target: badTargetFd, known: [EBADF] },
  TCX: { program: "SCHED_CLS", attach: AttachType.TCX_INGRESS, target: noInterface, known: [ENODEV] },
  NETKIT: { program: "SCHED_CLS", attach: AttachType.NETKIT_PRIMARY, target: noInterface, known: [ENODEV] },
  // The loopback device in hardware-offload mode: an XDP link gets as far as asking the driver,
  // which has no offload (EOPNOTSUPP); nothing is attached. A missing device would be EINVAL.
  XDP: { program: "XDP", attach: AttachType.XDP, target: (a) => void a.set("target_ifindex", loopbackIndex()).set("flags", XDP_FLAGS_HW_MODE), known: [EOPNOTSUPP] },
  // No such protocol family: the netfilter link's own check (EAFNOSUPPORT).
  NETFILTER: { program: "NETFILTER", expectedAttach: AttachType.NETFILTER, attach: AttachType.NETFILTER, target: (a) => void a.set("netfilter.pf", 0), known: [EAFNOSUPPORT] },
  // One address to read from an unreadable list: EFAULT (EOPNOTSUPP without fprobe).
  KPROBE_MULTI: {
    program: "KPROBE",
    expectedAttach: AttachType.TRACE_KPROBE_MULTI,
    attach: AttachType.TRACE_KPROBE_MULTI,
    target: (a) => void a.set("kprobe_multi.cnt", 1).set("kprobe_multi.addrs", BAD_ADDRESS),
    known: [EFAULT],
  },
  // A directory as the binary: EBADF (EOPNOTSUPP without uprobes).
  UPROBE_MULTI: {
    program: "KPROBE",
    expectedAttach: AttachType.TRACE_UPROBE_MULTI,
    attach: AttachType.TRACE_UPROBE_MULTI,
    target: (a, keep) => {
      const path = Buffer.from("/\0");
      const offsets = Buffer.alloc(8);
      keep.push(path, offsets);
      a.set("uprobe_multi.path", kernel().address(path)).set("uprobe_multi.offsets", kernel().address(offsets)).set("uprobe_multi.cnt", 1);
    },
    known: [EBADF],
  },
  // Iterator parameters at an unreadable address: EFAULT.
  ITER: {
    program: "TRACING",
    expectedAttach: AttachType.TRACE_ITER,
    btfFunction: "bpf_iter_bpf_map",
    attach: AttachType.TRACE_ITER,
    target: (a) => void a.set("iter_info", BAD_ADDRESS).set("iter_info_len", 4),
    known: [EFAULT],
  },
  // fentry has no target that fails late: where such a program loads at all (it needs a BPF
  // trampoline), the probe attaches it for real to bpf_fentry_test1 — a function only
  // BPF_PROG_TEST_RUN calls — and closes the link at once.
  TRACING: { program: "TRACING", expectedAttach: AttachType.TRACE_FENTRY, btfFunction: "bpf_fentry_test1", attach: AttachType.TRACE_FENTRY, target: () => undefined, known: [] },
};

let loopback: number | undefined;
function loopbackIndex(): number {
  loopback ??= Math.max(1, kernel().ifNameToIndex("lo"));
  return loopback;
}

/** Loads the probe's program: its fd, or undefined when this kernel refuses it. */
function probeProgram(p: LinkProbe): number | undefined {
  let attachBtfId = 0;
  if (p.btfFunction) {
    let id: number | undefined;
    try {
      id = kernelBtf().find(p.btfFunction, "func");
    } catch {
      id = undefined; // no kernel BTF: no tracing or iterator programs either
    }
    if (id === undefined) return undefined;
    attachBtfId = id;
  }
  const { result } = progLoad({ name: "probe_link", type: ProgramType[p.program], instructions: MINIMAL, license: "GPL", expectedAttachType: p.expectedAttach ?? 0, attachBtfId });
  return result >= 0 ? result : undefined;
}

/** A struct_ops map that links may own (BPF_F_LINK, 6.4): the gate of struct_ops links. */
function structOpsLinkable(): boolean {
  let id: number | undefined;
  let size = 0;
  try {
    const btf = kernelBtf();
    id = btf.find("bpf_struct_ops_tcp_congestion_ops", "struct");
    const t = id === undefined ? undefined : btf.type(id);
    size = t && "size" in t ? Number(t.size) : 0;
  } catch {
    return false;
  }
  if (id === undefined || size === 0) return false;
  // The kernel wants some object BTF with a struct_ops map, even though the value's type is its own.
  const btf = intBtf();
  if (btf < 0) return false;
  try {
    const a = new Struct("AttrMapCreate");
    a.set("map_type", MapType.STRUCT_OPS).set("key_size", 4).set("value_size", size).set("max_entries", 1);
    a.set("map_flags", 1 << 13 /* BPF_F_LINK */).set("btf_fd", btf).set("btf_vmlinux_value_type_id", id);
    const fd = bpfTry("MAP_CREATE", a, a.end("map_extra"));
    if (fd >= 0) kernel().close(fd);
    return fd >= 0;
  } finally {
    kernel().close(btf);
  }
}

/** Raw tracepoint links come from BPF_RAW_TRACEPOINT_OPEN: a tracepoint that does not exist is ENOENT. */
function rawTracepointLinkable(): boolean {
  const prog = probeProgram({ program: "RAW_TRACEPOINT", attach: 0, target: () => undefined, known: [] });
  if (prog === undefined) return false;
  try {
    const name = Buffer.from("tsebpf_no_such_tracepoint\0");
    const a = new Struct("AttrRawTracepoint");
    a.set("name", kernel().address(name)).set("prog_fd", prog);
    const r = bpfTry("RAW_TRACEPOINT_OPEN", a, a.end("prog_fd"));
    void name;
    if (r >= 0) kernel().close(r);
    return r >= 0 || -r === 2 /* ENOENT */;
  } finally {
    kernel().close(prog);
  }
}

/**
 * Whether this kernel makes links of this type: a minimal program of the right type linked to a
 * target that cannot exist, answered by the link type's own code (see LINK_PROBES).
 */
export function linkTypeSupported(type: LinkTypeName): boolean {
  return memo(`link:${type}`, () => {
    if (type === "RAW_TRACEPOINT") return rawTracepointLinkable();
    if (type === "STRUCT_OPS") return structOpsLinkable();
    const p = LINK_PROBES[type];
    if (!p) return false;
    const prog = probeProgram(p);
    if (prog === undefined) return false;
    try {
      const a = new Struct("AttrLinkCreate");
      const keep: Uint8Array[] = [];
      a.set("prog_fd", prog).set("attach_type", p.attach);
      p.target(a, keep);
      const r = bpfTry("LINK_CREATE", a, a.buf.byteLength);
      void keep;
      if (r >= 0) {
        kernel().close(r);
        return true;
      }
      return p.known.includes(-r);
    } finally {
      kernel().close(prog);
    }
  });
}
