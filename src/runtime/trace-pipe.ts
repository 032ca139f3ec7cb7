/**
 * Reading the kernel's trace buffer as it fills: `<tracefs>/trace_pipe`, where `bpf_printk`
 * (`bpf_trace_printk`) writes, as parsed lines.
 *
 * trace_pipe is one buffer for the whole system and reading it consumes it: every reader
 * (another `tracePipe`, `bpftool prog tracelog`, `cat trace_pipe`) takes lines away from the
 * others, and what was read is gone from `trace` too.
 *
 * A blocking read of trace_pipe never returns while the buffer is empty, so a stream over it
 * (`fs.createReadStream`) holds a libuv thread and keeps the process alive even after it is
 * destroyed. Here the file is opened non-blocking: a read takes what there is and returns at
 * once, and waiting is either a timer (the default: never keeps the process alive) or epoll on a
 * worker thread (`keepAlive: true`: woken as soon as a line arrives). Abort ends a wait at once.
 */
import { closeSync, constants, openSync, readSync } from "node:fs";
import { TsebpfError } from "../errors.js";
import { tracefsRoot } from "./attach-trace.js";
import { Poller, onAbort } from "./epoll.js";
import { NotSupportedError } from "./errors.js";

/** One line of trace_pipe, split into its fields. */
export interface TraceLine {
  /** The task's command name (`comm`), `<...>` when the kernel had not recorded it. */
  readonly task: string;
  /** The thread id (`pid` in the kernel's sense); -1 when the line did not parse. */
  readonly pid: number;
  /** The thread group (process) id, when the `record-tgid` trace option is on. */
  readonly tgid?: number;
  /** The CPU it ran on; -1 when the line did not parse. */
  readonly cpu: number;
  /**
   * The irq-info flags (`d..31`: irqs off, need-resched, hard/soft irq, preempt depth,
   * migrate-disable), empty when the `irq-info` option is off.
   */
  readonly flags: string;
  /** Seconds, as the trace clock gives them (`local` by default: since boot); NaN when the line did not parse. */
  readonly timestamp: number;
  /** The event that wrote it, `bpf_trace_printk` for `bpf_printk`; empty when there is none. */
  readonly event: string;
  /** What was printed (without the event name); the whole line when it did not parse. */
  readonly message: string;
  /** The line as the kernel wrote it (without the newline). */
  readonly line: string;
}

export interface TracePipeOptions {
  /** Ends the iteration (quietly) when aborted, including while it waits. */
  readonly signal?: AbortSignal;
  /**
   * Wait with epoll on a worker thread (woken as soon as a line arrives) instead of a timer.
   * While a loop awaits a line, that keeps the process alive, as a socket being read does; it
   * is released at once on abort or when the loop ends. Default false: waiting is an unref'd
   * timer, so the process exits when nothing else keeps it alive, even while a loop reads.
   */
  readonly keepAlive?: boolean;
  /** How often the timer looks for new lines, in milliseconds (without `keepAlive`). Default 50. */
  readonly intervalMs?: number;
  /**
   * The trace_pipe to read: a file, or a tracefs directory (an instance, `…/instances/NAME`).
   * Default: the system's, under /sys/kernel/tracing (or /sys/kernel/debug/tracing).
   */
  readonly path?: string;
}

/** trace_pipe could not be opened or read. */
export class TracePipeError extends TsebpfError {
  override readonly name = "TracePipeError";

