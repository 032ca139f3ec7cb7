/**
 * A BPF map in the kernel. Keys and values are bytes (Buffer); typed access through codecs is
 * in codec.ts. The single-element operations reuse one attr and one key/value buffer per map:
 * `lookupInto` allocates nothing in JavaScript.
 */
import { BpfCommand, MapType } from "../abi/index.js";
import {
  Struct,
  bpfError,
  bpfTry,
  fdById,
  kernel,
  mapCreate,
  mapFreeze,
  objGet,
  objInfo,
  objPin,
  type MapCreateOptions,
} from "../syscall/index.js";
import { OwnedFd } from "./fd.js";
import { TsebpfError, UseAfterCloseError } from "../errors.js";
import { mapRefusal } from "./refusals.js";
import { MapMemory, isMmapable } from "./map-memory.js";

export { UseAfterCloseError };
export { BPF_F_MMAPABLE, BPF_F_RDONLY, MapMemory } from "./map-memory.js";

/** Update flags. */
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2, LOCK: 4 } as const;

const PER_CPU_TYPES: ReadonlySet<number> = new Set([MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE]);

/** What the kernel says about a map. */
export interface MapInfo {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly btfId: number;
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
  readonly mapExtra: bigint;
}

export function mapInfoByFd(fd: number, what: string): MapInfo {
  const info = new Struct("BpfMapInfo");
  objInfo(fd, info, what);
  return {
    id: info.getU32("id"),
    name: info.getString("name"),
    type: info.getU32("type"),
    keySize: info.getU32("key_size"),
    valueSize: info.getU32("value_size"),
    maxEntries: info.getU32("max_entries"),
    flags: info.getU32("map_flags"),
    btfId: info.getU32("btf_id"),
    btfKeyTypeId: info.getU32("btf_key_type_id"),
    btfValueTypeId: info.getU32("btf_value_type_id"),
    mapExtra: info.getU64("map_extra"),
  };
}

const ENOENT = 2;
/** bpf_attr bytes of the element commands: map_fd, key, value, flags. */
const ELEM_SIZE = 32;
const CMD_LOOKUP = BpfCommand.MAP_LOOKUP_ELEM;
const CMD_UPDATE = BpfCommand.MAP_UPDATE_ELEM;
const CMD_DELETE = BpfCommand.MAP_DELETE_ELEM;

/**
 * Zero-copy single-element operations on one map: write the key into `key`, call `lookup()`,
 * read the value from `value` (or write `value` and call `update()`). Each operation is exactly
 * one system call on attrs prepared once — no copy, no allocation. After the map is closed every
 * operation throws UseAfterCloseError.
 */
export class MapFastPath {
  /** The key of the next operation (the map's keySize bytes). */
  readonly key: Buffer;
  /** The value `lookup()` fills and `update()` writes (the map's userValueSize bytes). */
  readonly value: Buffer;
  /** Set by the map's close(): the prepared attrs name an fd that is no longer ours. */
  private closed = false;
  private updateFlags = 0;
  private readonly call: (cmd: number, attrAddress: number, size: number) => number;
  /** Prepared attrs (key and value point at `key`/`value`) and their addresses. */
  private readonly lookupAttr = new Struct("AttrMapElem");
  private readonly updateAttr = new Struct("AttrMapElem");
  private readonly deleteAttr = new Struct("AttrMapElem");
  private readonly lookupAt: number;
  private readonly updateAt: number;
  private readonly deleteAt: number;

  /** @internal (a map makes its own: `map.fast`) */
  constructor(
    fd: number,
    keySize: number,
    valueSize: number,
    private readonly what: string,
  ) {
    const k = kernel();
    this.key = Buffer.alloc(Math.max(1, keySize));
    this.value = Buffer.alloc(Math.max(1, valueSize));
    const keyAddress = k.address(this.key);
    const valueAddress = k.address(this.value);
    for (const a of [this.lookupAttr, this.updateAttr, this.deleteAttr]) a.set("map_fd", fd).set("key", keyAddress);
    this.lookupAttr.set("value", valueAddress);
    this.updateAttr.set("value", valueAddress);
    this.call = k.bpfAtFunction();
    // User-space addresses fit a double exactly.
    this.lookupAt = Number(k.address(this.lookupAttr.buf));
    this.updateAt = Number(k.address(this.updateAttr.buf));
    this.deleteAt = Number(k.address(this.deleteAttr.buf));
  }

  /** Looks `key` up into `value`: true when found. */
  lookup(): boolean {
    if (this.closed) throw new UseAfterCloseError(this.what);
    const r = this.call(CMD_LOOKUP, this.lookupAt, ELEM_SIZE);
    if (r >= 0) return true;
    if (r === -ENOENT) return false;
    throw bpfError("MAP_LOOKUP_ELEM", -r, this.what);
  }

