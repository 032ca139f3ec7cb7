/**
 * test/fixtures/mapkinds.bpf.c in the kernel: every map type that maps.bpf.c does not declare is
 * created with the type, sizes and flags the object gives it, and the programs using them load.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { expect, it } from "vitest";
import { MapType, ProgramType, mapTypeName, type MapTypeName } from "../../src/abi/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { probeMapType } from "../../src/runtime/probe.js";
import { itWith } from "../helpers/oracle.js";
import { bpftoolJson, bpftoolMissing } from "../helpers/bpftool.js";
import { describeKernel } from "../helpers/kernel.js";

const fullSpec = () => readCollectionSpec(readFileSync("test/fixtures/mapkinds.bpfel.o"));
/**
 * The map types of the fixture that this kernel refuses, by the probes (arena on some 6.18 builds):
 * no program of the fixture uses them, so the rest of the object loads without them.
 */
const refusedTypes = () => new Set(Object.values(EXPECTED).map(([type]) => type).filter((type) => !probeMapType(mapTypeName(type) as MapTypeName).supported));
/** The fixture without the maps this kernel refuses. */
const spec = () => {
  const s = fullSpec();
  const refused = refusedTypes();
  for (const m of [...s.maps.values()]) if (refused.has(m.type)) s.maps.delete(m.name);
  return s;
};
/** EXPECTED without the maps this kernel refuses. */
const expected = () => Object.fromEntries(Object.entries(EXPECTED).filter(([, [type]]) => !refusedTypes().has(type)));

const BPF_F_NO_PREALLOC = 1 << 0;
const BPF_F_NO_COMMON_LRU = 1 << 1;
const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_F_WRONLY_PROG = 1 << 8;
const BPF_F_CLONE = 1 << 9;
const BPF_F_MMAPABLE = 1 << 10;

/** What the kernel reports for each map: [type, key size, value size, max entries, flags]. */
const EXPECTED: Record<string, [number, number, number, number, number]> = {
  lru_flows: [MapType.LRU_HASH, 12, 8, 128, BPF_F_NO_COMMON_LRU],
  lru_percpu: [MapType.LRU_PERCPU_HASH, 4, 8, 32, 0],
  percpu_counts: [MapType.PERCPU_ARRAY, 4, 4, 4, 0],
  fifo: [MapType.QUEUE, 0, 8, 16, 0],
  lifo: [MapType.STACK, 0, 4, 8, BPF_F_WRONLY_PROG],
  task_store: [MapType.TASK_STORAGE, 4, 8, 0, BPF_F_NO_PREALLOC],
  inode_store: [MapType.INODE_STORAGE, 4, 4, 0, BPF_F_NO_PREALLOC],
  sk_store: [MapType.SK_STORAGE, 4, 8, 0, BPF_F_NO_PREALLOC | BPF_F_CLONE],
  cgrp_store: [MapType.CGRP_STORAGE, 4, 2, 0, BPF_F_NO_PREALLOC],
  cg_storage: [MapType.CGROUP_STORAGE, 16, 8, 0, 0], // struct bpf_cgroup_storage_key: u64 + u32 + padding
  cg_percpu_storage: [MapType.PERCPU_CGROUP_STORAGE, 8, 4, 0, 0],
  // The kernel makes device maps read-only for programs (their lookups point into the entry).
  devices: [MapType.DEVMAP, 4, 4, 8, BPF_F_RDONLY_PROG],
  devices_hash: [MapType.DEVMAP_HASH, 4, 8, 16, BPF_F_RDONLY_PROG],
  cpus: [MapType.CPUMAP, 4, 8, 4, 0],
  xsks: [MapType.XSKMAP, 4, 4, 4, 0],
  socks: [MapType.SOCKMAP, 4, 4, 4, 0],
  socks_hash: [MapType.SOCKHASH, 12, 8, 64, 0],
  reuseport_socks: [MapType.REUSEPORT_SOCKARRAY, 4, 8, 2, 0],
  stack_traces: [MapType.STACK_TRACE, 4, 127 * 8, 64, 0],
  cgroups: [MapType.CGROUP_ARRAY, 4, 4, 1, 0],
  commands: [MapType.USER_RINGBUF, 0, 0, 8192, 0],
  arena: [MapType.ARENA, 0, 0, 2, BPF_F_MMAPABLE],
};

