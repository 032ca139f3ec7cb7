/**
 * A program's type: decided from its section name (libbpf 1.x's rules, then libbpf 0.x's prefix
 * rules as a guess, else unspecified), or set by the user before load.
 *
 * Every function of every executable section (except `.text`, whose functions are subprograms) is
 * a program, whatever the section is called — as libbpf's object open and cilium/ebpf do. A
 * program whose section name says nothing has type UNSPEC (0) and `typeSource: "unspecified"`:
 * it is listed (inspect), and loads once its type is set (setProgramType, `tsebpf load --type`).
 */
import { AttachType, ProgramType, type AttachTypeName, type ProgramTypeName } from "../abi/index.js";
import { TsebpfError } from "../errors.js";
import { legacySectionKind } from "./section-names-legacy.js";
import { classifySection, type SectionKind } from "./section-names.js";
import type { ProgramSpec } from "./spec.js";

/** The kind of a section whose name no rule knows: type UNSPEC, nothing to attach by. */
export function unspecifiedKind(sectionName: string): SectionKind {
  return {
    typeSource: "unspecified",
    pattern: "",
    programType: ProgramType.UNSPEC,
    programTypeName: "UNSPEC",
    attachType: undefined,
    attachTypeName: undefined,
    attachTarget: "",
    autoload: !sectionName.startsWith("?"),
    sleepable: false,
    xdpFrags: false,
    btfTarget: false,
    attach: "none",
    ret: false,
  };
}

/**
 * What the programs of a code section are, by its name: libbpf 1.x's rules (typeSource
 * "section"), else libbpf 0.x's prefix rules (typeSource "legacy"), else unspecified.
 */
export function programKind(sectionName: string): SectionKind {
  return classifySection(sectionName) ?? legacySectionKind(sectionName) ?? unspecifiedKind(sectionName);
}

/** A program type the user named that tsebpf does not know (one line, listing the forms accepted). */
export class ProgramTypeError extends TsebpfError {
  override readonly name = "ProgramTypeError";

  constructor(
    readonly given: string,
    reason: string,
  ) {
    super(`program type ${JSON.stringify(given)}: ${reason}`);
  }
}

const TYPE_FORMS = "a section name (xdp, tc, socket, cgroup_skb/egress, sk_skb/stream_verdict, kprobe/FUNC, …) or a BPF_PROG_TYPE name (sched_cls, socket_filter, …)";

/**
 * The kind a `--type` text stands for, like bpftool's `prog load … type TYPE`: a section name by
 * libbpf 1.x's rules (`xdp`, `cgroup/skb`, `sk_skb/stream_verdict`, `kprobe/do_sys_open`: type,
 * expected attach type, flags and target as that section would give), else a program type name
 * with or without BPF_PROG_TYPE_ (`sched_cls`, `BPF_PROG_TYPE_SOCKET_FILTER`: no attach type).
 * Throws ProgramTypeError for anything else, and for `unspec`.
 */
export function kindForType(text: string): SectionKind {
  const fromSection = classifySection(text);
  if (fromSection && !text.startsWith("?")) return { ...fromSection, typeSource: "user" };
  const name = text.toUpperCase().replace(/^BPF_PROG_TYPE_/, "");
  if (name === "UNSPEC") throw new ProgramTypeError(text, `a program cannot be loaded without a type; give ${TYPE_FORMS}`);
  if (!Object.hasOwn(ProgramType, name)) throw new ProgramTypeError(text, `not a known type; give ${TYPE_FORMS}`);
  const typeName = name as ProgramTypeName;
  return { ...unspecifiedKind(""), typeSource: "user", pattern: typeName.toLowerCase(), programType: ProgramType[typeName], programTypeName: typeName };
}

/** Options of setProgramType. */
export interface SetProgramTypeOptions {
  /** The expected attach type (BPF_* without the prefix, or its number); default: what the type text gives, else none. */
  readonly attachType?: AttachTypeName | number;
}

const attachTypeNames = new Map<number, AttachTypeName>(Object.entries(AttachType).map(([k, v]) => [v, k as AttachTypeName]));
const programTypeNames = new Map<number, ProgramTypeName>(Object.entries(ProgramType).map(([k, v]) => [v, k as ProgramTypeName]));

/**
 * Sets a program's type before load — for a program whose section name says nothing
 * (typeSource "unspecified"), or to override what it says. `type` is a `--type` text (see
 * kindForType) or a ProgramType number. Updates programType, attachType, the attach target (when
 * the text names one) and `kind` (typeSource "user"; flags such as sleepable and xdp frags from
 * the text), so load and auto-attach both follow it. Throws ProgramTypeError for an unknown type.
 */
export function setProgramType(program: ProgramSpec, type: string | number, options: SetProgramTypeOptions = {}): void {
  let kind: SectionKind;
  if (typeof type === "number") {
    const typeName = programTypeNames.get(type);
    if (typeName === undefined || type === ProgramType.UNSPEC) throw new ProgramTypeError(String(type), `not a program type number tsebpf knows (1..${Math.max(...programTypeNames.keys())})`);
    kind = kindForType(typeName);
  } else {
    kind = kindForType(type);
  }
  if (options.attachType !== undefined) {
    const value = typeof options.attachType === "number" ? options.attachType : AttachType[options.attachType];
    const name = attachTypeNames.get(value as number);
    if (value === undefined || name === undefined) throw new ProgramTypeError(String(options.attachType), "not an attach type tsebpf knows");
    kind = { ...kind, attachType: value, attachTypeName: name };
  }
  kind = { ...kind, autoload: program.autoload, attachTarget: kind.attachTarget || program.attachTarget };
  program.kind = kind;
  program.programType = kind.programType;
  program.attachType = kind.attachType;
  program.attachTarget = kind.attachTarget;
}
