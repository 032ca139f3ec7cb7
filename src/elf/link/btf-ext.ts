/**
 * Writing the merged `.BTF.ext` (function info, line info, CO-RE relocations per section), and
 * adding the strings it names (section names, file names, source lines, access strings) to the
 * merged `.BTF`'s string section.
 */
import { BTF_MAGIC, readBtfHeader, type CoreRelo, type FuncInfo, type LineInfo } from "../../btf/index.js";
import { LinkError } from "./errors.js";

const HEADER = 32;

/** `.BTF` bytes with `strings` added to its string section (each once), and their offsets. */
export function addBtfStrings(btf: Uint8Array, strings: Iterable<string>, order: "little" | "big"): { bytes: Uint8Array; offsetOf: (s: string) => number } {
  const le = order === "little";
  const { hdrLen, strOff, strLen } = readBtfHeader(btf, le);
  const start = hdrLen + strOff;
  const offsets = new Map<string, number>();
  const existing = Buffer.from(btf.subarray(start, start + strLen));
  for (let p = 0; p < existing.length; ) {
    const end = existing.indexOf(0, p);
    const s = existing.toString("utf8", p, end < 0 ? existing.length : end);
    if (!offsets.has(s)) offsets.set(s, p);
    p = end < 0 ? existing.length : end + 1;
  }
  const added: Buffer[] = [];
  let length = strLen;
  for (const s of strings) {
    if (offsets.has(s)) continue;
    const b = Buffer.from(`${s}\0`, "utf8");
    offsets.set(s, length);
    added.push(b);
    length += b.length;
  }
  const out = new Uint8Array(start + length);
  out.set(btf.subarray(0, start + strLen));
  let p = start + strLen;
  for (const b of added) {
    out.set(b, p);
    p += b.length;
  }
  new DataView(out.buffer).setUint32(20, length, le);
  return {
    bytes: out,
    offsetOf: (s) => {
      const o = offsets.get(s);
      if (o === undefined) throw new LinkError(`.BTF.ext names string ${JSON.stringify(s)}, which was not added to .BTF`);
      return o;
    },
  };
}

/** The merged records of one section, offsets already moved and type ids renumbered. */
export interface ExtSection {
  readonly name: string;
  readonly funcInfo: readonly FuncInfo[];
  readonly lineInfo: readonly LineInfo[];
  readonly coreRelos: readonly CoreRelo[];
}

/** Every string `writeBtfExt` will look up. */
export function extStrings(sections: readonly ExtSection[]): Set<string> {
  const out = new Set<string>();
  for (const s of sections) {
    if (s.funcInfo.length + s.lineInfo.length + s.coreRelos.length > 0) out.add(s.name);
    for (const l of s.lineInfo) {
      out.add(l.fileName);
      out.add(l.line);
    }
    for (const r of s.coreRelos) out.add(r.accessStr);
  }
  return out;
}

/** Encodes `.BTF.ext` (version 1, with CO-RE relocations). */
export function writeBtfExt(sections: readonly ExtSection[], offsetOf: (s: string) => number, order: "little" | "big"): Uint8Array {
  const le = order === "little";
  const area = (recSize: number, pick: (s: ExtSection) => number, write: (v: DataView, p: number, s: ExtSection, i: number) => void): Uint8Array => {
    const used = sections.filter((s) => pick(s) > 0);
    // An area without records is left out (libbpf refuses a record size with nothing after it).
    if (used.length === 0) return new Uint8Array();
    const size = 4 + used.reduce((n, s) => n + 8 + pick(s) * recSize, 0);
    const out = new Uint8Array(size);
    const v = new DataView(out.buffer);
    v.setUint32(0, recSize, le);
    let p = 4;
    for (const s of used) {
      v.setUint32(p, offsetOf(s.name), le);
      v.setUint32(p + 4, pick(s), le);
      p += 8;
      for (let i = 0; i < pick(s); i++, p += recSize) write(v, p, s, i);
    }
    return out;
  };
  const func = area(8, (s) => s.funcInfo.length, (v, p, s, i) => {
    const f = s.funcInfo[i] as FuncInfo;
    v.setUint32(p, f.insnOff, le);
    v.setUint32(p + 4, f.typeId, le);
  });
  const line = area(16, (s) => s.lineInfo.length, (v, p, s, i) => {
    const l = s.lineInfo[i] as LineInfo;
    v.setUint32(p, l.insnOff, le);
    v.setUint32(p + 4, offsetOf(l.fileName), le);
    v.setUint32(p + 8, offsetOf(l.line), le);
    v.setUint32(p + 12, ((l.lineNumber << 10) | (l.column & 0x3ff)) >>> 0, le);
  });
  const core = area(16, (s) => s.coreRelos.length, (v, p, s, i) => {
    const r = s.coreRelos[i] as CoreRelo;
    v.setUint32(p, r.insnOff, le);
    v.setUint32(p + 4, r.typeId, le);
    v.setUint32(p + 8, offsetOf(r.accessStr), le);
    v.setUint32(p + 12, r.kind, le);
  });
  const out = new Uint8Array(HEADER + func.length + line.length + core.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, BTF_MAGIC, le);
  v.setUint8(2, 1);
  v.setUint8(3, 0);
  v.setUint32(4, HEADER, le);
  v.setUint32(8, 0, le);
  v.setUint32(12, func.length, le);
  v.setUint32(16, func.length, le);
  v.setUint32(20, line.length, le);
  v.setUint32(24, func.length + line.length, le);
  v.setUint32(28, core.length, le);
  out.set(func, HEADER);
  out.set(line, HEADER + func.length);
  out.set(core, HEADER + func.length + line.length);
  return out;
}
