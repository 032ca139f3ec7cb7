/**
 * Global variables of a loaded collection (`coll.variable("my_pid")`), typed by the object's BTF:
 * what a libbpf skeleton's `skel->bss->my_pid` is. Writable data (`.data`, `.bss`, `.data.*`)
 * created BPF_F_MMAPABLE is read and written in the mapped map memory — no system call per
 * access; elsewhere (kernels before 5.5) each access is a lookup, and each set a lookup and an
 * update of the whole section. `.rodata` is frozen at load: it is read from a copy taken once
 * (neither side can change it) and setting it is a ReadOnlyVariableError.
 */
import { skipModifiers, type Btf } from "../btf/index.js";
import { VariableError, type VariableSpec } from "../elf/index.js";
import { SyscallError } from "../syscall/index.js";
import { TsebpfError, UseAfterCloseError } from "../errors.js";
import { CodecError, bytes, type Codec } from "./codec.js";
import { btfCodec, type BtfValue } from "./btf-codec.js";
import type { BpfMap } from "./map.js";

/** A `.rodata` variable set after load: constants are fixed when the programs load. */
export class ReadOnlyVariableError extends TsebpfError {
  override readonly name = "ReadOnlyVariableError";

  constructor(readonly variable: string, readonly map: string) {
    // A label (`base@.rodata+4`: a name static variables of linked objects share) is quoted as a key.
    const key = /^[A-Za-z_$][\w$]*$/.test(variable) ? variable : JSON.stringify(variable);
    super(`variable "${variable}" is in ${map}, which is frozen after load (the programs were verified with its value): set it before load, with Collection.load(spec, { variables: { ${key}: … } }) or setVariable(spec, "${variable}", …)`);
  }
}

/** Where a section's bytes are read and written. One per data map of a collection. */
export interface SectionAccess {
  /** True when reads and writes are memory accesses (no system call). */
  readonly mapped: boolean;
  /** The section's current bytes (valid until the next access). */
  read(): Buffer;
  /** Writes `bytes` at `offset` of the section. */
  write(offset: number, bytes: Uint8Array): void;
}

const KEY_ZERO = Buffer.alloc(4);

/** The section in the map's mapped memory: every access a plain load or store. */
class MappedSection implements SectionAccess {
  readonly mapped = true;
  constructor(
    private readonly map: BpfMap,
    private readonly memory: Buffer,
    private readonly isClosed: () => boolean,
  ) {}

  read(): Buffer {
    if (this.isClosed()) throw new UseAfterCloseError(`map "${this.map.name}"`);
    return this.memory;
  }

  write(offset: number, bytes: Uint8Array): void {
    this.read().set(bytes, offset);
  }
}

/** The section through bpf(2): a lookup per read, a lookup and an update per write. */
class SyscallSection implements SectionAccess {
  readonly mapped = false;
  private readonly value: Buffer;
  constructor(private readonly map: BpfMap) {
    this.value = Buffer.alloc(map.userValueSize);
  }

  read(): Buffer {
    if (!this.map.lookupInto(KEY_ZERO, this.value)) throw new TsebpfError(`map "${this.map.name}": element 0 is missing`);
    return this.value;
  }

  write(offset: number, bytes: Uint8Array): void {
    // Read-modify-write of the whole section: a program's write to another variable between
    // the two calls is lost (mmapable data, the default since Linux 5.5, has no such window).
    this.read().set(bytes, offset);
    this.map.update(KEY_ZERO, this.value);
  }
}

/** A frozen section: read once, then served from the copy. */
class FrozenSection implements SectionAccess {
  readonly mapped = false;
  private copy: Buffer | undefined;
  constructor(private readonly map: BpfMap) {}

  read(): Buffer {
    if (this.map.closed) throw new UseAfterCloseError(`map "${this.map.name}"`);
    this.copy ??= this.map.lookup(KEY_ZERO) ?? Buffer.alloc(this.map.valueSize);
    return this.copy;
  }

  write(): void {
    throw new TsebpfError(`map "${this.map.name}" is frozen`);
  }
}

/**
 * How a collection reaches a data map: its mapped memory when the map is mmapable (and the
 * kernel maps it), else system calls; frozen maps from a copy.
 */
