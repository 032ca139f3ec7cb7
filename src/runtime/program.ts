/**
 * A BPF program in the kernel: load (with the verifier log grown as needed), test run, info,
 * pin, and the translated instructions read back.
 */
import { ProgramType } from "../abi/index.js";
import { HOST_ORDER, decode, type Instruction } from "../asm/index.js";
import { Struct, bpfCall, bpfError, fdById, kernel, objGet, objInfo, objPin, progLoad, type ProgLoadOptions } from "../syscall/index.js";
import { OwnedFd } from "./fd.js";
import { UseAfterCloseError } from "./map.js";
import { VerifierError } from "./verifier-error.js";

/** What the kernel says about a program. */
export interface ProgramInfo {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly tag: string;
  readonly loadTime: bigint;
  readonly createdByUid: number;
  readonly mapIds: number[];
  readonly btfId: number;
  readonly gplCompatible: boolean;
  readonly xlatedLength: number;
  readonly jitedLength: number;
  /** With kernel.bpf_stats_enabled=1: how often it ran and for how long. */
  readonly runCount: bigint;
  readonly runTimeNs: bigint;
  readonly verifiedInstructions: number;
}

export function programInfoByFd(fd: number, what: string): ProgramInfo {
  const info = new Struct("BpfProgInfo");
  objInfo(fd, info, what);
  const mapCount = info.getU32("nr_map_ids");
  const mapIdBuf = Buffer.alloc(mapCount * 4);
  if (mapCount > 0) {
    const again = new Struct("BpfProgInfo");
    again.set("nr_map_ids", mapCount).set("map_ids", kernel().address(mapIdBuf));
    objInfo(fd, again, what);
  }
  const [tagOff] = info.field("tag");
  return {
    id: info.getU32("id"),
    name: info.getString("name"),
    type: info.getU32("type"),
    tag: info.buf.subarray(tagOff, tagOff + 8).toString("hex"),
    loadTime: info.getU64("load_time"),
    createdByUid: info.getU32("created_by_uid"),
    mapIds: Array.from({ length: mapCount }, (_, i) => mapIdBuf.readUInt32LE(i * 4)),
    btfId: info.getU32("btf_id"),
    gplCompatible: info.getBits("gpl_compatible") === 1,
    xlatedLength: info.getU32("xlated_prog_len"),
    jitedLength: info.getU32("jited_prog_len"),
    runCount: info.getU64("run_cnt"),
    runTimeNs: info.getU64("run_time_ns"),
    verifiedInstructions: info.getU32("verified_insns"),
  };
}

export interface TestRunOptions {
  /** Packet (or other input) data. */
  readonly data?: Uint8Array;
  /** Room for output data; defaults to the input's size plus headroom for growth. */
  readonly dataOutSize?: number;
  /** Context in (e.g. `struct __sk_buff`, `struct xdp_md`). */
  readonly context?: Uint8Array;
  readonly contextOutSize?: number;
  /** Runs the program this many times (the duration is the mean); 0 or absent: once. */
  readonly repeat?: number;
  readonly flags?: number;
  readonly cpu?: number;
}

export interface TestRunResult {
  readonly returnValue: number;
  /** Mean nanoseconds per run. */
  readonly duration: number;
  readonly data: Buffer;
  readonly context: Buffer;
}


export const LOG_LEVEL = { NONE: 0, BASIC: 1, VERBOSE: 2, STATS: 4 } as const;

export interface ProgramLoadOptions extends Omit<ProgLoadOptions, "log" | "logLevel"> {
  /** Verifier log level; a failed load is retried with level 1 to explain itself. */
  readonly logLevel?: number;
  /** Initial log buffer size; grown up to `maxLogSize` when the log is cut. */
  readonly logSize?: number;
  readonly maxLogSize?: number;
}

export class Program {
  private readonly owner: OwnedFd;

  private constructor(
    fd: number,
    readonly name: string,
    readonly type: number,
    /** The verifier's log of a successful load, when a log level was asked for. */
    readonly verifierLog: string,
  ) {
    this.owner = new OwnedFd(fd);
  }

