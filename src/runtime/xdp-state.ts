/**
 * What is attached at an interface's XDP hook, and removing a netlink attachment someone left
 * behind (a crashed process: bpf_links go away with their last fd, netlink attachments do not).
 */
import { xdpDetach, xdpQuery, type XdpMode, type XdpState } from "../syscall/rtnetlink.js";
import { Program } from "./program.js";

export type { XdpState };

/** The XDP programs attached to an interface, by mode (RTM_GETLINK). */
export function xdpAttached(ifindex: number): XdpState {
  return xdpQuery(ifindex);
}

/**
 * Detaches the program with this id from the interface's XDP hook (in whichever mode holds it),
 * only if it is still the one attached. Returns false when it is not attached there. A program
 * held by a bpf_link cannot be detached this way: the kernel refuses (EBUSY), and the error says so.
 */
export function detachXdpProgram(ifindex: number, programId: number): boolean {
  const state = xdpQuery(ifindex);
  const modes: XdpMode[] = ["native", "generic", "offload"];
  const mode = modes.find((m) => state[m] === programId);
  if (!mode) return false;
  using program = Program.fromId(programId);
  xdpDetach(ifindex, mode, { expectedFd: program.fd });
  return true;
}
