import { describe, expect, it } from "vitest";
import { Btf, marshalBtf, type BtfType } from "../../src/btf/index.js";
import { TsebpfError } from "../../src/errors.js";
import {
  CodecError, bytes, checkRoom, checkedView, codecView, i16, i32, i64, i8, readCString, u16, u32, u64, u8, writeCString, type Codec,
} from "../../src/runtime/codec.js";
import { btfCodec } from "../../src/runtime/btf-codec.js";

/** The same bytes as a Buffer, a plain Uint8Array (a window into a larger buffer) and a DataView. */
function inputs(content: number[]): [string, Uint8Array | DataView][] {
  const backing = new Uint8Array(content.length + 7);
  backing.set(content, 3);
  const plain = backing.subarray(3, 3 + content.length);
  return [
    ["Buffer", Buffer.from(content)],
    ["Uint8Array", plain],
    ["DataView", new DataView(backing.buffer, 3, content.length)],
  ];
}

// struct event { u64 ts; u32 pid; char comm[8]; u8 flags[2]; struct { u16 sport; u16 dport; } ports; int delta; bool ok; unsigned lo:3, hi:5; }
const types: BtfType[] = [
  { kind: "int", name: "unsigned long long", size: 8, signed: false, char: false, bool: false, bitOffset: 0, bits: 64 }, // 1
  { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 }, // 2
  { kind: "int", name: "char", size: 1, signed: true, char: false, bool: false, bitOffset: 0, bits: 8 }, // 3
  { kind: "array", name: "", type: 3, indexType: 2, nelems: 8 }, // 4 char[8]
  { kind: "int", name: "unsigned char", size: 1, signed: false, char: false, bool: false, bitOffset: 0, bits: 8 }, // 5
  { kind: "array", name: "", type: 5, indexType: 2, nelems: 2 }, // 6 u8[2]
  { kind: "int", name: "unsigned short", size: 2, signed: false, char: false, bool: false, bitOffset: 0, bits: 16 }, // 7
  { kind: "struct", name: "", size: 4, bitfields: false, members: [{ name: "sport", type: 7, bitOffset: 0, bitSize: 0 }, { name: "dport", type: 7, bitOffset: 16, bitSize: 0 }] }, // 8
  { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 }, // 9
  { kind: "int", name: "_Bool", size: 1, signed: false, char: false, bool: true, bitOffset: 0, bits: 8 }, // 10
  {
    kind: "struct", name: "event", size: 40, bitfields: true, // 11
    members: [
      { name: "ts", type: 1, bitOffset: 0, bitSize: 0 },
      { name: "pid", type: 2, bitOffset: 64, bitSize: 0 },
      { name: "comm", type: 4, bitOffset: 96, bitSize: 0 },
      { name: "flags", type: 6, bitOffset: 160, bitSize: 0 },
      { name: "ports", type: 8, bitOffset: 176, bitSize: 0 },
      { name: "delta", type: 9, bitOffset: 224, bitSize: 0 },
      { name: "ok", type: 10, bitOffset: 256, bitSize: 0 },
      { name: "lo", type: 2, bitOffset: 264, bitSize: 3 },
      { name: "hi", type: 2, bitOffset: 267, bitSize: 5 },
    ],
  },
  { kind: "typedef", name: "event_t", type: 11 }, // 12
];
const btf = new Btf(marshalBtf(types));

interface Event {
  ts: bigint;
  pid: number;
  comm: string;
  flags: number[];
  ports: { sport: number; dport: number };
  delta: number;
  ok: boolean;
  lo: number;
  hi: number;
}
const event: Event = { ts: 123456789012345n, pid: 4242, comm: "curl", flags: [1, 255], ports: { sport: 443, dport: 51000 }, delta: -7, ok: true, lo: 5, hi: 17 };

