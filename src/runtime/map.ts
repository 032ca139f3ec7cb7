/**
 * A BPF map in the kernel. Keys and values are bytes (Buffer); typed access through codecs is
 * in codec.ts. The single-element operations reuse one attr and one key/value buffer per map:
 * `lookupInto` allocates nothing in JavaScript.
 */
import { MapType } from "../abi/index.js";
import {
  Struct,
  bpfCall,
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
  private readonly key: Buffer;
  private readonly value: Buffer;
  private readonly nextKey: Buffer;

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

  private loadKey(key: Uint8Array, into = this.key): void {
    if (key.byteLength !== this.keySize) throw new RangeError(`${this.what()}: key is ${key.byteLength} bytes, the map's ${this.keySize}`);
    into.set(key);
  }

  /** Looks a key up into `out` (userValueSize bytes): true when found. Allocates nothing. */
  lookupInto(key: Uint8Array, out: Uint8Array, flags = 0): boolean {
    if (out.byteLength < this.userValueSize) throw new RangeError(`${this.what()}: value buffer is ${out.byteLength} bytes, needs ${this.userValueSize}`);
    this.loadKey(key);
    const a = this.attr;
    a.set("key", kernel().address(this.key)).set("value", kernel().address(out)).set("flags", flags);
    const r = bpfTry("MAP_LOOKUP_ELEM", a, a.end("flags"));
    if (r === -ENOENT) return false;
    if (r < 0) bpfCall("MAP_LOOKUP_ELEM", a, a.end("flags"), this.what());
    return true;
  }

  /** The value of a key (a new Buffer), or undefined. */
  lookup(key: Uint8Array, flags = 0): Buffer | undefined {
    return this.lookupInto(key, this.value, flags) ? Buffer.from(this.value.subarray(0, this.userValueSize)) : undefined;
  }

  /** Creates or updates an entry (`UpdateFlags`). */
  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlags.ANY): void {
    if (value.byteLength !== this.userValueSize) throw new RangeError(`${this.what()}: value is ${value.byteLength} bytes, the map's ${this.userValueSize}`);
    this.loadKey(key);
    const a = this.attr;
    a.set("key", kernel().address(this.key)).set("value", kernel().address(value)).set("flags", flags);
    bpfCall("MAP_UPDATE_ELEM", a, a.end("flags"), this.what());
  }

  /** Deletes an entry: true when it existed. */
  delete(key: Uint8Array): boolean {
    this.loadKey(key);
    const a = this.attr;
    a.set("key", kernel().address(this.key)).set("value", 0n).set("flags", 0);
    const r = bpfTry("MAP_DELETE_ELEM", a, a.end("flags"));
    if (r === -ENOENT) return false;
    if (r < 0) bpfCall("MAP_DELETE_ELEM", a, a.end("flags"), this.what());
    return true;
  }

  /** Looks up and deletes an entry (queues, stacks, hash maps): the value, or undefined. */
  lookupAndDelete(key?: Uint8Array): Buffer | undefined {
    const a = this.attr;
    if (key) this.loadKey(key);
    a.set("key", key ? kernel().address(this.key) : 0n).set("value", kernel().address(this.value)).set("flags", 0);
    const r = bpfTry("MAP_LOOKUP_AND_DELETE_ELEM", a, a.end("flags"));
    if (r === -ENOENT) return undefined;
    if (r < 0) bpfCall("MAP_LOOKUP_AND_DELETE_ELEM", a, a.end("flags"), this.what());
    return Buffer.from(this.value.subarray(0, this.userValueSize));
  }

  /** The key after `key` (or the first key), or undefined at the end. */
  nextKeyOf(key: Uint8Array | undefined): Buffer | undefined {
    const a = this.attr;
    if (key) this.loadKey(key);
    a.set("key", key ? kernel().address(this.key) : 0n).set("next_key", kernel().address(this.nextKey)).set("flags", 0);
    const r = bpfTry("MAP_GET_NEXT_KEY", a, a.end("flags"));
    if (r === -ENOENT) return undefined;
    if (r < 0) bpfCall("MAP_GET_NEXT_KEY", a, a.end("flags"), this.what());
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

