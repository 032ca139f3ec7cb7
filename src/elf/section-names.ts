/**
 * Program type, expected attach type and attach target from an ELF section name, by libbpf's
 * table and matching rules, plus the cilium/ebpf convention `<type>/<anything>`.
 *
 * libbpf's rules: a leading `?` marks the program as not loaded by default and is stripped; an
 * entry ending in `+` matches the name itself or the name followed by `/target`; any other
 * entry matches only exactly. The first matching entry wins (so longer forms come first).
 *
 * These are the rules that decide a program's type with certainty (`typeSource: "section"`). A
 * name they do not know is tried against libbpf 0.x's prefix rules (section-names-legacy.ts,
 * `typeSource: "legacy"`), and is otherwise unspecified (program-kind.ts).
 */
import { AttachType, ProgramType, type AttachTypeName, type ProgramTypeName } from "../abi/index.js";

/** How a section-name entry attaches (mirrors libbpf's auto-attach kinds). */
export type AttachKind =
  | "none"
  | "kprobe"
  | "uprobe"
  | "kprobe.multi"
  | "uprobe.multi"
  | "ksyscall"
  | "usdt"
  | "tracepoint"
  | "raw_tracepoint"
  | "trace"
  | "lsm"
  | "iter";

/** One entry of a section-name table. */
export interface SectionEntry {
  readonly pattern: string;
  readonly type: ProgramTypeName;
  readonly attachType?: AttachTypeName;
  readonly sleepable?: boolean;
  readonly xdpFrags?: boolean;
  /** The target (after `/`) is a kernel BTF name the loader resolves to an attach BTF id. */
  readonly btfTarget?: boolean;
  readonly attach?: AttachKind;
  /** `kretprobe`, `uretprobe`, `kretsyscall`: attach at function return. */
  readonly ret?: boolean;
}

type Entry = SectionEntry;

/** A table entry: pattern, program type, expected attach type, flags. */
export const sectionEntry = (pattern: string, type: ProgramTypeName, attachType?: AttachTypeName, extra: Omit<Entry, "pattern" | "type" | "attachType"> = {}): Entry => ({
  pattern,
  type,
  ...(attachType === undefined ? {} : { attachType }),
  ...extra,
});

const e = sectionEntry;
const SLEEPABLE = { sleepable: true } as const;

