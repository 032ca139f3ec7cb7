/**
 * BPF ring buffer reader (BPF_MAP_TYPE_RINGBUF).
 *
 * The map's memory, as the kernel lays it out for mmap:
 * - offset 0, one page, read-write: the consumer position (u64), which only user space writes;
 * - offset one page, read-only: the producer position (u64) on its own page, then the data
 *   area mapped twice in a row, so that a record that runs past the end of the ring reads on
 *   into the second copy and never has to be stitched together.
 *
 * A record is an 8-byte header — u32 length with BUSY (bit 31: reserved, not yet committed) and
 * DISCARD (bit 30) flags, u32 page offset (the kernel's) — then the data, padded to 8 bytes.
 * Positions only grow; a record's offset in the ring is its position modulo the ring's size.
 *
 * Memory ordering: the producer position is read with `Atomics.load` (sequentially consistent,
 * so at least acquire) and each header with an acquire load before the data; the consumer
 * position is written with `Atomics.store` after the records have been used (at least release).
 * libbpf writes it after every record; `drain` writes it every `RELEASE_EVERY` bytes and when it
 * stops, which releases space just as promptly for a consumer that drains what there is (the
 * producer only needs the space back before the ring fills). What correctness needs is the
 * order at the end: write the position, then read the producer position again (the store is a
 * full fence) — the kernel wakes the consumer only for a record committed at the position it
 * sees, so a record committed in between is either seen by that read or wakes the next wait.
 * Positions are u64; this reader reads the consumer position from the ring at the start of
 * every drain (so that several consumers may take turns), keeps it as a double while draining
 * (exact up to 2^53), and writes only the low 32-bit word except when the high word changes,
 * where it writes all 64 bits at once.
 */
import { HOST_LE } from "../asm/encoding.js";
import { MapType, mapTypeName } from "../abi/index.js";
import { WrongTypeError } from "./errors.js";
import { kernel } from "../syscall/index.js";
import { EventReader, Poller, mapShared, shortRecord, type RecordCallback, type RecordView, type RecordViewClass, type ValueCallback, type ViewCallback } from "./epoll.js";
import type { Codec } from "./codec.js";
import type { BpfMap } from "./map.js";

// The event readers' public surface, exported from the runtime through this module.
export {
  EventReader,
  EventRecord,
  type ReadOptions,
  type RecordCallback,
  type RecordView,
  type RecordViewClass,
  type TypedConsumeOptions,
  type TypedReadOptions,
  type ValueCallback,
  type ViewCallback,
  type ViewConsumeOptions,
  type ViewReadOptions,
} from "./epoll.js";
export { PerfEventReader, parseCpuList, type PerfEventReaderOptions } from "./perf-reader.js";

const BUSY = 0x80000000 | 0;
const DISCARD = 0x40000000;
const LENGTH_MASK = 0x3fffffff;
const HEADER = 8;
const PROT_READ = 1;
const PROT_WRITE = 2;
const LE = HOST_LE;
/** Index of a u64's low 32-bit word among the Int32 words of its memory. */
const LOW = LE ? 0 : 1;
const HIGH = LE ? 1 : 0;
const TWO32 = 2 ** 32;
/**
 * Machines whose every load is an acquire load (total store order). There the drain reads
 * headers with plain loads — `Atomics.load` is a call in V8 (~14 ns), a plain typed-array load
 * ~1 ns, and V8 keeps typed-array loads in program order — and `Atomics.load` elsewhere.
 */
const TSO = process.arch === "x64" || process.arch === "ia32" || process.arch === "s390x";
/** `drain` writes the consumer position back at least every this many bytes. */
const RELEASE_EVERY = 256 * 1024;
/** Limits above this are no limit (kept a small integer, compared once per record). */
const MAX_LIMIT = 0x7fffffff;

/**
 * A record for `RingBufferReader.drain`: its bytes are `view`'s `[offset, offset + length)`,
 * valid during the call. `view` (and the reader's `bytes`) span the ring's whole data area.
 */
export type RawRecordCallback = (view: DataView, offset: number, length: number) => void;

