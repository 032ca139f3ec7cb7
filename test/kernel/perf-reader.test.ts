import { readFileSync, readdirSync } from "node:fs";
import { expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { BpfMap } from "../../src/runtime/map.js";
import { EventRecord, PerfEventReader, parseCpuList } from "../../src/runtime/ringbuf.js";
import { describeKernel } from "../helpers/kernel.js";
import { Btf, marshalBtf } from "../../src/btf/index.js";
import { CodecError, u64 } from "../../src/runtime/codec.js";
import { btfCodec } from "../../src/runtime/btf-codec.js";

/** The first 16 bytes of the fixture's event: struct head { u64 seq; u32 len; u32 check; } (a side BTF). */
interface Head {
  seq: bigint;
  len: number;
  check: number;
}
const headCodec = () =>
  btfCodec<Head>(new Btf(marshalBtf([
    { kind: "int", name: "unsigned long long", size: 8, signed: false, char: false, bool: false, bitOffset: 0, bits: 64 },
    { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 },
    {
      kind: "struct", name: "head", size: 16, bitfields: false,
      members: [{ name: "seq", type: 1, bitOffset: 0, bitSize: 0 }, { name: "len", type: 2, bitOffset: 64, bitSize: 0 }, { name: "check", type: 2, bitOffset: 96, bitSize: 0 }],
    },
  ])), "struct head");
const head = (seq: number): Head => ({ seq: BigInt(seq), len: 8 + (seq % 7) * 8, check: Math.imul(seq, 2654435761) >>> 0 });

const MODE_PERF = 4;
const PACKET = Buffer.alloc(64);

function load() {
  const spec = readCollectionSpec(readFileSync("test/fixtures/events.bpfel.o"));
  const coll = Collection.load(spec, { programs: ["emit"] });
  const variable = (name: string) => {
    const v = spec.variables.get(name);
    if (!v) throw new Error(`no variable ${name}`);
    return v;
  };
  const set = (name: string, value: number) => {
    const v = variable(name);
    const data = coll.map(v.map);
    const bytes = data.lookup(Buffer.alloc(4)) as Buffer;
    if (v.size === 8) bytes.writeBigUInt64LE(BigInt(value), v.offset);
    else bytes.writeUInt32LE(value, v.offset);
    data.update(Buffer.alloc(4), bytes);
  };
  const run = (count: number) => {
    set("count", count);
    set("mode", MODE_PERF);
    coll.program("emit").testRun({ data: PACKET });
  };
  const get = (name: string): bigint => {
    const v = variable(name);
    return (coll.map(v.map).lookup(Buffer.alloc(4)) as Buffer).readBigUInt64LE(v.offset);
  };
  return { coll, run, get, [Symbol.dispose]: () => coll.close() };
}

/**
 * Checks a sample against what the fixture writes for its sequence number: `len` bytes, which
 * perf pads with 4 zero bytes (u32 size + data is a multiple of 8).
 */
function check(r: EventRecord): number {
  const bytes = r.data;
  const v = r.view;
  const seq = Number(v.getBigUint64(0, true));
  const len = 8 + (seq % 7) * 8;
  expect(bytes.byteLength, `sample ${seq}`).toBe(len + 4);
  expect(r.cpu).toBeGreaterThanOrEqual(0);
  if (len >= 16) {
    expect(v.getUint32(8, true)).toBe(len);
    expect(v.getUint32(12, true)).toBe(Math.imul(seq, 2654435761) >>> 0);
  }
  for (let i = 16; i < len; i++) if (bytes[i] !== ((seq + i - 16) & 0xff)) throw new Error(`sample ${seq}: byte ${i} is ${bytes[i]}`);
  return seq;
}

const fds = () => readdirSync("/proc/self/fd").length;
/** Mappings of kernel objects (bpf maps, perf events): not the heap, which grows as it likes. */
const mappings = () => readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.includes("anon_inode:")).length;

