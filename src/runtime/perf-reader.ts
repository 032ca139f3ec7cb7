/**
 * Perf event array reader (BPF_MAP_TYPE_PERF_EVENT_ARRAY): what `bpf_perf_event_output` writes.
 *
 * Per CPU: a software event PERF_COUNT_SW_BPF_OUTPUT opened with perf_event_open(2) for that
 * CPU, sampling PERF_SAMPLE_RAW; its ring mapped as one metadata page (perf_event_mmap_page:
 * data_head at byte 1024, data_tail at 1032, both u64) and 2^n data pages; the event's fd put
 * into the map at key = CPU, then enabled. Records in the data pages: header {u32 type, u16 misc,
 * u16 size}, then for PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW {u32 size, raw bytes} (the size
 * includes the kernel's padding to 8 bytes), for PERF_RECORD_LOST {u64 id, u64 lost}. A record
 * may run past the end of the ring and continue at its start: such records are copied into a
 * scratch buffer; all others are read in place.
 *
 * Ordering as for ring buffers: data_head read with `Atomics.load` before the data, data_tail
 * written with `Atomics.store` after it (release), the low word only unless the high one changes.
 */
import { HOST_LE } from "../asm/encoding.js";
import { readFileSync } from "node:fs";
import { Layouts, MapType, mapTypeName } from "../abi/index.js";
import { WrongTypeError } from "./errors.js";
import { Struct, SyscallError, kernel } from "../syscall/index.js";
import { EventReader, EventRecord, Poller, mapShared } from "./epoll.js";
import { OwnedFd } from "./fd.js";
import type { BpfMap } from "./map.js";

const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_BPF_OUTPUT = 10;
const PERF_SAMPLE_RAW = 1 << 10;
const PERF_FLAG_FD_CLOEXEC = 1 << 3;
const PERF_EVENT_IOC_ENABLE = 0x2400;
const PERF_EVENT_IOC_DISABLE = 0x2401;
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;
const DATA_HEAD = 1024;
const DATA_TAIL = 1032;
const PROT_READ = 1;
const PROT_WRITE = 2;
const LE = HOST_LE;
const LOW = LE ? 0 : 1;
const TWO32 = 2 ** 32;

export interface PerfEventReaderOptions {
  /** Data pages per CPU, a power of two (default 8). */
  readonly pages?: number;
  /** Wake the reader after this many samples (default 1). Ignored when `watermark` is set. */
  readonly wakeupEvents?: number;
  /** Wake the reader when this many bytes are in a CPU's ring instead. */
  readonly watermark?: number;
  /** CPUs to read (default: every online CPU below the map's max_entries). */
  readonly cpus?: readonly number[];
}

/** `0-3,6` -> [0, 1, 2, 3, 6]. */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const [lo, hi] = part.split("-").map(Number);
    for (let c = lo ?? 0; c <= (hi ?? lo ?? 0); c++) cpus.push(c);
  }
  return cpus;
}

function onlineCpus(): number[] {
  try {
    return parseCpuList(readFileSync("/sys/devices/system/cpu/online", "utf8"));
  } catch {
    return Array.from({ length: kernel().possibleCpus() }, (_, i) => i);
  }
}

/** Writes a bitfield of perf_event_attr by its generated layout ([offset, 4, bit, bits]). */
function setBits(attr: Struct<"PerfEventAttr">, name: keyof typeof Layouts.PerfEventAttr.fields, value: number): void {
  const f = Layouts.PerfEventAttr.fields[name] as readonly number[];
  const offset = f[0] as number;
  const bit = f[2] ?? 0;
  const bits = f[3] ?? 32;
  const shift = LE ? bit : 32 - bit - bits;
  const mask = (bits === 32 ? 0xffffffff : (1 << bits) - 1) << shift;
  const word = attr.buf.readUInt32LE(offset);
  const next = ((word & ~mask) | ((value << shift) & mask)) >>> 0;
  if (LE) attr.buf.writeUInt32LE(next, offset);
  else attr.buf.writeUInt32BE(next, offset);
}

