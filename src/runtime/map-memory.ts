/**
 * The memory of an mmapable array map (BPF_F_MMAPABLE, Linux 5.5): every element's value,
 * shared with the programs, read and written from JavaScript with no system call at all — what
 * a libbpf skeleton's `skel->bss` points into. The kernel lays the values out from the start of
 * the mapping, `stride` bytes apart (the value size rounded up to 8).
 *
 * Owned by its map: `map.close()` releases the mapping. Views taken from it before then read
 * zeros afterwards (they never reach the map again, and never crash the process — see
 * syscall/mmap.ts); the accessors here throw UseAfterCloseError.
 */
import { MapType, mapTypeName } from "../abi/index.js";
import { PROT_READ, PROT_WRITE, kernel, mmapShared, pageAlign, retireMapping } from "../syscall/index.js";
import { UseAfterCloseError } from "../errors.js";
import { WrongTypeError } from "./errors.js";

/** BPF_F_MMAPABLE: an array map whose values user space may mmap (Linux 5.5). */
export const BPF_F_MMAPABLE = 1 << 10;
/** BPF_F_RDONLY: user space may only read the map (through the syscalls). */
export const BPF_F_RDONLY = 1 << 3;

/** True for a map whose values can be mapped: an array created with BPF_F_MMAPABLE. */
export const isMmapable = (map: { readonly type: number; readonly flags: number }): boolean => map.type === MapType.ARRAY && (map.flags & BPF_F_MMAPABLE) !== 0;

export class MapMemory {
  /** Every element's value, `stride` bytes apart: a Buffer over the mapping (no copy). */
  readonly bytes: Buffer;
  /** The same memory as a DataView (host byte order, like the programs see it). */
  readonly view: DataView;
  /** Bytes from one element to the next: the value size rounded up to 8. */
  readonly stride: number;
  readonly valueSize: number;
  /** Number of elements (the map's max_entries). */
  readonly entries: number;
  private address: bigint;
  private readonly mappedLength: number;
  private readonly buffer: ArrayBuffer;

  /** @internal (a map makes its own: `map.memory()`) */
  constructor(
    fd: number,
    map: { readonly name: string; readonly type: number; readonly flags: number; readonly valueSize: number; readonly maxEntries: number },
    private readonly what: string,
  ) {
    if (!isMmapable(map)) {
      const why = map.type === MapType.ARRAY ? "an array created without BPF_F_MMAPABLE (give flags: BPF_F_MMAPABLE when creating it)" : `a ${mapTypeName(map.type)} map: only arrays created with BPF_F_MMAPABLE are`;
      throw new WrongTypeError(`${what}: its memory cannot be mapped: ${why}`);
    }
    if ((map.flags & BPF_F_RDONLY) !== 0) throw new WrongTypeError(`${what}: read-only for user space (BPF_F_RDONLY): its memory cannot be mapped writable; read it with lookup()`);
    this.stride = Math.ceil(map.valueSize / 8) * 8;
    this.valueSize = map.valueSize;
    this.entries = map.maxEntries;
    const length = this.stride * map.maxEntries;
    this.mappedLength = pageAlign(length);
    this.address = mmapShared(fd, this.mappedLength, PROT_READ | PROT_WRITE, 0, what, "a frozen map (read-only data) cannot be mapped writable: read it with lookup()");
    this.buffer = kernel().view(this.address, this.mappedLength);
    this.bytes = Buffer.from(this.buffer, 0, length);
    this.view = new DataView(this.buffer, 0, length);
  }

  get closed(): boolean {
    return this.address === 0n;
  }

  /** Byte offset of element `index` in `bytes`. */
  offsetOf(index: number): number {
    if (this.closed) throw new UseAfterCloseError(this.what);
    if (!Number.isInteger(index) || index < 0 || index >= this.entries) throw new RangeError(`${this.what}: index ${index} is outside 0..${this.entries - 1}`);
    return index * this.stride;
  }

  /** The value of element `index`: a live view of `valueSize` bytes (no copy, no system call). */
  element(index: number): Buffer {
    const o = this.offsetOf(index);
    return this.bytes.subarray(o, o + this.valueSize);
  }

  /** @internal Releases the mapping (the map's close() does). Idempotent. */
  release(): void {
    if (this.address === 0n) return;
    const address = this.address;
    this.address = 0n;
    retireMapping(address, this.mappedLength, this.buffer);
  }
}
