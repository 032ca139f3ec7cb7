/**
 * PacketReleaser: holds packets that a BPF program copied into a ring buffer (each record: u64
 * departure on CLOCK_MONOTONIC, u64 sequence number, u32 length, u32 pad, then the frame) and
 * sends each one out of an interface when its departure comes, through an AF_PACKET socket whose
 * SO_MARK tells the program to let it pass.
 *
 * The waiting happens in a worker thread (syscall/release-worker.ts) asleep in epoll_wait on the
 * ring, a timerfd armed for the earliest departure and a stop eventfd: no CPU while nothing is
 * due, and neither this thread's event loop nor its garbage collection delays a release. This
 * object owns every fd and mapping the thread uses; the thread reports through shared memory
 * (counters, lateness histogram), so `stats()` and `stop()` never wait for a message.
 */
import { Worker } from "node:worker_threads";
import { MapType, mapTypeName } from "../abi/index.js";
import { TsebpfError } from "../errors.js";
import { SyscallError, kernel } from "../syscall/index.js";
import { openPacketSocket } from "../syscall/packet-socket.js";
import { timerfdCreate } from "../syscall/timerfd.js";
import { LATE_BUCKETS, RELEASE_CONTROL, RELEASE_CONTROL_WORDS, RELEASE_SHARED_BYTES, RELEASE_STAT, RELEASE_STAT_SLOTS, koffiModulePath, releaseWorkerSource, type ReleaseWorkerData } from "../syscall/release-worker.js";
import { DepartureHeap } from "./departure-heap.js";
import { completeTransportChecksum } from "./transport-checksum.js";
import { WrongTypeError } from "./errors.js";
import { OwnedFd } from "./fd.js";
import type { BpfMap } from "./map.js";

const EPOLL_CTL_ADD = 1;
const EPOLLIN = 0x1;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;

export interface PacketReleaserOptions {
  /** The BPF_MAP_TYPE_RINGBUF the program writes held packets to. */
  readonly ring: BpfMap;
  /** The interface to send them out of (in the calling thread's network namespace). */
  readonly ifindex: number;
  /** SO_MARK of the sending socket: skb->mark of every released packet. */
  readonly mark: number;
  /** Recompute IPv4/IPv6 TCP/UDP checksums before sending (default true: see release-worker.ts). */
  readonly fixChecksums?: boolean;
  /**
   * SCHED_FIFO priority of the release thread (1-99, default 10; 0: an ordinary thread). Needs
   * CAP_SYS_NICE; without it the thread stays ordinary (stats().realtimePriority says which).
   */
  readonly realtimePriority?: number;
  /** For messages (default `ring buffer "<name>"`). */
  readonly what?: string;
}

export interface ReleaseStats {
  /** Records taken from the ring. */
  readonly received: number;
  /** Packets sent when due. */
  readonly released: number;
  /** Mean of (send time − departure) over the released packets, ms. */
  readonly meanLateMs: number;
  /** Lateness histogram: bucket i counts [2^i, 2^(i+1)) µs (bucket 0 also < 1 µs). */
  readonly lateHistogram: readonly number[];
  /** Packets sent at once when the releaser stopped (not yet due). */
  readonly flushed: number;
  /** Packets lost to a failed sendto. */
  readonly sendErrors: number;
  /** Packets held now. */
  readonly holding: number;
  /** Records too short to be a held packet (skipped). */
  readonly malformed: number;
  /** The release thread's SCHED_FIFO priority (0: it runs as an ordinary thread). */
  readonly realtimePriority: number;
  /** The release thread's CPU time in its loop so far, user and system, µs (refreshed every 64 wake-ups; exact after stop). */
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
  /** CPU time of the thread's start-up (a Node worker's bootstrap and koffi), µs. */
  readonly startupCpuUs: number;
}

export class PacketReleaser {
  private readonly control: Int32Array;
  private readonly statsView: Float64Array;
  private stopped = false;
  private final: ReleaseStats | undefined;
  /** The worker's failure, if it failed. */
  failure: Error | undefined;

  private constructor(
    private readonly fds: OwnedFd[],
    private readonly mappings: ReadonlyArray<readonly [bigint, number]>,
    shared: SharedArrayBuffer,
    private readonly wakeFd: OwnedFd,
    private readonly worker: Worker,
  ) {
    this.control = new Int32Array(shared, 0, RELEASE_CONTROL_WORDS);
    this.statsView = new Float64Array(shared, RELEASE_CONTROL_WORDS * 4, RELEASE_STAT_SLOTS);
    worker.on("error", (e: Error) => {
      this.failure = e;
    });
    worker.unref();
  }