/** One CPU's ring. */
class PerfRing {
  readonly fd: OwnedFd;
  address: bigint;
  readonly length: number;
  private readonly meta: Int32Array;
  private readonly metaU64: BigInt64Array;
  private readonly data: Uint8Array;
  private readonly dataView: DataView;
  private readonly size: number;
  private tail: number;
  private high: number;
  private pending = 0;
  private scratch = new Uint8Array(256);
  lost = 0;

  constructor(fd: OwnedFd, address: bigint, length: number, pageSize: number, readonly cpu: number) {
    this.fd = fd;
    this.address = address;
    this.length = length;
    const memory = kernel().view(address, length);
    this.meta = new Int32Array(memory, 0, pageSize >> 2);
    this.metaU64 = new BigInt64Array(memory, 0, pageSize >> 3);
    this.size = length - pageSize;
    this.data = new Uint8Array(memory, pageSize, this.size);
    this.dataView = new DataView(memory, pageSize, this.size);
    this.tail = Number(BigInt.asUintN(64, Atomics.load(this.metaU64, DATA_TAIL >> 3)));
    this.high = Math.floor(this.tail / TWO32);
  }

  /** Positions `record` on the next sample of this ring (counting lost records on the way). */
  peek(record: EventRecord): boolean {
    const mask = this.size - 1;
    const view = this.dataView;
    for (;;) {
      const head = Atomics.load(this.meta, (DATA_HEAD >> 2) + LOW);
      if (((head - (this.tail >>> 0)) >>> 0) === 0) return false;
      const offset = this.tail & mask;
      const type = view.getUint32(offset, LE);
      const size = view.getUint16(offset + 6, LE);
      this.pending = size;
      if (type === PERF_RECORD_SAMPLE) {
        const sizeAt = (offset + 8) & mask;
        const length = view.getUint32(sizeAt, LE);
        let start = offset + 12;
        if (start >= this.size) start -= this.size;
        record.cpu = this.cpu;
        record.length = length;
        if (start + length <= this.size) {
          record.memory = this.data;
          record.memoryView = this.dataView;
          record.offset = start;
        } else {
          // Runs past the end of the ring: stitch the two parts together.
          if (this.scratch.byteLength < length) this.scratch = new Uint8Array(Math.max(length, this.scratch.byteLength * 2));
          const first = this.size - start;
          this.scratch.set(this.data.subarray(start, this.size), 0);
          this.scratch.set(this.data.subarray(0, length - first), first);
          record.memory = this.scratch;
          record.memoryView = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
          record.offset = 0;
        }
        return true;
      }
      if (type === PERF_RECORD_LOST) {
        const lostAt = (offset + 16) & mask;
        const lo = view.getUint32(lostAt + (LE ? 0 : 4), LE);
        const hi = view.getUint32(lostAt + (LE ? 4 : 0), LE);
        this.lost += hi * TWO32 + lo;
      }
      this.release();
    }
  }

  release(): void {
    this.tail += this.pending;
    this.pending = 0;
    const high = Math.floor(this.tail / TWO32);
    if (high === this.high) {
      Atomics.store(this.meta, (DATA_TAIL >> 2) + LOW, this.tail | 0);
    } else {
      this.high = high;
      Atomics.store(this.metaU64, DATA_TAIL >> 3, BigInt(this.tail));
    }
  }
}

export class PerfEventReader extends EventReader {
  /** The CPUs read, in the order of their rings. */
  readonly cpus: readonly number[];
  private readonly rings: PerfRing[] = [];
  private readonly epoll: Poller;
  private readonly map: BpfMap;
  /** The ring the last `peek` found a record in. */
  private current = 0;

