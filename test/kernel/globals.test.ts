/**
 * Globals after load on the real kernel: `.bss`/`.data` mapped (BPF_F_MMAPABLE), a program's
 * writes seen through `coll.variable()` with no bpf(2) call (counted at the syscall seam), `set()`
 * changing what the program reads, map.memory() on an array; attachAll owning its links.
 */
import { readFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { afterEach, expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { UseAfterCloseError } from "../../src/errors.js";
import { UnattachableError } from "../../src/runtime/auto-attach.js";
import { Collection } from "../../src/runtime/collection.js";
import { Link } from "../../src/runtime/link.js";
import { BPF_F_MMAPABLE, BpfMap } from "../../src/runtime/map.js";
import { ReadOnlyVariableError } from "../../src/runtime/variable.js";
import { countingKernel } from "../helpers/counting-kernel.js";
import { describeKernel } from "../helpers/kernel.js";

/** Mappings of BPF maps in this process. */
const bpfMappings = () => readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.includes("bpf-map")).length;

const spec = (name: string) => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

describeKernel("global variables after load", () => {
  it("a program's increments of a .bss counter are seen through the mapped view with no bpf(2) call; set() changes what it reads", () => {
    const counting = countingKernel();
    restore = counting.restore;
    using c = Collection.load(spec("globals"));
    expect(c.map(".bss").info().flags & BPF_F_MMAPABLE).toBe(BPF_F_MMAPABLE);
    expect(c.map(".data").info().flags & BPF_F_MMAPABLE).toBe(BPF_F_MMAPABLE);
    expect(c.map(".rodata").info().flags & BPF_F_MMAPABLE).toBe(0);
    const hits = c.variable<number[]>("hits");
    const counter = c.variable<bigint>("counter");
    expect(hits.mapped).toBe(true);
    expect(counter.get()).toBe(42n);
    expect(hits.get()).toEqual([0, 0, 0, 0]);
    const program = c.program("globals");
    // counter (42) > threshold (7): every run counts in hits[cfg.mode & 3] = hits[1].
    expect(program.testRun({ data: Buffer.alloc(64), repeat: 10 }).returnValue).toBe(2 /* XDP_PASS */);
    const before = counting.calls();
    expect(hits.get()).toEqual([0, 10, 0, 0]);
    for (let i = 0; i < 100; i++) hits.get();
    counter.set(0n); // no longer above the threshold
    expect(counter.get()).toBe(0n);
    expect(counting.calls()).toBe(before);
    program.testRun({ data: Buffer.alloc(64), repeat: 5 });
    expect(hits.get()).toEqual([0, 10, 0, 0]);
    counter.set(1000n);
    hits.set([0, 0, 0, 0]);
    program.testRun({ data: Buffer.alloc(64), repeat: 3 });
    expect(hits.get()).toEqual([0, 3, 0, 0]);
    // zeroed += custom_data + banner[0] + file_local, 8 runs in all since it was 0.
    expect(c.variable("zeroed").get()).toBe(BigInt(18 * (0xabcd + "t".charCodeAt(0) + 3)));
    // The map agrees through the syscall path.
    const bss = c.map(".bss").lookup(Buffer.alloc(4)) as Buffer;
    expect(bss.readUInt32LE(hits.offset + 4)).toBe(3);
  });

  it(".rodata: read from the frozen map, ReadOnlyVariableError on set; .data.custom and .rodata.custom typed", () => {
    using c = Collection.load(spec("globals"), { variables: { threshold: 9 } });
    expect(c.variable("threshold").get()).toBe(9);
    expect(() => c.variable("threshold").set(1)).toThrow(ReadOnlyVariableError);
    expect(c.variable("cfg").get()).toEqual({ port: 80, mode: 1, pad: [0, 0, 0], limit: 1000n });
    expect(c.variable("banner").get()).toBe("tsebpf");
    expect(c.variable("custom_data").get()).toBe(0xabcd);
    expect(c.variable("custom_data").mapped).toBe(true);
  });

  it("after close: UseAfterCloseError from the accessors; a view kept past close reads zeros instead of crashing; the map is released", async () => {
    const c = Collection.load(spec("globals"));
    const counter = c.variable("counter");
    const memory = c.map(".data").memory();
    expect(memory.bytes.readBigUInt64LE(counter.offset)).toBe(42n);
    const id = c.map(".data").info().id;
    const mapped = bpfMappings();
    expect(mapped).toBeGreaterThan(0);
    c.close();
    expect(bpfMappings()).toBe(mapped - 1);
    expect(() => counter.get()).toThrow(UseAfterCloseError);
    expect(() => memory.element(0)).toThrow(UseAfterCloseError);
    expect(memory.bytes.readBigUInt64LE(counter.offset)).toBe(0n);
    memory.bytes[0] = 1; // private zeroed memory now: harmless
    // The mapping held a reference on the map: released, the map goes (once its programs, freed after an RCU grace period, let go).
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        BpfMap.fromId(id).close();
      } catch (e) {
        expect(String(e)).toMatch(/ENOENT/);
        break;
      }
      if (Date.now() > deadline) throw new Error(`map id ${id} still exists 5 s after close`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

describeKernel("map.memory()", () => {
  it("an mmapable array: lookups and updates through memory, no system call, the same bytes as the syscalls", () => {
    using m = BpfMap.create({ name: "mm", type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1000, flags: BPF_F_MMAPABLE });
    const mem = m.memory();
    expect(mem.bytes.byteLength).toBe(8000);
    const key = Buffer.alloc(4);
    key.writeUInt32LE(999);
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(0x1122334455667788n);
    m.update(key, value);
    expect(mem.view.getBigUint64(999 * 8, true)).toBe(0x1122334455667788n);
    mem.element(3).writeBigUInt64LE(77n);
    key.writeUInt32LE(3);
    expect(m.lookup(key)?.readBigUInt64LE(0)).toBe(77n);
    expect(() => m.freeze()).toThrow(/cannot freeze/);
  });
});

/** One loopback TCP connection, to fire sock:inet_sock_set_state. */
async function tcpRoundTrip(): Promise<void> {
  const server = createServer((s) => s.end("x"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve, reject) => {
    const c = connect(port, "127.0.0.1");
    c.on("data", () => c.end());
    c.on("close", () => resolve());
    c.on("error", reject);
  });
  await new Promise<void>((r) => server.close(() => r()));
}

describeKernel("attachAll", () => {
  it("owns every link: programs count through the mapped view, one close (the collection's) detaches them", async () => {
    const c = Collection.load(spec("attach"), { programs: ["on_tracepoint", "on_raw_tp", "on_tp_btf", "each_task", "drop_all"] });
    try {
      expect(() => c.attachAll()).toThrow(UnattachableError);
      expect(() => c.attachAll()).toThrow(/each_task \(iterators are read, not attached.*\); drop_all \(socket_filter programs/);
      const links = c.attachAll({ skipUnattachable: true });
      expect(links.programs().sort()).toEqual(["on_raw_tp", "on_tp_btf", "on_tracepoint"]);
      expect(links.skipped.map((s) => s.program)).toEqual(["each_task", "drop_all"]);
      expect(links.get("on_raw_tp").description).toMatch(/inet_sock_set_state/);
      const raw = links.get("on_raw_tp") as Link;
      const linkId = raw.info().id;
      const hits = c.variable<bigint[]>("hits");
      expect(hits.mapped).toBe(true);
      await tcpRoundTrip();
      const h = hits.get();
      expect(h[0]).toBeGreaterThanOrEqual(4n);
      expect(h[1]).toBe(h[0]);
      expect(h[2]).toBe(h[0]);
      c.close();
      expect(links.closed).toBe(true);
      expect(() => Link.fromId(linkId)).toThrow(/ENOENT/);
    } finally {
      c.close();
    }
  });

  it("closing the attachments detaches, and leaves the collection usable", async () => {
    using c = Collection.load(spec("attach"), { programs: ["on_tracepoint"] });
    {
      using _links = c.attachAll();
      await tcpRoundTrip();
    }
    const hits = c.variable<bigint[]>("hits");
    const before = hits.get()[0] as bigint;
    expect(before).toBeGreaterThan(0n);
    await tcpRoundTrip();
    expect(hits.get()[0]).toBe(before);
  });
});
