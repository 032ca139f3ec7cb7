/** Small helpers for the programs' maps: u32 keys, ranges of array values, per-CPU counters summed over the CPUs. */
import type { runtime } from "../../index.js";

/** A u32 key (array index), host byte order. */
export function u32Key(n: number): Buffer {
  const k = Buffer.alloc(4);
  k.writeUInt32LE(n);
  return k;
}

/** The values of array entries [first, first + count), back to back (zeros for absent ones). */
export function arrayValues(map: runtime.BpfMap, first: number, count: number): Buffer {
  const out = Buffer.alloc(count * map.userValueSize);
  for (let i = 0; i < count; i++) map.lookup(u32Key(first + i))?.copy(out, i * map.userValueSize);
  return out;
}

/** Sums each u64 field of a per-CPU value over the CPUs (zeros when the key is absent). */
export function sumPerCpu(map: runtime.BpfMap, key: Uint8Array, fields: number): bigint[] {
  const sums = new Array<bigint>(fields).fill(0n);
  const value = map.lookup(key);
  if (!value) return sums;
  for (const cpu of map.perCpuValues(value)) for (let f = 0; f < fields; f++) sums[f] = (sums[f] ?? 0n) + cpu.readBigUInt64LE(8 * f);
  return sums;
}
