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
 * Memory ordering: the producer position and each header are read with `Atomics.load`
 * (sequentially consistent, so at least acquire) before the data; the consumer position is
 * written with `Atomics.store` after the record has been used (at least release). Positions are
 * u64; this reader reads the consumer position from the ring at the start of every drain (so
 * that several consumers may take turns), keeps it as a double while draining (exact up to
 * 2^53), and writes only the low 32-bit word except when the high word changes, where it writes
 * all 64 bits at once.
 */
import { HOST_LE } from "../asm/encoding.js";
import { MapType } from "../abi/index.js";
import { kernel } from "../syscall/index.js";
import { EventReader, Poller, mapShared, type RecordCallback } from "./epoll.js";
import type { BpfMap } from "./map.js";

// The event readers' public surface, exported from the runtime through this module.
export { EventReader, EventRecord, type ReadOptions, type RecordCallback } from "./epoll.js";
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
/** `consume` writes the consumer position back at least every this many bytes. */
const RELEASE_EVERY = 256 * 1024;

export class RingBufferReader extends EventReader {
  /** Size of the data area in bytes (the map's max_entries). */
  readonly size: number;
  private readonly mask: number;
  private readonly pageSize: number;
  private consumerAddress: bigint;
  private producerAddress: bigint;
  private readonly producerLength: number;
  private readonly consumerWords: Int32Array;
  private readonly consumerU64: BigInt64Array;
  private readonly producerWords: Int32Array;
  /** The data area (twice) as 32-bit words: headers are read from here. */
  private readonly words: Int32Array;
  private readonly epoll: Poller;
  /** Our consumer position (the kernel's copy is written by `advance`). */
  private position: number;
  private high: number;
  /** Bytes of the record the last `peek` found (header and padding included). */
  private pending = 0;

  /** A reader over a ring buffer map; the map may be closed afterwards (the mapping holds it). */
  constructor(map: BpfMap) {
    super(`ring buffer "${map.name}"`);
    if (map.type !== MapType.RINGBUF) throw new TypeError(`${this.what}: not a ring buffer map (type ${map.type})`);
    const k = kernel();
    this.size = map.maxEntries;
    this.mask = this.size - 1;
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
    this.record.memory = new Uint8Array(producer, this.pageSize, 2 * this.size);
    this.record.memoryView = new DataView(producer, this.pageSize, 2 * this.size);
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
    return (Atomics.load(this.producerWords, LOW) - (this.position >>> 0)) >>> 0;
  }

  protected poller(): Poller {
    return this.epoll;
  }

  protected peek(): boolean {
    if (this.closed) return false;
    this.sync();
    for (;;) {
      const available = (Atomics.load(this.producerWords, LOW) - (this.position >>> 0)) >>> 0;
      if (available === 0) return false;
      const offset = this.size > 0x40000000 ? this.position % this.size : this.position & this.mask;
      const header = Atomics.load(this.words, offset >> 2);
      if ((header & BUSY) !== 0) return false; // reserved, not committed yet: records stay in order
      const length = header & LENGTH_MASK;
      this.pending = (length + HEADER + 7) & ~7;
      if ((header & DISCARD) !== 0) {
        this.advance();
        continue;
      }
      this.record.offset = offset + HEADER;
      this.record.length = length;
      return true;
    }
  }

  protected release(): void {
    if (!this.closed) this.advance();
  }

  private advance(): void {
    this.position += this.pending;
    this.pending = 0;
    const high = Math.floor(this.position / TWO32);
    if (high === this.high) {
      Atomics.store(this.consumerWords, LOW, this.position | 0);
    } else {
      this.high = high;
      Atomics.store(this.consumerU64, 0, BigInt(this.position));
    }
  }

  /**
   * Calls `callback` for every record there is now; returns how many. The base class's drain in
   * one loop over local variables (the hot path of a busy consumer): the consumer position is
   * written back every `RELEASE_EVERY` bytes and at the end rather than after every record — a
   * store the producer must see costs a full fence in JavaScript (`Atomics.store` is
   * sequentially consistent), more than reading a record.
   */
  override consume(callback: RecordCallback, limit = Infinity): number {
    if (this.closed) return 0;
    this.sync();
    const record = this.record;
    const words = this.words;
    const mask = this.mask;
    const big = this.size > 0x40000000;
    const releaseEvery = Math.min(RELEASE_EVERY, this.size >>> 2);
    let n = 0;
    // Bytes that may be read past the position, and bytes read and not yet released.
    let available = (Atomics.load(this.producerWords, LOW) - (this.position >>> 0)) >>> 0;
    let unreleased = 0;
    let inCallback = 0;
    let offset = big ? this.position % this.size : this.position & mask;
    try {
      while (n < limit) {
        if (available === 0) {
          this.pending = unreleased;
          unreleased = 0;
          this.advance();
          available = (Atomics.load(this.producerWords, LOW) - (this.position >>> 0)) >>> 0;
          if (available === 0) break;
        }
        const header = TSO ? (words[offset >> 2] as number) : Atomics.load(words, offset >> 2);
        if (header < 0) break; // BUSY: reserved, not committed yet; records stay in order
        const length = header & LENGTH_MASK;
        const total = (length + HEADER + 7) & ~7;
        if ((header & DISCARD) === 0) {
          record.offset = offset + HEADER;
          record.length = length;
          n++;
          inCallback = total;
          callback(record);
          inCallback = 0;
          if (this.closed) return n;
        }
        // Not before the callback returned (or threw: its record counts as read, see finally).
        unreleased += total;
        available -= total;
        offset = big ? (offset + total) % this.size : (offset + total) & mask;
        if (unreleased >= releaseEvery) {
          this.pending = unreleased;
          unreleased = 0;
          this.advance();
        }
      }
    } finally {
      // A callback that threw: its record counts as read.
      unreleased += inCallback;
      if (unreleased > 0 && !this.closed) {
        this.pending = unreleased;
        this.advance();
      }
    }
    return n;
  }

  protected dispose(): void {
    const k = kernel();
    k.munmap(this.consumerAddress, this.pageSize);
    k.munmap(this.producerAddress, this.producerLength);
    this.consumerAddress = 0n;
    this.producerAddress = 0n;
  }
}
