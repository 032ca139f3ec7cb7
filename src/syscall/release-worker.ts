/**
 * The code of a packet-release thread (runtime/packet-release.ts starts it): it holds packets
 * copied out of a BPF ring buffer until their departure time and then sends each one out of an
 * interface through an AF_PACKET socket.
 *
 * It runs in a worker_thread so that the main event loop's timers and garbage collection add
 * nothing to the release time. A worker cannot import this project's TypeScript modules when
 * they run from source (tests), so the thread's code is this one function, sent as text
 * (`releaseWorkerSource`) with the heap class it uses: it refers to nothing outside itself and
 * loads koffi (this layer's library) inside the thread by its resolved path. Every fd and mapping
 * it uses is made and owned by the main thread (checked there), which passes their numbers and
 * addresses; the thread only calls epoll_wait, read, timerfd_settime, sendto and prctl.
 *
 * The loop: sleep in epoll_wait on the ring's fd, the timerfd and a stop eventfd; take every new
 * record into the heap; send every packet whose departure has come (lateness measured just
 * before its sendto, CLOCK_MONOTONIC as process.hrtime reads it); arm the timerfd
 * (TFD_TIMER_ABSTIME) for the earliest departure left. On stop: the records still in the ring
 * are taken, every held packet is sent at once in departure order (counted as flushed), and
 * the done flag is raised.
 */
import { createRequire } from "node:module";

/** Float64 slots of the shared statistics (after the control words). */
export const RELEASE_STAT = {
  /** Records taken from the ring. */
  received: 0,
  /** Packets sent when due. */
  released: 1,
  /** Sum of (send time − departure) of the released packets, ns. */
  lateNs: 2,
  /** Packets sent early at stop. */
  flushed: 3,
  /** sendto failures (the packet is lost). */
  sendErrors: 4,
  /** Packets held now. */
  holding: 5,
  /** Records that were not a held packet (too short). */
  malformed: 6,
  /** The thread's scheduling priority under SCHED_FIFO (0: it runs as an ordinary thread). */
  realtimePriority: 7,
  /**
   * The thread's CPU time in its loop (start-up excluded), user and system, µs (getrusage
   * RUSAGE_THREAD; updated every 64 wake-ups and at stop).
   */
  cpuUserUs: 8,
  cpuSystemUs: 9,
  /** CPU time of the thread's start-up (a Node worker's bootstrap, koffi), µs. */
  startupCpuUs: 10,
  /** First slot of the lateness histogram: bucket i counts [2^i, 2^(i+1)) µs (0: < 2 µs). */
  lateHistogram: 11,
} as const;
export const LATE_BUCKETS = 24;
/** Int32 control words: stop requested, done, failed. */
export const RELEASE_CONTROL = { stop: 0, done: 1, failed: 2 } as const;
export const RELEASE_CONTROL_WORDS = 4;
export const RELEASE_STAT_SLOTS = RELEASE_STAT.lateHistogram + LATE_BUCKETS;
/** Bytes of the shared buffer: control words, then the statistics. */
export const RELEASE_SHARED_BYTES = RELEASE_CONTROL_WORDS * 4 + RELEASE_STAT_SLOTS * 8;
/** The record header the BPF side writes before the packet: u64 departure, u64 seq, u32 len, u32 pad. */
export const HELD_HEADER_BYTES = 24;

/** What the thread is given (numbers and addresses owned by the main thread). */
export interface ReleaseWorkerData {
  /** Resolved path of the koffi package. */
  readonly koffi: string;
  readonly epollFd: number;
  readonly timerFd: number;
  readonly socketFd: number;
  readonly ifindex: number;
  /** The ring's consumer page, its producer page (followed by the data area, mapped twice). */
  readonly consumerAddress: bigint;
  readonly producerAddress: bigint;
  readonly pageSize: number;
  readonly ringSize: number;
  /** Recompute IPv4/IPv6 TCP/UDP checksums before sending (a copy taken at TC egress may carry a partial one). */
  readonly fixChecksums: boolean;
  /** SCHED_FIFO priority to ask for (1-99; 0: stay an ordinary thread). */
  readonly realtimePriority: number;
  readonly shared: SharedArrayBuffer;
}

