/**
 * #11 reading an element of an mmapable array map (1024 entries, u32 values) through
 * `map.memory()` — a DataView load, no system call — against the syscall lookup of the same
 * element (`map.fast.lookup()`, tsebpf's fastest syscall path), in the same run, interleaved
 * rounds; C peers for scale: libbpf's `bpf_map_lookup_elem` and a load from C's own mapping.
 * Values are u32 so that a read is a number on both sides (u64 values read as bigint, which
 * allocates: a reference row shows that cost).
 */
import { MapType } from "../src/abi/index.js";
import { BPF_F_MMAPABLE, BpfMap } from "../src/runtime/map.js";
import { buildPeer, interleaved, median, peerLines, roundRatio, type Figure } from "./lib.js";

const ENTRIES = 1024;
/** Syscall lookups per round (~1 µs each) and memory reads per round (~1 ns each). */
const LOOKUPS = 1_000_000;
const READS = 50_000_000;
const ROUNDS = 5;

/** CPU ns (user + system) per op of `loop(n)`: on a shared machine wall time counts others' turns too. */
function cpuPerOp(n: number, loop: (n: number) => number): number {
  const c0 = process.cpuUsage();
  const sink = loop(n);
  const c = process.cpuUsage(c0);
  if (sink === -1) console.log("unreachable"); // keeps the sum alive
  return ((c.user + c.system) * 1000) / n;
}

export function mapMemory(): Figure[] {
  using m = BpfMap.create({ name: "bench_mem", type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: ENTRIES, flags: BPF_F_MMAPABLE });
  const memory = m.memory();
  const view = memory.view;
  const stride = memory.stride;
  for (let i = 0; i < ENTRIES; i++) view.setUint32(i * stride, i, true);

  const fast = m.fast;
  const key = new Uint32Array(fast.key.buffer, fast.key.byteOffset, 1);
  const value = new Uint32Array(fast.value.buffer, fast.value.byteOffset, 1);
  const MASK = ENTRIES - 1;
  const viaSyscall = (n: number): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      key[0] = i & MASK;
      fast.lookup();
      sum = (sum + (value[0] as number)) | 0;
    }
    return sum;
  };
  const viaMemory = (n: number): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum = (sum + view.getUint32((i & MASK) * stride, true)) | 0;
    return sum;
  };
  // u64 values: each read a bigint (an allocation).
  using m64 = BpfMap.create({ name: "bench_mem64", type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: ENTRIES, flags: BPF_F_MMAPABLE });
  const view64 = m64.memory().view;
  const viaMemory64 = (n: number): number => {
    let sum = 0n;
    for (let i = 0; i < n; i++) sum += view64.getBigUint64((i & MASK) * 8, true);
    return Number(sum & 0xffffn);
  };
  // Both read the same elements and agree.
  if (viaSyscall(ENTRIES) !== viaMemory(ENTRIES)) throw new Error("map.memory() and lookup disagree");
  viaMemory(READS / 10); // warm-up (JIT)
  viaMemory64(READS / 50);

  const [ours, syscall, ours64] = interleaved(ROUNDS, [() => cpuPerOp(READS, viaMemory), () => cpuPerOp(LOOKUPS, viaSyscall), () => cpuPerOp(READS / 5, viaMemory64)]) as [number[], number[], number[]];
  const speedup = roundRatio(syscall, ours);

  const peer = buildPeer("map_memory.c", ["-lbpf"]);
  const cLookup: number[] = [];
  const cMmap: number[] = [];
  let reason = peer.reason;
  if (peer.path) {
    try {
      for (let r = 0; r < 3; r++) {
        const [, cpu] = peerLines(peer.path, [String(LOOKUPS), String(READS * 2)]);
        cLookup.push(cpu?.[0] ?? NaN);
        cMmap.push(cpu?.[1] ?? NaN);
      }
    } catch (e) {
      reason = (e as Error).message;
    }
  }
  const ns = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ns`;
  const figures: Figure[] = [
    {
      id: "11",
      figure: "array element (u32) read via map.memory() vs syscall lookup (map.fast.lookup), cpu ns/read",
      tsebpf: ns(median(ours)),
      peer: `${ns(median(syscall))} (tsebpf syscall)`,
      ratio: speedup,
      target: ">= 100x faster",
      pass: speedup >= 100,
      note: `ratio is how many times faster map.memory() is (median of ${ROUNDS} interleaved rounds, CPU time)`,
    },
    { id: "11b", figure: "  u64 values through map.memory() (a bigint per read)", tsebpf: ns(median(ours64)), peer: `${ns(median(syscall))} (tsebpf syscall)`, ratio: roundRatio(syscall, ours64), target: "(reference: x faster)", pass: undefined },
  ];
  if (cLookup.length > 0) {
    const cl = median(cLookup);
    figures.push({ id: "11c", figure: "  vs C bpf_map_lookup_elem (libbpf, same map shape)", tsebpf: ns(median(ours)), peer: `${ns(cl)} (C bpf(2))`, ratio: cl / median(ours), target: "(reference: x faster)", pass: undefined });
    figures.push({ id: "11m", figure: "  C load from its own mapping (volatile, same map)", tsebpf: ns(median(ours)), peer: `${ns(median(cMmap))} (C mmap)`, ratio: median(ours) / median(cMmap), target: "(reference: x slower)", pass: undefined });
  } else {
    figures.push({ id: "11c", figure: "  vs C bpf_map_lookup_elem", tsebpf: ns(median(ours)), peer: "n/a", ratio: undefined, target: "(reference)", pass: undefined, ...(reason ? { note: reason } : {}) });
  }
  return figures;
}
