/**
 * Root qdiscs, saved and restored parameter for parameter: a program that replaces an
 * interface's root qdisc (fq for EDT pacing, say) records what was there first — the root qdisc,
 * its classes and the qdiscs under them, each with its raw options as the kernel dumps them — and
 * puts exactly that back. The snapshot is plain JSON-able data, so it can be kept in a file and
 * restored by a later process after a crash. All over netlink, in the calling thread's network
 * namespace. Filters attached to the classes are not part of the snapshot.
 */
import { encodeAttrs, nla } from "../syscall/netlink.js";
import {
  TC_H_CLSACT,
  TC_H_ROOT,
  qdiscCreate,
  qdiscDelete,
  qdiscDump,
  tclassCreate,
  tclassDump,
  type TcObject,
} from "../syscall/rtnetlink.js";
import { kernelConfig } from "./kconfig.js";

export { qdiscCreate, qdiscDelete, qdiscDump, tclassCreate, tclassDump, type TcObject, type TcObjectSpec } from "../syscall/rtnetlink.js";
export { TC_H_ROOT, TC_H_CLSACT } from "../syscall/rtnetlink.js";
/** The cls_bpf filters on a clsact hook (a crashed run's leftovers are found by program name). */
export { clsBpfList as clsBpfFilters, clsBpfDelete as clsBpfRemove, type ClsBpfFilter } from "../syscall/rtnetlink.js";

/** A qdisc or class in a snapshot: options as hex (JSON-able). */
export interface SavedTcObject {
  readonly kind: string;
  readonly handle: number;
  readonly parent: number;
  readonly options: string;
}

export interface QdiscSnapshot {
  readonly ifindex: number;
  /** The root qdisc; `isDefault` when it is the one the kernel attached itself (handle 0). */
  readonly root: SavedTcObject | undefined;
  readonly isDefault: boolean;
  /** Classes of the root tree, parents first. */
  readonly classes: readonly SavedTcObject[];
  /** Qdiscs under the root's classes (not the root, not clsact/ingress). */
  readonly children: readonly SavedTcObject[];
}

const save = (o: TcObject): SavedTcObject => ({ kind: o.kind, handle: o.handle, parent: o.parent, options: Buffer.from(o.options).toString("hex") });
const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"));

const TCA_HTB_INIT = 2;

/**
 * A qdisc's dumped options as its create call accepts them. The dump is the create input for
 * every kind, except htb's TCA_HTB_INIT, whose version field is dumped as HTB_VER (0x30011) but
 * must be given as its major part (3).
 */
export function replayableOptions(kind: string, hex: string): Uint8Array {
  const b = bytes(hex);
  if (kind !== "htb") return b;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let off = 0; off + 4 <= b.byteLength; ) {
    const len = v.getUint16(off, true);
    if (len < 4) break;
    if ((v.getUint16(off + 2, true) & 0x3fff) === TCA_HTB_INIT && len >= 8) {
      const version = v.getUint32(off + 4, true);
      if (version > 0xffff) v.setUint32(off + 4, version >>> 16, true);
    }
    off += (len + 3) & ~3;
  }
  return b;
}
const isClsact = (q: TcObject | SavedTcObject): boolean => q.parent === TC_H_CLSACT || q.parent === 0xfffffff1 || q.kind === "clsact" || q.kind === "ingress";

/** Parents before children: a class whose parent is another class comes after it. */
function parentsFirst<T extends { readonly handle: number; readonly parent: number }>(items: readonly T[]): T[] {
  const out: T[] = [];
  const pending = [...items];
  while (pending.length > 0) {
    const i = pending.findIndex((c) => !pending.some((p) => p !== c && p.handle === c.parent));
    out.push(...pending.splice(i < 0 ? 0 : i, 1));
  }
  return out;
}

/** What the interface's root qdisc tree is now. */
export function snapshotRootQdisc(ifindex: number): QdiscSnapshot {
  const qdiscs = qdiscDump(ifindex);
  const root = qdiscs.find((q) => q.parent === TC_H_ROOT);
  const classes = root && root.handle !== 0 ? tclassDump(ifindex).filter((c) => c.handle >>> 16 === root.handle >>> 16) : [];
  const children = qdiscs.filter((q) => q !== root && !isClsact(q) && q.parent !== TC_H_ROOT && classes.some((c) => c.handle === q.parent));
  return {
    ifindex,
    root: root ? save(root) : undefined,
    isDefault: !root || root.handle === 0,
    classes: parentsFirst(classes).map(save),
    children: children.map(save),
  };
}