describeKernel("PerfEventReader", () => {
  it("parses CPU lists", () => {
    expect(parseCpuList("0-3,6,8-9\n")).toEqual([0, 1, 2, 3, 6, 8, 9]);
    expect(parseCpuList("0")).toEqual([0]);
  });

  it("delivers every sample once through the async iterator, with the event loop running while it waits; an AbortSignal ends the loop", async () => {
    using p = load();
    using reader = new PerfEventReader(p.coll.map("perf"));
    expect(reader.cpus.length).toBeGreaterThan(0);
    const ac = new AbortController();
    const start = performance.now();
    let late = Number.NaN;
    setTimeout(() => {
      late = performance.now() - start - 50;
      p.run(100);
    }, 50);
    const seqs: number[] = [];
    for await (const r of reader.records({ signal: ac.signal })) {
      seqs.push(check(r));
      if (seqs.length === 100) setTimeout(() => ac.abort(), 20);
    }
    // The timer ran (late is a number) and on time: Node may fire a timer up to a millisecond early.
    expect(late).toBeGreaterThanOrEqual(-2);
    expect(late).toBeLessThan(40);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(reader.lost).toBe(0);
  });

  it("calls back for every sample: consume() drains what is there, on() as it arrives", async () => {
    using p = load();
    using reader = new PerfEventReader(p.coll.map("perf"), { pages: 4, wakeupEvents: 8 });
    p.run(20);
    const seqs: number[] = [];
    expect(reader.consume((r) => seqs.push(check(r)))).toBe(20);
    const ac = new AbortController();
    const done = reader.on(
      (r) => {
        seqs.push(check(r));
        if (seqs.length === 220) ac.abort();
      },
      { signal: ac.signal },
    );
    for (let round = 0; round < 4; round++) {
      await new Promise((r) => setTimeout(r, 5));
      p.run(50);
    }
    expect(await done).toBe(200);
    expect(seqs).toEqual(Array.from({ length: 220 }, (_, i) => i));
  });

  it("reads samples intact across many wraps of a one-page ring, stitching those that run past its end", async () => {
    using p = load();
    using reader = new PerfEventReader(p.coll.map("perf"), { pages: 1, watermark: 2048 });
    const seqs: number[] = [];
    for (let round = 0; round < 150; round++) {
      p.run(40); // ~1.9 KiB of samples per round
      reader.consume((r) => seqs.push(check(r)));
    }
    expect(seqs).toEqual(Array.from({ length: 6000 }, (_, i) => i));
    expect(reader.lost).toBe(0);
    expect(p.get("dropped")).toBe(0n);
  });

  it("counts the samples a full ring loses", () => {
    using p = load();
    using reader = new PerfEventReader(p.coll.map("perf"), { pages: 1 });
    p.run(1000); // far more than 4 KiB
    let samples = reader.consume((r) => void check(r));
    expect(samples).toBeLessThan(1000);
    // The kernel reports the loss once there is room again, before the next sample.
    p.run(1);
    samples += reader.consume((r) => void check(r));
    expect(reader.lost).toBeGreaterThan(0);
    expect(samples + reader.lost).toBe(1001);
    expect(BigInt(reader.lost)).toBe(p.get("dropped"));
    expect([...reader.lostByCpu().values()].reduce((a, b) => a + b, 0)).toBe(reader.lost);
  });

  it("typed samples: the iterator, consume and on decode each sample through a codec; a sample shorter than the codec is a CodecError naming it", async () => {
    using p = load();
    using reader = new PerfEventReader(p.coll.map("perf"));
    // Every sample holds at least the u64 sequence number.
    const ac = new AbortController();
    setTimeout(() => p.run(50), 20);
    const seqs: bigint[] = [];
    for await (const seq of reader.records({ codec: u64, signal: ac.signal })) {
      seqs.push(seq);
      if (seqs.length === 50) setTimeout(() => ac.abort(), 10);
    }
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i)));
    // Sample 49 was the last; 50 (seq % 7 == 1) onwards: 16+ bytes, but 56 is 8 bytes + 4 of padding.
    const codec = headCodec();
    p.run(6);
    const heads: Head[] = [];
    expect(reader.consume((h, r) => {
      heads.push(h);
      expect(r.cpu).toBeGreaterThanOrEqual(0);
      expect(r.length).toBe(h.len + 4);
    }, { codec })).toBe(6);
    expect(heads).toEqual(Array.from({ length: 6 }, (_, i) => head(50 + i)));
    p.run(2);
    expect(() => reader.consume(() => {}, { codec })).toThrow(new CodecError('struct head: record of 12 bytes from perf event array "perf", needs 16'));
    const next: Head[] = [];
    expect(reader.consume((h) => next.push(h), { codec })).toBe(1); // the short one counted as read
    expect(next).toEqual([head(57)]);
    // on, as samples arrive.
    const ac2 = new AbortController();
    const got: Head[] = [];
    const done = reader.on((h) => {
      got.push(h);
      if (got.length === 12) ac2.abort();
    }, { codec, signal: ac2.signal });
    const failed = done.then(() => undefined, (e: unknown) => e as Error);
    await new Promise((r) => setTimeout(r, 5));
    p.run(6); // 58..63: 63 is a multiple of 7, 12 bytes
    expect((await failed)?.message).toBe('struct head: record of 12 bytes from perf event array "perf", needs 16');
    expect(got).toEqual(Array.from({ length: 5 }, (_, i) => head(58 + i)));
    expect(reader.lost).toBe(0);
  });

  it("typed samples keep lost-sample counts", () => {
    using p = load();
    using reader = new PerfEventReader(p.coll.map("perf"), { pages: 1 });
    p.run(1000);
    let samples = reader.consume(() => {}, { codec: u64 });
    p.run(1);
    const seqs: bigint[] = [];
    samples += reader.consume((seq) => seqs.push(seq), { codec: u64 });
    expect(seqs).toEqual([1000n]);
    expect(reader.lost).toBeGreaterThan(0);
    expect(samples + reader.lost).toBe(1001);
    expect(BigInt(reader.lost)).toBe(p.get("dropped"));
  });

  it("refuses other map types and bad page counts; close leaves no fd, mapping or map entry behind", async () => {
    using hash = BpfMap.create({ name: "t_hash", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(() => new PerfEventReader(hash)).toThrow(/not a perf event array \(HASH\)$/);
    using p = load();
    const map = p.coll.map("perf");
    expect(() => new PerfEventReader(map, { pages: 3 })).toThrow(/power of two/);
    const before = [fds(), mappings()];
    for (let i = 0; i < 10; i++) {
      const reader = new PerfEventReader(map);
      p.run(5);
      expect(reader.consume(() => {})).toBe(5);
      const loop = reader.on(() => {});
      await new Promise((r) => setTimeout(r, 5));
      reader.close();
      expect(await loop).toBe(0);
    }
    await new Promise((r) => setTimeout(r, 10));
    expect([fds(), mappings()]).toEqual(before);
    // The map's entries went with the readers: the program finds no event to write to.
    const dropped = p.get("dropped");
    p.run(5);
    expect(p.get("dropped")).toBe(dropped + 5n);
  });
});