/** libbpf's section table, in its matching order. */
export const SECTION_TABLE: readonly Entry[] = [
  e("socket", "SOCKET_FILTER"),
  e("sk_reuseport/migrate", "SK_REUSEPORT", "SK_REUSEPORT_SELECT_OR_MIGRATE"),
  e("sk_reuseport", "SK_REUSEPORT", "SK_REUSEPORT_SELECT"),
  e("kprobe+", "KPROBE", undefined, { attach: "kprobe" }),
  e("uprobe+", "KPROBE", undefined, { attach: "uprobe" }),
  e("uprobe.s+", "KPROBE", undefined, { attach: "uprobe", ...SLEEPABLE }),
  e("kretprobe+", "KPROBE", undefined, { attach: "kprobe", ret: true }),
  e("uretprobe+", "KPROBE", undefined, { attach: "uprobe", ret: true }),
  e("uretprobe.s+", "KPROBE", undefined, { attach: "uprobe", ret: true, ...SLEEPABLE }),
  e("kprobe.multi+", "KPROBE", "TRACE_KPROBE_MULTI", { attach: "kprobe.multi" }),
  e("kretprobe.multi+", "KPROBE", "TRACE_KPROBE_MULTI", { attach: "kprobe.multi", ret: true }),
  e("kprobe.session+", "KPROBE", "TRACE_KPROBE_SESSION", { attach: "kprobe.multi" }),
  e("uprobe.multi+", "KPROBE", "TRACE_UPROBE_MULTI", { attach: "uprobe.multi" }),
  e("uretprobe.multi+", "KPROBE", "TRACE_UPROBE_MULTI", { attach: "uprobe.multi", ret: true }),
  e("uprobe.multi.s+", "KPROBE", "TRACE_UPROBE_MULTI", { attach: "uprobe.multi", ...SLEEPABLE }),
  e("uretprobe.multi.s+", "KPROBE", "TRACE_UPROBE_MULTI", { attach: "uprobe.multi", ret: true, ...SLEEPABLE }),
  e("uprobe.session+", "KPROBE", "TRACE_UPROBE_SESSION", { attach: "uprobe.multi" }),
  e("uprobe.session.s+", "KPROBE", "TRACE_UPROBE_SESSION", { attach: "uprobe.multi", ...SLEEPABLE }),
  e("ksyscall+", "KPROBE", undefined, { attach: "ksyscall" }),
  e("kretsyscall+", "KPROBE", undefined, { attach: "ksyscall", ret: true }),
  e("usdt+", "KPROBE", undefined, { attach: "usdt" }),
  e("usdt.s+", "KPROBE", undefined, { attach: "usdt", ...SLEEPABLE }),
  e("tc/ingress", "SCHED_CLS", "TCX_INGRESS"),
  e("tc/egress", "SCHED_CLS", "TCX_EGRESS"),
  e("tcx/ingress", "SCHED_CLS", "TCX_INGRESS"),
  e("tcx/egress", "SCHED_CLS", "TCX_EGRESS"),
  e("netkit/primary", "SCHED_CLS", "NETKIT_PRIMARY"),
  e("netkit/peer", "SCHED_CLS", "NETKIT_PEER"),
  e("tc", "SCHED_CLS"),
  e("classifier", "SCHED_CLS"),
  e("action", "SCHED_ACT"),
  e("tracepoint+", "TRACEPOINT", undefined, { attach: "tracepoint" }),
  e("tp+", "TRACEPOINT", undefined, { attach: "tracepoint" }),
  e("raw_tracepoint+", "RAW_TRACEPOINT", undefined, { attach: "raw_tracepoint" }),
  e("raw_tp+", "RAW_TRACEPOINT", undefined, { attach: "raw_tracepoint" }),
  e("raw_tracepoint.w+", "RAW_TRACEPOINT_WRITABLE", undefined, { attach: "raw_tracepoint" }),
  e("raw_tp.w+", "RAW_TRACEPOINT_WRITABLE", undefined, { attach: "raw_tracepoint" }),
  e("tp_btf+", "TRACING", "TRACE_RAW_TP", { btfTarget: true, attach: "trace" }),
  e("fentry+", "TRACING", "TRACE_FENTRY", { btfTarget: true, attach: "trace" }),
  e("fmod_ret+", "TRACING", "MODIFY_RETURN", { btfTarget: true, attach: "trace" }),
  e("fexit+", "TRACING", "TRACE_FEXIT", { btfTarget: true, attach: "trace" }),
  e("fentry.s+", "TRACING", "TRACE_FENTRY", { btfTarget: true, attach: "trace", ...SLEEPABLE }),
  e("fmod_ret.s+", "TRACING", "MODIFY_RETURN", { btfTarget: true, attach: "trace", ...SLEEPABLE }),
  e("fexit.s+", "TRACING", "TRACE_FEXIT", { btfTarget: true, attach: "trace", ...SLEEPABLE }),
  e("freplace+", "EXT", undefined, { btfTarget: true, attach: "trace" }),
  e("lsm+", "LSM", "LSM_MAC", { btfTarget: true, attach: "lsm" }),
  e("lsm.s+", "LSM", "LSM_MAC", { btfTarget: true, attach: "lsm", ...SLEEPABLE }),
  e("lsm_cgroup+", "LSM", "LSM_CGROUP", { btfTarget: true }),
  e("iter+", "TRACING", "TRACE_ITER", { btfTarget: true, attach: "iter" }),
  e("iter.s+", "TRACING", "TRACE_ITER", { btfTarget: true, attach: "iter", ...SLEEPABLE }),
  e("syscall", "SYSCALL", undefined, SLEEPABLE),
  e("xdp.frags/devmap", "XDP", "XDP_DEVMAP", { xdpFrags: true }),
  e("xdp/devmap", "XDP", "XDP_DEVMAP"),
  e("xdp.frags/cpumap", "XDP", "XDP_CPUMAP", { xdpFrags: true }),
  e("xdp/cpumap", "XDP", "XDP_CPUMAP"),
  e("xdp.frags", "XDP", "XDP", { xdpFrags: true }),
  e("xdp", "XDP", "XDP"),
  e("perf_event", "PERF_EVENT"),
  e("lwt_in", "LWT_IN"),
  e("lwt_out", "LWT_OUT"),
  e("lwt_xmit", "LWT_XMIT"),
  e("lwt_seg6local", "LWT_SEG6LOCAL"),
  e("sockops", "SOCK_OPS", "CGROUP_SOCK_OPS"),
  e("sk_skb/stream_parser", "SK_SKB", "SK_SKB_STREAM_PARSER"),
  e("sk_skb/stream_verdict", "SK_SKB", "SK_SKB_STREAM_VERDICT"),
  e("sk_skb/verdict", "SK_SKB", "SK_SKB_VERDICT"),
  e("sk_skb", "SK_SKB"),
  e("sk_msg", "SK_MSG", "SK_MSG_VERDICT"),
  e("lirc_mode2", "LIRC_MODE2", "LIRC_MODE2"),
  e("flow_dissector", "FLOW_DISSECTOR", "FLOW_DISSECTOR"),
  e("cgroup_skb/ingress", "CGROUP_SKB", "CGROUP_INET_INGRESS"),
  e("cgroup_skb/egress", "CGROUP_SKB", "CGROUP_INET_EGRESS"),
  e("cgroup/skb", "CGROUP_SKB"),
  e("cgroup/sock_create", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE"),
  e("cgroup/sock_release", "CGROUP_SOCK", "CGROUP_INET_SOCK_RELEASE"),
  e("cgroup/sock", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE"),
  e("cgroup/post_bind4", "CGROUP_SOCK", "CGROUP_INET4_POST_BIND"),
  e("cgroup/post_bind6", "CGROUP_SOCK", "CGROUP_INET6_POST_BIND"),
  e("cgroup/bind4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_BIND"),
  e("cgroup/bind6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_BIND"),
  e("cgroup/connect4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT"),
  e("cgroup/connect6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_CONNECT"),
  e("cgroup/connect_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_CONNECT"),
  e("cgroup/sendmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_SENDMSG"),
  e("cgroup/sendmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_SENDMSG"),
  e("cgroup/sendmsg_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_SENDMSG"),
  e("cgroup/recvmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_RECVMSG"),
  e("cgroup/recvmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_RECVMSG"),
  e("cgroup/recvmsg_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_RECVMSG"),
  e("cgroup/getpeername4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETPEERNAME"),
  e("cgroup/getpeername6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETPEERNAME"),
  e("cgroup/getpeername_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETPEERNAME"),
  e("cgroup/getsockname4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETSOCKNAME"),
  e("cgroup/getsockname6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETSOCKNAME"),
  e("cgroup/getsockname_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETSOCKNAME"),
  e("cgroup/sysctl", "CGROUP_SYSCTL", "CGROUP_SYSCTL"),
  e("cgroup/getsockopt", "CGROUP_SOCKOPT", "CGROUP_GETSOCKOPT"),
  e("cgroup/setsockopt", "CGROUP_SOCKOPT", "CGROUP_SETSOCKOPT"),
  e("cgroup/dev", "CGROUP_DEVICE", "CGROUP_DEVICE"),
  e("struct_ops+", "STRUCT_OPS"),
  e("struct_ops.s+", "STRUCT_OPS", undefined, SLEEPABLE),
  e("sk_lookup", "SK_LOOKUP", "SK_LOOKUP"),
  e("netfilter", "NETFILTER", "NETFILTER"),
];

/**
 * Where a program's type came from: `section` — its section name, by libbpf 1.x's rules (or
 * cilium/ebpf's `<type>/<anything>`); `legacy` — guessed from the name by libbpf 0.x's prefix
 * rules (`xdp_dummy`, `sk_skb1`, `cgroup_skb/egress/1`); `unspecified` — the name says nothing
 * (`cls_test`, `l4lb-demo`): set it before load; `user` — set by the user (setProgramType,
 * `tsebpf load --type`).
 */
export type ProgramTypeSource = "section" | "legacy" | "unspecified" | "user";

/** What a section name says about the programs in it. */
export interface SectionKind {
  /** How the type was decided (see ProgramTypeSource). */
  readonly typeSource: ProgramTypeSource;
  /**
   * The table entry that matched, e.g. `kprobe+` (or `xdp/*` for the cilium form, `xdp*` for a
   * libbpf 0.x prefix rule; "" when unspecified).
   */
  readonly pattern: string;
  readonly programType: number;
  readonly programTypeName: ProgramTypeName;
  readonly attachType: number | undefined;
  readonly attachTypeName: AttachTypeName | undefined;
  /** The part after `prefix/` for `+` entries (`sock/inet_sock_set_state`, `do_unlinkat`). */
  readonly attachTarget: string;
  /** A `?` prefix: not loaded unless asked for. */
  readonly autoload: boolean;
  readonly sleepable: boolean;
  /** BPF_F_XDP_HAS_FRAGS. */
  readonly xdpFrags: boolean;
  /** The target names a kernel BTF type (fentry, lsm, tp_btf, iter, …). */
  readonly btfTarget: boolean;
  readonly attach: AttachKind;
  /** Return probe (kretprobe, uretprobe, kretsyscall). */
  readonly ret: boolean;
}

function kindOf(entry: Entry, target: string, autoload: boolean, pattern = entry.pattern, typeSource: ProgramTypeSource = "section"): SectionKind {
  return {
    typeSource,
    pattern,
    programType: ProgramType[entry.type],
    programTypeName: entry.type,
    attachType: entry.attachType === undefined ? undefined : AttachType[entry.attachType],
    attachTypeName: entry.attachType,
    attachTarget: target,
    autoload,
    sleepable: entry.sleepable ?? false,
    xdpFrags: entry.xdpFrags ?? false,
    btfTarget: entry.btfTarget ?? false,
    attach: entry.attach ?? "none",
    ret: entry.ret ?? false,
  };
}

/** The SectionKind of a table entry: (entry, attach target, autoload, pattern shown, typeSource). */
export const sectionKindOf = kindOf;

/**
 * What kind of programs a section holds by libbpf 1.x's rules (and cilium/ebpf's form), or
 * undefined when they do not know the name. programKind (program-kind.ts) goes on to the legacy
 * rules and to "unspecified": a code section's programs are found whatever its name.
 */
export function classifySection(sectionName: string): SectionKind | undefined {
  const autoload = !sectionName.startsWith("?");
  const name = autoload ? sectionName : sectionName.slice(1);
  for (const entry of SECTION_TABLE) {
    if (entry.pattern.endsWith("+")) {
      const prefix = entry.pattern.slice(0, -1);
      if (name === prefix) return kindOf(entry, "", autoload);
      if (name.startsWith(`${prefix}/`)) return kindOf(entry, name.slice(prefix.length + 1), autoload);
    } else if (name === entry.pattern) {
      return kindOf(entry, "", autoload);
    }
  }
  // cilium/ebpf's convention: `xdp/my_prog`, `tc/my_prog`, `socket/1` — an exact entry's name
  // followed by anything the table does not define itself.
  const slash = name.indexOf("/");
  if (slash > 0) {
    const head = name.slice(0, slash);
    const entry = SECTION_TABLE.find((x) => x.pattern === head);
    if (entry) return kindOf(entry, "", autoload, `${head}/*`);
  }
  return undefined;
}
