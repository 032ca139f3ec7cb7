/**
 * A fake kernel for the syscall seam: enough of bpf(2) to drive the loader through its error
 * paths without a kernel. Buffers handed over by address are found again by their fake address.
 */
import { onTestFinished } from "vitest";
import { BpfCommand } from "../../src/abi/index.js";
import { useKernel, type Kernel } from "../../src/syscall/index.js";

type Command = keyof typeof BpfCommand;
const NAMES = new Map<number, Command>(Object.entries(BpfCommand).map(([k, v]) => [v, k as Command]));

export interface ProgLoadCall {
  readonly type: number;
  readonly logSize: number;
  readonly logLevel: number;
}

export class FakeKernel implements Kernel {
  private nextFd = 100;
  readonly open = new Set<number>();
  readonly calls: Command[] = [];
  readonly progLoads: ProgLoadCall[] = [];
  private readonly memory = new Map<bigint, Uint8Array>();
  private nextAddress = 0x1000n;
  /** What PROG_LOAD answers: an fd, or an errno with an optional verifier log. */
  progLoad: (call: ProgLoadCall) => { errno?: number; log?: string } = () => ({});
  /** Errors by command, for the first call of it. */
  readonly fail = new Map<Command, number>();
  /** Copies of every PROG_LOAD and LINK_CREATE attr, in call order (fields at their uapi offsets). */
  readonly progLoadAttrs: DataView[] = [];
  readonly linkCreateAttrs: DataView[] = [];
  /**
   * OBJ_GET_INFO_BY_FD answers, by fd: fills the caller's info struct (pointers inside it are
   * found with `memoryAt`). Fds without one get zeros, as before.
   */
  readonly infoByFd = new Map<number, (info: DataView) => void>();
  /** Objects known by id (`PROG:7`, `BTF:3`): *_GET_FD_BY_ID opens a new fd with this info answer. */
  readonly byId = new Map<string, (info: DataView) => void>();

  bpf(cmd: number, attr: Uint8Array): number {
    const name = NAMES.get(cmd) as Command;
    this.calls.push(name);
    const failure = this.fail.get(name);
    if (failure) return -failure;
    const v = new DataView(attr.buffer, attr.byteOffset, attr.byteLength);
    switch (name) {
      case "MAP_CREATE":
      case "BTF_LOAD":
        return this.fd();
      case "LINK_CREATE":
        this.linkCreateAttrs.push(new DataView(Uint8Array.from(attr).buffer));
        return 0;
      case "PROG_GET_NEXT_ID":
      case "MAP_GET_NEXT_ID":
      case "BTF_GET_NEXT_ID":
      case "LINK_GET_NEXT_ID": {
        // The ids of `byId` of that kind, in order.
        const kind = `${name.slice(0, name.indexOf("_"))}:`;
        const start = v.getUint32(0, true);
        const next = [...this.byId.keys()].filter((k) => k.startsWith(kind)).map((k) => Number(k.slice(kind.length))).filter((id) => id > start).sort((a, b) => a - b)[0];
        if (next === undefined) return -2; // ENOENT: no more
        v.setUint32(4, next, true);
        return 0;
      }
      case "PROG_GET_FD_BY_ID":
      case "MAP_GET_FD_BY_ID":
      case "BTF_GET_FD_BY_ID":
      case "LINK_GET_FD_BY_ID": {
        const answer = this.byId.get(`${name.slice(0, name.indexOf("_"))}:${v.getUint32(0, true)}`);
        if (!answer) return 0;
        const fd = this.fd();
        this.infoByFd.set(fd, answer);
        return fd;
      }
      case "OBJ_GET_INFO_BY_FD": {
        const info = this.memoryAt(v.getBigUint64(8, true));
        const answer = this.infoByFd.get(v.getUint32(0, true));
        if (info && answer) answer(new DataView(info.buffer, info.byteOffset, Math.min(info.byteLength, v.getUint32(4, true))));
        return 0;
      }
      case "PROG_LOAD": {
        this.progLoadAttrs.push(new DataView(Uint8Array.from(attr).buffer));
        const call = { type: v.getUint32(0, true), logLevel: v.getUint32(24, true), logSize: v.getUint32(28, true) };
        this.progLoads.push(call);
        const answer = this.progLoad(call);
        if (answer.log !== undefined && call.logLevel > 0) {
          const buf = this.memory.get(v.getBigUint64(32, true));
          const text = Buffer.from(`${answer.log}\0`);
          v.setUint32(140, text.byteLength, true); // log_true_size
          if (!buf || text.byteLength > buf.byteLength) return -28; // ENOSPC: log does not fit
          buf.set(text);
        }
        return answer.errno ? -answer.errno : this.fd();
      }
      default:
        return 0;
    }
  }

  private fd(): number {
    const fd = this.nextFd++;
    this.open.add(fd);
    return fd;
  }

  bpfAt(cmd: number, attrAddress: number, size: number): number {
    const attr = this.memory.get(BigInt(attrAddress));
    return attr ? this.bpf(cmd, attr) : -14; // EFAULT
    void size;
  }

  bpfAtFunction() {
    return (cmd: number, attrAddress: number, size: number) => this.bpfAt(cmd, attrAddress, size);
  }

  /** The buffer handed over at this fake address. */
  memoryAt(address: bigint): Uint8Array | undefined {
    return this.memory.get(address);
  }

  address(buf: Uint8Array): bigint {
    const a = this.nextAddress;
    this.nextAddress += 0x100000n;
    this.memory.set(a, buf);
    return a;
  }

  close(fd: number): number {
    this.open.delete(fd);
    return 0;
  }

  perfEventOpen = () => -38;
  ioctl = () => -38;
  mmap = () => -38n;
  munmap = () => 0;
  view = () => new ArrayBuffer(0);
  setns = () => -38;
  getrlimit = () => -1;
  setrlimit = () => -1;
  possibleCpus = () => 2;
  withSignalsBlocked = <T>(fn: () => T): T => fn();
  epollCreate = () => -38;
  epollCtl = () => -38;
  epollWaitAsync = () => Promise.resolve(-1);
  eventfd = () => -38;
  write = () => -38;
  pageSize = () => 4096;
  socket = (_domain: number, _type: number, _protocol: number) => -38;
  bind = (_fd: number, _address: Uint8Array) => -38;
  sendto = (_fd: number, _buf: Uint8Array, _flags: number, _address: Uint8Array | null) => -38;
  recv = (_fd: number, _buf: Uint8Array, _flags: number) => -38;
  setsockopt = (_fd: number, _level: number, _option: number, _value: Uint8Array) => -38;
  ifNameToIndex = (_name: string) => -19;
  ifIndexToName = (_index: number): string | undefined => undefined;
  flock = (_fd: number, _operation: number) => -38;
  timerfdCreate = (_clock: number, _flags: number) => -38;
  timerfdSettime = (_fd: number, _flags: number, _value: Uint8Array) => -38;
}

/** `k` (a FakeKernel or any other fake) installed as the kernel until the running test ends (then the one before is back); returns it. */
export function installKernel<K extends object>(k: K): K {
  onTestFinished(useKernel(k as unknown as Kernel));
  return k;
}

/** A new FakeKernel installed as the kernel until the running test ends. */
export function installFakeKernel(): FakeKernel {
  return installKernel(new FakeKernel());
}
