/**
 * Range checks at the kernel boundary: every integer written into a kernel structure (bpf_attr,
 * perf_event_attr, bpf_*_info, netlink attributes) or passed as a libc argument must fit its C
 * type, else AttrRangeError naming the field and the value — never a silent truncation.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { Layouts, MapType } from "../../src/abi/index.js";
import { Btf, skipModifiers } from "../../src/btf/index.js";
import { TsebpfError } from "../../src/errors.js";
import { AttrRangeError as PublicAttrRangeError, runtime } from "../../src/index.js";
import { BpfMap } from "../../src/runtime/map.js";
import {
  AttrRangeError,
  SIGNED_FIELDS,
  Struct,
  fitsInt,
  mapCreate,
  realKernel,
  structName,
  useKernel,
  type IntType,
  type LayoutName,
} from "../../src/syscall/index.js";
import { encodeAttrs, nla } from "../../src/syscall/netlink-attrs.js";
import { FakeKernel } from "../helpers/fake-kernel.js";
import { describeWith, vmlinuxMissing } from "../helpers/oracle.js";
import { assertProperty } from "../helpers/property.js";

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const BOUNDS: Record<IntType, readonly [bigint, bigint]> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffffffffn],
  s32: [-(2n ** 31n), 2n ** 31n - 1n],
  u64: [0n, 2n ** 64n - 1n],
  s64: [-(2n ** 63n), 2n ** 63n - 1n],
};

interface IntField {
  readonly layout: LayoutName;
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly type: IntType;
}

/** Every integer (non-bitfield, 1/2/4/8-byte) field of every generated layout. */
const INT_FIELDS: IntField[] = Object.entries(Layouts).flatMap(([layout, l]) =>
  Object.entries(l.fields as Record<string, readonly number[]>).flatMap(([name, f]) => {
    const [offset, size] = f as [number, number];
    if (f.length > 2 || ![1, 2, 4, 8].includes(size)) return [];
    const signed = ((SIGNED_FIELDS as Record<string, readonly string[] | undefined>)[layout] ?? []).includes(name);
    const type: IntType = size === 8 ? (signed ? "s64" : "u64") : size === 4 ? (signed ? "s32" : "u32") : size === 2 ? "u16" : "u8";
    return [{ layout: layout as LayoutName, name, offset, size, type }];
  }),
);

/** Every bitfield of every layout. */
const BIT_FIELDS = Object.entries(Layouts).flatMap(([layout, l]) =>
  Object.entries(l.fields as Record<string, readonly number[]>)
    .filter(([, f]) => f.length > 2)
    .map(([name, f]) => ({ layout: layout as LayoutName, name, bits: f[3] as number })),
);

const anyStruct = (layout: LayoutName) => new Struct(layout) as Struct<LayoutName> & { set(name: string, v: number | bigint): unknown; setU32(name: string, v: number): unknown; setBits(name: string, v: number): unknown; get(name: string): number | bigint; getBits(name: string): number };

const intField = fc.constantFrom(...INT_FIELDS);

/** Values no field of `type` can hold: out of range (as numbers and bigints), fractions, NaN, ±Infinity, unsafe numbers. */
function outOfRange(type: IntType): fc.Arbitrary<number | bigint> {
  const [min, max] = BOUNDS[type];
  const bigOut = fc.oneof(fc.bigInt({ min: max + 1n, max: max + 2n ** 70n }), fc.bigInt({ min: min - 2n ** 70n, max: min - 1n }));
  const numOut = bigOut.map(Number).filter((n) => Number.isSafeInteger(n) ? BigInt(n) > max || BigInt(n) < min : true);
  return fc.oneof(
    bigOut,
    numOut,
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).filter((d) => !Number.isInteger(d)),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, -(2 ** 53), 2 ** 64, 0.5, -0.5, 1.7),
  );
}

/** Values a field of `type` holds: numbers (safe integers) and bigints. */
function inRange(type: IntType): fc.Arbitrary<number | bigint> {
  const [min, max] = BOUNDS[type];
  const big = fc.oneof(fc.bigInt({ min, max }), fc.constantFrom(min, max, 0n));
  const safeMin = min < -(2n ** 53n) + 1n ? -(2n ** 53n) + 1n : min;
  const safeMax = max > 2n ** 53n - 1n ? 2n ** 53n - 1n : max;
  return fc.oneof(big, fc.bigInt({ min: safeMin, max: safeMax }).map(Number), fc.constantFrom(Number(safeMin), Number(safeMax), 0));
}