  constructor(
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${message}`, options);
  }
}

// `comm-pid`, the tgid column of record-tgid, `[cpu]`, the irq-info flags, `timestamp:`, then
// `event: message`. comm may hold spaces and dashes: the pid is the last `-digits` before the CPU.
const LINE = /^\s*(.*?)-(\d+)\s+(?:\(\s*(\d+|-+)\)\s+)?\[(\d+)\]\s+(?:(\S{1,8})\s+)?(\d+(?:\.\d+)?):\s?(.*)$/;
const EVENT = /^([A-Za-z_][\w]*):\s?(.*)$/s;

/** Splits one line of trace_pipe (or of `trace`) into its fields; a line that does not parse keeps only `message` and `line`. */
export function parseTraceLine(line: string): TraceLine {
  const m = LINE.exec(line);
  if (!m) return { task: "", pid: -1, cpu: -1, flags: "", timestamp: Number.NaN, event: "", message: line, line };
  const [, task, pid, tgid, cpu, flags, timestamp, rest] = m as unknown as string[];
  const e = EVENT.exec(rest as string);
  const parsed: TraceLine = {
    task: (task as string).trim(),
    pid: Number(pid),
    cpu: Number(cpu),
    flags: flags ?? "",
    timestamp: Number(timestamp),
    event: e ? (e[1] as string) : "",
    message: e ? (e[2] as string) : (rest as string),
    line,
  };
  return tgid !== undefined && /^\d+$/.test(tgid) ? { ...parsed, tgid: Number(tgid) } : parsed;
}

/** Where trace_pipe is for `path` (a file, or a directory holding one). */
function pipePath(path: string | undefined): string {
  if (path === undefined) return `${tracefsRoot()}/trace_pipe`;
  return path.endsWith("trace_pipe") ? path : `${path.replace(/\/+$/, "")}/trace_pipe`;
}

function openPipe(path: string, given: boolean): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && given) throw new TracePipeError(path, "no such file", { cause: e });
    if (code === "ENOENT") throw new NotSupportedError("tracefs trace_pipe", undefined, `${path} does not exist: mount tracefs (mount -t tracefs tracefs /sys/kernel/tracing)`);
    const why = code === "EACCES" || code === "EPERM" ? "permission denied (reading trace_pipe needs root)" : code === "EBUSY" ? "busy (a tracer holds it)" : String((e as Error).message);
    throw new TracePipeError(path, `cannot open: ${why}`, { cause: e });
  }
}

const CHUNK = 64 * 1024;

/**
 * The lines of trace_pipe as they arrive, parsed, until `signal` aborts or the loop ends
 * (`break`, `return`). Reads never block the event loop, and by default waiting does not keep
 * the process alive (see `keepAlive`). trace_pipe is shared and consuming: lines this reads are
 * gone for every other reader. Opening it needs root (tracefs is mode 0700 or 0640).
 *
 * ```ts
 * for await (const l of runtime.tracePipe({ signal })) console.log(l.pid, l.task, l.message);
 * ```
 */
export async function* tracePipe(options: TracePipeOptions = {}): AsyncGenerator<TraceLine, void, undefined> {
  const { signal, keepAlive = false, intervalMs = 50 } = options;
  if (!(intervalMs > 0 && intervalMs <= 2 ** 31 - 1)) throw new RangeError(`tracePipe: intervalMs must be a positive number of milliseconds, not ${intervalMs}`);
  if (signal?.aborted) return;
  const path = pipePath(options.path);
  const fd = openPipe(path, options.path !== undefined);
  let waiter: Waiter | undefined;
  try {
    waiter = keepAlive ? epollWaiter(fd, path) : timerWaiter(intervalMs);
    const stop = onAbort(signal, () => waiter?.wake());
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      let partial = "";
      for (;;) {
        if (signal?.aborted) return;
        const n = readChunk(fd, buf, path);
        if (n > 0) {
          const text = partial + buf.toString("utf8", 0, n);
          const lines = text.split("\n");
          partial = lines.pop() as string;
          for (const l of lines) {
            if (l === "") continue;
            yield parseTraceLine(l);
            if (signal?.aborted) return;
          }
          continue;
        }
        // Nothing now (EAGAIN), or end of file (tracing turned off after lines were read):
        // wait. After an end of file, epoll may report the file readable at once: wait on the
        // timer then, so that a loop does not spin.
        await (n === 0 && keepAlive ? sleep(intervalMs, signal) : waiter.wait());
      }
    } finally {
      stop();
    }
  } finally {
    waiter?.close();
    closeSync(fd);
  }
}

/** Bytes read into `buf`; -1 when there is nothing to read now. */
function readChunk(fd: number, buf: Buffer, path: string): number {
  try {
    return readSync(fd, buf, 0, buf.byteLength, null);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EAGAIN" || code === "EWOULDBLOCK" || code === "EINTR") return -1;
    throw new TracePipeError(path, `read failed: ${(e as Error).message}`, { cause: e });
  }
}

interface Waiter {
  /** Resolves when there may be something to read (or on wake). */
  wait(): Promise<unknown>;
  /** Ends the wait in flight at once. */
  wake(): void;
  close(): void;
}

/** epoll on a worker thread: woken by the kernel as soon as the buffer has data. */
function epollWaiter(fd: number, path: string): Waiter {
  const poller = new Poller([fd], path);
  return { wait: () => poller.wait(), wake: () => poller.wake(), close: () => poller.close() };
}

/** An unref'd timer: the process may exit while it waits. */
function timerWaiter(intervalMs: number): Waiter {
  let timer: NodeJS.Timeout | undefined;
  let resolve: (() => void) | undefined;
  const wake = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const r = resolve;
    resolve = undefined;
    r?.();
  };
  return {
    wait: () =>
      new Promise<void>((r) => {
        resolve = r;
        timer = setTimeout(wake, intervalMs);
        timer.unref();
      }),
    wake,
    close: wake,
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    let stop = () => {};
    const done = () => {
      clearTimeout(timer);
      stop();
      resolve();
    };
    const timer = setTimeout(done, ms);
    stop = onAbort(signal, done);
  });
}
