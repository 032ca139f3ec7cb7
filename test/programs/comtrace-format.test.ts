/**
 * comtrace's records and output: a struct conn_event (encoded by the generated codec, read back
 * through its view) as a Connection — exact bytes from the kernel's counts, absent fields, IPv4
 * and IPv6 — and the tcplife columns, CSV and JSON.
 */
import { describe, expect, it } from "vitest";
import { ConnEventCodec, ConnEventView, ConnFlags, CloseReason, OwnerSource, type ConnEvent } from "../../src/programs/comtrace/comtrace.gen.js";
import { toConnection, type Connection } from "../../src/programs/comtrace/index.js";
import { clockTime, csvHeader, csvLine, formatConnection, formatHeader, jsonLine, summaryJson, summaryText } from "../../src/programs/comtrace/format.js";

const ALL = ConnFlags.FLAG_HAVE_BYTES | ConnFlags.FLAG_HAVE_SRTT | ConnFlags.FLAG_HAVE_RETRANS | ConnFlags.FLAG_HAVE_REASON;

function event(over: Partial<ConnEvent>): ConnEvent {
  const laddr = new Uint8Array(16);
  laddr.set([127, 0, 0, 1]);
  return {
    start_ns: 1_000_000_000n,
    end_ns: 1_250_500_000n,
    bytes_acked: 1236n,
    bytes_received: 3001n,
    laddr,
    raddr: laddr,
    pid: 4242,
    srtt_us: 57,
    retrans: 2,
    sk_err: 0,
    lport: 40000,
    rport: 80,
    flags: ConnFlags.FLAG_ACTIVE | ConnFlags.FLAG_ESTABLISHED | ConnFlags.FLAG_FIN_ACKED | ConnFlags.FLAG_FIN_RECEIVED | ALL,
    family: 4,
    owner: OwnerSource.OWNER_CONNECT,
    oldstate: 5,
    reason: CloseReason.REASON_FIN,
    pad: new Uint8Array(6),
    comm: "curl",
    ...over,
  };
}

/** Through the bytes, as the reader gives them: encoded, then read by the generated view. */
function roundTrip(e: ConnEvent, offset = 0n): Connection {
  const buf = new Uint8Array(ConnEventCodec.size + 8);
  ConnEventCodec.encode(e, buf, 8);
  return toConnection(new ConnEventView(buf, 8), offset);
}

describe("comtrace records", () => {
  it("an active FIN-closed connection: the SYN and both FINs are taken out of the kernel's counts", () => {
    const c = roundTrip(event({}), 5_000_000_000n);
    expect(c).toMatchObject({ pid: 4242, comm: "curl", owner: "connect", family: "ipv4", laddr: "127.0.0.1", lport: 40000, raddr: "127.0.0.1", rport: 80 });
    expect([c.txRaw, c.rxRaw, c.txBytes, c.rxBytes]).toEqual([1236, 3001, 1234, 3000]);
    expect(c.ms).toBeCloseTo(250.5, 6);
    expect(c.closedAt).toBe(6250);
    expect([c.srttUs, c.retransmits, c.reason, c.error, c.closedFrom]).toEqual([57, 2, "FIN", 0, "FIN_WAIT2"]);
  });

  it("a passive side has no SYN in bytes_acked; an RST close has no FIN", () => {
    const passive = roundTrip(event({ flags: ConnFlags.FLAG_ESTABLISHED | ConnFlags.FLAG_FIN_ACKED | ConnFlags.FLAG_FIN_RECEIVED | ALL, bytes_acked: 3001n, bytes_received: 1235n, owner: OwnerSource.OWNER_ACCEPT, oldstate: 9 }));
    expect([passive.txBytes, passive.rxBytes, passive.owner, passive.closedFrom]).toEqual([3000, 1234, "accept", "LAST_ACK"]);
    const reset = roundTrip(event({ flags: ConnFlags.FLAG_ACTIVE | ConnFlags.FLAG_ESTABLISHED | ALL, bytes_acked: 101n, bytes_received: 5n, reason: CloseReason.REASON_RST_SENT, oldstate: 1 }));
    expect([reset.txBytes, reset.rxBytes, reset.reason]).toEqual([100, 5, "RST_SENT"]);
    const refused = roundTrip(event({ flags: ConnFlags.FLAG_ACTIVE | ALL, bytes_acked: 0n, bytes_received: 0n, reason: CloseReason.REASON_RST_RECEIVED, sk_err: 111, oldstate: 2 }));
    expect([refused.txBytes, refused.rxBytes, refused.reason, refused.error]).toEqual([0, 0, "RST_RECV", 111]);
  });

  it("fields the kernel's BTF lacks are absent, not zero", () => {
    const c = roundTrip(event({ flags: ConnFlags.FLAG_ACTIVE, srtt_us: 0, retrans: 0 }));
    expect([c.txRaw, c.rxRaw, c.txBytes, c.rxBytes, c.srttUs, c.retransmits, c.reason, c.error]).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(formatConnection(c, { bytes: true, extended: true })).toMatch(/\s-\s+-\s+250\.50\s+-\s+-\s-$/);
    expect(JSON.parse(jsonLine(c))).toMatchObject({ tx_bytes: null, rx_bytes: null, srtt_us: null, retrans: null, close: null });
    expect(csvLine(c, { bytes: true, extended: true })).toMatch(/,,,250\.500,,,$/);
  });

  it("IPv6 addresses in RFC 5952 form; an unknown owner", () => {
    const a = new Uint8Array(16);
    a.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const b = new Uint8Array(16);
    b[15] = 1;
    const c = roundTrip(event({ family: 6, laddr: a, raddr: b, owner: OwnerSource.OWNER_UNKNOWN, pid: 0, comm: "" }));
    expect([c.family, c.laddr, c.raddr, c.owner]).toEqual(["ipv6", "fd00::1", "::1", "unknown"]);
    expect(formatConnection(c)).toMatch(/^0\s+-\s+fd00::1/);
  });
});

