/**
 * #3 map lookup/update/delete per op vs a C raw bpf(2) loop (same map shape, same run, 1M ops
 * per measurement) through the zero-copy fast path (`map.fast`), with the copying API and the
 * bare koffi call as reference lines, and JS allocations per op; #4 batch vs single ops per element.
 */
import { spawnSync } from "node:child_process";
import { BpfCommand, MapType } from "../src/abi/index.js";
import { kernel } from "../src/syscall/index.js";
import { BpfMap } from "../src/runtime/map.js";
import { lookupBatch, updateBatch } from "../src/runtime/map-batch.js";
import { buildPeer, median, type Figure } from "./lib.js";

/** Operations per measurement, as performance.md #3 says (each op type, each side, each round). */
const OPS = 1_000_000;
/** Operations per round of the copying API (a reference line, kept short so the bench stays near a minute). */
const COPY_OPS = 100_000;
const ENTRIES = 10_000;
const ROUNDS = 3;
const OPS_NAMES = ["lookup", "update", "delete"] as const;
type Op = (typeof OPS_NAMES)[number];

/** Wall and CPU time (user + system of the process) per op, in ns. */
interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

function timed(n: number, loop: () => void): Timing {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  loop();
  const wall = Number(process.hrtime.bigint() - t0) / n;
  const c = process.cpuUsage(c0);
  return { wall, cpu: ((c.user + c.system) * 1000) / n };
}

/** ns per op of the zero-copy fast path: the key written into map.fast.key, one call per op. */
function timeFast(m: BpfMap, op: Op, n: number): Timing {
  const f = m.fast;
  const key = new Uint32Array(f.key.buffer, f.key.byteOffset, 2);
  f.value.fill(1);
  return timed(n, () => {
    if (op === "lookup") {
      for (let i = 0; i < n; i++) {
        key[0] = i % ENTRIES;
        f.lookup();
      }
    } else if (op === "update") {
      for (let i = 0; i < n; i++) {
        key[0] = i % ENTRIES;
        f.update();
      }
    } else {
      for (let i = 0; i < n; i++) {
        key[0] = i % ENTRIES;
        f.delete();
      }
    }
  });
}

/** ns per op of the copying API: caller's key and value buffers, copied in and out. */
function timeCopying(m: BpfMap, op: Op, n: number): Timing {
  const keyBuf = Buffer.alloc(8);
  const key = new Uint32Array(keyBuf.buffer, keyBuf.byteOffset, 2);
  const value = Buffer.alloc(16, 1);
  const out = Buffer.alloc(16);
  return timed(n, () => {
    if (op === "lookup") {
      for (let i = 0; i < n; i++) {
        key[0] = i % ENTRIES;
        m.lookupInto(keyBuf, out);
      }
    } else if (op === "update") {
      for (let i = 0; i < n; i++) {
        key[0] = i % ENTRIES;
        m.update(keyBuf, value);
      }
    } else {
      for (let i = 0; i < n; i++) {
        key[0] = i % ENTRIES;
        m.delete(keyBuf);
      }
    }
  });
}

function fill(m: BpfMap): void {
  const f = m.fast;
  f.key.fill(0);
  f.value.fill(1);
  for (let i = 0; i < ENTRIES; i++) {
    f.key.writeUInt32LE(i, 0);
    f.update();
  }
}

/** Bytes allocated on the JS heap per op (0 means the path allocates nothing). */
function allocationsPerOp(op: () => void): number {
  for (let i = 0; i < 10_000; i++) op(); // warm up
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const n = 100_000;
  for (let i = 0; i < n; i++) op();
  return Math.max(0, (process.memoryUsage().heapUsed - before) / n);
}

const ratioOf = (a: readonly number[], b: readonly number[]) => (b.length === a.length && b.length > 0 ? median(a.map((x, i) => x / (b[i] as number))) : undefined);

/** Per-round samples of both clocks. */
class Samples {
  readonly wall: number[] = [];
  readonly cpu: number[] = [];
  push(t: Timing): void {
    this.wall.push(t.wall);
    this.cpu.push(t.cpu);
  }
}