  constructor(map: BpfMap, options: PerfEventReaderOptions = {}) {
    super(`perf event array "${map.name}"`);
    if (map.type !== MapType.PERF_EVENT_ARRAY) throw new WrongTypeError(`${this.what}: not a perf event array (${mapTypeName(map.type)})`);
    const pages = options.pages ?? 8;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) throw new RangeError(`${this.what}: pages must be a power of two, not ${pages}`);
    this.map = map;
    const k = kernel();
    const pageSize = k.pageSize();
    const length = (pages + 1) * pageSize;
    this.cpus = (options.cpus ?? onlineCpus()).filter((c) => c < map.maxEntries);
    const attr = new Struct("PerfEventAttr");
    attr.set("type", PERF_TYPE_SOFTWARE).set("size", attr.buf.byteLength).set("config", PERF_COUNT_SW_BPF_OUTPUT);
    attr.set("sample_type", PERF_SAMPLE_RAW).set("sample_period", 1);
    if (options.watermark !== undefined) {
      setBits(attr, "watermark", 1);
      attr.set("wakeup_watermark", options.watermark);
    } else {
      attr.set("wakeup_events", options.wakeupEvents ?? 1);
    }
    setBits(attr, "disabled", 1);
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(4);
    try {
      for (const cpu of this.cpus) {
        const fd = k.perfEventOpen(attr.buf, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) throw new SyscallError(-fd, { syscall: "perf_event_open", object: `${this.what} CPU ${cpu}`, hint: -fd === 1 || -fd === 13 ? "needs root or CAP_PERFMON (see kernel.perf_event_paranoid)" : undefined });
        const owned = new OwnedFd(fd);
        let address: bigint;
        try {
          address = mapShared(fd, length, PROT_READ | PROT_WRITE, 0, `${this.what} CPU ${cpu}`);
        } catch (e) {
          owned.close();
          throw e;
        }
        this.rings.push(new PerfRing(owned, address, length, pageSize, cpu));
        if (LE) key.writeUInt32LE(cpu);
        else key.writeUInt32BE(cpu);
        if (LE) value.writeUInt32LE(fd);
        else value.writeUInt32BE(fd);
        map.update(key, value);
        const r = k.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
        if (r < 0) throw new SyscallError(-r, { syscall: "ioctl", command: "PERF_EVENT_IOC_ENABLE", object: `${this.what} CPU ${cpu}` });
      }
      this.epoll = new Poller(this.rings.map((r) => r.fd.fd), this.what);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Samples lost because a CPU's ring was full (PERF_RECORD_LOST), over all CPUs. */
  get lost(): number {
    let n = 0;
    for (const r of this.rings) n += r.lost;
    return n;
  }

  /** Lost samples by CPU. */
  lostByCpu(): Map<number, number> {
    return new Map(this.rings.map((r) => [r.cpu, r.lost]));
  }

  protected poller(): Poller {
    return this.epoll;
  }

  protected peek(): boolean {
    if (this.closed) return false;
    const n = this.rings.length;
    for (let i = 0; i < n; i++) {
      const index = (this.current + i) % n;
      if ((this.rings[index] as PerfRing).peek(this.record)) {
        this.current = index;
        return true;
      }
    }
    return false;
  }

  protected release(): void {
    if (!this.closed) (this.rings[this.current] as PerfRing).release();
  }

  protected dispose(): void {
    const k = kernel();
    const key = Buffer.alloc(4);
    for (const ring of this.rings) {
      if (!ring.fd.closed) {
        k.ioctl(ring.fd.fd, PERF_EVENT_IOC_DISABLE, 0);
        // The map holds the event too: take it out, so that the event goes with our fd.
        try {
          if (LE) key.writeUInt32LE(ring.cpu);
          else key.writeUInt32BE(ring.cpu);
          this.map.delete(key);
        } catch {
          // the map is closed already: the kernel drops the entry with it
        }
      }
      if (ring.address !== 0n) k.munmap(ring.address, ring.length);
      ring.address = 0n;
      ring.fd.close();
    }
  }
}
