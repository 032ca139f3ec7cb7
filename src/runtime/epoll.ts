/**
 * Waiting for event readers: an epoll set over the readers' fds plus an eventfd that wakes a
 * wait early (abort, close). `epoll_wait` runs on a worker thread (koffi's async call), so the
 * event loop keeps running while a reader waits. At most one wait is in flight per Poller, and
 * the fds are closed only once it has returned (no fd number is reused under a waiting thread).
 */
import { SyscallError, kernel } from "../syscall/index.js";
import { TsebpfError, UseAfterCloseError } from "../errors.js";
import { OwnedFd } from "./fd.js";
import { CodecError, codecLabel, type Codec } from "./codec.js";

const EPOLL_CTL_ADD = 1;
const EPOLLIN = 0x1;
const EPOLLET = 1 << 31;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

export class Poller {
  private readonly epoll: OwnedFd;
  private readonly wakeFd: OwnedFd;
  private pending: Promise<number> | undefined;
  private closing = false;
  private readonly one = new Uint8Array(new BigUint64Array([1n]).buffer);
  private count = 0;

  /** An epoll set over `fds` (each watched for EPOLLIN). */
  constructor(fds: readonly number[], what: string) {
    const k = kernel();
    const ep = k.epollCreate();
    if (ep < 0) throw new SyscallError(-ep, { syscall: "epoll_create1", object: what });
    this.epoll = new OwnedFd(ep);
    try {
      const ev = k.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (ev < 0) throw new SyscallError(-ev, { syscall: "eventfd", object: what });
      this.wakeFd = new OwnedFd(ev);
      // Edge-triggered: every wake() is reported once; the counter is never read.
      this.add(ev, EPOLLIN | EPOLLET, what);
      for (const fd of fds) this.add(fd, EPOLLIN, what);
    } catch (e) {
      this.epoll.close();
      throw e;
    }
  }

  private add(fd: number, events: number, what: string): void {
    const r = kernel().epollCtl(this.epoll.fd, EPOLL_CTL_ADD, fd, events);
    if (r < 0) throw new SyscallError(-r, { syscall: "epoll_ctl", object: what });
    this.count++;
  }

