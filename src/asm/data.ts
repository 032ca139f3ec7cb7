/** Data of assembled data sections (`.byte`, `.long`, `.asciz` …), encoded once the byte order is known. */

/** One data directive's worth of bytes: an integer of 1-8 bytes (byte order applied later) or raw bytes. */
export type DataItem = { readonly size: 1 | 2 | 4 | 8; readonly value: bigint } | { readonly bytes: Uint8Array };

/** Bytes the items take. */
export const dataSize = (items: readonly DataItem[]): number => items.reduce((n, i) => n + ("bytes" in i ? i.bytes.byteLength : i.size), 0);

/** The bytes of a data section in a byte order. */
export function encodeData(items: readonly DataItem[], order: "little" | "big"): Uint8Array {
  const out = new Uint8Array(dataSize(items));
  const view = new DataView(out.buffer);
  let pos = 0;
  for (const item of items) {
    if ("bytes" in item) {
      out.set(item.bytes, pos);
      pos += item.bytes.byteLength;
      continue;
    }
    const v = BigInt.asUintN(item.size * 8, item.value);
    const le = order === "little";
    if (item.size === 1) view.setUint8(pos, Number(v));
    else if (item.size === 2) view.setUint16(pos, Number(v), le);
    else if (item.size === 4) view.setUint32(pos, Number(v), le);
    else view.setBigUint64(pos, v, le);
    pos += item.size;
  }
  return out;
}


export const DATA_DIRECTIVES: Record<string, 1 | 2 | 4 | 8> = {
  ".byte": 1, ".short": 2, ".half": 2, ".2byte": 2, ".long": 4, ".word": 4, ".int": 4, ".4byte": 4, ".quad": 8, ".8byte": 8,
};
