/**
 * Attaching every program of a collection by what its section name says, like libbpf's
 * skeleton auto-attach: `xdp` to an interface, `tracepoint/cat/name` to that tracepoint,
 * `cgroup/connect4` to a cgroup, and so on; struct_ops maps are registered. The result owns
 * every link (`Attachments`: one `close()` detaches them all), and the collection owns the
 * result: closing the collection detaches what it attached.
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
import { NotFoundError, TsebpfError } from "../errors.js";
import type { Program } from "./program.js";

export interface AutoAttachOptions {
  /** Interface for XDP and TC programs. */
  readonly ifname?: string;
  readonly xdpMode?: XdpMode;
  /** Direction for plain `tc`/`classifier` sections (default ingress). */
  readonly tcDirection?: TcDirection;
  /** cgroup v2 directory for cgroup programs. */
  readonly cgroup?: string;
  /**
   * Attach what can be attached and list the rest in `skipped` (programs whose section name
   * says no target: iterators, uprobes without a binary, devmap programs…). Without it, such
   * programs are an UnattachableError, thrown before anything is attached.
   */
  readonly skipUnattachable?: boolean;
}

/** A program that was not attached, and why. */
export interface Skipped {
  readonly program: string;
  readonly reason: string;
}

/** Programs that cannot be attached from their section name (attachAll without skipUnattachable). */
export class UnattachableError extends TsebpfError {
  override readonly name = "UnattachableError";

  constructor(readonly programs: readonly Skipped[]) {
    super(
      `cannot attach ${programs.length === 1 ? "program" : `${programs.length} programs`} by section name: ${programs.map((s) => `${s.program} (${s.reason})`).join("; ")}; attach ${programs.length === 1 ? "it" : "them"} yourself, or pass { skipUnattachable: true }`,
    );
  }
}

/**
 * Every link attachAll made, by program name: one owner for all of them. `close()` (or `using`)
 * detaches them all; closing the collection does too. Iterating gives `[program, attachment]`.
 */
export class Attachments implements Iterable<[string, Attachment]> {
  private readonly links: Map<string, Attachment>;
  private isClosed = false;

  /** @internal (attachAll makes them) */
  constructor(
    links: ReadonlyMap<string, Attachment>,
    /** Programs left unattached (with skipUnattachable), and why. */
    readonly skipped: readonly Skipped[],
    private readonly onClose: (a: Attachments) => void = () => undefined,
  ) {
    this.links = new Map(links);
  }