export function mapOps(): Figure[] {
  using m = BpfMap.create({ name: "bench", type: MapType.HASH, keySize: 8, valueSize: 16, maxEntries: ENTRIES });
  fill(m);
  const peer = buildPeer("map_ops.c", []);
  // Interleaved rounds, C then tsebpf, so that both see the same machine load; the figure is
  // the median of the per-round ratios of CPU time (user + system: on a shared machine the wall
  // clock also counts the time another process had the CPU), wall-time ratios beside it.
  // Deletes after the first 10k find nothing, on both sides.
  const samples = () => ({ lookup: new Samples(), update: new Samples(), delete: new Samples() });
  const fast = samples();
  const copying = samples();
  const theirs = samples();
  const floor = new Samples();
  // The floor: the same lookup as the seam's bare koffi call on the prepared attr, keys written
  // the same way, no tsebpf code around it.
  const at = (m.fast as unknown as { lookupAt: number }).lookupAt;
  const bare = kernel().bpfAtFunction();
  const floorKey = new Uint32Array(m.fast.key.buffer, m.fast.key.byteOffset, 2);
  for (let r = 0; r < ROUNDS; r++) {
    if (peer.path) {
      const out = spawnSync(peer.path, [String(OPS)], { encoding: "utf8" });
      if (out.status === 0) {
        const [wall, cpu] = out.stdout.trim().split("\n").map((line) => line.split(" ").map(Number));
        OPS_NAMES.forEach((op, i) => theirs[op].push({ wall: wall?.[i] ?? NaN, cpu: cpu?.[i] ?? NaN }));
      }
    }
    for (const op of OPS_NAMES) {
      fill(m);
      fast[op].push(timeFast(m, op, OPS));
      fill(m);
      copying[op].push(timeCopying(m, op, COPY_OPS));
    }
    fill(m);
    floor.push(
      timed(OPS / 4, () => {
        for (let i = 0; i < OPS / 4; i++) {
          floorKey[0] = i % ENTRIES;
          bare(BpfCommand.MAP_LOOKUP_ELEM, at, 32);
        }
      }),
    );
  }
  const row = (id: string, figure: string, ours: Samples, c: Samples, target: string, limit?: number): Figure => {
    const ratio = ratioOf(ours.cpu, c.cpu);
    const wallRatio = ratioOf(ours.wall, c.wall);
    return {
      id,
      figure,
      tsebpf: `${median(ours.cpu).toFixed(0)} cpu, ${median(ours.wall).toFixed(0)} wall`,
      peer: c.cpu.length ? `${median(c.cpu).toFixed(0)} cpu, ${median(c.wall).toFixed(0)} wall (C bpf(2))` : "n/a",
      ratio,
      target,
      pass: limit === undefined || ratio === undefined ? undefined : ratio <= limit,
      note: peer.reason ?? (wallRatio === undefined ? undefined : `wall-clock ratio ${wallRatio.toFixed(2)}x`),
    };
  };
  const figures: Figure[] = OPS_NAMES.map((op) => row(`3${op[0]}`, `map ${op}, ns/op (hash, 10k entries, 1M ops, map.fast)`, fast[op], theirs[op], "<= 1.15x", 1.15));
  for (const op of OPS_NAMES) figures.push(row(`3${op[0]}c`, `  copying API: ${op === "lookup" ? "lookupInto" : op}(key, …)`, copying[op], theirs[op], "(reference)"));
  figures.push(row("3f", "  floor: bare koffi bpf(2) lookup", floor, theirs.lookup, "(reference)"));
  const f = m.fast;
  const fastAlloc = allocationsPerOp(() => void f.lookup());
  figures.push({ id: "3a", figure: "JS heap bytes per map.fast.lookup()", tsebpf: fastAlloc.toFixed(2), peer: "-", ratio: undefined, target: "0 (< 1 byte, GC noise)", pass: fastAlloc < 1 });
  const key = Buffer.alloc(8);
  const out = Buffer.alloc(16);
  const copyAlloc = allocationsPerOp(() => void m.lookupInto(key, out));
  figures.push({ id: "3a", figure: "JS heap bytes per lookupInto", tsebpf: copyAlloc.toFixed(2), peer: "-", ratio: undefined, target: "0 (< 1 byte, GC noise)", pass: copyAlloc < 1 });

  // #4: dump and refill 100k entries, batch vs single ops, per element.
  using big = BpfMap.create({ name: "bench_batch", type: MapType.HASH, keySize: 8, valueSize: 16, maxEntries: 100_000 });
  const n = 100_000;
  const keys = Buffer.alloc(n * 8);
  const values = Buffer.alloc(n * 16, 2);
  for (let i = 0; i < n; i++) keys.writeUInt32LE(i, i * 8);
  const t0 = process.hrtime.bigint();
  updateBatch(big, keys, values);
  const dump = lookupBatch(big, 10_000);
  const t1 = process.hrtime.bigint();
  if (dump.count !== n) throw new Error(`batch dump found ${dump.count}`);
  const single = process.hrtime.bigint();
  for (let i = 0; i < n; i++) big.update(keys.subarray(i * 8, i * 8 + 8), values.subarray(i * 16, i * 16 + 16));
  let k: Buffer | undefined = big.nextKeyOf(undefined);
  while (k) {
    big.lookupInto(k, out);
    k = big.nextKeyOf(k);
  }
  const t2 = process.hrtime.bigint();
  const batchPer = Number(t1 - t0) / n;
  const singlePer = Number(t2 - single) / n;
  figures.push({
    id: "4",
    figure: "dump + refill 100k entries, ns/element",
    tsebpf: `${batchPer.toFixed(0)} (batch)`,
    peer: `${singlePer.toFixed(0)} (single ops)`,
    ratio: singlePer / batchPer,
    target: ">= 3x faster",
    pass: singlePer / batchPer >= 3,
  });
  return figures;
}
