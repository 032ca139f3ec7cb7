/**
 * The TC fallback: a cls_bpf direct-action filter under the clsact qdisc, over netlink. The
 * qdisc is created when missing and removed on close only if this attachment created it.
 */
import { clsBpfAdd, clsBpfDelete, clsactAdd, clsactDelete, clsactExists, type TcHook } from "../syscall/rtnetlink.js";
import type { Attachment } from "./link.js";
import { NetnsHandle } from "./netns-handle.js";
import type { Program } from "./program.js";

export function attachClsBpf(program: Program, ifindex: number, hook: TcHook, priority: number): Attachment {
  const createdQdisc = !clsactExists(ifindex);
  if (createdQdisc) clsactAdd(ifindex);
  let filter;
  try {
    filter = clsBpfAdd(ifindex, hook, program.fd, { priority, name: program.name, directAction: true });
  } catch (e) {
    if (createdQdisc) clsactDelete(ifindex);
    throw e;
  }
  const netns = new NetnsHandle();
  let attached = true;
  const close = () => {
    if (!attached) return;
    attached = false;
    try {
      netns.run(() => {
        try {
          clsBpfDelete(ifindex, hook, { priority: filter.priority, handle: filter.handle });
        } finally {
          if (createdQdisc) clsactDelete(ifindex);
        }
      });
    } finally {
      netns.close();
    }
  };
  return { description: `cls_bpf "${program.name}" on ifindex ${ifindex} ${hook}`, close, [Symbol.dispose]: close };
}
