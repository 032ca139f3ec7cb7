/**
 * Loading a CollectionSpec into the kernel: object BTF, maps (with pins, inner maps and
 * initial data, read-only ones frozen), externs resolved, CO-RE applied against the kernel's
 * BTF (or another), programs loaded with their BTF func/line info, then prog arrays and
 * map-in-map filled. On any failure everything created so far is closed and unpinned: a failed
 * load leaves nothing in the kernel.
 */
import { rmSync } from "node:fs";
import { HOST_ORDER, encode } from "../asm/index.js";
import { Btf, sanitizeForKernel } from "../btf/index.js";
import { checkProgramTypes, refuseUnresolved, lookupVariable, relocateProgram, setVariable, withConstants, type CollectionSpec, type MapSpec, type ProgramSpec } from "../elf/index.js";
import { btfLoad } from "../syscall/index.js";
import { CodecError, TypedMap, u32, type Codec } from "./codec.js";
import { btfCodec, type BtfValue } from "./btf-codec.js";
import { NotSupportedError } from "./errors.js";
import { OwnedFd } from "./fd.js";
import { kconfigValues } from "./kconfig-values.js";
import { ModuleBtfFds } from "./kfuncs.js";
import { kernelBtf } from "./kernel-btf.js";
import { attachBtfId, resolveAttachTarget, resolveProgramReferences, type AttachTarget, type ResolvedAttachTarget } from "./link-program.js";
import { loadMap } from "./load-maps.js";
import { NotFoundError, TsebpfError, UseAfterCloseError } from "../errors.js";
import { attachPrograms, type Attachments, type AutoAttachOptions } from "./auto-attach.js";
import { GlobalVariable, sectionAccess, variableCodec, type SectionAccess } from "./variable.js";
import { programRefusal } from "./refusals.js";
import { withPoisonedRelocation } from "./verifier-error.js";
import { raiseMemlock } from "./memlock.js";
import type { BpfMap } from "./map.js";
import { Program } from "./program.js";
import { StructOps, createStructOpsMap, planStructOps, structOpsValue, type StructOpsProgramTarget } from "./struct-ops.js";

export { attachFreplace, targetFunctionBtfId, type AttachTarget, type TargetProgram } from "./link-program.js";

export interface CollectionOptions {
  /** bpffs directory for maps declared with `pinning: by_name` (e.g. /sys/fs/bpf/myapp). */
  readonly pinPath?: string;
  /** Verifier log level for successful loads (failures always come with a log). */
  readonly logLevel?: number;
  /** max_entries overrides, by map name. */
  readonly maxEntries?: Readonly<Record<string, number>>;
  /** Initial values of global variables, by name (see setVariable). */
  readonly variables?: Readonly<Record<string, Uint8Array | number | bigint | boolean>>;
  /** Target BTF for CO-RE and kernel symbols; defaults to /sys/kernel/btf/vmlinux. */
  readonly targetBtf?: Btf;
  /** Which programs to load; defaults to every program whose section is not `?`-prefixed. */
  readonly programs?: readonly string[];
  /**
   * Overrides of kernel config values for `.kconfig` externs (`CONFIG_HZ: "250"`), also of the
   * values the loader computes (LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER).
   */
  readonly kconfig?: Readonly<Record<string, string>>;
  /**
   * Constants for undefined symbols the programs load (`r0 = MY_CONST ll` of inline assembly),
   * by name (see resolveSymbol); the spec given is not changed. A program still referring to an
   * undefined symbol is refused (UnresolvedSymbolError) before any system call.
   */
  readonly constants?: Readonly<Record<string, bigint | number>>;
  /**
   * BPF programs as attach targets, by program name: the program (and function) an freplace
   * program replaces, or an fentry/fexit program traces instead of a kernel function.
   */
  readonly attachTargets?: Readonly<Record<string, AttachTarget>>;
}

/** A spec copy that the load may change without touching the caller's. */
function copySpec(spec: CollectionSpec, options: CollectionOptions): CollectionSpec {
  const maps = new Map<string, MapSpec>();
  for (const [name, m] of spec.maps) maps.set(name, { ...m, data: m.data ? Uint8Array.from(m.data) : undefined, contents: [...m.contents] });
  for (const [name, n] of Object.entries(options.maxEntries ?? {})) {
    const m = maps.get(name);
    if (!m) throw new NotFoundError("map", name, [...maps.keys()], "in this object (maxEntries)");
    m.maxEntries = n;
  }
  const copy: CollectionSpec = { ...spec, maps };
  for (const [name, value] of Object.entries(options.variables ?? {})) setVariable(copy, name, value);
  return copy;
}

