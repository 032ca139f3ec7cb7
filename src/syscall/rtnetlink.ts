/**
 * rtnetlink: the attachment paths that predate bpf_link and TCX, which libbpf and cilium/ebpf
 * fall back to on older kernels.
 *
 * - XDP: RTM_SETLINK with a nested IFLA_XDP (program fd, mode flags, expected fd for an atomic
 *   replace); RTM_GETLINK reports the attached program ids per mode.
 * - TC: the clsact qdisc (RTM_NEWQDISC / RTM_DELQDISC) and cls_bpf filters in direct-action
 *   mode on its ingress or egress hook (RTM_NEWTFILTER / RTM_DELTFILTER / RTM_GETTFILTER dump).
 * - The root qdisc: its kind, replaced or deleted by kind without options (save/restore).
 * - Qdiscs and classes with their raw TCA_OPTIONS (qdiscDump, tclassDump, qdiscCreate,
 *   tclassCreate, qdiscDelete): what a save and an exact restore of a root qdisc tree need.
 *
 * Every function works on the calling thread's network namespace (see `withNetns`) and throws
 * NetlinkError naming the operation and the interface, with the kernel's own explanation.
 */
import { HOST_LE } from "../asm/encoding.js";
import {
  NLM_F,
  NetlinkSocket,
  decodingReply,
  messageAttrs,
  nla,
  type NlAttrSpec,
  type NlMessage,
  type RequestOptions,
} from "./netlink.js";
import { ifname } from "./netns.js";
import { checkInt } from "./int-range.js";

export const RTM = {
  NEWLINK: 16,
  GETLINK: 18,
  SETLINK: 19,
  NEWQDISC: 36,
  DELQDISC: 37,
  GETQDISC: 38,
  NEWTFILTER: 44,
  DELTFILTER: 45,
  GETTFILTER: 46,
  NEWTCLASS: 40,
  DELTCLASS: 41,
  GETTCLASS: 42,
} as const;


const IFINFOMSG_SIZE = 16;
const TCMSG_SIZE = 20;

const IFLA_IFNAME = 3;
const IFLA_XDP = 43;
export const IFLA_XDP_ATTR = { FD: 1, ATTACHED: 2, FLAGS: 3, PROG_ID: 4, DRV_PROG_ID: 5, SKB_PROG_ID: 6, HW_PROG_ID: 7, EXPECTED_FD: 8 } as const;

export const XDP_FLAGS = { UPDATE_IF_NOEXIST: 1, SKB_MODE: 2, DRV_MODE: 4, HW_MODE: 8, REPLACE: 16 } as const;

const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_CHAIN = 11;
export const TCA_BPF = { ACT: 1, POLICE: 2, CLASSID: 3, OPS_LEN: 4, OPS: 5, FD: 6, NAME: 7, FLAGS: 8, FLAGS_GEN: 9, TAG: 10, ID: 11 } as const;
export const TCA_BPF_FLAG_ACT_DIRECT = 1;

export const TC_H_ROOT = 0xffffffff;
export const TC_H_CLSACT = 0xfffffff1;
export const TC_H_CLSACT_HANDLE = 0xffff0000;
export const TC_H_INGRESS_PARENT = 0xfffffff2;
export const TC_H_EGRESS_PARENT = 0xfffffff3;
const ETH_P_ALL = 0x0003;

// ---------------------------------------------------------------------------------------------
// Shared

/** `veth0`, or `ifindex 7` when the index names no interface here. */
function describeInterface(ifindex: number): string {
  const name = ifname(ifindex);
  return name ?? `ifindex ${ifindex}`;
}

const COMMON_HINTS: Record<string, string> = {
  ENODEV: "no interface with this index in this network namespace",
  EPERM: "needs CAP_NET_ADMIN in the interface's network namespace",
};

function request(type: number, flags: number, header: Uint8Array, attrs: readonly NlAttrSpec[], options: RequestOptions): NlMessage[] {
  using s = NetlinkSocket.open();
  return s.request(type, flags, header, attrs, { ...options, hints: { ...COMMON_HINTS, ...options.hints } });
}