export class RingBufferReader extends EventReader {
  /** Size of the data area in bytes (the map's max_entries). */
  readonly size: number;
  private readonly mask: number;
  /** RELEASE_EVERY, or a quarter of a smaller ring. */
  private readonly releaseEvery: number;
  private readonly pageSize: number;
  private consumerAddress: bigint;
  private producerAddress: bigint;
  private readonly producerLength: number;
  private readonly consumerWords: Int32Array;
  private readonly consumerU64: BigInt64Array;
  private readonly producerWords: Int32Array;
  /** The data area (twice) as 32-bit words: headers are read from here. */
  private readonly words: Int32Array;
  /**
   * The data area, mapped twice (`2 * size` bytes), as a DataView and as bytes: the memory
   * `drain`'s offsets refer to. Unmapped by `close()`: do not keep them past it.
   */
  readonly view: DataView;
  readonly bytes: Uint8Array;
  private readonly epoll: Poller;
  /** Our consumer position (the kernel's copy is written by `advance`). */
  private position: number;
  private high: number;
  /** Bytes of the record the last `peek` found (header and padding included). */
  private pending = 0;

  /** A reader over a ring buffer map; the map may be closed afterwards (the mapping holds it). */
  constructor(map: BpfMap) {
    super(`ring buffer "${map.name}"`);
    if (map.type !== MapType.RINGBUF) throw new WrongTypeError(`${this.what}: not a ring buffer map (${mapTypeName(map.type)})`);
    const k = kernel();
    this.size = map.maxEntries;
    this.mask = this.size - 1;
    this.releaseEvery = Math.min(RELEASE_EVERY, this.size >>> 2);
    this.pageSize = k.pageSize();
    this.producerLength = this.pageSize + 2 * this.size;
    const fd = map.fd;
    this.consumerAddress = mapShared(fd, this.pageSize, PROT_READ | PROT_WRITE, 0, this.what);
    try {
      this.producerAddress = mapShared(fd, this.producerLength, PROT_READ, this.pageSize, this.what);
    } catch (e) {
      k.munmap(this.consumerAddress, this.pageSize);
      throw e;
    }
    try {
      this.epoll = new Poller([fd], this.what);
    } catch (e) {
      k.munmap(this.consumerAddress, this.pageSize);
      k.munmap(this.producerAddress, this.producerLength);
      throw e;
    }
    const consumer = k.view(this.consumerAddress, this.pageSize);
    const producer = k.view(this.producerAddress, this.producerLength);
    this.consumerWords = new Int32Array(consumer, 0, 2);
    this.consumerU64 = new BigInt64Array(consumer, 0, 1);
    this.producerWords = new Int32Array(producer, 0, 2);
    this.words = new Int32Array(producer, this.pageSize, (2 * this.size) >> 2);
    this.bytes = new Uint8Array(producer, this.pageSize, 2 * this.size);
    this.view = new DataView(producer, this.pageSize, 2 * this.size);
    this.record.memory = this.bytes;
    this.record.memoryView = this.view;
    this.position = 0;
    this.high = 0;
    this.sync();
  }

  /**
   * Takes the consumer position from the ring's memory: another consumer of the same map (a
   * second reader, another process) may have moved it since we last wrote it.
   */
  private sync(): void {
    const high = Atomics.load(this.consumerWords, HIGH) >>> 0;
    this.position = high * TWO32 + (Atomics.load(this.consumerWords, LOW) >>> 0);
    this.high = high;
  }

  /** Bytes written and not yet consumed. */
  get available(): number {
    if (this.closed) return 0;
    this.sync();
    return this.unread();
  }

  protected poller(): Poller {
    return this.epoll;
  }

  protected peek(): boolean {
    if (this.closed) return false;
    this.sync();
    for (;;) {
      if (this.unread() === 0) return false;
      const offset = this.position & this.mask;
      const header = Atomics.load(this.words, offset >> 2);
      if ((header & BUSY) !== 0) return false; // reserved, not committed yet: records stay in order
      const length = header & LENGTH_MASK;
      const total = (length + HEADER + 7) & ~7;
      if ((header & DISCARD) !== 0) {
        this.advance(total);
        continue;
      }
      this.pending = total;
      this.record.offset = offset + HEADER;
      this.record.length = length;
      return true;
    }
  }

  protected release(): void {
    if (!this.closed) this.advance(this.pending);
    this.pending = 0;
  }

  /** Moves our position `bytes` on and writes it to the ring (the producer may reuse them). */
  private advance(bytes: number): void {
    this.position += bytes;
    const high = Math.floor(this.position / TWO32);
    if (high === this.high) {
      Atomics.store(this.consumerWords, LOW, this.position | 0);
    } else {
      this.high = high;
      Atomics.store(this.consumerU64, 0, BigInt(this.position));
    }
  }

