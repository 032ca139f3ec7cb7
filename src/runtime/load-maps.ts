/**
 * Creating a collection's maps: BTF types, inner-map templates, pinning by name, initial data.
 * Writable global data (`.data`, `.bss`, `.data.*`) is created BPF_F_MMAPABLE where the kernel
 * allows it (probed once per kernel), like libbpf: its variables are then read and written
 * through the mapping, with no system call.
 */
import { existsSync } from "node:fs";
import { MapType } from "../abi/index.js";
import { isDataSection, type MapSpec } from "../elf/index.js";
import { SyscallError, kernel, mapCreate, type Kernel } from "../syscall/index.js";
import { BpfMap, type MapInfo } from "./map.js";
import { BPF_F_MMAPABLE } from "./map-memory.js";
import { TsebpfError } from "../errors.js";

export interface MapLoadContext {
  /** fd of the object's BTF in the kernel, when it loaded. */
  readonly btfFd: number | undefined;
  /** Directory (on bpffs) for maps with `pinning: by_name`. */
  readonly pinPath: string | undefined;
  /** Paths pinned during this load, to remove if the load fails. */
  readonly pinned: string[];
}

const WITHOUT_BTF_VALUE: ReadonlySet<number> = new Set([MapType.PERF_EVENT_ARRAY, MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS, MapType.RINGBUF, MapType.USER_RINGBUF, MapType.STACK_TRACE, MapType.CGROUP_ARRAY, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP, MapType.SOCKMAP, MapType.SOCKHASH, MapType.QUEUE, MapType.STACK]);
/** The kernel adds BPF_F_RDONLY_PROG to device maps itself: a pinned one has it, the spec not. */
const KERNEL_ADDED_FLAGS: ReadonlyMap<number, number> = new Map([
  [MapType.DEVMAP, 1 << 7],
  [MapType.DEVMAP_HASH, 1 << 7],
]);

/** Answers of the BPF_F_MMAPABLE probe, per kernel (a fake kernel in tests has its own). */
const mmapableAnswers = new WeakMap<Kernel, boolean>();

/** Whether this kernel creates array maps with BPF_F_MMAPABLE (Linux 5.5): asked once. */
export function mmapableArraysSupported(): boolean {
  const k = kernel();
  let answer = mmapableAnswers.get(k);
  if (answer === undefined) {
    try {
      k.close(mapCreate({ name: "probe_mmap", type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, flags: BPF_F_MMAPABLE }));
      answer = true;
    } catch (e) {
      // EINVAL on kernels before 5.5; anything else (EPERM) the map itself will say again.
      if (!(e instanceof SyscallError)) throw e;
      answer = false;
    }
    mmapableAnswers.set(k, answer);
  }
  return answer;
}

/** Writable global data: the maps a program and user space share through mmap. */
const isWritableData = (spec: MapSpec): boolean => spec.type === MapType.ARRAY && isDataSection(spec.name) && !spec.readOnly;

/** The flags a map is created with: the spec's, plus BPF_F_MMAPABLE for writable global data where supported. */
export function creationFlags(spec: MapSpec): number {
  if (isWritableData(spec) && (spec.flags & BPF_F_MMAPABLE) === 0 && mmapableArraysSupported()) return spec.flags | BPF_F_MMAPABLE;
  return spec.flags;
}

function create(spec: MapSpec, ctx: MapLoadContext, innerMapFd?: number): BpfMap {
  const maxEntries = spec.type === MapType.PERF_EVENT_ARRAY && spec.maxEntries === 0 ? kernel().possibleCpus() : spec.maxEntries;
  const base = {
    name: spec.name,
    type: spec.type,
    keySize: spec.keySize,
    valueSize: spec.valueSize,
    maxEntries,
    flags: creationFlags(spec),
    numaNode: spec.numaNode,
    mapExtra: spec.mapExtra,
    ...(innerMapFd === undefined ? {} : { innerMapFd }),
  };
  const typed = ctx.btfFd !== undefined && spec.valueType !== undefined && !WITHOUT_BTF_VALUE.has(spec.type);
  if (!typed) return BpfMap.create(base);
  try {
    return BpfMap.create({ ...base, btfFd: ctx.btfFd, btfKeyTypeId: spec.keyType ?? 0, btfValueTypeId: spec.valueType ?? 0 });
  } catch (e) {
    // Some kernels refuse BTF for some map types or values (EINVAL, or ENOTSUPP for types
    // without BTF support): like libbpf, try once without.
    if (e instanceof SyscallError && (e.code === "EINVAL" || e.code === "ENOTSUPP")) return BpfMap.create(base);
    throw e;
  }
}

/** What must match between a pinned map and its spec. */
function incompatibility(info: MapInfo, spec: MapSpec): string | undefined {
  const maxEntries = spec.type === MapType.PERF_EVENT_ARRAY && spec.maxEntries === 0 ? kernel().possibleCpus() : spec.maxEntries;
  const checks: [string, number, number][] = [
    ["type", info.type, spec.type],
    ["key size", info.keySize, spec.keySize],
    ["value size", info.valueSize, spec.valueSize],
    ["max entries", info.maxEntries, maxEntries],
    // Global data may be pinned with or without BPF_F_MMAPABLE (an older tsebpf, or libbpf).
    ["flags", info.flags & ~(KERNEL_ADDED_FLAGS.get(spec.type) ?? 0) & ~(isWritableData(spec) ? BPF_F_MMAPABLE : 0), spec.flags & ~(isWritableData(spec) ? BPF_F_MMAPABLE : 0)],
  ];
  for (const [what, pinned, wanted] of checks) if (pinned !== wanted) return `${what} is ${pinned}, the object wants ${wanted}`;
  return undefined;
}

/** Thrown when a pinned map exists but does not fit the spec. */
export class PinMismatchError extends TsebpfError {
  override readonly name = "PinMismatchError";
}

/** Creates (or opens, when pinned by name and present) one map of a collection. */
export function loadMap(spec: MapSpec, ctx: MapLoadContext): BpfMap {
  const path = spec.pinning === "by_name" && ctx.pinPath ? `${ctx.pinPath}/${spec.name}` : undefined;
  if (path && existsSync(path)) {
    const pinned = BpfMap.fromPin(path);
    const why = incompatibility(pinned.info(), spec);
    if (why) {
      pinned.close();
      throw new PinMismatchError(`map "${spec.name}": the map pinned at ${path} does not match: ${why}`);
    }
    return pinned;
  }
  let inner: BpfMap | undefined;
  if (spec.innerMap) inner = create(spec.innerMap, ctx);
  try {
    const map = create(spec, ctx, inner?.fd);
    try {
      if (spec.data) map.update(Buffer.alloc(4), spec.data);
      if (path) {
        map.pin(path);
        ctx.pinned.push(path);
      }
    } catch (e) {
      map.close();
      throw e;
    }
    return map;
  } finally {
    inner?.close();
  }
}
