/**
 * What a crashed run of an XDP program leaves on its interface: a bpf_link goes away with its
 * process, a netlink attachment does not. Shared by the programs' starts.
 */
import { existsSync } from "node:fs";
import { runtime } from "../../index.js";
import { TsebpfError } from "../../errors.js";

export interface XdpOwner {
  /** The BPF program's name in the object (the kernel keeps its first 15 characters). */
  readonly programName: string;
  /** The command, for messages: "packetfilter", "loadbalancer". */
  readonly tool: string;
  /** What it is, for messages: "packetfilter", "load balancer". */
  readonly what: string;
}

/**
 * Detaches every XDP program on the interface that is `owner`'s and that no process holds and no
 * link keeps (a run that died); returns their ids. Refuses, with what to do, a foreign program,
 * one a running process holds, and one a bpf_link pinned elsewhere keeps. Call it in the
 * interface's network namespace.
 */
export function removeCrashedXdp(ifname: string, index: number, owner: XdpOwner): number[] {
  const state = runtime.xdpAttached(index);
  const ids = [...new Set([state.native, state.generic, state.offload].filter((id): id is number => id !== undefined && id > 0))];
  const removed: number[] = [];
  for (const id of ids) {
    let name: string;
    try {
      using program = runtime.Program.fromId(id);
      name = program.info().name;
    } catch {
      continue; // detached meanwhile
    }
    if (name !== owner.programName.slice(0, 15)) {
      throw new TsebpfError(`${ifname} already has an XDP program, "${name}" (id ${id}), not a ${owner.what}: detach it first (ip link set dev ${ifname} xdp off)`);
    }
    const holders = runtime.programHolders(id).filter((pid) => pid !== process.pid);
    if (holders.length > 0) throw new TsebpfError(`another ${owner.tool} is running on ${ifname} (pid ${holders.join(", ")}): stop it first`);
    if (runtime.listLinks().some((l) => l.programId === id)) throw new TsebpfError(`a ${owner.what} on ${ifname} (program id ${id}) is held by a bpf_link pinned elsewhere: remove that pin first`);
    runtime.detachXdpProgram(index, id);
    removed.push(id);
  }
  return removed;
}

/**
 * The state of a program's pin directory for an interface: "live" when the program its pins name
 * (`pinnedProgramId`, which may throw when the pins are broken) is the one attached to the
 * interface, "stale" when pins remain but their program is not attached there (a leftover the
 * next start removes), "none" without pins. An interface missing from this network namespace
 * gives no verdict on the pins: "live", so nothing is removed.
 */
export function pinState(dir: string, ifname: string, pinnedProgramId: () => number): "live" | "stale" | "none" {
  if (!existsSync(dir)) return "none";
  let id: number;
  try {
    id = pinnedProgramId();
  } catch {
    return "stale";
  }
  let index: number;
  try {
    index = runtime.ifindex(ifname);
  } catch {
    return "live";
  }
  const state = runtime.xdpAttached(index);
  return id > 0 && [state.native, state.generic, state.offload].includes(id) ? "live" : "stale";
}