function dump(type: number, header: Uint8Array, options: RequestOptions): NlMessage[] {
  using s = NetlinkSocket.open();
  return s.dump(type, header, [], { ...options, hints: { ...COMMON_HINTS, ...options.hints } });
}

function ifinfomsg(ifindex: number): Uint8Array {
  const b = new Uint8Array(IFINFOMSG_SIZE);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0); // AF_UNSPEC
  checkInt("ifinfomsg", "ifi_index", ifindex, "s32");
  v.setInt32(4, ifindex, HOST_LE);
  return b;
}

interface TcMsg {
  readonly ifindex: number;
  readonly handle: number;
  readonly parent: number;
  readonly info: number;
}

function tcmsg(m: TcMsg): Uint8Array {
  const b = new Uint8Array(TCMSG_SIZE);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0); // AF_UNSPEC
  checkInt("tcmsg", "tcm_ifindex", m.ifindex, "s32");
  checkInt("tcmsg", "tcm_handle", m.handle, "u32");
  checkInt("tcmsg", "tcm_parent", m.parent, "u32");
  checkInt("tcmsg", "tcm_info", m.info, "u32");
  v.setInt32(4, m.ifindex, HOST_LE);
  v.setUint32(8, m.handle, HOST_LE);
  v.setUint32(12, m.parent, HOST_LE);
  v.setUint32(16, m.info, HOST_LE);
  return b;
}

function readTcmsg(m: NlMessage): TcMsg {
  const v = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength);
  return { ifindex: v.getInt32(4, HOST_LE), handle: v.getUint32(8, HOST_LE), parent: v.getUint32(12, HOST_LE), info: v.getUint32(16, HOST_LE) };
}

/** A 16-bit value between host and network order. */
const swap16 = (v: number): number => (HOST_LE ? ((v & 0xff) << 8) | ((v >> 8) & 0xff) : v & 0xffff);

// ---------------------------------------------------------------------------------------------
// XDP

/** Driver (native), skb (generic) or hardware (offload). */
export type XdpMode = "generic" | "native" | "offload";

const MODE_FLAGS: Record<XdpMode, number> = { generic: XDP_FLAGS.SKB_MODE, native: XDP_FLAGS.DRV_MODE, offload: XDP_FLAGS.HW_MODE };

export interface XdpAttachOptions {
  /** Default: none given, the kernel chooses (native where the driver supports it). */
  readonly mode?: XdpMode;
  /** Replace a program already attached in this mode (default: fail with EBUSY, XDP_FLAGS_UPDATE_IF_NOEXIST). */
  readonly replace?: boolean;
  /** Replace only if this program (fd) is the one attached: an atomic swap (XDP_FLAGS_REPLACE). */
  readonly expectedFd?: number;
}

const XDP_HINTS: Record<string, string> = {
  EBUSY: "another XDP program is attached in this mode (replace it, or detach it first)",
  EEXIST: "a program is attached in another XDP mode: detach it first",
  EOPNOTSUPP: "this driver has no native XDP (use generic mode)",
};

function setXdp(ifindex: number, fd: number, flags: number, expectedFd: number | undefined, operation: string): void {
  const children: NlAttrSpec[] = [nla.s32(IFLA_XDP_ATTR.FD, fd)];
  if (flags !== 0) children.push(nla.u32(IFLA_XDP_ATTR.FLAGS, flags));
  if (expectedFd !== undefined) children.push(nla.s32(IFLA_XDP_ATTR.EXPECTED_FD, expectedFd));
  request(RTM.SETLINK, 0, ifinfomsg(ifindex), [nla.nested(IFLA_XDP, children)], { operation, hints: XDP_HINTS });
}

