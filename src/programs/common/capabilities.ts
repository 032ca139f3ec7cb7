/**
 * The capabilities a program needs, checked before anything is loaded, so that a process that
 * lacks one is told which (one line) instead of getting the kernel's EPERM from the middle of a
 * load. The kernel accepts CAP_SYS_ADMIN in place of CAP_BPF (bpf_capable) and of CAP_PERFMON
 * (perfmon_capable); CAP_NET_ADMIN has no such stand-in.
 */
import { readFileSync } from "node:fs";
import { TsebpfError } from "../../errors.js";

/** Capability numbers (linux/capability.h). */
export const CAPABILITIES = { CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 } as const;
export type Capability = keyof typeof CAPABILITIES;

/** What loading an XDP or TC program and attaching it to an interface takes (CAP_SYS_ADMIN may stand in for CAP_BPF). */
export const NETWORK_PROGRAM_CAPABILITIES: readonly Capability[] = ["CAP_BPF", "CAP_NET_ADMIN"];

/** The process lacks capabilities a program needs (nothing was loaded). */
export class MissingCapabilityError extends TsebpfError {
  override readonly name = "MissingCapabilityError";
  constructor(
    message: string,
    /** The capabilities missing, in the order they were asked for. */
    readonly missing: readonly Capability[],
  ) {
    super(message);
  }
}

/** The effective capability set in `/proc/<pid>/status` text (its `CapEff:` line), or undefined when it has none. */
export function parseEffective(status: string): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** This process's effective capabilities; undefined where /proc cannot say (not Linux, no procfs). */
export function effectiveCapabilities(): bigint | undefined {
  try {
    return parseEffective(readFileSync("/proc/self/status", "utf8"));
  } catch {
    return undefined;
  }
}

const has = (set: bigint, cap: Capability) => ((set >> BigInt(CAPABILITIES[cap])) & 1n) === 1n;

/** Which of `needed` the set lacks (CAP_SYS_ADMIN standing in for CAP_BPF and CAP_PERFMON, as the kernel lets it). */
export function missingCapabilities(needed: readonly Capability[], effective: bigint): Capability[] {
  const admin = has(effective, "CAP_SYS_ADMIN");
  return needed.filter((cap) => !has(effective, cap) && !(admin && (cap === "CAP_BPF" || cap === "CAP_PERFMON")));
}

/**
 * Throws a MissingCapabilityError — `comtrace: missing CAP_PERFMON: tracing TCP state changes
 * needs CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON); run as
 * root or grant it` — when this process lacks any of `needed`. Does nothing where the capabilities cannot be read (the kernel will
 * say EPERM itself). `why` says what they are for.
 */
export function requireCapabilities(program: string, needed: readonly Capability[], why: string, effective: bigint | undefined = effectiveCapabilities()): void {
  if (effective === undefined) return;
  const missing = missingCapabilities(needed, effective);
  if (missing.length === 0) return;
  const all = needed.join(" and ");
  const covered = needed.filter((c) => c === "CAP_BPF" || c === "CAP_PERFMON");
  const admin = covered.length === 0 ? "" : ` (CAP_SYS_ADMIN stands in for ${covered.join(" and ")})`;
  throw new MissingCapabilityError(`${program}: missing ${missing.join(" and ")}: ${why} needs ${all}${admin}; run as root or grant ${missing.length === 1 ? "it" : "them"}`, missing);
}
