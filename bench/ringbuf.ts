/**
 * #5 ring buffer drain: 10M records of 64 bytes, produced in rounds of 1M by an XDP program run
 * with BPF_PROG_TEST_RUN `repeat` into a 128 MiB ring, drained by tsebpf's RingBufferReader
 * (`drain`, the allocation-free callback form) vs libbpf's ring_buffer__consume (bench/peers/
 * ringbuf_consume.c, same map and program through bpffs pins), measured in the same run. Only
 * the drains are timed. Like for like: both callbacks read the record's first u32 and add it
 * and the length to a 32-bit sum (`| 0` in JavaScript: a sum that outgrew 31 bits would be a
 * heap number, allocated on every store), and both count records. The note gives `consume`
 * (one reused EventRecord per record) too.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { readCollectionSpec } from "../src/elf/index.js";
import { Collection } from "../src/runtime/collection.js";
import { RingBufferReader, type EventRecord } from "../src/runtime/ringbuf.js";
import { buildPeer, median, type Figure } from "./lib.js";

const PER_RUN = 100; // records per program run (bpf_loop)
const REPEAT = 10_000; // runs per round: 1M records
const ROUNDS = 10; // 10M records per measurement
const RING = 128 << 20;
const MODE_FIXED = 8;

export function ringbuf(): Figure[] {
  const spec = readCollectionSpec(readFileSync("test/fixtures/events.bpfel.o"));
  using coll = Collection.load(spec, { programs: ["emit"], maxEntries: { ringbuf: RING } });
  const data = coll.map(".data");
  const globals = data.lookup(Buffer.alloc(4)) as Buffer;
  globals.writeUInt32LE(PER_RUN, spec.variables.get("count")?.offset ?? 0);
  globals.writeUInt32LE(MODE_FIXED, spec.variables.get("mode")?.offset ?? 4);
  data.update(Buffer.alloc(4), globals);
  const program = coll.program("emit");
  const map = coll.map("ringbuf");
  const packet = Buffer.alloc(64);
  /** Records per second of `drain` over ROUNDS rounds of REPEAT program runs (the drains timed). */
  const drainRate = (drain: () => number): number => {
    drain(); // whatever an earlier run left
    let records = 0;
    let ns = 0;
    for (let r = 0; r < ROUNDS; r++) {
      program.testRun({ data: packet, repeat: REPEAT });
      const t0 = process.hrtime.bigint();
      records += drain();
      ns += Number(process.hrtime.bigint() - t0);
    }
    if (records !== ROUNDS * REPEAT * PER_RUN) throw new Error(`drained ${records} records, expected ${ROUNDS * REPEAT * PER_RUN}`);
    return records / (ns / 1e9);
  };

  const dir = `/sys/fs/bpf/tsebpf-bench-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  const peer = buildPeer("ringbuf_consume.c", ["-lbpf"]);
  try {
    map.pin(`${dir}/ringbuf`);
    program.pin(`${dir}/emit`);
    using reader = new RingBufferReader(map);
    let sum = 0;
    const onRecord = (view: DataView, offset: number, length: number) => {
      sum = (sum + view.getUint32(offset, true) + length) | 0;
    };
    const onEventRecord = (r: EventRecord) => {
      sum = (sum + r.memoryView.getUint32(r.offset, true) + r.length) | 0;
    };
    const ours: number[] = [];
    const theirs: number[] = [];
    const records: number[] = [];
    let peerNote: string | undefined = peer.reason;
    for (let m = 0; m < 3; m++) {
      if (peer.path) {
        const out = spawnSync(peer.path, [`${dir}/ringbuf`, `${dir}/emit`, String(ROUNDS), String(REPEAT)], { encoding: "utf8" });
        const [records, seconds] = out.stdout.trim().split(" ").map(Number);
        if (out.status === 0 && records === ROUNDS * REPEAT * PER_RUN) theirs.push((records as number) / (seconds as number));
        else peerNote = `peer exit ${out.status}, ${out.stdout.trim()} ${out.stderr.trim()}`;
      }
      ours.push(drainRate(() => reader.drain(onRecord)));
      records.push(drainRate(() => reader.consume(onEventRecord)));
    }
    void sum;
    const a = median(ours);
    const b = theirs.length ? median(theirs) : undefined;
    const ratio = b === undefined ? undefined : a / b;
    const m = (x: number) => `${(x / 1e6).toFixed(1)}M`;
    return [
      {
        id: "5",
        figure: "ring buffer drain, records/s (10M x 64 B)",
        tsebpf: m(a),
        peer: b === undefined ? "n/a" : `${m(b)} (libbpf)`,
        ratio,
        target: ">= 10M/s, >= 0.5x",
        pass: a >= 10e6 && (ratio === undefined ? undefined : ratio >= 0.5),
        note: `consume (EventRecord) ${m(median(records))}${peerNote ? `; ${peerNote}` : ""}`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