  /** True while a wait is in flight. */
  get waiting(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Waits until a watched fd is readable, `wake()` is called or `timeoutMs` passes (-1: no
   * limit). Resolves with the number of ready fds (0 on timeout, -1 on an interrupted wait).
   */
  async wait(timeoutMs = -1): Promise<number> {
    if (this.closing) return 0;
    if (this.pending) throw new TsebpfError("a wait is already in flight on this reader (one consumer at a time)");
    const p = kernel().epollWaitAsync(this.epoll.fd, this.count, timeoutMs);
    this.pending = p;
    try {
      return await p;
    } finally {
      this.pending = undefined;
      if (this.closing) this.release();
    }
  }

  /** Ends the wait in flight (if any) at once. */
  wake(): void {
    if (!this.wakeFd.closed) kernel().write(this.wakeFd.fd, this.one);
  }

  /** Closes the epoll set; a wait in flight is woken and the fds are closed when it returns. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.pending) this.wake();
    else this.release();
  }

  private release(): void {
    this.epoll.close();
    this.wakeFd.close();
  }
}

/** Calls `fn` when `signal` aborts (at once if it has); returns a function removing the listener. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener("abort", fn, { once: true });
  return () => signal.removeEventListener("abort", fn);
}

const EMPTY = new Uint8Array(0);

/**
 * One record of an event reader. The bytes are `memory[offset, offset + length)`: by default a
 * view of the ring's own memory (zero copy), valid until the next record is read (or the reader
 * is closed: a view kept past `close()` points at unmapped memory). `data`/`view` make views of
 * just this record; `copy()` and the readers' `copy` option give bytes that stay valid.
 *
 * In callbacks the same object is reused for every record: read `memoryView` at `offset` to
 * allocate nothing per record.
 */
export class EventRecord {
  /** The memory the record lies in (the whole ring, or a copy). */
  memory: Uint8Array = EMPTY;
  /** A DataView over `memory` (same offsets). */
  memoryView: DataView = new DataView(EMPTY.buffer);
  offset = 0;
  length = 0;
  /** The CPU whose ring the record came from (perf event arrays); -1 for ring buffers. */
  cpu = -1;

  /** The record's bytes, without copying. */
  get data(): Uint8Array {
    return this.memory.subarray(this.offset, this.offset + this.length);
  }

  /** A DataView over the record's bytes, without copying. */
  get view(): DataView {
    return new DataView(this.memory.buffer, this.memory.byteOffset + this.offset, this.length);
  }

  /** A copy of the record's bytes. */
  copy(): Uint8Array {
    return this.memory.slice(this.offset, this.offset + this.length);
  }

  /** A record over a copy of the bytes: valid for good. */
  copied(): EventRecord {
    const r = new EventRecord();
    r.memory = this.copy();
    r.memoryView = new DataView(r.memory.buffer);
    r.length = this.length;
    r.cpu = this.cpu;
    return r;
  }
}

export type RecordCallback = (record: EventRecord) => void;

/**
 * A typed record: `value` decoded by the codec from the record's first `codec.size` bytes, and
 * the record itself (reused, valid during the call: its `length`, `cpu`, bytes past the value).
 */
export type ValueCallback<T> = (value: T, record: EventRecord) => void;

export interface ReadOptions {
  /** Ends the loop (quietly) when aborted, including while it waits. */
  readonly signal?: AbortSignal;
  /** Records over copies of the bytes (valid after the next read) instead of views of the ring. */
  readonly copy?: boolean;
}

/** Reading typed records: each decoded by `codec` (a generated codec, `btfCodec`, your own). */
export interface TypedReadOptions<T> {
  /** Ends the loop (quietly) when aborted, including while it waits. */
  readonly signal?: AbortSignal;
  /**
   * Decodes each record in place (nothing copied but the value). A record shorter than
   * `codec.size` is a CodecError naming the type; a longer one is decoded from its start (perf
   * samples are padded to 8 bytes, C events may end in a variable part).
   */
  readonly codec: Codec<T>;
}

/** `consume` of typed records. */
export interface TypedConsumeOptions<T> {
  readonly codec: Codec<T>;
  /** At most this many records (default: all there are). */
  readonly limit?: number;
}

/**
 * A typed view of a record, read in place: what `tsebpf gen` writes per struct (`EventView`,
 * with a getter per member). A reader re-points one instance at each record with `at`.
 */
export interface RecordView {
  /** Points the view at the record at `offset` of `view` (checking that it fits); returns it. */
  at(view: DataView, offset: number): unknown;
}

/** A view class: `new View()` makes an instance to re-point; `size` bytes are what it reads. */
export interface RecordViewClass<V extends RecordView> {
  new (): V;
  /** Bytes of the viewed type: a shorter record is a CodecError. */
  readonly size: number;
  /** The C type (`struct event`), for messages. */
  readonly typeName?: string;
}

/**
 * A record through a typed view: `view` is one instance re-pointed at each record (read its
 * getters during the call; `view.toObject()` for a copy that stays valid), `record` the record.
 */
export type ViewCallback<V> = (view: V, record: EventRecord) => void;

/** Reading records through a typed view (a class `tsebpf gen` writes: `{ view: EventView }`). */
export interface ViewReadOptions<V extends RecordView> {
  /** Ends the loop (quietly) when aborted, including while it waits. */
  readonly signal?: AbortSignal;
  /**
   * Each record is read through one instance of this class, re-pointed at it: nothing is decoded
   * or allocated per record. A record shorter than `view.size` is a CodecError naming the type.
   */
  readonly view: RecordViewClass<V>;
}

/** `consume` through a typed view. */
export interface ViewConsumeOptions<V extends RecordView> {
  readonly view: RecordViewClass<V>;
  /** At most this many records (default: all there are). */
  readonly limit?: number;
}

/** The error for a record too short for its codec: `struct event: record of 40 bytes from ring buffer "rb", needs 64`. */
export function shortRecord(what: string, codec: { readonly size: number; readonly typeName?: string | undefined }, length: number): CodecError {
  return new CodecError(`${codecLabel(codec.size, codec.typeName)}: record of ${length} bytes from ${what}, needs ${codec.size}`);
}

/** The value of the record `record` is positioned on, decoded in place. */
function decodeRecord<T>(what: string, codec: Codec<T>, record: EventRecord): T {
  if (record.length < codec.size) throw shortRecord(what, codec, record.length);
  return codec.decode(record.memoryView, record.offset);
}

const isTyped = <T>(options: unknown): options is { readonly codec: Codec<T> } =>
  typeof options === "object" && options !== null && (options as { codec?: unknown }).codec !== undefined;

const isViewed = <V extends RecordView>(options: unknown): options is { readonly view: RecordViewClass<V> } =>
  typeof options === "object" && options !== null && (options as { view?: unknown }).view !== undefined;

/** A new instance of a view class (checked: a class with a size). */
function newView<V extends RecordView>(what: string, cls: RecordViewClass<V>): V {
  if (typeof cls !== "function" || !Number.isInteger(cls.size) || cls.size < 0) throw new TypeError(`${what}: { view } takes a view class (EventView, from tsebpf gen), not ${typeof cls}`);
  return new cls();
}

/**
 * What ring buffers and perf event arrays share: a synchronous drain (`consume`), an async
 * iterator and a callback loop that wait with epoll off the event loop, and `close`.
 * Subclasses position `record` on the next record (`peek`) and let the producer reuse its space
 * (`release`).
 */
export abstract class EventReader {
  protected readonly record = new EventRecord();
  protected closed = false;
  private active = false;

  protected constructor(protected readonly what: string) {}

  protected abstract poller(): Poller;
  /** Positions `record` on the next record without releasing it; false when there is none. */
  protected abstract peek(): boolean;
  /** Releases the record the last `peek` found. */
  protected abstract release(): void;
  /** Unmaps the rings and closes what the subclass owns (the poller is closed already). */
  protected abstract dispose(): void;

  /**
   * Calls `callback` for every record there is now, without waiting; returns how many. The
   * record passed is reused (valid during the call). A callback that throws stops the drain
   * (its record counts as read) and the error propagates.
   *
   * With `{ codec }`: `callback(value, record)` with each record decoded in place; a record
   * too short for the codec is a CodecError (it counts as read, like a throwing callback).
   *
   * With `{ view: EventView }` (a view class `tsebpf gen` writes): `callback(view, record)` with
   * one view re-pointed at each record — its getters read the fields in place, nothing is
   * allocated per record. The view is valid only during the call, like the record; keep
   * `view.toObject()` instead. A record too short for the view is a CodecError.
   */
  consume<V extends RecordView>(callback: ViewCallback<V>, options: ViewConsumeOptions<V>): number;
  consume<T>(callback: ValueCallback<T>, options: TypedConsumeOptions<T>): number;
  consume(callback: RecordCallback, limit?: number): number;
  consume<T, V extends RecordView>(callback: RecordCallback | ValueCallback<T> | ViewCallback<V>, limitOrOptions?: number | TypedConsumeOptions<T> | ViewConsumeOptions<V>): number {
    if (isViewed<V>(limitOrOptions)) return this.consumeViews(newView(this.what, limitOrOptions.view), limitOrOptions.view, callback as ViewCallback<V>, limitOrOptions.limit ?? Infinity);
    if (isTyped<T>(limitOrOptions)) return this.consumeValues(limitOrOptions.codec, callback as ValueCallback<T>, limitOrOptions.limit ?? Infinity);
    return this.consumeRecords(callback as RecordCallback, (limitOrOptions as number | undefined) ?? Infinity);
  }

  /** `consume` through a view: `view` re-pointed at each record (subclasses may read faster). */
  protected consumeViews<V extends RecordView>(view: V, cls: RecordViewClass<V>, callback: ViewCallback<V>, limit: number): number {
    const what = this.what;
    const size = cls.size;
    return this.consumeRecords((r) => {
      if (r.length < size) throw shortRecord(what, cls, r.length);
      view.at(r.memoryView, r.offset);
      callback(view, r);
    }, limit);
  }

  /** `consume` with a codec (subclasses may read faster). */
  protected consumeValues<T>(codec: Codec<T>, callback: ValueCallback<T>, limit: number): number {
    const what = this.what;
    return this.consumeRecords((r) => callback(decodeRecord(what, codec, r), r), limit);
  }

  /** `consume` of raw records. */
  protected consumeRecords(callback: RecordCallback, limit: number): number {
    let n = 0;
    while (n < limit && this.peek()) {
      n++;
      try {
        callback(this.record);
      } finally {
        this.release();
      }
    }
    return n;
  }

  /**
   * Every record decoded by `codec`, as it arrives (each value is decoded in place, then the
   * record released: values stay valid). A record too short for the codec ends the loop with
   * a CodecError naming the type.
   */
  records<T>(options: TypedReadOptions<T>): AsyncGenerator<T, void, undefined>;
  /**
   * Every record through a typed view, as it arrives: the same view instance each time,
   * re-pointed at the next record. The record is released when the loop asks for the next one,
   * so the view is valid until then (keep `view.toObject()`, not the view). A record too short
   * for the view ends the loop with a CodecError naming the type.
   */
  records<V extends RecordView>(options: ViewReadOptions<V>): AsyncGenerator<V, void, undefined>;
  /**
   * Every record, as it arrives, until `signal` aborts or the reader is closed. Waiting does not
   * block the event loop; each wake-up drains all there is. One consumer at a time.
   */
  records(options?: ReadOptions): AsyncGenerator<EventRecord, void, undefined>;
  records<T, V extends RecordView>(options: ReadOptions | TypedReadOptions<T> | ViewReadOptions<V> = {}): AsyncGenerator<EventRecord | T | V, void, undefined> {
    if (isViewed<V>(options)) return this.views(newView(this.what, options.view), options.view, options.signal);
    if (isTyped<T>(options)) return this.values(options.codec, options.signal);
    return this.rawRecords(options as ReadOptions);
  }

  private async *views<V extends RecordView>(view: V, cls: RecordViewClass<V>, signal: AbortSignal | undefined): AsyncGenerator<V, void, undefined> {
    this.begin();
    const poller = this.poller();
    const stop = onAbort(signal, () => poller.wake());
    let held = false;
    try {
      for (;;) {
        if (held) {
          held = false;
          this.release();
        }
        if (this.closed || signal?.aborted) return;
        if (this.peek()) {
          held = true;
          const r = this.record;
          if (r.length < cls.size) throw shortRecord(this.what, cls, r.length);
          view.at(r.memoryView, r.offset);
          yield view;
          continue;
        }
        await poller.wait();
      }
    } finally {
      if (held) this.release();
      stop();
      this.active = false;
    }
  }

  private async *values<T>(codec: Codec<T>, signal: AbortSignal | undefined): AsyncGenerator<T, void, undefined> {
    this.begin();
    const poller = this.poller();
    const stop = onAbort(signal, () => poller.wake());
    try {
      for (;;) {
        if (this.closed || signal?.aborted) return;
        if (this.peek()) {
          let value: T;
          try {
            value = decodeRecord(this.what, codec, this.record);
          } finally {
            this.release();
          }
          yield value;
          continue;
        }
        await poller.wait();
      }
    } finally {
      stop();
      this.active = false;
    }
  }

  private async *rawRecords(options: ReadOptions): AsyncGenerator<EventRecord, void, undefined> {
    const { signal, copy = false } = options;
    this.begin();
    const poller = this.poller();
    const stop = onAbort(signal, () => poller.wake());
    let held = false;
    try {
      for (;;) {
        if (held) {
          held = false;
          this.release();
        }
        if (this.closed || signal?.aborted) return;
        if (this.peek()) {
          if (copy) {
            const r = this.record.copied();
            this.release();
            yield r;
          } else {
            held = true;
            yield this.record;
          }
          continue;
        }
        await poller.wait();
      }
    } finally {
      if (held) this.release();
      stop();
      this.active = false;
    }
  }

  /**
   * Calls `callback` for every record as it arrives until `signal` aborts or the reader is
   * closed; resolves with the number of records then, rejects with the error of a callback
   * that throws. Waiting does not block the event loop. One consumer at a time.
   *
   * With `{ codec }`: `callback(value, record)` with each record decoded in place; a record too
   * short for the codec rejects with a CodecError naming the type. With `{ view: EventView }`:
   * `callback(view, record)`, one view re-pointed at each record (valid during the call), as
   * `consume` does.
   */
  on<V extends RecordView>(callback: ViewCallback<V>, options: ViewReadOptions<V>): Promise<number>;
  on<T>(callback: ValueCallback<T>, options: TypedReadOptions<T>): Promise<number>;
  on(callback: RecordCallback, options?: { readonly signal?: AbortSignal }): Promise<number>;
  async on<T, V extends RecordView>(callback: RecordCallback | ValueCallback<T> | ViewCallback<V>, options: { readonly signal?: AbortSignal; readonly codec?: Codec<T>; readonly view?: RecordViewClass<V> } = {}): Promise<number> {
    const { signal, codec, view: cls } = options;
    const view = cls !== undefined ? newView(this.what, cls) : undefined;
    this.begin();
    const poller = this.poller();
    const stop = onAbort(signal, () => poller.wake());
    let n = 0;
    try {
      for (;;) {
        if (this.closed || signal?.aborted) return n;
        n +=
          view !== undefined && cls !== undefined
            ? this.consumeViews(view, cls, callback as ViewCallback<V>, Infinity)
            : codec
              ? this.consumeValues(codec, callback as ValueCallback<T>, Infinity)
              : this.consumeRecords(callback as RecordCallback, Infinity);
        if (this.closed || signal?.aborted) return n;
        await poller.wait();
      }
    } finally {
      stop();
      this.active = false;
    }
  }

  private begin(): void {
    if (this.closed) throw new UseAfterCloseError(`${this.what} reader`);
    if (this.active) throw new TsebpfError(`${this.what}: already read by another loop (one consumer at a time)`);
    this.active = true;
  }

  /** Ends any loop (it returns), unmaps the rings and closes the fds. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller().close();
    this.dispose();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A shared mapping of `length` bytes of `fd` at `offset`, or a SyscallError. */
export function mapShared(fd: number, length: number, prot: number, offset: number, what: string): bigint {
  const p = kernel().mmap(length, prot, 1 /* MAP_SHARED */, fd, offset);
  if (p < 0n) throw new SyscallError(Number(-p), { syscall: "mmap", object: what });
  return p;
}
