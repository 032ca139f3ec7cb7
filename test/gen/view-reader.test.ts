/**
 * Event readers through generated views (`{ view: EventView }`): the events fixture's records
 * (ring buffer and perf array) read by consume, on and the iterator through one re-pointed view,
 * field by field as the codec decodes them; records too short for the view are CodecErrors.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { Btf, marshalBtf } from "../../src/btf/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { generateTypes } from "../../src/gen/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { CodecError } from "../../src/runtime/codec.js";
import { PerfEventReader, RingBufferReader, type EventRecord } from "../../src/runtime/ringbuf.js";
import { describeKernel } from "../helpers/kernel.js";
import { importGenerated, SRC_INDEX } from "./generated.js";

const MODE_OUTPUT = 1;
const MODE_RESERVE = 2;
const MODE_PERF = 4;
const MODE_FIXED = 8;

/** The fixture's struct event { u64 seq; u32 len; u32 check; u8 fill[48]; } and struct head (its first 16 bytes): side BTF. */
function eventBtf(): Btf {
  const u64 = { kind: "int", name: "unsigned long long", size: 8, signed: false, char: false, bool: false, bitOffset: 0, bits: 64 } as const;
  const u32 = { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 } as const;
  const u8 = { kind: "int", name: "unsigned char", size: 1, signed: false, char: false, bool: false, bitOffset: 0, bits: 8 } as const;
  const head = [
    { name: "seq", type: 1, bitOffset: 0, bitSize: 0 },
    { name: "len", type: 2, bitOffset: 64, bitSize: 0 },
    { name: "check", type: 2, bitOffset: 96, bitSize: 0 },
  ];
  return new Btf(marshalBtf([
    u64,
    u32,
    u8,
    { kind: "array", name: "", type: 3, indexType: 2, nelems: 48 },
    { kind: "struct", name: "event", size: 64, bitfields: false, members: [...head, { name: "fill", type: 4, bitOffset: 128, bitSize: 0 }] },
    { kind: "struct", name: "head", size: 16, bitfields: false, members: head },
  ]));
}

interface EventView {
  readonly seq: bigint;
  readonly len: number;
  readonly check: number;
  readonly fill: Uint8Array;
  at(buf: Uint8Array | DataView, offset?: number): this;
  toObject(): { seq: bigint; len: number; check: number; fill: Uint8Array };
}
interface HeadView {
  readonly seq: bigint;
  readonly len: number;
  readonly check: number;
  at(buf: Uint8Array | DataView, offset?: number): this;
  toObject(): { seq: bigint; len: number; check: number };
}
interface ViewClass<V> {
  new (): V;
  readonly size: number;
  readonly typeName: string;
}
interface Bindings {
  EventView: ViewClass<EventView>;
  HeadView: ViewClass<HeadView>;
}

const event = (seq: number, len = 64) => ({
  seq: BigInt(seq),
  len,
  check: Math.imul(seq, 2654435761) >>> 0,
  fill: Uint8Array.from({ length: 48 }, (_, i) => (seq + i) & 0xff),
});

function load() {
  const spec = readCollectionSpec(readFileSync("test/fixtures/events.bpfel.o"));
  const coll = Collection.load(spec, { programs: ["emit"] });
  const set = (name: string, value: number) => {
    const v = spec.variables.get(name) as { map: string; offset: number; size: number };
    const data = coll.map(v.map);
    const bytes = data.lookup(Buffer.alloc(4)) as Buffer;
    bytes.writeUInt32LE(value, v.offset);
    data.update(Buffer.alloc(4), bytes);
  };
  const run = (count: number, mode: number) => {
    set("count", count);
    set("mode", mode);
    coll.program("emit").testRun({ data: Buffer.alloc(64) });
  };
  return { coll, run, [Symbol.dispose]: () => coll.close() };
}

