/**
 * dumpC: BTF → C header. Hand-built BTFs with the exact text expected, every header compiled
 * by clang-19 for the BPF target with offsets and sizes checked against the BTF by
 * `_Static_assert`; and the running kernel's BTF dumped, compiled, layout-checked and compared
 * with what bpftool prints.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dumpC } from "../../src/btf/dump-c.js";
import { memberPlacement } from "../../src/btf/dump-c-layout.js";
import { Btf, marshalBtf, skipModifiers, type BtfComposite, type BtfMember, type BtfType } from "../../src/btf/index.js";
import { bpftool, bpftoolMissing } from "../helpers/bpftool.js";
import { clang } from "../helpers/llvm.js";
import { describeWith, itWith } from "../helpers/oracle.js";

const clangMissing = clang ? undefined : "clang-19 is not installed";
const VMLINUX = "/sys/kernel/btf/vmlinux";
const vmlinuxMissing = existsSync(VMLINUX) ? undefined : `${VMLINUX} is missing`;

const dir = mkdtempSync(join(tmpdir(), "tsebpf-dump-c-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Compiles `program`, after an #include of `header`, for BPF with clang-19: whether it did and what clang said. */
function compile(header: string, program: string, flags: string[] = ["-Wall", "-Wextra", "-Werror"]): { ok: boolean; stderr: string } {
  const n = files++;
  writeFileSync(join(dir, `h${n}.h`), header);
  writeFileSync(join(dir, `p${n}.c`), `#include "h${n}.h"\n${program}`);
  const r = spawnSync(clang as string, ["-target", "bpf", "-O2", "-g", ...flags, "-c", join(dir, `p${n}.c`), "-o", join(dir, `p${n}.o`)], {
    encoding: "utf8",
  });
  return { ok: r.status === 0, stderr: r.stderr };
}

/**
 * `_Static_assert`s that the C type `spelled` has the BTF size of `id`, and each named member that
 * is not a bitfield (members of anonymous records included) the BTF offset.
 */
function layoutAsserts(btf: Btf, id: number, spelled: string): string[] {
  const t = btf.mustType(id);
  if (t.kind !== "struct" && t.kind !== "union") return [];
  const out = [`_Static_assert(sizeof(${spelled}) == ${t.size}, "sizeof(${spelled})");`];
  const walk = (record: BtfComposite, base: number) => {
    for (const m of record.members) {
      if (memberPlacement(btf, record, m).bits !== 0) continue;
      if (m.name !== "") {
        out.push(`_Static_assert(__builtin_offsetof(${spelled}, ${m.name}) == ${(base + m.bitOffset) / 8}, "${spelled}.${m.name}");`);
        continue;
      }
      const inner = btf.type(m.type);
      if (inner && (inner.kind === "struct" || inner.kind === "union") && inner.name === "") walk(inner, base + m.bitOffset);
    }
  };
  walk(t, 0);
  return out;
}

