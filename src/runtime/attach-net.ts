/**
 * Attaching programs to cgroups, sockets and network namespaces, through bpf_links where the
 * kernel has them (the socket filter is a socket option).
 */
import { closeSync, openSync } from "node:fs";
import { AttachType, ProgramType } from "../abi/index.js";
import { expectProgramType } from "./errors.js";
import { SOL_SOCKET, SO_ATTACH_BPF, SO_DETACH_BPF, setSocketOptionInt } from "../syscall/index.js";
import { linkCreate, type Attachment, type Link } from "./link.js";
import type { Program } from "./program.js";

/** Program types that attach to cgroups (lsm_cgroup is an LSM program). */
const CGROUP_PROGRAM_TYPES = [ProgramType.CGROUP_SKB, ProgramType.CGROUP_SOCK, ProgramType.CGROUP_SOCK_ADDR, ProgramType.CGROUP_DEVICE, ProgramType.CGROUP_SYSCTL, ProgramType.CGROUP_SOCKOPT, ProgramType.SOCK_OPS, ProgramType.LSM];

/** Attaches a cgroup program (`cgroup/connect4`, `cgroup_skb/ingress` …) to a cgroup v2 directory. */
export function attachCgroup(program: Program, cgroupPath: string, attachType: number): Link {
  expectProgramType(program, "attachCgroup", ...CGROUP_PROGRAM_TYPES);
  const fd = openSync(cgroupPath, "r");
  try {
    return linkCreate({ programFd: program.fd, target: fd, attachType, description: `program "${program.name}" on cgroup ${cgroupPath}` });
  } finally {
    closeSync(fd);
  }
}

/** Attaches an sk_lookup program to a network namespace (`/proc/self/ns/net`, `/var/run/netns/NAME`). */
export function attachNetns(program: Program, netnsPath: string, attachType: number = AttachType.SK_LOOKUP): Link {
  expectProgramType(program, "attachNetns", ProgramType.SK_LOOKUP, ProgramType.FLOW_DISSECTOR);
  const fd = openSync(netnsPath, "r");
  try {
    return linkCreate({ programFd: program.fd, target: fd, attachType, description: `program "${program.name}" on netns ${netnsPath}` });
  } finally {
    closeSync(fd);
  }
}

/** A socket filter on one socket (SO_ATTACH_BPF); close() detaches it (SO_DETACH_BPF). */
export function attachSocketFilter(program: Program, socketFd: number): Attachment {
  expectProgramType(program, "attachSocketFilter", ProgramType.SOCKET_FILTER);
  setSocketOptionInt(socketFd, SOL_SOCKET, SO_ATTACH_BPF, program.fd, `SO_ATTACH_BPF program "${program.name}" on socket fd ${socketFd}`);
  let attached = true;
  const description = `program "${program.name}" on socket fd ${socketFd}`;
  const close = () => {
    if (!attached) return;
    attached = false;
    try {
      setSocketOptionInt(socketFd, SOL_SOCKET, SO_DETACH_BPF, 0, `SO_DETACH_BPF on socket fd ${socketFd}`);
    } catch {
      // the socket is gone: so is its filter
    }
  };
  return { description, close, [Symbol.dispose]: close };
}
