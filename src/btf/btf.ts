/**
 * A parsed BTF blob (`.BTF` of an object, `/sys/kernel/btf/vmlinux`, or module split BTF).
 *
 * Parsing is lazy: the constructor checks the header and walks the type section once to find
 * where each record starts (no names decoded, no objects built); `type(id)` decodes a record on
 * first use; the name index is built on the first lookup by name. Everything is bounds-checked:
 * malformed input raises BtfError, never another exception.
 */
import { HOST_LE } from "../asm/encoding.js";
import { BtfError } from "./errors.js";
import { readBtfHeader } from "./header.js";
import { NameIndex } from "./name-index.js";
import {
  BtfLinkage,
  KIND_BY_NUMBER,
  type BtfKind,
  type BtfMember,
  type BtfType,
} from "./types.js";

export const BTF_MAGIC = 0xeb9f;
const HEADER_SIZE = 24;
const RECORD_SIZE = 12;

/** Size of the data that follows a type record, by kind number and vlen. */
export function trailingSize(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // int
    case 14: // var
    case 17: // decl_tag
      return 4;
    case 3: // array
      return 12;
    case 4: // struct
    case 5: // union
    case 15: // datasec
    case 19: // enum64
      return vlen * 12;
    case 6: // enum
    case 13: // func_proto
      return vlen * 8;
    default:
      return 0;
  }
}

const LINKAGE_BY_NUMBER: readonly BtfLinkage[] = ["static", "global", "extern"];

export interface BtfOptions {
  /** For split BTF (kernel modules): the base BTF whose ids and strings this one continues. */
  readonly base?: Btf;
}

export class Btf {
  /** The blob this was parsed from (not copied). */
  readonly bytes: Uint8Array;
  readonly byteOrder: "little" | "big";
  readonly base: Btf | undefined;
  /** The id of this blob's first type: 1, or one past the base's last id for split BTF. */
  readonly firstId: number;
  /** Byte offset of each type record in `typeData`. */
  private readonly offsets: Uint32Array;
  private readonly view: DataView;
  private readonly le: boolean;
  private readonly typeData: Uint8Array;
  /** The type section as 32-bit words, when aligned and in host order: the fast path of scans. */
  private readonly words: Uint32Array | undefined;
  private readonly stringData: Buffer;
  /** Offset of this blob's strings in the combined (base + own) string space. */
  private readonly stringBase: number;
  private readonly decoded: (BtfType | undefined)[];
  private names: NameIndex | undefined;
  private readonly typeSectionOffset: number;

