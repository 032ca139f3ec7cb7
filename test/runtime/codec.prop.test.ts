// Invariant: btfCodec's encode and decode are inverse on random layouts and never touch bytes outside the value.
/**
 * Properties of btfCodec over random BTF struct layouts (integers of every size, bools, enums,
 * floats, char strings, arrays, nested structs and unions, bitfields, padding): values encode
 * and decode back unchanged, encoding touches only the value's bytes, and any bytes decode to
 * a value that encodes back to the same value — from a Buffer, a Uint8Array and a DataView alike.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Btf, marshalBtf, type BtfMember, type BtfType } from "../../src/btf/index.js";
import { btfCodec, type BtfValue } from "../../src/runtime/btf-codec.js";
import { assertProperty } from "../helpers/property.js";

type Leaf =
  | { k: "int"; size: 1 | 2 | 4 | 8; signed: boolean }
  | { k: "bool" }
  | { k: "enum"; size: 1 | 2 | 4; signed: boolean }
  | { k: "float"; size: 4 | 8 }
  | { k: "char"; n: number };
type Node = Leaf | { k: "array"; elem: Node; n: number } | { k: "record"; union: boolean; members: Member[] };
type Member = { name: string; node: Node } | { name: string; bits: number; signed: boolean; base: 4 | 8 };

/** Leaves; `lossless` leaves only (inside unions, where members overlap). */
const leaf = (lossless: boolean): fc.Arbitrary<Leaf> =>
  fc.oneof(
    fc.record({ k: fc.constant("int" as const), size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), signed: fc.boolean() }),
    fc.record({ k: fc.constant("enum" as const), size: fc.constantFrom(1 as const, 2 as const, 4 as const), signed: fc.boolean() }),
    ...(lossless ? [] : [
      fc.constant({ k: "bool" as const }),
      fc.record({ k: fc.constant("float" as const), size: fc.constantFrom(4 as const, 8 as const) }),
      fc.record({ k: fc.constant("char" as const), n: fc.integer({ min: 1, max: 20 }) }),
    ]),
  );

function nodes(allowUnions: boolean) {
  return fc.letrec<{ node: Node; record: Node; lossless: Node; losslessRecord: Node; losslessMember: Member }>((tie) => {
    const members = (member: fc.Arbitrary<Member>) =>
      fc.uniqueArray(member, { minLength: 1, maxLength: 6, selector: (m) => m.name }).map((ms) => ms);
    const bitfield = fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), bits: fc.integer({ min: 1, max: 32 }), signed: fc.boolean(), base: fc.constantFrom(4 as const, 8 as const) })
      .map((b) => ({ ...b, bits: Math.min(b.bits, b.base * 8) }));
    const named = (node: fc.Arbitrary<Node>) => fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/), node });
    return {
      node: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf(false), tie("record"), fc.record({ k: fc.constant("array" as const), elem: fc.oneof(leaf(false).filter((l) => l.k !== "char"), tie("record")), n: fc.integer({ min: 0, max: 4 }) })),
      record: fc.record({
        k: fc.constant("record" as const),
        union: fc.constant(false),
        members: members(fc.oneof({ arbitrary: named(tie("node")), weight: 4 }, { arbitrary: bitfield, weight: 1 }, ...(allowUnions ? [{ arbitrary: named(tie("losslessRecord").map((r) => ({ ...(r as { k: "record"; members: Member[] }), union: true }))), weight: 1 }] : []))),
      }),
      lossless: fc.oneof({ depthSize: "small" }, leaf(true), tie("losslessRecord"), fc.record({ k: fc.constant("array" as const), elem: leaf(true), n: fc.integer({ min: 0, max: 4 }) })),
      losslessRecord: fc.record({ k: fc.constant("record" as const), union: fc.boolean(), members: members(tie("losslessMember")) }),
      losslessMember: fc.oneof({ arbitrary: named(tie("lossless")), weight: 4 }, { arbitrary: bitfield, weight: 1 }),
    };
  }).record;
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** The BTF of a model (C layout rules), the root's id last. */
function build(root: Node): Btf {
  const types: BtfType[] = [];
  const add = (t: BtfType) => types.push(t);
  const int = (name: string, size: number, signed: boolean, extra: { bool?: boolean } = {}) => {
    add({ kind: "int", name, size, signed, char: false, bool: extra.bool ?? false, bitOffset: 0, bits: size * 8 });
    return types.length;
  };
  const u32 = int("unsigned int", 4, false);
  const emit = (node: Node): { id: number; size: number; align: number } => {
    switch (node.k) {
      case "int":
        return { id: int(`${node.signed ? "" : "u"}int${node.size * 8}`, node.size, node.signed), size: node.size, align: node.size };
      case "bool":
        return { id: int("_Bool", 1, false, { bool: true }), size: 1, align: 1 };
      case "enum":
        add({ kind: "enum", name: "", size: node.size, signed: node.signed, values: [{ name: `E${types.length}`, value: 1 }] });
        return { id: types.length, size: node.size, align: node.size };
      case "float":
        add({ kind: "float", name: node.size === 4 ? "float" : "double", size: node.size });
        return { id: types.length, size: node.size, align: node.size };
      case "char": {
        const c = int("char", 1, true);
        add({ kind: "array", name: "", type: c, indexType: u32, nelems: node.n });
        return { id: types.length, size: node.n, align: 1 };
      }
      case "array": {
        const e = emit(node.elem);
        add({ kind: "array", name: "", type: e.id, indexType: u32, nelems: node.n });
        return { id: types.length, size: e.size * node.n, align: e.align };
      }
      case "record": {
        const members: BtfMember[] = [];
        let bit = 0;
        let size = 0;
        let align = 1;
        let bitfields = false;
        for (const m of node.members) {
          if ("bits" in m) {
            bitfields = true;
            const unit = m.base * 8;
            const base = int(m.base === 8 ? (m.signed ? "long long" : "unsigned long long") : m.signed ? "int" : "unsigned int", m.base, m.signed);
            let at = node.union ? 0 : bit;
            if (Math.floor(at / unit) !== Math.floor((at + m.bits - 1) / unit)) at = alignUp(at, unit);
            members.push({ name: m.name, type: base, bitOffset: at, bitSize: m.bits });
            align = Math.max(align, m.base);
            bit = at + m.bits;
            size = Math.max(size, Math.ceil(bit / 8));
          } else {
            const e = emit(m.node);
            const at = node.union ? 0 : alignUp(Math.ceil(bit / 8), e.align);
            members.push({ name: m.name, type: e.id, bitOffset: at * 8, bitSize: 0 });
            align = Math.max(align, e.align);
            bit = (at + e.size) * 8;
            size = Math.max(size, at + e.size);
          }
        }
        size = alignUp(size, align);
        add({ kind: node.union ? "union" : "struct", name: "", size, bitfields, members });
        return { id: types.length, size, align };
      }
    }
  };
  emit(root);
  return new Btf(marshalBtf(types));
}