/** Attaches an XDP program (by fd) to an interface with netlink (IFLA_XDP). */
export function xdpAttach(ifindex: number, progFd: number, options: XdpAttachOptions = {}): void {
  let flags = options.mode ? MODE_FLAGS[options.mode] : 0;
  if (options.expectedFd !== undefined) flags |= XDP_FLAGS.REPLACE;
  else if (!options.replace) flags |= XDP_FLAGS.UPDATE_IF_NOEXIST;
  const operation = `XDP attach on ${describeInterface(ifindex)}${options.mode ? `, ${options.mode} mode` : ""}`;
  setXdp(ifindex, progFd, flags, options.expectedFd, operation);
}

/**
 * Detaches the XDP program of this mode (fd -1). With `expectedFd`, only if that program is
 * the one attached. Detaching where nothing is attached succeeds.
 */
export function xdpDetach(ifindex: number, mode?: XdpMode, options: { readonly expectedFd?: number } = {}): void {
  let flags = mode ? MODE_FLAGS[mode] : 0;
  if (options.expectedFd !== undefined) flags |= XDP_FLAGS.REPLACE;
  const operation = `XDP detach on ${describeInterface(ifindex)}${mode ? `, ${mode} mode` : ""}`;
  setXdp(ifindex, -1, flags, options.expectedFd, operation);
}

/** What is attached: the kernel's IFLA_XDP_ATTACHED and program ids per mode. */
export interface XdpState {
  /** `multi` when programs are attached in more than one mode. */
  readonly attached: "none" | "native" | "generic" | "offload" | "multi";
  /** The program id when exactly one mode has a program (IFLA_XDP_PROG_ID). */
  readonly progId?: number;
  readonly generic?: number;
  readonly native?: number;
  readonly offload?: number;
}

const ATTACHED_NAMES = ["none", "native", "generic", "offload", "multi"] as const;

/** The XDP programs attached to an interface (RTM_GETLINK). */
export function xdpQuery(ifindex: number): XdpState {
  const operation = `XDP query on ${describeInterface(ifindex)}`;
  const replies = request(RTM.GETLINK, 0, ifinfomsg(ifindex), [], { operation });
  return decodingReply(operation, RTM.GETLINK, () => {
    const reply = replies.find((m) => m.type === RTM.NEWLINK);
    if (!reply) return { attached: "none" };
    const xdp = messageAttrs(reply, IFINFOMSG_SIZE).get(IFLA_XDP)?.nested();
    if (!xdp) return { attached: "none" };
    const state: { -readonly [K in keyof XdpState]: XdpState[K] } = {
      attached: ATTACHED_NAMES[xdp.get(IFLA_XDP_ATTR.ATTACHED)?.u8() ?? 0] ?? "multi",
    };
    const id = (t: number) => xdp.get(t)?.u32();
    const progId = id(IFLA_XDP_ATTR.PROG_ID);
    const generic = id(IFLA_XDP_ATTR.SKB_PROG_ID);
    const native = id(IFLA_XDP_ATTR.DRV_PROG_ID);
    const offload = id(IFLA_XDP_ATTR.HW_PROG_ID);
    if (progId) state.progId = progId;
    if (generic) state.generic = generic;
    if (native) state.native = native;
    if (offload) state.offload = offload;
    // Kernels before 4.19 report only IFLA_XDP_PROG_ID: attribute it to the reported mode.
    if (progId && state.attached !== "multi" && state.attached !== "none" && state[state.attached] === undefined) state[state.attached] = progId;
    return state;
  });
}

/** The name of an interface by index, asked of the kernel (RTM_GETLINK's IFLA_IFNAME). */
export function linkName(ifindex: number): string {
  const operation = `link query of ifindex ${ifindex}`;
  const replies = request(RTM.GETLINK, 0, ifinfomsg(ifindex), [], { operation });
  return decodingReply(operation, RTM.GETLINK, () => {
    const reply = replies.find((m) => m.type === RTM.NEWLINK);
    return (reply && messageAttrs(reply, IFINFOMSG_SIZE).get(IFLA_IFNAME)?.string()) ?? `ifindex ${ifindex}`;
  });
}

// ---------------------------------------------------------------------------------------------
// Qdiscs

export interface Qdisc {
  readonly ifindex: number;
  readonly kind: string;
  readonly handle: number;
  readonly parent: number;
}

