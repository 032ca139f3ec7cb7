/**
 * Netlink over a raw socket: message and attribute encoding (host byte order, 4-byte
 * alignment, nested attributes), request/acknowledgement with sequence numbers, multi-part
 * dumps, and NLMSG_ERROR decoding with the kernel's extended acknowledgement (the text the
 * kernel gives for a refusal, `Can't replace active BPF XDP link`).
 *
 * Everything here is pure except `NetlinkSocket`, which talks to the kernel through the
 * `Kernel` seam (so tests can answer its requests).
 */
import { HOST_LE } from "../asm/encoding.js";
import { NetlinkDecodeError, align4, attrsSize, decodeAttrs, writeAttrs, type NlAttrSpec, type NlAttrs } from "./netlink-attrs.js";

export * from "./netlink-attrs.js";
import { SyscallError, errnoName } from "./errors.js";
import { kernel } from "./kernel.js";
import { checkInt } from "./int-range.js";
import { UseAfterCloseError } from "../errors.js";
import { SOCK_CLOEXEC, SOL_SOCKET } from "./socket.js";

export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
const SOCK_RAW = 3;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_PEEK = 2;
const MSG_TRUNC = 0x20;

const EINTR = 4;
const EAGAIN = 11;
const EBADMSG = 74;
const ENOBUFS = 105;
const ETIMEDOUT = 110;

/** Control message types (below 16: not family messages). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** nlmsg_flags. Several bits mean different things in GET, NEW and ACK messages. */
export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP_FILTERED: 0x20,
  // GET requests
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  // NEW requests
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
  // acknowledgements
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;


/** Attributes of the extended acknowledgement (after an NLMSG_ERROR or NLMSG_DONE). */
export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2, COOKIE: 3, POLICY: 4, MISS_TYPE: 5, MISS_NEST: 6 } as const;

export const NLMSG_HDRLEN = 16;



/** rtnetlink message type names, for errors. */
const TYPE_NAMES: Record<number, string> = {
  [NLMSG_NOOP]: "NLMSG_NOOP",
  [NLMSG_ERROR]: "NLMSG_ERROR",
  [NLMSG_DONE]: "NLMSG_DONE",
  [NLMSG_OVERRUN]: "NLMSG_OVERRUN",
  16: "RTM_NEWLINK",
  17: "RTM_DELLINK",
  18: "RTM_GETLINK",
  19: "RTM_SETLINK",
  20: "RTM_NEWADDR",
  21: "RTM_DELADDR",
  22: "RTM_GETADDR",
  24: "RTM_NEWROUTE",
  25: "RTM_DELROUTE",
  26: "RTM_GETROUTE",
  36: "RTM_NEWQDISC",
  37: "RTM_DELQDISC",
  38: "RTM_GETQDISC",
  40: "RTM_NEWTCLASS",
  41: "RTM_DELTCLASS",
  42: "RTM_GETTCLASS",
  44: "RTM_NEWTFILTER",
  45: "RTM_DELTFILTER",
  46: "RTM_GETTFILTER",
};

/** `RTM_NEWLINK` for 16; `message type 99` for a number with no name. */
export const messageTypeName = (type: number): string => TYPE_NAMES[type] ?? `message type ${type}`;

// ---------------------------------------------------------------------------------------------
// Errors


/** The kernel's extended acknowledgement: why it refused, in words. */
export interface ExtendedAck {
  /** NLMSGERR_ATTR_MSG: `Can't replace active BPF XDP link`. */
  readonly message?: string;
  /** NLMSGERR_ATTR_OFFS: offset, in the request, of the attribute the kernel refused. */
  readonly offset?: number;
  /** NLMSGERR_ATTR_MISS_TYPE: the type of a missing attribute. */
  readonly missingType?: number;
  /** NLMSGERR_ATTR_MISS_NEST: offset of the nest that misses it. */
  readonly missingNest?: number;
  readonly cookie?: Uint8Array;
}