  /** Writes `value` under `key` (`UpdateFlags`). */
  update(flags: number = UpdateFlags.ANY): void {
    if (this.closed) throw new UseAfterCloseError(this.what);
    if (flags !== this.updateFlags) {
      this.updateAttr.setU32("flags", flags);
      this.updateFlags = flags;
    }
    const r = this.call(CMD_UPDATE, this.updateAt, ELEM_SIZE);
    if (r < 0) throw bpfError("MAP_UPDATE_ELEM", -r, this.what);
  }

  /** Deletes `key`: true when it existed. */
  delete(): boolean {
    if (this.closed) throw new UseAfterCloseError(this.what);
    const r = this.call(CMD_DELETE, this.deleteAt, ELEM_SIZE);
    if (r >= 0) return true;
    if (r === -ENOENT) return false;
    throw bpfError("MAP_DELETE_ELEM", -r, this.what);
  }

  /** Lookups with flags (BPF_F_LOCK): the slow lane of `lookupInto`. */
  lookupWithFlags(flags: number): boolean {
    this.lookupAttr.setU32("flags", flags);
    try {
      return this.lookup();
    } finally {
      this.lookupAttr.setU32("flags", 0);
    }
  }

  /** @internal */
  markClosed(): void {
    this.closed = true;
  }
}