/** The qdiscs of an interface (a dump of the namespace's qdiscs, filtered by ifindex). */
export function qdiscList(ifindex: number): Qdisc[] {
  const operation = `qdisc list on ${describeInterface(ifindex)}`;
  const replies = dump(RTM.GETQDISC, tcmsg({ ifindex, handle: 0, parent: 0, info: 0 }), { operation });
  return decodingReply(operation, RTM.GETQDISC, () =>
    replies
      .filter((m) => m.type === RTM.NEWQDISC)
      .map((m) => {
        const t = readTcmsgChecked(m);
        return { ifindex: t.ifindex, handle: t.handle, parent: t.parent, kind: messageAttrs(m, TCMSG_SIZE).get(TCA_KIND)?.string() ?? "" };
      })
      .filter((q) => q.ifindex === ifindex),
  );
}

function readTcmsgChecked(m: NlMessage): TcMsg {
  // messageAttrs checks the header length; reading it first gives the same error.
  messageAttrs(m, TCMSG_SIZE);
  return readTcmsg(m);
}

/** Whether the interface has a clsact qdisc. */
export function clsactExists(ifindex: number): boolean {
  return qdiscList(ifindex).some((q) => q.kind === "clsact" && q.parent === TC_H_CLSACT);
}

/** Adds the clsact qdisc (EEXIST when there is one: see `clsactExists`). */
export function clsactAdd(ifindex: number): void {
  request(RTM.NEWQDISC, NLM_F.CREATE | NLM_F.EXCL, tcmsg({ ifindex, handle: TC_H_CLSACT_HANDLE, parent: TC_H_CLSACT, info: 0 }), [nla.string(TCA_KIND, "clsact")], {
    operation: `clsact qdisc add on ${describeInterface(ifindex)}`,
    hints: { EEXIST: "the interface already has a clsact (or ingress) qdisc" },
  });
}

/** Deletes the clsact qdisc, and with it every filter on its hooks. */
export function clsactDelete(ifindex: number): void {
  request(RTM.DELQDISC, 0, tcmsg({ ifindex, handle: TC_H_CLSACT_HANDLE, parent: TC_H_CLSACT, info: 0 }), [nla.string(TCA_KIND, "clsact")], {
    operation: `clsact qdisc delete on ${describeInterface(ifindex)}`,
    hints: { ENOENT: "the interface has no clsact qdisc", EINVAL: "the interface has no clsact qdisc" },
  });
}

/** The root qdisc (`noqueue`, `fq_codel`, `mq` …), or undefined when the dump shows none. */
export function rootQdisc(ifindex: number): Qdisc | undefined {
  return qdiscList(ifindex).find((q) => q.parent === TC_H_ROOT);
}

/**
 * Creates or replaces the root qdisc with one of this kind and no options (kinds whose
 * options all have defaults: `fq_codel`, `pfifo_fast`, `pfifo`, `fq`, `sfq`, `noqueue` …).
 * `handle` 0 lets the kernel choose.
 */
export function rootQdiscReplace(ifindex: number, kind: string, handle = 0): void {
  request(RTM.NEWQDISC, NLM_F.CREATE | NLM_F.REPLACE, tcmsg({ ifindex, handle, parent: TC_H_ROOT, info: 0 }), [nla.string(TCA_KIND, kind)], {
    operation: `root qdisc replace by "${kind}" on ${describeInterface(ifindex)}`,
    hints: { ENOENT: `no qdisc kind "${kind}" (is its module loadable?)`, EINVAL: `qdisc "${kind}" needs options, or cannot be a root here` },
  });
}

/** Deletes the root qdisc: the interface gets its default one back. */
export function rootQdiscDelete(ifindex: number): void {
  request(RTM.DELQDISC, 0, tcmsg({ ifindex, handle: 0, parent: TC_H_ROOT, info: 0 }), [], {
    operation: `root qdisc delete on ${describeInterface(ifindex)}`,
    hints: { ENOENT: "the root qdisc is the interface's default one: nothing to delete" },
  });
}

