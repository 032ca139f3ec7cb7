/**
 * #10 typed events: 64-byte ring-buffer records (the events fixture's `struct event { u64 seq;
 * u32 len; u32 check; u8 fill[48]; }`, produced by an XDP program run with BPF_PROG_TEST_RUN
 * `repeat`) read through the typed view `tsebpf gen` writes — `reader.consume(cb, { view:
 * EventView })`, one view re-pointed at each record, its getters reading the fields in place —
 * vs tsebpf's untyped `drain` reading the same fields by hand from the DataView, in the same
 * run, rounds interleaved. Only the reads are timed.
 *
 * Like for like: both sides read `seq` (u64, a bigint made a number), `len` and `check` (u32)
 * of every record and fold them into a sum; the ratio is what the typed access costs over
 * reading the same bytes raw. `EventView` is what the generator makes of the struct's BTF
 * (typed-events.gen.ts, checked against the generator by test/gen/bench-bindings.test.ts).
 *
 * The note gives the same pair reading only `len` and `check` (no bigint made on either side),
 * then references: the object-decoding path, `consume(cb, { codec })` with a codec
 * written the way `tsebpf gen` writes one (each record an object: a bigint, a 48-byte Uint8Array
 * copy), the same decoding by hand in a `drain` callback, a codec of the scalars only (seq,
 * len, check: no copy), `btfCodec` (fill as an array of numbers), and the bare `drain` callback
 * of #5 (one u32 and the length). Most of a decoded record's time is allocating its value,
 * which the view does not do.
 */
import { readFileSync } from "node:fs";
import { Btf, marshalBtf } from "../src/btf/index.js";
import { readCollectionSpec } from "../src/elf/index.js";
import { Collection } from "../src/runtime/collection.js";
import { checkedView, copyBytes, type Codec } from "../src/runtime/codec.js";
import { btfCodec } from "../src/runtime/btf-codec.js";
import { RingBufferReader } from "../src/runtime/ringbuf.js";
import { interleaved, median, roundRatio, type Figure } from "./lib.js";
import { EventView } from "./typed-events.gen.js";

const PER_RUN = 100; // records per program run (bpf_loop)
const REPEAT = 5_000; // runs per round: 500k records
const ROUNDS = 7;
const RING = 64 << 20; // 500k records of 72 bytes (header included) fit
const MODE_FIXED = 8;
const RECORDS = PER_RUN * REPEAT;

interface Event {
  seq: bigint;
  len: number;
  check: number;
  fill: Uint8Array;
}

/** A codec as `tsebpf gen` writes one. */
const eventCodec: Codec<Event> = {
  size: 64,
  typeName: "struct event",
  decode(buf, offset = 0) {
    const v = checkedView(buf, offset, 64, "struct event");
    return {
      seq: v.getBigUint64(offset, true),
      len: v.getUint32(offset + 8, true),
      check: v.getUint32(offset + 12, true),
      fill: copyBytes(v, offset + 16, 48),
    };
  },
  encode(value, out, offset = 0) {
    const v = checkedView(out, offset, 64, "struct event");
    v.setBigUint64(offset, value.seq, true);
    v.setUint32(offset + 8, value.len, true);
    v.setUint32(offset + 12, value.check, true);
    new Uint8Array(v.buffer, v.byteOffset + offset + 16, 48).set(value.fill);
  },
};

/** The event's scalars only (its first 16 bytes): what decoding costs without the 48-byte copy. */
const headCodec: Codec<{ seq: bigint; len: number; check: number }> = {
  size: 16,
  typeName: "struct event (head)",
  decode(buf, offset = 0) {
    const v = checkedView(buf, offset, 16, "struct event (head)");
    return { seq: v.getBigUint64(offset, true), len: v.getUint32(offset + 8, true), check: v.getUint32(offset + 12, true) };
  },
  encode(value, out, offset = 0) {
    const v = checkedView(out, offset, 16, "struct event (head)");
    v.setBigUint64(offset, value.seq, true);
    v.setUint32(offset + 8, value.len, true);
    v.setUint32(offset + 12, value.check, true);
  },
};

/**
 * The same struct's BTF, for btfCodec and the generated view (the object's own BTF lacks it: the
 * program only puts it on the stack).
 */
