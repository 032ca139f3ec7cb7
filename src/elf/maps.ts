/**
 * Map definitions: BTF-defined maps in `.maps` (every libbpf attribute, inner maps, initial
 * `values`) and the legacy `maps` section of `struct bpf_map_def` records.
 */
import { MapType } from "../abi/index.js";
import { sizeOf, skipModifiers, type Btf, type BtfComposite } from "../btf/index.js";
import { ParseError } from "./errors.js";
import type { MapContent, MapSpec, PinType } from "./spec.js";

const MAP_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(MapType).map(([k, v]) => [v, k]));

/** The map type's name (`HASH`, `RINGBUF`), or `type N` for one this table does not know. */
export const mapTypeName = (type: number): string => MAP_TYPE_NAMES[type] ?? `type ${type}`;

/** A map spec with every field at its default. */
export function emptyMapSpec(name: string, section: string): MapSpec {
  return {
    name, section, type: 0, typeName: mapTypeName(0), keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, numaNode: 0,
    pinning: "none", mapExtra: 0n, keyType: undefined, valueType: undefined, innerMap: undefined, contents: [],
    data: undefined, readOnly: false,
  };
}

/** A symbol that a `.rel.maps` relocation points at: a map or a program, by name. */
export interface MapsRelocation {
  /** Offset of the relocated 8-byte slot in `.maps`. */
  readonly offset: number;
  readonly symbol: string;
}

const PIN_BY_NUMBER: readonly PinType[] = ["none", "by_name"];

/**
 * Reads the value of `__ulong(name, N)`: an anonymous enum (enum64 above 32 bits) whose one
 * member is N; undefined when the member is not declared that way.
 */
function enumMember(btf: Btf, typeId: number, map: string, member: string): bigint | undefined {
  const t = btf.type(skipModifiers(btf, typeId));
  if (t?.kind !== "enum" && t?.kind !== "enum64") return undefined;
  const only = t.values.length === 1 ? t.values[0] : undefined;
  if (!only) throw new ParseError(`map ${map}: attribute ${member} declared with __ulong must be an enum of one value, not ${t.values.length}`, { section: ".maps" });
  return BigInt.asUintN(t.size * 8, BigInt(only.value));
}

/** Reads `__ulong(name, N)` or `__uint(name, N)` as a 64-bit value (map_extra). */
function longMember(btf: Btf, typeId: number, map: string, member: string): bigint {
  return enumMember(btf, typeId, map, member) ?? BigInt(uintMember(btf, typeId, map, member));
}

/** Reads the value of `__uint(name, N)` (a pointer to an array of N elements), or of `__ulong(name, N)` up to 2^32-1. */
function uintMember(btf: Btf, typeId: number, map: string, member: string): number {
  const long = enumMember(btf, typeId, map, member);
  if (long !== undefined) {
    if (long > 0xffffffffn) throw new ParseError(`map ${map}: attribute ${member} is ${long}, more than 32 bits`, { section: ".maps" });
    return Number(long);
  }
  const ptr = btf.type(skipModifiers(btf, typeId));
  const arr = ptr?.kind === "ptr" ? btf.type(ptr.type) : undefined;
  if (arr?.kind !== "array") {
    throw new ParseError(`map ${map}: attribute ${member} must be declared with __uint(${member}, N) or __ulong(${member}, N)`, { section: ".maps" });
  }
  return arr.nelems;
}

/** Reads `__type(name, T)`: a pointer to T. */
function typeMember(btf: Btf, typeId: number, map: string, member: string): number {
  const ptr = btf.type(skipModifiers(btf, typeId));
  if (ptr?.kind !== "ptr") throw new ParseError(`map ${map}: attribute ${member} must be declared with __type(${member}, T)`, { section: ".maps" });
  return ptr.type;
}

/**
 * Parses one BTF map definition struct. `valuesOffset` receives the bit offset of a `values`
 * member (initial contents), when there is one.
 */
function parseMapDef(btf: Btf, def: BtfComposite, name: string, inner: boolean): { spec: MapSpec; valuesBitOffset: number | undefined } {
  const spec = emptyMapSpec(name, ".maps");
  let valuesBitOffset: number | undefined;
  for (const m of def.members) {
    switch (m.name) {
      case "type":
        spec.type = uintMember(btf, m.type, name, m.name);
        spec.typeName = mapTypeName(spec.type);
        break;
      case "max_entries":
        spec.maxEntries = uintMember(btf, m.type, name, m.name);
        break;
      case "map_flags":
        spec.flags = uintMember(btf, m.type, name, m.name);
        break;
      case "numa_node":
        spec.numaNode = uintMember(btf, m.type, name, m.name);
        break;
      case "map_extra":
        spec.mapExtra = longMember(btf, m.type, name, m.name);
        break;
      case "key_size":
      case "value_size": {
        const size = uintMember(btf, m.type, name, m.name);
        const current = m.name === "key_size" ? spec.keySize : spec.valueSize;
        if (current !== 0 && current !== size) throw new ParseError(`map ${name}: ${m.name} ${size} conflicts with the ${m.name.slice(0, -5)} type's size ${current}`, { section: ".maps" });
        if (m.name === "key_size") spec.keySize = size;
        else spec.valueSize = size;
        break;
      }
      case "key":
      case "value": {
        const t = typeMember(btf, m.type, name, m.name);
        const size = sizeOf(btf, t);
        const current = m.name === "key" ? spec.keySize : spec.valueSize;
        if (current !== 0 && current !== size) throw new ParseError(`map ${name}: ${m.name} type size ${size} conflicts with ${m.name}_size ${current}`, { section: ".maps" });
        if (m.name === "key") {
          spec.keyType = t;
          spec.keySize = size;
        } else {
          spec.valueType = t;
          spec.valueSize = size;
        }
        break;
      }
      case "pinning": {
        const pin = uintMember(btf, m.type, name, m.name);
        const kind = PIN_BY_NUMBER[pin];
        if (kind === undefined) throw new ParseError(`map ${name}: unknown pinning ${pin}`, { section: ".maps" });
        spec.pinning = kind;
        break;
      }
      case "values": {
        if (inner) throw new ParseError(`map ${name}: an inner map cannot have values`, { section: ".maps" });
        const arr = btf.type(skipModifiers(btf, m.type));
        if (arr?.kind !== "array") throw new ParseError(`map ${name}: values must be declared with __array(values, …)`, { section: ".maps" });
        const ptr = btf.type(skipModifiers(btf, arr.type));
        const target = ptr?.kind === "ptr" ? btf.type(skipModifiers(btf, ptr.type)) : undefined;
        if (target?.kind === "struct") {
          spec.innerMap = parseMapDef(btf, target, `${name}.inner`, true).spec;
        } else if (target?.kind !== "func_proto") {
          throw new ParseError(`map ${name}: values must be an array of map definitions or programs`, { section: ".maps" });
        }
        // Map-in-map and prog-array values are fds: 4 bytes.
        if (spec.valueSize === 0) spec.valueSize = 4;
        valuesBitOffset = m.bitOffset;
        break;
      }
      default:
        throw new ParseError(`map ${name}: unknown attribute ${m.name || "(anonymous member)"}`, { section: ".maps" });
    }
  }
  return { spec, valuesBitOffset };
}

