import { readFileSync, readdirSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import type { CollectionSpec } from "../../src/elf/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { BpfMap } from "../../src/runtime/map.js";
import { EventRecord, RingBufferReader } from "../../src/runtime/ringbuf.js";
import { CodecError, checkedView, type Codec } from "../../src/runtime/codec.js";
import { btfCodec } from "../../src/runtime/btf-codec.js";
import { Btf, marshalBtf } from "../../src/btf/index.js";
import { describeKernel } from "../helpers/kernel.js";

const MODE_OUTPUT = 1;
const MODE_RESERVE = 2;
const PACKET = Buffer.alloc(64);

/** The events fixture loaded, with its globals writable between runs. */
function load(maxEntries?: number) {
  const spec: CollectionSpec = readCollectionSpec(readFileSync("test/fixtures/events.bpfel.o"));
  const coll = Collection.load(spec, { programs: ["emit"], ...(maxEntries ? { maxEntries: { ringbuf: maxEntries } } : {}) });
  const set = (name: string, value: number) => {
    const v = spec.variables.get(name);
    if (!v) throw new Error(`no variable ${name}`);
    const data = coll.map(v.map);
    const key = Buffer.alloc(4);
    const bytes = data.lookup(key) as Buffer;
    if (v.size === 8) bytes.writeBigUInt64LE(BigInt(value), v.offset);
    else bytes.writeUInt32LE(value, v.offset);
    data.update(key, bytes);
  };
  const run = (count: number, mode: number, repeat = 0) => {
    set("count", count);
    set("mode", mode);
    coll.program("emit").testRun({ data: PACKET, repeat });
  };
  const get = (name: string): bigint => {
    const v = spec.variables.get(name) as { map: string; offset: number };
    return (coll.map(v.map).lookup(Buffer.alloc(4)) as Buffer).readBigUInt64LE(v.offset);
  };
  return { coll, spec, set, run, get, [Symbol.dispose]: () => coll.close() };
}

/** The fixture's `struct event`, as its BTF describes it. */
interface Event {
  seq: bigint;
  len: number;
  check: number;
  fill: number[];
}

/**
 * The BTF of the fixture's `struct event` { u64 seq; u32 len; u32 check; u8 fill[48]; }. Not in
 * the object's own BTF: the program only puts it on the stack, and clang records only types that
 * something uses (the codec's error says so) — so, as for such objects, a side BTF.
 */
function eventCodec(): Codec<Event> {
  const btf = new Btf(marshalBtf([
    { kind: "int", name: "unsigned long long", size: 8, signed: false, char: false, bool: false, bitOffset: 0, bits: 64 },
    { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 },
    { kind: "int", name: "unsigned char", size: 1, signed: false, char: false, bool: false, bitOffset: 0, bits: 8 },
    { kind: "array", name: "", type: 3, indexType: 2, nelems: 48 },
    {
      kind: "struct", name: "event", size: 64, bitfields: false,
      members: [
        { name: "seq", type: 1, bitOffset: 0, bitSize: 0 },
        { name: "len", type: 2, bitOffset: 64, bitSize: 0 },
        { name: "check", type: 2, bitOffset: 96, bitSize: 0 },
        { name: "fill", type: 4, bitOffset: 128, bitSize: 0 },
      ],
    },
  ]));
  return btfCodec<Event>(btf, "struct event");
}

/** What the fixture writes for sequence number `seq` in a record of `len` bytes. */
const expected = (seq: number, len: number): Event => ({
  seq: BigInt(seq),
  len,
  check: Math.imul(seq, 2654435761) >>> 0,
  fill: Array.from({ length: 48 }, (_, i) => (seq + i) & 0xff),
});

/** A hand-written codec of the event's first 8 bytes, as a user (or `tsebpf gen`) writes one. */
const seqCodec: Codec<number> = {
  size: 8,
  typeName: "struct seq_only",
  decode: (b, o = 0) => Number(checkedView(b, o, 8, "struct seq_only").getBigUint64(o, true)),
  encode: (v, out, o = 0) => checkedView(out, o, 8, "struct seq_only").setBigUint64(o, BigInt(v), true),
};

/** Checks a record's contents against what the fixture writes for sequence number n. */
function check(r: EventRecord | Uint8Array): { seq: number; len: number } {
  const bytes = r instanceof EventRecord ? r.data : r;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seq = Number(v.getBigUint64(0, true));
  const len = bytes.byteLength;
  expect(len === 64 || len === 8 + (seq % 7) * 8, `record ${seq} is ${len} bytes`).toBe(true);
  if (len >= 16) {
    expect(v.getUint32(8, true)).toBe(len);
    expect(v.getUint32(12, true)).toBe(Math.imul(seq, 2654435761) >>> 0);
  }
  for (let i = 16; i < len; i++) if (bytes[i] !== ((seq + i - 16) & 0xff)) throw new Error(`record ${seq}: byte ${i} is ${bytes[i]}`);
  return { seq, len };
}

const fds = () => readdirSync("/proc/self/fd").length;
/** Mappings of kernel objects (bpf maps, perf events): not the heap, which grows as it likes. */
const mappings = () => readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.includes("anon_inode:")).length;