// ---------------------------------------------------------------------------------------------
// Qdiscs and classes with their options (save and restore parameter for parameter)

/**
 * A qdisc or a class with its parameters: `options` is the TCA_OPTIONS payload as the kernel
 * dumps it (the attributes its kind's change function accepts back), empty when it has none.
 */
export interface TcObject {
  readonly ifindex: number;
  readonly kind: string;
  readonly handle: number;
  readonly parent: number;
  readonly options: Uint8Array;
}

function decodeTcObject(m: NlMessage): TcObject {
  const t = readTcmsgChecked(m);
  const attrs = messageAttrs(m, TCMSG_SIZE);
  const options = attrs.get(TCA_OPTIONS)?.payload;
  return { ifindex: t.ifindex, handle: t.handle, parent: t.parent, kind: attrs.get(TCA_KIND)?.string() ?? "", options: options ? Uint8Array.from(options) : new Uint8Array(0) };
}

/** The qdiscs of an interface with their options, in the kernel's dump order. */
export function qdiscDump(ifindex: number): TcObject[] {
  const operation = `qdisc dump on ${describeInterface(ifindex)}`;
  const replies = dump(RTM.GETQDISC, tcmsg({ ifindex, handle: 0, parent: 0, info: 0 }), { operation });
  return decodingReply(operation, RTM.GETQDISC, () => replies.filter((m) => m.type === RTM.NEWQDISC).map(decodeTcObject).filter((q) => q.ifindex === ifindex));
}

/** The classes of an interface's qdiscs with their options (e.g. htb classes), in dump order. */
export function tclassDump(ifindex: number): TcObject[] {
  const operation = `class dump on ${describeInterface(ifindex)}`;
  const replies = dump(RTM.GETTCLASS, tcmsg({ ifindex, handle: 0, parent: 0, info: 0 }), { operation });
  return decodingReply(operation, RTM.GETTCLASS, () => replies.filter((m) => m.type === RTM.NEWTCLASS).map(decodeTcObject).filter((c) => c.ifindex === ifindex));
}

export interface TcObjectSpec {
  readonly kind: string;
  readonly parent: number;
  /** 0: the kernel chooses (qdiscs). */
  readonly handle?: number;
  /** The TCA_OPTIONS payload (encoded attributes or a kind's struct); absent: none. */
  readonly options?: Uint8Array;
}

function tcObjectAttrs(spec: TcObjectSpec): NlAttrSpec[] {
  const attrs: NlAttrSpec[] = [nla.string(TCA_KIND, spec.kind)];
  if (spec.options && spec.options.byteLength > 0) attrs.push(nla.bytes(TCA_OPTIONS, spec.options));
  return attrs;
}

const parentName = (parent: number): string => (parent === TC_H_ROOT ? "root" : `parent ${(parent >>> 16).toString(16)}:${(parent & 0xffff).toString(16)}`);

/**
 * Creates a qdisc with options; `replace` replaces the one at the parent (NLM_F_REPLACE), else
 * EEXIST when there is one.
 */
export function qdiscCreate(ifindex: number, spec: TcObjectSpec, options: { readonly replace?: boolean } = {}): void {
  request(RTM.NEWQDISC, NLM_F.CREATE | (options.replace ? NLM_F.REPLACE : NLM_F.EXCL), tcmsg({ ifindex, handle: spec.handle ?? 0, parent: spec.parent, info: 0 }), tcObjectAttrs(spec), {
    operation: `qdisc ${options.replace ? "replace" : "add"} "${spec.kind}" at ${parentName(spec.parent)} on ${describeInterface(ifindex)}`,
    hints: { ENOENT: `no qdisc kind "${spec.kind}" in this kernel, or no such parent`, EINVAL: `options not accepted by "${spec.kind}", or it cannot be attached there`, EEXIST: "a qdisc is already there (replace it)" },
  });
}

