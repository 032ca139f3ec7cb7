import { rmSync } from "node:fs";
import { expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import { BpfMap, UpdateFlags, UseAfterCloseError } from "../../src/runtime/map.js";
import { PerfEventReader, RingBufferReader } from "../../src/runtime/ringbuf.js";
import { deleteBatch, lookupAndDeleteBatch, lookupBatch, lookupBatches, updateBatch } from "../../src/runtime/map-batch.js";
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
    // A batch per step, none above the chunk, together the same entries in the same order.
    const steps = [...lookupBatches(m, 256)];
    expect(steps.length).toBeGreaterThanOrEqual(Math.ceil(n / 256));
    for (const s of steps) expect(s.count).toBeLessThanOrEqual(256);
    expect(Buffer.concat(steps.map((s) => s.keys))).toEqual(all.keys);
    expect(Buffer.concat(steps.map((s) => s.values))).toEqual(all.values);
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

  it("the fast path: the key written into map.fast.key, the value read from map.fast.value", () => {
    using m = BpfMap.create({ name: "t_fast", type: MapType.HASH, keySize: 8, valueSize: 16, maxEntries: 64 });
    const f = m.fast;
    const key = new DataView(f.key.buffer, f.key.byteOffset, 8);
    const value = new DataView(f.value.buffer, f.value.byteOffset, 16);
    for (let i = 0; i < 50; i++) {
      key.setBigUint64(0, BigInt(i) << 32n, true);
      value.setBigUint64(0, BigInt(i * 3), true);
      value.setBigUint64(8, BigInt(~i >>> 0), true);
      f.update();
    }
    f.value.fill(0);
    key.setBigUint64(0, 7n << 32n, true);
    expect(f.lookup()).toBe(true);
    expect([value.getBigUint64(0, true), value.getBigUint64(8, true)]).toEqual([21n, BigInt(~7 >>> 0)]);
    // The copying API sees what the fast path wrote, and the other way round.
    expect(m.lookup(u64(0).fill(0).fill(7, 4, 5))?.readBigUInt64LE(0)).toBe(21n);
    expect(() => f.update(UpdateFlags.NOEXIST)).toThrow(/BPF_MAP_UPDATE_ELEM map "t_fast": EEXIST/);
    f.update(UpdateFlags.EXIST);
    expect(f.delete()).toBe(true);
    expect(f.delete()).toBe(false);
    expect(f.lookup()).toBe(false);
    expect(() => f.update(UpdateFlags.EXIST)).toThrow(/ENOENT/);
    expect([...m.keys()].length).toBe(49);
  });

  it("after close every operation throws UseAfterCloseError, never reaching the map that took the fd number", () => {
    const old = BpfMap.create({ name: "t_old", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 8 });
    old.close();
    // The kernel gives the lowest free number: the new map most likely gets the old map's.
    using next = BpfMap.create({ name: "t_next", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 8 });
    next.update(u32(1), u32(11));
    old.fast.key.writeUInt32LE(1);
    old.fast.value.writeUInt32LE(99);
    const ops: [string, () => unknown][] = [
      ["fd", () => old.fd],
      ["lookupInto", () => old.lookupInto(u32(1), Buffer.alloc(4))],
      ["update", () => old.update(u32(1), u32(99))],
      ["delete", () => old.delete(u32(1))],
      ["fast.lookup", () => old.fast.lookup()],
      ["fast.update", () => old.fast.update()],
      ["fast.delete", () => old.fast.delete()],
      ["lookupAndDelete", () => old.lookupAndDelete(u32(1))],
      ["nextKeyOf", () => old.nextKeyOf(undefined)],
      ["freeze", () => old.freeze()],
      ["batch", () => lookupBatch(old)],
    ];
    for (const [name, op] of ops) {
      expect(op, name).toThrow(UseAfterCloseError);
      expect(op, name).toThrow('map "t_old": used after close');
    }
    expect(next.lookup(u32(1))?.readUInt32LE(0)).toBe(11);
    expect([...next.keys()].length).toBe(1);
  });

  it("a perf reader closed after its map leaves the map that took the fd number alone", () => {
    const cpus = kernel().possibleCpus();
    const events = BpfMap.create({ name: "t_perf", type: MapType.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: cpus });
    const reader = new PerfEventReader(events, { pages: 1 });
    events.close();
    // A hash map with the keys the reader's cleanup deletes (one per CPU).
    using other = BpfMap.create({ name: "t_other", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: cpus });
    for (let c = 0; c < cpus; c++) other.update(u32(c), u32(c + 100));
    reader.close();
    expect([...other.keys()].length).toBe(cpus);
    expect(other.lookup(u32(0))?.readUInt32LE(0)).toBe(100);
  });

  it("a ring buffer reader outlives its map (the mapping holds it) and reads nothing after its own close", async () => {
    const ring = BpfMap.create({ name: "t_ring", type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 });
    const reader = new RingBufferReader(ring);
    ring.close();
    expect(reader.available).toBe(0);
    expect(reader.consume(() => undefined)).toBe(0);
    reader.close();
    expect(reader.available).toBe(0);
    expect(reader.consume(() => undefined)).toBe(0);
    await expect(reader.on(() => undefined)).rejects.toThrow('ring buffer "t_ring" reader: used after close');
  });
});
