/**
 * Attaching tracing programs: tracepoints (perf event + bpf_link), raw tracepoints, BTF-typed
 * programs (tp_btf, fentry/fexit/fmod_ret, LSM), kprobes and uprobes through their PMUs, and
 * iterators (read in chunks, as a stream that does not block the event loop, or all at once).
 */
import { existsSync, read, readFileSync, readSync, readdirSync } from "node:fs";
import { NotFoundError } from "../errors.js";
import { Readable } from "node:stream";
import { AttachType, ProgramType } from "../abi/index.js";
import { Struct, SyscallError, bpfCall, kernel } from "../syscall/index.js";
import { NotSupportedError, expectProgramType } from "./errors.js";
import { OwnedFd } from "./fd.js";
import { Link, linkCreate, type Attachment } from "./link.js";
import type { BpfMap } from "./map.js";
import type { Program } from "./program.js";

const PERF_TYPE_TRACEPOINT = 2;
const PERF_FLAG_FD_CLOEXEC = 8;

/** Where tracefs is (mounted at /sys/kernel/tracing, or under debugfs on older systems). */
export function tracefsRoot(): string {
  for (const root of ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]) if (existsSync(`${root}/events`)) return root;
  throw new NotSupportedError("tracefs", undefined, "mount it: mount -t tracefs tracefs /sys/kernel/tracing");
}

/** The id of a tracepoint, `sock/inet_sock_set_state` or category and name. */
export function tracepointId(category: string, name: string): number {
  const events = `${tracefsRoot()}/events`;
  const path = `${events}/${category}/${name}/id`;
  if (!existsSync(path)) {
    // A name this kernel does not have: list the category's tracepoints (or the categories).
    const inCategory = existsSync(`${events}/${category}`);
    const available = inCategory ? readdirSync(`${events}/${category}`).filter((n) => existsSync(`${events}/${category}/${n}/id`)).map((n) => `${category}/${n}`) : readdirSync(events).filter((n) => !n.includes("."));
    throw new NotFoundError(inCategory ? "tracepoint" : "tracepoint category", inCategory ? `${category}/${name}` : category, available.sort(), `in ${events}`);
  }
  return Number(readFileSync(path, "utf8").trim());
}

