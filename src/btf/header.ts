/** The fixed part of a `.BTF` blob's header: where its type and string sections are. */

/** Header fields after magic, version and flags (offsets are from the end of the header). */
export interface BtfHeader {
  readonly hdrLen: number;
  readonly typeOff: number;
  readonly typeLen: number;
  readonly strOff: number;
  readonly strLen: number;
}

/** The header of `blob` in byte order `le`, read as it is (Btf's constructor is what checks it). */
export function readBtfHeader(blob: Uint8Array, le: boolean): BtfHeader {
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  return { hdrLen: v.getUint32(4, le), typeOff: v.getUint32(8, le), typeLen: v.getUint32(12, le), strOff: v.getUint32(16, le), strLen: v.getUint32(20, le) };
}
