/**
 * Feature probes: does this kernel support a map type, a program type, a helper for a program
 * type, a link type? Each answer is found by asking the kernel once, and cached per process.
 */
import { AttachType, LinkType, MapType, ProgramType, type MapTypeName, type ProgramTypeName } from "../abi/index.js";
import * as asm from "../asm/index.js";
import { helperByName } from "../asm/index.js";
import { marshalBtf } from "../btf/index.js";
import { Struct, bpfTry, btfLoad, errnoName, kernel, mapCreate, progLoad, SyscallError } from "../syscall/index.js";
import { kernelBtf } from "./kernel-btf.js";
import { probeStructOpsRegistration } from "./struct-ops-probe.js";
import { kallsyms } from "./ksyms.js";

/**
 * A probe's answer. `reason` says why the kernel refused, as an errno name (`EPERM`, `EINVAL`):
 * a type the kernel refuses with EPERM while this process demonstrably has the privileges (a
 * plain array map and socket filter are created) is refused by the kernel's build or policy, not
 * for want of a capability.
 */
export interface ProbeAnswer {
  readonly supported: boolean;
  readonly reason?: string;
}

const YES: ProbeAnswer = Object.freeze({ supported: true });
const no = (reason?: string): ProbeAnswer => Object.freeze(reason ? { supported: false, reason } : { supported: false });

const cache = new Map<string, ProbeAnswer>();

/** Forgets every answer (tests that change the kernel under the probes). */
export const clearProbeCache = (): void => cache.clear();
const memo = (key: string, f: () => ProbeAnswer): ProbeAnswer => {
  const known = cache.get(key);
  if (known !== undefined) return known;
  const v = f();
  cache.set(key, v);
  return v;
};

const MINIMAL = asm.encode([asm.mov64Imm(asm.R0, 0), asm.exit()]);
const EPERM = 1;
const PRIVILEGE_HINT = "probes need root or CAP_BPF (CAP_SYS_ADMIN before Linux 5.8); also check kernel.unprivileged_bpf_disabled and lockdown";

/**
 * Whether this process may use bpf(2) at all: a plain array map is created. Throws the kernel's
 * error (with the missing privilege named) when it may not, so that no probe mistakes a missing
 * capability for a missing feature.
 */
export function requireBpfPrivileges(): void {
  const known = cache.get("privileges");
  if (known?.supported) return;
  try {
    kernel().close(mapCreate({ name: "probe_priv", type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 }));
  } catch (e) {
    if (e instanceof SyscallError && e.code === "EPERM") throw new SyscallError(EPERM, { syscall: "bpf", command: "BPF_MAP_CREATE", object: "feature probe", hint: PRIVILEGE_HINT });
    throw e;
  }
  cache.set("privileges", YES);
}

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

/**
 * Whether the kernel creates maps of this type, and if not, the errno it answered. Throws only when
 * this process may not use bpf(2) at all (see requireBpfPrivileges).
 */
