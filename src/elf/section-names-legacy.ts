/**
 * libbpf 0.x's section-name rules, as a fallback for names libbpf 1.x no longer knows.
 *
 * Before 1.0, libbpf matched most section names by prefix: `xdp_dummy` was an XDP program,
 * `sk_skb1` an SK_SKB one, `cgroup_skb/egress/1` a cgroup egress program (the last libbpf 0.x
 * marked these entries "sloppy prefix"). libbpf 1.0 made them exact, so old objects with such
 * names open with programs of no type. tsebpf keeps 1.x's rules first and, only for a name they do
 * not know, applies these prefix rules in 0.x's order; a program typed this way records
 * `typeSource: "legacy"` (`inspect` shows it as guessed).
 *
 * Entries whose 1.x form ends in `+` (kprobe, tracepoint, fentry, lsm, iter, struct_ops, …) were
 * `prefix/` matches in 0.x already: the 1.x rules cover them, so they are not repeated here.
 */
import { sectionEntry as e, sectionKindOf, type SectionEntry, type SectionKind } from "./section-names.js";

/**
 * The prefix rules, in libbpf 0.8's order (the order decides: `cgroup/sock_create` before
 * `cgroup/sock`, `xdp_devmap/` before `xdp`). A pattern ending in `/` (the deprecated
 * `xdp_devmap/`, `xdp_cpumap/`) needs the slash; the others match any name they begin.
 */
export const LEGACY_SECTION_TABLE: readonly SectionEntry[] = [
  e("socket", "SOCKET_FILTER"),
  e("sk_reuseport/migrate", "SK_REUSEPORT", "SK_REUSEPORT_SELECT_OR_MIGRATE"),
  e("sk_reuseport", "SK_REUSEPORT", "SK_REUSEPORT_SELECT"),
  e("classifier", "SCHED_CLS"),
  e("action", "SCHED_ACT"),
  e("xdp_devmap/", "XDP", "XDP_DEVMAP"),
  e("xdp_cpumap/", "XDP", "XDP_CPUMAP"),
  e("xdp", "XDP", "XDP"),
  e("perf_event", "PERF_EVENT"),
  e("lwt_in", "LWT_IN"),
  e("lwt_out", "LWT_OUT"),
  e("lwt_xmit", "LWT_XMIT"),
  e("lwt_seg6local", "LWT_SEG6LOCAL"),
  e("cgroup_skb/ingress", "CGROUP_SKB", "CGROUP_INET_INGRESS"),
  e("cgroup_skb/egress", "CGROUP_SKB", "CGROUP_INET_EGRESS"),
  e("cgroup/skb", "CGROUP_SKB"),
  e("cgroup/sock_create", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE"),
  e("cgroup/sock_release", "CGROUP_SOCK", "CGROUP_INET_SOCK_RELEASE"),
  e("cgroup/sock", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE"),
  e("cgroup/post_bind4", "CGROUP_SOCK", "CGROUP_INET4_POST_BIND"),
  e("cgroup/post_bind6", "CGROUP_SOCK", "CGROUP_INET6_POST_BIND"),
  e("cgroup/dev", "CGROUP_DEVICE", "CGROUP_DEVICE"),
  e("sockops", "SOCK_OPS", "CGROUP_SOCK_OPS"),
  e("sk_skb/stream_parser", "SK_SKB", "SK_SKB_STREAM_PARSER"),
  e("sk_skb/stream_verdict", "SK_SKB", "SK_SKB_STREAM_VERDICT"),
  e("sk_skb", "SK_SKB"),
  e("sk_msg", "SK_MSG", "SK_MSG_VERDICT"),
  e("lirc_mode2", "LIRC_MODE2", "LIRC_MODE2"),
  e("flow_dissector", "FLOW_DISSECTOR", "FLOW_DISSECTOR"),
  e("cgroup/bind4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_BIND"),
  e("cgroup/bind6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_BIND"),
  e("cgroup/connect4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT"),
  e("cgroup/connect6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_CONNECT"),
  e("cgroup/sendmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_SENDMSG"),
  e("cgroup/sendmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_SENDMSG"),
  e("cgroup/recvmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_RECVMSG"),
  e("cgroup/recvmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_RECVMSG"),
  e("cgroup/getpeername4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETPEERNAME"),
  e("cgroup/getpeername6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETPEERNAME"),
  e("cgroup/getsockname4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETSOCKNAME"),
  e("cgroup/getsockname6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETSOCKNAME"),
  e("cgroup/sysctl", "CGROUP_SYSCTL", "CGROUP_SYSCTL"),
  e("cgroup/getsockopt", "CGROUP_SOCKOPT", "CGROUP_GETSOCKOPT"),
  e("cgroup/setsockopt", "CGROUP_SOCKOPT", "CGROUP_SETSOCKOPT"),
  e("sk_lookup", "SK_LOOKUP", "SK_LOOKUP"),
];

/**
 * What libbpf 0.x's prefix rules guess for a section name (a leading `?` stripped, as for the 1.x
 * rules), or undefined when none matches. The kind's pattern is the prefix followed by `*`
 * (`xdp*`, `xdp_devmap/*`); its typeSource is "legacy".
 */
export function legacySectionKind(sectionName: string): SectionKind | undefined {
  const autoload = !sectionName.startsWith("?");
  const name = autoload ? sectionName : sectionName.slice(1);
  const entry = LEGACY_SECTION_TABLE.find((x) => name.startsWith(x.pattern));
  return entry ? sectionKindOf(entry, "", autoload, `${entry.pattern}*`, "legacy") : undefined;
}