/** The heap the thread keeps packets in (runtime/departure-heap.ts's DepartureHeap). */
export interface ReleaseHeap<T> {
  readonly size: number;
  push(departure: number, seq: number, item: T): void;
  /** Departure of the earliest (Infinity when empty). */
  peekDeparture(): number;
  /** Removes and passes to `fn` every item due at `now` (all when `now` is Infinity), in (departure, seq) order. */
  takeDue(now: number, fn: (item: T, departure: number) => void): number;
}

export type ReleaseHeapClass = new <T>() => ReleaseHeap<T>;

/** Completes a frame's TCP/UDP checksum in place (runtime/transport-checksum.ts's completeTransportChecksum). */
export type ChecksumFunction = (frame: Uint8Array) => boolean;

/**
 * The source text a Worker evaluates (`eval: true`): `heapSource` is the heap class,
 * `checksumSource` the checksum function (both self-contained).
 */
export function releaseWorkerSource(heapSource: string, checksumSource: string): string {
  return `"use strict";\nconst Heap = (${heapSource});\nconst checksum = (${checksumSource});\n(${releaseWorkerMain.toString()})(require("node:worker_threads").workerData, Heap, checksum, require);\n`;
}

/** Where koffi is, for the thread to load it. */
export function koffiModulePath(): string {
  return createRequire(import.meta.url).resolve("koffi");
}

