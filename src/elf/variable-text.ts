/**
 * A global variable's value written as text (`tsebpf load --set NAME=VALUE`), read by the
 * variable's BTF type: integers (decimal, 0x hex, negative where signed, range-checked), booleans,
 * enums by enumerator name or number, floats, `char[]` as a string (NUL-padded), anything else as
 * hex bytes of exactly its size.
 */
import { describeType, skipModifiers, type Btf } from "../btf/index.js";
import { NotFoundError } from "../errors.js";
import type { CollectionSpec } from "./spec.js";
import { VariableError, lookupVariable, setVariable } from "./variables.js";

const INTEGER = /^[-+]?(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/i;

function integer(text: string, what: string): bigint {
  const t = text.trim().replace(/_/g, "");
  if (!INTEGER.test(t)) throw new VariableError(`${what}: '${text}' is not an integer`);
  const negative = t.startsWith("-");
  const digits = t.replace(/^[-+]/, "");
  const n = BigInt(digits);
  return negative ? -n : n;
}

function fit(n: bigint, size: number, signed: boolean, what: string): bigint {
  const bits = BigInt(size * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (n < min || n > max) throw new VariableError(`${what}: ${n} is out of range (${min}..${max})`);
  return BigInt.asUintN(Number(bits), n);
}

function hexBytes(text: string, size: number, what: string): Uint8Array {
  const hex = text.replace(/^0x/i, "").replace(/[\s:]/g, "");
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new VariableError(`${what}: '${text}' is not hex bytes`);
  if (hex.length / 2 !== size) throw new VariableError(`${what}: ${hex.length / 2} bytes given, the variable has ${size}`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

function store(n: bigint, size: number, little: boolean): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[little ? i : size - 1 - i] = Number((n >> BigInt(i * 8)) & 0xffn);
  return out;
}

/** The bytes of `text` as a value of BTF type `typeId` of `size` bytes (the object's byte order). */
export function variableBytes(btf: Btf | undefined, typeId: number, size: number, text: string, little: boolean, what: string): Uint8Array {
  const t = btf && typeId ? btf.type(skipModifiers(btf, typeId)) : undefined;
  if (!btf || !t) return hexBytes(text, size, `${what} (no BTF type: give hex bytes)`);
  const typed = `${what} (${describeType(btf, typeId)})`;
  switch (t.kind) {
    case "int": {
      if (t.bool) {
        const v = { true: 1n, false: 0n, "1": 1n, "0": 0n }[text.trim().toLowerCase()];
        if (v === undefined) throw new VariableError(`${typed}: '${text}' is not true or false`);
        return store(v, size, little);
      }
      return store(fit(integer(text, typed), size, t.signed, typed), size, little);
    }
    case "enum":
    case "enum64": {
      const byName = t.values.find((v) => v.name === text.trim());
      const n = byName ? BigInt(byName.value) : INTEGER.test(text.trim()) ? integer(text, typed) : undefined;
      if (n === undefined) throw new NotFoundError("enumerator", text.trim(), t.values.map((v) => v.name), `of ${typed}`);
      return store(fit(n, size, t.signed || n < 0n, typed), size, little);
    }
    case "float": {
      const f = Number(text);
      if (text.trim() === "" || Number.isNaN(f)) throw new VariableError(`${typed}: '${text}' is not a number`);
      const out = new Uint8Array(size);
      const v = new DataView(out.buffer);
      if (size === 4) v.setFloat32(0, f, little);
      else if (size === 8) v.setFloat64(0, f, little);
      else return hexBytes(text, size, typed);
      return out;
    }
    case "array": {
      const elem = btf.type(skipModifiers(btf, t.type));
      if (elem?.kind === "int" && elem.size === 1 && !/^0x/i.test(text)) {
        const bytes = Buffer.from(text, "utf8");
        if (bytes.byteLength > size) throw new VariableError(`${typed}: '${text}' is ${bytes.byteLength} bytes, the variable holds ${size}`);
        const out = new Uint8Array(size);
        out.set(bytes);
        return out;
      }
      return hexBytes(text, size, typed);
    }
    case "ptr":
      return store(fit(integer(text, typed), size, false, typed), size, little);
    default:
      return hexBytes(text, size, typed);
  }
}

/** Sets variable `name` of the spec from text, typed by its BTF (see the module comment). */
export function setVariableText(spec: CollectionSpec, name: string, text: string): void {
  const v = lookupVariable(spec.variables, name, "in this object");
  setVariable(spec, name, variableBytes(spec.btf, v.type, v.size, text, spec.byteOrder === "little", `variable ${name}`));
}