export function sectionAccess(map: BpfMap, frozen: boolean): SectionAccess {
  if (frozen) return new FrozenSection(map);
  if (map.mmapable) {
    try {
      const memory = map.memory();
      return new MappedSection(map, memory.bytes, () => memory.closed);
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      // The kernel would not map it: the system calls still work.
    }
  }
  return new SyscallSection(map);
}

/** An integer type's range, for a variable whose (resolved) type is an integer or enum. */
function integerRange(btf: Btf, type: number): { min: bigint; max: bigint; bits: number } | undefined {
  const t = btf.type(skipModifiers(btf, type));
  if (!t) return undefined;
  if (t.kind === "int" && !t.bool && t.size <= 8) {
    const bits = t.size * 8;
    return t.signed ? { min: -(1n << BigInt(bits - 1)), max: (1n << BigInt(bits - 1)) - 1n, bits } : { min: 0n, max: (1n << BigInt(bits)) - 1n, bits };
  }
  if (t.kind === "enum" || t.kind === "enum64") {
    // Either spelling of the same bits, as C accepts for enums.
    const bits = t.size * 8;
    return { min: -(1n << BigInt(bits - 1)), max: (1n << BigInt(bits)) - 1n, bits };
  }
  return undefined;
}

/**
 * A global variable of a loaded collection. `get()` decodes its current value (numbers; bigint
 * for 64-bit integers; arrays, objects and strings for `char[]` through btfCodec); `set()`
 * encodes a value in its place — a whole value: struct members left out are written as zero.
 */
export class GlobalVariable<T = BtfValue> {
  /** The data map it lives in (`.bss`, `.data`, `.rodata`, `.data.custom` …). */
  readonly map: string;
  readonly offset: number;
  readonly size: number;
  /** In `.rodata`: readable, not settable after load. */
  readonly readOnly: boolean;
  private readonly scratch: Buffer;
  private readonly range: { min: bigint; max: bigint; bits: number } | undefined;

  /** @internal (`coll.variable(name)` makes them) */
  constructor(
    /** Its label: the name, or `name@section+offset` when static variables of linked objects share the name. */
    readonly name: string,
    spec: VariableSpec,
    private readonly section: SectionAccess,
    readonly codec: Codec<T>,
    btf: Btf | undefined,
  ) {
    this.map = spec.map;
    this.offset = spec.offset;
    this.size = spec.size;
    this.readOnly = spec.readOnly;
    if (codec.size !== spec.size) throw new CodecError(`variable "${name}" is ${spec.size} bytes, its codec ${codec.size}`);
    this.scratch = Buffer.alloc(spec.size);
    this.range = btf && spec.type !== 0 ? integerRange(btf, spec.type) : undefined;
  }

  /** True when get() and set() are memory accesses, with no system call (mmapable data). */
  get mapped(): boolean {
    return this.section.mapped;
  }

  /** The current value. */
  get(): T {
    return this.codec.decode(this.section.read(), this.offset);
  }

  /** Writes a new value, which the programs see at once. `.rodata`: ReadOnlyVariableError. */
  set(value: T): void {
    if (this.readOnly) throw new ReadOnlyVariableError(this.name, this.map);
    if (this.range) this.checkRange(value);
    this.scratch.fill(0);
    this.codec.encode(value, this.scratch, 0);
    this.section.write(this.offset, this.scratch);
  }

  private checkRange(value: unknown): void {
    const r = this.range as { min: bigint; max: bigint; bits: number };
    let n: bigint;
    if (typeof value === "boolean") n = value ? 1n : 0n;
    else if (typeof value === "bigint") n = value;
    else if (typeof value === "number" && Number.isInteger(value)) n = BigInt(value);
    else throw new VariableError(`variable "${this.name}" is a ${r.bits}-bit integer: ${typeof value === "number" ? `${value} is not an integer` : `got ${typeof value}`}`);
    if (n < r.min || n > r.max) throw new VariableError(`value ${n} does not fit variable "${this.name}" (${r.min}..${r.max})`);
  }
}

/** The codec of a variable: from its BTF type, or raw bytes when the object has no BTF for it. */
export function variableCodec(btf: Btf | undefined, spec: VariableSpec): Codec<BtfValue | Uint8Array> {
  if (btf && spec.type !== 0) return btfCodec(btf, spec.type);
  return bytes(spec.size) as Codec<BtfValue | Uint8Array>;
}