export interface NetlinkErrorContext {
  /** What was being done: `XDP attach on veth0 (generic mode)`. */
  readonly operation: string;
  /** The request's message type (RTM_SETLINK …). */
  readonly messageType?: number;
  readonly extack?: ExtendedAck;
  /** What to do about it, when there is something to say. */
  readonly hint?: string;
  readonly cause?: unknown;
}

/**
 * A netlink request the kernel refused (or whose reply did not parse: EBADMSG). Message:
 * `netlink RTM_SETLINK (XDP attach on veth0): EBUSY: Can't replace active BPF XDP link`.
 */
export class NetlinkError extends SyscallError {
  readonly operation: string;
  readonly messageType: number | undefined;
  readonly extack: ExtendedAck | undefined;

  constructor(errno: number, context: NetlinkErrorContext) {
    const detail = [context.extack?.message, context.hint].filter((s) => s !== undefined && s !== "").join("; ");
    super(errno, {
      syscall: "sendmsg",
      command: `netlink ${context.messageType === undefined ? "" : messageTypeName(context.messageType)}`.trim(),
      object: `(${context.operation})`,
      ...(detail ? { hint: detail } : {}),
    });
    Object.defineProperty(this, "name", { value: "NetlinkError", enumerable: false, configurable: true, writable: false });
    if (context.cause !== undefined) Object.defineProperty(this, "cause", { value: context.cause, enumerable: false, configurable: true });
    this.operation = context.operation;
    this.messageType = context.messageType;
    this.extack = context.extack;
  }
}

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------
// Messages

export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  /** Everything after the 16-byte header, up to nlmsg_len (a view). */
  readonly payload: Uint8Array;
}

export interface NlMessageSpec {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid?: number;
  /** The family header (ifinfomsg, tcmsg, …), padded to 4 bytes when encoded. */
  readonly header?: Uint8Array;
  readonly attrs?: readonly NlAttrSpec[];
}

/** Encodes one message: nlmsghdr, family header, attributes. */
export function encodeMessage(m: NlMessageSpec): Uint8Array {
  const header = m.header ?? new Uint8Array(0);
  const attrs = m.attrs ?? [];
  const len = NLMSG_HDRLEN + align4(header.byteLength) + attrsSize(attrs);
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  checkInt("nlmsghdr", "nlmsg_len", len, "u32");
  checkInt("nlmsghdr", "nlmsg_type", m.type, "u16");
  checkInt("nlmsghdr", "nlmsg_flags", m.flags, "u16");
  checkInt("nlmsghdr", "nlmsg_pid", m.pid ?? 0, "u32");
  view.setUint32(0, len, HOST_LE);
  view.setUint16(4, m.type, HOST_LE);
  view.setUint16(6, m.flags, HOST_LE);
  view.setUint32(8, m.seq >>> 0, HOST_LE); // a sequence number wraps by design
  view.setUint32(12, m.pid ?? 0, HOST_LE);
  out.set(header, NLMSG_HDRLEN);
  writeAttrs(out, view, NLMSG_HDRLEN + align4(header.byteLength), attrs);
  return out;
}

