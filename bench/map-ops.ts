/**
 * #3 map lookup/update/delete per op vs a C raw bpf(2) loop (same map shape, same run), and
 * JS allocations per op on the fast path; #4 batch vs single ops per element.
 */
import { spawnSync } from "node:child_process";
import { BpfCommand, MapType } from "../src/abi/index.js";
import { kernel } from "../src/syscall/index.js";
import { BpfMap } from "../src/runtime/map.js";
import { lookupBatch, updateBatch } from "../src/runtime/map-batch.js";
import { buildPeer, median, type Figure } from "./lib.js";

const OPS = 300_000;
const ENTRIES = 10_000;

function timeOps(m: BpfMap, op: "lookup" | "update" | "delete"): number {
  const key = Buffer.alloc(8);
  const value = Buffer.alloc(16, 1);
  const out = Buffer.alloc(16);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < OPS; i++) {
    key.writeUInt32LE(i % ENTRIES, 0);
    if (op === "lookup") m.lookupInto(key, out);
    else if (op === "update") m.update(key, value);
    else m.delete(key);
  }
  return Number(process.hrtime.bigint() - t0) / OPS;
}

function fill(m: BpfMap): void {
  const key = Buffer.alloc(8);
  const value = Buffer.alloc(16, 1);
  for (let i = 0; i < ENTRIES; i++) {
    key.writeUInt32LE(i, 0);
    m.update(key, value);
  }
}

/** Bytes allocated on the JS heap per lookup (0 means the fast path allocates nothing). */
function allocationsPerOp(m: BpfMap): number {
  const key = Buffer.alloc(8);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 10_000; i++) m.lookupInto(key, out); // warm up
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    key.writeUInt32LE(i % ENTRIES, 0);
    m.lookupInto(key, out);
  }
  return Math.max(0, (process.memoryUsage().heapUsed - before) / n);
}

export function mapOps(): Figure[] {
  using m = BpfMap.create({ name: "bench", type: MapType.HASH, keySize: 8, valueSize: 16, maxEntries: ENTRIES });
  fill(m);
  const peer = buildPeer("map_ops.c", []);
  const ops = ["lookup", "update", "delete"] as const;
  // Interleaved rounds, C then tsebpf, so that both see the same machine load; the figure is
  // the median of the per-round ratios.
  const ours: Record<string, number[]> = { lookup: [], update: [], delete: [] };
  const theirs: Record<string, number[]> = { lookup: [], update: [], delete: [] };
  for (let r = 0; r < 7; r++) {
    if (peer.path) {
      const out = spawnSync(peer.path, [String(OPS)], { encoding: "utf8" });
      if (out.status === 0) out.stdout.trim().split(" ").map(Number).forEach((v, i) => theirs[ops[i] as string]?.push(v));
    }
    for (const op of ops) {
      fill(m);
      ours[op]?.push(timeOps(m, op));
    }
  }
  const figures: Figure[] = ops.map((op) => {
    const a = ours[op] as number[];
    const b = theirs[op] as number[];
    const ratio = b.length === a.length ? median(a.map((x, i) => x / (b[i] as number))) : undefined;
    return {
      id: `3${op[0]}`,
      figure: `map ${op}, ns/op (hash, 10k entries)`,
      tsebpf: median(a).toFixed(0),
      peer: b.length ? `${median(b).toFixed(0)} (C bpf(2))` : "n/a",
      ratio,
      target: "<= 1.15x",
      pass: ratio === undefined ? undefined : ratio <= 1.15,
      ...(peer.reason ? { note: peer.reason } : {}),
    };
  });
  // The floor: the same lookup as a bare koffi call with a prepared attr, no tsebpf code around it.
  const at = (m as unknown as { lookupAt: number }).lookupAt;
  const bare = kernel().bpfAtFunction();
  const floor: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) bare(BpfCommand.MAP_LOOKUP_ELEM, at, 32);
    floor.push(Number(process.hrtime.bigint() - t0) / OPS);
  }
  const cLookup = theirs.lookup as number[];
  if (cLookup.length) {
    const f = median(floor);
    figures.push({ id: "3f", figure: "  floor: bare koffi bpf(2) lookup, ns/op", tsebpf: f.toFixed(0), peer: `${median(cLookup).toFixed(0)} (C bpf(2))`, ratio: f / median(cLookup), target: "(reference)", pass: undefined });
  }
  const alloc = allocationsPerOp(m);
  figures.push({ id: "3a", figure: "JS heap bytes per lookupInto", tsebpf: alloc.toFixed(2), peer: "-", ratio: undefined, target: "0 (< 1 byte, GC noise)", pass: alloc < 1 });

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
  const out = Buffer.alloc(16);
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
