import { readFileSync, readdirSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { afterAll, expect, it } from "vitest";
import * as asm from "../../src/asm/index.js";
import { MapType, ProgramType, mapTypeName, type MapTypeName } from "../../src/abi/index.js";
import { loadProblems, readCollectionSpec, type ProgramSpec } from "../../src/elf/index.js";
import { kernelBtf } from "../../src/runtime/kernel-btf.js";
import { probeIterator, probeMapType, probeProgramType, probeStructOps, probeTrampoline, type ProbeAnswer, type TrampolineKind } from "../../src/runtime/probe.js";
import { Collection } from "../../src/runtime/collection.js";
import { NotSupportedError } from "../../src/runtime/errors.js";
import { Program } from "../../src/runtime/program.js";
import { VerifierError } from "../../src/runtime/verifier-error.js";
import { bpftoolJson, bpftoolMissing } from "../helpers/bpftool.js";
import { describeKernel } from "../helpers/kernel.js";
import { itWith } from "../helpers/oracle.js";

const fixture = (name: string) => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpfel.o`));
const openFds = () => readdirSync("/proc/self/fd").length;
const PIN_DIR = `/sys/fs/bpf/tsebpf-test-${process.pid}`;

// bpftool names types as the uapi enums do, lower case without the prefix.
const MAP_TYPE_NAMES = new Map(Object.entries(MapType).map(([k, v]) => [v as number, k.toLowerCase()]));
const PROGRAM_TYPE_NAMES = new Map(Object.entries(ProgramType).map(([k, v]) => [v as number, k.toLowerCase()]));
/** Maps without keys to walk (or whose values user space cannot read). */
const UNDUMPABLE: ReadonlySet<number> = new Set([MapType.RINGBUF, MapType.BLOOM_FILTER, MapType.PERF_EVENT_ARRAY]);

/** `bpftool map dump` as key hex -> value hex; per-CPU values as tsebpf lays them out (8-byte slots). */
function bpftoolDump(id: number, perCpu: boolean, valueSize: number): Map<string, string> {
  type Bytes = string[];
  const entries = bpftoolJson<{ key: Bytes; value?: Bytes; values?: { cpu: number; value: Bytes }[] }[]>("map", "dump", "id", String(id));
  const hex = (bytes: Bytes) => bytes.map((b) => b.replace(/^0x/, "").padStart(2, "0")).join("");
  const slot = Math.ceil(valueSize / 8) * 8;
  return new Map(
    entries.map((e) => {
      if (!perCpu) return [hex(e.key), hex(e.value as Bytes)];
      const values = [...(e.values ?? [])].sort((a, b) => a.cpu - b.cpu);
      return [hex(e.key), values.map((v) => hex(v.value).padEnd(slot * 2, "0")).join("")];
    }),
  );
}

/** Entries with distinct bytes in every writable map bpftool can dump (keys and values of their own sizes). */
function fillForOracle(c: Collection): void {
  for (const [, m] of c.maps) {
    if (UNDUMPABLE.has(m.type) || m.name.startsWith(".rodata")) continue;
    if (m.type === MapType.PROG_ARRAY || m.type === MapType.ARRAY_OF_MAPS || m.type === MapType.HASH_OF_MAPS) continue; // filled at load
    for (let i = 0; i < Math.min(3, m.maxEntries); i++) {
      const key = Buffer.alloc(m.keySize);
      if (m.type === MapType.LPM_TRIE) {
        key.writeUInt32LE(24 + i, 0); // prefix length, then the address
        key.writeUInt32BE(0x0a000000 + (i << 8), 4);
      } else {
        key.writeUInt32LE(m.type === MapType.ARRAY ? i : 0x01020300 + i, 0);
      }
      const value = Buffer.alloc(m.userValueSize);
      for (let b = 0; b < value.byteLength; b++) value[b] = (b * 7 + i * 31 + m.keySize) & 0xff;
      m.update(key, value);
    }
  }
}

/**
 * What the probes say about a fixture program: trampoline kinds by their probe (and only when the
 * target is a kernel function: a BPF program as target is attach-replace.test.ts's), iterators by
 * their target's probe, everything else by its program type.
 */
function programAnswer(p: ProgramSpec): ProbeAnswer | "needs-bpf-target" {
  const trampoline = /^(fentry|fexit|fmod_ret|freplace|lsm)/.exec(p.kind.pattern)?.[1] as TrampolineKind | undefined;
  if (trampoline === "freplace") return "needs-bpf-target";
  // Which LSM hooks take sleepable programs is the kernel's own list, not a feature: lsm.s of
  // sections.bpf.c is about section names, and the load of a sleepable hook is not probed here.
  if (trampoline === "lsm" && p.kind.sleepable && probeTrampoline("lsm").supported) return "needs-bpf-target";
  if (trampoline) {
    const target = trampoline === "lsm" ? `bpf_lsm_${p.kind.attachTarget}` : p.kind.attachTarget;
    if (kernelBtf().find(target, "func") === undefined) return "needs-bpf-target";
    return probeTrampoline(trampoline);
  }
  if (p.kind.pattern.startsWith("iter")) return probeIterator(p.kind.attachTarget);
  return probeProgramType(p.kind.programTypeName);
}

describeKernel("Collection.load", () => {
  afterAll(() => rmSync(PIN_DIR, { recursive: true, force: true }));

  // What this kernel build supports comes from the probes, never from one kernel's behaviour:
  // a type the probe says is supported must load; one it says is refused must fail with
  // NotSupportedError naming it. On a kernel with trampolines and arena maps (the Vagrantfile's),
  // the same test loads them; on this machine's build (2026-12-07) it checks the refusals.
  it("loads every fixture: what the probes say is supported loads, what they say is refused fails with NotSupportedError naming it", () => {
    let refusals = 0;
    let loadedOptional = 0;
    for (const f of readdirSync("test/fixtures").filter((x) => x.endsWith(".bpfel.o"))) {
      const spec = readCollectionSpec(readFileSync(`test/fixtures/${f}`));
      // Maps of a type this kernel refuses: the whole load fails naming the type; without them
      // (no program of the fixtures uses one) the rest loads.
      for (const m of [...spec.maps.values()]) {
        // A struct_ops map this kernel cannot register is struct-ops.test.ts's (NotSupportedError there).
        if (m.type === MapType.STRUCT_OPS && !probeStructOps().supported) {
          spec.maps.delete(m.name);
          continue;
        }
        const answer = probeMapType(mapTypeName(m.type) as MapTypeName);
        if (answer.supported) continue;
        expect(() => Collection.load(spec, { programs: [] }), `${f}: map ${m.name}`).toThrow(new RegExp(`map "${m.name}": BPF_MAP_TYPE_${mapTypeName(m.type)} is not supported here`));
        expect(answer.reason, `${f}: map ${m.name}`).toBe("EPERM");
        spec.maps.delete(m.name);
        refusals++;
      }
      const loadable: string[] = [];
      const refused: { name: string; kind: string }[] = [];
      for (const p of spec.programs.values()) {
        // A struct_ops program loads with the struct_ops map that names it (struct-ops.test.ts).
        if (p.kind.programTypeName === "STRUCT_OPS") {
          const named = [...spec.maps.values()].some((m) => m.structOps?.members.some((member) => member.program === p.name));
          if (named && probeStructOps().supported) loadable.push(p.name);
          continue;
        }
        // No type until one is set (sections-wild.test.ts), or a symbol to resolve first (wild-objects.test.ts).
        if (loadProblems(spec, p).length > 0) continue;
        const answer = programAnswer(p);
        if (answer === "needs-bpf-target") continue; // freplace / fentry on a BPF program: attach-replace.test.ts
        if (answer.supported) loadable.push(p.name);
        else refused.push({ name: p.name, kind: p.kind.pattern.replace(/[+/].*$/, "") });
      }
      using c = Collection.load(spec, { programs: loadable });
      expect([...c.programs.keys()].sort(), f).toEqual([...loadable].sort());
      expect([...c.maps.keys()].sort(), f).toEqual([...spec.maps.keys()].sort());
      if (f.startsWith("optional.")) loadedOptional += loadable.length;
      for (const { name, kind } of refused) {
        let error: unknown;
        try {
          Collection.load(spec, { programs: [name] }).close();
        } catch (e) {
          error = e;
        }
        expect(error, `${f}: ${name}`).toBeInstanceOf(NotSupportedError);
        expect((error as Error).message, `${f}: ${name}`).toMatch(new RegExp(`program "${name}" .*${kind.startsWith("iter") ? "iterators over" : "BPF trampoline"}`));
        refusals++;
      }
    }
    // Something of the optional fixture loaded, or was refused: the test asserted on this kernel.
    expect(refusals + loadedOptional).toBeGreaterThan(0);
  });

  itWith(bpftoolMissing)("shows bpftool exactly what tsebpf reports: map shapes and every key/value byte, program names, types and tags", () => {
    for (const name of ["maps", "globals", "legacy"]) {
      using c = Collection.load(fixture(name));
      fillForOracle(c);
      let dumped = 0;
      for (const [mapName, m] of c.maps) {
        const info = m.info();
        const shown = bpftoolJson<{ id: number; name: string; type: string; flags: number; bytes_key: number; bytes_value: number; max_entries: number; frozen: number }>("map", "show", "id", String(info.id));
        expect(shown, `${name}: map ${mapName}`).toMatchObject({
          id: info.id,
          name: mapName.slice(0, 15),
          type: MAP_TYPE_NAMES.get(info.type),
          flags: info.flags,
          bytes_key: info.keySize,
          bytes_value: info.valueSize,
          max_entries: info.maxEntries,
          frozen: mapName.startsWith(".rodata") ? 1 : 0,
        });
        if (UNDUMPABLE.has(info.type)) continue;
        const ours = new Map([...m.entries()].map(([k, v]) => [k.toString("hex"), v.toString("hex")]));
        expect(bpftoolDump(info.id, m.perCpu, info.valueSize), `${name}: dump of ${mapName}`).toEqual(ours);
        if (ours.size > 0) dumped++;
      }
      expect(dumped, `${name}: maps with entries compared`).toBeGreaterThanOrEqual(2);
      for (const [progName, p] of c.programs) {
        const info = p.info();
        const shown = bpftoolJson<{ id: number; name: string; type: string; tag: string; gpl_compatible: boolean; map_ids?: number[] }>("prog", "show", "id", String(info.id));
        expect(shown, `${name}: program ${progName}`).toMatchObject({ id: info.id, name: progName.slice(0, 15), type: PROGRAM_TYPE_NAMES.get(info.type), tag: info.tag, gpl_compatible: info.gplCompatible });
        expect([...(shown.map_ids ?? [])].sort(), `${name}: maps of ${progName}`).toEqual([...info.mapIds].sort());
        expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
      }
    }
  });

  it("reads the running kernel's task_struct through CO-RE, run by BPF_PROG_TEST_RUN", () => {
    using c = Collection.load(fixture("core_run"));
    c.program("core_run").testRun({ context: Buffer.alloc(8) });
    const v = c.map(".bss").lookup(Buffer.alloc(4)) as Buffer;
    expect(v.readInt32LE(0)).toBe(process.pid);
    expect(v.readInt32LE(4)).toBe(process.pid);
    expect(v.readUInt32LE(8)).toBe(0); // the initial PID namespace
    expect(v.readUInt32LE(12)).toBe(16);
    const comm = readFileSync("/proc/thread-self/comm", "utf8").trim();
    expect(v.toString("latin1", 16, 32).replace(/\0.*$/s, "")).toBe(comm);
    expect(v.readUInt32LE(32)).toBe(1);
    expect(v.readUInt32LE(36)).toBe(0);
  });

  it("sets variables before load and runs the program with them", () => {
    const packet = Buffer.alloc(64);
    {
      using c = Collection.load(fixture("globals"));
      expect(c.program("globals").testRun({ data: packet }).returnValue).toBe(2); // XDP_PASS: cfg.port is 80
    }
    const spec = fixture("globals");
    const cfg = Buffer.alloc(16);
    cfg.writeUInt32LE(81, 0);
    using c = Collection.load(spec, { variables: { cfg } });
    expect(c.program("globals").testRun({ data: packet }).returnValue).toBe(1); // XDP_DROP
    // .rodata is frozen: user space can no longer write it.
    expect(() => c.map(".rodata").update(Buffer.alloc(4), Buffer.alloc(24))).toThrow(/EPERM/);
  });

  it("fills prog arrays and map-in-map with their initial values", () => {
    using c = Collection.load(fixture("maps"));
    const key = (k: number) => Buffer.from([k, 0, 0, 0]);
    const id = (buf: Buffer | undefined) => buf?.readUInt32LE(0);
    expect(id(c.map("jump_table").lookup(key(0)))).toBe(c.program("tail_a").info().id);
    expect(id(c.map("jump_table").lookup(key(2)))).toBe(c.program("tail_b").info().id);
    expect(c.map("jump_table").lookup(key(1))).toBeUndefined();
    expect(id(c.map("outer").lookup(key(0)))).toBe(c.map("inner_b").info().id);
  });

  it("pins maps by name and reuses a compatible pin, refuses an incompatible one", () => {
    mkdirSync(PIN_DIR, { recursive: true });
    {
      using c = Collection.load(fixture("maps"), { pinPath: PIN_DIR });
      c.map("pinned_percpu").update(Buffer.alloc(8), Buffer.alloc(c.map("pinned_percpu").userValueSize, 1));
    }
    expect(existsSync(`${PIN_DIR}/pinned_percpu`)).toBe(true);
    {
      using again = Collection.load(fixture("maps"), { pinPath: PIN_DIR });
      expect(again.map("pinned_percpu").lookup(Buffer.alloc(8))?.[0]).toBe(1);
    }
    expect(() => Collection.load(fixture("maps"), { pinPath: PIN_DIR, maxEntries: { pinned_percpu: 65 } })).toThrow(/pinned at .* does not match: max entries is 64, the object wants 65/);
    rmSync(`${PIN_DIR}/pinned_percpu`);
  });

  it("rejects a bad program with a VerifierError that names the instruction, keeping the whole log", () => {
    const bad = asm.encode([asm.ldx("dw", asm.R0, asm.R2, 0), asm.exit()]); // r2 is not initialized
    let err: unknown;
    try {
      Program.load({ name: "bad", type: ProgramType.SOCKET_FILTER, instructions: bad, license: "GPL" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerifierError);
    const v = err as VerifierError;
    expect(v.summary.reason).toMatch(/R2 !read_ok/);
    expect(v.summary.instruction).toMatch(/^0: \(79\) r0 = \*\(u64 \*\)\(r2 \+0\)/);
    expect(v.message).toMatch(/program "bad": verifier rejected it \(EACCES\) at 0: .*R2 !read_ok/);
    expect(v.log).toContain("processed");
  });

  it("leaves the process's open fd count unchanged after 1,000 load/close cycles", () => {
    const spec = fixture("legacy");
    Collection.load(spec).close();
    const before = openFds();
    for (let i = 0; i < 1000; i++) Collection.load(spec).close();
    expect(openFds()).toBe(before);
  });

  it("gives one clear error for a pin path outside bpffs and leaves nothing behind", () => {
    const before = openFds();
    expect(() => Collection.load(fixture("maps"), { pinPath: "/tmp" })).toThrow(/BPF_OBJ_PIN map "pinned_percpu" at \/tmp\/pinned_percpu: EPERM/);
    expect(openFds()).toBe(before);
    expect(existsSync("/tmp/pinned_percpu")).toBe(false);
  });
});