export function eventBtf(): Btf {
  return new Btf(marshalBtf([
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
}

export function typedEvents(): Figure[] {
  const spec = readCollectionSpec(readFileSync("test/fixtures/events.bpfel.o"));
  using coll = Collection.load(spec, { programs: ["emit"], maxEntries: { ringbuf: RING } });
  const data = coll.map(".data");
  const globals = data.lookup(Buffer.alloc(4)) as Buffer;
  globals.writeUInt32LE(PER_RUN, spec.variables.get("count")?.offset ?? 0);
  globals.writeUInt32LE(MODE_FIXED, spec.variables.get("mode")?.offset ?? 4);
  data.update(Buffer.alloc(4), globals);
  const program = coll.program("emit");
  const packet = Buffer.alloc(64);
  using reader = new RingBufferReader(coll.map("ringbuf"));

  // Every side folds what it read into `sum`, so that nothing is optimized away, and checks
  // the sequence (a codec reading the wrong bytes would not pass).
  let sum = 0;
  let expected = -1;
  // #10's two sides: seq, len and check of every record, by hand and through the view.
  const onFields = (view: DataView, offset: number) => {
    sum = (sum + view.getUint32(offset + 8, true) + view.getUint32(offset + 12, true)) | 0;
    expected = Number(view.getBigUint64(offset, true));
  };
  const onView = (e: EventView) => {
    sum = (sum + e.len + e.check) | 0;
    expected = Number(e.seq);
  };
  // The same without the bigint (len and check only): the view's own cost shows more.
  const onFields32 = (view: DataView, offset: number) => {
    sum = (sum + view.getUint32(offset + 8, true) + view.getUint32(offset + 12, true)) | 0;
  };
  const onView32 = (e: EventView) => {
    sum = (sum + e.len + e.check) | 0;
  };
  // References.
  const onRaw = (view: DataView, offset: number, length: number) => {
    sum = (sum + view.getUint32(offset, true) + length) | 0;
  };
  const onEvent = (e: Event) => {
    sum = (sum + e.len + e.check + (e.fill[47] as number)) | 0;
    expected = Number(e.seq);
  };
  const bytes = reader.bytes;
  const onHand = (view: DataView, offset: number) => {
    onEvent({
      seq: view.getBigUint64(offset, true),
      len: view.getUint32(offset + 8, true),
      check: view.getUint32(offset + 12, true),
      fill: bytes.slice(offset + 16, offset + 64),
    });
  };
  const btf = btfCodec<{ seq: bigint; len: number; check: number; fill: number[] }>(eventBtf(), "struct event");
  const onBtf = (e: { seq: bigint; len: number; check: number; fill: number[] }) => {
    sum = (sum + e.len + e.check + (e.fill[47] as number)) | 0;
    expected = Number(e.seq);
  };
  const onHead = (e: { seq: bigint; len: number; check: number }) => {
    sum = (sum + e.len + e.check) | 0;
    expected = Number(e.seq);
  };

  /** Nanoseconds per record of one read of a freshly produced round. */
  const perRecord = (read: () => number) => (): number => {
    reader.drain(() => {}); // whatever an earlier side left
    program.testRun({ data: packet, repeat: REPEAT });
    const t0 = process.hrtime.bigint();
    const n = read();
    const ns = Number(process.hrtime.bigint() - t0);
    if (n !== RECORDS) throw new Error(`read ${n} records, expected ${RECORDS}`);
    return ns / n;
  };
  const sides = [
    perRecord(() => reader.drain(onFields)),
    perRecord(() => reader.consume(onView, { view: EventView })),
    perRecord(() => reader.consume(onEvent, { codec: eventCodec })),
    perRecord(() => reader.drain(onHand)),
    perRecord(() => reader.consume(onBtf, { codec: btf })),
    perRecord(() => reader.consume(onHead, { codec: headCodec })),
    perRecord(() => reader.drain(onRaw)),
    perRecord(() => reader.drain(onFields32)),
    perRecord(() => reader.consume(onView32, { view: EventView })),
  ];
  // Warm up (every path optimized), then measure.
  for (const side of sides) side();
  const samples = interleaved(ROUNDS, sides);
  const [fields, view, typed, hand, viaBtf, head, raw, fields32, view32] = samples.map(median) as [number, number, number, number, number, number, number, number, number];
  const seqOk = expected >= 0 && (expected + 1) % PER_RUN === 0;
  if (!seqOk) throw new Error(`the last event read has seq ${expected}`);
  void sum;
  const ratio = roundRatio(samples[1] as number[], samples[0] as number[]);
  const ns = (x: number) => `${x.toFixed(1)} ns`;
  const vs = (x: number) => `${(x / fields).toFixed(2)}x`;
  return [
    {
      id: "10",
      figure: "typed ring-buffer events, per 64 B record: seq (u64), len, check (u32) read through the generated view",
      tsebpf: `${ns(view)} (consume { view })`,
      peer: `${ns(fields)} (drain, the same fields by hand)`,
      ratio,
      target: "<= 2x",
      pass: ratio <= 2,
      note: `len and check only (no bigint): view ${ns(view32)} vs drain ${ns(fields32)} (${roundRatio(samples[8] as number[], samples[7] as number[]).toFixed(2)}x). Per record, vs the drain reading seq, len, check: decoding each record into an object (consume { codec }, fill copied) ${ns(typed)} (${vs(typed)}); the same decoding by hand in drain ${ns(hand)} (${vs(hand)}); a codec of the scalars only ${ns(head)} (${vs(head)}); btfCodec (fill as number[48]) ${ns(viaBtf)} (${vs(viaBtf)}); the bare drain of #5 (one u32 and the length) ${ns(raw)}`,
    },
  ];
}
