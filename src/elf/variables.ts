/**
 * Reading and setting global variables of a CollectionSpec before load (cilium's Variables):
 * the bytes live in the initial value of their data section's map.
 */
import type { CollectionSpec, VariableSpec } from "./spec.js";
import { NotFoundError, TsebpfError } from "../errors.js";

/** A value that does not fit its variable (a variable that does not exist is a NotFoundError). */
export class VariableError extends TsebpfError {
  override readonly name: string = "VariableError";
}

/**
 * A name several variables share (static variables of objects linked together): which one is
 * meant is not known, so it is refused; `labels` are the keys that name each one.
 */
export class AmbiguousVariableError extends VariableError {
  override readonly name = "AmbiguousVariableError";

  constructor(
    readonly variable: string,
    readonly labels: readonly string[],
    where = "",
  ) {
    super(`variable "${variable}"${where ? ` ${where}` : ""} names ${labels.length} static variables of linked objects: use one of their labels: ${labels.join(", ")}`);
  }
}

/**
 * The variable `name` names: by label (a unique name, or `name@section+offset`). A name that
 * several variables share is an AmbiguousVariableError listing their labels; a name no variable
 * has, a NotFoundError listing the labels there are. `where`: `in this object`, ….
 */
export function lookupVariable(variables: ReadonlyMap<string, VariableSpec>, name: string, where: string): VariableSpec {
  const v = variables.get(name);
  if (v) return v;
  const shared = [...variables.values()].filter((x) => x.name === name).map((x) => x.label);
  if (shared.length > 0) throw new AmbiguousVariableError(name, shared, where);
  throw new NotFoundError("variable", name, [...variables.keys()], where);
}

function find(spec: CollectionSpec, name: string): { v: VariableSpec; bytes: Uint8Array } {
  const v = lookupVariable(spec.variables, name, "in this object");
  const data = spec.maps.get(v.map)?.data;
  if (!data || v.offset + v.size > data.byteLength) throw new VariableError(`variable ${name}: no data for it in map ${v.map}`);
  return { v, bytes: data.subarray(v.offset, v.offset + v.size) };
}

/** The variable's current initial value (a copy of its bytes). */
export function getVariable(spec: CollectionSpec, name: string): Uint8Array {
  return Uint8Array.from(find(spec, name).bytes);
}

/** The variable's value as an unsigned integer, for variables of 1, 2, 4 or 8 bytes. */
export function getVariableInteger(spec: CollectionSpec, name: string): bigint {
  const { v, bytes } = find(spec, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = spec.byteOrder === "little";
  switch (v.size) {
    case 1:
      return BigInt(view.getUint8(0));
    case 2:
      return BigInt(view.getUint16(0, le));
    case 4:
      return BigInt(view.getUint32(0, le));
    case 8:
      return view.getBigUint64(0, le);
  }
  throw new VariableError(`variable ${name} is ${v.size} bytes, not an integer`);
}

/**
 * Sets the variable's initial value: bytes of exactly its size, or an integer (number, bigint,
 * boolean) for 1-, 2-, 4- and 8-byte variables, written in the object's byte order.
 */
export function setVariable(spec: CollectionSpec, name: string, value: Uint8Array | number | bigint | boolean): void {
  const { v, bytes } = find(spec, name);
  if (value instanceof Uint8Array) {
    if (value.byteLength !== v.size) throw new VariableError(`variable ${name} is ${v.size} bytes, the value ${value.byteLength}`);
    bytes.set(value);
    return;
  }
  const n = typeof value === "boolean" ? (value ? 1n : 0n) : BigInt(value);
  if (v.size !== 1 && v.size !== 2 && v.size !== 4 && v.size !== 8) throw new VariableError(`variable ${name} is ${v.size} bytes: give its bytes, not a number`);
  const bits = BigInt(v.size * 8);
  if (n < -(1n << (bits - 1n)) || n >= 1n << bits) throw new VariableError(`value ${n} does not fit variable ${name} (${v.size} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = spec.byteOrder === "little";
  const u = BigInt.asUintN(Number(bits), n);
  if (v.size === 1) view.setUint8(0, Number(u));
  else if (v.size === 2) view.setUint16(0, Number(u), le);
  else if (v.size === 4) view.setUint32(0, Number(u), le);
  else view.setBigUint64(0, u, le);
}