/** A perf event fd owned together with the bpf_link on it. */
class PerfEventLink implements Attachment {
  constructor(
    private readonly link: Link,
    private readonly event: OwnedFd,
    readonly description: string,
  ) {}
  get fd(): number {
    return this.link.fd;
  }
  pin(path: string): void {
    this.link.pin(path);
  }
  close(): void {
    this.link.close();
    this.event.close();
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

function perfEventOpen(attr: Struct<"PerfEventAttr">, what: string, cpu = 0): OwnedFd {
  attr.set("size", attr.buf.byteLength);
  const fd = kernel().perfEventOpen(attr.buf, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) throw new SyscallError(-fd, { syscall: "perf_event_open", object: what });
  return new OwnedFd(fd);
}

/** Attaches a program to a perf event through a bpf_link (kernel 5.15). */
function attachPerfEvent(program: Program, event: OwnedFd, description: string, cookie = 0n): PerfEventLink {
  try {
    const link = linkCreate({ programFd: program.fd, target: event.fd, attachType: AttachType.PERF_EVENT, extra: { "perf_event.bpf_cookie": cookie }, description });
    return new PerfEventLink(link, event, description);
  } catch (e) {
    event.close();
    throw e;
  }
}

/** Attaches a tracepoint program (`tracepoint/sock/inet_sock_set_state`). One attachment covers every CPU. */
export function attachTracepoint(program: Program, category: string, name: string): Attachment {
  expectProgramType(program, "attachTracepoint", ProgramType.TRACEPOINT);
  const attr = new Struct("PerfEventAttr");
  attr.set("type", PERF_TYPE_TRACEPOINT).set("config", tracepointId(category, name)).set("sample_period", 1).set("wakeup_events", 1);
  const description = `program "${program.name}" on tracepoint ${category}/${name}`;
  return attachPerfEvent(program, perfEventOpen(attr, `tracepoint ${category}/${name}`), description);
}

/** Attaches a raw tracepoint program (`raw_tp/sched_switch`). */
export function attachRawTracepoint(program: Program, name: string): Link {
  expectProgramType(program, "attachRawTracepoint", ProgramType.RAW_TRACEPOINT, ProgramType.RAW_TRACEPOINT_WRITABLE, ProgramType.TRACING);
  const a = new Struct("AttrRawTracepoint");
  const n = Buffer.from(`${name}\0`);
  a.set("name", kernel().address(n)).set("prog_fd", program.fd);
  const fd = bpfCall("RAW_TRACEPOINT_OPEN", a, a.end("prog_fd"), `raw tracepoint ${name} for program "${program.name}"`);
  void n;
  return new Link(fd, `program "${program.name}" on raw tracepoint ${name}`);
}

/**
 * Attaches a program loaded against a kernel BTF target (tp_btf, fentry/fexit/fmod_ret, LSM):
 * the target was fixed at load, the link only switches it on.
 */
export function attachTracing(program: Program, attachType: number, target: string): Link {
  expectProgramType(program, "attachTracing", ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT);
  return linkCreate({ programFd: program.fd, target: 0, attachType, description: `program "${program.name}" on ${target}` });
}

/** The PMU of kprobes or uprobes: its perf type and the config bit of return probes. */
function probePmu(kind: "kprobe" | "uprobe"): { type: number; retBit: number } {
  const dir = `/sys/bus/event_source/devices/${kind}`;
  if (!existsSync(`${dir}/type`)) {
    throw new NotSupportedError(`${kind}s`, "4.17", `this kernel has no ${kind} PMU (${dir}): built without CONFIG_${kind === "kprobe" ? "KPROBE" : "UPROBE"}_EVENTS`);
  }
  const format = existsSync(`${dir}/format/retprobe`) ? readFileSync(`${dir}/format/retprobe`, "utf8") : "config:0";
  return { type: Number(readFileSync(`${dir}/type`, "utf8").trim()), retBit: Number(/config:(\d+)/.exec(format)?.[1] ?? 0) };
}

/** Attaches a kprobe program to a kernel function (`kprobe/do_unlinkat`), at its entry or return. */
export function attachKprobe(program: Program, symbol: string, options: { ret?: boolean; offset?: number } = {}): Attachment {
  expectProgramType(program, "attachKprobe", ProgramType.KPROBE);
  const pmu = probePmu("kprobe");
  const name = Buffer.from(`${symbol}\0`);
  const attr = new Struct("PerfEventAttr");
  attr.set("type", pmu.type).set("config", options.ret ? 1n << BigInt(pmu.retBit) : 0n).set("kprobe_func", kernel().address(name)).set("probe_offset", options.offset ?? 0);
  const what = `${options.ret ? "kretprobe" : "kprobe"} ${symbol}`;
  const event = perfEventOpen(attr, what);
  void name;
  return attachPerfEvent(program, event, `program "${program.name}" on ${what}`);
}

/** Attaches a uprobe program to `offset` in the file at `path` (a function's file offset). */
export function attachUprobe(program: Program, path: string, offset: number, options: { ret?: boolean; pid?: number } = {}): Attachment {
  expectProgramType(program, "attachUprobe", ProgramType.KPROBE);
  const pmu = probePmu("uprobe");
  const p = Buffer.from(`${path}\0`);
  const attr = new Struct("PerfEventAttr");
  attr.set("type", pmu.type).set("config", options.ret ? 1n << BigInt(pmu.retBit) : 0n).set("uprobe_path", kernel().address(p)).set("probe_offset", offset);
  const what = `${options.ret ? "uretprobe" : "uprobe"} ${path}+0x${offset.toString(16)}`;
  attr.set("size", attr.buf.byteLength);
  const fd = kernel().perfEventOpen(attr.buf, options.pid ?? -1, options.pid === undefined ? 0 : -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) throw new SyscallError(-fd, { syscall: "perf_event_open", object: what });
  void p;
  return attachPerfEvent(program, new OwnedFd(fd), `program "${program.name}" on ${what}`);
}

/** Options of the iterator readers. */
export interface IteratorReadOptions {
  /** Bytes per read (default 64 KiB, as bpftool reads). */
  readonly chunkSize?: number;
  /** Ends the stream (quietly) when aborted, after the read in flight. */
  readonly signal?: AbortSignal;
  /**
   * The map a map iterator walks (`iter/bpf_map_elem`, `iter/bpf_sk_storage_map`, `iter/sockmap`):
   * passed to the kernel as the link's iterator parameter.
   */
  readonly map?: BpfMap;
}

const CHUNK = 1 << 16;

/** An iterator session: the link and the fd `BPF_ITER_CREATE` gives, read once to the end. */
function openIterator(program: Program, options: IteratorReadOptions): { link: Link; fd: OwnedFd; what: string } {
  expectProgramType(program, "iterator", ProgramType.TRACING);
  const what = `iterator "${program.name}"${options.map ? ` over map "${options.map.name}"` : ""}`;
  // union bpf_iter_link_info: its first member is struct { __u32 map_fd; } map.
  const info = options.map ? Buffer.alloc(4) : undefined;
  if (info && options.map) info.writeUInt32LE(options.map.fd);
  const extra = info ? { iter_info: kernel().address(info), iter_info_len: info.byteLength } : undefined;
  const link = linkCreate({ programFd: program.fd, target: 0, attachType: AttachType.TRACE_ITER, description: what, ...(extra ? { extra } : {}) });
  void info;
  try {
    const a = new Struct("AttrIterCreate");
    a.set("link_fd", link.fd);
    return { link, fd: new OwnedFd(bpfCall("ITER_CREATE", a, a.end("flags"), what)), what };
  } catch (e) {
    link.close();
    throw e;
  }
}

function chunkSize(options: IteratorReadOptions): number {
  const size = options.chunkSize ?? CHUNK;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`iterator chunk size must be a positive integer, not ${size}`);
  return size;
}

/** One `read(2)` of `fd` on the libuv thread pool (iterator fds cannot be polled). */
function readAsync(fd: number, buf: Buffer, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, 0, buf.byteLength, null, (err, n) => {
      if (err) reject(new SyscallError(typeof err.errno === "number" ? Math.abs(err.errno) : 5, { syscall: "read", object: what }));
      else resolve(n);
    });
  });
}