describe("built-in codecs", () => {
  const cases: [string, Codec<number> | Codec<bigint>, number | bigint, number[]][] = [
    ["u8", u8, 0xfe, [0xfe]],
    ["i8", i8, -2, [0xfe]],
    ["u16", u16, 0xbeef, [0xef, 0xbe]],
    ["i16", i16, -2, [0xfe, 0xff]],
    ["u32", u32, 0xdeadbeef, [0xef, 0xbe, 0xad, 0xde]],
    ["i32", i32, -2, [0xfe, 0xff, 0xff, 0xff]],
    ["u64", u64, 0xfedcba9876543210n, [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]],
    ["i64", i64, -2n, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  ];
  for (const [name, codec, value, le] of cases) {
    it(`${name}: decodes from Buffer, Uint8Array and DataView at an offset; encodes into each; refuses a short buffer`, () => {
      const c = codec as Codec<number | bigint>;
      for (const [kind, buf] of inputs([0xaa, ...le, 0xbb])) {
        expect(c.decode(buf, 1), kind).toBe(value);
        expect(c.typeName).toBe(name.replace(/^i/, "s"));
        const out = kind === "DataView" ? new DataView(new ArrayBuffer(c.size + 2)) : kind === "Buffer" ? Buffer.alloc(c.size + 2) : new Uint8Array(c.size + 2);
        c.encode(value, out, 2);
        const written = out instanceof DataView ? new Uint8Array(out.buffer) : out;
        expect([...written.subarray(2)], kind).toEqual(le);
        expect(() => c.decode(buf, 2 + le.length - c.size + 1)).toThrow(CodecError);
        expect(() => c.encode(value, out, 3)).toThrow(new RegExp(`^${name.replace(/^i/, "s")}: ${c.size - 1} bytes at offset 3, needs ${c.size}$`));
      }
    });
  }

  it("refuses values that do not fit (signed or unsigned), non-integers and wrong types", () => {
    const b = Buffer.alloc(8);
    u32.encode(-1, b); // the unsigned reading of -1
    expect(b.readUInt32LE(0)).toBe(0xffffffff);
    expect(() => u8.encode(256, b)).toThrow(/^u8: 256 does not fit in 1 byte$/);
    expect(() => i8.encode(-129, b)).toThrow(CodecError);
    expect(() => u16.encode(1.5, b)).toThrow(CodecError);
    expect(() => u32.encode(2 ** 32, b)).toThrow(CodecError);
    expect(() => u64.encode(1n << 64n, b)).toThrow(/does not fit in 8 bytes/);
    expect(() => u64.encode("1" as unknown as bigint, b)).toThrow(/is not an integer/);
    u64.encode(-1n, b);
    expect(b.readBigUInt64LE(0)).toBe(0xffffffffffffffffn);
  });

  it("bytes(n) copies out (the copy outlives the memory) and takes any Uint8Array of n bytes", () => {
    const c = bytes(3);
    for (const src of [new Uint8Array([9, 1, 2, 3]), Buffer.from([9, 1, 2, 3]), new DataView(new Uint8Array([9, 1, 2, 3]).buffer)]) {
      const got = c.decode(src, 1);
      const again = c.decode(src, 1); // from the cached buffer
      new Uint8Array(src.buffer)[1] = 0;
      expect([...got, ...again]).toEqual([1, 2, 3, 1, 2, 3]);
    }
    const src = new Uint8Array([9, 1, 2, 3]);
    const dv = new DataView(new ArrayBuffer(5));
    c.encode(new Uint8Array([4, 5, 6]), dv, 2);
    expect([...new Uint8Array(dv.buffer)]).toEqual([0, 0, 4, 5, 6]);
    expect(() => c.encode(new Uint8Array(2), dv)).toThrow(/expected 3 bytes, got 2/);
    expect(() => c.decode(src, 2)).toThrow(/^u8\[3\]: 2 bytes at offset 2, needs 3$/);
  });
});

describe("helpers", () => {
  it("checkRoom / checkedView / codecView check the room and never copy", () => {
    const buf = new Uint8Array(16);
    expect(() => checkRoom(buf, 8, 8, "struct x")).not.toThrow();
    expect(() => checkRoom(buf, 9, 8, "struct x")).toThrow("struct x: 7 bytes at offset 9, needs 8");
    expect(() => checkRoom(buf, 20, 8)).toThrow("8-byte value: 0 bytes at offset 20, needs 8");
    expect(() => checkRoom(buf, -1, 1, "u8")).toThrow("u8: offset -1 is not a byte offset");
    expect(() => checkRoom(buf, 0.5, 1, "u8")).toThrow(/not a byte offset/);
    const dv = new DataView(buf.buffer);
    expect(checkedView(dv, 0, 16)).toBe(dv); // the same object: nothing allocated
    const whole = checkedView(buf.subarray(4), 2, 4);
    whole.setUint8(2, 7);
    expect(buf[6]).toBe(7);
    const just = codecView(buf, 4, 8, "struct y");
    expect([just.byteOffset, just.byteLength, just.buffer]).toEqual([4, 8, buf.buffer]);
    expect(() => codecView(buf, 10, 8, "struct y")).toThrow("struct y: 6 bytes at offset 10, needs 8");
  });

  it("decoding again from the same buffer sees its current bytes; buffers that change length are checked every time", () => {
    const a = new Uint8Array(8);
    const b = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < 3; i++) {
      a[4] = i;
      b.setUint8(0, 10 + i);
      expect(u32.decode(a, 4)).toBe(i);
      expect(u32.decode(b)).toBe(10 + i);
      expect(() => u32.decode(b, 1)).toThrow("u32: 3 bytes at offset 1, needs 4");
    }
    const resizable = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(8, { maxByteLength: 16 });
    const tracking = new DataView(resizable);
    expect(u32.decode(tracking, 4)).toBe(0);
    resizable.resize(4);
    expect(() => u32.decode(tracking, 4)).toThrow("u32: 0 bytes at offset 4, needs 4");
    resizable.resize(12);
    expect(u32.decode(tracking, 8)).toBe(0);
  });

  it("C strings: up to the NUL, every byte kept (latin1), zero-filled on write", () => {
    const dv = new DataView(new ArrayBuffer(8));
    writeCString(dv, 0, 8, "h\xe9llo");
    expect(readCString(dv, 0, 8)).toBe("h\xe9llo");
    expect([...new Uint8Array(dv.buffer)]).toEqual([0x68, 0xe9, 0x6c, 0x6c, 0x6f, 0, 0, 0]);
    writeCString(dv, 0, 8, "abcdefgh"); // exactly full: no NUL, as C allows
    expect(readCString(dv, 0, 8)).toBe("abcdefgh");
    expect(() => writeCString(dv, 0, 8, "abcdefghi")).toThrow(/does not fit/);
    expect(() => writeCString(dv, 0, 8, "€")).toThrow(/U\+20ac is not one byte/);
    const long = new DataView(new ArrayBuffer(10000));
    writeCString(long, 0, 10000, "x".repeat(9999));
    expect(readCString(long, 0, 10000)).toBe("x".repeat(9999));
  });
});