export class BpfMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  /** Size of one value as the program sees it. */
  readonly valueSize: number;
  /** Size of a value buffer for user space: per-CPU maps hold one 8-byte-aligned slot per CPU. */
  readonly userValueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly perCpu: boolean;
  /**
   * The zero-copy fast path: `map.fast.key` written, `map.fast.lookup()`, `map.fast.value` read.
   * One system call per operation, nothing copied or allocated.
   */
  readonly fast: MapFastPath;
  private readonly owner: OwnedFd;
  private readonly attr = new Struct("AttrMapElem");
  private readonly key: Buffer;
  private readonly value: Buffer;
  private readonly valueView: Uint8Array;
  private readonly nextKey: Buffer;
  private mapped: MapMemory | undefined;

  private constructor(fd: number, info: Pick<MapInfo, "name" | "type" | "keySize" | "valueSize" | "maxEntries" | "flags">) {
    this.owner = new OwnedFd(fd);
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.perCpu = PER_CPU_TYPES.has(info.type);
    this.userValueSize = this.perCpu ? Math.ceil(info.valueSize / 8) * 8 * kernel().possibleCpus() : info.valueSize;
    this.fast = new MapFastPath(fd, info.keySize, this.userValueSize, this.what());
    this.key = this.fast.key;
    this.value = this.fast.value;
    this.valueView = this.value.subarray(0, this.userValueSize);
    this.nextKey = Buffer.alloc(Math.max(1, info.keySize));
    this.attr.set("map_fd", fd);
  }

  /** Creates a map. */
  static create(options: MapCreateOptions): BpfMap {
    let fd: number;
    try {
      fd = mapCreate(options);
    } catch (e) {
      throw mapRefusal(e, options.name, options.type) ?? e;
    }
    try {
      return new BpfMap(fd, { name: options.name, type: options.type, keySize: options.keySize, valueSize: options.valueSize, maxEntries: options.maxEntries, flags: options.flags ?? 0 });
    } catch (e) {
      kernel().close(fd);
      throw e;
    }
  }

  /** Takes ownership of an fd of a map (its shape is read from the kernel). */
  static fromFd(fd: number): BpfMap {
    try {
      return new BpfMap(fd, mapInfoByFd(fd, `map fd ${fd}`));
    } catch (e) {
      kernel().close(fd);
      throw e;
    }
  }

  /** Opens the map pinned at `path` (bpffs). */
  static fromPin(path: string): BpfMap {
    return BpfMap.fromFd(objGet(path));
  }

  /** Opens the map with this kernel id. */
  static fromId(id: number): BpfMap {
    return BpfMap.fromFd(fdById("MAP", id));
  }

  /** The fd; throws UseAfterCloseError after close. */
  get fd(): number {
    if (this.owner.closed) throw new UseAfterCloseError(this.what());
    return this.owner.fd;
  }

  get closed(): boolean {
    return this.owner.closed;
  }

  private what(): string {
    return `map "${this.name}"`;
  }

  private live(): void {
    if (this.owner.closed) throw new UseAfterCloseError(this.what());
  }

  private loadKey(key: Uint8Array): void {
    if (key.byteLength !== this.keySize) throw new RangeError(`${this.what()}: key is ${key.byteLength} bytes, the map's ${this.keySize}`);
    this.key.set(key);
  }

  /** Looks a key up into `out` (userValueSize bytes): true when found. Allocates nothing. */
  lookupInto(key: Uint8Array, out: Uint8Array, flags = 0): boolean {
    if (out.byteLength < this.userValueSize) throw new RangeError(`${this.what()}: value buffer is ${out.byteLength} bytes, needs ${this.userValueSize}`);
    this.loadKey(key);
    if (!(flags === 0 ? this.fast.lookup() : this.fast.lookupWithFlags(flags))) return false;
    out.set(this.valueView);
    return true;
  }

  /** The value of a key (a new Buffer), or undefined. */
  lookup(key: Uint8Array, flags = 0): Buffer | undefined {
    const out = Buffer.alloc(this.userValueSize);
    return this.lookupInto(key, out, flags) ? out : undefined;
  }

  /** Creates or updates an entry (`UpdateFlags`). Allocates nothing. */
  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.ANY): void {
    if (value.byteLength !== this.userValueSize) throw new RangeError(`${this.what()}: value is ${value.byteLength} bytes, the map's ${this.userValueSize}`);
    this.loadKey(key);
    this.value.set(value);
    this.fast.update(flags);
  }

  /** Deletes an entry: true when it existed. Allocates nothing. */
  delete(key: Uint8Array): boolean {
    this.loadKey(key);
    return this.fast.delete();
  }

  /** Looks up and deletes an entry (queues, stacks, hash maps): the value, or undefined. */
  lookupAndDelete(key?: Uint8Array): Buffer | undefined {
    this.live();
    const a = this.attr;
    if (key) this.loadKey(key);
    a.set("key", key ? kernel().address(this.key) : 0n).set("value", kernel().address(this.value)).set("flags", 0);
    const r = bpfTry("MAP_LOOKUP_AND_DELETE_ELEM", a, a.end("flags"));
    if (r === -ENOENT) return undefined;
    if (r < 0) throw bpfError("MAP_LOOKUP_AND_DELETE_ELEM", -r, this.what());
    return Buffer.from(this.value.subarray(0, this.userValueSize));
  }

  /** The key after `key` (or the first key), or undefined at the end. */
  nextKeyOf(key: Uint8Array | undefined): Buffer | undefined {
    this.live();
    const a = this.attr;
    if (key) this.loadKey(key);
    a.set("key", key ? kernel().address(this.key) : 0n).set("next_key", kernel().address(this.nextKey)).set("flags", 0);
    const r = bpfTry("MAP_GET_NEXT_KEY", a, a.end("flags"));
    if (r === -ENOENT) return undefined;
    if (r < 0) throw bpfError("MAP_GET_NEXT_KEY", -r, this.what());
    return Buffer.from(this.nextKey.subarray(0, this.keySize));
  }

  /** Every key, in the kernel's order. */
  *keys(): Generator<Buffer> {
    for (let k = this.nextKeyOf(undefined); k !== undefined; k = this.nextKeyOf(k)) yield k;
  }

  /** Every entry. Entries deleted while iterating are skipped. */
  *entries(): Generator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  /** A per-CPU value split into one Buffer per CPU. */
  perCpuValues(value: Uint8Array): Buffer[] {
    if (!this.perCpu) return [Buffer.from(value)];
    const slot = Math.ceil(this.valueSize / 8) * 8;
    const out: Buffer[] = [];
    for (let off = 0; off < value.byteLength; off += slot) out.push(Buffer.from(value.subarray(off, off + this.valueSize)));
    return out;
  }

  /** Freezes the map: user space can no longer write it (read-only data). */
  freeze(): void {
    this.live();
    if (this.mapped) throw new TsebpfError(`${this.what()}: cannot freeze a map whose memory is mapped writable (memory()): the kernel refuses (EBUSY)`);
    mapFreeze(this.fd, this.what());
  }

  /** True for an array created with BPF_F_MMAPABLE: `memory()` maps its values. */
  get mmapable(): boolean {
    return isMmapable(this);
  }

  /**
   * The map's values, mapped into this process (mmapable arrays only, Linux 5.5): reads and
   * writes of `memory().bytes` / `.view` are the program's own memory — no system call, no copy.
   * Mapped on first use, then the same object; released by `close()` (views kept past it read
   * zeros). A frozen map cannot be mapped writable (read it with `lookup()`), and a mapped map
   * cannot be frozen. WrongTypeError for other maps.
   */
  memory(): MapMemory {
    this.live();
    this.mapped ??= new MapMemory(this.owner.fd, this, this.what());
    return this.mapped;
  }

  /** Pins the map at a bpffs path. */
  pin(path: string): void {
    objPin(this.fd, path, this.what());
  }

  info(): MapInfo {
    return mapInfoByFd(this.fd, this.what());
  }

  /** Closes the fd; every operation afterwards (the fast path's too) throws UseAfterCloseError. */
  close(): void {
    this.fast.markClosed();
    this.mapped?.release();
    this.owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

