import { rmSync } from "node:fs";
import { expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import { BpfMap, UpdateFlags } from "../../src/runtime/map.js";
import { deleteBatch, lookupAndDeleteBatch, lookupBatch, updateBatch } from "../../src/runtime/map-batch.js";
import { kernel } from "../../src/syscall/index.js";
import { describeKernel } from "../helpers/kernel.js";

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

describeKernel("BpfMap", () => {
  it("looks up, updates with flags, deletes and iterates", () => {
    using m = BpfMap.create({ name: "t_hash", type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 16 });
    expect(m.lookup(u32(1))).toBeUndefined();
    m.update(u32(1), u64(10));
    m.update(u32(2), u64(20), UpdateFlags.NOEXIST);
    expect(() => m.update(u32(2), u64(21), UpdateFlags.NOEXIST)).toThrow(/BPF_MAP_UPDATE_ELEM map "t_hash": EEXIST/);
    expect(() => m.update(u32(3), u64(30), UpdateFlags.EXIST)).toThrow(/ENOENT/);
    expect(m.lookup(u32(2))?.readBigUInt64LE(0)).toBe(20n);
    expect([...m.keys()].map((k) => k.readUInt32LE(0)).sort()).toEqual([1, 2]);
    expect(new Map([...m.entries()].map(([k, v]) => [k.readUInt32LE(0), v.readBigUInt64LE(0)]))).toEqual(new Map([[1, 10n], [2, 20n]]));
    expect(m.delete(u32(1))).toBe(true);
    expect(m.delete(u32(1))).toBe(false);
    expect(() => m.lookup(Buffer.alloc(3))).toThrow(/key is 3 bytes, the map's 4/);
    const out = Buffer.alloc(8);
    expect(m.lookupInto(u32(2), out)).toBe(true);
    expect(out.readBigUInt64LE(0)).toBe(20n);
    expect(m.info()).toMatchObject({ name: "t_hash", type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 16 });
  });

  it("holds one value per possible CPU in per-CPU maps", () => {
    using m = BpfMap.create({ name: "t_percpu", type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
    const cpus = kernel().possibleCpus();
    expect(m.userValueSize).toBe(8 * cpus);
    const v = Buffer.alloc(m.userValueSize);
    for (let c = 0; c < cpus; c++) v.writeUInt32LE(c + 1, c * 8);
    m.update(u32(0), v);
    expect(m.perCpuValues(m.lookup(u32(0)) as Buffer).map((b) => b.readUInt32LE(0))).toEqual(Array.from({ length: cpus }, (_, c) => c + 1));
  });

  it("reads, writes and deletes in batches", () => {
    using m = BpfMap.create({ name: "t_batch", type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 5000 });
    const n = 3000;
    const keys = Buffer.alloc(n * 4);
    const values = Buffer.alloc(n * 8);
    for (let i = 0; i < n; i++) {
      keys.writeUInt32LE(i, i * 4);
      values.writeBigUInt64LE(BigInt(i * 3), i * 8);
    }
    expect(updateBatch(m, keys, values)).toBe(n);
    const all = lookupBatch(m, 256);
    expect(all.count).toBe(n);
    for (let i = 0; i < n; i++) expect(all.values.readBigUInt64LE(i * 8)).toBe(BigInt(all.keys.readUInt32LE(i * 4) * 3));
    expect(deleteBatch(m, keys.subarray(0, 1000 * 4))).toBe(1000);
    expect(lookupAndDeleteBatch(m).count).toBe(2000);
    expect([...m.keys()]).toEqual([]);
  });

  it("freezes, pins and reopens by pin and by id", () => {
    using m = BpfMap.create({ name: "t_pin", type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
    m.update(u32(0), u32(7));
    const path = `/sys/fs/bpf/tsebpf-t-${process.pid}`;
    m.pin(path);
    try {
      using again = BpfMap.fromPin(path);
      expect(again.lookup(u32(0))?.readUInt32LE(0)).toBe(7);
      using byId = BpfMap.fromId(m.info().id);
      expect(byId.name).toBe("t_pin");
      m.freeze();
      expect(() => again.update(u32(0), u32(8))).toThrow(/EPERM/);
    } finally {
      rmSync(path, { force: true });
    }
  });
});