describeKernel("RingBufferReader", () => {
  it("delivers every record once, in order, through the async iterator; the event loop runs while it waits; an AbortSignal ends the loop", async () => {
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    expect(reader.size).toBe(16384);
    const seen: { seq: number; len: number }[] = [];
    const ac = new AbortController();
    const waitedAt = performance.now();
    let timerLate = -1;
    // The reader is waiting (epoll_wait on a worker thread) while this timer is due.
    setTimeout(() => {
      timerLate = performance.now() - waitedAt - 50;
      p.run(40, MODE_OUTPUT | MODE_RESERVE); // 40 variable-length + 40 reserved records, 1 discarded
    }, 50);
    for await (const r of reader.records({ signal: ac.signal })) {
      seen.push(check(r));
      if (seen.length === 80) setTimeout(() => ac.abort(), 20); // the loop ends while it waits
    }
    expect(timerLate).toBeGreaterThanOrEqual(-2); // it fired (Node's timers may fire up to 1 ms early by performance.now())
    expect(timerLate).toBeLessThan(40);
    // Per sequence number: the variable-length record, then the 64-byte reserved one.
    expect(seen.map((s) => s.seq)).toEqual(Array.from({ length: 40 }, (_, i) => [i, i]).flat());
    expect(seen.filter((s) => s.len === 64).length).toBe(40);
    expect(p.get("dropped")).toBe(0n);
  });

  it("ends a waiting loop at once when aborted or closed, and refuses a second consumer", async () => {
    using p = load();
    const reader = new RingBufferReader(p.coll.map("ringbuf"));
    const ac = new AbortController();
    const loop = (async () => {
      let n = 0;
      for await (const _ of reader.records({ signal: ac.signal })) n++;
      return n;
    })();
    await new Promise((r) => setTimeout(r, 20));
    expect(() => reader.consume(() => {})).not.toThrow();
    await expect(reader.on(() => {})).rejects.toThrow(/one consumer at a time/);
    const t0 = performance.now();
    ac.abort();
    expect(await loop).toBe(0);
    expect(performance.now() - t0).toBeLessThan(100);
    const again = reader.on(() => {});
    await new Promise((r) => setTimeout(r, 20));
    reader.close();
    expect(await again).toBe(0);
    await expect(reader.records().next()).rejects.toThrow(/after close/);
  });

  it("calls back for every record: consume() drains what is there, on() as it arrives", async () => {
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    expect(reader.consume(() => {})).toBe(0);
    p.run(30, MODE_OUTPUT);
    expect(reader.available).toBeGreaterThan(0);
    const seqs: number[] = [];
    expect(reader.consume((r) => seqs.push(check(r).seq))).toBe(30);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(reader.available).toBe(0);
    // A limit leaves the rest for later.
    p.run(10, MODE_OUTPUT);
    expect(reader.consume(() => {}, 4)).toBe(4);
    expect(reader.consume(() => {})).toBe(6);

    const ac = new AbortController();
    const got: number[] = [];
    const done = reader.on(
      (r) => {
        got.push(check(r).seq);
        if (got.length === 200) ac.abort();
      },
      { signal: ac.signal },
    );
    for (let round = 0; round < 4; round++) {
      await new Promise((r) => setTimeout(r, 5));
      p.run(50, MODE_OUTPUT);
    }
    expect(await done).toBe(200);
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => 40 + i));
    // A callback that throws stops the drain; its record counts as read.
    p.run(3, MODE_OUTPUT);
    expect(() => reader.consume(() => {
      throw new Error("boom");
    })).toThrow("boom");
    expect(reader.consume(() => {})).toBe(2);
  });

  it("reads records intact across many wraps of the ring (zero-copy and copied)", async () => {
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    const seqs: number[] = [];
    let bytes = 0;
    for (let round = 0; round < 60; round++) {
      p.run(100, MODE_OUTPUT | MODE_RESERVE); // ~11 KiB of a 16 KiB ring per round
      reader.consume((r) => {
        const { seq, len } = check(r);
        seqs.push(seq);
        bytes += (len + 15) & ~7;
      });
    }
    expect(seqs).toEqual(Array.from({ length: 6000 }, (_, i) => [i, i]).flat());
    expect(bytes / reader.size).toBeGreaterThan(40); // wrapped 40+ times

    // Copies stay valid after the ring has moved on.
    p.run(60, MODE_OUTPUT);
    const ac = new AbortController();
    const kept: EventRecord[] = [];
    for await (const r of reader.records({ signal: ac.signal, copy: true })) {
      kept.push(r);
      if (kept.length === 60) ac.abort();
    }
    p.run(100, MODE_OUTPUT | MODE_RESERVE);
    reader.consume(() => {});
    expect(kept.map((r) => check(r).seq)).toEqual(Array.from({ length: 60 }, (_, i) => 6000 + i));
    expect(p.get("dropped")).toBe(0n);
  });

  it("reads a ring as large as 64 MiB produced in batches with repeat", () => {
    using p = load(64 << 20);
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    p.run(100, 8 /* MODE_FIXED */, 5000); // 500,000 records of 64 bytes: 36 MB
    let n = 0;
    let ok = true;
    const got = reader.consume((r) => {
      ok &&= r.length === 64 && Number(r.memoryView.getBigUint64(r.offset, true)) === n;
      n++;
    });
    expect(got).toBe(500_000);
    expect(ok).toBe(true);
    expect(p.get("dropped")).toBe(0n);
  });

  it("drain: every record once, in order, as (data area view, offset, length); discarded records skipped; limit; a throwing callback's record counts; close in a callback ends it", () => {
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    expect(reader.drain(() => {})).toBe(0);
    p.run(40, MODE_OUTPUT | MODE_RESERVE); // one discarded record first, then 80
    const seen: { seq: number; len: number }[] = [];
    expect(reader.drain((view, offset, length) => {
      expect(view).toBe(reader.view);
      expect(view.byteLength).toBe(2 * reader.size);
      seen.push(check(reader.bytes.subarray(offset, offset + length)));
    })).toBe(80);
    expect(seen.map((s) => s.seq)).toEqual(Array.from({ length: 40 }, (_, i) => [i, i]).flat());
    expect(reader.available).toBe(0);
    // A limit leaves the rest for later (and for `consume`: the same position).
    p.run(10, MODE_OUTPUT);
    const firsts: number[] = [];
    const first = (view: DataView, offset: number) => void firsts.push(Number(view.getBigUint64(offset, true)));
    expect(reader.drain(first, 3)).toBe(3);
    expect(reader.consume((r) => void firsts.push(check(r).seq), 3)).toBe(3);
    expect(reader.drain(first)).toBe(4);
    expect(firsts).toEqual(Array.from({ length: 10 }, (_, i) => 40 + i));
    // A callback that throws stops the drain; its record counts as read.
    p.run(3, MODE_OUTPUT);
    expect(() => reader.drain(() => {
      throw new Error("boom");
    })).toThrow("boom");
    expect(reader.drain(first)).toBe(2);
    expect(firsts.slice(-2)).toEqual([51, 52]);
    // Closing the reader from a callback ends the drain there (the memory is unmapped).
    const other = new RingBufferReader(p.coll.map("ringbuf"));
    p.run(5, MODE_OUTPUT);
    expect(other.drain(() => other.close())).toBe(1);
    expect(other.drain(() => {})).toBe(0);
    expect(other.available).toBe(0);
    // Its memory is gone, so it wrote nothing back: another consumer reads all five.
    expect(reader.drain(() => {})).toBe(5);
  });

  it("drain writes the consumer position back while it reads (at least every quarter ring) and at the end", () => {
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    using watcher = new RingBufferReader(p.coll.map("ringbuf")); // reads the position from the ring
    p.run(350, MODE_OUTPUT); // ~14 KiB of the 16 KiB ring, no discarded record
    const start = watcher.available;
    expect(start).toBeGreaterThan(reader.size * 0.8);
    let read = 0;
    let lagMax = 0;
    reader.drain((_view, _offset, length) => {
      const released = start - watcher.available;
      expect(released).toBeLessThanOrEqual(read); // never a record not yet read
      lagMax = Math.max(lagMax, read - released);
      read += (length + 8 + 7) & ~7;
    });
    expect(lagMax).toBeGreaterThan(0); // batched, not per record
    expect(lagMax).toBeLessThanOrEqual(reader.size / 4 + 72);
    expect(watcher.available).toBe(0);
    expect(p.get("dropped")).toBe(0n);
  });

  it("drain allocates nothing per record: 500,000 records with no garbage collection and a flat heap", async () => {
    using p = load(64 << 20);
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    let sum = 0;
    const onRecord = (view: DataView, offset: number, length: number) => {
      sum = (sum + view.getUint32(offset, true) + length) | 0;
    };
    // Warm up (the loop optimized), then measure.
    for (let i = 0; i < 3; i++) {
      p.run(100, 8 /* MODE_FIXED */, 500);
      reader.drain(onRecord);
    }
    p.run(100, 8 /* MODE_FIXED */, 5000);
    const gcs: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcs.push(e.startTime, e.startTime + e.duration);
    });
    observer.observe({ entryTypes: ["gc"] });
    const heap = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const n = reader.drain(onRecord);
    const t1 = performance.now();
    const grown = process.memoryUsage().heapUsed - heap;
    await new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
    observer.disconnect();
    expect(n).toBe(500_000);
    expect(sum).not.toBe(0);
    // 500,000 allocations of even 16 bytes would be 8 MB: a scavenge, or that much more heap.
    const during = gcs.filter((t) => t >= t0 && t <= t1);
    expect(during).toEqual([]);
    expect(grown).toBeLessThan(1 << 20);
  });

  it("typed records: the iterator, consume and on decode each record through a codec (btfCodec of the object's struct event) in place", async () => {
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    expect(() => btfCodec(p.spec.btf as Btf, "struct event")).toThrow(/no type "struct event" in the BTF: clang records only types that something uses/);
    const codec = eventCodec();
    expect([codec.size, codec.typeName]).toEqual([64, "struct event"]);
    // The iterator: 30 reserved 64-byte records (and one discarded, skipped).
    const ac = new AbortController();
    setTimeout(() => p.run(30, MODE_RESERVE), 20);
    const events: Event[] = [];
    for await (const e of reader.records({ codec, signal: ac.signal })) {
      events.push(e);
      if (events.length === 30) setTimeout(() => ac.abort(), 10);
    }
    expect(events).toEqual(Array.from({ length: 30 }, (_, i) => expected(i, 64)));
    // consume, with the record beside the value, and a limit.
    p.run(10, 8 /* MODE_FIXED */);
    const got: [Event, number][] = [];
    expect(reader.consume((e, r) => got.push([e, r.length]), { codec, limit: 4 })).toBe(4);
    expect(reader.consume((e, r) => got.push([e, r.length]), { codec })).toBe(6);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => [expected(30 + i, 64), 64]));
    // on, as records arrive; values are decoded copies that outlive the ring's reuse.
    const ac2 = new AbortController();
    const seen: Event[] = [];
    const done = reader.on((e) => {
      seen.push(e);
      if (seen.length === 300) ac2.abort();
    }, { codec, signal: ac2.signal });
    for (let round = 0; round < 6; round++) {
      await new Promise((r) => setTimeout(r, 5));
      p.run(50, 8 /* MODE_FIXED */);
    }
    expect(await done).toBe(300);
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => expected(40 + i, 64)));
    // A codec smaller than the records reads their start: variable-length records (8..56 bytes).
    p.run(20, MODE_OUTPUT);
    const seqs: number[] = [];
    expect(reader.consume((seq, r) => {
      seqs.push(seq);
      expect(r.length).toBe(8 + (seq % 7) * 8);
    }, { codec: seqCodec })).toBe(20);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => 340 + i));
    expect(p.get("dropped")).toBe(0n);
  });

  it("typed records: a record shorter than the codec is a CodecError naming the type and sizes (not garbage); it counts as read", async () => {
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    const codec = eventCodec();
    p.run(3, MODE_OUTPUT); // seq 0..2: 8, 16, 24 bytes
    const error = (() => {
      try {
        reader.consume(() => {}, { codec });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(CodecError);
    expect(error?.message).toBe('struct event: record of 8 bytes from ring buffer "ringbuf", needs 64');
    // The short record was read; the next ones are still there.
    expect(reader.consume((seq) => expect(seq).toBeGreaterThan(0), { codec: seqCodec })).toBe(2);
    // The iterator ends with the error, and the reader can be read again.
    p.run(2, MODE_OUTPUT | MODE_RESERVE); // seq 3: 32 bytes, then 64
    const loop = async () => {
      for await (const e of reader.records({ codec })) void e;
    };
    await expect(loop()).rejects.toThrow('struct event: record of 32 bytes from ring buffer "ringbuf", needs 64');
    const rest: Event[] = [];
    expect(reader.consume((e) => rest.push(e), { codec, limit: 1 })).toBe(1);
    expect(rest).toEqual([expected(3, 64)]);
    // on: rejects with it.
    await expect(reader.on(() => {}, { codec })).rejects.toThrow(/struct event: record of 40 bytes/);
  });

  it("refuses other map types and leaves no fd or mapping behind after close", async () => {
    using hash = BpfMap.create({ name: "t_hash", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(() => new RingBufferReader(hash)).toThrow(/not a ring buffer map \(HASH\)$/);
    using p = load();
    const map = p.coll.map("ringbuf");
    const before = [fds(), mappings()];
    for (let i = 0; i < 20; i++) {
      const reader = new RingBufferReader(map);
      expect(mappings()).toBe(before[1] as number + 2);
      p.run(5, MODE_OUTPUT);
      expect(reader.consume(() => {})).toBe(5);
      const loop = reader.on(() => {});
      await new Promise((r) => setTimeout(r, 2));
      reader.close();
      reader.close();
      expect(await loop).toBe(0);
    }
    expect([fds(), mappings()]).toEqual(before);
  });
});
