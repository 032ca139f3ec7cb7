/**
 * XDP: a bpf_link on the interface (kernel 5.9) first; where the kernel has no XDP links, the
 * netlink IFLA_XDP attachment. Modes: native (driver), generic (skb), offload (hardware).
 * Either can swap its program for another atomically (`replace`), without a moment when the
 * interface has none.
 */
import { AttachType, ProgramType } from "../abi/index.js";
import { expectProgramType } from "./errors.js";
import { SyscallError } from "../syscall/index.js";
import { UseAfterCloseError } from "../errors.js";
import { xdpAttach, xdpDetach, xdpQuery, type XdpMode } from "../syscall/rtnetlink.js";
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
  /** The bpf_link holding the attachment (`via: "link"` only). */
  readonly link?: Link;
  /** The program attached now. */
  readonly program: Program;
  /**
   * Swaps the attached program for `program`, atomically: packets see the old program or the
   * new one, never none (BPF_LINK_UPDATE; over netlink IFLA_XDP with XDP_FLAGS_REPLACE and the
   * current program as the expected one, so a program attached by someone else meanwhile is
   * not replaced). Both programs must be open.
   */
  replace(program: Program): void;
}

const describe = (program: Program, ifindex: number, mode: XdpMode | undefined) => `XDP program "${program.name}" on ifindex ${ifindex}${mode ? ` (${mode})` : ""}`;

/** Attaches an XDP program to the interface with this index (in the calling thread's network namespace). */
export function attachXdp(program: Program, ifindex: number, options: XdpOptions = {}): XdpAttachment {
  expectProgramType(program, "attachXdp", ProgramType.XDP);
  if (!options.netlink) {
    try {
      const link = linkCreate({
        programFd: program.fd,
        target: ifindex,
        attachType: AttachType.XDP,
        flags: options.mode ? XDP_FLAGS[options.mode] : 0,
        description: describe(program, ifindex, options.mode),
      });
      return new LinkXdp(link, program, ifindex, options.mode);
    } catch (e) {
      // EINVAL from a kernel without XDP links (before 5.9): fall back like libbpf does.
      if (!(e instanceof SyscallError && e.code === "EINVAL")) throw e;
    }
  }
  // No mode given: no mode flag, so the kernel picks (native where the driver has it, else
  // generic); then ask which mode holds the program, for replace and detach.
  xdpAttach(ifindex, program.fd, options.mode ? { mode: options.mode } : {});
  const mode = options.mode ?? attachedMode(ifindex, program);
  return new NetlinkXdp(program, ifindex, mode);
}

function attachedMode(ifindex: number, program: Program): XdpMode {
  const id = program.info().id;
  const state = xdpQuery(ifindex);
  return state.generic === id ? "generic" : state.offload === id ? "offload" : "native";
}

/** XDP held by a bpf_link. */
class LinkXdp implements XdpAttachment {
  readonly via = "link";

  constructor(
    readonly link: Link,
    private current: Program,
    readonly ifindex: number,
    private readonly mode: XdpMode | undefined,
  ) {}

  get program(): Program {
    return this.current;
  }

  get description(): string {
    return describe(this.current, this.ifindex, this.mode);
  }

  replace(program: Program): void {
    this.link.update(program.fd);
    this.current = program;
  }

  pin(path: string): void {
    this.link.pin(path);
  }

  close(): void {
    this.link.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** XDP attached over netlink (IFLA_XDP), detached in the namespace it was attached in. */
class NetlinkXdp implements XdpAttachment {
  readonly via = "netlink";
  private readonly netns = new NetnsHandle();
  private attached = true;

  constructor(
    private current: Program,
    readonly ifindex: number,
    private readonly mode: XdpMode,
  ) {}

  get program(): Program {
    return this.current;
  }

  get description(): string {
    return `${describe(this.current, this.ifindex, this.mode)} via netlink`;
  }

  replace(program: Program): void {
    if (!this.attached) throw new UseAfterCloseError(`${this.description}: replace`);
    const expectedFd = this.current.fd;
    this.netns.run(() => xdpAttach(this.ifindex, program.fd, { mode: this.mode, expectedFd }));
    this.current = program;
  }

  /** Detaches the program — only if it is still the one attached (someone may have replaced it). */
  close(): void {
    if (!this.attached) return;
    this.attached = false;
    try {
      this.netns.run(() => xdpDetach(this.ifindex, this.mode, { expectedFd: this.current.fd }));
    } catch (e) {
      // EEXIST: another program is attached now (or none): not ours to detach.
      if (!(e instanceof SyscallError && e.code === "EEXIST")) throw e;
    } finally {
      this.netns.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
