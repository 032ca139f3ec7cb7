/**
 * bpf(2) commands: each builds its attr from the generated layout, calls the kernel through the
 * seam, and turns a failure into a SyscallError naming the command and the object. A number
 * that does not fit its attr field is an AttrRangeError before the call (see Struct.set).
 */
import { BpfCommand } from "../abi/index.js";
import { Struct, type FieldName, type LayoutName } from "./attr.js";
import { SyscallError, bpfHint } from "./errors.js";
import { kernel } from "./kernel.js";

export type BpfCommandName = keyof typeof BpfCommand;

/** The SyscallError of a failed bpf(2) command: `BPF_<command> <object>: <code>: <hint>`. */
export function bpfError(command: BpfCommandName, errno: number, object?: string): SyscallError {
  const name = `BPF_${command}`;
  const hint = bpfHint(errno, name);
  return new SyscallError(errno, { syscall: "bpf", command: name, ...(object ? { object } : {}), ...(hint ? { hint } : {}) });
}

/** Calls bpf(2); on failure throws a SyscallError for `BPF_<command> <object>`. */
export function bpfCall<L extends LayoutName>(command: BpfCommandName, attr: Struct<L>, size: number, object?: string): number {
  const r = kernel().bpf(BpfCommand[command], attr.buf, size);
  if (r < 0) throw bpfError(command, -r, object);
  return r;
}

/** Like bpfCall, but returns -errno instead of throwing (for lookups where ENOENT is an answer). */
export function bpfTry<L extends LayoutName>(command: BpfCommandName, attr: Struct<L>, size: number): number {
  return kernel().bpf(BpfCommand[command], attr.buf, size);
}

const address = (buf: Uint8Array | undefined): bigint => (buf && buf.byteLength > 0 ? kernel().address(buf) : 0n);

/** Object names as the kernel keeps them: up to 15 bytes of [A-Za-z0-9_.]. */
export function objectName(name: string): Uint8Array {
  return Buffer.from(name.replace(/[^A-Za-z0-9_.]/g, "_").slice(0, 15), "latin1");
}

export interface MapCreateOptions {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  readonly innerMapFd?: number;
  readonly numaNode?: number;
  readonly btfFd?: number;
  readonly btfKeyTypeId?: number;
  readonly btfValueTypeId?: number;
  readonly mapExtra?: bigint;
  readonly ifindex?: number;
}

/** BPF_MAP_CREATE: the new map's fd. */
export function mapCreate(o: MapCreateOptions): number {
  const a = new Struct("AttrMapCreate").about(`map "${o.name}"`);
  a.set("map_type", o.type).set("key_size", o.keySize).set("value_size", o.valueSize).set("max_entries", o.maxEntries);
  a.set("map_flags", o.flags ?? 0).set("inner_map_fd", o.innerMapFd ?? 0).set("numa_node", o.numaNode ?? 0);
  a.setBytes("map_name", objectName(o.name)).set("map_ifindex", o.ifindex ?? 0);
  a.set("btf_fd", o.btfFd ?? 0).set("btf_key_type_id", o.btfKeyTypeId ?? 0).set("btf_value_type_id", o.btfValueTypeId ?? 0);
  a.set("map_extra", o.mapExtra ?? 0n);
  return bpfCall("MAP_CREATE", a, a.end("map_extra"), `map "${o.name}"`);
}

export interface ProgLoadOptions {
  readonly name: string;
  readonly type: number;
  readonly instructions: Uint8Array;
  readonly license: string;
  readonly expectedAttachType?: number;
  readonly kernelVersion?: number;
  readonly flags?: number;
  readonly btfFd?: number;
  readonly funcInfo?: Uint8Array;
  readonly funcInfoCount?: number;
  readonly lineInfo?: Uint8Array;
  readonly lineInfoCount?: number;
  readonly attachBtfId?: number;
  readonly attachBtfObjFd?: number;
  readonly attachProgFd?: number;
  readonly ifindex?: number;
  readonly fdArray?: Uint8Array;
  readonly logLevel?: number;
  readonly log?: Uint8Array;
}