/** Deletes the qdisc at `parent` (with `handle`, 0 for any). */
export function qdiscDelete(ifindex: number, parent: number, handle = 0): void {
  request(RTM.DELQDISC, 0, tcmsg({ ifindex, handle, parent, info: 0 }), [], {
    operation: `qdisc delete at ${parentName(parent)} on ${describeInterface(ifindex)}`,
    hints: { ENOENT: "no such qdisc (or the default one: nothing to delete)", EINVAL: "no such qdisc" },
  });
}

/** Creates a class (e.g. an htb class) with its options. */
export function tclassCreate(ifindex: number, spec: TcObjectSpec & { readonly handle: number }): void {
  request(RTM.NEWTCLASS, NLM_F.CREATE | NLM_F.EXCL, tcmsg({ ifindex, handle: spec.handle, parent: spec.parent, info: 0 }), tcObjectAttrs(spec), {
    operation: `class add "${spec.kind}" ${(spec.handle >>> 16).toString(16)}:${(spec.handle & 0xffff).toString(16)} at ${parentName(spec.parent)} on ${describeInterface(ifindex)}`,
    hints: { EINVAL: `options not accepted by "${spec.kind}" classes`, ENOENT: "no such parent qdisc or class", EEXIST: "the class exists" },
  });
}

// ---------------------------------------------------------------------------------------------
// cls_bpf filters

export type TcHook = "ingress" | "egress";

const hookParent = (hook: TcHook): number => (hook === "ingress" ? TC_H_INGRESS_PARENT : TC_H_EGRESS_PARENT);

export interface ClsBpfOptions {
  /** Filter priority (1..65535); 0 or omitted: the kernel chooses (49152, then lower). */
  readonly priority?: number;
  /** Filter handle; 0 or omitted: the kernel chooses. */
  readonly handle?: number;
  /** Shown by `tc filter show` (TCA_BPF_NAME); usually the program's name. */
  readonly name?: string;
  /** Direct action: the program's return value is the TC verdict (default true). */
  readonly directAction?: boolean;
  /** Replace the filter with this priority and handle (default: fail with EEXIST). */
  readonly replace?: boolean;
  /** EtherType the filter matches, host order (default ETH_P_ALL). */
  readonly protocol?: number;
}

/** A cls_bpf filter as the kernel reports it. */
export interface ClsBpfFilter {
  readonly ifindex: number;
  readonly hook: TcHook;
  readonly priority: number;
  readonly handle: number;
  /** EtherType in host order (3: all). */
  readonly protocol: number;
  readonly chain: number;
  readonly name: string;
  /** The program's id (TCA_BPF_ID); 0 when not reported. */
  readonly programId: number;
  /** The program's tag as hex (TCA_BPF_TAG). */
  readonly tag: string;
  readonly directAction: boolean;
}

function filterInfo(priority: number, protocol: number): number {
  return ((priority & 0xffff) << 16 | swap16(protocol)) >>> 0;
}