describe("btfCodec", () => {
  it("decodes and encodes a struct with strings, arrays, nested records, bools and bitfields, at an offset, from every input kind", () => {
    const c = btfCodec<Event>(btf, "struct event");
    expect(c.size).toBe(40);
    expect(c.typeName).toBe("struct event");
    const out = Buffer.alloc(48, 0xcc);
    c.encode(event, out, 8);
    expect(out.subarray(0, 8).every((b) => b === 0xcc)).toBe(true);
    expect(out.readBigUInt64LE(8)).toBe(event.ts);
    expect(out.readUInt32LE(16)).toBe(4242);
    expect(out.toString("latin1", 20, 28)).toBe("curl\0\0\0\0");
    expect(out.readUInt16LE(30)).toBe(443);
    expect(out.readInt32LE(36)).toBe(-7);
    expect(out[41]).toBe(5 | (17 << 3));
    for (const [kind, buf] of inputs([...out])) expect(c.decode(buf, 8), kind).toEqual(event);
    // The typedef and the id name the same type; the typedef's name is the codec's.
    expect(btfCodec(btf, "event_t").typeName).toBe("event_t");
    expect(btfCodec(btf, 11).decode(out, 8)).toEqual(event);
  });

  it("a buffer shorter than the type is a CodecError naming it, not garbage", () => {
    const c = btfCodec(btf, "struct event");
    for (const [kind, buf] of inputs(new Array(30).fill(1))) {
      const e = (() => {
        try {
          c.decode(buf);
        } catch (err) {
          return err;
        }
      })();
      expect(e, kind).toBeInstanceOf(CodecError);
      expect(e).toBeInstanceOf(TsebpfError);
      expect((e as Error).message).toBe("struct event: 30 bytes at offset 0, needs 40");
    }
    expect(() => c.decode(Buffer.alloc(48), 9)).toThrow("struct event: 39 bytes at offset 9, needs 40");
    expect(() => c.encode(event as never, new Uint8Array(39))).toThrow("struct event: 39 bytes at offset 0, needs 40");
  });

  it("refuses values of the wrong shape with the member's path", () => {
    const c = btfCodec(btf, "struct event");
    const out = Buffer.alloc(40);
    expect(() => c.encode({ pid: "x" }, out)).toThrow(/^struct event\.pid: "x" does not fit in 4 bytes$/);
    expect(() => c.encode({ comm: "far too long" }, out)).toThrow(/struct event\.comm: a string of 12 characters does not fit/);
    expect(() => c.encode({ flags: [1, 2, 3] }, out)).toThrow(/struct event\.flags: 3 elements do not fit in 2/);
    expect(() => c.encode({ lo: 8 }, out)).toThrow(/struct event\.lo: 8 does not fit in 3 bits/);
    expect(() => c.encode(5, out)).toThrow(/struct event: expected an object, got 5/);
    // Missing members leave their bytes alone.
    out.fill(0xee);
    c.encode({ pid: 1 }, out);
    expect(out.readUInt32LE(8)).toBe(1);
    expect(out[0]).toBe(0xee);
  });

  it("names a type missing from BTF and says how to keep it", () => {
    expect(() => btfCodec(btf, "struct nope")).toThrow(/no type "struct nope" in the BTF: clang records only types that something uses/);
    expect(() => btfCodec(btf, 0)).toThrow(TsebpfError); // void
  });

  it("refuses members that lie past the end of their record", () => {
    const bad = new Btf(marshalBtf([
      { kind: "int", name: "int", size: 4, signed: true, char: false, bool: false, bitOffset: 0, bits: 32 },
      { kind: "struct", name: "bad", size: 4, bitfields: false, members: [{ name: "x", type: 1, bitOffset: 32, bitSize: 0 }] },
    ]));
    expect(() => btfCodec(bad, "struct bad")).toThrow(/struct bad\.x: 4 bytes at offset 4 lie past the 4 bytes/);
  });
});
