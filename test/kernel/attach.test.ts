import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { createSocket } from "node:dgram";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { AttachType } from "../../src/abi/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { attachCgroup, attachNetns, attachSocketFilter } from "../../src/runtime/attach-net.js";
import {
  attachKprobe,
  attachRawTracepoint,
  attachTracepoint,
  attachTracing,
  attachUprobe,
  iteratorReadable,
  readIterator,
  readIteratorAll,
  streamIterator,
} from "../../src/runtime/attach-trace.js";
import { NotFoundError } from "../../src/errors.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { probeIterator } from "../../src/runtime/probe.js";
import { describeKernel } from "../helpers/kernel.js";
import { testCgroup } from "../helpers/cgroup.js";

const spec = () => readCollectionSpec(readFileSync("test/fixtures/attach.bpfel.o"));
const hits = (c: Collection) => (c.typedMap(".bss").get(0) as { hits: bigint[] }).hits;

/** A loopback TCP connection, opened and closed (about ten socket state changes): the server's port. */
async function tcpRoundTrip(): Promise<number> {
  const server = createServer((s) => s.end("hi"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve, reject) => {
    const c = connect(port, "127.0.0.1");
    c.on("data", () => c.end());
    c.on("close", () => resolve());
    c.on("error", reject);
  });
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describeKernel("attaching programs", () => {
  it("tracepoint, raw tracepoint and tp_btf programs run on a loopback TCP connection", async () => {
    using c = Collection.load(spec(), { programs: ["on_tracepoint", "on_raw_tp", "on_tp_btf"] });
    {
      using _tp = attachTracepoint(c.program("on_tracepoint"), "sock", "inet_sock_set_state");
      using _raw = attachRawTracepoint(c.program("on_raw_tp"), "inet_sock_set_state");
      using _btf = attachTracing(c.program("on_tp_btf"), AttachType.TRACE_RAW_TP, "tp_btf/inet_sock_set_state");
      await tcpRoundTrip();
      const h = hits(c);
      // At least the connection's own four state changes each (other tests' sockets may add to them
      // between one attach and the next, so the three counts need not be equal).
      for (const n of h.slice(0, 3)) expect(n).toBeGreaterThanOrEqual(4n);
    }
    // Detached: no more counting.
    const before = hits(c)[0];
    await tcpRoundTrip();
    expect(hits(c)[0]).toBe(before);
  });

  it("a tracepoint that does not exist: NotFoundError naming it and listing what its category has, before any perf event is opened", () => {
    using c = Collection.load(spec(), { programs: ["on_tracepoint"] });
    const p = c.program("on_tracepoint");
    expect(() => attachTracepoint(p, "sched", "sched_process_exe")).toThrow(NotFoundError);
    expect(() => attachTracepoint(p, "sched", "sched_process_exe")).toThrow(/^no tracepoint "sched\/sched_process_exe" in \/sys\/kernel(\/debug)?\/tracing\/events \(there are: .*sched\/sched_process_exec/);
    expect(() => attachTracepoint(p, "tsebpf_no_such_category", "x")).toThrow(/^no tracepoint category "tsebpf_no_such_category" in .*\(there are: \w+, .*\)$/);
  });

  // Some kernel builds refuse map-element iterators with EPERM before the verifier runs (this
  // machine's, 2026-12-07), others load them: the probe decides the branch, and both assert.
  it("a map-element iterator walks the map it is given where the kernel allows it, NotSupportedError naming it where it refuses", async () => {
    const optional = readCollectionSpec(readFileSync("test/fixtures/optional.bpfel.o"));
    const answer = probeIterator("bpf_map_elem");
    if (!answer.supported) {
      expect(answer.reason).toBe("EPERM");
      expect(() => Collection.load(optional, { programs: ["dump_walked"] })).toThrow(NotSupportedError);
      expect(() => Collection.load(optional, { programs: ["dump_walked"] })).toThrow(/program "dump_walked" \(iter\/bpf_map_elem\): iterators over bpf_map_elem is not supported here: this kernel refuses iter\/bpf_map_elem programs/);
      return;
    }
    using c = Collection.load(optional, { programs: ["dump_walked"] });
    const walked = c.map("walked");
    for (const k of [1, 2, 3]) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(k);
      const value = Buffer.alloc(8);
      value.writeBigUInt64LE(BigInt(k * 100));
      walked.update(key, value);
    }
    const lines = (out: Buffer) => Array.from({ length: out.byteLength / 16 }, (_, i) => [out.readUInt32LE(i * 16), Number(out.readBigUInt64LE(i * 16 + 8))]).sort((a, b) => (a[0] as number) - (b[0] as number));
    expect(lines(await readIteratorAll(c.program("dump_walked"), { map: walked }))).toEqual([[1, 100], [2, 200], [3, 300]]);
    expect(lines(readIterator(c.program("dump_walked"), { map: walked }))).toEqual([[1, 100], [2, 200], [3, 300]]);
  });

  it("reads an iterator's output as a stream (iter/task sees this process)", () => {
    using c = Collection.load(spec(), { programs: ["each_task"] });
    const out = readIterator(c.program("each_task"));
    const pids = Array.from({ length: out.byteLength / 4 }, (_, i) => out.readInt32LE(i * 4));
    expect(pids.length).toBeGreaterThan(10);
    expect(pids).toContain(process.pid);
  });

  it("streams an iterator's output in chunks without blocking the event loop: the same bytes as readAll, timers fire meanwhile, stopping early closes it", async () => {
    using c = Collection.load(spec(), { programs: ["each_task"] });
    const program = c.program("each_task");
    const pidsOf = (b: Buffer) => Array.from({ length: b.byteLength / 4 }, (_, i) => b.readInt32LE(i * 4));
    // Tasks come and go between two sessions (other processes run): a few tries for one
    // stable pair. Chunks of 12 bytes: many reads, each at most 12 bytes.
    let same = false;
    let chunks: Buffer[] = [];
    for (let attempt = 0; attempt < 20 && !same; attempt++) {
      chunks = [];
      for await (const chunk of streamIterator(program, { chunkSize: 12 })) chunks.push(chunk);
      const all = await readIteratorAll(program);
      same = Buffer.concat(chunks).equals(all);
    }
    expect(same).toBe(true);
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.every((b) => b.byteLength > 0 && b.byteLength <= 12)).toBe(true);
    expect(pidsOf(Buffer.concat(chunks))).toContain(process.pid);

    // The event loop runs while the kernel's output is read: a timer fires before the end.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let bytes = 0;
    let ticksAtEnd = 0;
    try {
      for await (const chunk of streamIterator(program, { chunkSize: 4 })) bytes += chunk.byteLength;
      ticksAtEnd = ticks;
    } finally {
      clearInterval(timer);
    }
    expect(bytes).toBeGreaterThan(40);
    expect(ticksAtEnd).toBeGreaterThan(0);

    // As a Node Readable; a consumer that stops early closes the iterator's fds.
    const fds = () => readdirSync("/proc/self/fd").length;
    const before = fds();
    const piped: Buffer[] = [];
    for await (const chunk of iteratorReadable(program, { chunkSize: 4096 })) piped.push(chunk as Buffer);
    expect(pidsOf(Buffer.concat(piped))).toContain(process.pid);
    for await (const _ of streamIterator(program, { chunkSize: 4 })) break;
    const aborted = new AbortController();
    aborted.abort();
    expect((await readIteratorAll(program, { signal: aborted.signal })).byteLength).toBe(0);
    expect(fds()).toBe(before);
    await expect(readIteratorAll(program, { chunkSize: 0 })).rejects.toThrow(RangeError);
  });

  it("cgroup/connect4 denies a connect from inside a test cgroup only", async () => {
    const cg = testCgroup("connect4");
    try {
      const server = createServer((s) => s.end());
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const port = (server.address() as { port: number }).port;
      using c = Collection.load(spec(), { programs: ["deny_port"], variables: { blocked_port: port } });
      using _link = attachCgroup(c.program("deny_port"), cg.path, AttachType.CGROUP_INET4_CONNECT);
      const inside = spawnSync("sh", ["-c", `echo $$ > ${cg.path}/cgroup.procs && exec ${process.execPath} -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })"`], { encoding: "utf8", timeout: 10_000 });
      expect(inside.stdout.trim()).toBe("EPERM");
      // This process is not in the cgroup: it connects.
      await new Promise<void>((resolve, reject) => connect(port, "127.0.0.1").on("connect", function (this: import("node:net").Socket) { this.destroy(); resolve(); }).on("error", reject));
      expect(hits(c)[3]).toBeGreaterThanOrEqual(1n);
      server.close();
    } finally {
      cg.remove();
    }
  });

  it("an sk_lookup program on a network namespace sees its socket lookups", async () => {
    const { NetNs } = await import("../helpers/kernel.js");
    using ns = NetNs.create();
    using c = Collection.load(spec(), { programs: ["count_lookups"] });
    {
      using _l = attachNetns(c.program("count_lookups"), ns.path);
      // A TCP connection on the namespace's loopback (the program passes every lookup).
      const r = ns.spawn("python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); c=socket.create_connection(s.getsockname()); print('ok')"]);
      expect(r.stdout.trim()).toBe("ok");
    }
    expect(hits(c)[8]).toBeGreaterThanOrEqual(1n);
  });

  it("a socket filter drops everything on its socket, and only there", async () => {
    using c = Collection.load(spec(), { programs: ["drop_all"] });
    const filtered = createSocket("udp4");
    const open = createSocket("udp4");
    await Promise.all([filtered, open].map((s) => new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()))));
    const fd = (filtered as unknown as { _handle: { fd: number } })._handle.fd;
    let got = 0;
    filtered.on("message", () => got++);
    let gotOpen = 0;
    open.on("message", () => gotOpen++);
    {
      using _f = attachSocketFilter(c.program("drop_all"), fd);
      const sender = createSocket("udp4");
      for (let i = 0; i < 5; i++) {
        sender.send("x", filtered.address().port, "127.0.0.1");
        sender.send("x", open.address().port, "127.0.0.1");
      }
      await new Promise((r) => setTimeout(r, 200));
      sender.close();
    }
    expect(got).toBe(0);
    expect(gotOpen).toBe(5);
    expect(hits(c)[4]).toBe(5n);
    filtered.close();
    open.close();
  });

  it("a uprobe fires on a function of a binary the test builds", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-uprobe-"));
    writeFileSync(join(dir, "t.c"), "#include <stdio.h>\n__attribute__((noinline)) int tsebpf_target(int x) { return x * 2; }\nint main(void) { int s = 0; for (int i = 0; i < 3; i++) s += tsebpf_target(i); printf(\"%d\\n\", s); return 0; }\n");
    execFileSync("gcc", ["-O1", "-o", join(dir, "t"), join(dir, "t.c")]);
    const offset = fileOffset(join(dir, "t"), "tsebpf_target");
    using c = Collection.load(spec(), { programs: ["on_uprobe"] });
    {
      using _u = attachUprobe(c.program("on_uprobe"), join(dir, "t"), offset);
      expect(execFileSync(join(dir, "t"), { encoding: "utf8" }).trim()).toBe("6");
    }
    expect(hits(c)[5]).toBe(3n);
  });

  it("kprobes say clearly when the kernel has none", () => {
    using c = Collection.load(spec(), { programs: ["on_uprobe"] });
    const hasKprobes = existsSync("/sys/bus/event_source/devices/kprobe/type");
    if (hasKprobes) {
      // Elsewhere the attach simply works.
      using k = attachKprobe(c.program("on_uprobe"), "do_unlinkat");
      expect(k.description).toBe('program "on_uprobe" on kprobe do_unlinkat');
    } else {
      // This machine's kernel is built without kprobes.
      expect(() => attachKprobe(c.program("on_uprobe"), "do_unlinkat")).toThrow(NotSupportedError);
      expect(() => attachKprobe(c.program("on_uprobe"), "do_unlinkat")).toThrow(/kprobes is not supported here .*CONFIG_KPROBE_EVENTS/);
    }
  });
});