/** BPF_PROG_LOAD without throwing: the fd, or -errno (the caller reads the verifier log). */
export function progLoad(o: ProgLoadOptions): { result: number; logTrueSize: number } {
  const a = new Struct("AttrProgLoad").about(`program "${o.name}"`);
  const license = Buffer.from(`${o.license}\0`, "latin1");
  a.set("prog_type", o.type).set("insn_cnt", o.instructions.byteLength / 8).set("insns", address(o.instructions));
  a.set("license", address(license)).set("kern_version", o.kernelVersion ?? 0).set("prog_flags", o.flags ?? 0);
  a.setBytes("prog_name", objectName(o.name)).set("expected_attach_type", o.expectedAttachType ?? 0);
  a.set("prog_ifindex", o.ifindex ?? 0);
  if (o.btfFd) {
    a.set("prog_btf_fd", o.btfFd);
    if (o.funcInfo && o.funcInfoCount) a.set("func_info_rec_size", 8).set("func_info", address(o.funcInfo)).set("func_info_cnt", o.funcInfoCount);
    if (o.lineInfo && o.lineInfoCount) a.set("line_info_rec_size", 16).set("line_info", address(o.lineInfo)).set("line_info_cnt", o.lineInfoCount);
  }
  a.set("attach_btf_id", o.attachBtfId ?? 0).set("attach_btf_obj_fd", o.attachBtfObjFd ?? o.attachProgFd ?? 0);
  if (o.fdArray) a.set("fd_array", address(o.fdArray));
  if (o.log && o.logLevel) a.set("log_level", o.logLevel).set("log_size", o.log.byteLength).set("log_buf", address(o.log));
  // Signals blocked: the verifier gives up (EAGAIN) on any pending one, and under a profiler a
  // large program would never finish between two of its timer signals.
  const result = kernel().withSignalsBlocked(() => bpfTry("PROG_LOAD", a, a.end("log_true_size")));
  // Keep the buffers referenced until the call returned.
  void [license, o.instructions, o.funcInfo, o.lineInfo, o.fdArray, o.log];
  return { result, logTrueSize: a.getU32("log_true_size") };
}

export interface BtfLoadResult {
  readonly result: number;
  readonly logTrueSize: number;
}

/** BPF_BTF_LOAD without throwing: the fd, or -errno. */
export function btfLoad(blob: Uint8Array, log?: Uint8Array, logLevel = 0): BtfLoadResult {
  const a = new Struct("AttrBtfLoad");
  a.set("btf", address(blob)).set("btf_size", blob.byteLength);
  if (log && logLevel) a.set("btf_log_buf", address(log)).set("btf_log_size", log.byteLength).set("btf_log_level", logLevel);
  const result = bpfTry("BTF_LOAD", a, a.end("btf_log_true_size"));
  void [blob, log];
  return { result, logTrueSize: a.getU32("btf_log_true_size") };
}

/** BPF_OBJ_PIN: pins an fd at a bpffs path. */
export function objPin(fd: number, path: string, object: string): void {
  const a = new Struct("AttrObj").about(object);
  const p = Buffer.from(`${path}\0`);
  a.set("pathname", address(p)).set("bpf_fd", fd);
  bpfCall("OBJ_PIN", a, a.end("file_flags"), `${object} at ${path}`);
}

/** BPF_OBJ_GET: an fd of the object pinned at `path`. */
export function objGet(path: string, flags = 0): number {
  const a = new Struct("AttrObj");
  const p = Buffer.from(`${path}\0`);
  a.set("pathname", address(p)).set("file_flags", flags);
  return bpfCall("OBJ_GET", a, a.end("file_flags"), path);
}

export type ObjectKind = "PROG" | "MAP" | "BTF" | "LINK";

/** BPF_*_GET_NEXT_ID: the next id after `start`, or undefined at the end. */
export function nextId(kind: ObjectKind, start: number): number | undefined {
  const a = new Struct("AttrGetId");
  a.set("start_id", start);
  const r = bpfTry(`${kind}_GET_NEXT_ID`, a, a.end("open_flags"));
  if (r < 0) {
    if (-r === 2) return undefined; // ENOENT: no more
    throw bpfError(`${kind}_GET_NEXT_ID`, -r);
  }
  return a.getU32("next_id");
}

/** BPF_*_GET_FD_BY_ID: an fd for the object with this id. */
export function fdById(kind: ObjectKind, id: number): number {
  const a = new Struct("AttrGetId").about(`${kind.toLowerCase()} id ${id}`);
  a.set("start_id", id);
  return bpfCall(`${kind}_GET_FD_BY_ID`, a, a.end("open_flags"), `${kind.toLowerCase()} id ${id}`);
}

/** BPF_OBJ_GET_INFO_BY_FD into a struct of `layout`; returns the info length the kernel filled. */
export function objInfo<L extends LayoutName>(fd: number, info: Struct<L>, object: string): number {
  const a = new Struct("AttrInfo").about(object);
  a.set("bpf_fd", fd).set("info_len", info.buf.byteLength).set("info", address(info.buf));
  bpfCall("OBJ_GET_INFO_BY_FD", a, a.end("info"), object);
  return a.getU32("info_len");
}

/** BPF_MAP_FREEZE */
export function mapFreeze(fd: number, object: string): void {
  const a = new Struct("AttrMapElem").about(object);
  a.set("map_fd", fd);
  bpfCall("MAP_FREEZE", a, a.end("map_fd"), object);
}

export type { FieldName };
