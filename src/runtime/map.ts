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
const LOOKUP_SIZE = 32;
const CMD_LOOKUP = BpfCommand.MAP_LOOKUP_ELEM;
const CMD_UPDATE = BpfCommand.MAP_UPDATE_ELEM;
const CMD_DELETE = BpfCommand.MAP_DELETE_ELEM;

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
  private readonly owner: OwnedFd;
  private readonly attr = new Struct("AttrMapElem");
  /** Prepared attrs of the fast path: key and value point at this map's own buffers. */
  private readonly lookupAttr = new Struct("AttrMapElem");
  private readonly updateAttr = new Struct("AttrMapElem");
  private readonly deleteAttr = new Struct("AttrMapElem");
  private readonly key: Buffer;
  private readonly value: Buffer;
  private readonly valueView: Uint8Array;
  private readonly nextKey: Buffer;
  /** Addresses of the prepared attrs (user-space pointers fit a double exactly). */
  private readonly lookupAt: number;
  private readonly updateAt: number;
  private readonly deleteAt: number;
  private readonly bpfAt: (cmd: number, attrAddress: number, size: number) => number;
  private lookupFlags = 0;
  private updateFlags = 0;

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
    this.key = Buffer.alloc(Math.max(1, info.keySize));
    this.value = Buffer.alloc(Math.max(1, this.userValueSize));
    this.nextKey = Buffer.alloc(Math.max(1, info.keySize));
    this.attr.set("map_fd", fd);
    const k = kernel();
    const keyAddress = k.address(this.key);
    const valueAddress = k.address(this.value);
    for (const a of [this.lookupAttr, this.updateAttr, this.deleteAttr]) a.set("map_fd", fd).set("key", keyAddress);
    this.lookupAttr.set("value", valueAddress);
    this.updateAttr.set("value", valueAddress);
    this.valueView = this.value.subarray(0, this.userValueSize);
    this.bpfAt = k.bpfAtFunction();
    this.lookupAt = Number(k.address(this.lookupAttr.buf));
    this.updateAt = Number(k.address(this.updateAttr.buf));
    this.deleteAt = Number(k.address(this.deleteAttr.buf));
  }

  /** Creates a map. */
  static create(options: MapCreateOptions): BpfMap {
    const fd = mapCreate(options);
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

  get fd(): number {
    return this.owner.fd;
  }

  private what(): string {
    return `map "${this.name}"`;
  }

  private loadKey(key: Uint8Array): void {
    if (key.byteLength !== this.keySize) throw new RangeError(`${this.what()}: key is ${key.byteLength} bytes, the map's ${this.keySize}`);
    this.key.set(key);
  }

  /** Looks a key up into `out` (userValueSize bytes): true when found. Allocates nothing. */
  lookupInto(key: Uint8Array, out: Uint8Array, flags = 0): boolean {
    if (out.byteLength < this.userValueSize) throw new RangeError(`${this.what()}: value buffer is ${out.byteLength} bytes, needs ${this.userValueSize}`);
    this.loadKey(key);
    const a = this.lookupAttr;
    if (flags !== 0 || this.lookupFlags !== 0) {
      a.setU32("flags", flags);
      this.lookupFlags = flags;
    }
    const r = this.bpfAt(CMD_LOOKUP, this.lookupAt, LOOKUP_SIZE);
    if (r < 0) {
      if (r === -ENOENT) return false;
      throw bpfError("MAP_LOOKUP_ELEM", -r, this.what());
    }
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
    const a = this.updateAttr;
    if (flags !== this.updateFlags) {
      a.setU32("flags", flags);
      this.updateFlags = flags;
    }
    const r = this.bpfAt(CMD_UPDATE, this.updateAt, LOOKUP_SIZE);
    if (r < 0) throw bpfError("MAP_UPDATE_ELEM", -r, this.what());
  }

  /** Deletes an entry: true when it existed. Allocates nothing. */
  delete(key: Uint8Array): boolean {
    this.loadKey(key);
    const r = this.bpfAt(CMD_DELETE, this.deleteAt, LOOKUP_SIZE);
    if (r < 0) {
      if (r === -ENOENT) return false;
      throw bpfError("MAP_DELETE_ELEM", -r, this.what());
    }
    return true;
  }

  /** Looks up and deletes an entry (queues, stacks, hash maps): the value, or undefined. */
  lookupAndDelete(key?: Uint8Array): Buffer | undefined {
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
    mapFreeze(this.fd, this.what());
  }

  /** Pins the map at a bpffs path. */
  pin(path: string): void {
    objPin(this.fd, path, this.what());
  }

  info(): MapInfo {
    return mapInfoByFd(this.fd, this.what());
  }

  close(): void {
    this.owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