/** A value of a model. */
function value(node: Node): fc.Arbitrary<BtfValue> {
  switch (node.k) {
    case "int":
    case "enum":
      if (node.size === 8) return node.signed ? fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }) : fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
      return node.signed ? fc.integer({ min: -(2 ** (node.size * 8 - 1)), max: 2 ** (node.size * 8 - 1) - 1 }) : fc.integer({ min: 0, max: 2 ** (node.size * 8) - 1 });
    case "bool":
      return fc.boolean();
    case "float":
      return node.size === 4 ? fc.float({ noNaN: true }) : fc.double({ noNaN: true });
    case "char":
      return fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: node.n });
    case "array":
      return fc.array(value(node.elem), { minLength: node.n, maxLength: node.n });
    case "record": {
      const fields: Record<string, fc.Arbitrary<BtfValue>> = {};
      for (const m of node.members) {
        if ("bits" in m) {
          const n = m.bits;
          fields[m.name] = m.base === 8
            ? m.signed ? fc.bigInt({ min: -(1n << BigInt(n - 1)), max: (1n << BigInt(n - 1)) - 1n }) : fc.bigInt({ min: 0n, max: (1n << BigInt(n)) - 1n })
            : m.signed ? fc.integer({ min: -(2 ** (n - 1)), max: 2 ** (n - 1) - 1 }) : fc.integer({ min: 0, max: 2 ** n - 1 });
        } else {
          fields[m.name] = value(m.node);
        }
      }
      return fc.record(fields);
    }
  }
}

/** `bytes` as the kind of input `kind` names (a DataView and Uint8Array that are windows into a larger buffer). */
function as(kind: number, bytes: Uint8Array): Uint8Array | DataView {
  if (kind === 0) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const backing = new Uint8Array(bytes.byteLength + 5);
  backing.set(bytes, 5);
  return kind === 1 ? backing.subarray(5) : new DataView(backing.buffer, 5);
}
const bytesOf = (b: Uint8Array | DataView) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

describe("btfCodec over random struct layouts", () => {
  it("encode then decode gives the value back, and writes nothing outside the value", () => {
    const model = nodes(false);
    const withValue = model.chain((root) => fc.tuple(fc.constant(root), value(root), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 2 }), fc.uint8Array({ minLength: 1, maxLength: 1 })));
    assertProperty(
      fc.property(withValue, ([root, v, offset, kind, [fill]]) => {
        const btf = build(root);
        const codec = btfCodec(btf, btf.typeCount);
        const out = as(kind, new Uint8Array(offset + codec.size + 3).fill(fill as number));
        codec.encode(v, out, offset);
        expect(codec.decode(out, offset)).toEqual(v);
        const b = bytesOf(out);
        for (let i = 0; i < b.byteLength; i++) if (i < offset || i >= offset + codec.size) expect(b[i]).toBe(fill);
      }),
      { numRuns: 300 },
    );
  });

  it("any bytes decode to a value that encodes back to itself (unions of overlapping members included)", () => {
    const model = nodes(true).chain((root) => {
      const size = btfCodec(build(root), build(root).typeCount).size;
      return fc.tuple(fc.constant(root), fc.uint8Array({ minLength: size, maxLength: size }), fc.integer({ min: 0, max: 2 }));
    });
    assertProperty(
      fc.property(model, ([root, bytes, kind]) => {
        const btf = build(root);
        const codec = btfCodec(btf, btf.typeCount);
        const first = codec.decode(as(kind, bytes));
        const out = as((kind + 1) % 3, new Uint8Array(codec.size));
        codec.encode(first, out);
        expect(codec.decode(out)).toEqual(first);
      }),
      { numRuns: 300 },
    );
  });
});
