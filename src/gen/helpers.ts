/**
 * The small functions a generated module carries (it imports only tsebpf's public API): bounds
 * checks, range checks with errors naming the field, text and byte arrays, bitfields, 128-bit
 * integers. Only those the module uses are written, so it compiles under `noUnusedLocals`.
 */

export type HelperName =
  | "recordView"
  | "viewOf"
  | "viewRoom"
  | "checkInt"
  | "checkBig"
  | "checkNum"
  | "checkList"
  | "checkRecord"
  | "readText"
  | "writeText"
  | "readBytes"
  | "writeBytes"
  | "readBits"
  | "writeBits"
  | "readBitsBig"
  | "writeBitsBig"
  | "readInt128"
  | "writeInt128";

interface Helper {
  readonly uses: readonly HelperName[];
  readonly source: string;
}

const HELPERS: Record<HelperName, Helper> = {
  recordView: {
    uses: [],
    source: `/** A DataView over \`buf\` after checking that \`size\` bytes of \`type\` fit at \`offset\` (no copy). */
function recordView(buf: Uint8Array | DataView, offset: number, size: number, type: string): DataView {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.byteLength) {
    throw new CodecError(\`\${type}: needs \${size} bytes at offset \${offset}, the buffer has \${buf.byteLength}\`);
  }
  return buf instanceof DataView ? buf : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}`,
  },
  viewOf: {
    uses: [],
    source: `/** \`buf\` as a DataView over the same memory (itself when it is one; an empty one for none). */
function viewOf(buf: Uint8Array | DataView | undefined): DataView {
  if (buf === undefined) return new DataView(new ArrayBuffer(0));
  return buf instanceof DataView ? buf : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}`,
  },
  viewRoom: {
    uses: [],
    source: `/** Throws unless \`size\` bytes of \`type\` are at \`offset\` of \`length\` bytes (a view's slow path). */
function viewRoom(size: number, type: string, length: number, offset: number): void {
  if (Number.isSafeInteger(offset) && offset >= 0 && offset + size <= length) return;
  throw new CodecError(\`\${type}: needs \${size} bytes at offset \${offset}, the buffer has \${length}\`);
}`,
  },
  checkInt: {
    uses: [],
    source: `function checkInt(x: number, min: number, max: number, what: string): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) throw new CodecError(\`\${what}: \${String(x)} is not an integer in \${min}..\${max}\`);
  return x;
}`,
  },
  checkBig: {
    uses: [],
    source: `function checkBig(x: bigint, min: bigint, max: bigint, what: string): bigint {
  const n: unknown = typeof x === "number" && Number.isSafeInteger(x) ? BigInt(x) : x;
  if (typeof n !== "bigint" || n < min || n > max) throw new CodecError(\`\${what}: \${String(x)} is not an integer in \${min}..\${max}\`);
  return n;
}`,
  },
  checkNum: {
    uses: [],
    source: `function checkNum(x: number, what: string): number {
  if (typeof x !== "number") throw new CodecError(\`\${what}: expected a number, got \${typeof x}\`);
  return x;
}`,
  },
  checkList: {
    uses: [],
    source: `function checkList<T>(x: readonly T[], n: number, what: string): readonly T[] {
  if (!Array.isArray(x) || x.length > n) throw new CodecError(\`\${what}: expected an array of at most \${n} elements\`);
  return x;
}`,
  },
  checkRecord: {
    uses: [],
    source: `function checkRecord<T>(x: T, what: string): T {
  if (typeof x !== "object" || x === null) throw new CodecError(\`\${what}: expected an object, got \${x === null ? "null" : typeof x}\`);
  return x;
}`,
  },
  readText: {
    uses: [],
    source: `/** char[n]: the bytes up to the first NUL (or all n), one character per byte (latin1: every byte round-trips). */
function readText(v: DataView, o: number, n: number): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset + o, n);
  let end = bytes.indexOf(0);
  if (end < 0) end = n;
  let s = "";
  for (let i = 0; i < end; i += 4096) s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  return s;
}`,
  },
  writeText: {
    uses: [],
    source: `function writeText(v: DataView, o: number, n: number, x: string, what: string): void {
  if (typeof x !== "string") throw new CodecError(\`\${what}: expected a string, got \${typeof x}\`);
  if (x.length > n) throw new CodecError(\`\${what}: a string of \${x.length} characters does not fit char[\${n}]\`);
  for (let i = 0; i < n; i++) {
    const c = i < x.length ? x.charCodeAt(i) : 0;
    if (c > 0xff) throw new CodecError(\`\${what}: character U+\${c.toString(16).padStart(4, "0")} is not one byte (latin1)\`);
    v.setUint8(o + i, c);
  }
}`,
  },
  readBytes: {
    uses: [],
    source: `function readBytes(v: DataView, o: number, n: number): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset + o, n).slice();
}`,
  },
  writeBytes: {
    uses: [],
    source: `function writeBytes(v: DataView, o: number, n: number, x: Uint8Array, what: string): void {
  if (!(x instanceof Uint8Array) || x.byteLength > n) throw new CodecError(\`\${what}: expected a Uint8Array of at most \${n} bytes\`);
  new Uint8Array(v.buffer, v.byteOffset + o, n).set(x);
}`,
  },
  readBits: {
    uses: [],
    source: `/** A bitfield of up to 32 bits in the \`n\` bytes at \`o\`: \`shift\` bits above the lowest bit of those bytes read as one integer. */
function readBits(v: DataView, o: number, n: number, shift: number, bits: number, signed: boolean, le: boolean): number {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = acc * 256 + v.getUint8(o + (le ? n - 1 - i : i));
  const x = Math.floor(acc / 2 ** shift) % 2 ** bits;
  return signed && x >= 2 ** (bits - 1) ? x - 2 ** bits : x;
}`,
  },
  writeBits: {
    uses: [],
    source: `function writeBits(v: DataView, o: number, n: number, shift: number, bits: number, le: boolean, x: number): void {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = acc * 256 + v.getUint8(o + (le ? n - 1 - i : i));
  const low = acc % 2 ** shift;
  const high = Math.floor(acc / 2 ** (shift + bits));
  acc = (high * 2 ** bits + (x < 0 ? x + 2 ** bits : x)) * 2 ** shift + low;
  for (let i = 0; i < n; i++, acc = Math.floor(acc / 256)) v.setUint8(o + (le ? i : n - 1 - i), acc % 256);
}`,
  },
  readBitsBig: {
    uses: [],
    source: `function readBitsBig(v: DataView, o: number, n: number, shift: number, bits: number, signed: boolean, le: boolean): bigint {
  let acc = 0n;
  for (let i = 0; i < n; i++) acc = (acc << 8n) | BigInt(v.getUint8(o + (le ? n - 1 - i : i)));
  const x = BigInt.asUintN(bits, acc >> BigInt(shift));
  return signed ? BigInt.asIntN(bits, x) : x;
}`,
  },
  writeBitsBig: {
    uses: [],
    source: `function writeBitsBig(v: DataView, o: number, n: number, shift: number, bits: number, le: boolean, x: bigint): void {
  let acc = 0n;
  for (let i = 0; i < n; i++) acc = (acc << 8n) | BigInt(v.getUint8(o + (le ? n - 1 - i : i)));
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(shift);
  acc = (acc & ~mask) | ((BigInt.asUintN(bits, x) << BigInt(shift)) & mask);
  for (let i = 0; i < n; i++, acc >>= 8n) v.setUint8(o + (le ? i : n - 1 - i), Number(acc & 0xffn));
}`,
  },
  readInt128: {
    uses: [],
    source: `function readInt128(v: DataView, o: number, signed: boolean, le: boolean): bigint {
  const lo = v.getBigUint64(le ? o : o + 8, le);
  const hi = v.getBigUint64(le ? o + 8 : o, le);
  const x = (hi << 64n) | lo;
  return signed ? BigInt.asIntN(128, x) : x;
}`,
  },
  writeInt128: {
    uses: [],
    source: `function writeInt128(v: DataView, o: number, x: bigint, le: boolean): void {
  const u = BigInt.asUintN(128, x);
  v.setBigUint64(le ? o : o + 8, BigInt.asUintN(64, u), le);
  v.setBigUint64(le ? o + 8 : o, u >> 64n, le);
}`,
  },
};

/** The source of the helpers in `used` (and what they use), in a fixed order. */
export function helperSource(used: ReadonlySet<HelperName>): string {
  const all = new Set<HelperName>();
  const add = (h: HelperName) => {
    if (all.has(h)) return;
    all.add(h);
    HELPERS[h].uses.forEach(add);
  };
  used.forEach(add);
  return (Object.keys(HELPERS) as HelperName[])
    .filter((h) => all.has(h) && HELPERS[h].source)
    .map((h) => HELPERS[h].source)
    .join("\n\n");
}
