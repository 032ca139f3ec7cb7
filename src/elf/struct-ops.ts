/**
 * struct_ops maps: each variable of a `.struct_ops` or `.struct_ops.link` section is a kernel
 * struct (e.g. `tcp_congestion_ops`) filled by the object — its function-pointer members point
 * at `struct_ops/…` programs (relocations of the section), its other members are data (a name,
 * flags). The loader matches the members by name to the kernel's own struct; a `.struct_ops.link`
 * map is registered through a struct_ops link, a `.struct_ops` one by its map update.
 */
import { MapType } from "../abi/index.js";
import { sizeOf, skipModifiers, type Btf } from "../btf/index.js";
import { R_BPF, STT } from "./constants.js";
import { ParseError } from "./errors.js";
import { emptyMapSpec, mapTypeName } from "./maps.js";
import type { ElfFile, ElfRelocation, ElfSection } from "./reader.js";
import { classifySection } from "./section-names.js";
import type { MapSpec } from "./spec.js";

/** The sections that hold struct_ops variables. */
export const STRUCT_OPS_SECTIONS = [".struct_ops", ".struct_ops.link"] as const;

/** BPF_F_LINK: a struct_ops map that a link registers (and unregisters when it goes). */
export const BPF_F_LINK = 1 << 13;

/** One member of the object's struct, as the object fills it. */
export interface StructOpsMember {
  readonly name: string;
  /** Byte offset in the object's struct. */
  readonly offset: number;
  readonly size: number;
  /** A function pointer (filled with a program's fd at load), or data copied to the kernel's member. */
  readonly kind: "program" | "data";
  /** The `struct_ops/…` program the member points at (function pointers left NULL have none). */
  readonly program: string | undefined;
}

/** What a struct_ops variable asks the kernel for. */
export interface StructOpsSpec {
  /** The kernel struct it fills (`tcp_congestion_ops`). */
  readonly typeName: string;
  /** BTF id of that struct in the object's BTF. */
  readonly typeId: number;
  /** From `.struct_ops.link`: registered by a struct_ops link (the map is created BPF_F_LINK). */
  readonly link: boolean;
  /** Offset of the variable in its section. */
  readonly offset: number;
  /** Members in declaration order. */
  readonly members: readonly StructOpsMember[];
}

/** A MapSpec of a struct_ops variable: `structOps` says what fills it. */
export type StructOpsMapSpec = MapSpec & { structOps: StructOpsSpec };

export const isStructOpsMap = (m: MapSpec): m is StructOpsMapSpec => m.structOps !== undefined;

/** The struct_ops maps of an object (none when it has no struct_ops section). */
export function readStructOpsMaps(elf: ElfFile, btf: Btf | undefined): StructOpsMapSpec[] {
  const out: StructOpsMapSpec[] = [];
  for (const name of STRUCT_OPS_SECTIONS) {
    const section = elf.sectionByName(name);
    if (!section) continue;
    if (!btf) throw new ParseError("a struct_ops section needs the object's BTF: rebuild with clang -g", { section: name });
    out.push(...sectionMaps(elf, btf, section));
  }
  checkProgramsShared(out);
  return out;
}