  /**
   * The fast path: calls `callback(view, offset, length)` for every record there is now, where
   * the record's bytes are `view`'s `[offset, offset + length)` (`view` and `bytes` span the
   * whole data area, mapped twice, so a record is always contiguous; valid during the call).
   * Returns how many records were read, at most `limit`. Allocates nothing: headers are read
   * through one Int32Array over the mapping, and the consumer position is written back every
   * `RELEASE_EVERY` bytes and when the drain ends, not after every record — a store the
   * producer must see costs a full fence in JavaScript (`Atomics.store` is sequentially
   * consistent), more than reading a record. A callback that throws stops the drain (its record
   * counts as read) and the error propagates; one that closes the reader ends it.
   */
  drain(callback: RawRecordCallback, limit = Infinity): number {
    if (this.closed) return 0;
    this.sync();
    // Locals only in the loop: a module constant read there is a context load and a hole check
    // per record in the optimized code; few live values keep the loop in registers.
    const words = this.words;
    const view = this.view;
    const mask = this.mask;
    const tso = TSO;
    const releaseEvery = this.releaseEvery;
    const max = limit < MAX_LIMIT ? limit : MAX_LIMIT;
    let n = 0;
    // `& mask` is exact for every ring size (powers of two up to 2^31) and position (< 2^53).
    let offset = this.position & mask;
    // Bytes read in this batch and not released yet; a record counts before its callback runs
    // (one whose callback throws has been read).
    let used = 0;
    try {
      // Each batch: the records in the first `releaseEvery` unread bytes, then one release,
      // then the producer position read again (after the release: see the top of this file).
      for (let unread = this.unread(); unread > 0; unread = this.unread()) {
        const budget = unread < releaseEvery ? unread : releaseEvery;
        while (used < budget) {
          const header = tso ? (words[offset >> 2] as number) : Atomics.load(words, offset >> 2);
          // BUSY (the sign bit): reserved, not committed yet, and records stay in order.
          if (header < 0 || n >= max) return n;
          const length = header & 0x3fffffff; // LENGTH_MASK
          const at = offset + 8; // HEADER
          const total = (length + 15) & ~7; // header and padding to 8 bytes
          used += total;
          offset = (offset + total) & mask;
          if ((header & 0x40000000) === 0) {
            // not DISCARD
            n++;
            callback(view, at, length);
            if ((this.closed as boolean) === true) return n; // closed by the callback (=== true: one comparison)
          }
        }
        this.advance(used);
        used = 0;
      }
    } finally {
      if (used > 0 && !this.closed) this.advance(used);
    }
    return n;
  }

  /**
   * `consume`: calls `callback` for every record there is now; returns how many. The record
   * passed is reused (read `memoryView` at `offset` to allocate nothing); `drain` is the faster
   * form. The same loop as `drain`'s, written out again: one loop calling a wrapper for
   * `consume` would make `drain`'s call site polymorphic and its callback no longer inlined
   * (measured: 2.5x slower), and one loop with both call sites keeps too many values live.
   */
  protected override consumeRecords(callback: RecordCallback, limit: number): number {
    if (this.closed) return 0;
    this.sync();
    // Locals only in the loop: a module constant read there is a context load and a hole check
    // per record in the optimized code; few live values keep the loop in registers.
    const words = this.words;
    const record = this.record;
    const mask = this.mask;
    const tso = TSO;
    const releaseEvery = this.releaseEvery;
    const max = limit < MAX_LIMIT ? limit : MAX_LIMIT;
    let n = 0;
    // `& mask` is exact for every ring size (powers of two up to 2^31) and position (< 2^53).
    let offset = this.position & mask;
    // Bytes read in this batch and not released yet; a record counts before its callback runs
    // (one whose callback throws has been read).
    let used = 0;
    try {
      // Each batch: the records in the first `releaseEvery` unread bytes, then one release,
      // then the producer position read again (after the release: see the top of this file).
      for (let unread = this.unread(); unread > 0; unread = this.unread()) {
        const budget = unread < releaseEvery ? unread : releaseEvery;
        while (used < budget) {
          const header = tso ? (words[offset >> 2] as number) : Atomics.load(words, offset >> 2);
          // BUSY (the sign bit): reserved, not committed yet, and records stay in order.
          if (header < 0 || n >= max) return n;
          const length = header & 0x3fffffff; // LENGTH_MASK
          const at = offset + 8; // HEADER
          const total = (length + 15) & ~7; // header and padding to 8 bytes
          used += total;
          offset = (offset + total) & mask;
          if ((header & 0x40000000) === 0) {
            // not DISCARD
            n++;
            record.offset = at;
            record.length = length;
            callback(record);
            if ((this.closed as boolean) === true) return n; // closed by the callback (=== true: one comparison)
          }
        }
        this.advance(used);
        used = 0;
      }
    } finally {
      if (used > 0 && !this.closed) this.advance(used);
    }
    return n;
  }

