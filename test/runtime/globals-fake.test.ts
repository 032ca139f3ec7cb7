/**
 * Globals after load and map memory against a fake kernel that keeps array maps' values and maps
 * them: the variable view issues no system call per access, falls back to lookup/update where
 * BPF_F_MMAPABLE is refused, and the attachments of attachAll belong to the collection.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { BpfCommand, MapType } from "../../src/abi/index.js";
import type { Btf } from "../../src/btf/index.js";
import { VariableError, readCollectionSpec } from "../../src/elf/index.js";
import { NotFoundError, TsebpfError, UseAfterCloseError } from "../../src/errors.js";
import { Collection } from "../../src/runtime/collection.js";
import { WrongTypeError } from "../../src/runtime/errors.js";
import { BPF_F_MMAPABLE, BpfMap } from "../../src/runtime/map.js";
import { ReadOnlyVariableError } from "../../src/runtime/variable.js";
import { UnattachableError } from "../../src/runtime/auto-attach.js";
import { useKernel, type Kernel } from "../../src/syscall/index.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

const MAP_FIXED = 0x10;

/** Array maps with real values: the element commands and mmap see the same bytes, like the kernel's. */
class MemoryKernel extends FakeKernel {
  /** Values by map fd (page-aligned, elements 8-byte aligned), and each map's creation attrs. */
  readonly values = new Map<number, { data: ArrayBuffer; stride: number; flags: number; name: string }>();
  readonly mappings = new Map<bigint, ArrayBuffer>();
  readonly mmaps: { fd: number; length: number; prot: number }[] = [];
  readonly retired: bigint[] = [];
  /** Refuse BPF_F_MMAPABLE as kernels before 5.5 do (EINVAL). */
  refuseMmapable = false;
  private nextMapping = 0x7f0000000000n;

  override bpf(cmd: number, attr: Uint8Array): number {
    const v = new DataView(attr.buffer, attr.byteOffset, attr.byteLength);
    if (cmd === BpfCommand.MAP_CREATE) {
      const flags = v.getUint32(16, true);
      if (this.refuseMmapable && flags & BPF_F_MMAPABLE) {
        this.calls.push("MAP_CREATE");
        return -22;
      }
      const fd = super.bpf(cmd, attr);
      const [type, valueSize, maxEntries] = [v.getUint32(0, true), v.getUint32(8, true), v.getUint32(12, true)];
      const name = Buffer.from(attr.subarray(28, 44)).toString("latin1").replace(/\0.*$/s, "");
      if (type === MapType.ARRAY) {
        const stride = Math.ceil(valueSize / 8) * 8;
        this.values.set(fd, { data: new ArrayBuffer(Math.ceil((stride * maxEntries) / 4096) * 4096), stride, flags, name });
      }
      return fd;
    }
    if (cmd === BpfCommand.MAP_LOOKUP_ELEM || cmd === BpfCommand.MAP_UPDATE_ELEM) {
      const map = this.values.get(v.getUint32(0, true));
      if (map) {
        this.calls.push(cmd === BpfCommand.MAP_LOOKUP_ELEM ? "MAP_LOOKUP_ELEM" : "MAP_UPDATE_ELEM");
        const key = this.memoryAt(v.getBigUint64(8, true)) as Uint8Array;
        const value = this.memoryAt(v.getBigUint64(16, true)) as Uint8Array;
        const index = new DataView(key.buffer, key.byteOffset).getUint32(0, true);
        const element = new Uint8Array(map.data, index * map.stride, map.stride);
        const size = Math.min(value.byteLength, map.stride);
        if (cmd === BpfCommand.MAP_LOOKUP_ELEM) value.set(element.subarray(0, size));
        else element.set(value.subarray(0, size));
        return 0;
      }
    }
    return super.bpf(cmd, attr);
  }

  constructor() {
    super();
    // FakeKernel declares mmap and view without parameters: these take the real ones.
    Object.assign(this, { mmap: this.mapMemory.bind(this), view: (address: bigint) => this.mappings.get(address) as ArrayBuffer });
  }

  private mapMemory(length: number, prot: number, flags: number, fd: number, _offset: number, address?: bigint): bigint {
    if (flags & MAP_FIXED) {
      this.retired.push(address as bigint);
      this.mappings.set(address as bigint, new ArrayBuffer(length)); // zeroed private memory
      return address as bigint;
    }
    const map = this.values.get(fd);
    if (!map || !(map.flags & BPF_F_MMAPABLE)) return -22n;
    this.mmaps.push({ fd, length, prot });
    const a = this.nextMapping;
    this.nextMapping += 0x100000n;
    this.mappings.set(a, map.data);
    return a;
  }