/** Maps declared in `.maps`, described by the object BTF's `.maps` DATASEC. */
export function parseBtfMaps(btf: Btf, sectionSize: number, relocations: readonly MapsRelocation[]): MapSpec[] {
  const datasecId = btf.find(".maps", "datasec");
  if (datasecId === undefined) throw new ParseError("object has a .maps section but no .maps BTF: rebuild with clang -g", { section: ".maps" });
  const datasec = btf.type(datasecId);
  if (datasec?.kind !== "datasec") throw new ParseError(".maps BTF is not a DATASEC", { section: ".maps" });
  const out: MapSpec[] = [];
  for (const v of datasec.vars) {
    const variable = btf.type(v.type);
    if (variable?.kind !== "var") throw new ParseError(`.maps entry at offset ${v.offset} is not a variable`, { section: ".maps" });
    const def = btf.type(skipModifiers(btf, variable.type));
    if (def?.kind !== "struct") throw new ParseError(`map ${variable.name}: definition is not a struct`, { section: ".maps" });
    if (v.offset + v.size > sectionSize) throw new ParseError(`map ${variable.name}: definition past the end of .maps`, { section: ".maps" });
    const { spec, valuesBitOffset } = parseMapDef(btf, def, variable.name, false);
    if (valuesBitOffset !== undefined) {
      const start = v.offset + valuesBitOffset / 8;
      const contents: MapContent[] = [];
      for (const r of relocations) {
        if (r.offset < start || r.offset >= v.offset + v.size) continue;
        if ((r.offset - start) % 8 !== 0) throw new ParseError(`map ${spec.name}: misaligned value relocation at ${r.offset}`, { section: ".rel.maps" });
        const key = (r.offset - start) / 8;
        if (spec.maxEntries && key >= spec.maxEntries) throw new ParseError(`map ${spec.name}: initial value ${key} exceeds max_entries ${spec.maxEntries}`, { section: ".rel.maps" });
        contents.push({ key, value: r.symbol });
      }
      spec.contents = contents.sort((a, b) => a.key - b.key);
    }
    out.push(spec);
  }
  return out;
}

/** A symbol in the legacy `maps` section. */
export interface LegacyMapSymbol {
  readonly name: string;
  readonly offset: number;
  /** st_size: the record's size. A linked object's records differ in size per input object. */
  readonly size?: number;
}

/** Maps from the legacy `maps` section: `struct bpf_map_def` records at each symbol. */
export function parseLegacyMaps(data: Uint8Array, order: "little" | "big", symbols: readonly LegacyMapSymbol[]): MapSpec[] {
  if (symbols.length === 0) return [];
  // Records sized by their symbols when every symbol has a size (linked objects mix sizes),
  // else one size for all: the section divided evenly.
  const sized = symbols.every((s) => (s.size ?? 0) >= 20);
  const recordSize = sized ? 0 : data.byteLength / symbols.length;
  if (!sized && (!Number.isInteger(recordSize) || recordSize < 20)) {
    throw new ParseError(`legacy maps: ${data.byteLength} bytes for ${symbols.length} maps is no whole number of bpf_map_def records`, { section: "maps" });
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const le = order === "little";
  return symbols.map((s) => {
    const size = sized ? (s.size as number) : recordSize;
    if ((!sized && s.offset % recordSize !== 0) || s.offset + size > data.byteLength) {
      throw new ParseError(`legacy map ${s.name}: record at ${s.offset} is misplaced`, { section: "maps" });
    }
    const spec = emptyMapSpec(s.name, "maps");
    spec.type = view.getUint32(s.offset, le);
    spec.typeName = mapTypeName(spec.type);
    spec.keySize = view.getUint32(s.offset + 4, le);
    spec.valueSize = view.getUint32(s.offset + 8, le);
    spec.maxEntries = view.getUint32(s.offset + 12, le);
    spec.flags = view.getUint32(s.offset + 16, le);
    // Later fields of iproute2's and older libbpf's layouts: id, pinning.
    if (size >= 28) {
      const pin = view.getUint32(s.offset + 24, le);
      spec.pinning = pin === 2 || pin === 1 ? "by_name" : "none";
    }
    return spec;
  });
}