export class Collection {
  /** Attachments made by attachAll, closed with the collection. */
  private readonly attached = new Set<Attachments>();
  /** How each data map is reached (mapped memory, syscalls, a frozen copy), made on first use. */
  private readonly sections = new Map<string, SectionAccess>();
  private readonly variables = new Map<string, GlobalVariable<unknown>>();
  private isClosed = false;

  private constructor(
    /** The spec this collection was loaded from (with options applied). */
    readonly spec: CollectionSpec,
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, Program>,
    private readonly btf: OwnedFd | undefined,
    /** Paths this collection pinned. */
    readonly pins: readonly string[],
    /** The struct_ops maps (`.struct_ops`, `.struct_ops.link`), each registered by `register()`. */
    readonly structOpsMaps: ReadonlyMap<string, StructOps> = new Map(),
  ) {}

  /** Loads every map and (auto-loaded) program of the spec. */
  static load(spec: CollectionSpec, options: CollectionOptions = {}): Collection {
    if (spec.byteOrder !== HOST_ORDER) {
      throw new NotSupportedError(`loading a ${spec.byteOrder}-endian object on this ${HOST_ORDER}-endian machine`);
    }
    // A program of unspecified type (no section-name rule knows its section) fails here, before any system call.
    checkProgramTypes(spec, options.programs ?? [...spec.programs.values()].filter((p) => p.autoload).map((p) => p.name));
    // Undefined symbols resolved to the constants given; one still unresolved fails here, named.
    const resolved = withConstants(spec, options.constants ?? {});
    refuseUnresolved(resolved, options.programs ?? [...resolved.programs.values()].filter((p) => p.autoload).map((p) => p.name));
    raiseMemlock();
    const s = copySpec(resolved, options);
    const maps = new Map<string, BpfMap>();
    const programs = new Map<string, Program>();
    const pinned: string[] = [];
    const structOps = new Map<string, StructOps>();
    let btfFd: OwnedFd | undefined;
    const target = () => options.targetBtf ?? kernelBtf();
    try {
      btfFd = loadObjectBtf(s);
      const kconfigMap = s.maps.get(".kconfig");
      if (kconfigMap?.data) kconfigValues(s, kconfigMap.data, options.kconfig ?? {});
      for (const m of s.maps.values()) {
        if (m.structOps) continue; // created once their programs are loaded
        const map = loadMap(m, { btfFd: btfFd?.fd, pinPath: options.pinPath, pinned });
        maps.set(m.name, map);
        if (m.readOnly && m.data) map.freeze();
      }
      const plan = planStructOps(s, target);
      // struct_ops programs that fill no struct_ops member have nothing to load against.
      const wanted = options.programs ?? [...s.programs.values()].filter((p) => p.autoload && (p.kind.programTypeName !== "STRUCT_OPS" || plan.programs.has(p.name))).map((p) => p.name);
      for (const name of Object.keys(options.attachTargets ?? {})) {
        if (!wanted.includes(name)) throw new TsebpfError(`attachTargets: program ${name} is not ${s.programs.has(name) ? "loaded (give it in programs)" : "in this object"}`);
      }
      for (const name of wanted) {
        const p = s.programs.get(name);
        if (!p) throw new NotFoundError("program", name, [...s.programs.keys()], "in this object");
        const attachTarget = options.attachTargets?.[name];
        const structOpsTarget = plan.programs.get(name);
        programs.set(name, loadProgram(s, p, { maps, btfFd: btfFd?.fd, target, logLevel: options.logLevel ?? 0, ...(attachTarget ? { attachTarget } : {}), ...(structOpsTarget ? { structOps: structOpsTarget } : {}) }));
      }
      fillContents(s, maps, programs);
      for (const layout of plan.maps.values()) {
        const value = structOpsValue(layout, (n) => programs.get(n)?.fd);
        const map = createStructOpsMap(layout, btfFd?.fd);
        maps.set(layout.spec.name, map);
        structOps.set(layout.spec.name, new StructOps(map, layout, value));
      }
      return new Collection(s, maps, programs, btfFd, pinned, structOps);
    } catch (e) {
      for (const so of structOps.values()) so.close();
      for (const p of programs.values()) p.close();
      for (const m of maps.values()) m.close();
      btfFd?.close();
      for (const path of pinned) rmSync(path, { force: true });
      throw e;
    }
  }

