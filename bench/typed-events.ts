/**
 * #10 typed events: 64-byte ring-buffer records (the events fixture's `struct event { u64 seq;
 * u32 len; u32 check; u8 fill[48]; }`, produced by an XDP program run with BPF_PROG_TEST_RUN
 * `repeat`) read through a codec — `reader.consume(cb, { codec })`, each record decoded in place
 * into an object — vs tsebpf's untyped `drain`, in the same run, rounds interleaved. Only the
 * reads are timed.
 *
 * The codec is written the way `tsebpf gen` writes one (an object literal read from a DataView
 * at the record's offset through `checkedView`; `u8[48]` as a Uint8Array copy by `copyBytes`,
 * 64-bit as bigint). The untyped side is
 * `drain` with the callback of #5 (one u32 and the length summed): the ratio is what typing the
 * events costs over reading them raw. The note gives the same decoding written by hand inside a
 * `drain` callback (what users did before codecs), a codec of the scalars only (seq, len, check:
 * the cost without the 48-byte copy) and `btfCodec` (fill as an array of numbers). Most of a
 * typed record's time is allocating its value (an object, a bigint, a 48-byte Uint8Array and its
 * backing store), which the bare `drain` callback does not do.
 */
import { readFileSync } from "node:fs";
import { Btf, marshalBtf } from "../src/btf/index.js";
import { readCollectionSpec } from "../src/elf/index.js";
import { Collection } from "../src/runtime/collection.js";
import { btfCodec, checkedView, copyBytes, type Codec } from "../src/runtime/codec.js";
import { RingBufferReader } from "../src/runtime/ringbuf.js";
import { interleaved, median, type Figure } from "./lib.js";

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

/** The same struct's BTF, for btfCodec (the object's own BTF lacks it: the program only puts it on the stack). */
function eventBtf(): Btf {
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
    perRecord(() => reader.drain(onRaw)),
    perRecord(() => reader.consume(onEvent, { codec: eventCodec })),
    perRecord(() => reader.drain(onHand)),
    perRecord(() => reader.consume(onBtf, { codec: btf })),
    perRecord(() => reader.consume(onHead, { codec: headCodec })),
  ];
  // Warm up (every path optimized), then measure.
  for (const side of sides) side();
  const [raw, typed, hand, viaBtf, head] = interleaved(ROUNDS, sides).map(median) as [number, number, number, number, number];
  const seqOk = expected >= 0 && (expected + 1) % PER_RUN === 0;
  if (!seqOk) throw new Error(`the last event read has seq ${expected}`);
  void sum;
  const ratio = typed / raw;
  const ns = (x: number) => `${x.toFixed(1)} ns`;
  return [
    {
      id: "10",
      figure: "typed ring-buffer events, per 64 B record",
      tsebpf: `${ns(typed)} (codec)`,
      peer: `${ns(raw)} (untyped drain)`,
      ratio,
      target: "<= 2x",
      pass: ratio <= 2,
      note: `per record: decoding by hand in a drain callback ${ns(hand)} (${(hand / raw).toFixed(2)}x drain), the codec ${(typed / hand).toFixed(2)}x that; without the 48-byte copy (seq, len, check) ${ns(head)} (${(head / raw).toFixed(2)}x drain); btfCodec (fill as number[48]) ${ns(viaBtf)} (${(viaBtf / raw).toFixed(2)}x)`,
    },
  ];
}
