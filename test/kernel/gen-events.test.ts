/**
 * Generated bindings driving real events: the libbpf-bootstrap-style and tcplife-style fixtures
 * (test/fixtures/bootstrap.bpf.c, tcplife.bpf.c) loaded through their committed bindings
 * (test/gen/bindings/, kept fresh by test/gen/programs.test.ts), attached, and their events read
 * with the generated `EventCodec` — compared with what the test itself did: the child it spawned
 * (pid, ppid, comm, filename, exit code), the TCP connections it made on loopback (ports,
 * addresses, family, owner, bytes each way, lifetime).
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { once } from "node:events";
import { expect, it } from "vitest";
import { formatIPv4, formatIPv6, PerfEventReader, RingBufferReader, type runtime } from "../../src/index.js";
import * as bootstrap from "../gen/bindings/bootstrap.gen.js";
import * as tcplife from "../gen/bindings/tcplife.gen.js";
import { describeKernel } from "../helpers/kernel.js";

/** This process's fds on kernel objects (bpf maps, programs, links, perf events, epoll, eventfd) and sockets. */
function objectFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith("anon_inode:") || target.startsWith("socket:")) out.push(target);
    } catch {
      // the fd readdir itself used, gone already
    }
  }
  return out.sort();
}

/** Mappings of kernel objects (ring buffer, perf rings, mmapable maps). */
const objectMappings = () => readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.includes("anon_inode:")).length;

/** The comm of the thread running the test (what bpf_get_current_comm sees when it connects, closes). */
const threadComm = () => readFileSync("/proc/thread-self/comm", "utf8").trim();

/** CLOCK_MONOTONIC in µs: bpf_ktime_get_ns's clock (libuv's hrtime reads the same one). */
const monotonicUs = () => process.hrtime.bigint() / 1000n;

/**
 * Reads a reader's records decoded by `codec` into an array from the moment it is made; `until`
 * waits for a condition on what has arrived; `stop` aborts the loop and waits for it to return
 * (only then are the reader's epoll fds released by close).
 */
function collect<T>(reader: runtime.EventReader, codec: runtime.Codec<T>) {
  const seen: T[] = [];
  const abort = new AbortController();
  const loop = reader.on((value) => void seen.push(value), { codec, signal: abort.signal });
  let failed: unknown;
  loop.catch((e: unknown) => (failed = e));
  return {
    seen,
    async until(what: string, done: (seen: readonly T[]) => boolean, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!done(seen)) {
        if (failed !== undefined) throw failed;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${seen.length} record(s): ${JSON.stringify(seen, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? [...v] : v))}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop(): Promise<number> {
      abort.abort();
      return loop;
    },
  };
}

/** Runs `/bin/sh -c script` as a child of this process; resolves with its pid and exit code. */
async function runChild(script: string): Promise<{ pid: number; code: number | null }> {
  const child = spawn("/bin/sh", ["-c", script], { stdio: "ignore" });
  const pid = child.pid;
  if (pid === undefined) throw new Error("spawn /bin/sh: no pid");
  const [code] = (await once(child, "exit")) as [number | null];
  return { pid, code };
}