describeKernel("event readers through generated views", () => {
  it("ring buffer: consume, on and the iterator read each record through one re-pointed view, as the codec decodes it", async () => {
    const { EventView } = await importGenerated<Bindings>(generateTypes(eventBtf(), ["struct event", "struct head"], { importFrom: SRC_INDEX }));
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    // consume, with a limit; the view is one instance.
    p.run(10, MODE_FIXED);
    const views = new Set<EventView>();
    const got: unknown[] = [];
    const onView = (e: EventView, r: EventRecord) => {
      views.add(e);
      expect(r.length).toBe(64);
      got.push({ seq: e.seq, len: e.len, check: e.check, fill: e.fill });
      expect(e.toObject()).toEqual(got.at(-1));
    };
    expect(reader.consume(onView, { view: EventView, limit: 4 })).toBe(4);
    expect(reader.consume(onView, { view: EventView })).toBe(6);
    expect(views.size).toBe(2); // one per consume call
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => event(i)));
    // The iterator: the record stays unreleased while the loop body runs.
    const ac = new AbortController();
    setTimeout(() => p.run(30, MODE_RESERVE), 20);
    const seen: unknown[] = [];
    for await (const e of reader.records({ view: EventView, signal: ac.signal })) {
      seen.push(e.toObject());
      if (seen.length === 30) setTimeout(() => ac.abort(), 10);
    }
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => event(10 + i)));
    // on.
    const ac2 = new AbortController();
    const onSeen: bigint[] = [];
    const done = reader.on((e) => {
      onSeen.push(e.seq);
      if (onSeen.length === 100) ac2.abort();
    }, { view: EventView, signal: ac2.signal });
    for (let round = 0; round < 4; round++) {
      await new Promise((r) => setTimeout(r, 5));
      p.run(25, MODE_FIXED);
    }
    expect(await done).toBe(100);
    expect(onSeen).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(40 + i)));
  });

  it("a record shorter than the view is a CodecError naming the type and sizes; it counts as read", async () => {
    const { EventView, HeadView } = await importGenerated<Bindings>(generateTypes(eventBtf(), ["struct event", "struct head"], { importFrom: SRC_INDEX }));
    using p = load();
    using reader = new RingBufferReader(p.coll.map("ringbuf"));
    p.run(3, MODE_OUTPUT); // seq 0..2: 8, 16, 24 bytes
    expect(() => reader.consume(() => {}, { view: EventView })).toThrow(new CodecError('struct event: record of 8 bytes from ring buffer "ringbuf", needs 64'));
    const heads: unknown[] = [];
    expect(reader.consume((h) => heads.push(h.toObject()), { view: HeadView })).toBe(2);
    expect(heads).toEqual([1, 2].map((seq) => ({ seq: BigInt(seq), len: 8 + seq * 8, check: Math.imul(seq, 2654435761) >>> 0 })));
    p.run(1, MODE_OUTPUT); // seq 3: 32 bytes
    const loop = async () => {
      for await (const e of reader.records({ view: EventView })) void e;
    };
    await expect(loop()).rejects.toThrow('struct event: record of 32 bytes from ring buffer "ringbuf", needs 64');
    expect(() => reader.consume(() => {}, { view: {} as never })).toThrow(TypeError);
  });

  it("perf event array: consume and the iterator through a view", async () => {
    const { HeadView } = await importGenerated<Bindings>(generateTypes(eventBtf(), ["struct head"], { importFrom: SRC_INDEX }));
    using p = load();
    using reader = new PerfEventReader(p.coll.map("perf"));
    p.run(20, MODE_PERF); // 8..56 bytes: seq 0 and 7 are shorter than a head
    const heads: unknown[] = [];
    let short = 0;
    for (;;) {
      try {
        reader.consume((h, r) => {
          heads.push(h.toObject());
          expect(r.length).toBeGreaterThanOrEqual(16);
        }, { view: HeadView });
        break;
      } catch (e) {
        expect(e).toBeInstanceOf(CodecError);
        short++;
      }
    }
    const want = Array.from({ length: 20 }, (_, seq) => seq).filter((seq) => seq % 7 !== 0);
    expect(short).toBe(3);
    expect(heads).toEqual(want.map((seq) => ({ seq: BigInt(seq), len: 8 + (seq % 7) * 8, check: Math.imul(seq, 2654435761) >>> 0 })));
  });
});