  /**
   * `consume(callback, { codec })` (and `on` with a codec): the same loop again, decoding each
   * record in place from the data area (`codec.decode(view, offset)`: no copy, no view per
   * record) and calling `callback(value, record)`. A record shorter than the codec is a
   * CodecError; it counts as read, like a record whose callback throws.
   */
  protected override consumeValues<T>(codec: Codec<T>, callback: ValueCallback<T>, limit: number): number {
    if (this.closed) return 0;
    this.sync();
    const words = this.words;
    const view = this.view;
    const record = this.record;
    const size = codec.size;
    const mask = this.mask;
    const tso = TSO;
    const releaseEvery = this.releaseEvery;
    const max = limit < MAX_LIMIT ? limit : MAX_LIMIT;
    let n = 0;
    let offset = this.position & mask;
    let used = 0;
    try {
      for (let unread = this.unread(); unread > 0; unread = this.unread()) {
        const budget = unread < releaseEvery ? unread : releaseEvery;
        while (used < budget) {
          const header = tso ? (words[offset >> 2] as number) : Atomics.load(words, offset >> 2);
          if (header < 0 || n >= max) return n; // BUSY, or the limit
          const length = header & 0x3fffffff; // LENGTH_MASK
          const at = offset + 8; // HEADER
          const total = (length + 15) & ~7;
          used += total;
          offset = (offset + total) & mask;
          if ((header & 0x40000000) === 0) {
            // not DISCARD
            n++;
            if (length < size) throw shortRecord(this.what, codec, length);
            record.offset = at;
            record.length = length;
            callback(codec.decode(view, at), record);
            if ((this.closed as boolean) === true) return n;
          }
        }
        this.advance(used);
        used = 0;
      }
    } finally {
      if (used > 0 && !this.closed) this.advance(used);
    }
    return n;
  }

  /**
   * `consume(callback, { view })` (and `on` with a view): the same loop again, re-pointing one
   * view at each record (`view.at(this.view, offset)`: the ring's own DataView, so nothing is
   * allocated) and calling `callback(view, record)`. A record shorter than the view's type is a
   * CodecError; it counts as read, like a record whose callback throws.
   */
  protected override consumeViews<V extends RecordView>(target: V, cls: RecordViewClass<V>, callback: ViewCallback<V>, limit: number): number {
    if (this.closed) return 0;
    this.sync();
    const words = this.words;
    const view = this.view;
    const record = this.record;
    const size = cls.size;
    const mask = this.mask;
    const tso = TSO;
    const releaseEvery = this.releaseEvery;
    const max = limit < MAX_LIMIT ? limit : MAX_LIMIT;
    let n = 0;
    let offset = this.position & mask;
    let used = 0;
    try {
      for (let unread = this.unread(); unread > 0; unread = this.unread()) {
        const budget = unread < releaseEvery ? unread : releaseEvery;
        while (used < budget) {
          const header = tso ? (words[offset >> 2] as number) : Atomics.load(words, offset >> 2);
          if (header < 0 || n >= max) return n; // BUSY, or the limit
          const length = header & 0x3fffffff; // LENGTH_MASK
          const at = offset + 8; // HEADER
          const total = (length + 15) & ~7;
          used += total;
          offset = (offset + total) & mask;
          if ((header & 0x40000000) === 0) {
            // not DISCARD
            n++;
            if (length < size) throw shortRecord(this.what, cls, length);
            record.offset = at;
            record.length = length;
            target.at(view, at);
            callback(target, record);
            if ((this.closed as boolean) === true) return n;
          }
        }
        this.advance(used);
        used = 0;
      }
    } finally {
      if (used > 0 && !this.closed) this.advance(used);
    }
    return n;
  }

  /** Bytes the producer has committed or reserved past our position. */
  private unread(): number {
    return (Atomics.load(this.producerWords, LOW) - (this.position >>> 0)) >>> 0;
  }

  protected dispose(): void {
    const k = kernel();
    k.munmap(this.consumerAddress, this.pageSize);
    k.munmap(this.producerAddress, this.producerLength);
    this.consumerAddress = 0n;
    this.producerAddress = 0n;
  }
}