/** The declarations of a dumped header, without the guard, pragma and macro lines around them. */
function body(header: string): string {
  return header
    .replace(/^#ifndef \w+\n#define \w+\n\n/, "")
    .replace(/^#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push [^\n]*\n#endif\n\n/, "")
    .replace(/^#ifdef __has_attribute\n[^]*?#ifndef __tsebpf_type_tag\n#define __tsebpf_type_tag\(x\)\n#endif\n\n/, "")
    .replace(/(#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n)?(#undef __tsebpf_type_tag\n\n)?#endif \/\* \w+ \*\/\n$/, "");
}

/** The `.BTF` section of a relocatable ELF64 object that clang wrote. */
function btfOfObject(path: string): Btf {
  const f = readFileSync(path);
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const section = (i: number) => {
    const o = shoff + i * shentsize;
    return { name: v.getUint32(o, true), offset: Number(v.getBigUint64(o + 0x18, true)), size: Number(v.getBigUint64(o + 0x20, true)) };
  };
  const names = section(v.getUint16(0x3e, true));
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const at = names.offset + s.name;
    if (f.toString("latin1", at, f.indexOf(0, at)) === ".BTF") return new Btf(f.subarray(s.offset, s.offset + s.size));
  }
  throw new Error(`${path} has no .BTF section`);
}

/**
 * How record `b` of `bb` (what clang made of the printed C) differs from record `a` of `ab` (the
 * BTF that was printed): size, member names, bit offsets and bitfield widths, anonymous records
 * inside included. Unnamed bitfields (the printed padding) do not reach clang's BTF.
 */
function layoutDiff(ab: Btf, a: number, bb: Btf, b: number, path: string): string[] {
  const ta = ab.mustType(a);
  const tb = bb.mustType(b);
  if ((ta.kind !== "struct" && ta.kind !== "union") || tb.kind !== ta.kind) return [`${path}: ${ta.kind} became ${tb.kind}`];
  const out: string[] = [];
  if (ta.size !== tb.size) out.push(`${path}: size ${ta.size} became ${tb.size}`);
  const theirs = tb.members.filter((m) => m.name !== "" || memberPlacement(bb, tb, m).bits === 0);
  if (theirs.length !== ta.members.length) return [...out, `${path}: ${ta.members.length} members became ${theirs.length}`];
  ta.members.forEach((m, i) => {
    const n = theirs[i] as BtfMember;
    const pa = memberPlacement(ab, ta, m);
    const pb = memberPlacement(bb, tb, n);
    const where = `${path}.${m.name || `(anon ${i})`}`;
    if (m.name !== n.name || pa.offset !== pb.offset || pa.bits !== pb.bits) {
      out.push(`${where}: at bit ${pa.offset}, ${pa.bits} bits became ${n.name} at bit ${pb.offset}, ${pb.bits} bits`);
    }
    const inner = skipModifiers(ab, m.type);
    const k = ab.kindOf(inner);
    if ((k === "struct" || k === "union") && ab.nameOf(inner) === "") out.push(...layoutDiff(ab, inner, bb, skipModifiers(bb, n.type), where));
  });
  return out;
}

/**
 * Compiles `header` with a global pointer to each record in `records` (C spelling → BTF id) so
 * that clang describes them in the object's BTF, and returns how that differs from `btf`.
 */
function roundTrip(btf: Btf, header: string, records: ReadonlyMap<string, number>): string[] {
  if (records.size === 0) return [];
  const globals = [...records.keys()].map((spelled, i) => `${spelled} *__tsebpf_g${i};`);
  const r = compile(header, `${globals.join("\n")}\n`);
  if (!r.ok) return [r.stderr];
  const theirs = btfOfObject(join(dir, `p${files - 1}.o`));
  const out: string[] = [];
  for (const [spelled, id] of records) {
    const [kind, name] = spelled.split(" ") as ["struct" | "union", string];
    const back = theirs.find(name, kind);
    if (back === undefined) out.push(`${spelled}: not in clang's BTF`);
    else out.push(...layoutDiff(btf, id, theirs, back, spelled));
  }
  return out;
}

// ---- hand-built BTF ----

type Field = [name: string, type: number, bitOffset: number, bitSize?: number];

/** Builds a BTF blob type by type; ids are handed out in order, starting after the base's. */
class Types {
  readonly list: BtfType[] = [];
  constructor(private readonly first = 1) {}
  add(t: BtfType): number {
    this.list.push(t);
    return this.first + this.list.length - 1;
  }
  /** An id for a type defined later with `set` (for cycles). */
  reserve(): number {
    return this.add({ kind: "int", name: "", size: 0, signed: false, char: false, bool: false, bitOffset: 0, bits: 0 });
  }
  set(id: number, t: BtfType): void {
    this.list[id - this.first] = t;
  }
  int(name: string, size: number, signed = true, flags: { char?: boolean; bool?: boolean } = {}): number {
    return this.add({ kind: "int", name, size, signed, char: flags.char ?? false, bool: flags.bool ?? false, bitOffset: 0, bits: size * 8 });
  }
  ptr(type: number): number {
    return this.add({ kind: "ptr", name: "", type });
  }
  ref(kind: "typedef" | "const" | "volatile" | "restrict" | "type_tag", type: number, name = ""): number {
    return this.add({ kind, name, type });
  }
  array(type: number, nelems: number): number {
    return this.add({ kind: "array", name: "", type, indexType: 0, nelems });
  }
  record(kind: "struct" | "union", name: string, size: number, fields: Field[]): BtfType {
    const members = fields.map(([n, type, bitOffset, bitSize]) => ({ name: n, type, bitOffset, bitSize: bitSize ?? 0 }));
    return { kind, name, size, members, bitfields: members.some((m) => m.bitSize !== 0) };
  }
  struct(name: string, size: number, fields: Field[]): number {
    return this.add(this.record("struct", name, size, fields));
  }
  union(name: string, size: number, fields: Field[]): number {
    return this.add(this.record("union", name, size, fields));
  }
  proto(returnType: number, params: number[]): number {
    return this.add({ kind: "func_proto", name: "", returnType, params: params.map((type) => ({ name: "", type })) });
  }
  btf(): Btf {
    return new Btf(marshalBtf(this.list));
  }
}

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A BTF of `count` named records with random members: scalars, enums of every size, pointers,
 * arrays, earlier records, anonymous unions, bitfields; mostly where C would put them, sometimes
 * after a gap or before their natural place; sizes rounded to the alignment or not.
 */
function randomRecords(seed: number, count: number): { btf: Btf; records: Map<string, number> } {
  const next = random(seed);
  const below = (n: number) => Math.floor(next() * n);
  const chance = (p: number) => next() < p;
  const pick = <T>(xs: readonly T[]): T => xs[below(xs.length)] as T;
  const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;
  interface Shape {
    readonly id: number;
    readonly size: number;
    readonly align: number;
  }
  const b = new Types();
  const shape = (id: number, size: number, align = size): Shape => ({ id, size, align });
  const bitBases = [
    shape(b.int("char", 1, true, { char: true }), 1),
    shape(b.int("unsigned char", 1, false), 1),
    shape(b.int("short int", 2), 2),
    shape(b.ref("typedef", b.int("short unsigned int", 2, false), "u16"), 2),
    shape(b.int("int", 4), 4),
    shape(b.int("unsigned int", 4, false), 4),
    shape(b.int("long unsigned int", 8, false), 8),
    ...[1, 2, 4, 8].map((size) =>
      shape(
        size === 8
          ? b.add({ kind: "enum64", name: `e${size}`, size, signed: false, values: [{ name: `E${size}_A`, value: 3n }] })
          : b.add({ kind: "enum", name: `e${size}`, size, signed: false, values: [{ name: `E${size}_A`, value: 3 }] }),
        size,
      ),
    ),
  ];
  const pool = [...bitBases, shape(b.int("_Bool", 1, false, { bool: true }), 1), shape(b.int("__int128", 16), 16), shape(b.ptr(0), 8)];
  const made: Shape[] = [];
  const records = new Map<string, number>();
  for (let r = 0; r < count; r++) {
    const union = chance(0.15);
    const fields: Field[] = [];
    let pos = 0;
    let align = 1;
    for (let i = 0, n = 1 + below(7); i < n; i++) {
      const name = `m${i}`;
      if (!union && chance(0.3)) {
        const base = pick(bitBases);
        const bits = 1 + below(base.size * 8);
        let at = pos + (chance(0.2) ? below(12) : 0);
        if (chance(0.7) && (at % (base.align * 8)) + bits > base.size * 8) at = alignUp(at, base.align * 8);
        fields.push([name, base.id, at, bits]);
        pos = at + bits;
        align = Math.max(align, base.align);
        continue;
      }
      let k: Shape;
      const roll = next();
      if (roll < 0.55 || (roll < 0.85 && made.length === 0)) k = pick(pool);
      else if (roll < 0.7) {
        const e = pick(pool);
        const nelems = below(5);
        k = shape(b.array(e.id, nelems), e.size * nelems, e.align);
      } else if (roll < 0.85) k = pick(made);
      else {
        const u0 = pick(pool);
        const u1 = pick(pool);
        const data = Math.max(u0.size, u1.size);
        const a = Math.max(u0.align, u1.align);
        const size = chance(0.5) ? alignUp(data, a) : chance(0.5) ? data : alignUp(data, 2 * a);
        k = shape(b.union("", size, [[`${name}_0`, u0.id, 0], [`${name}_1`, u1.id, 0]]), size, a);
      }
      const first = Math.ceil(pos / 8);
      const at = union ? 0 : chance(0.85) ? alignUp(first, k.align) + (chance(0.1) ? k.align * below(3) : 0) : first + below(3);
      fields.push([name, k.id, at * 8]);
      pos = union ? Math.max(pos, k.size * 8) : (at + k.size) * 8;
      align = Math.max(align, k.align);
    }
    const data = Math.ceil(pos / 8);
    const size = union ? pick([data, alignUp(data, align), alignUp(data, align * 2)]) : chance(0.6) ? alignUp(data, align) : data + below(9);
    const name = `r${r}`;
    const id = union ? b.union(name, size, fields) : b.struct(name, size, fields);
    records.set(`${union ? "union" : "struct"} ${name}`, id);
    made.push(shape(id, size, align));
  }
  return { btf: b.btf(), records };
}

/** Dumps, checks that clang compiles the header with the layout asserts of every named record, returns the declarations. */
function dumpAndCheck(btf: Btf, options: Parameters<typeof dumpC>[1] = {}): string {
  const header = dumpC(btf, options);
  if (clang) {
    const asserts: string[] = [];
    const tags = new Map<string, number>();
    for (let id = 1; id <= btf.typeCount; id++) {
      const t = btf.mustType(id);
      if (t.name && ["struct", "union", "enum", "enum64", "fwd"].includes(t.kind)) tags.set(t.name, (tags.get(t.name) ?? 0) + 1);
    }
    for (let id = 1; id <= btf.typeCount; id++) {
      const t = btf.mustType(id);
      if ((t.kind === "struct" || t.kind === "union") && tags.get(t.name) === 1 && header.includes(`${t.kind} ${t.name} {`)) {
        asserts.push(...layoutAsserts(btf, id, `${t.kind} ${t.name}`));
      }
    }
    const r = compile(header, `${asserts.join("\n")}\n`);
    expect(r.stderr).toBe("");
    expect(r.ok).toBe(true);
    const records = new Map<string, number>();
    for (let id = 1; id <= btf.typeCount; id++) {
      const t = btf.mustType(id);
      if ((t.kind === "struct" || t.kind === "union") && tags.get(t.name) === 1 && header.includes(`${t.kind} ${t.name} {`)) records.set(`${t.kind} ${t.name}`, id);
    }
    expect(roundTrip(btf, header, records)).toEqual([]);
  }
  return body(header);
}

describe("dumpC on hand-built BTF", () => {
  it("frames the header with the guard and the preserve_access_index pragma", () => {
    const b = new Types();
    b.struct("s", 4, [["x", b.int("int", 4), 0]]);
    expect(dumpC(b.btf())).toBe(
      [
        "#ifndef __VMLINUX_H__",
        "#define __VMLINUX_H__",
        "",
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
        "#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)",
        "#endif",
        "",
        "struct s {",
        "\tint x;",
        "};",
        "",
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX",
        "#pragma clang attribute pop",
        "#endif",
        "",
        "#endif /* __VMLINUX_H__ */",
        "",
      ].join("\n"),
    );
    expect(dumpC(b.btf(), { guard: "MY_TYPES_H" })).toMatch(/^#ifndef MY_TYPES_H\n#define MY_TYPES_H\n[^]*#endif \/\* MY_TYPES_H \*\/\n$/);
    expect(() => dumpC(b.btf(), { guard: "not a macro" })).toThrow(RangeError);
    // No records, no pragma: clang warns about a pragma region it does not apply to.
    const e = new Types();
    e.add({ kind: "enum", name: "e", size: 4, signed: false, values: [{ name: "E_A", value: 0 }] });
    expect(dumpC(e.btf())).toBe("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\nenum e {\n\tE_A = 0,\n};\n\n#endif /* __VMLINUX_H__ */\n");
    if (clang) expect(compile(dumpC(e.btf()), "")).toEqual({ ok: true, stderr: "" });
  });

  it("breaks a pointer cycle: struct a has struct b *, b has struct a *", () => {
    const b = new Types();
    const int = b.int("int", 4);
    const a = b.reserve();
    const pa = b.ptr(a);
    const sb = b.struct("b", 16, [["a", pa, 0], ["n", int, 64]]);
    b.set(a, b.record("struct", "a", 8, [["b", b.ptr(sb), 0]]));
    expect(dumpAndCheck(b.btf())).toBe(
      "struct a {\n\tstruct b *b;\n};\n\n" + //
        "struct b {\n\tstruct a *a;\n\tint n;\n};\n\n",
    );
  });

  it("puts a definition before its use by value, and declares structs only pointed to from parameter lists", () => {
    const b = new Types();
    const int = b.int("int", 4);
    // outer (a lower id) embeds inner (a higher id) by value; a callback takes a struct other *.
    const outer = b.reserve();
    const other = b.struct("other", 4, [["x", int, 0]]);
    const inner = b.struct("inner", 8, [["v", b.ptr(outer), 0]]);
    const fn = b.ptr(b.proto(int, [b.ptr(other)]));
    b.set(outer, b.record("struct", "outer", 24, [["in", inner, 0], ["cb", fn, 64], ["p", b.ptr(inner), 128]]));
    const btf = b.btf();
    const outerText = "struct outer {\n\tstruct inner in;\n\tint (*cb)(struct other *);\n\tstruct inner *p;\n};\n\n";
    expect(dumpAndCheck(btf)).toBe(
      "struct inner {\n\tstruct outer *v;\n};\n\n" + "struct other;\n\n" + outerText + "struct other {\n\tint x;\n};\n\n",
    );
    // Only the types asked for and what they need.
    expect(dumpAndCheck(btf, { types: [outer] })).toBe("struct inner {\n\tstruct outer *v;\n};\n\n" + "struct other;\n\n" + outerText);
    expect(dumpAndCheck(btf, { types: [other] })).toBe("struct other {\n\tint x;\n};\n\n");
  });

  it("prints anonymous unions and structs inline, and typedefs of them", () => {
    const b = new Types();
    const int = b.int("int", 4);
    const long = b.int("long int", 8);
    const u = b.union("", 8, [["i", int, 0], ["l", long, 0]]);
    const pair = b.struct("", 8, [["lo", int, 0], ["hi", int, 32]]);
    b.struct("value", 24, [["kind", int, 0], ["", u, 64], ["pair", pair, 128]]);
    b.ref("typedef", b.struct("", 4, [["fd", int, 0]]), "fd_t");
    expect(dumpAndCheck(b.btf())).toBe(
      "struct value {\n\tint kind;\n\tunion {\n\t\tint i;\n\t\tlong int l;\n\t};\n\tstruct {\n\t\tint lo;\n\t\tint hi;\n\t} pair;\n};\n\n" +
        "typedef struct {\n\tint fd;\n} fd_t;\n\n",
    );
  });

  it("prints bitfields and pads where BTF leaves gaps C would not", () => {
    const b = new Types();
    const uint = b.int("unsigned int", 4, false);
    const u8 = b.ref("typedef", b.int("unsigned char", 1, false), "u8");
    const long = b.int("long int", 8);
    const int = b.int("int", 4);
    b.struct("flags", 8, [["a", uint, 0, 3], ["b", uint, 3, 5], ["c", u8, 8], ["d", u8, 16, 1], ["e", uint, 40, 4]]);
    b.struct("gap", 32, [["a", int, 0], ["b", long, 128]]);
    // Before kind_flag: a bitfield is a member whose type is an int narrower than its size.
    const narrow = (bits: number) => b.add({ kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits });
    b.struct("legacy", 8, [["a", narrow(3), 0], ["b", narrow(5), 3], ["c", int, 32]]);
    expect(dumpAndCheck(b.btf())).toBe(
      "typedef unsigned char u8;\n\n" +
        "struct flags {\n\tunsigned int a: 3;\n\tunsigned int b: 5;\n\tu8 c;\n\tu8 d: 1;\n\tlong: 23;\n\tunsigned int e: 4;\n};\n\n" +
        "struct gap {\n\tint a;\n\tint: 32;\n\tlong: 64;\n\tlong int b;\n\tlong: 64;\n};\n\n" +
        "struct legacy {\n\tunsigned int a: 3;\n\tunsigned int b: 5;\n\tint c;\n};\n\n",
    );
  });

  it("packs records whose members sit before their natural place, and aligns unions larger than their members", () => {
    const b = new Types();
    const char = b.int("char", 1, true, { char: true });
    const int = b.int("int", 4);
    const long = b.int("long int", 8);
    const packed = b.struct("packed", 5, [["c", char, 0], ["i", int, 8]]);
    b.struct("holder", 16, [["c", char, 0], ["p", packed, 16], ["l", long, 64]]);
    b.struct("odd", 12, [["l", long, 0], ["i", int, 64]]);
    b.union("wide", 64, [["l", long, 0], ["c", b.array(char, 20), 0]]);
    b.struct("bits", 5, [["x", int, 0, 30], ["y", int, 30, 10]]);
    expect(dumpAndCheck(b.btf())).toBe(
      "struct packed {\n\tchar c;\n\tint i;\n} __attribute__((packed));\n\n" +
        "struct holder {\n\tchar c;\n\tchar: 8;\n\tstruct packed p;\n\tlong int l;\n};\n\n" +
        "struct odd {\n\tlong int l;\n\tint i;\n} __attribute__((packed));\n\n" +
        "union wide {\n\tlong int l;\n\tchar c[20];\n} __attribute__((aligned(64)));\n\n" +
        "struct bits {\n\tint x: 30;\n\tint y: 10;\n} __attribute__((packed));\n\n",
    );
  });

  it("says so in a comment when no C layout reproduces the BTF one", () => {
    const b = new Types();
    const int = b.int("int", 4);
    b.union("shifted", 8, [["a", int, 0], ["b", int, 32]]); // a union member at an offset: not C
    b.struct("overlap", 8, [["a", int, 0], ["b", int, 16]]);
    expect(body(dumpC(b.btf()))).toBe(
      "union shifted {\n\t/* no C layout gives this record the offsets and size BTF says it has */\n\tint a;\n\tint b;\n} __attribute__((aligned(8)));\n\n" +
        "struct overlap {\n\t/* no C layout gives this record the offsets and size BTF says it has */\n\tint a;\n\tint b;\n};\n\n",
    );
    if (clang) expect(compile(dumpC(b.btf()), "")).toEqual({ ok: true, stderr: "" });
  });

  it("prints function pointers, arrays of them, multi-dimensional arrays and qualifiers in C order", () => {
    const b = new Types();
    const int = b.int("int", 4);
    const char = b.int("char", 1, true, { char: true });
    const voidp = b.ptr(0);
    const fn = b.proto(0, [int, b.ptr(char)]); // void (int, char *)
    const handler = b.proto(int, [voidp, int, 0]); // int (void *, int, ...)
    const cvInt = b.ref("const", b.ref("volatile", int));
    const cvp = b.ref("const", b.ref("volatile", b.ptr(cvInt))); // const volatile int * const volatile
    const restricted = b.ref("restrict", b.ptr(char));
    const returnsFn = b.proto(b.ptr(fn), [int]); // void (*(int))(int, char *)
    b.struct("ops", 144, [
      ["fn", b.ptr(fn), 0],
      ["handlers", b.array(b.ptr(handler), 4), 64],
      ["cvp", cvp, 320],
      ["grid", b.array(b.array(int, 3), 2), 384],
      ["rows", b.ptr(b.array(int, 3)), 576],
      ["s", restricted, 640],
      ["pick", b.ptr(returnsFn), 704],
      ["names", b.array(b.ref("const", b.ptr(b.ref("const", char))), 4), 768],
      ["noargs", b.ptr(b.proto(int, [])), 1024],
      ["cpa", b.ref("const", b.array(int, 2)), 1088],
    ]);
    b.ref("typedef", fn, "fn_t");
    b.ref("typedef", b.ptr(handler), "handler_t");
    expect(dumpAndCheck(b.btf())).toBe(
      "struct ops {\n" +
        "\tvoid (*fn)(int, char *);\n" +
        "\tint (*handlers[4])(void *, int, ...);\n" +
        "\tconst volatile int * const volatile cvp;\n" +
        "\tint grid[2][3];\n" +
        "\tint (*rows)[3];\n" +
        "\tchar * restrict s;\n" +
        "\tvoid (*(*pick)(int))(int, char *);\n" +
        "\tconst char * const names[4];\n" +
        "\tint (*noargs)(void);\n" +
        "\tconst int cpa[2];\n" +
        "};\n\n" +
        "typedef void fn_t(int, char *);\n\n" +
        "typedef int (*handler_t)(void *, int, ...);\n\n",
    );
  });

  it("prints enums with the literals and attributes their values and sizes need", () => {
    const b = new Types();
    b.add({ kind: "enum64", name: "big", size: 8, signed: false, values: [{ name: "BIG_MAX", value: 0xffffffffffffffffn }, { name: "BIG_ONE", value: 1n }, { name: "BIG_MID", value: 0x100000000n }] });
    b.add({ kind: "enum", name: "sign", size: 4, signed: true, values: [{ name: "S_NEG", value: -1 }, { name: "S_MIN", value: -2147483648 }, { name: "S_POS", value: 7 }] });
    b.add({ kind: "enum", name: "high", size: 4, signed: false, values: [{ name: "H_TOP", value: 0xffffffff }] });
    b.add({ kind: "enum64", name: "neg64", size: 8, signed: true, values: [{ name: "N_MIN", value: -(2n ** 63n) }, { name: "N_LOW", value: -(2n ** 40n) }] });
    b.add({ kind: "enum", name: "tiny", size: 1, signed: false, values: [{ name: "T_A", value: 1 }] });
    b.add({ kind: "enum64", name: "wide", size: 8, signed: false, values: [{ name: "W_A", value: 1n }] });
    b.add({ kind: "enum", name: "half", size: 2, signed: false, values: [{ name: "HALF_A", value: 1 }] });
    expect(dumpAndCheck(b.btf())).toBe(
      "enum big {\n\tBIG_MAX = 18446744073709551615ULL,\n\tBIG_ONE = 1,\n\tBIG_MID = 4294967296LL,\n};\n\n" +
        "enum sign {\n\tS_NEG = -1,\n\tS_MIN = -2147483648,\n\tS_POS = 7,\n};\n\n" +
        "enum high {\n\tH_TOP = 4294967295U,\n};\n\n" +
        "enum neg64 {\n\tN_MIN = (-9223372036854775807LL - 1),\n\tN_LOW = -1099511627776LL,\n};\n\n" +
        "enum tiny {\n\tT_A = 1,\n} __attribute__((packed));\n\n" +
        "enum wide {\n\tW_A = 1,\n} __attribute__((mode(DI)));\n\n" +
        "enum half {\n\tHALF_A = 1,\n} __attribute__((mode(HI)));\n\n",
    );
    if (clang) {
      const sizes = [["big", 8], ["sign", 4], ["high", 4], ["neg64", 8], ["tiny", 1], ["wide", 8], ["half", 2]];
      const asserts = sizes.map(([n, s]) => `_Static_assert(sizeof(enum ${n}) == ${s}, "${n}");`);
      const values = ["BIG_MAX == 0xffffffffffffffffULL", "S_NEG == -1", "S_MIN == -2147483647 - 1", "H_TOP == 0xffffffffU", "N_MIN == -9223372036854775807LL - 1"];
      for (const v of values) asserts.push(`_Static_assert(${v}, "${v}");`);
      expect(compile(dumpC(b.btf()), asserts.join("\n"))).toEqual({ ok: true, stderr: "" });
    }
  });

  it("prints every scalar encoding: __int128, floats, _Bool, char, and C for names that are not C", () => {
    const b = new Types();
    const fields: Field[] = [];
    let off = 0;
    const field = (name: string, type: number, size: number) => {
      off = Math.ceil(off / Math.min(size, 16)) * Math.min(size, 16);
      fields.push([name, type, off * 8]);
      off += size;
    };
    field("b", b.int("_Bool", 1, false, { bool: true }), 1);
    field("c", b.int("char", 1, true, { char: true }), 1);
    field("sc", b.int("signed char", 1), 1);
    field("us", b.int("short unsigned int", 2, false), 2);
    field("f", b.add({ kind: "float", name: "float", size: 4 }), 4);
    field("d", b.add({ kind: "float", name: "double", size: 8 }), 8);
    field("ld", b.add({ kind: "float", name: "long double", size: 8 }), 8);
    field("ss", b.int("ssizetype", 8), 8); // a GCC-internal name
    field("ull", b.int("long long unsigned int", 8, false), 8);
    field("i128", b.int("__int128", 16), 16);
    field("u128", b.int("__int128 unsigned", 16, false), 16);
    b.struct("scalars", 80, fields);
    expect(dumpAndCheck(b.btf())).toBe(
      "struct scalars {\n\t_Bool b;\n\tchar c;\n\tsigned char sc;\n\tshort unsigned int us;\n\tfloat f;\n\tdouble d;\n\tlong double ld;\n" +
        "\tlong ss;\n\tlong long unsigned int ull;\n\t__int128 i128;\n\t__int128 unsigned u128;\n};\n\n",
    );
  });

  it("prints type tags through a macro that compiles with and without btf_type_tag", () => {
    const b = new Types();
    const int = b.int("int", 4);
    const s = b.reserve();
    const rcu = b.ptr(b.ref("type_tag", s, "rcu"));
    const user = b.ptr(b.ref("type_tag", b.ref("const", int), "user"));
    const percpu = b.ptr(b.ref("type_tag", 0, "address_space(1)"));
    b.set(s, b.record("struct", "node", 24, [["next", rcu, 0], ["buf", user, 64], ["pcpu", percpu, 128]]));
    const header = dumpC(b.btf());
    expect(body(header)).toBe(
      'struct node {\n\tstruct node __tsebpf_type_tag("rcu") *next;\n\tconst int __tsebpf_type_tag("user") *buf;\n\tvoid __tsebpf_type_tag("address_space(1)") *pcpu;\n};\n\n',
    );
    expect(header).toContain("#define __tsebpf_type_tag(x) __attribute__((btf_type_tag(x)))");
    expect(header).toContain("#undef __tsebpf_type_tag");
    if (clang) {
      const use = "int get(struct node *n) { return *n->buf; }\n";
      expect(compile(header, use)).toEqual({ ok: true, stderr: "" });
      expect(compile(header, use, ["-DBPF_NO_TYPE_TAGS", "-Wall", "-Werror"])).toEqual({ ok: true, stderr: "" });
      // The tags reach the object's BTF.
      const obj = readFileSync(join(dir, `p${files - 2}.o`));
      expect(obj.includes(Buffer.from("address_space(1)"))).toBe(true);
    }
  });

  it("prints unused anonymous enums on their own, and an anonymous enum's constants only once", () => {
    const b = new Types();
    b.add({ kind: "enum", name: "", size: 4, signed: false, values: [{ name: "FLAG_A", value: 1 }, { name: "FLAG_B", value: 2 }] });
    const shared = b.add({ kind: "enum", name: "", size: 4, signed: false, values: [{ name: "ST_ON", value: 0 }, { name: "ST_OFF", value: 1 }] });
    b.struct("one", 4, [["state", shared, 0]]);
    b.struct("two", 4, [["state", shared, 0]]);
    expect(dumpAndCheck(b.btf())).toBe(
      "enum {\n\tFLAG_A = 1,\n\tFLAG_B = 2,\n};\n\n" +
        "struct one {\n\tenum {\n\t\tST_ON = 0,\n\t\tST_OFF = 1,\n\t} state;\n};\n\n" +
        "struct two {\n\tunsigned int state;\n};\n\n",
    );
  });

  it("renames different types with the same name ___2, in the tag and the ordinary name spaces", () => {
    const b = new Types();
    const int = b.int("int", 4);
    const fwd = b.add({ kind: "fwd", name: "foo", union: false });
    b.struct("foo", 4, [["a", int, 0]]);
    b.struct("foo", 8, [["a", int, 0], ["b", int, 32]]);
    b.struct("user", 8, [["f", b.ptr(fwd), 0]]);
    b.add({ kind: "enum", name: "clash", size: 4, signed: false, values: [{ name: "ONE", value: 1 }] });
    b.union("clash", 4, [["x", int, 0]]);
    b.add({ kind: "enum", name: "other", size: 4, signed: false, values: [{ name: "ONE", value: 7 }] });
    b.ref("typedef", int, "ONE");
    b.ref("typedef", b.ptr(0), "__builtin_va_list");
    expect(dumpAndCheck(b.btf())).toBe(
      "struct foo;\n\n" +
        "struct foo {\n\tint a;\n};\n\n" +
        "struct foo___2 {\n\tint a;\n\tint b;\n};\n\n" +
        "struct user {\n\tstruct foo *f;\n};\n\n" +
        "enum clash {\n\tONE = 1,\n};\n\n" +
        "union clash___2 {\n\tint x;\n};\n\n" +
        "enum other {\n\tONE___2 = 7,\n};\n\n" +
        "typedef int ONE___3;\n\n" +
        "typedef void *__builtin_va_list___2;\n\n",
    );
  });

  it("renames a split BTF's struct that has a base type's name", () => {
    const base = new Types();
    const int = base.int("int", 4);
    base.struct("dup", 4, [["a", int, 0]]);
    const baseBytes = marshalBtf(base.list);
    const baseBtf = new Btf(baseBytes);
    const split = new Types(baseBtf.typeCount + 1);
    const dup2 = split.struct("dup", 8, [["a", int, 0], ["b", int, 32]]);
    const mod = split.struct("mod", 16, [["d", dup2, 0], ["p", split.ptr(2), 64]]);
    const stringLength = new DataView(baseBytes.buffer, baseBytes.byteOffset).getUint32(20, true);
    const btf = new Btf(marshalBtf(split.list, { base: { typeCount: baseBtf.typeCount, stringLength } }), { base: baseBtf });
    const header = dumpC(btf);
    expect(body(header)).toBe(
      "struct dup {\n\tint a;\n};\n\n" +
        "struct dup___2 {\n\tint a;\n\tint b;\n};\n\n" +
        "struct mod {\n\tstruct dup___2 d;\n\tstruct dup *p;\n};\n\n",
    );
    if (clang) {
      const asserts = [...layoutAsserts(btf, 2, "struct dup"), ...layoutAsserts(btf, dup2, "struct dup___2"), ...layoutAsserts(btf, mod, "struct mod")];
      expect(compile(header, asserts.join("\n"))).toEqual({ ok: true, stderr: "" });
    }
  });

  itWith(clangMissing)(`reproduces random record layouts exactly: BTF → C → clang → the same BTF${clangMissing ? ` (skipped: ${clangMissing})` : ""}`, () => {
    for (const seed of [1, 2, 3, 4]) {
      const { btf, records } = randomRecords(seed, 60);
      const header = dumpC(btf);
      expect(roundTrip(btf, header, records)).toEqual([]);
    }
  }, 60_000);

  it("skips functions, variables, data sections and declaration tags", () => {
    const b = new Types();
    const int = b.int("int", 4);
    const proto = b.proto(int, [int]);
    b.add({ kind: "func", name: "f", type: proto, linkage: "global" });
    const v = b.add({ kind: "var", name: "counter", type: int, linkage: "global" });
    b.add({ kind: "datasec", name: ".bss", size: 4, vars: [{ type: v, offset: 0, size: 4 }] });
    b.add({ kind: "decl_tag", name: "tag", type: v, componentIdx: -1 });
    expect(dumpAndCheck(b.btf())).toBe("");
  });
});

// ---- the running kernel ----

/** Names of the records and enums a header defines at top level: `struct foo`, `enum bar`. */
const definedTags = (header: string): string[] => [...header.matchAll(/^(struct|union|enum) (\w+) \{/gm)].map((m) => `${m[1]} ${m[2]}`).sort();

/** A BPF program that uses kernel types through the header. */
const PROGRAM = [
  "struct event { int pid; unsigned int len; unsigned short family; };",
  '__attribute__((section("xdp"), used)) int prog(struct xdp_md *ctx) {',
  "\tstruct task_struct *t = (struct task_struct *)(long)ctx->data;",
  "\tstruct sk_buff *skb = (struct sk_buff *)(long)ctx->data_end;",
  "\tstruct sock *sk = skb->sk;",
  "\tstruct event e = { .pid = t->pid, .len = skb->len, .family = sk->__sk_common.skc_family };",
  "\treturn e.pid + e.len + e.family + ctx->ingress_ifindex;",
  "}",
  "",
].join("\n");

describeWith(vmlinuxMissing)(`dumpC on the kernel's BTF${vmlinuxMissing ? ` (skipped: ${vmlinuxMissing})` : ""}`, () => {
  const btf = vmlinuxMissing ? undefined : new Btf(readFileSync(VMLINUX));
  let dumped: string | undefined;
  const header = (): string => (dumped ??= dumpC(btf as Btf));

  it("defines every named struct, union and enum once", () => {
    const k = btf as Btf;
    let records = 0;
    let enums = 0;
    for (let id = 1; id <= k.typeCount; id++) {
      const t = k.mustType(id);
      if ((t.kind === "struct" || t.kind === "union") && t.name) records++;
      if ((t.kind === "enum" || t.kind === "enum64") && t.name && t.values.length > 0) enums++;
    }
    const tags = definedTags(header());
    expect(new Set(tags).size).toBe(tags.length);
    expect(tags.filter((t) => !t.startsWith("enum ")).length).toBe(records);
    expect(tags.filter((t) => t.startsWith("enum ")).length).toBe(enums);
  }, 60_000);

  itWith(clangMissing)(`compiles for BPF with clang-19, with the BTF layout${clangMissing ? ` (skipped: ${clangMissing})` : ""}`, () => {
    const k = btf as Btf;
    const built = compile(header(), PROGRAM, ["-Wall"]);
    expect(built.stderr).toBe("");
    expect(built.ok).toBe(true);

    // Layout: sizes and member offsets of ~200 records chosen at random (fixed seed), and a few known ones.
    const tagCount = new Map<string, number>();
    for (let id = 1; id <= k.typeCount; id++) {
      const t = k.mustType(id);
      if ((t.kind === "struct" || t.kind === "union" || t.kind === "enum" || t.kind === "enum64" || t.kind === "fwd") && t.name) {
        tagCount.set(t.name, (tagCount.get(t.name) ?? 0) + 1);
      }
    }
    const candidates: number[] = [];
    for (let id = 1; id <= k.typeCount; id++) {
      const t = k.mustType(id);
      if ((t.kind === "struct" || t.kind === "union") && t.name && tagCount.get(t.name) === 1) candidates.push(id);
    }
    const next = random(0x5eed);
    const chosen = new Set<number>();
    for (const name of ["task_struct", "sk_buff", "sock", "xdp_md", "inode"]) {
      const id = k.find(name, "struct");
      if (id !== undefined) chosen.add(id);
    }
    while (chosen.size < Math.min(205, candidates.length)) chosen.add(candidates[Math.floor(next() * candidates.length)] as number);
    const asserts = [...chosen].flatMap((id) => layoutAsserts(k, id, `${k.kindOf(id)} ${k.nameOf(id)}`));
    expect(asserts.length).toBeGreaterThan(1000);
    const checked = compile(header(), `${asserts.join("\n")}\n`, ["-ferror-limit=0"]);
    expect(checked.stderr).toBe("");
    expect(checked.ok).toBe(true);
    // And bitfields too: what clang describes in BTF for the printed records is the kernel's layout.
    const records = new Map([...chosen].map((id) => [`${k.kindOf(id)} ${k.nameOf(id)}`, id]));
    expect(roundTrip(k, header(), records)).toEqual([]);
  }, 60_000);

  itWith(clangMissing)(`prints only the types asked for and what they need${clangMissing ? ` (skipped: ${clangMissing})` : ""}`, () => {
    const k = btf as Btf;
    const ids = ["xdp_md", "sk_buff", "sock", "task_struct"].map((name) => k.find(name, "struct") as number);
    const subset = dumpC(k, { types: ids, guard: "SUBSET_H" });
    expect(subset.length).toBeLessThan(header().length / 2);
    for (const name of ["xdp_md", "sk_buff", "sock", "task_struct"]) expect(subset).toContain(`\nstruct ${name} {`);
    const built = compile(subset, `${PROGRAM}\n${ids.flatMap((id) => layoutAsserts(k, id, `struct ${k.nameOf(id)}`)).join("\n")}\n`, ["-Wall"]);
    expect(built.stderr).toBe("");
    expect(built.ok).toBe(true);
  }, 60_000);

  itWith(bpftoolMissing)(`defines the same records and enums as bpftool${bpftoolMissing ? ` (skipped: ${bpftoolMissing})` : ""}`, () => {
    const r = spawnSync(bpftool as string, ["btf", "dump", "file", VMLINUX, "format", "c"], { encoding: "utf8", maxBuffer: 256 << 20 });
    expect(r.status).toBe(0);
    expect(definedTags(header())).toEqual(definedTags(r.stdout));
  }, 60_000);
});