/** The bytes a value of `size` takes in host order (two's complement). */
function expectedBytes(value: number | bigint, size: number): Uint8Array {
  const v = BigInt.asUintN(size * 8, BigInt(value));
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[LE ? i : size - 1 - i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

describe("Struct: integer fields checked against their C types", () => {
  it("covers every layout's integer fields (sanity of the test's own table)", () => {
    expect(INT_FIELDS.length).toBeGreaterThan(200);
    expect(INT_FIELDS.find((f) => f.layout === "AttrMapCreate" && f.name === "max_entries")?.type).toBe("u32");
    expect(INT_FIELDS.find((f) => f.layout === "AttrMapCreate" && f.name === "map_token_fd")?.type).toBe("s32");
    expect(INT_FIELDS.find((f) => f.layout === "PerfEventAttr" && f.name === "config")?.type).toBe("u64");
  });

  it("any out-of-range or non-integer value for any field is an AttrRangeError naming the field and the value; nothing is written", () => {
    assertProperty(
      fc.property(intField.chain((f) => fc.tuple(fc.constant(f), outOfRange(f.type))), ([f, value]) => {
        const s = anyStruct(f.layout);
        let error: unknown;
        try {
          s.set(f.name, value);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(AttrRangeError);
        expect(error).toBeInstanceOf(TsebpfError);
        const e = error as AttrRangeError;
        expect(e).toMatchObject({ struct: structName(f.layout), field: f.name, type: f.type });
        expect(Object.is(e.value, value)).toBe(true);
        expect(e.message).toContain(`${structName(f.layout)} ${f.name}: `);
        expect(e.message).toContain(typeof value === "bigint" ? `${value}n` : String(value));
        expect(e.message).toMatch(new RegExp(`(does not fit in |is not an integer \\()${f.type}\\b`));
        expect(s.buf.every((b) => b === 0)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("in-range values round-trip into the bytes, at the field's offset, touching nothing else", () => {
    assertProperty(
      fc.property(intField.chain((f) => fc.tuple(fc.constant(f), inRange(f.type))), ([f, value]) => {
        const s = anyStruct(f.layout);
        s.buf.fill(0xa5);
        s.set(f.name, value);
        expect([...s.buf.subarray(f.offset, f.offset + f.size)]).toEqual([...expectedBytes(value, f.size)]);
        const untouched = Buffer.concat([s.buf.subarray(0, f.offset), s.buf.subarray(f.offset + f.size)]);
        expect(untouched.every((b) => b === 0xa5)).toBe(true);
        const got = s.get(f.name);
        expect(BigInt(got)).toBe(BigInt(value));
      }),
      { numRuns: 2000 },
    );
  });

  it("setU32 takes exactly the u32s (s32s for a signed 4-byte field), into 4- and 8-byte fields", () => {
    const wide = INT_FIELDS.filter((f) => f.size >= 4);
    assertProperty(
      fc.property(fc.constantFrom(...wide), fc.oneof(fc.integer({ min: -(2 ** 33), max: 2 ** 33 }), fc.double({ noNaN: false })), (f, value) => {
        const s = anyStruct(f.layout);
        const type = f.type === "s32" ? "s32" : "u32";
        if (fitsInt(value, type)) {
          s.setU32(f.name, value);
          expect([...s.buf.subarray(f.offset, f.offset + f.size)]).toEqual([...expectedBytes(f.size === 8 ? value >>> 0 : value, f.size)]);
        } else {
          expect(() => s.setU32(f.name, value)).toThrow(AttrRangeError);
          expect(s.buf.every((b) => b === 0)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("bitfields take values of their width only", () => {
    assertProperty(
      fc.property(fc.constantFrom(...BIT_FIELDS), fc.oneof(fc.integer({ min: -4, max: 2 ** 33 }), fc.constantFrom(0.5, Number.NaN)), (f, value) => {
        const s = anyStruct(f.layout);
        if (Number.isInteger(value) && value >= 0 && value < 2 ** f.bits) {
          s.setBits(f.name, value);
          expect(s.getBits(f.name)).toBe(value);
        } else {
          expect(() => s.setBits(f.name, value)).toThrow(new RegExp(`${structName(f.layout)} ${f.name}: .*u${f.bits}\\b`));
          expect(s.buf.every((b) => b === 0)).toBe(true);
        }
      }),
    );
  });

  it("messages read as the issue asks, with the object when the command knows it", () => {
    const s = new Struct("AttrMapCreate");
    expect(() => s.set("max_entries", 2 ** 32 + 4)).toThrow("bpf_attr max_entries: 4294967300 does not fit in u32");
    expect(() => s.set("max_entries", 1.7)).toThrow("bpf_attr max_entries: 1.7 is not an integer (u32)");
    expect(() => s.set("max_entries", -1)).toThrow("bpf_attr max_entries: -1 does not fit in u32");
    expect(() => s.set("map_extra", -1n)).toThrow("bpf_attr map_extra: -1n does not fit in u64");
    expect(() => s.about('map "x"').set("key_size", 2 ** 53)).toThrow('map "x": bpf_attr key_size: 9007199254740992 does not fit in u32');
    expect(() => new Struct("PerfEventAttr").set("sample_period", 2 ** 64)).toThrow(/perf_event_attr sample_period: 18446744073709552000 does not fit in u64/);
    expect(() => new Struct("PerfEventAttr").setBits("disabled", 2)).toThrow("perf_event_attr disabled: 2 does not fit in u1");
    expect(() => new Struct("AttrMapCreate").set("no_such_field" as never, 1)).toThrow(TypeError);
    expect(() => new Struct("AttrMapCreate").set("map_name", 1)).toThrow(/16 bytes, not a number/);
  });

  it("is exported through the public API and the runtime namespace", () => {
    expect(PublicAttrRangeError).toBe(AttrRangeError);
    expect(runtime.AttrRangeError).toBe(AttrRangeError);
  });
});

describe("commands refuse before calling the kernel", () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  it.each([2 ** 32 + 4, 1.7, -1, Number.NaN])("BpfMap.create({ maxEntries: %s }) throws AttrRangeError and makes no system call", (maxEntries) => {
    const fake = new FakeKernel();
    restore = useKernel(fake);
    expect(() => BpfMap.create({ name: "ranged", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries })).toThrow(AttrRangeError);
    expect(() => mapCreate({ name: "ranged", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries })).toThrow(/^map "ranged": bpf_attr max_entries: /);
    expect(fake.calls).toEqual([]);
  });

  it("every option of mapCreate is checked", () => {
    const fake = new FakeKernel();
    restore = useKernel(fake);
    const base = { name: "ranged", type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 1 };
    for (const [option, field] of [
      ["type", "map_type"],
      ["keySize", "key_size"],
      ["valueSize", "value_size"],
      ["flags", "map_flags"],
      ["innerMapFd", "inner_map_fd"],
      ["numaNode", "numa_node"],
      ["btfFd", "btf_fd"],
      ["btfKeyTypeId", "btf_key_type_id"],
      ["btfValueTypeId", "btf_value_type_id"],
      ["ifindex", "map_ifindex"],
    ] as const) {
      expect(() => mapCreate({ ...base, [option]: 2 ** 32 })).toThrow(`bpf_attr ${field}: 4294967296 does not fit in u32`);
    }
    expect(() => mapCreate({ ...base, mapExtra: 2n ** 64n })).toThrow("bpf_attr map_extra: 18446744073709551616n does not fit in u64");
    expect(fake.calls).toEqual([]);
    mapCreate(base);
    expect(fake.calls).toEqual(["MAP_CREATE"]);
  });
});

describe("libc arguments and netlink attributes", () => {
  it("the real kernel refuses arguments koffi would truncate, before calling", () => {
    expect(() => realKernel.close(2 ** 32 + 4)).toThrow("close fd: 4294967300 does not fit in s32");
    expect(() => realKernel.perfEventOpen(new Uint8Array(128), -1, 1.5, -1, 0)).toThrow("perf_event_open cpu: 1.5 is not an integer (s32)");
    expect(() => realKernel.perfEventOpen(new Uint8Array(128), -1, 0, -1, -8)).toThrow("perf_event_open flags: -8 does not fit in u64");
    expect(() => realKernel.mmap(4096, 1, 1, 2 ** 31, 0)).toThrow("mmap fd: 2147483648 does not fit in s32");
    expect(() => realKernel.ioctl(3, -1, 0)).toThrow("ioctl request: -1 does not fit in u64");
    expect(() => realKernel.epollCtl(3, 1, 4, 2 ** 32)).toThrow("epoll_ctl events: 4294967296 does not fit in u32");
    expect(() => realKernel.epollCtl(3, 1, 4, 0.5)).toThrow("epoll_ctl events: 0.5 is not an integer (u32)");
    expect(() => realKernel.bpf(0, new Uint8Array(8), -8)).toThrow(AttrRangeError);
  });

  it("netlink scalars fit their types", () => {
    const cases: Array<[() => unknown, string]> = [
      [() => nla.u8(1, 256), "nlattr type 1: 256 does not fit in u8"],
      [() => nla.u16(2, -1), "nlattr type 2: -1 does not fit in u16"],
      [() => nla.u32(3, 2 ** 32 + 4), "nlattr type 3: 4294967300 does not fit in u32"],
      [() => nla.s32(4, 2 ** 31), "nlattr type 4: 2147483648 does not fit in s32"],
      [() => nla.u64(5, -1n), "nlattr type 5: -1n does not fit in u64"],
      [() => nla.be16(6, 1.5), "nlattr type 6: 1.5 is not an integer (u16)"],
      [() => nla.be32(7, Number.NaN), "nlattr type 7: NaN is not an integer (u32)"],
      [() => nla.u32(0x10000, 1), "nlattr type: 65536 does not fit in u16"],
      [() => encodeAttrs([{ type: -1, payload: new Uint8Array(0) }]), "nlattr type: -1 does not fit in u16"],
    ];
    for (const [f, message] of cases) expect(f).toThrow(message);
    expect([...encodeAttrs([nla.s32(1, -1), nla.u32(2, 0xffffffff)]).subarray(4, 8)]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });
});

describeWith(vmlinuxMissing)("SIGNED_FIELDS against the running kernel's BTF", () => {
  it("lists exactly the signed integer fields of the layouts", () => {
    const btf = new Btf(readFileSync("/sys/kernel/btf/vmlinux"));
    /** Every named field (flattened like gen-abi: anonymous members inlined, `a.b` for named ones) with its offset and signedness. */
    const flatten = (id: number, base: number, out: Map<string, { offset: number; signed: boolean }>, prefix = ""): void => {
      const t = btf.type(skipModifiers(btf, id));
      if (t?.kind !== "struct" && t?.kind !== "union") return;
      for (const m of t.members) {
        const bit = base * 8 + m.bitOffset;
        if (!m.name) {
          flatten(m.type, bit / 8, out, prefix);
          continue;
        }
        const key = prefix + m.name;
        if (out.has(key)) continue;
        let resolved = btf.type(skipModifiers(btf, m.type));
        while (resolved?.kind === "typedef") resolved = btf.type(skipModifiers(btf, resolved.type));
        out.set(key, { offset: bit / 8, signed: resolved?.kind === "int" ? resolved.signed : resolved?.kind === "enum" ? Boolean((resolved as { signed?: boolean }).signed) : false });
        flatten(m.type, bit / 8, out, `${key}.`);
      }
    };
    const candidates: Map<string, { offset: number; signed: boolean }>[] = [];
    const attrId = btf.find("bpf_attr", "union") as number;
    const attr = btf.type(attrId);
    if (attr?.kind !== "union") throw new Error("no union bpf_attr");
    for (const m of attr.members) {
      const fields = new Map<string, { offset: number; signed: boolean }>();
      flatten(m.type, 0, fields);
      candidates.push(fields);
    }
    const structs: Record<string, string> = { BpfProgInfo: "bpf_prog_info", BpfMapInfo: "bpf_map_info", BpfBtfInfo: "bpf_btf_info", BpfLinkInfo: "bpf_link_info", PerfEventAttr: "perf_event_attr", BpfFuncInfo: "bpf_func_info", BpfLineInfo: "bpf_line_info" };
    const actual: Record<string, string[]> = {};
    for (const [layout, l] of Object.entries(Layouts)) {
      const names = Object.keys(l.fields);
      let fields: Map<string, { offset: number; signed: boolean }> | undefined;
      if (structs[layout]) {
        fields = new Map();
        flatten(btf.find(structs[layout] as string, "struct") as number, 0, fields);
      } else {
        // The bpf_attr member whose fields are exactly the layout's.
        fields = candidates.find((c) => c.size === names.length && names.every((n) => c.get(n)?.offset === (l.fields as Record<string, readonly number[]>)[n]?.[0]));
      }
      expect(fields, `${layout} found in BTF`).toBeDefined();
      const signed = names.filter((n) => fields?.get(n)?.signed && INT_FIELDS.some((f) => f.layout === layout && f.name === n));
      if (signed.length) actual[layout] = signed;
    }
    const listed = Object.fromEntries(Object.entries(SIGNED_FIELDS).map(([k, v]) => [k, [...(v ?? [])]]));
    expect(listed).toEqual(actual);
  });
});