  /** The bytes a program would see in the map of this name. */
  mapBytes(name: string): Uint8Array {
    for (const m of this.values.values()) if (m.name === name.slice(0, 15)) return new Uint8Array(m.data);
    throw new Error(`no map ${name}`);
  }

  flagsOf(name: string): number {
    for (const m of this.values.values()) if (m.name === name.slice(0, 15)) return m.flags;
    throw new Error(`no map ${name}`);
  }
}

const spec = (name: string) => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));
const own = (name: string) => ({ targetBtf: spec(name).btf as Btf });

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});
function fake(): MemoryKernel {
  const k = new MemoryKernel();
  restore = useKernel(k as unknown as Kernel);
  return k;
}

describe("global variables after load", () => {
  it(".data, .bss and .data.* are created BPF_F_MMAPABLE; .rodata is not (frozen, read from one copy)", () => {
    const k = fake();
    using c = Collection.load(spec("globals"), own("globals"));
    for (const name of [".data", ".bss", ".data.custom"]) expect(k.flagsOf(name) & BPF_F_MMAPABLE, name).toBe(BPF_F_MMAPABLE);
    for (const name of [".rodata", ".rodata.custom"]) expect(k.flagsOf(name) & BPF_F_MMAPABLE, name).toBe(0);
    expect(c.map(".bss").mmapable).toBe(true);
    expect(c.map(".rodata").mmapable).toBe(false);
  });

  it("get/set are plain memory accesses: no system call after the first, and the program's memory changes", () => {
    const k = fake();
    using c = Collection.load(spec("globals"), own("globals"));
    const counter = c.variable("counter");
    expect(counter.get()).toBe(42n);
    expect(counter.mapped).toBe(true);
    const hits = c.variable("hits");
    const threshold = c.variable("threshold");
    expect(threshold.get()).toBe(7);
    const before = k.calls.length;
    for (let i = 0; i < 1000; i++) {
      counter.set(BigInt(i));
      expect(counter.get()).toBe(BigInt(i));
      expect(threshold.get()).toBe(7);
    }
    // A "program" writes hits[2]: the view sees it.
    new DataView(k.mapBytes(".bss").buffer).setUint32(hits.offset + 8, 99, true);
    expect(hits.get()).toEqual([0, 0, 99, 0]);
    expect(k.calls.length).toBe(before);
    expect(new DataView(k.mapBytes(".data").buffer).getBigUint64(counter.offset, true)).toBe(999n);
    expect(c.variable("counter")).toBe(counter); // one object per name
  });

  it("typed by BTF: structs, char[] strings, 32- and 64-bit integers; integers are range-checked", () => {
    fake();
    using c = Collection.load(spec("globals"), own("globals"));
    expect(c.variable("cfg").get()).toEqual({ port: 80, mode: 1, pad: [0, 0, 0], limit: 1000n });
    expect(c.variable("banner").get()).toBe("tsebpf");
    expect(c.variable("custom_data").get()).toBe(0xabcd);
    expect(c.variable("file_local").get()).toBe(3);
    const custom = c.variable("custom_data");
    custom.set(0xffffffff);
    expect(custom.get()).toBe(0xffffffff);
    expect(() => custom.set(2 ** 32)).toThrow(VariableError);
    expect(() => custom.set(-1)).toThrow(/value -1 does not fit variable "custom_data" \(0\.\.4294967295\)/);
    expect(() => custom.set(1.5)).toThrow(/1\.5 is not an integer/);
    expect(() => custom.set("7" as never)).toThrow(VariableError);
    expect(custom.get()).toBe(0xffffffff);
    const hits = c.variable<number[]>("hits");
    hits.set([1, 2]);
    expect(hits.get()).toEqual([1, 2, 0, 0]);
  });

  it(".rodata is read-only after load: a ReadOnlyVariableError that says how to set it before load", () => {
    fake();
    using c = Collection.load(spec("globals"), own("globals"));
    const t = c.variable("threshold");
    expect(t.readOnly).toBe(true);
    expect(() => t.set(1)).toThrow(ReadOnlyVariableError);
    expect(() => t.set(1)).toThrow(/^variable "threshold" is in \.rodata, which is frozen after load .*variables: \{ threshold: … \}/);
    expect(() => c.variable("banner").set("x")).toThrow(TsebpfError);
    using c2 = Collection.load(spec("globals"), { ...own("globals"), variables: { threshold: 3 } });
    expect(c2.variable("threshold").get()).toBe(3);
  });

  it("a missing variable is a NotFoundError listing the variables", () => {
    fake();
    using c = Collection.load(spec("globals"), own("globals"));
    expect(() => c.variable("my_pid")).toThrow(NotFoundError);
    expect(() => c.variable("my_pid")).toThrow(/^no variable "my_pid" in this collection \(there are: .*counter.*threshold.*hits/);
  });

  it("where the kernel refuses BPF_F_MMAPABLE: created without it, silently; get is a lookup, set a lookup and an update", () => {
    const k = fake();
    k.refuseMmapable = true;
    using c = Collection.load(spec("globals"), own("globals"));
    expect(k.flagsOf(".bss") & BPF_F_MMAPABLE).toBe(0);
    const counter = c.variable("counter");
    expect(counter.mapped).toBe(false);
    expect(counter.get()).toBe(42n);
    const before = k.calls.length;
    counter.set(5n);
    expect(k.calls.slice(before)).toEqual(["MAP_LOOKUP_ELEM", "MAP_UPDATE_ELEM"]);
    expect(counter.get()).toBe(5n);
    // The other variables of the section are kept.
    expect(c.variable("file_local").get()).toBe(3);
    expect(k.mmaps).toEqual([]);
  });

  it("after close: UseAfterCloseError, the mapping released (replaced in place), every fd closed", () => {
    const k = fake();
    const c = Collection.load(spec("globals"), own("globals"));
    const counter = c.variable("counter");
    const memory = c.map(".data").memory();
    expect(memory.bytes.readBigUInt64LE(counter.offset)).toBe(42n);
    c.close();
    c.close(); // idempotent
    expect(() => counter.get()).toThrow(UseAfterCloseError);
    expect(() => counter.set(1n)).toThrow(UseAfterCloseError);
    expect(() => c.variable("counter")).toThrow(UseAfterCloseError);
    expect(() => c.map(".data").memory()).toThrow(UseAfterCloseError);
    expect(() => memory.element(0)).toThrow(UseAfterCloseError);
    expect(k.retired).toHaveLength(1);
    expect(k.open.size).toBe(0);
  });
});

describe("map.memory()", () => {
  it("a zero-copy view of an mmapable array: element i at i * stride, shared with lookup/update", () => {
    const k = fake();
    using m = BpfMap.create({ name: "arr", type: MapType.ARRAY, keySize: 4, valueSize: 12, maxEntries: 100, flags: BPF_F_MMAPABLE });
    const mem = m.memory();
    expect(mem.stride).toBe(16);
    expect(mem.bytes.byteLength).toBe(1600);
    expect(k.mmaps).toEqual([{ fd: m.fd, length: 4096, prot: 3 }]);
    expect(m.memory()).toBe(mem);
    mem.element(7).writeUInt32LE(0xdeadbeef, 4);
    const key = Buffer.alloc(4);
    key.writeUInt32LE(7);
    expect(m.lookup(key)?.readUInt32LE(4)).toBe(0xdeadbeef);
    m.update(key, Buffer.alloc(12, 1));
    expect(mem.view.getUint32(7 * 16, true)).toBe(0x01010101);
    expect(() => mem.element(100)).toThrow(RangeError);
    expect(() => m.freeze()).toThrow(/cannot freeze a map whose memory is mapped/);
  });

  it("other maps: WrongTypeError saying which maps can be mapped", () => {
    fake();
    using h = BpfMap.create({ name: "h", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(() => h.memory()).toThrow(WrongTypeError);
    expect(() => h.memory()).toThrow(/only arrays created with BPF_F_MMAPABLE/);
    using a = BpfMap.create({ name: "a", type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(() => a.memory()).toThrow(/an array created without BPF_F_MMAPABLE/);
  });
});

describe("attachAll", () => {
  it("programs without an automatic target: one UnattachableError listing them, nothing attached", () => {
    const k = fake();
    using c = Collection.load(spec("attach"), { ...own("attach"), programs: ["on_tracepoint", "drop_all", "on_uprobe"] });
    const before = k.calls.length;
    let err: unknown;
    try {
      c.attachAll();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnattachableError);
    expect((err as UnattachableError).programs.map((s) => s.program)).toEqual(["drop_all", "on_uprobe"]);
    expect((err as Error).message).toMatch(/^cannot attach 2 programs by section name: drop_all \(socket_filter programs are not attached automatically\); on_uprobe \(.*\); attach them yourself, or pass \{ skipUnattachable: true \}$/);
    expect(k.calls.slice(before)).toEqual([]);
  });

  it("with skipUnattachable: the rest attached, skipped listed; the collection's close() detaches them", () => {
    fake();
    const c = Collection.load(spec("attach"), { ...own("attach"), programs: ["drop_all", "on_uprobe"] });
    const links = c.attachAll({ skipUnattachable: true });
    expect(links.size).toBe(0);
    expect(links.skipped.map((s) => s.program)).toEqual(["drop_all", "on_uprobe"]);
    expect(() => links.get("drop_all")).toThrow(/^no attachment "drop_all" \(not attached: socket_filter programs are not attached automatically\)/);
    c.close();
    expect(links.closed).toBe(true);
  });
});