function sectionMaps(elf: ElfFile, btf: Btf, section: ElfSection): StructOpsMapSpec[] {
  const where = { section: section.name };
  const datasecId = btf.find(section.name, "datasec");
  const datasec = datasecId === undefined ? undefined : btf.type(datasecId);
  if (datasec?.kind !== "datasec") throw new ParseError(`no BTF DATASEC describes ${section.name}`, where);
  const relocations = elf.relocationsFor(section);
  const link = section.name === ".struct_ops.link";
  return datasec.vars.map((v): StructOpsMapSpec => {
    const variable = btf.type(v.type);
    if (variable?.kind !== "var") throw new ParseError(`entry at offset ${v.offset} is not a variable`, where);
    const typeId = skipModifiers(btf, variable.type);
    const struct = btf.type(typeId);
    if (struct?.kind !== "struct") throw new ParseError(`struct_ops variable ${variable.name} is not a struct`, where);
    if (v.offset + struct.size > section.size) throw new ParseError(`struct_ops variable ${variable.name} runs past the end of the section`, { ...where, offset: section.offset + v.offset });
    const mine = relocations.filter((r) => r.offset >= v.offset && r.offset < v.offset + struct.size);
    const members = struct.members.map((m): StructOpsMember => {
      if (m.bitSize !== 0 || m.bitOffset % 8 !== 0) throw new ParseError(`struct_ops ${variable.name}: member ${m.name} is a bitfield, which struct_ops maps cannot copy`, where);
      const offset = m.bitOffset / 8;
      const target = btf.type(skipModifiers(btf, m.type));
      const pointee = target?.kind === "ptr" ? btf.type(skipModifiers(btf, target.type)) : undefined;
      const isFunction = pointee?.kind === "func_proto";
      const size = isFunction ? 8 : sizeOf(btf, m.type);
      const relo = mine.find((r) => r.offset - v.offset === offset);
      if (relo && !isFunction) throw new ParseError(`struct_ops ${variable.name}: member ${m.name} is not a function pointer but a relocation points it at ${relo.symbol.name || "a symbol"}`, where);
      const program = relo ? programAt(elf, section, relo, `struct_ops ${variable.name}: member ${m.name}`) : undefined;
      return { name: m.name, offset, size, kind: isFunction ? "program" : "data", program };
    });
    for (const r of mine) {
      if (!members.some((m) => m.kind === "program" && m.offset === r.offset - v.offset)) {
        throw new ParseError(`struct_ops ${variable.name}: relocation ${r.index} at offset ${r.offset - v.offset} is at no function-pointer member`, where);
      }
    }
    const spec = emptyMapSpec(variable.name, section.name) as StructOpsMapSpec;
    spec.type = MapType.STRUCT_OPS;
    spec.typeName = mapTypeName(spec.type);
    spec.keySize = 4;
    spec.valueSize = struct.size;
    spec.maxEntries = 1;
    spec.flags = link ? BPF_F_LINK : 0;
    spec.valueType = typeId;
    spec.data = Uint8Array.from(section.data.subarray(v.offset, v.offset + struct.size));
    spec.structOps = { typeName: struct.name, typeId, link, offset: v.offset, members };
    return spec;
  });
}

/** The program a function-pointer relocation points at: a `struct_ops/…` function, by symbol or section and offset. */
function programAt(elf: ElfFile, section: ElfSection, r: ElfRelocation, what: string): string {
  const where = { section: section.name, offset: section.offset + r.offset };
  if (r.type !== R_BPF["64_ABS64"]) throw new ParseError(`${what}: relocation type ${r.type} is not R_BPF_64_ABS64`, where);
  const target = elf.sections[r.symbol.sectionIndex];
  const kind = target ? classifySection(target.name) : undefined;
  if (!target || kind?.programTypeName !== "STRUCT_OPS") {
    throw new ParseError(`${what} points at ${r.symbol.name || "a symbol"}${target ? ` in section ${target.name}` : ""}, which is not a struct_ops program`, where);
  }
  if (r.symbol.type === STT.FUNC) return r.symbol.name;
  // A section symbol: the function at the symbol's value plus the addend kept in the data.
  const view = new DataView(section.data.buffer, section.data.byteOffset, section.data.byteLength);
  const addend = Number(view.getBigUint64(r.offset, elf.byteOrder === "little")) + (r.addend ?? 0);
  const at = r.symbol.value + addend;
  const fn = elf.symbols.find((s) => s.sectionIndex === target.index && s.type === STT.FUNC && s.value === at);
  if (!fn) throw new ParseError(`${what} points at offset ${at} of ${target.name}, where no function starts`, where);
  return fn.name;
}

/** A program fills members of one struct type only (its attach BTF id is that struct's). */
function checkProgramsShared(maps: readonly StructOpsMapSpec[]): void {
  const typeOf = new Map<string, string>();
  for (const m of maps) {
    for (const member of m.structOps.members) {
      if (!member.program) continue;
      const seen = typeOf.get(member.program);
      if (seen !== undefined && seen !== m.structOps.typeName) {
        throw new ParseError(`struct_ops program ${member.program} fills members of both ${seen} and ${m.structOps.typeName}`, { section: m.section });
      }
      typeOf.set(member.program, m.structOps.typeName);
    }
  }
}