function decodeFilter(m: NlMessage, hook: TcHook): ClsBpfFilter | undefined {
  const t = readTcmsgChecked(m);
  const attrs = messageAttrs(m, TCMSG_SIZE);
  if (attrs.get(TCA_KIND)?.string() !== "bpf") return undefined;
  const options = attrs.get(TCA_OPTIONS)?.nested();
  // The first message of each priority describes the classifier instance, not a filter.
  if (!options || t.handle === 0) return undefined;
  const tag = options.get(TCA_BPF.TAG)?.payload;
  return {
    ifindex: t.ifindex,
    hook,
    priority: t.info >>> 16,
    handle: t.handle,
    protocol: swap16(t.info & 0xffff),
    chain: attrs.get(TCA_CHAIN)?.u32() ?? 0,
    name: options.get(TCA_BPF.NAME)?.string() ?? "",
    programId: options.get(TCA_BPF.ID)?.u32() ?? 0,
    tag: tag ? Buffer.from(tag).toString("hex") : "",
    directAction: ((options.get(TCA_BPF.FLAGS)?.u32() ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0,
  };
}

/**
 * Adds a cls_bpf filter running this program (fd) on the clsact hook (the clsact qdisc must
 * exist: `clsactAdd`). Returns the filter as the kernel created it (priority and handle
 * included, when the kernel chose them).
 */
export function clsBpfAdd(ifindex: number, hook: TcHook, progFd: number, options: ClsBpfOptions = {}): ClsBpfFilter {
  const priority = options.priority ?? 0;
  const handle = options.handle ?? 0;
  const protocol = options.protocol ?? ETH_P_ALL;
  if (!Number.isInteger(priority) || priority < 0 || priority > 0xffff) throw new RangeError(`cls_bpf priority ${priority}: not in 0..65535`);
  const bpfOptions: NlAttrSpec[] = [nla.u32(TCA_BPF.FD, progFd)];
  if (options.name !== undefined) bpfOptions.push(nla.string(TCA_BPF.NAME, options.name));
  if (options.directAction !== false) bpfOptions.push(nla.u32(TCA_BPF.FLAGS, TCA_BPF_FLAG_ACT_DIRECT));
  const operation = `cls_bpf filter add on ${describeInterface(ifindex)} ${hook}${priority ? ` priority ${priority}` : ""}`;
  const replies = request(
    RTM.NEWTFILTER,
    NLM_F.CREATE | NLM_F.ECHO | (options.replace ? NLM_F.REPLACE : NLM_F.EXCL),
    tcmsg({ ifindex, handle, parent: hookParent(hook), info: filterInfo(priority, protocol) }),
    [nla.string(TCA_KIND, "bpf"), nla.nested(TCA_OPTIONS, bpfOptions)],
    {
      operation,
      hints: {
        EINVAL: "is there a clsact qdisc (clsactAdd), and is the program SCHED_CLS?",
        EEXIST: "a filter with this priority and handle exists (replace it, or choose another)",
        ENOENT: "no clsact qdisc on this interface (clsactAdd first)",
      },
    },
  );
  const echoed = decodingReply(operation, RTM.NEWTFILTER, () =>
    replies.filter((m) => m.type === RTM.NEWTFILTER).map((m) => decodeFilter(m, hook)).find((f) => f !== undefined),
  );
  return (
    echoed ?? {
      ifindex,
      hook,
      priority,
      handle,
      protocol,
      chain: 0,
      name: options.name ?? "",
      programId: 0,
      tag: "",
      directAction: options.directAction !== false,
    }
  );
}

/**
 * Deletes cls_bpf filters on a clsact hook: the one with this priority and handle; every
 * filter of the priority when `handle` is omitted; every filter of the hook when both are.
 */
export function clsBpfDelete(ifindex: number, hook: TcHook, filter: { readonly priority?: number; readonly handle?: number; readonly protocol?: number } = {}): void {
  const priority = filter.priority ?? 0;
  const what = priority ? ` priority ${priority}${filter.handle ? ` handle ${filter.handle}` : ""}` : "";
  request(
    RTM.DELTFILTER,
    0,
    tcmsg({ ifindex, handle: priority ? (filter.handle ?? 0) : 0, parent: hookParent(hook), info: priority ? filterInfo(priority, filter.protocol ?? ETH_P_ALL) : 0 }),
    priority ? [nla.string(TCA_KIND, "bpf")] : [],
    { operation: `cls_bpf filter delete on ${describeInterface(ifindex)} ${hook}${what}`, hints: { ENOENT: "no such filter", EINVAL: "no clsact qdisc, or no such filter" } },
  );
}

/** The cls_bpf filters on a clsact hook, in the kernel's order. */
export function clsBpfList(ifindex: number, hook: TcHook): ClsBpfFilter[] {
  const operation = `cls_bpf filter list on ${describeInterface(ifindex)} ${hook}`;
  const replies = dump(RTM.GETTFILTER, tcmsg({ ifindex, handle: 0, parent: hookParent(hook), info: 0 }), {
    operation,
    hints: { EINVAL: "no clsact qdisc on this interface" },
  });
  return decodingReply(operation, RTM.GETTFILTER, () =>
    replies.filter((m) => m.type === RTM.NEWTFILTER).flatMap((m) => decodeFilter(m, hook) ?? []),
  );
}
