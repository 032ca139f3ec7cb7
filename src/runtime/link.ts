/**
 * Attachments. A `Link` is a bpf_link (the kernel detaches the program when the last reference
 * goes: close, or remove its pin); other attachments (netlink XDP, cls_bpf, perf-event ioctl,
 * socket filters) implement the same `Attachment` interface and detach on close.
 */
import { LinkType } from "../abi/index.js";
import { Struct, bpfCall, fdById, kernel, objGet, objInfo, objPin } from "../syscall/index.js";
import { OwnedFd } from "./fd.js";

/** Anything that keeps a program attached until it is closed. */
export interface Attachment {
  /** What is attached where, for messages and listings. */
  readonly description: string;
  /** Pins the bpf_link behind it (absent for attachments without one, like netlink XDP). */
  pin?(path: string): void;
  /** Detaches (for a pinned link: drops this process's reference; the pin keeps it). */
  close(): void;
  [Symbol.dispose](): void;
}

const LINK_TYPE_NAMES = new Map<number, string>(Object.entries(LinkType).map(([k, v]) => [v, k.toLowerCase()]));
export const linkTypeName = (t: number): string => LINK_TYPE_NAMES.get(t) ?? `type ${t}`;

export interface LinkInfo {
  readonly id: number;
  readonly type: number;
  readonly typeName: string;
  readonly programId: number;
}

export function linkInfoByFd(fd: number, what: string): LinkInfo {
  const info = new Struct("BpfLinkInfo");
  objInfo(fd, info, what);
  const type = info.getU32("type");
  return { id: info.getU32("id"), type, typeName: linkTypeName(type), programId: info.getU32("prog_id") };
}

/** A bpf_link. */
export class Link implements Attachment {
  private readonly owner: OwnedFd;

  constructor(
    fd: number,
    readonly description: string,
  ) {
    this.owner = new OwnedFd(fd);
  }

  static fromPin(path: string): Link {
    return new Link(objGet(path), `link pinned at ${path}`);
  }

  static fromId(id: number): Link {
    return new Link(fdById("LINK", id), `link id ${id}`);
  }

  get fd(): number {
    return this.owner.fd;
  }

  /** Pins the link: the program stays attached after this process exits, until the pin is removed. */
  pin(path: string): void {
    objPin(this.fd, path, this.description);
  }

  info(): LinkInfo {
    return linkInfoByFd(this.fd, this.description);
  }

  /** Replaces the program behind the link, atomically (BPF_LINK_UPDATE). */
  update(programFd: number): void {
    const a = new Struct("AttrLinkUpdate");
    a.set("link_fd", this.fd).set("new_prog_fd", programFd);
    bpfCall("LINK_UPDATE", a, a.end("old_prog_fd"), this.description);
  }

  /** Detaches the program now, even if the link is pinned or shared (BPF_LINK_DETACH). */
  detach(): void {
    const a = new Struct("AttrLinkDetach");
    a.set("link_fd", this.fd);
    bpfCall("LINK_DETACH", a, a.end("link_fd"), this.description);
  }

  close(): void {
    this.owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export interface LinkCreateOptions {
  readonly programFd: number;
  /** ifindex, cgroup fd, netns fd, perf event fd, or 0. */
  readonly target: number;
  readonly attachType: number;
  readonly flags?: number;
  /** Fields of the attach-type specific part, by layout name (`tcx.relative_fd`, `perf_event.bpf_cookie`, …). */
  readonly extra?: Readonly<Record<string, number | bigint>>;
  readonly description: string;
}

/** BPF_LINK_CREATE. */
export function linkCreate(o: LinkCreateOptions): Link {
  const a = new Struct("AttrLinkCreate");
  a.set("prog_fd", o.programFd).set("target_fd", o.target).set("attach_type", o.attachType).set("flags", o.flags ?? 0);
  for (const [field, value] of Object.entries(o.extra ?? {})) a.set(field as never, value);
  const fd = bpfCall("LINK_CREATE", a, a.buf.byteLength, o.description);
  try {
    return new Link(fd, o.description);
  } catch (e) {
    kernel().close(fd);
    throw e;
  }
}