/**
 * An iterator program's output as it is produced (`iter/task`, `iter/bpf_map` …): each chunk a
 * new Buffer of at most `chunkSize` bytes. Every read runs on the libuv thread pool, so the
 * event loop keeps running while the kernel walks its objects. The link and fd are closed when
 * the stream ends, is aborted, or the consumer stops early (`break`).
 */
export async function* streamIterator(program: Program, options: IteratorReadOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const size = chunkSize(options);
  const { signal } = options;
  if (signal?.aborted) return;
  const { link, fd, what } = openIterator(program, options);
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(size);
      const n = await readAsync(fd.fd, buf, what);
      if (n <= 0 || signal?.aborted) return;
      yield n === size ? buf : buf.subarray(0, n);
    }
  } finally {
    fd.close();
    link.close();
  }
}

/** `streamIterator` as a Node Readable (destroying it closes the iterator). */
export function iteratorReadable(program: Program, options: IteratorReadOptions = {}): Readable {
  return Readable.from(streamIterator(program, options), { objectMode: false });
}

/** An iterator program's whole output, read without blocking the event loop. */
export async function readIteratorAll(program: Program, options: IteratorReadOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of streamIterator(program, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * An iterator program's output, read to the end synchronously in 64 KiB reads (as bpftool
 * does): blocks the event loop meanwhile — `readIteratorAll` and `streamIterator` do not.
 */
export function readIterator(program: Program, options: Pick<IteratorReadOptions, "map"> = {}): Buffer {
  const { link, fd, what } = openIterator(program, options);
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      let n: number;
      try {
        n = readSync(fd.fd, buf, 0, buf.byteLength, null);
      } catch (e) {
        const errno = (e as NodeJS.ErrnoException).errno;
        throw new SyscallError(typeof errno === "number" ? Math.abs(errno) : 5, { syscall: "read", object: what });
      }
      if (n <= 0) break;
      chunks.push(buf.subarray(0, n));
    }
  } finally {
    fd.close();
    link.close();
  }
  return Buffer.concat(chunks);
}