  /** Number of attachments held. */
  get size(): number {
    return this.links.size;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  has(program: string): boolean {
    return this.links.has(program);
  }

  /** The attachment of a program; NotFoundError naming the attached programs (and the skipped ones). */
  get(program: string): Attachment {
    const a = this.links.get(program);
    if (a) return a;
    const skipped = this.skipped.find((s) => s.program === program);
    throw new NotFoundError("attachment", program, [...this.links.keys()], skipped ? `(not attached: ${skipped.reason})` : "in these attachments");
  }

  /** Names of the attached programs. */
  programs(): string[] {
    return [...this.links.keys()];
  }

  [Symbol.iterator](): IterableIterator<[string, Attachment]> {
    return this.links.entries();
  }

  /**
   * Takes one attachment out: closing these attachments (or the collection) leaves it alone; the
   * caller owns it now (e.g. a netlink XDP attachment meant to outlive the process).
   */
  release(program: string): Attachment {
    const a = this.get(program);
    this.links.delete(program);
    return a;
  }

  /** Detaches every program (pinned links: drops this process's reference). Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    let first: unknown;
    // Last attached, first detached.
    for (const a of [...this.links.values()].reverse()) {
      try {
        a.close();
      } catch (e) {
        first ??= e;
      }
    }
    this.links.clear();
    this.onClose(this);
    if (first !== undefined) throw first;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Attaches every loaded program of the collection: `coll.attachAll(options)` (the collection then
 * closes them when it closes). UnattachableError, before anything is attached, when a program's
 * section name says no target — unless `skipUnattachable`.
 */
export function attachAll(coll: Collection, options: AutoAttachOptions = {}): Attachments {
  return coll.attachAll(options);
}

/** @internal The work of attachAll, without the collection's bookkeeping. */
export function attachPrograms(coll: Collection, options: AutoAttachOptions, onClose: (a: Attachments) => void): Attachments {
  const plans: [string, () => Attachment][] = [];
  const skipped: Skipped[] = [];
  for (const [name, program] of coll.programs) {
    const spec = coll.spec.programs.get(name) as ProgramSpec;
    // struct_ops programs are registered with their struct_ops map (below), not attached alone.
    if (spec.kind.programTypeName === "STRUCT_OPS") continue;
    const p = plan(spec, program, options);
    if (typeof p === "string") skipped.push({ program: name, reason: p });
    else plans.push([name, p]);
  }
  // struct_ops maps register (libbpf's skeleton attach does the same), under the map's name.
  for (const [name, so] of coll.structOpsMaps) {
    if (coll.programs.has(name)) throw new TsebpfError(`attachAll: struct_ops map ${name} has the name of a program; register it yourself (collection.structOps(name).register())`);
    plans.push([name, () => so.registerOwned(true)]);
  }
  if (skipped.length > 0 && !options.skipUnattachable) throw new UnattachableError(skipped);
  const attachments = new Map<string, Attachment>();
  try {
    for (const [name, attach] of plans) attachments.set(name, attach());
  } catch (e) {
    for (const a of [...attachments.values()].reverse()) a.close();
    throw e;
  }
  return new Attachments(attachments, skipped, onClose);
}

/** How a program attaches (a function that does it), or why it cannot be attached automatically. */
function plan(spec: ProgramSpec, program: Program, o: AutoAttachOptions): (() => Attachment) | string {
  const k = spec.kind;
  const target = spec.attachTarget;
  const needIf = () => {
    if (!o.ifname) throw new TsebpfError(`program ${spec.name} (${spec.sectionName}) attaches to an interface: give one (--ifname)`);
    const ifname = o.ifname;
    return () => interfaceIndex(ifname);
  };
  switch (k.programTypeName) {
    case "XDP": {
      if (k.attachTypeName !== "XDP") return `${spec.sectionName} programs are for devmap/cpumap entries, not interfaces`;
      const index = needIf();
      return () => attachXdp(program, index(), o.xdpMode ? { mode: o.xdpMode } : {});
    }
    case "SCHED_CLS": {
      const direction: TcDirection = k.attachTypeName === "TCX_EGRESS" ? "egress" : k.attachTypeName === "TCX_INGRESS" ? "ingress" : (o.tcDirection ?? "ingress");
      const index = needIf();
      return () => attachTc(program, index(), direction);
    }
    case "TRACEPOINT": {
      const [category, name] = target.split("/");
      if (!category || !name) return `section ${spec.sectionName} names no tracepoint (tracepoint/<category>/<name>)`;
      return () => attachTracepoint(program, category, name);
    }
    case "RAW_TRACEPOINT":
    case "RAW_TRACEPOINT_WRITABLE":
      if (!target) return `section ${spec.sectionName} names no raw tracepoint`;
      return () => attachRawTracepoint(program, target);
    case "TRACING":
      if (k.attach === "iter") return "iterators are read, not attached (tsebpf prog run, or readIterator)";
      return () => attachTracing(program, spec.attachType ?? AttachType.TRACE_RAW_TP, spec.sectionName);
    case "LSM":
      return () => attachTracing(program, spec.attachType ?? AttachType.LSM_MAC, spec.sectionName);
    case "KPROBE":
      if (k.attach === "kprobe" && target) return () => attachKprobe(program, target.replace(/\+.*$/, ""), { ret: k.ret });
      return `${spec.sectionName}: give the probe's target explicitly (uprobes need a binary and offset)`;
    case "CGROUP_SKB":
    case "CGROUP_SOCK":
    case "CGROUP_SOCK_ADDR":
    case "CGROUP_SOCKOPT":
    case "CGROUP_SYSCTL":
    case "CGROUP_DEVICE":
    case "SOCK_OPS": {
      const attachType = spec.attachType;
      if (attachType === undefined) return `${spec.sectionName} does not say which cgroup hook`;
      if (!o.cgroup) throw new TsebpfError(`program ${spec.name} (${spec.sectionName}) attaches to a cgroup: give one (--cgroup)`);
      const cgroup = o.cgroup;
      return () => attachCgroup(program, cgroup, attachType);
    }
    case "SK_LOOKUP":
      return () => attachNetns(program, "/proc/self/ns/net");
    default:
      return `${k.programTypeName.toLowerCase()} programs are not attached automatically`;
  }
}