  /** The map of this name; throws naming the maps there are. */
  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new NotFoundError("map", name, [...this.maps.keys()], "in this collection");
    return m;
  }

  /**
   * The map with typed keys and values: codecs from the object's BTF unless given (maps without
   * a BTF key type, like arrays of data sections, get u32 keys).
   */
  typedMap<K = BtfValue, V = BtfValue>(name: string, codecs: { key?: Codec<K>; value?: Codec<V> } = {}): TypedMap<K, V> {
    const map = this.map(name);
    const spec = this.spec.maps.get(name);
    const btf = this.spec.btf;
    const fromBtf = (id: number | undefined, what: string) => {
      if (id === undefined || !btf) throw new CodecError(`map ${name}: no BTF ${what} type: give a codec`);
      return btfCodec(btf, id);
    };
    const key = codecs.key ?? (spec?.keyType === undefined && map.keySize === 4 ? u32 : fromBtf(spec?.keyType, "key"));
    const value = codecs.value ?? fromBtf(spec?.valueType, "value");
    return new TypedMap(map, key as Codec<K>, value as Codec<V>);
  }

  /**
   * The struct_ops map of this name (a `.struct_ops` / `.struct_ops.link` variable): `register()`
   * registers it with the kernel; closing the collection unregisters it.
   */
  structOps(name: string): StructOps {
    const so = this.structOpsMaps.get(name);
    if (!so) throw new NotFoundError("struct_ops map", name, [...this.structOpsMaps.keys()], "in this collection");
    return so;
  }

  /** The program of this name; throws naming the programs there are. */
  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new NotFoundError("program", name, [...this.programs.keys()], "in this collection");
    return p;
  }

  /**
   * A global variable, typed by the object's BTF (or by `codec`): `get()` and `set()` read and
   * write the live value the programs use — in mapped memory with no system call where the data
   * map is mmapable (`.data`, `.bss`, `.data.*` since Linux 5.5). `.rodata` variables are
   * constants after load: `get()` only (set them before load: `variables` of the load options).
   * `name`: the variable's name, or its label `name@section+offset` when static variables of
   * linked objects share the name (the name alone is then an AmbiguousVariableError listing the
   * labels). NotFoundError naming the variables there are.
   */
  variable<T = BtfValue>(name: string, codec?: Codec<T>): GlobalVariable<T> {
    if (this.isClosed) throw new UseAfterCloseError("collection");
    if (!codec) {
      const known = this.variables.get(name);
      if (known) return known as GlobalVariable<T>;
    }
    const spec = lookupVariable(this.spec.variables, name, "in this collection");
    const mapSpec = this.spec.maps.get(spec.map);
    let section = this.sections.get(spec.map);
    if (!section) {
      section = sectionAccess(this.map(spec.map), mapSpec?.readOnly === true);
      this.sections.set(spec.map, section);
    }
    const v = new GlobalVariable<T>(spec.label, spec, section, codec ?? (variableCodec(this.spec.btf, spec) as Codec<T>), this.spec.btf);
    if (!codec) this.variables.set(name, v as GlobalVariable<unknown>);
    return v;
  }

  /**
   * Attaches every program by its section name (libbpf's skeleton auto-attach): one owner of
   * every link, also closed when the collection closes. Programs whose section says no target
   * are an UnattachableError listing them (nothing attached), unless `skipUnattachable`.
   */
  attachAll(options: AutoAttachOptions = {}): Attachments {
    if (this.isClosed) throw new UseAfterCloseError("collection");
    const a = attachPrograms(this, options, (done) => this.attached.delete(done));
    this.attached.add(a);
    return a;
  }

  /**
   * Detaches what attachAll attached, then closes every program and map (pins stay: they are
   * how a collection outlives its process). Idempotent.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    let failure: unknown;
    for (const a of [...this.attached]) {
      try {
        a.close();
      } catch (e) {
        failure ??= e;
      }
    }
    for (const so of this.structOpsMaps.values()) {
      try {
        so.ownRegistration?.close();
      } catch (e) {
        failure ??= e;
      }
    }
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    this.btf?.close();
    if (failure !== undefined) throw failure;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Loads the object's BTF, sanitized for the kernel; undefined when it has none or the kernel refuses it. */
function loadObjectBtf(spec: CollectionSpec): OwnedFd | undefined {
  if (!spec.btf) return undefined;
  const blob = sanitizeForKernel(spec.btf.bytes, spec.btf);
  const { result } = btfLoad(blob);
  // Without BTF, programs still load (without source lines in verifier logs), like libbpf.
  return result >= 0 ? new OwnedFd(result) : undefined;
}