describe("comtrace output", () => {
  const c = roundTrip(event({ bytes_acked: 5_000_002n, bytes_received: 2049n }));

  it("tcplife's columns: KB from the kernel's counts, MS with two decimals", () => {
    expect(formatHeader()).toBe("PID     COMM            LADDR           LPORT RADDR           RPORT TX_KB RX_KB        MS");
    expect(formatConnection(c)).toBe("4242    curl            127.0.0.1       40000 127.0.0.1          80  4882     2    250.50");
  });

  it("--bytes, -T and --extended", () => {
    const cols = { bytes: true, time: true, extended: true };
    expect(formatHeader(cols)).toBe("TIME     PID     COMM            LADDR           LPORT RADDR           RPORT   TX_BYTES   RX_BYTES        MS  SRTT_US RETRANS CLOSE");
    expect(formatConnection(c, cols)).toBe(`${clockTime(c.closedAt)} 4242    curl            127.0.0.1       40000 127.0.0.1          80    5000000       2048    250.50       57       2 FIN`);
    expect(clockTime(new Date(2020, 0, 1, 3, 4, 5).getTime())).toBe("03:04:05");
  });

  it("CSV quotes what needs it", () => {
    expect(csvHeader({ bytes: true })).toBe("pid,comm,laddr,lport,raddr,rport,tx_bytes,rx_bytes,ms");
    expect(csvLine(c)).toBe("4242,curl,127.0.0.1,40000,127.0.0.1,80,4882,2,250.500");
    const odd = roundTrip(event({ comm: 'a,"b' }));
    expect(csvLine(odd)).toMatch(/^4242,"a,""b",/);
  });

  it("JSON has every field; the summary carries the lost count", () => {
    expect(JSON.parse(jsonLine(c))).toEqual({
      time: new Date(c.closedAt).toISOString(),
      pid: 4242,
      comm: "curl",
      owner: "connect",
      family: "ipv4",
      laddr: "127.0.0.1",
      lport: 40000,
      raddr: "127.0.0.1",
      rport: 80,
      tx_bytes: 5_000_000,
      rx_bytes: 2048,
      tx_kb: 4882,
      rx_kb: 2,
      ms: 250.5,
      srtt_us: 57,
      retrans: 2,
      close: "FIN",
      closed_from: "FIN_WAIT2",
    });
    const k = { reported: 10, filtered: 3, lost: 2, untracked: 1 };
    expect(summaryText(k, 10)).toBe("10 connections, 2 lost (3 filtered in the kernel, 1 opened before the start, not traced)");
    expect(summaryText({ reported: 1, filtered: 0, lost: 0, untracked: 0 }, 1)).toBe("1 connection, 0 lost");
    expect(JSON.parse(summaryJson(k, 10, "SIGINT"))).toEqual({ summary: { connections: 10, reported: 10, lost: 2, filtered: 3, untracked: 1, stopped_by: "SIGINT" } });
  });
});