/** Whether two snapshots describe the same tree, parameter for parameter. */
export function sameQdiscTree(a: QdiscSnapshot, b: QdiscSnapshot): boolean {
  const key = (s: QdiscSnapshot) => JSON.stringify({ root: s.isDefault ? { kind: s.root?.kind } : s.root, classes: s.classes, children: s.children });
  return key(a) === key(b);
}

/** Replaces the interface's root qdisc with this kind and options (encoded TCA_OPTIONS). */
export function replaceRootQdisc(ifindex: number, kind: string, options?: Uint8Array, handle = 0): void {
  qdiscCreate(ifindex, { kind, parent: TC_H_ROOT, handle, ...(options ? { options } : {}) }, { replace: true });
}

/**
 * Puts the snapshot's tree back unless it is already there: the kernel's default root (by
 * deleting whatever replaced it), or the saved root qdisc, then its classes and their qdiscs,
 * each with its saved options. Returns false when nothing had to change.
 */
export function restoreRootQdisc(snapshot: QdiscSnapshot): boolean {
  if (sameQdiscTree(snapshot, snapshotRootQdisc(snapshot.ifindex))) return false;
  const ifindex = snapshot.ifindex;
  const now = qdiscDump(ifindex).find((q) => q.parent === TC_H_ROOT);
  if (snapshot.isDefault || !snapshot.root) {
    if (now && now.handle !== 0) qdiscDelete(ifindex, TC_H_ROOT);
    return true;
  }
  const r = snapshot.root;
  // A root of another kind or handle goes first: replacing it in place would keep its handle.
  if (now && now.handle !== 0 && (now.kind !== r.kind || now.handle !== r.handle)) qdiscDelete(ifindex, TC_H_ROOT);
  qdiscCreate(ifindex, { kind: r.kind, parent: TC_H_ROOT, handle: r.handle, options: replayableOptions(r.kind, r.options) }, { replace: true });
  const present = new Set(tclassDump(ifindex).map((c) => c.handle));
  for (const c of snapshot.classes) if (!present.has(c.handle)) tclassCreate(ifindex, { kind: c.kind, parent: c.parent, handle: c.handle, options: bytes(c.options) });
  for (const q of snapshot.children) qdiscCreate(ifindex, { kind: q.kind, parent: q.parent, handle: q.handle, options: replayableOptions(q.kind, q.options) }, { replace: true });
  return true;
}

export interface FqOptions {
  /** Packets whose departure time is further away than this are dropped (or capped). */
  readonly horizonUs: number;
  /** Drop (true, the default) or cap to the horizon (false). */
  readonly horizonDrop?: boolean;
  /** Per-flow packet limit. */
  readonly flowLimit?: number;
  /** Total packet limit. */
  readonly limit?: number;
}

const TCA_FQ = { PLIMIT: 1, FLOW_PLIMIT: 2, HORIZON: 14, HORIZON_DROP: 15 } as const;

/** fq's TCA_OPTIONS: horizon (µs), horizon drop, flow limit, limit. */
export function fqOptions(o: FqOptions): Uint8Array {
  const attrs = [nla.u32(TCA_FQ.HORIZON, o.horizonUs), nla.u8(TCA_FQ.HORIZON_DROP, o.horizonDrop === false ? 0 : 1)];
  if (o.flowLimit !== undefined) attrs.push(nla.u32(TCA_FQ.FLOW_PLIMIT, o.flowLimit));
  if (o.limit !== undefined) attrs.push(nla.u32(TCA_FQ.PLIMIT, o.limit));
  return encodeAttrs(attrs);
}

/**
 * Whether this kernel was built with the qdisc kind (`fq` → CONFIG_NET_SCH_FQ): true (built in,
 * or a module that is installed), false, or undefined when the build configuration is unknown.
 */
export function qdiscKindAvailable(kind: string, config: ReadonlyMap<string, string> | undefined = safeKernelConfig()): boolean | undefined {
  if (!config || config.size === 0) return undefined;
  const value = config.get(`CONFIG_NET_SCH_${kind.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`);
  if (value === "y") return true;
  // A module: loadable on first use where it is installed (the attempt says if it is not).
  if (value === "m") return true;
  return false;
}

function safeKernelConfig(): Map<string, string> | undefined {
  try {
    return kernelConfig();
  } catch {
    return undefined;
  }
}