interface ProgramLoadContext {
  readonly maps: ReadonlyMap<string, BpfMap>;
  readonly btfFd: number | undefined;
  readonly target: () => Btf;
  readonly logLevel: number;
  /** A BPF program to load against (freplace, fentry/fexit on a BPF program). */
  readonly attachTarget?: AttachTarget;
  /** A struct_ops program: the kernel struct and the member it fills. */
  readonly structOps?: StructOpsProgramTarget;
}

function loadProgram(spec: CollectionSpec, p: ProgramSpec, ctx: ProgramLoadContext): Program {
  using target = ctx.attachTarget ? resolveAttachTarget(p, ctx.attachTarget) : undefined;
  return loadResolvedProgram(spec, p, ctx, target);
}

function loadResolvedProgram(spec: CollectionSpec, p: ProgramSpec, ctx: ProgramLoadContext, target: ResolvedAttachTarget | undefined): Program {
  const relocated = relocateProgram(spec, p, ctx.target()).instructions;
  // Fds of the module BTF objects of kfuncs only a module has, open until the program is loaded.
  using modules = new ModuleBtfFds();
  const instructions = resolveProgramReferences(p, relocated, { mapFd: (n) => ctx.maps.get(n)?.fd, externs: spec.externs, kernelBtf: ctx.target, moduleBtfFd: (id) => modules.fd(id) });
  const fdArray = modules.fdArray;
  const funcInfo = Buffer.alloc(p.funcInfo.length * 8);
  p.funcInfo.forEach((f, i) => {
    funcInfo.writeUInt32LE(f.slot, i * 8);
    funcInfo.writeUInt32LE(f.typeId, i * 8 + 4);
  });
  const lineInfo = Buffer.alloc(p.lineInfo.length * 16);
  p.lineInfo.forEach((l, i) => {
    lineInfo.writeUInt32LE(l.slot, i * 16);
    lineInfo.writeUInt32LE(l.fileNameOff, i * 16 + 4);
    lineInfo.writeUInt32LE(l.lineOff, i * 16 + 8);
    lineInfo.writeUInt32LE(((l.lineNumber << 10) | l.column) >>> 0, i * 16 + 12);
  });
  const withBtf = ctx.btfFd !== undefined && p.funcInfo.length > 0;
  try {
    return Program.load({
      name: p.name,
      type: p.programType,
      instructions: encode(instructions, HOST_ORDER),
      license: p.license || spec.license,
      kernelVersion: p.kernelVersion,
      flags: (p.kind.sleepable ? 1 << 4 : 0) | (p.kind.xdpFrags ? 1 << 5 : 0),
      ...(p.attachType !== undefined ? { expectedAttachType: p.attachType } : {}),
      ...(target ? { attachBtfId: target.btfId, attachProgFd: target.fd } : { attachBtfId: attachBtfId(p, ctx.target) }),
      ...(ctx.structOps ? { attachBtfId: ctx.structOps.btfId, expectedAttachType: ctx.structOps.memberIndex } : {}),
      ...(withBtf ? { btfFd: ctx.btfFd, funcInfo, funcInfoCount: p.funcInfo.length, lineInfo, lineInfoCount: p.lineInfo.length } : {}),
      ...(fdArray ? { fdArray } : {}),
      logLevel: ctx.logLevel,
    });
  } catch (e) {
    // A verifier rejection of an instruction CO-RE poisoned names the relocation (computed again only then).
    throw programRefusal(e, p, target?.description) ?? withPoisonedRelocation(e, () => relocateProgram(spec, p, ctx.target()).resolutions);
  }
}

/** Prog arrays and map-in-map: their initial entries, now that everything has an fd. */
function fillContents(spec: CollectionSpec, maps: ReadonlyMap<string, BpfMap>, programs: ReadonlyMap<string, Program>): void {
  for (const m of spec.maps.values()) {
    if (m.contents.length === 0) continue;
    const map = maps.get(m.name) as BpfMap;
    for (const c of m.contents) {
      const fd = (programs.get(c.value) ?? maps.get(c.value))?.fd;
      if (fd === undefined) continue; // a program not loaded (not autoloaded): leave its slot empty
      const key = Buffer.alloc(4);
      key.writeUInt32LE(c.key);
      const value = Buffer.alloc(4);
      value.writeUInt32LE(fd);
      map.update(key, value);
    }
  }
}
