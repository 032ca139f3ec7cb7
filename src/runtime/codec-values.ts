/**
 * What the built-in codecs (codec.ts) and the codecs from BTF (btf-codec.ts) share: their error,
 * and the checks that a value fits an integer of so many bytes, wording what it got. Internal:
 * `CodecError` is exported to users through codec.ts.
 */
import { TsebpfError } from "../errors.js";

/** An unsupported type, a value that does not fit, or fewer bytes than a value needs. */
export class CodecError extends TsebpfError {
  override readonly name = "CodecError";
}

export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `"${v.length > 20 ? `${v.slice(0, 20)}…` : v}"`;
  if (typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return String(v);
  return typeof v;
}

/**
 * An integer of `bytes` bytes as a number (up to 4 bytes) or bigint: a CodecError unless it is
 * an integer that fits signed or unsigned (`-1` is accepted for a u32: 0xffffffff).
 */
export function fitNumber(v: unknown, bytes: number, typeName: string): number {
  if (typeof v === "boolean") return v ? 1 : 0;
  const n = typeof v === "bigint" ? Number(v) : v;
  const bits = bytes * 8;
  if (typeof n !== "number" || !Number.isInteger(n) || n < -(2 ** (bits - 1)) || n >= 2 ** bits) {
    throw new CodecError(`${typeName}: ${describeValue(v)} does not fit in ${bytes} byte${bytes === 1 ? "" : "s"}`);
  }
  return n;
}

export function fitBigInt(v: unknown, bytes: number, typeName: string): bigint {
  const bits = BigInt(bytes * 8);
  let n: bigint;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "boolean") n = v ? 1n : 0n;
  else if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
  else throw new CodecError(`${typeName}: ${describeValue(v)} is not an integer`);
  if (n < -(1n << (bits - 1n)) || n >= 1n << bits) throw new CodecError(`${typeName}: ${n} does not fit in ${bytes} bytes`);
  return n;
}
