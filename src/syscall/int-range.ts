/**
 * Range checks of integers bound for C fields and arguments: what the kernel boundary does
 * before a number becomes bytes (a DataView or koffi would truncate it silently). No allocation
 * on the success path, so prepared fast paths may call them.
 */
import { AttrRangeError } from "./errors.js";

/** C integer types of the kernel's structures and system call arguments. */
export type IntType = "u8" | "u16" | "u32" | "s32" | "u64" | "s64";

const BIGINT_BOUNDS: Record<IntType, readonly [bigint, bigint]> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffffffffn],
  s32: [-0x80000000n, 0x7fffffffn],
  u64: [0n, 0xffffffffffffffffn],
  s64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

/**
 * Whether `value` is an integer that `type` holds exactly. Numbers must be safe integers (a
 * double above 2**53 no longer says which integer it is); bigints only have to fit.
 */
export function fitsInt(value: number | bigint, type: IntType): boolean {
  if (typeof value === "bigint") {
    const [min, max] = BIGINT_BOUNDS[type];
    return value >= min && value <= max;
  }
  switch (type) {
    case "u8":
      return (value & 0xff) === value;
    case "u16":
      return (value & 0xffff) === value;
    case "u32":
      return value >>> 0 === value;
    case "s32":
      return (value | 0) === value;
    case "u64":
      return Number.isSafeInteger(value) && value >= 0;
    case "s64":
      return Number.isSafeInteger(value);
  }
}

/** Throws AttrRangeError (naming `struct` and `field`) unless `value` fits `type`. */
export function checkInt(struct: string, field: string, value: number | bigint, type: IntType, object?: string): void {
  if (!fitsInt(value, type)) throw new AttrRangeError(struct, field, value, type, object);
}