/** bpftool's name of each type (libbpf's map type names). */
const BPFTOOL_TYPE: Record<number, string> = {
  [MapType.LRU_HASH]: "lru_hash",
  [MapType.LRU_PERCPU_HASH]: "lru_percpu_hash",
  [MapType.PERCPU_ARRAY]: "percpu_array",
  [MapType.QUEUE]: "queue",
  [MapType.STACK]: "stack",
  [MapType.TASK_STORAGE]: "task_storage",
  [MapType.INODE_STORAGE]: "inode_storage",
  [MapType.SK_STORAGE]: "sk_storage",
  [MapType.CGRP_STORAGE]: "cgrp_storage",
  [MapType.CGROUP_STORAGE]: "cgroup_storage",
  [MapType.PERCPU_CGROUP_STORAGE]: "percpu_cgroup_storage",
  [MapType.DEVMAP]: "devmap",
  [MapType.DEVMAP_HASH]: "devmap_hash",
  [MapType.CPUMAP]: "cpumap",
  [MapType.XSKMAP]: "xskmap",
  [MapType.SOCKMAP]: "sockmap",
  [MapType.SOCKHASH]: "sockhash",
  [MapType.REUSEPORT_SOCKARRAY]: "reuseport_sockarray",
  [MapType.STACK_TRACE]: "stack_trace",
  [MapType.CGROUP_ARRAY]: "cgroup_array",
  [MapType.USER_RINGBUF]: "user_ringbuf",
  [MapType.ARENA]: "arena",
};

describeKernel("every map kind in the kernel (mapkinds.bpf.c)", () => {
  it("a map type this kernel refuses (the probes say so) fails the whole load with NotSupportedError naming map and type; one it supports is created", () => {
    for (const [name, [type]] of Object.entries(EXPECTED)) {
      const answer = probeMapType(mapTypeName(type) as MapTypeName);
      if (answer.supported) continue;
      expect(answer.reason, name).toBe("EPERM");
      expect(() => Collection.load(fullSpec(), { programs: [] }), name).toThrow(NotSupportedError);
      expect(() => Collection.load(fullSpec(), { programs: [] }), name).toThrow(new RegExp(`map "${name}": BPF_MAP_TYPE_${mapTypeName(type)} is not supported here: this kernel refuses`));
    }
    // Arena maps either way: created with their flags where supported (checked with the others below).
    if (probeMapType("ARENA").supported) {
      using c = Collection.load(fullSpec(), { programs: [] });
      expect(c.map("arena").info()).toMatchObject({ type: MapType.ARENA, maxEntries: 2, flags: BPF_F_MMAPABLE });
    }
  });

  it("loads the object: every map created as declared, every program verified", () => {
    using c = Collection.load(spec());
    expect([...c.maps.keys()].filter((n) => !n.startsWith(".")).sort()).toEqual(Object.keys(expected()).sort());
    for (const [name, [type, keySize, valueSize, maxEntries, flags]] of Object.entries(expected())) {
      const info = c.map(name).info();
      expect(info, name).toMatchObject({ name: name.slice(0, 15), type, keySize, valueSize, maxEntries, flags });
    }
    const types = Object.fromEntries([...c.programs].map(([n, p]) => [n, p.info().type]));
    expect(types).toEqual({
      xdp_redirect: ProgramType.XDP,
      on_switch: ProgramType.TRACEPOINT,
      msg_verdict: ProgramType.SK_MSG,
      skb_verdict: ProgramType.SK_SKB,
      select_socket: ProgramType.SK_REUSEPORT,
      egress: ProgramType.CGROUP_SKB,
    });
  });

  itWith(bpftoolMissing)("bpftool -j map show id N reports each map as tsebpf created it", () => {
    using c = Collection.load(spec());
    for (const [name, [type, keySize, valueSize, maxEntries, flags]] of Object.entries(expected())) {
      const id = c.map(name).info().id;
      const theirs = bpftoolJson<{ id: number; type: string | number; name: string; flags: number; bytes_key: number; bytes_value: number; max_entries: number }>("map", "show", "id", String(id));
      // A bpftool older than the kernel prints a type it has no name for as its number.
      expect([BPFTOOL_TYPE[type], type], name).toContain(theirs.type);
      expect(theirs, name).toMatchObject({ id, name: name.slice(0, 15), flags, bytes_key: keySize, bytes_value: valueSize, max_entries: maxEntries });
    }
  });

  it("device maps pinned by name are reused by the next load (the kernel's own BPF_F_RDONLY_PROG is not a mismatch)", () => {
    const dir = `/sys/fs/bpf/tsebpf-mapkinds-${process.pid}`;
    mkdirSync(dir, { recursive: true });
    try {
      const pinned = () => {
        const s = spec();
        for (const name of ["devices", "devices_hash"]) {
          const m = s.maps.get(name);
          if (m) m.pinning = "by_name";
        }
        return s;
      };
      using first = Collection.load(pinned(), { pinPath: dir });
      using second = Collection.load(pinned(), { pinPath: dir });
      for (const name of ["devices", "devices_hash"]) {
        expect(second.map(name).info().id, name).toBe(first.map(name).info().id);
        expect(second.map(name).info().flags & BPF_F_RDONLY_PROG, name).toBe(BPF_F_RDONLY_PROG);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
