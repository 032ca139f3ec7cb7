/** Writes BTF types to the kernel's binary format (the inverse of `parseBtf`). */
import { BTF_MAGIC, trailingSize } from "./btf.js";
import { BtfError } from "./errors.js";
import { BtfKindNumber, BtfLinkage, type BtfType } from "./types.js";

/** A string table: deduplicated, NUL-terminated, starting with the empty string. */
export class StringTable {
  private readonly offsets = new Map<string, number>([["", 0]]);
  private readonly chunks: Buffer[] = [Buffer.from([0])];
  private length = 1;

  constructor(private readonly base = 0) {}

  /** Offset of `s`, adding it when new. */
  add(s: string): number {
    const known = this.offsets.get(s);
    if (known !== undefined) return known;
    if (s.includes("\0")) throw new BtfError(`name ${JSON.stringify(s)} contains NUL`);
    const bytes = Buffer.from(`${s}\0`, "utf8");
    const off = this.base + this.length;
    this.offsets.set(s, off);
    this.chunks.push(bytes);
    this.length += bytes.byteLength;
    return off;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface MarshalOptions {
  readonly order?: "little" | "big";
  /** For split BTF: the base's type count and string section length. */
  readonly base?: { readonly typeCount: number; readonly stringLength: number };
}

const u32 = (v: number, what: string): number => {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new BtfError(`${what} ${v} does not fit in 32 bits`);
  return v;
};

/** Encodes types (ids 1..n in order, or base+1.. for split BTF) as a BTF blob with header. */
export function marshalBtf(types: readonly BtfType[], options: MarshalOptions = {}): Uint8Array {
  const le = (options.order ?? "little") === "little";
  const strings = new StringTable(options.base?.stringLength ?? 0);
  let typeLen = 0;
  for (const t of types) typeLen += 12 + trailingSize(BtfKindNumber[t.kind], vlenOf(t));
  const typeBytes = new Uint8Array(typeLen);
  const v = new DataView(typeBytes.buffer);
  let p = 0;
  const put = (x: number, what: string) => {
    v.setUint32(p, u32(x, what), le);
    p += 4;
  };
  for (const t of types) {
    const vlen = vlenOf(t);
    if (vlen > 0xffff) throw new BtfError(`${t.kind} ${t.name}: ${vlen} entries, more than BTF can hold`);
    const kflag = kindFlag(t);
    put(strings.add(t.name), "name offset");
    put((((kflag ? 1 : 0) << 31) | (BtfKindNumber[t.kind] << 24) | vlen) >>> 0, "info");
    switch (t.kind) {
      case "int":
        put(t.size, "size");
        put((((t.signed ? 1 : 0) | (t.char ? 2 : 0) | (t.bool ? 4 : 0)) << 24) | ((t.bitOffset & 0xff) << 16) | (t.bits & 0xff), "int encoding");
        break;
      case "ptr":
      case "typedef":
      case "volatile":
      case "const":
      case "restrict":
      case "type_tag":
      case "func":
        put(t.type, "type");
        break;
      case "array":
        put(0, "size");
        put(t.type, "element type");
        put(t.indexType, "index type");
        put(t.nelems, "element count");
        break;
      case "struct":
      case "union":
        put(t.size, "size");
        for (const m of t.members) {
          put(strings.add(m.name), "member name");
          put(m.type, "member type");
          put(t.bitfields ? ((m.bitSize << 24) | m.bitOffset) >>> 0 : m.bitOffset, "member offset");
        }
        break;
      case "enum":
        put(t.size, "size");
        for (const e of t.values) {
          put(strings.add(e.name), "enumerator name");
          put(e.value >>> 0, "enumerator value");
        }
        break;
      case "enum64":
        put(t.size, "size");
        for (const e of t.values) {
          const raw = BigInt.asUintN(64, e.value);
          put(strings.add(e.name), "enumerator name");
          put(Number(raw & 0xffffffffn), "enumerator value");
          put(Number(raw >> 32n), "enumerator value");
        }
        break;
      case "fwd":
        put(0, "size");
        break;
      case "func_proto":
        put(t.returnType, "return type");
        for (const param of t.params) {
          put(strings.add(param.name), "parameter name");
          put(param.type, "parameter type");
        }
        break;
      case "var":
        put(t.type, "type");
        put(BtfLinkage[t.linkage], "linkage");
        break;
      case "datasec":
        put(t.size, "size");
        for (const s of t.vars) {
          put(s.type, "variable type");
          put(s.offset, "variable offset");
          put(s.size, "variable size");
        }
        break;
      case "float":
        put(t.size, "size");
        break;
      case "decl_tag":
        put(t.type, "type");
        put(t.componentIdx >>> 0, "component index");
        break;
    }
  }
  const stringBytes = strings.bytes();
  const out = new Uint8Array(24 + typeLen + stringBytes.byteLength);
  const h = new DataView(out.buffer);
  h.setUint16(0, BTF_MAGIC, le);
  h.setUint8(2, 1);
  h.setUint8(3, 0);
  h.setUint32(4, 24, le);
  h.setUint32(8, 0, le);
  h.setUint32(12, typeLen, le);
  h.setUint32(16, typeLen, le);
  h.setUint32(20, stringBytes.byteLength, le);
  out.set(typeBytes, 24);
  out.set(stringBytes, 24 + typeLen);
  return out;
}

function vlenOf(t: BtfType): number {
  switch (t.kind) {
    case "struct":
    case "union":
      return t.members.length;
    case "enum":
    case "enum64":
      return t.values.length;
    case "func_proto":
      return t.params.length;
    case "datasec":
      return t.vars.length;
    case "func":
      return BtfLinkage[t.linkage];
    default:
      return 0;
  }
}

function kindFlag(t: BtfType): boolean {
  switch (t.kind) {
    case "struct":
    case "union":
      return t.bitfields;
    case "enum":
    case "enum64":
      return t.signed;
    case "fwd":
      return t.union;
    default:
      return false;
  }
}