export function probeMapType(type: MapTypeName): ProbeAnswer {
  return memo(`map:${type}`, () => {
    if (type === "STRUCT_OPS") return structOpsMapCreatable(false);
    requireBpfPrivileges();
    const attrs = mapAttributes(type);
    let inner: number | undefined;
    let btf: number | undefined;
    try {
      if (type === "ARRAY_OF_MAPS" || type === "HASH_OF_MAPS") inner = mapCreate({ name: "probe_inner", type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
      if (NEEDS_BTF.has(type)) btf = intBtf();
      const typed = btf !== undefined && btf >= 0 ? { btfFd: btf, btfKeyTypeId: 1, btfValueTypeId: 1 } : {};
      const fd = mapCreate({ name: "probe", type: MapType[type], ...attrs, ...(inner === undefined ? {} : { innerMapFd: inner }), ...typed });
      kernel().close(fd);
      return YES;
    } catch (e) {
      if (e instanceof SyscallError) return no(e.code);
      throw e;
    } finally {
      if (inner !== undefined) kernel().close(inner);
      if (btf !== undefined && btf >= 0) kernel().close(btf);
    }
  });
}

/** Whether the kernel can create maps of this type. */
export const mapTypeSupported = (type: MapTypeName): boolean => probeMapType(type).supported;

/**
 * Whether the kernel loads programs of this type (a two-instruction program), and if not, the
 * errno. A program the verifier rejects for its content still counts as a type the kernel has.
 */
export function probeProgramType(type: ProgramTypeName): ProbeAnswer {
  return memo(`prog:${type}`, () => {
    const r = load(ProgramType[type], MINIMAL, expectedAttach(type));
    return r.status === "refused" ? no(r.errno) : YES;
  });
}

/** Whether the kernel loads programs of this type. */
export const programTypeSupported = (type: ProgramTypeName): boolean => probeProgramType(type).supported;

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

interface LoadAnswer {
  /** loaded; refused (the type, attach kind or target is not there); rejected (the verifier read it). */
  readonly status: "ok" | "refused" | "no-helper" | "rejected";
  readonly errno?: string;
}

function load(type: number, insns: Uint8Array, attach: number, attachBtfId = 0): LoadAnswer {
  requireBpfPrivileges();
  const log = Buffer.alloc(4096);
  const { result } = progLoad({ name: "probe", type, instructions: insns, license: "GPL", expectedAttachType: attach, attachBtfId, log, logLevel: 1 });
  if (result >= 0) {
    kernel().close(result);
    return { status: "ok" };
  }
  const errno = errnoName(-result);
  // EPERM for one type while maps are created: the type is refused by this kernel (trampolines,
  // map-element iterators on some builds). A socket filter proves program loads are allowed.
  if (-result === EPERM) {
    if (type !== ProgramType.SOCKET_FILTER && !probeProgramType("SOCKET_FILTER").supported) {
      throw new SyscallError(EPERM, { syscall: "bpf", command: "BPF_PROG_LOAD", object: "feature probe", hint: PRIVILEGE_HINT });
    }
    return { status: "refused", errno };
  }
  const text = log.toString("utf8", 0, Math.max(0, log.indexOf(0)));
  if (/unknown func|invalid func|program of this type cannot use helper/.test(text)) return { status: "no-helper", errno };
  return text ? { status: "rejected", errno } : { status: "refused", errno };
}

/** Whether programs of `type` may call `helper` (by name or id). */
export function helperSupported(type: ProgramTypeName, helper: string | number): boolean {
  const id = typeof helper === "number" ? helper : helperByName(helper)?.id;
  if (id === undefined) return false;
  return memo(`helper:${type}:${id}`, () => {
    const insns = asm.encode([asm.call(id), asm.mov64Imm(asm.R0, 0), asm.exit()]);
    return load(ProgramType[type], insns, expectedAttach(type)).status === "no-helper" ? no("EINVAL") : YES;
  }).supported;
}

/**
 * The attach kinds of BPF_PROG_TYPE_TRACING and LSM programs that need a BPF trampoline, each
 * probed by loading a minimal program against a kernel function every kernel with BTF has.
 * freplace needs a BPF program as its target; it rides on the same trampolines as fentry, so the
 * fentry answer stands for it.
 */
export type TrampolineKind = "fentry" | "fexit" | "fmod_ret" | "freplace" | "lsm";

const TRAMPOLINE_PROBES: Record<Exclude<TrampolineKind, "freplace">, { type: ProgramTypeName; attach: number; target: string }> = {
  fentry: { type: "TRACING", attach: AttachType.TRACE_FENTRY, target: "bpf_fentry_test1" },
  fexit: { type: "TRACING", attach: AttachType.TRACE_FEXIT, target: "bpf_fentry_test1" },
  fmod_ret: { type: "TRACING", attach: AttachType.MODIFY_RETURN, target: "bpf_modify_return_test" },
  lsm: { type: "LSM", attach: AttachType.LSM_MAC, target: "bpf_lsm_path_chroot" },
};

function kernelFunction(name: string): number | undefined {
  try {
    return kernelBtf().find(name, "func");
  } catch {
    return undefined; // no kernel BTF: no tracing programs either
  }
}

/**
 * Whether programs of this trampoline kind load here (fentry on `bpf_fentry_test1`, LSM on
 * `path_chroot` …). `reason` is the errno, or `no kernel BTF function X` when the target is absent.
 */
export function probeTrampoline(kind: TrampolineKind): ProbeAnswer {
  const k = kind === "freplace" ? "fentry" : kind;
  return memo(`trampoline:${k}`, () => {
    const p = TRAMPOLINE_PROBES[k];
    const id = kernelFunction(p.target);
    if (id === undefined) return no(`no kernel BTF function ${p.target}`);
    const r = load(ProgramType[p.type], MINIMAL, p.attach, id);
    return r.status === "refused" ? no(r.errno) : YES;
  });
}

/**
 * Whether iterator programs of this target (`task`, `bpf_map_elem`, `sockmap` …) load here: the
 * kernel's `bpf_iter_<target>` function must exist and the load be accepted.
 */
export function probeIterator(target: string): ProbeAnswer {
  return memo(`iter:${target}`, () => {
    const id = kernelFunction(`bpf_iter_${target}`);
    if (id === undefined) return no(`no iterator ${target} in this kernel's BTF`);
    const r = load(ProgramType.TRACING, MINIMAL, AttachType.TRACE_ITER, id);
    return r.status === "refused" ? no(r.errno) : YES;
  });
}

// ---------------------------------------------------------------------------------------------
// The values of libbpf's built-in `.kconfig` externs that are learnt by probing, not read from
// the kernel's configuration.

/**
 * `LINUX_HAS_BPF_COOKIE`: whether programs may call bpf_get_attach_cookie (Linux 5.15) — a
 * tracepoint program that calls it loads, the probe libbpf makes.
 */
export function probeBpfCookie(): ProbeAnswer {
  return memo("bpf-cookie", () => {
    const id = helperByName("bpf_get_attach_cookie")?.id ?? 174;
    const r = load(ProgramType.TRACEPOINT, asm.encode([asm.call(id), asm.exit()]), 0);
    return r.status === "ok" ? YES : no(r.errno ?? "EINVAL");
  });
}

/** The architecture's prefix of syscall wrappers (`__x64_sys_bpf`), by Node's process.arch. */
const SYSCALL_PREFIX: Readonly<Record<string, string>> = {
  x64: "__x64_", ia32: "__ia32_", arm64: "__arm64_", arm: "__arm_", s390x: "__s390x_", s390: "__s390_",
  riscv64: "__riscv_", ppc64: "__powerpc_", ppc: "__powerpc_", loong64: "__loongarch_", mips: "__mips_", mipsel: "__mips_",
};

/**
 * `LINUX_HAS_SYSCALL_WRAPPER`: whether the kernel's syscalls go through the architecture's
 * wrapper taking a `struct pt_regs *` (`__x64_sys_bpf`, Linux 4.17 on x86-64), which BPF_KSYSCALL
 * programs must unwrap. Learnt from the wrapper's name in the kernel's BTF or /proc/kallsyms
 * (libbpf asks for a kprobe on it, which kernels without kprobes cannot answer).
 */
export function probeSyscallWrapper(arch: string = process.arch): ProbeAnswer {
  return memo(`syscall-wrapper:${arch}`, () => {
    const prefix = SYSCALL_PREFIX[arch];
    if (prefix === undefined) return no(`no syscall wrapper known for architecture ${arch}`);
    const name = `${prefix}sys_bpf`;
    if (kernelFunction(name) !== undefined || kallsyms().has(name)) return YES;
    return no(`${name} is neither in the kernel's BTF nor in /proc/kallsyms`);
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

/** Loads the probe's program: its fd, or the reason this kernel refuses it. */
function probeProgram(p: LinkProbe): number | ProbeAnswer {
  let attachBtfId = 0;
  if (p.btfFunction) {
    const id = kernelFunction(p.btfFunction);
    if (id === undefined) return no(`no kernel BTF function ${p.btfFunction}`);
    attachBtfId = id;
  }
  requireBpfPrivileges();
  const { result } = progLoad({ name: "probe_link", type: ProgramType[p.program], instructions: MINIMAL, license: "GPL", expectedAttachType: p.expectedAttach ?? 0, attachBtfId });
  return result >= 0 ? result : no(errnoName(-result));
}

/**
 * A struct_ops map of the kernel's tcp_congestion_ops: its value type comes from the kernel's BTF,
 * so the generic map probe (no such type) cannot tell. `linkable` asks for BPF_F_LINK (6.4): the
 * gate of struct_ops links.
 */
function structOpsMapCreatable(linkable: boolean): ProbeAnswer {
  let id: number | undefined;
  let size = 0;
  try {
    const btf = kernelBtf();
    id = btf.find("bpf_struct_ops_tcp_congestion_ops", "struct");
    const t = id === undefined ? undefined : btf.type(id);
    size = t && "size" in t ? Number(t.size) : 0;
  } catch {
    return no("no kernel BTF");
  }
  if (id === undefined || size === 0) return no("no kernel BTF struct bpf_struct_ops_tcp_congestion_ops");
  requireBpfPrivileges();
  // The kernel wants some object BTF with a struct_ops map, even though the value's type is its own.
  const btf = intBtf();
  if (btf < 0) return no(errnoName(-btf));
  try {
    const a = new Struct("AttrMapCreate");
    a.set("map_type", MapType.STRUCT_OPS).set("key_size", 4).set("value_size", size).set("max_entries", 1);
    a.set("map_flags", linkable ? 1 << 13 /* BPF_F_LINK */ : 0).set("btf_fd", btf).set("btf_vmlinux_value_type_id", id);
    const fd = bpfTry("MAP_CREATE", a, a.end("map_extra"));
    if (fd >= 0) kernel().close(fd);
    return fd >= 0 ? YES : no(errnoName(-fd));
  } finally {
    kernel().close(btf);
  }
}

/** Raw tracepoint links come from BPF_RAW_TRACEPOINT_OPEN: a tracepoint that does not exist is ENOENT. */
function rawTracepointLinkable(): ProbeAnswer {
  const prog = probeProgram({ program: "RAW_TRACEPOINT", attach: 0, target: () => undefined, known: [] });
  if (typeof prog !== "number") return prog;
  try {
    const name = Buffer.from("tsebpf_no_such_tracepoint\0");
    const a = new Struct("AttrRawTracepoint");
    a.set("name", kernel().address(name)).set("prog_fd", prog);
    const r = bpfTry("RAW_TRACEPOINT_OPEN", a, a.end("prog_fd"));
    void name;
    if (r >= 0) kernel().close(r);
    return r >= 0 || -r === 2 /* ENOENT */ ? YES : no(errnoName(-r));
  } finally {
    kernel().close(prog);
  }
}

/**
 * Whether this kernel makes links of this type, and if not, the errno it answered: a minimal
 * program of the right type linked to a target that cannot exist, answered by the link type's own
 * code (see LINK_PROBES).
 */
export function probeLinkType(type: LinkTypeName): ProbeAnswer {
  return memo(`link:${type}`, () => {
    if (type === "RAW_TRACEPOINT") return rawTracepointLinkable();
    if (type === "STRUCT_OPS") return structOpsMapCreatable(true);
    const p = LINK_PROBES[type];
    if (!p) return no("no probe for this link type");
    const prog = probeProgram(p);
    if (typeof prog !== "number") return prog;
    try {
      const a = new Struct("AttrLinkCreate");
      const keep: Uint8Array[] = [];
      a.set("prog_fd", prog).set("attach_type", p.attach);
      p.target(a, keep);
      const r = bpfTry("LINK_CREATE", a, a.buf.byteLength);
      void keep;
      if (r >= 0) {
        kernel().close(r);
        return YES;
      }
      return p.known.includes(-r) ? YES : no(errnoName(-r));
    } finally {
      kernel().close(prog);
    }
  });
}

/** Whether this kernel makes links of this type. */
export const linkTypeSupported = (type: LinkTypeName): boolean => probeLinkType(type).supported;

/** Every answer of one kind of probe, by lower-case type name (what `tsebpf probe` prints). */
export interface ProbeReport {
  readonly mapTypes: Readonly<Record<string, ProbeAnswer>>;
  readonly programTypes: Readonly<Record<string, ProbeAnswer>>;
  readonly linkTypes: Readonly<Record<string, ProbeAnswer>>;
  readonly trampolines: Readonly<Record<string, ProbeAnswer>>;
  /** Whether a struct_ops of this kernel struct registers (probeStructOps: tcp_congestion_ops). */
  readonly structOps: Readonly<Record<string, ProbeAnswer>>;
}

/** Probes every map, program and link type, every trampoline kind and struct_ops registration of this kernel. */
export function probeAll(): ProbeReport {
  requireBpfPrivileges();
  const each = <K extends string>(names: readonly K[], f: (n: K) => ProbeAnswer) => Object.fromEntries(names.filter((n) => n !== "UNSPEC").map((n) => [n.toLowerCase(), f(n)]));
  return {
    mapTypes: each(Object.keys(MapType) as MapTypeName[], probeMapType),
    programTypes: each(Object.keys(ProgramType) as ProgramTypeName[], probeProgramType),
    linkTypes: each(Object.keys(LinkType) as LinkTypeName[], probeLinkType),
    trampolines: each(["fentry", "fexit", "fmod_ret", "freplace", "lsm"] as const, probeTrampoline),
    structOps: { tcp_congestion_ops: probeStructOps() },
  };
}

/**
 * Whether this kernel registers struct_ops (a minimal tcp_congestion_ops loaded, its map created,
 * registered under a name of this process and unregistered at once). `reason` names the first
 * step refused and its errno (`registering (the map update builds BPF trampolines): EPERM`).
 */
export function probeStructOps(): ProbeAnswer {
  return memo("struct_ops", () => {
    requireBpfPrivileges();
    const r = probeStructOpsRegistration();
    return r.supported ? YES : no(r.reason);
  });
}