/** File offset of a function symbol in an ELF executable (symbol address through the LOAD segments). */
function fileOffset(path: string, symbol: string): number {
  const nm = execFileSync("nm", [path], { encoding: "utf8" });
  const addr = parseInt(/^([0-9a-f]+) T (\S+)$/m.exec(nm.split("\n").filter((l) => l.endsWith(` ${symbol}`)).join("\n"))?.[1] ?? "0", 16);
  for (const m of execFileSync("readelf", ["-lW", path], { encoding: "utf8" }).matchAll(/LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/g)) {
    const [off, vaddr, size] = [parseInt(m[1] as string, 16), parseInt(m[2] as string, 16), parseInt(m[3] as string, 16)];
    if (addr >= vaddr && addr < vaddr + size) return addr - vaddr + off;
  }
  throw new Error(`${symbol} not found in ${path}`);
}

describeKernel("events from an attached tracepoint", () => {
  it("a loopback TCP connection's state changes arrive through the ring buffer and the perf array, as async iterators", async () => {
    const { RingBufferReader } = await import("../../src/runtime/ringbuf.js");
    const { PerfEventReader } = await import("../../src/runtime/perf-reader.js");
    using c = Collection.load(spec(), { programs: ["state_events"] });
    using ring = new RingBufferReader(c.map("changes"));
    using perf = new PerfEventReader(c.map("changes_perf"));
    using _tp = attachTracepoint(c.program("state_events"), "sock", "inet_sock_set_state");
    const port = await tcpRoundTrip();
    const decode = (v: DataView, o: number) => ({ oldstate: v.getUint32(o, true), newstate: v.getUint32(o + 4, true), sport: v.getUint16(o + 8, true), dport: v.getUint16(o + 10, true) });
    const collect = async (reader: { records(o: { signal: AbortSignal }): AsyncIterable<{ memoryView: DataView; offset: number }> }) => {
      const out: ReturnType<typeof decode>[] = [];
      const stop = new AbortController();
      const timer = setTimeout(() => stop.abort(), 1500);
      for await (const r of reader.records({ signal: stop.signal })) {
        const e = decode(r.memoryView, r.offset);
        // The tracepoint sees every TCP socket of the machine: this connection's are the ones on its port.
        if (e.sport === port || e.dport === port) out.push(e);
        // A full connection ends with both sockets closed.
        if (out.filter((e) => e.newstate === 7 /* TCP_CLOSE */).length >= 2) break;
      }
      clearTimeout(timer);
      return out;
    };
    const fromRing = await collect(ring);
    const fromPerf = await collect(perf);
    for (const events of [fromRing, fromPerf]) {
      expect(events.length).toBeGreaterThanOrEqual(6);
      expect(events.map((e) => e.newstate)).toEqual(expect.arrayContaining([2 /* SYN_SENT */, 1 /* ESTABLISHED */, 7 /* CLOSE */]));
    }
    expect(fromPerf.map((e) => [e.oldstate, e.newstate])).toEqual(fromRing.map((e) => [e.oldstate, e.newstate]));
  });
});