  /**
   * Opens the socket (CAP_NET_RAW, CAP_NET_ADMIN for SO_MARK), timerfd, eventfd and epoll set,
   * maps the ring and starts the thread. Throws a SyscallError naming the step; nothing is left
   * open then.
   */
  static start(o: PacketReleaserOptions): PacketReleaser {
    const what = o.what ?? `ring buffer "${o.ring.name}"`;
    const realtimePriority = o.realtimePriority ?? 10;
    if (!Number.isInteger(realtimePriority) || realtimePriority < 0 || realtimePriority > 99) throw new RangeError(`realtimePriority: ${realtimePriority} is not 0 (ordinary) or a SCHED_FIFO priority 1-99`);
    if (o.ring.type !== MapType.RINGBUF) throw new WrongTypeError(`${what}: not a ring buffer map (${mapTypeName(o.ring.type)})`);
    const k = kernel();
    const fds: OwnedFd[] = [];
    const mappings: Array<readonly [bigint, number]> = [];
    const own = (fd: number): number => {
      fds.push(new OwnedFd(fd));
      return fd;
    };
    try {
      const socketFd = own(openPacketSocket(o.ifindex, o.mark, `releaser of ${what}`));
      const timerFd = own(timerfdCreate(`releaser of ${what}`));
      const ev = k.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (ev < 0) throw new SyscallError(-ev, { syscall: "eventfd", object: `releaser of ${what}` });
      own(ev);
      const ep = k.epollCreate();
      if (ep < 0) throw new SyscallError(-ep, { syscall: "epoll_create1", object: `releaser of ${what}` });
      const epollFd = own(ep);
      for (const fd of [o.ring.fd, timerFd, ev]) {
        const r = k.epollCtl(epollFd, EPOLL_CTL_ADD, fd, EPOLLIN);
        if (r < 0) throw new SyscallError(-r, { syscall: "epoll_ctl", object: `releaser of ${what}` });
      }
      const pageSize = k.pageSize();
      const ringSize = o.ring.maxEntries;
      const map = (length: number, prot: number, offset: number): bigint => {
        const p = k.mmap(length, prot, MAP_SHARED, o.ring.fd, offset);
        if (p < 0n) throw new SyscallError(Number(-p), { syscall: "mmap", object: what });
        mappings.push([p, length]);
        return p;
      };
      const consumerAddress = map(pageSize, PROT_READ | PROT_WRITE, 0);
      const producerAddress = map(pageSize + 2 * ringSize, PROT_READ, pageSize);
      const shared = new SharedArrayBuffer(RELEASE_SHARED_BYTES);
      const data: ReleaseWorkerData = { koffi: koffiModulePath(), epollFd, timerFd, socketFd, ifindex: o.ifindex, consumerAddress, producerAddress, pageSize, ringSize, fixChecksums: o.fixChecksums ?? true, realtimePriority, shared };
      const worker = new Worker(releaseWorkerSource(DepartureHeap.toString(), completeTransportChecksum.toString()), { eval: true, workerData: data, name: "tsebpf packet release" });
      return new PacketReleaser(fds, mappings, shared, fds[2] as OwnedFd, worker);
    } catch (e) {
      for (const [p, length] of mappings) k.munmap(p, length);
      for (const fd of fds) fd.close();
      throw e;
    }
  }

  /** The thread's counters now (the last ones after stop). */
  stats(): ReleaseStats {
    if (this.final) return this.final;
    const v = this.statsView;
    const at = (i: number): number => v[i] as number;
    const released = at(RELEASE_STAT.released);
    return {
      received: at(RELEASE_STAT.received),
      released,
      meanLateMs: released ? at(RELEASE_STAT.lateNs) / released / 1e6 : 0,
      lateHistogram: Array.from({ length: LATE_BUCKETS }, (_, i) => at(RELEASE_STAT.lateHistogram + i)),
      flushed: at(RELEASE_STAT.flushed),
      sendErrors: at(RELEASE_STAT.sendErrors),
      holding: at(RELEASE_STAT.holding),
      malformed: at(RELEASE_STAT.malformed),
      realtimePriority: at(RELEASE_STAT.realtimePriority),
      cpuUserUs: at(RELEASE_STAT.cpuUserUs),
      cpuSystemUs: at(RELEASE_STAT.cpuSystemUs),
      startupCpuUs: at(RELEASE_STAT.startupCpuUs),
    };
  }

  /**
   * Stops the thread: it takes what is left in the ring and sends every packet it holds at once,
   * in departure order (`flushed`), then exits. Waits for that (at most `timeoutMs`), then closes
   * every fd and mapping. Returns the final counters. Throws when the thread had failed or did
   * not finish in time (everything is released all the same).
   */
  stop(timeoutMs = 5000): ReleaseStats {
    if (this.stopped) return this.stats();
    this.stopped = true;
    Atomics.store(this.control, RELEASE_CONTROL.stop, 1);
    kernel().write(this.wakeFd.fd, new Uint8Array(new BigUint64Array([1n]).buffer));
    const waited = Atomics.wait(this.control, RELEASE_CONTROL.done, 0, timeoutMs);
    this.final = this.stats();
    const done = Atomics.load(this.control, RELEASE_CONTROL.done) === 1;
    if (done) {
      const k = kernel();
      for (const [p, length] of this.mappings) k.munmap(p, length);
      for (const fd of this.fds) fd.close();
    }
    // A thread that did not finish may still use the fds and mappings: they stay (a leak, not a crash).
    void this.worker.terminate();
    if (Atomics.load(this.control, RELEASE_CONTROL.failed) === 1) throw new TsebpfError(`packet release thread failed${this.failure ? `: ${this.failure.message}` : ""}`);
    if (!done) throw new TsebpfError(`packet release thread did not stop within ${timeoutMs} ms (${waited})`);
    return this.final;
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}
