/**
 * EPERM from the kernel means two different things: this process lacks a capability, or this
 * kernel's build or policy refuses one type (arena maps, trampoline programs, map-element
 * iterators on some builds) while everything else loads. These functions tell them apart with the
 * probes — the type refused for a process that demonstrably creates maps and loads programs — and
 * only then turn the EPERM into NotSupportedError naming the type. Otherwise the caller keeps the
 * kernel's own error (with its capability hint).
 */
import { MapType, mapTypeName, programTypeName, type MapTypeName, type ProgramTypeName } from "../abi/index.js";
import type { ProgramSpec } from "../elf/index.js";
import { SyscallError } from "../syscall/index.js";
import { NotSupportedError } from "./errors.js";
import { probeIterator, probeMapType, probeProgramType, probeTrampoline, type ProbeAnswer, type TrampolineKind } from "./probe.js";

const isEperm = (e: unknown): e is SyscallError => e instanceof SyscallError && e.code === "EPERM";

/** The probe's answer, or undefined when probing itself fails (no privileges at all). */
function ask(probe: () => ProbeAnswer): ProbeAnswer | undefined {
  try {
    return probe();
  } catch {
    return undefined;
  }
}

const refusedWithEperm = (a: ProbeAnswer | undefined): boolean => a !== undefined && !a.supported && a.reason === "EPERM";

/** A NotSupportedError for a map-creation EPERM that the probes prove is this kernel refusing the type, else undefined. */
export function mapRefusal(error: unknown, mapName: string, type: number): NotSupportedError | undefined {
  if (!isEperm(error)) return undefined;
  const name = mapTypeName(type);
  if (!(name in MapType) || !refusedWithEperm(ask(() => probeMapType(name as MapTypeName)))) return undefined;
  return new NotSupportedError(
    `map "${mapName}": BPF_MAP_TYPE_${name}`,
    undefined,
    `this kernel refuses ${name.toLowerCase()} maps (BPF_MAP_CREATE: EPERM, while other maps are created; \`tsebpf probe\` shows "${name.toLowerCase()}: no (EPERM)")`,
  );
}

const TRAMPOLINE = /^(fentry|fexit|fmod_ret|freplace|lsm)/;

/** A NotSupportedError for a program-load EPERM that the probes prove is this kernel refusing the kind, else undefined. */
export function programRefusal(error: unknown, p: ProgramSpec, on?: string): NotSupportedError | undefined {
  if (!isEperm(error)) return undefined;
  const what = `program "${p.name}" (${p.sectionName})${on ? ` on ${on}` : ""}`;
  const trampoline = TRAMPOLINE.exec(p.kind.pattern)?.[1] as TrampolineKind | undefined;
  if (trampoline) {
    if (!refusedWithEperm(ask(() => probeTrampoline(trampoline)))) return undefined;
    return new NotSupportedError(
      `${what}: a program that needs a BPF trampoline`,
      undefined,
      `this kernel refuses ${trampoline} programs (BPF_PROG_LOAD: EPERM, while other programs load; \`tsebpf probe\` shows "${trampoline}: no (EPERM)")`,
    );
  }
  if (p.kind.pattern.startsWith("iter")) {
    const target = p.kind.attachTarget;
    if (!refusedWithEperm(ask(() => probeIterator(target)))) return undefined;
    return new NotSupportedError(`${what}: iterators over ${target}`, undefined, `this kernel refuses iter/${target} programs (BPF_PROG_LOAD: EPERM, while other iterators load)`);
  }
  const type = programTypeName(p.programType);
  if (!refusedWithEperm(ask(() => probeProgramType(type as ProgramTypeName)))) return undefined;
  return new NotSupportedError(`${what}: BPF_PROG_TYPE_${type}`, undefined, `this kernel refuses ${type.toLowerCase()} programs (BPF_PROG_LOAD: EPERM, while other programs load)`);
}
