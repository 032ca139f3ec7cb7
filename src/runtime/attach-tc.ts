/**
 * TC: a TCX link (kernel 6.6, no qdisc needed) first; otherwise the clsact qdisc with a cls_bpf
 * direct-action filter over netlink, creating the qdisc when missing and removing only what
 * tsebpf created.
 */
import { AttachType, ProgramType } from "../abi/index.js";
import { expectProgramType } from "./errors.js";
import { SyscallError } from "../syscall/index.js";
import { linkCreate, type Attachment, type Link } from "./link.js";
import type { Program } from "./program.js";
import { attachClsBpf } from "./attach-clsbpf.js";

export type TcDirection = "ingress" | "egress";

export interface TcOptions {
  /** Use clsact + cls_bpf even where TCX works. */
  readonly netlink?: boolean;
  /** cls_bpf priority (netlink path); default 1. */
  readonly priority?: number;
  /** TCX ordering: run before, or after, the program with this fd (default: last). */
  readonly before?: number;
  readonly after?: number;
  /** TCX: fail with ESTALE unless the hook's programs are still at this revision. */
  readonly expectedRevision?: bigint;
}

/** TCX link flags (uapi BPF_F_BEFORE / BPF_F_AFTER). */
export const TCX_BEFORE = 1 << 3;
export const TCX_AFTER = 1 << 4;

export interface TcAttachment extends Attachment {
  readonly via: "tcx" | "netlink";
  readonly ifindex: number;
  readonly direction: TcDirection;
}

/** Attaches a sched_cls program to an interface's ingress or egress (calling thread's netns). */
export function attachTc(program: Program, ifindex: number, direction: TcDirection, options: TcOptions = {}): TcAttachment {
  expectProgramType(program, "attachTc", ProgramType.SCHED_CLS, ProgramType.SCHED_ACT);
  const description = `TC program "${program.name}" on ifindex ${ifindex} ${direction}`;
  if (!options.netlink) {
    try {
      if (options.before !== undefined && options.after !== undefined) throw new RangeError("attachTc: give before or after, not both");
      const relative = options.before ?? options.after;
      const link: Link = linkCreate({
        programFd: program.fd,
        target: ifindex,
        attachType: direction === "ingress" ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS,
        flags: options.before !== undefined ? TCX_BEFORE : options.after !== undefined ? TCX_AFTER : 0,
        extra: {
          ...(relative !== undefined ? { "tcx.relative_fd": relative } : {}),
          ...(options.expectedRevision !== undefined ? { "tcx.expected_revision": options.expectedRevision } : {}),
        },
        description,
      });
      return { via: "tcx", ifindex, direction, description, pin: (path: string) => link.pin(path), close: () => link.close(), [Symbol.dispose]: () => link.close() };
    } catch (e) {
      // Kernels before 6.6 do not know TCX attach types: EINVAL. Fall back to clsact + cls_bpf.
      if (!(e instanceof SyscallError && e.code === "EINVAL")) throw e;
    }
  }
  const a = attachClsBpf(program, ifindex, direction, options.priority ?? 1);
  return { via: "netlink", ifindex, direction, description: `${description} via clsact/cls_bpf`, close: () => a.close(), [Symbol.dispose]: () => a.close() };
}