describeKernel("generated bindings with real events", () => {
  it("bootstrap: a child's exec and exit through the ring buffer, decoded by the generated codec", async () => {
    const fdsBefore = objectFds();
    const mapsBefore = objectMappings();
    const obj = bootstrap.load({ variables: { target_ppid: process.pid } });
    let reader: RingBufferReader | undefined;
    try {
      expect(obj.variables.target_ppid.get()).toBe(process.pid);
      expect(obj.variables.min_duration_ns.get()).toBe(0n);
      // .rodata is a constant once loaded: the typed variables have no set() for it …
      expect(() => {
        // @ts-expect-error min_duration_ns is in .rodata: ConstVariable has no set()
        obj.variables.min_duration_ns.set(1n);
      }).toThrow(/\.rodata/); // … and the untyped object behind them refuses it.

      const attached = obj.collection.attachAll();
      expect([...attached].map(([name]) => name).sort()).toEqual(["handle_exec", "handle_exit"]);
      reader = new RingBufferReader(obj.maps.rb);
      const events = collect(reader, bootstrap.EventCodec);

      const child = await runChild("exit 3");
      expect(child.code).toBe(3);
      await events.until("the child's exit event", (s) => s.some((e) => e.exit_event && e.pid === child.pid));
      expect(await events.stop()).toBe(events.seen.length);

      // Only children of this process pass the target_ppid filter, and this test spawned one.
      expect(events.seen.every((e) => e.ppid === process.pid)).toBe(true);
      const mine = events.seen.filter((e) => e.pid === child.pid);
      expect(mine).toHaveLength(2);
      const [exec, exit] = mine as [bootstrap.Event, bootstrap.Event];
      expect(exec).toEqual({ pid: child.pid, ppid: process.pid, exit_code: 0, duration_ns: 0n, comm: "sh", filename: "/bin/sh", exit_event: false });
      expect(exit).toMatchObject({ pid: child.pid, ppid: process.pid, exit_code: 3, comm: "sh", filename: "", exit_event: true });
      expect(exit.duration_ns).toBeGreaterThan(0n);
      expect(exit.duration_ns).toBeLessThan(10_000_000_000n);
    } finally {
      reader?.close();
      obj.close();
    }
    expect(objectFds()).toEqual(fdsBefore);
    expect(objectMappings()).toBe(mapsBefore);
  });

  it("bootstrap: min_duration_ns set before load drops exec events and exits of short-lived children", async () => {
    const minimum = 200_000_000n; // 200 ms
    using obj = bootstrap.load({ variables: { target_ppid: process.pid, min_duration_ns: minimum } });
    expect(obj.variables.min_duration_ns.get()).toBe(minimum);
    obj.collection.attachAll();
    using reader = new RingBufferReader(obj.maps.rb);
    const events = collect(reader, bootstrap.EventCodec);
    const short = await runChild("exit 3");
    // `sleep` is a grandchild (its ppid is the shell's): the filter keeps it out.
    const long = await runChild("sleep 0.3; exit 4");
    expect([short.code, long.code]).toEqual([3, 4]);
    await events.until("the long-lived child's exit event", (s) => s.some((e) => e.pid === long.pid));
    await events.stop();
    // The ring buffer is ordered: the short child's exit, had it been written, came first.
    expect(events.seen).toHaveLength(1);
    const [exit] = events.seen as [bootstrap.Event];
    expect(exit).toMatchObject({ pid: long.pid, ppid: process.pid, exit_code: 4, comm: "sh", exit_event: true });
    expect(exit.duration_ns).toBeGreaterThanOrEqual(minimum);
  });

  it("tcplife: TCP connections on 127.0.0.1 and ::1 through the perf event array, decoded by the generated codec", async () => {
    const fdsBefore = objectFds();
    const mapsBefore = objectMappings();
    /** Bytes the client sends, then the server answers with (each connection). */
    const SENT = 1000;
    const ANSWERED = 70_000; // more than one 64 KiB loopback segment

    // The servers first: their port (the same on both families) is the program's filter.
    const servers: Server[] = [];
    const serve = async (host: string, port: number): Promise<number> => {
      const server = createServer((s) => {
        let got = 0;
        s.on("data", (d: Buffer) => {
          got += d.length;
          if (got === SENT) s.write(Buffer.alloc(ANSWERED, 0x61));
        });
        s.on("error", () => undefined);
        // allowHalfOpen is false: the server's end follows the client's FIN (it closes last).
      });
      servers.push(server);
      server.listen({ host, port, ipv6Only: host.includes(":") });
      await once(server, "listening");
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("no server address");
      return address.port;
    };

    let obj: tcplife.Loaded | undefined;
    let reader: PerfEventReader | undefined;
    try {
      const port = await serve("127.0.0.1", 0);
      await serve("::1", port);
      obj = tcplife.load({ variables: { target_port: port } });
      expect(obj.variables.target_port.get()).toBe(port);
      obj.collection.attachAll();
      reader = new PerfEventReader(obj.maps.events);
      const events = collect(reader, tcplife.EventCodec);

      /** One connection: connect, send SENT bytes, read ANSWERED, end it; the client's local port. */
      const exchange = async (host: string): Promise<number> => {
        const client: Socket = connect({ host, port });
        await once(client, "connect");
        const localPort = client.localPort;
        if (localPort === undefined) throw new Error("no local port");
        let got = 0;
        const answered = new Promise<void>((resolve, reject) => {
          client.on("data", (d: Buffer) => {
            got += d.length;
            if (got === ANSWERED) resolve();
          });
          client.on("error", reject);
        });
        client.write(Buffer.alloc(SENT, 0x62));
        await answered;
        client.end(); // the client closes first: its socket ends in TIME_WAIT, the server's in LAST_ACK
        await once(client, "close");
        return localPort;
      };

      const comm = threadComm();
      for (const [host, family, format] of [
        ["127.0.0.1", 2 /* AF_INET */, (e: tcplife.Event, side: "s" | "d") => formatIPv4(side === "s" ? e.saddr_v4 : e.daddr_v4)],
        ["::1", 10 /* AF_INET6 */, (e: tcplife.Event, side: "s" | "d") => formatIPv6(side === "s" ? e.saddr_v6 : e.daddr_v6)],
      ] as const) {
        const start = monotonicUs();
        const clientPort = await exchange(host);
        // One record per socket at TCP_CLOSE: the client's (local port: its own) and the server's
        // accepted one (local port: the server's).
        const isClient = (e: tcplife.Event) => e.lport === clientPort && e.dport === port;
        const isServer = (e: tcplife.Event) => e.lport === port && e.dport === clientPort;
        await events.until(`both ends of the ${host} connection`, (s) => s.some(isClient) && s.some(isServer));
        const end = monotonicUs();
        const client = events.seen.filter(isClient);
        const server = events.seen.filter(isServer);
        expect([client.length, server.length], host).toEqual([1, 1]);
        for (const [e, sent, received, opened] of [
          [client[0] as tcplife.Event, SENT, ANSWERED, "actively"],
          [server[0] as tcplife.Event, ANSWERED, SENT, "passively"],
        ] as const) {
          const what = `${host}, the ${opened} opened end`;
          expect(e.family, what).toBe(family);
          expect(format(e, "s"), what).toBe(host);
          expect(format(e, "d"), what).toBe(host);
          // Both ends belong to this process: the client's owner is taken when it connects
          // (SYN_SENT), the server's when it closes (LAST_ACK), both on this thread.
          expect(e.pid, what).toBe(process.pid);
          expect(e.comm, what).toBe(comm);
          expect(e.span_us, what).toBeGreaterThan(0n);
          expect(e.span_us, what).toBeLessThanOrEqual(end - start);
          expect(e.ts_us, what).toBeGreaterThanOrEqual(start);
          expect(e.ts_us, what).toBeLessThanOrEqual(end);
          // rx_b is tcp_sock.bytes_received and tx_b bytes_acked (RFC 4898's ThruOctetsReceived
          // and ThruOctetsAcked): the sums of the kernel's advances of rcv_nxt and of snd_una.
          // They count sequence space, where SYN and FIN are one byte each, but only what moved
          // those pointers — not what they were set to when the socket was made:
          //  - tx_b counts our FIN (the peer acknowledged it before the socket reached TCP_CLOSE)
          //    and, on the actively opened end, our SYN (snd_una moves over it when the SYN-ACK
          //    is processed by tcp_ack). The passively opened socket is made from its request
          //    sock when the handshake's last ACK comes, its snd_una already past the SYN-ACK:
          //    that one is never counted. So data + 2 (client), data + 1 (server).
          //  - rx_b counts the peer's FIN (tcp_data_queue advances rcv_nxt over it), never the
          //    peer's SYN (rcv_nxt is set from it, on both ends): data + 1.
          // Exact: a retransmission moves neither pointer twice (measured on 6.18: client tx
          // 1002 / rx 70001, server tx 70001 / rx 1001, over IPv4 and IPv6 alike).
          expect(e.tx_b, `${what}: tx_b`).toBe(BigInt(sent + (opened === "actively" ? 2 : 1)));
          expect(e.rx_b, `${what}: rx_b`).toBe(BigInt(received + 1));
        }
      }
      await events.stop();
      expect(reader.lost).toBe(0);
      // Nothing but the four connected sockets on this port (the listeners are still open;
      // closing them, LISTEN → CLOSE, reports nothing: they have no birth entry).
      expect(events.seen).toHaveLength(4);
    } finally {
      reader?.close();
      obj?.close();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
    expect(objectFds()).toEqual(fdsBefore);
    expect(objectMappings()).toBe(mapsBefore);
  });
});
