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
import { SECTION_TABLE, sectionEntry, sectionKindOf, type SectionEntry, type SectionKind } from "./section-names.js";

/**
 * The prefixes, in libbpf 0.8's order (the order decides: `cgroup/sock_create` before
 * `cgroup/sock`, `xdp_devmap/` before `xdp`). Each types a program as 1.x's entry of the same
 * name does, but the deprecated `xdp_devmap/` and `xdp_cpumap/` (1.x: `xdp/devmap`,
 * `xdp/cpumap`), which need the slash; the others match any name they begin.
 */
const LEGACY_PREFIXES = [
  "socket", "sk_reuseport/migrate", "sk_reuseport", "classifier", "action",
  "xdp_devmap/", "xdp_cpumap/", "xdp", "perf_event",
  "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local",
  "cgroup_skb/ingress", "cgroup_skb/egress", "cgroup/skb",
  "cgroup/sock_create", "cgroup/sock_release", "cgroup/sock", "cgroup/post_bind4", "cgroup/post_bind6",
  "cgroup/dev", "sockops", "sk_skb/stream_parser", "sk_skb/stream_verdict", "sk_skb", "sk_msg",
  "lirc_mode2", "flow_dissector",
  "cgroup/bind4", "cgroup/bind6", "cgroup/connect4", "cgroup/connect6",
  "cgroup/sendmsg4", "cgroup/sendmsg6", "cgroup/recvmsg4", "cgroup/recvmsg6",
  "cgroup/getpeername4", "cgroup/getpeername6", "cgroup/getsockname4", "cgroup/getsockname6",
  "cgroup/sysctl", "cgroup/getsockopt", "cgroup/setsockopt", "sk_lookup",
] as const;

/** The 0.x-only prefixes, with what they type a program as. */
const LEGACY_ONLY: { readonly [prefix: string]: SectionEntry } = {
  "xdp_devmap/": sectionEntry("xdp_devmap/", "XDP", "XDP_DEVMAP"),
  "xdp_cpumap/": sectionEntry("xdp_cpumap/", "XDP", "XDP_CPUMAP"),
};

/** The prefix rules, in 0.x's order (see LEGACY_PREFIXES), each an entry of the 1.x table's shape. */
export const LEGACY_SECTION_TABLE: readonly SectionEntry[] = LEGACY_PREFIXES.map((prefix) => {
  const entry = LEGACY_ONLY[prefix] ?? SECTION_TABLE.find((x) => x.pattern === prefix);
  if (!entry) throw new Error(`section-names-legacy: ${prefix} is in neither table (internal error)`);
  return entry;
});

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