/** Splits a datagram into its messages. Throws NetlinkDecodeError when a length is wrong. */
export function decodeMessages(buf: Uint8Array): NlMessage[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlMessage[] = [];
  let off = 0;
  while (off < buf.byteLength) {
    if (off + NLMSG_HDRLEN > buf.byteLength) throw new NetlinkDecodeError(`${buf.byteLength - off} bytes left: too short for a message header`, off);
    const len = view.getUint32(off, HOST_LE);
    if (len < NLMSG_HDRLEN) throw new NetlinkDecodeError(`message length ${len} is shorter than its header`, off);
    if (off + len > buf.byteLength) throw new NetlinkDecodeError(`message of ${len} bytes runs past the end (${buf.byteLength - off} left)`, off);
    out.push({
      type: view.getUint16(off + 4, HOST_LE),
      flags: view.getUint16(off + 6, HOST_LE),
      seq: view.getUint32(off + 8, HOST_LE),
      pid: view.getUint32(off + 12, HOST_LE),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** A message's attributes, after a family header of `headerSize` bytes. */
export function messageAttrs(m: NlMessage, headerSize: number): NlAttrs {
  const start = align4(headerSize);
  if (m.payload.byteLength < headerSize) {
    throw new NetlinkDecodeError(`${messageTypeName(m.type)} of ${m.payload.byteLength} bytes is too short for its ${headerSize}-byte header`, NLMSG_HDRLEN);
  }
  return decodeAttrs(m.payload.subarray(Math.min(start, m.payload.byteLength)), NLMSG_HDRLEN + start);
}

/** What an NLMSG_ERROR (or a dump's NLMSG_DONE) says. */
export interface NetlinkStatus {
  /** 0 for an acknowledgement, else the (positive) errno. */
  readonly errno: number;
  readonly extack: ExtendedAck;
  /** The header of the request it answers (NLMSG_ERROR only). */
  readonly request?: { readonly type: number; readonly flags: number; readonly seq: number };
}

function decodeExtack(buf: Uint8Array, base: number): ExtendedAck {
  const ack: { -readonly [K in keyof ExtendedAck]: ExtendedAck[K] } = {};
  for (const a of decodeAttrs(buf, base)) {
    switch (a.type) {
      case NLMSGERR_ATTR.MSG:
        ack.message = a.string();
        break;
      case NLMSGERR_ATTR.OFFS:
        ack.offset = a.u32();
        break;
      case NLMSGERR_ATTR.MISS_TYPE:
        ack.missingType = a.u32();
        break;
      case NLMSGERR_ATTR.MISS_NEST:
        ack.missingNest = a.u32();
        break;
      case NLMSGERR_ATTR.COOKIE:
        ack.cookie = a.payload.slice();
        break;
      default:
        break; // NLMSGERR_ATTR_POLICY and later additions: not needed
    }
  }
  return ack;
}

/**
 * Decodes an NLMSG_ERROR: `struct nlmsgerr` (int error; the request's nlmsghdr, followed by the
 * whole request unless NLM_F_CAPPED) and, with NLM_F_ACK_TLVS, the extended-ack attributes.
 */
export function decodeErrorMessage(m: NlMessage): NetlinkStatus {
  const p = m.payload;
  if (p.byteLength < 4 + NLMSG_HDRLEN) throw new NetlinkDecodeError(`NLMSG_ERROR of ${p.byteLength} bytes is too short for struct nlmsgerr (20)`, NLMSG_HDRLEN);
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const error = view.getInt32(0, HOST_LE);
  const innerLen = view.getUint32(4, HOST_LE);
  const request = { type: view.getUint16(8, HOST_LE), flags: view.getUint16(10, HOST_LE), seq: view.getUint32(12, HOST_LE) };
  let tlvStart = 4 + NLMSG_HDRLEN;
  if (!(m.flags & NLM_F.CAPPED) && error !== 0) {
    // The whole request is echoed back.
    if (innerLen < NLMSG_HDRLEN || 4 + innerLen > p.byteLength) {
      throw new NetlinkDecodeError(`NLMSG_ERROR echoes a request of ${innerLen} bytes but has ${p.byteLength - 4}`, NLMSG_HDRLEN + 4);
    }
    tlvStart = 4 + align4(innerLen);
  }
  const extack = m.flags & NLM_F.ACK_TLVS && tlvStart < p.byteLength ? decodeExtack(p.subarray(tlvStart), NLMSG_HDRLEN + tlvStart) : {};
  return { errno: error === 0 ? 0 : Math.abs(error), extack, request };
}

/** Decodes a dump's NLMSG_DONE: an int (0, or -errno when the dump failed) and extended-ack attributes. */
export function decodeDoneMessage(m: NlMessage): NetlinkStatus {
  const p = m.payload;
  if (p.byteLength < 4) return { errno: 0, extack: {} }; // very old kernels: no payload
  const error = new DataView(p.buffer, p.byteOffset, 4).getInt32(0, HOST_LE);
  const extack = m.flags & NLM_F.ACK_TLVS && p.byteLength > 4 ? decodeExtack(p.subarray(4), NLMSG_HDRLEN + 4) : {};
  return { errno: error < 0 ? -error : 0, extack };
}

// ---------------------------------------------------------------------------------------------
// The socket

export interface RequestOptions {
  /** For errors: `XDP attach on veth0`. */
  readonly operation: string;
  /** Hints by errno name (`EEXIST: "…"`), appended to the kernel's own text. */
  readonly hints?: Readonly<Record<string, string>>;
}

/** sockaddr_nl of the kernel (pid 0, no groups). */
const KERNEL_ADDRESS = (() => {
  const a = new Uint8Array(12);
  new DataView(a.buffer).setUint16(0, AF_NETLINK, HOST_LE);
  return a;
})();

let nextSeq = (Date.now() & 0x3fffffff) >>> 0;

/**
 * A netlink socket (NETLINK_ROUTE by default) in the network namespace of the thread that
 * opened it. Requests are synchronous: send, then read replies until the acknowledgement (or,
 * for dumps, NLMSG_DONE). Replies to other sequence numbers (late answers) are skipped.
 */
export class NetlinkSocket {
  private fdValue: number;
  private buf = new Uint8Array(32 * 1024);
  /** Seconds a receive waits before giving up. */
  static timeoutSeconds = 10;

  private constructor(fd: number) {
    this.fdValue = fd;
  }

  static open(protocol = NETLINK_ROUTE): NetlinkSocket {
    const k = kernel();
    const fd = k.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new SyscallError(-fd, { syscall: "socket", object: `netlink (protocol ${protocol})` });
    const s = new NetlinkSocket(fd);
    // Best effort: older kernels lack them, and requests work without.
    s.setInt(SOL_NETLINK, NETLINK_EXT_ACK, 1);
    s.setInt(SOL_NETLINK, NETLINK_CAP_ACK, 1);
    const tv = new Uint8Array(16);
    const dv = new DataView(tv.buffer);
    const long64 = !["ia32", "arm"].includes(process.arch);
    if (long64) dv.setBigInt64(0, BigInt(NetlinkSocket.timeoutSeconds), HOST_LE);
    else dv.setInt32(0, NetlinkSocket.timeoutSeconds, HOST_LE);
    k.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, long64 ? tv : tv.subarray(0, 8));
    return s;
  }

  get fd(): number {
    if (this.fdValue < 0) throw new UseAfterCloseError("netlink socket");
    return this.fdValue;
  }

  private setInt(level: number, option: number, value: number): number {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value, HOST_LE);
    return kernel().setsockopt(this.fd, level, option, b);
  }

  /**
   * Sends a request with NLM_F_REQUEST|NLM_F_ACK (plus `flags`) and returns the messages that
   * came before the acknowledgement (echoes, GET replies). Throws NetlinkError on a refusal.
   */
  request(type: number, flags: number, header: Uint8Array, attrs: readonly NlAttrSpec[], options: RequestOptions): NlMessage[] {
    return this.exchange(type, NLM_F.REQUEST | NLM_F.ACK | flags, header, attrs, options, false);
  }

  /**
   * Sends a dump request (NLM_F_REQUEST|NLM_F_DUMP) and returns every message up to
   * NLMSG_DONE. A dump the kernel flags as interrupted (NLM_F_DUMP_INTR: the table changed
   * meanwhile) is asked again, a few times.
   */
  dump(type: number, header: Uint8Array, attrs: readonly NlAttrSpec[], options: RequestOptions): NlMessage[] {
    for (let attempt = 1; ; attempt++) {
      const replies = this.exchange(type, NLM_F.REQUEST | NLM_F.DUMP, header, attrs, options, true);
      if (attempt >= 3 || !replies.some((m) => m.flags & NLM_F.DUMP_INTR)) return replies;
    }
  }

  private exchange(type: number, flags: number, header: Uint8Array, attrs: readonly NlAttrSpec[], options: RequestOptions, isDump: boolean): NlMessage[] {
    const seq = (nextSeq = (nextSeq + 1) >>> 0);
    const fail = (errno: number, extra: Omit<NetlinkErrorContext, "operation" | "messageType"> = {}): NetlinkError => {
      const hint = extra.hint ?? options.hints?.[errnoName(errno)];
      return new NetlinkError(errno, { operation: options.operation, messageType: type, ...extra, ...(hint ? { hint } : {}) });
    };
    const msg = encodeMessage({ type, flags, seq, header, attrs });
    const k = kernel();
    let sent: number;
    do sent = k.sendto(this.fd, msg, 0, KERNEL_ADDRESS);
    while (sent === -EINTR);
    if (sent < 0) throw fail(-sent);

    const replies: NlMessage[] = [];
    for (;;) {
      const n = this.receive(fail);
      let messages: NlMessage[];
      try {
        messages = decodeMessages(this.buf.subarray(0, n));
      } catch (e) {
        if (e instanceof NetlinkDecodeError) throw fail(EBADMSG, { hint: e.message, cause: e });
        throw e;
      }
      for (const m of messages) {
        if (m.seq !== seq) continue; // a late reply to an earlier request
        try {
          switch (m.type) {
            case NLMSG_NOOP:
              continue;
            case NLMSG_ERROR: {
              const status = decodeErrorMessage(m);
              if (status.errno !== 0) throw fail(status.errno, { extack: status.extack });
              return replies; // the acknowledgement
            }
            case NLMSG_DONE: {
              const status = decodeDoneMessage(m);
              if (status.errno !== 0) throw fail(status.errno, { extack: status.extack });
              if (isDump) return replies;
              continue;
            }
            case NLMSG_OVERRUN:
              throw fail(ENOBUFS, { hint: "the kernel dropped part of the reply (NLMSG_OVERRUN)" });
            default:
              replies.push(copyMessage(m));
          }
        } catch (e) {
          if (e instanceof NetlinkDecodeError) throw fail(EBADMSG, { hint: e.message, cause: e });
          throw e;
        }
      }
    }
  }

  /** Receives one datagram into `buf` (grown to fit it first): its length. */
  private receive(fail: (errno: number, extra?: Omit<NetlinkErrorContext, "operation" | "messageType">) => NetlinkError): number {
    const k = kernel();
    for (;;) {
      const peeked = k.recv(this.fd, this.buf, MSG_PEEK | MSG_TRUNC);
      if (peeked === -EINTR) continue;
      if (peeked === -EAGAIN) throw fail(ETIMEDOUT, { hint: `no reply from the kernel within ${NetlinkSocket.timeoutSeconds} s` });
      if (peeked < 0) throw fail(-peeked);
      if (peeked > this.buf.byteLength) this.buf = new Uint8Array(align4(peeked));
      const n = k.recv(this.fd, this.buf, 0);
      if (n === -EINTR) continue;
      if (n < 0) throw fail(-n);
      return n;
    }
  }

  close(): void {
    if (this.fdValue < 0) return;
    kernel().close(this.fdValue);
    this.fdValue = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Replies are views of the receive buffer, which the next receive overwrites: copy them. */
function copyMessage(m: NlMessage): NlMessage {
  return { ...m, payload: m.payload.slice() };
}

/**
 * Runs `fn`, turning a NetlinkDecodeError (a reply whose attributes do not parse) into a
 * NetlinkError (EBADMSG) naming the operation.
 */
export function decodingReply<T>(operation: string, messageType: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NetlinkDecodeError) throw new NetlinkError(EBADMSG, { operation, messageType, hint: e.message, cause: e });
    throw e;
  }
}