  constructor(bytes: Uint8Array, options: BtfOptions = {}) {
    this.bytes = bytes;
    if (bytes.byteLength < HEADER_SIZE) throw new BtfError(`truncated header: ${bytes.byteLength} bytes`, 0);
    const probe = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (probe.getUint16(0, true) === BTF_MAGIC) this.le = true;
    else if (probe.getUint16(0, false) === BTF_MAGIC) this.le = false;
    else throw new BtfError(`bad magic 0x${probe.getUint16(0, true).toString(16)}`, 0);
    this.byteOrder = this.le ? "little" : "big";
    const le = this.le;
    const version = probe.getUint8(2);
    if (version !== 1) throw new BtfError(`unsupported version ${version}`, 2);
    const { hdrLen, typeOff, typeLen, strOff, strLen } = readBtfHeader(bytes, le);
    if (hdrLen < HEADER_SIZE || hdrLen > bytes.byteLength) throw new BtfError(`bad header length ${hdrLen}`, 4);
    const end = bytes.byteLength - hdrLen;
    if (typeOff > end || typeLen > end - typeOff) throw new BtfError(`type section [${typeOff}, +${typeLen}) is outside the blob`, 8);
    if (strOff > end || strLen > end - strOff) throw new BtfError(`string section [${strOff}, +${strLen}) is outside the blob`, 16);
    if (typeOff % 4 !== 0) throw new BtfError(`type section offset ${typeOff} is not 4-byte aligned`, 8);
    this.typeSectionOffset = hdrLen + typeOff;
    this.typeData = bytes.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen);
    this.view = new DataView(this.typeData.buffer, this.typeData.byteOffset, this.typeData.byteLength);
    this.words = this.typeData.byteOffset % 4 === 0 && this.le === HOST_LE ? new Uint32Array(this.typeData.buffer, this.typeData.byteOffset, this.typeData.byteLength >> 2) : undefined;
    const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
    this.stringData = Buffer.from(strings.buffer, strings.byteOffset, strings.byteLength);
    this.base = options.base;
    if (this.base) {
      if (this.base.byteOrder !== this.byteOrder) throw new BtfError("split BTF and its base differ in byte order", 0);
      this.firstId = this.base.typeCount + 1;
      this.stringBase = this.base.stringBase + this.base.stringData.byteLength;
    } else {
      if (strLen === 0 || this.stringData[0] !== 0) throw new BtfError("string section must start with an empty string", this.typeSectionOffset);
      this.firstId = 1;
      this.stringBase = 0;
    }
    if (strLen > 0 && this.stringData[strLen - 1] !== 0) throw new BtfError("string section does not end with NUL", hdrLen + strOff + strLen - 1);
    this.offsets = this.scan();
    this.decoded = new Array(this.offsets.length);
  }

  /** Walks the type section once, recording where each record starts. */
  /** Name offset of each record, filled by scan(): lookups by name read this, not the records. */
  private nameOffsets: Uint32Array = new Uint32Array(0);

  private scan(): Uint32Array {
    const len = this.typeData.byteLength;
    // At most one record per 12 bytes: allocate that once rather than grow.
    const offsets = new Uint32Array(Math.ceil(len / RECORD_SIZE));
    const names = new Uint32Array(offsets.length);
    let n = 0;
    const words = this.words;
    for (let p = 0; p < len; ) {
      if (len - p < RECORD_SIZE) throw new BtfError("truncated type record", this.typeSectionOffset + p);
      const info = words ? (words[(p >> 2) + 1] as number) : this.view.getUint32(p + 4, this.le);
      const kind = (info >>> 24) & 0x1f;
      if (KIND_BY_NUMBER[kind] === undefined) throw new BtfError(`type ${this.firstId + n}: unknown kind ${kind}`, this.typeSectionOffset + p + 4);
      const size = RECORD_SIZE + trailingSize(kind, info & 0xffff);
      if (size > len - p) throw new BtfError(`type ${this.firstId + n}: record runs past the type section`, this.typeSectionOffset + p);
      names[n] = words ? (words[p >> 2] as number) : this.view.getUint32(p, this.le);
      offsets[n++] = p;
      p += size;
    }
    this.nameOffsets = names.subarray(0, n);
    return offsets.subarray(0, n);
  }

  /** The highest type id, counting the base's types for split BTF. */
  get typeCount(): number {
    return this.firstId - 1 + this.offsets.length;
  }

  /** The string at `offset` in the (base + own) string space. */
  string(offset: number): string {
    if (offset < this.stringBase) {
      if (!this.base) throw new BtfError(`string offset ${offset} out of range`);
      return this.base.string(offset);
    }
    const start = offset - this.stringBase;
    if (start >= this.stringData.byteLength) throw new BtfError(`string offset ${offset} is past the string section (${this.stringBase + this.stringData.byteLength})`);
    const end = this.stringData.indexOf(0, start);
    return this.stringData.toString("utf8", start, end);
  }

  /** `string(offset)`, where the offset was read at byte `at` of this blob (named by its errors). */
  private stringAt(offset: number, at: number): string {
    try {
      return this.string(offset);
    } catch (e) {
      throw BtfError.at(e, at);
    }
  }

  /** The kind of type `id` without decoding it ("void" for 0). */
  kindOf(id: number): BtfKind | "void" {
    if (id === 0) return "void";
    if (id < this.firstId) return this.baseOf(id).kindOf(id);
    const p = this.recordOffset(id);
    return KIND_BY_NUMBER[(this.view.getUint32(p + 4, this.le) >>> 24) & 0x1f] as BtfKind;
  }

  private baseOf(id: number): Btf {
    if (!this.base) throw new BtfError(`type id ${id} out of range`);
    return this.base;
  }

  private recordOffset(id: number): number {
    const p = this.offsets[id - this.firstId];
    if (p === undefined || !Number.isInteger(id)) throw new BtfError(`type id ${id} out of range (1-${this.typeCount})`);
    return p;
  }

  /** Byte offset of type `id`'s record in the blob, for patching a copy of it in place. */
  recordPosition(id: number): number {
    if (id < this.firstId) throw new BtfError(`type ${id} belongs to the base BTF`);
    return this.typeSectionOffset + this.recordOffset(id);
  }

  /** Type `id`; `undefined` for void (id 0). Throws BtfError for an id out of range. */
  type(id: number): BtfType | undefined {
    if (id === 0) return undefined;
    if (id < this.firstId) return this.baseOf(id).type(id);
    const i = id - this.firstId;
    const cached = this.decoded[i];
    if (cached) return cached;
    const p = this.recordOffset(id);
    let t: BtfType;
    try {
      t = this.decode(p, id);
    } catch (e) {
      // A bad reference inside the record (a type id past the last): located at the record.
      throw BtfError.at(e, this.typeSectionOffset + p);
    }
    this.decoded[i] = t;
    return t;
  }

  /** Like `type`, but void is an error: for places where a real type is required. */
  mustType(id: number): BtfType {
    const t = this.type(id);
    if (!t) throw new BtfError(`type id 0 (void) where a type is required`);
    return t;
  }

  private checkRef(id: number, from: number, what: string): number {
    if (id > this.typeCount) throw new BtfError(`type ${from}: ${what} refers to type ${id}, past the last (${this.typeCount})`);
    return id;
  }

  private decode(p: number, id: number): BtfType {
    const v = this.view;
    const le = this.le;
    const info = v.getUint32(p + 4, le);
    const kind = KIND_BY_NUMBER[(info >>> 24) & 0x1f] as BtfKind;
    const vlen = info & 0xffff;
    const kflag = (info >>> 31) === 1;
    // A name that is not in the string section: the error names where its offset is stored.
    const str = (at: number) => this.stringAt(v.getUint32(at, le), this.typeSectionOffset + at);
    const name = str(p);
    const sizeOrType = v.getUint32(p + 8, le);
    const body = p + RECORD_SIZE;
    const ref = (x: number, what: string) => this.checkRef(x, id, what);
    switch (kind) {
      case "int": {
        const enc = v.getUint32(body, le);
        const bits = enc & 0xff;
        const encoding = (enc >>> 24) & 0x0f;
        return {
          kind, name, size: sizeOrType,
          signed: (encoding & 1) !== 0, char: (encoding & 2) !== 0, bool: (encoding & 4) !== 0,
          bitOffset: (enc >>> 16) & 0xff, bits,
        };
      }
      case "ptr":
        return { kind, name, type: ref(sizeOrType, "pointer") };
      case "array":
        return {
          kind, name,
          type: ref(v.getUint32(body, le), "element type"),
          indexType: ref(v.getUint32(body + 4, le), "index type"),
          nelems: v.getUint32(body + 8, le),
        };
      case "struct":
      case "union": {
        const members: BtfMember[] = [];
        for (let i = 0; i < vlen; i++) {
          const m = body + i * 12;
          const offset = v.getUint32(m + 8, le);
          members.push({
            name: str(m),
            type: ref(v.getUint32(m + 4, le), `member ${i}`),
            bitOffset: kflag ? offset & 0xffffff : offset,
            bitSize: kflag ? offset >>> 24 : 0,
          });
        }
        return { kind, name, size: sizeOrType, members, bitfields: kflag };
      }
      case "enum": {
        const values = [];
        for (let i = 0; i < vlen; i++) {
          const m = body + i * 8;
          const raw = v.getUint32(m + 4, le);
          values.push({ name: str(m), value: kflag ? raw | 0 : raw });
        }
        return { kind, name, size: sizeOrType, signed: kflag, values };
      }
      case "enum64": {
        const values = [];
        for (let i = 0; i < vlen; i++) {
          const m = body + i * 12;
          const raw = (BigInt(v.getUint32(m + 8, le)) << 32n) | BigInt(v.getUint32(m + 4, le));
          values.push({ name: str(m), value: kflag ? BigInt.asIntN(64, raw) : raw });
        }
        return { kind, name, size: sizeOrType, signed: kflag, values };
      }
      case "fwd":
        return { kind, name, union: kflag };
      case "typedef":
      case "volatile":
      case "const":
      case "restrict":
      case "type_tag":
        return { kind, name, type: ref(sizeOrType, kind) };
      case "func":
        return { kind, name, type: ref(sizeOrType, "prototype"), linkage: LINKAGE_BY_NUMBER[vlen] ?? "static" };
      case "func_proto": {
        const params = [];
        for (let i = 0; i < vlen; i++) {
          const m = body + i * 8;
          params.push({ name: str(m), type: ref(v.getUint32(m + 4, le), `parameter ${i}`) });
        }
        return { kind, name, returnType: ref(sizeOrType, "return type"), params };
      }
      case "var":
        return { kind, name, type: ref(sizeOrType, "variable type"), linkage: LINKAGE_BY_NUMBER[v.getUint32(body, le)] ?? "static" };
      case "datasec": {
        const vars = [];
        for (let i = 0; i < vlen; i++) {
          const m = body + i * 12;
          vars.push({ type: ref(v.getUint32(m, le), `variable ${i}`), offset: v.getUint32(m + 4, le), size: v.getUint32(m + 8, le) });
        }
        return { kind, name, size: sizeOrType, vars };
      }
      case "float":
        return { kind, name, size: sizeOrType };
      case "decl_tag":
        return { kind, name, type: ref(sizeOrType, "tagged type"), componentIdx: v.getInt32(body, le) };
    }
  }

  /** Name of type `id` without decoding the rest of it ("" for anonymous and void). */
  nameOf(id: number): string {
    if (id === 0) return "";
    if (id < this.firstId) return this.baseOf(id).nameOf(id);
    const p = this.recordOffset(id);
    return this.stringAt(this.view.getUint32(p, this.le), this.typeSectionOffset + p);
  }

  private nameIndex(): NameIndex {
    this.names ??= new NameIndex({
      nameOffsets: this.nameOffsets,
      strings: this.stringData,
      stringBase: this.stringBase,
      firstId: this.firstId,
    });
    return this.names;
  }

  /** Ids of every named type of this blob (not the base's) with this name, in id order. */
  idsByName(name: string): readonly number[] {
    return this.nameIndex().byName(name);
  }

  /**
   * Ids of this blob's types whose CO-RE essential name is `name` (the name itself, and
   * flavours like `name___v2`), in id order.
   */
  idsByEssentialName(name: string): readonly number[] {
    return this.nameIndex().byEssentialName(name);
  }

  /** The first type with this name and kind, searching this blob and then its base. */
  find(name: string, kind?: BtfKind): number | undefined {
    for (const id of this.idsByName(name)) if (kind === undefined || this.kindOf(id) === kind) return id;
    return this.base?.find(name, kind);
  }

  /** Ids of this blob's own types (not the base's). */
  *ids(): IterableIterator<number> {
    for (let i = 0; i < this.offsets.length; i++) yield this.firstId + i;
  }

  /** This blob's own types, in id order (decodes all of them). */
  types(): BtfType[] {
    const out: BtfType[] = [];
    for (const id of this.ids()) out.push(this.type(id) as BtfType);
    return out;
  }
}

/** Parses a BTF blob. */
export const parseBtf = (bytes: Uint8Array, options?: BtfOptions): Btf => new Btf(bytes, options);
