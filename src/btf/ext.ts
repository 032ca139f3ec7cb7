/**
 * `.BTF.ext`: per-section function info, line info and CO-RE relocation records. Strings
 * (section names, file names, source lines, access strings) live in the companion `.BTF`.
 */
import type { Btf } from "./btf.js";
import { BTF_MAGIC } from "./btf.js";
import { BtfError } from "./errors.js";

export interface FuncInfo {
  /** Byte offset of the function's first instruction in its ELF section. */
  readonly insnOff: number;
  /** BTF id of the FUNC. */
  readonly typeId: number;
}

export interface LineInfo {
  readonly insnOff: number;
  readonly fileName: string;
  /** The source line's text. */
  readonly line: string;
  readonly lineNumber: number;
  readonly column: number;
  /** Raw string offsets, for re-encoding without a new string table. */
  readonly fileNameOff: number;
  readonly lineOff: number;
}

/** CO-RE relocation kinds (enum bpf_core_relo_kind). */
export const CoreReloKind = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;
export type CoreReloKind = (typeof CoreReloKind)[keyof typeof CoreReloKind];
export const CORE_RELO_KIND_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(CoreReloKind).map(([k, v]) => [v, k.toLowerCase()]),
);

export interface CoreRelo {
  readonly insnOff: number;
  /** Local (object BTF) type id of the root type. */
  readonly typeId: number;
  /** Accessor string: `0:1:2` — index into the root, then member/element indices. */
  readonly accessStr: string;
  readonly kind: CoreReloKind;
}

export interface BtfExt {
  /** Records per ELF section name. */
  readonly funcInfo: ReadonlyMap<string, readonly FuncInfo[]>;
  readonly lineInfo: ReadonlyMap<string, readonly LineInfo[]>;
  readonly coreRelos: ReadonlyMap<string, readonly CoreRelo[]>;
}

const MIN_RECORD = { func: 8, line: 16, core: 16 } as const;

/** Parses `.BTF.ext` against the object's `.BTF`. */
export function parseBtfExt(bytes: Uint8Array, btf: Btf): BtfExt {
  if (bytes.byteLength < 24) throw new BtfError(`.BTF.ext: truncated header (${bytes.byteLength} bytes)`, 0);
  const probe = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = probe.getUint16(0, true) === BTF_MAGIC;
  if (!le && probe.getUint16(0, false) !== BTF_MAGIC) throw new BtfError(".BTF.ext: bad magic", 0);
  if (probe.getUint8(2) !== 1) throw new BtfError(`.BTF.ext: unsupported version ${probe.getUint8(2)}`, 2);
  const hdrLen = probe.getUint32(4, le);
  if (hdrLen < 24 || hdrLen > bytes.byteLength) throw new BtfError(`.BTF.ext: bad header length ${hdrLen}`, 4);
  // A string of the companion .BTF, by the offset stored at byte `at` of this section: a bad
  // offset is an error at `at`.
  const str = (at: number): string => {
    try {
      return btf.string(probe.getUint32(at, le));
    } catch (e) {
      throw BtfError.at(e, at);
    }
  };
  const area = (offField: number): [number, number] | undefined => {
    if (offField + 8 > hdrLen) return undefined;
    const off = probe.getUint32(offField, le);
    const len = probe.getUint32(offField + 4, le);
    if (len === 0) return undefined;
    if (off > bytes.byteLength - hdrLen || len > bytes.byteLength - hdrLen - off) {
      throw new BtfError(`.BTF.ext: info area [${off}, +${len}) is outside the section`, offField);
    }
    return [hdrLen + off, len];
  };
  const read = <T>(which: keyof typeof MIN_RECORD, offField: number, decode: (p: number) => T): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    const a = area(offField);
    if (!a) return out;
    const [start, len] = a;
    const end = start + len;
    if (len < 4) throw new BtfError(`.BTF.ext ${which} info: truncated`, start);
    const recSize = probe.getUint32(start, le);
    if (recSize < MIN_RECORD[which] || recSize % 4 !== 0) throw new BtfError(`.BTF.ext ${which} info: bad record size ${recSize}`, start);
    for (let p = start + 4; p < end; ) {
      if (end - p < 8) throw new BtfError(`.BTF.ext ${which} info: truncated section header`, p);
      const section = str(p);
      const count = probe.getUint32(p + 4, le);
      p += 8;
      if (count > (end - p) / recSize) throw new BtfError(`.BTF.ext ${which} info for ${section}: ${count} records do not fit`, p - 4);
      const list = out.get(section) ?? [];
      for (let i = 0; i < count; i++, p += recSize) list.push(decode(p));
      out.set(section, list);
    }
    return out;
  };
  const u32 = (p: number) => probe.getUint32(p, le);
  const funcInfo = read("func", 8, (p): FuncInfo => ({ insnOff: u32(p), typeId: u32(p + 4) }));
  const lineInfo = read("line", 16, (p): LineInfo => {
    const lineCol = u32(p + 12);
    return {
      insnOff: u32(p),
      fileNameOff: u32(p + 4),
      lineOff: u32(p + 8),
      fileName: str(p + 4),
      line: str(p + 8),
      lineNumber: lineCol >>> 10,
      column: lineCol & 0x3ff,
    };
  });
  const coreRelos = read("core", 24, (p): CoreRelo => {
    const kind = u32(p + 12);
    if (kind > CoreReloKind.TYPE_MATCHES) throw new BtfError(`.BTF.ext CO-RE relocation: unknown kind ${kind}`, p + 12);
    return { insnOff: u32(p), typeId: u32(p + 4), accessStr: str(p + 8), kind: kind as CoreReloKind };
  });
  return { funcInfo, lineInfo, coreRelos };
}
