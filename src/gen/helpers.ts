/**
 * The small functions a generated module calls: bounds checks, range checks with errors naming
 * the field, text and byte arrays, bitfields, 128-bit integers. They live in the library
 * (src/runtime/gen-support.ts, `runtime.genSupport`); a module takes only those it uses, so it
 * compiles under `noUnusedLocals`.
 */

export type HelperName =
  | "recordCodec"
  | "valueCodec"
  | "scalarCodec"
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

/** Every helper, in the order a module takes them. */
const ORDER: readonly HelperName[] = [
  "recordCodec",
  "valueCodec",
  "scalarCodec",
  "recordView",
  "viewOf",
  "viewRoom",
  "checkInt",
  "checkBig",
  "checkNum",
  "checkList",
  "checkRecord",
  "readText",
  "writeText",
  "readBytes",
  "writeBytes",
  "readBits",
  "writeBits",
  "readBitsBig",
  "writeBitsBig",
  "readInt128",
  "writeInt128",
];

/**
 * The declaration taking the helpers in `used` from the library (`runtime.genSupport`), in a
 * fixed order: module constants, called directly (no property load per call); "" for none.
 */
export function helperImport(used: ReadonlySet<HelperName>): string {
  const names = ORDER.filter((h) => used.has(h));
  return names.length === 0 ? "" : `const { ${names.join(", ")} } = runtime.genSupport;`;
}
