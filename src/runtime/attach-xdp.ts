/**
 * XDP: a bpf_link on the interface (kernel 5.9) first; where the kernel has no XDP links, the
 * netlink IFLA_XDP attachment. Modes: native (driver), generic (skb), offload (hardware).
 */
import { AttachType } from "../abi/index.js";
import { SyscallError } from "../syscall/index.js";
import { xdpAttach, xdpDetach, type XdpMode } from "../syscall/rtnetlink.js";
import { linkCreate, type Attachment, type Link } from "./link.js";
import { NetnsHandle } from "./netns-handle.js";
import type { Program } from "./program.js";

export type { XdpMode };

const XDP_FLAGS: Record<XdpMode, number> = { generic: 1 << 1, native: 1 << 2, offload: 1 << 3 };

export interface XdpOptions {
  /** Driver (native), skb (generic) or hardware (offload); default: let the kernel choose (native where supported). */
  readonly mode?: XdpMode;
  /** Use netlink even where bpf_link works (what libbpf's bpf_xdp_attach does). */
  readonly netlink?: boolean;
}

/** The attachment on one interface. `via` says which mechanism holds it. */
export interface XdpAttachment extends Attachment {
  readonly via: "link" | "netlink";
  readonly ifindex: number;
}

/** Attaches an XDP program to the interface with this index (in the calling thread's network namespace). */
export function attachXdp(program: Program, ifindex: number, options: XdpOptions = {}): XdpAttachment {
  const description = `XDP program "${program.name}" on ifindex ${ifindex}${options.mode ? ` (${options.mode})` : ""}`;
  if (!options.netlink) {
    try {
      const link: Link = linkCreate({
        programFd: program.fd,
        target: ifindex,
        attachType: AttachType.XDP,
        flags: options.mode ? XDP_FLAGS[options.mode] : 0,
        description,
      });
      return { via: "link", ifindex, description, close: () => link.close(), [Symbol.dispose]: () => link.close(), ...pinnable(link) };
    } catch (e) {
      // EINVAL from a kernel without XDP links (before 5.9): fall back like libbpf does.
      if (!(e instanceof SyscallError && e.code === "EINVAL")) throw e;
    }
  }
  const mode = options.mode ?? "native";
  xdpAttach(ifindex, program.fd, { mode });
  const netns = new NetnsHandle();
  let attached = true;
  const close = () => {
    if (!attached) return;
    attached = false;
    try {
      netns.run(() => xdpDetach(ifindex, mode));
    } finally {
      netns.close();
    }
  };
  return { via: "netlink", ifindex, description: `${description} via netlink`, close, [Symbol.dispose]: close };
}

function pinnable(link: Link): { pin(path: string): void; link: Link } {
  return { pin: (path: string) => link.pin(path), link };
}
