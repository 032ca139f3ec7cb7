/**
 * Attaching every program of a collection by what its section name says, like libbpf's
 * skeleton auto-attach: `xdp` to an interface, `tracepoint/cat/name` to that tracepoint,
 * `cgroup/connect4` to a cgroup, and so on.
 */
import { AttachType } from "../abi/index.js";
import type { ProgramSpec } from "../elf/index.js";
import { ifindex as interfaceIndex } from "../syscall/netns.js";
import { attachCgroup, attachNetns } from "./attach-net.js";
import { attachTc, type TcDirection } from "./attach-tc.js";
import { attachKprobe, attachRawTracepoint, attachTracepoint, attachTracing } from "./attach-trace.js";
import { attachXdp, type XdpMode } from "./attach-xdp.js";
import type { Collection } from "./collection.js";
import type { Attachment } from "./link.js";
import { TsebpfError } from "../errors.js";

export interface AutoAttachOptions {
  /** Interface for XDP and TC programs. */
  readonly ifname?: string;
  readonly xdpMode?: XdpMode;
  /** Direction for plain `tc`/`classifier` sections (default ingress). */
  readonly tcDirection?: TcDirection;
  /** cgroup v2 directory for cgroup programs. */
  readonly cgroup?: string;
}

/** A program that was not attached, and why. */
export interface Skipped {
  readonly program: string;
  readonly reason: string;
}

/** Attaches every loaded program it can; returns the attachments and what it skipped. */
export function attachAll(coll: Collection, options: AutoAttachOptions = {}): { attachments: Map<string, Attachment>; skipped: Skipped[] } {
  const attachments = new Map<string, Attachment>();
  const skipped: Skipped[] = [];
  try {
    for (const [name, program] of coll.programs) {
      const spec = coll.spec.programs.get(name) as ProgramSpec;
      const a = attachOne(spec, program, options);
      if (typeof a === "string") skipped.push({ program: name, reason: a });
      else attachments.set(name, a);
    }
  } catch (e) {
    for (const a of attachments.values()) a.close();
    throw e;
  }
  return { attachments, skipped };
}

function attachOne(spec: ProgramSpec, program: import("./program.js").Program, o: AutoAttachOptions): Attachment | string {
  const k = spec.kind;
  const target = spec.attachTarget;
  const needIf = () => {
    if (!o.ifname) throw new TsebpfError(`program ${spec.name} (${spec.sectionName}) attaches to an interface: give one (--ifname)`);
    return interfaceIndex(o.ifname);
  };
  switch (k.programTypeName) {
    case "XDP":
      if (k.attachTypeName !== "XDP") return `${spec.sectionName} programs are for devmap/cpumap entries, not interfaces`;
      return attachXdp(program, needIf(), o.xdpMode ? { mode: o.xdpMode } : {});
    case "SCHED_CLS": {
      const direction: TcDirection = k.attachTypeName === "TCX_EGRESS" ? "egress" : k.attachTypeName === "TCX_INGRESS" ? "ingress" : (o.tcDirection ?? "ingress");
      return attachTc(program, needIf(), direction);
    }
    case "TRACEPOINT": {
      const [category, name] = target.split("/");
      if (!category || !name) return `section ${spec.sectionName} names no tracepoint (tracepoint/<category>/<name>)`;
      return attachTracepoint(program, category, name);
    }
    case "RAW_TRACEPOINT":
    case "RAW_TRACEPOINT_WRITABLE":
      if (!target) return `section ${spec.sectionName} names no raw tracepoint`;
      return attachRawTracepoint(program, target);
    case "TRACING":
      if (k.attach === "iter") return "iterators are read, not attached (tsebpf prog run, or readIterator)";
      return attachTracing(program, spec.attachType ?? AttachType.TRACE_RAW_TP, spec.sectionName);
    case "LSM":
      return attachTracing(program, spec.attachType ?? AttachType.LSM_MAC, spec.sectionName);
    case "KPROBE":
      if (k.attach === "kprobe" && target) return attachKprobe(program, target.replace(/\+.*$/, ""), { ret: k.ret });
      return `${spec.sectionName}: give the probe's target explicitly (uprobes need a binary and offset)`;
    case "CGROUP_SKB":
    case "CGROUP_SOCK":
    case "CGROUP_SOCK_ADDR":
    case "CGROUP_SOCKOPT":
    case "CGROUP_SYSCTL":
    case "CGROUP_DEVICE":
    case "SOCK_OPS":
      if (spec.attachType === undefined) return `${spec.sectionName} does not say which cgroup hook`;
      if (!o.cgroup) throw new TsebpfError(`program ${spec.name} (${spec.sectionName}) attaches to a cgroup: give one (--cgroup)`);
      return attachCgroup(program, o.cgroup, spec.attachType);
    case "SK_LOOKUP":
      return attachNetns(program, "/proc/self/ns/net");
    default:
      return `${k.programTypeName.toLowerCase()} programs are not attached automatically`;
  }
}