/** The thread's whole program (self-contained: see the top of this file). */
export function releaseWorkerMain(data: ReleaseWorkerData, Heap: ReleaseHeapClass, fixChecksum: ChecksumFunction, load: (id: string) => unknown): void {
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const koffi = load(data.koffi) as any;
  const libc = koffi.load("libc.so.6");
  const epollWait = libc.func("int epoll_wait(int, void *, int, int)");
  const read = libc.func("long read(int, void *, size_t)");
  const settime = libc.func("int timerfd_settime(int, int, void *, void *)");
  const sendto = libc.func("long sendto(int, void *, size_t, int, void *, unsigned int)");
  const prctl = libc.func("int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)");
  const setScheduler = libc.func("int sched_setscheduler(int, int, void *)");
  const getrusage = libc.func("int getrusage(int, void *)");
  const control = new Int32Array(data.shared, 0, 4);
  const stats = new Float64Array(data.shared, 16);
  const S = { received: 0, released: 1, lateNs: 2, flushed: 3, sendErrors: 4, holding: 5, malformed: 6, realtime: 7, cpuUser: 8, cpuSystem: 9, startup: 10, hist: 11 };
  const BUCKETS = 24;
  const HEADER = 24;
  try {
    // This thread's timer slack to 1 ns (PR_SET_TIMERSLACK): the timerfd fires at its time, not up to 50 µs later.
    prctl(29, 1, 0, 0, 0);
    // SCHED_FIFO for this thread only (pid 0: the caller): on a busy machine an ordinary thread
    // waits milliseconds for a CPU after its timer fires. It runs briefly per release; the
    // kernel's RT throttling bounds it anyway. Without CAP_SYS_NICE it stays ordinary.
    if (data.realtimePriority > 0) {
      const param = new Int32Array([data.realtimePriority]);
      if (Number(setScheduler(0, 1 /* SCHED_FIFO */, param)) === 0) stats[S.realtime] = data.realtimePriority;
    }
    const consumer = new BigUint64Array(koffi.view(data.consumerAddress, 8) as ArrayBuffer);
    const producerArea = koffi.view(data.producerAddress, data.pageSize + 2 * data.ringSize) as ArrayBuffer;
    const producer = new BigUint64Array(producerArea, 0, 1);
    const ring = new Uint8Array(producerArea, data.pageSize, 2 * data.ringSize);
    const ringView = new DataView(producerArea, data.pageSize, 2 * data.ringSize);
    const mask = data.ringSize - 1;
    const heap = new Heap<Uint8Array>();
    const base = process.hrtime.bigint();
    const events = new Uint8Array(16 * 4);
    const scratch = new Uint8Array(8);
    const spec = new Uint8Array(32);
    const specView = new DataView(spec.buffer);
    const address = new Uint8Array(20);
    const addressView = new DataView(address.buffer);
    addressView.setUint16(0, 17, true); // AF_PACKET
    addressView.setInt32(4, data.ifindex, true);
    let armed = Infinity;
    let wakeups = 0;
    const usage = new BigInt64Array(18); // struct rusage: ru_utime, ru_stime (timeval each), then longs
    /** This thread's CPU time (RUSAGE_THREAD), user and system µs. */
    const cpuNow = (): [number, number] => (Number(getrusage(1, usage)) === 0 ? [Number(usage[0]) * 1e6 + Number(usage[1]), Number(usage[2]) * 1e6 + Number(usage[3])] : [0, 0]);
    const [user0, system0] = cpuNow();
    stats[S.startup] = user0 + system0;
    const measureCpu = (): void => {
      const [user, system] = cpuNow();
      stats[S.cpuUser] = user - user0;
      stats[S.cpuSystem] = system - system0;
    };

    const send = (packet: Uint8Array): boolean => {
      addressView.setUint16(2, packet.length >= 14 ? ((packet[12] as number) << 8) | (packet[13] as number) : 0, false);
      const r = Number(sendto(data.socketFd, packet, packet.length, 0, address, 20));
      if (r < 0) stats[S.sendErrors] = (stats[S.sendErrors] as number) + 1;
      return r >= 0;
    };

    /** Takes every committed record into the heap; the consumer position follows. */
    const takeRing = (): void => {
      let position = consumer[0] as bigint;
      const end = Atomics.load(producer, 0);
      while (position < end) {
        const offset = Number(position & BigInt(mask));
        const header = ringView.getUint32(offset, true);
        if (header & 0x80000000) break; // reserved, not committed yet
        const length = header & 0x3fffffff;
        if (!(header & 0x40000000)) {
          stats[S.received] = (stats[S.received] as number) + 1;
          const at = offset + 8;
          const len = length >= HEADER ? ringView.getUint32(at + 16, true) : 0;
          if (length < HEADER || len > length - HEADER) stats[S.malformed] = (stats[S.malformed] as number) + 1;
          else {
            const departure = Number(ringView.getBigUint64(at, true) - base);
            const seq = Number(ringView.getBigUint64(at + 8, true));
            const packet = ring.slice(at + HEADER, at + HEADER + len);
            if (data.fixChecksums) fixChecksum(packet);
            heap.push(departure, seq, packet);
          }
        }
        position += BigInt((length + 8 + 7) & ~7);
        Atomics.store(consumer, 0, position);
      }
    };

    const arm = (): void => {
      const next = heap.peekDeparture();
      if (next === armed) return;
      armed = next;
      specView.setBigInt64(16, 0n, true);
      specView.setBigInt64(24, 0n, true);
      if (next !== Infinity) {
        const at = base + BigInt(next);
        specView.setBigInt64(16, at / 1_000_000_000n, true);
        specView.setBigInt64(24, at % 1_000_000_000n, true);
      }
      settime(data.timerFd, next === Infinity ? 0 : 1 /* TFD_TIMER_ABSTIME */, spec, null);
    };

    const releaseDue = (): void => {
      heap.takeDue(Number(process.hrtime.bigint() - base), (packet, departure) => {
        const late = Number(process.hrtime.bigint() - base) - departure;
        if (!send(packet)) return;
        stats[S.released] = (stats[S.released] as number) + 1;
        stats[S.lateNs] = (stats[S.lateNs] as number) + late;
        let bucket = 0;
        for (let us = Math.floor(late / 1000); us >= 2 && bucket < BUCKETS - 1; us = Math.floor(us / 2)) bucket++;
        stats[S.hist + bucket] = (stats[S.hist + bucket] as number) + 1;
      });
    };

    for (;;) {
      epollWait(data.epollFd, events, 4, -1);
      read(data.timerFd, scratch, 8); // clears an expiry (non-blocking: EAGAIN when none)
      takeRing();
      releaseDue();
      if (Atomics.load(control, 0) !== 0) {
        takeRing();
        heap.takeDue(Infinity, (packet) => {
          if (send(packet)) stats[S.flushed] = (stats[S.flushed] as number) + 1;
        });
        stats[S.holding] = 0;
        measureCpu();
        break;
      }
      stats[S.holding] = heap.size;
      if ((++wakeups & 63) === 0) measureCpu();
      arm();
    }
  } catch (e) {
    Atomics.store(control, 2, 1);
    throw e;
  } finally {
    Atomics.store(control, 1, 1);
    Atomics.notify(control, 1);
  }
}