  /**
   * Loads a program. On rejection throws VerifierError with the whole log (the buffer grows
   * until the log fits); other failures throw SyscallError.
   */
  static load(options: ProgramLoadOptions): Program {
    const maxLog = options.maxLogSize ?? 256 << 20;
    let logLevel = options.logLevel ?? 0;
    let log = logLevel ? Buffer.alloc(options.logSize ?? 1 << 20) : undefined;
    let interrupted = 0;
    for (;;) {
      const { result, logTrueSize } = progLoad({ ...options, ...(log ? { log, logLevel } : {}) });
      const text = log ? log.toString("utf8", 0, Math.max(0, log.indexOf(0))) : "";
      if (result >= 0) return new Program(result, options.name, options.type, text);
      const errno = -result;
      // EAGAIN: a signal interrupted the verifier (a profiler, a timer): try again.
      if (errno === 11 && ++interrupted < 5) continue;
      const cut = errno === 28 /* ENOSPC: log too small */ || (log !== undefined && logTrueSize > log.byteLength);
      if (log && cut && log.byteLength < maxLog) {
        log = Buffer.alloc(Math.min(maxLog, Math.max(log.byteLength * 4, logTrueSize + 1)));
        continue;
      }
      if (!log && errno !== 1 /* EPERM */) {
        // Refused without a log: ask again with one, to say why.
        logLevel = LOG_LEVEL.BASIC;
        log = Buffer.alloc(options.logSize ?? 1 << 20);
        continue;
      }
      if (text.trim().length > 0 && errno !== 1) throw new VerifierError(options.name, errno, text, cut);
      // EPERM, E2BIG, ENOMEM …: not the verifier's verdict.
      throw bpfError("PROG_LOAD", errno, `program "${options.name}"`);
    }
  }

  /** Takes ownership of an fd of a loaded program. */
  static fromFd(fd: number): Program {
    try {
      const info = programInfoByFd(fd, `program fd ${fd}`);
      return new Program(fd, info.name, info.type, "");
    } catch (e) {
      kernel().close(fd);
      throw e;
    }
  }

  static fromPin(path: string): Program {
    return Program.fromFd(objGet(path));
  }

  static fromId(id: number): Program {
    return Program.fromFd(fdById("PROG", id));
  }

  get fd(): number {
    if (this.owner.closed) throw new UseAfterCloseError(`program "${this.name}"`);
    return this.owner.fd;
  }

  /** BPF_PROG_TEST_RUN: runs the program on the data/context given. */
  testRun(options: TestRunOptions = {}): TestRunResult {
    const a = new Struct("AttrTest");
    const dataIn = options.data;
    const dataOut = Buffer.alloc(options.dataOutSize ?? (dataIn ? dataIn.byteLength + 256 : 0));
    const ctxIn = options.context;
    // Syscall programs take a context but give none back (the kernel refuses ctx_out for them).
    const ctxOut = Buffer.alloc(options.contextOutSize ?? (ctxIn && this.type !== ProgramType.SYSCALL ? ctxIn.byteLength : 0));
    const k = kernel();
    a.set("prog_fd", this.fd).set("repeat", options.repeat ?? 0).set("flags", options.flags ?? 0).set("cpu", options.cpu ?? 0);
    if (dataIn && dataIn.byteLength) a.set("data_in", k.address(dataIn)).set("data_size_in", dataIn.byteLength);
    if (dataOut.byteLength) a.set("data_out", k.address(dataOut)).set("data_size_out", dataOut.byteLength);
    if (ctxIn && ctxIn.byteLength) a.set("ctx_in", k.address(ctxIn)).set("ctx_size_in", ctxIn.byteLength);
    if (ctxOut.byteLength) a.set("ctx_out", k.address(ctxOut)).set("ctx_size_out", ctxOut.byteLength);
    bpfCall("PROG_TEST_RUN", a, a.end("batch_size"), `program "${this.name}"`);
    return {
      returnValue: a.getU32("retval"),
      duration: a.getU32("duration"),
      data: dataOut.subarray(0, a.getU32("data_size_out")),
      context: ctxOut.subarray(0, a.getU32("ctx_size_out")),
    };
  }

  info(): ProgramInfo {
    return programInfoByFd(this.fd, `program "${this.name}"`);
  }

  /** The instructions as the kernel rewrote them (`bpftool prog dump xlated`). */
  xlated(): Instruction[] {
    const length = this.info().xlatedLength;
    const buf = Buffer.alloc(length);
    const info = new Struct("BpfProgInfo");
    info.set("xlated_prog_len", length).set("xlated_prog_insns", kernel().address(buf));
    objInfo(this.fd, info, `program "${this.name}"`);
    return decode(buf, HOST_ORDER);
  }

  pin(path: string): void {
    objPin(this.fd, path, `program "${this.name}"`);
  }

  close(): void {
    this.owner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
