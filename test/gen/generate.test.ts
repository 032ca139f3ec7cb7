/** `tsebpf gen` on the test fixtures: what the module holds, that it reads what clang wrote, that it compiles. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readCollectionSpec, runtime } from "../../src/index.js";
import { GenError, findNamedType, generateBindings, generateTypes } from "../../src/gen/index.js";
import { importGenerated, SRC_INDEX, type AnyCodec } from "./generated.js";

const fixture = (name: string) => readFileSync(`test/fixtures/${name}.bpfel.o`);
const layouts = (order: "bpfel" | "bpfeb") => readFileSync(`test/gen/fixtures/layouts.${order}.o`);
const gen = (bytes: Uint8Array, options: { types?: string[]; importFrom?: string } = {}) =>
  generateBindings(readCollectionSpec(bytes), { object: { embed: bytes }, importFrom: options.importFrom ?? SRC_INDEX, ...(options.types ? { types: options.types } : {}) });

describe("tsebpf gen: the module", () => {
  it("names every program, map and variable of an object, with types for keys, values and variables", () => {
    const maps = gen(fixture("maps"));
    expect(maps).toContain('export type ProgramName = "tail_a" | "tail_b" | "use_maps";');
    expect(maps).toContain("export interface Value {\n  /** __u64 at byte 0 */\n  packets: bigint;\n  /** __u64 at byte 8 */\n  bytes: bigint;\n}");
    expect(maps).toContain("export interface LpmKey {");
    expect(maps).toContain("readonly hash_typed: runtime.TypedMap<number, Value>;");
    expect(maps).toContain("readonly lpm: runtime.TypedMap<LpmKey, number>;");
    // Fds and event streams have no typed view.
    expect(maps).not.toMatch(/readonly (jump_table|outer|events|perf_events): runtime\.TypedMap/);
    const globals = gen(fixture("globals"));
    expect(globals).toMatch(/export interface VariableValues \{[^}]*counter: bigint;[^}]*cfg: Config;[^}]*banner: string;[^}]*hits: number\[\];/s);
    expect(globals).toContain("readonly threshold: ConstVariable<number>;");
    expect(globals).toContain("readonly counter: Variable<bigint>;");
    expect(globals).toContain('readonly ".rodata": BpfMap;');
    const events = gen(fixture("events"));
    expect(events).toContain('export type MapName = "ringbuf" | "perf" | ".data" | ".bss";');
    // struct event is only a local variable's type: not in BTF unless kept.
    expect(() => gen(fixture("events"), { types: ["event"] })).toThrow(GenError);
  });

  it("a --type that is not in BTF says how to keep it", () => {
    const spec = readCollectionSpec(fixture("events"));
    expect(() => findNamedType(spec.btf, "struct missing")).toThrow(/not in the object's BTF.*struct missing \*unused_missing __attribute__\(\(unused\)\);.*const struct missing \*unused = 0;/);
    expect(() => findNamedType(spec.btf, "enum nope")).toThrow(/enum nope \*unused_nope/);
    expect(() => findNamedType(spec.btf, "not a name!")).toThrow(/not a C type name/);
    expect(findNamedType(readCollectionSpec(layouts("bpfel")).btf, "record_t")).toBeGreaterThan(0);
  });

  it("gives types names TypeScript has not taken (a union called number is not Number)", () => {
    const text = generateTypes(readCollectionSpec(layouts("bpfel")).btf as never, ["record_t"]);
    expect(text).toContain("export interface NumberUnion {");
    expect(text).toContain("export interface RecordT {");
    expect(text).toContain("export const Color = {\n  RED: 1,\n  GREEN: 2,\n  BLUE: 4,\n} as const;");
    expect(text).toContain("export const Wide = {\n  SMALL: 1n,\n  HUGE: 81985529216486895n,\n} as const;");
    expect(text).toContain("export type Color = (typeof Color)[keyof typeof Color];");
  });

  for (const order of ["bpfel", "bpfeb"] as const) {
    it(`reads what clang wrote (${order}): bitfields, unions, anonymous members, nested arrays, enums, text, 128-bit; writes the same bytes back`, async () => {
      const bytes = layouts(order);
      const spec = readCollectionSpec(bytes);
      const mod = await importGenerated<Record<string, AnyCodec>>(gen(bytes));
      const codec = mod.RecordTCodec as AnyCodec;
      const v = spec.variables.get("record");
      const data = spec.maps.get(v?.map ?? "")?.data as Uint8Array;
      const record = codec.decode(data, v?.offset) as Record<string, unknown>;
      const le = order === "bpfel";
      expect(record).toEqual({
        kind: 7,
        count: 0xdeadbeef,
        name: "hello",
        path: [0, 1].map((i) => [1, 2, 3].map((j) => ({ x: 3 * i + j, y: -(3 * i + j) }))),
        id: 0x1122334455667788n,
        lo: le ? 0x55667788 : 0x11223344,
        hi: le ? 0x11223344 : 0x55667788,
        inner: { port: 8080, proto: 17 },
        color: 4,
        delta: -1,
        wide: 0x123456789abcdefn,
        flag: true,
        small: -5,
        ptr: 0n,
        big: (0x0102030405060708n << 64n) | 0x1112131415161718n,
        neg: -1234567890123n,
        num: { word: 0x01020304, bytes: Uint8Array.from(le ? [4, 3, 2, 1] : [1, 2, 3, 4]), halves: le ? [0x0304, 0x0102] : [0x0102, 0x0304] },
        bits: { a: 5, b: -7, c: 0xabc, d: 0x98765, e: 0x123456789an, f: -1000000n, g: true, h: 2, tail: 0x5a },
      });
      const out = new Uint8Array(codec.size);
      codec.encode(record, out);
      expect(Buffer.from(out).equals(Buffer.from(data.subarray(v?.offset ?? 0, (v?.offset ?? 0) + codec.size)))).toBe(true);
      // Extremes of each bitfield: all ones, a signed one at -1.
      const lone = spec.variables.get("lone_bits");
      const bitsCodec = mod.BitsCodec as AnyCodec;
      expect(bitsCodec.decode(data, lone?.offset)).toEqual({ a: 1, b: 15, c: 1, d: 0xfffff, e: 0xffffffffffn, f: -1n, g: false, h: 1, tail: 1 });
      expect(bitsCodec.fields).toMatchObject({ a: { bits: 3 }, d: { bits: 20 }, tail: { offset: 17, size: 1 } });
      // The same through a view: members read in place, nested structs and arrays as views.
      const view = (codec as AnyCodec & { view(b: Uint8Array, o?: number): Record<string, never> }).view(data, v?.offset) as unknown as {
        name: string; id: bigint; lo: number; big: bigint; flag: boolean; delta: number;
        path: { length: number; get(i: number): { get(j: number): { x: number; y: number } } };
        inner: { port: number }; num: { bytes: Uint8Array; halves: { get(i: number): number; toArray(): number[] } };
        bits: { b: number; e: bigint; g: boolean }; toObject(): unknown;
      };
      expect([view.name, view.id, view.lo, view.big, view.flag, view.delta]).toEqual([record.name, record.id, record.lo, record.big, true, -1]);
      expect([view.path.length, view.path.get(1).get(2).x, view.path.get(1).get(2).y, view.inner.port]).toEqual([2, 6, -6, 8080]);
      expect([view.num.bytes, view.num.halves.get(1), view.num.halves.toArray()]).toEqual([(record.num as { bytes: Uint8Array }).bytes, le ? 0x0102 : 0x0304, le ? [0x0304, 0x0102] : [0x0102, 0x0304]]);
      expect([view.bits.b, view.bits.e, view.bits.g]).toEqual([-7, 0x123456789an, true]);
      expect(view.toObject()).toEqual(record);
    });
  }

  it("codec errors name the type, the field and the sizes", async () => {
    const mod = await importGenerated<Record<string, AnyCodec>>(gen(layouts("bpfel")));
    const bits = mod.BitsCodec as AnyCodec;
    expect(() => bits.decode(new Uint8Array(10))).toThrow(runtime.CodecError);
    expect(() => bits.decode(new Uint8Array(10))).toThrow("struct bits: needs 24 bytes at offset 0, the buffer has 10");
    expect(() => bits.decode(new Uint8Array(28), 5)).toThrow(/at offset 5/);
    const value = { a: 8, b: 0, c: 0, d: 0, e: 0n, f: 0n, g: false, h: 1, tail: 0 };
    expect(() => bits.encode(value, new Uint8Array(24))).toThrow("struct bits.a (3-bit field): 8 is not an integer in 0..7");
    expect(() => bits.encode({ ...value, a: 0, b: -17 }, new Uint8Array(24))).toThrow(/struct bits\.b \(5-bit field\): -17 is not an integer in -16\.\.15/);
    const record = mod.RecordTCodec as AnyCodec;
    const r = record.decode(new Uint8Array(record.size)) as Record<string, unknown>;
    expect(() => record.encode({ ...r, name: "far too long a name" }, new Uint8Array(record.size))).toThrow(/record_t\.name: a string of 19 characters does not fit char\[12\]/);
    expect(() => record.encode({ ...r, count: -1 }, new Uint8Array(record.size))).toThrow(/record_t\.count: -1 is not an integer in 0\.\.4294967295/);
    expect(() => record.encode({ ...r, path: [[], [], []] }, new Uint8Array(record.size))).toThrow(/record_t\.path: expected an array of at most 2/);
    // An encode clears the record first: no stale padding.
    const out = new Uint8Array(record.size).fill(0xff);
    record.encode(r, out);
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it("compiles under strict, module nodenext (embedded and by path, every fixture)", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-gen-tsc-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noUncheckedIndexedAccess: true,
          noUnusedLocals: true,
          noUnusedParameters: true,
          exactOptionalPropertyTypes: true,
          noImplicitReturns: true,
          noPropertyAccessFromIndexSignature: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
          typeRoots: [resolve("node_modules/@types")],
          paths: { tsebpf: [resolve("src/index.ts")] },
        },
        include: ["gen/*.ts"],
      }),
    );
    mkdirSync(join(dir, "gen"));
    const objects = ["attach", "events", "globals", "maps", "externs", "mapkinds", "core", "sections"].map((f) => [f, `test/fixtures/${f}.bpfel.o`] as const);
    for (const [name, path] of [...objects, ["layouts", "test/gen/fixtures/layouts.bpfeb.o"] as const, ["loadbalancer", "src/programs/loadbalancer/loadbalancer.bpf.o"] as const]) {
      const bytes = readFileSync(path);
      const spec = readCollectionSpec(bytes);
      writeFileSync(join(dir, "gen", `${name}.ts`), generateBindings(spec, { object: { embed: bytes }, source: name }));
      writeFileSync(join(dir, "gen", `${name}-path.ts`), generateBindings(spec, { object: { path: `../objects/${name}.o` } }));
    }
    writeFileSync(join(dir, "gen", "types.ts"), generateTypes(readCollectionSpec(layouts("bpfel")).btf as never, ["record_t", "struct bits", "enum delta"]));
    // A user of the bindings: typos in names are compile errors, options and results are typed.
    writeFileSync(
      join(dir, "gen", "use.ts"),
      `import { load, FlowEventCodec, FlowEventView, type FlowEvent } from "./loadbalancer.js";
import { load as loadGlobals, ConfigCodec } from "./globals.js";
import { RecordTView } from "./layouts.js";
import { runtime } from "tsebpf";
export function views(buf: Uint8Array, ring: runtime.RingBufferReader): number {
  const e = FlowEventCodec.view(buf, 0);
  const ns: bigint = e.ns;
  const src: number = e.src.get(3) + e.src.length + e.src.toArray().length;
  const r = new RecordTView(buf);
  const y: number = r.path.get(1).get(2).y + r.inner.port + r.num.halves.get(0);
  const name: string = r.name;
  // @ts-expect-error views are read-only
  e.backend = 1;
  const copy: FlowEvent = e.toObject();
  let n = ring.consume((ev, record) => {
    const b: number = ev.backend + record.length;
    void b;
  }, { view: FlowEventView, limit: 10 });
  // @ts-expect-error not a member
  ring.consume((ev) => ev.backnd, { view: FlowEventView });
  void ring.on((ev) => void ev.sport, { view: FlowEventView, signal: AbortSignal.timeout(1) });
  void (async () => {
    for await (const ev of ring.records({ view: FlowEventView })) n += ev.family;
  })();
  return Number(ns) + src + y + name.length + copy.sport + n + FlowEventView.size;
}
export function use(buf: Uint8Array): bigint {
  using lb = load({ variables: { maglev_size: 251, if_mac: new Uint8Array(6), vip6: [0, 0, 0, 1] }, maxEntries: { conntrack: 10 } });
  lb.programs.xdp_loadbalancer.fd;
  lb.maps.flows.fd;
  const slot = lb.typedMaps.maglev.get(0);
  const ns: bigint = FlowEventCodec.decode(buf).ns;
  const e: FlowEvent = FlowEventCodec.decode(new DataView(buf.buffer), 0);
  const g = loadGlobals({ programs: ["globals"], variables: { cfg: { port: 1, mode: 2, pad: new Uint8Array(3), limit: 5n }, banner: "hi" } });
  g.variables.counter.set(g.variables.counter.get() + 1n);
  const port: number = g.variables.cfg.get().port;
  g.close();
  // @ts-expect-error a typo in a program name
  lb.programs.xdp_loadbalancr;
  // @ts-expect-error a typo in a variable name
  load({ variables: { maglev_sise: 1 } });
  // @ts-expect-error a 64-bit value is a bigint
  load({ variables: { sample_flows: 1n } });
  // @ts-expect-error .rodata is constant after load
  lb.variables.sample_flows.set(2);
  // @ts-expect-error not a map
  lb.maps.flow;
  return ns + BigInt(e.backend + port + (slot?.id ?? 0) + ConfigCodec.fields.limit.offset);
}
`,
    );
    const r = spawnSync(process.execPath, [resolve("node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
    const ours = r.stdout.split("\n").filter((l) => l.startsWith("gen/"));
    expect(ours).toEqual([]);
  }, 120_000);
});
