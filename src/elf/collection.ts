/**
 * `readCollectionSpec(bytes)`: an object file to a CollectionSpec — programs (linked with the
 * subprograms they reach), maps, global variables, externs and BTF. Pure and deterministic.
 */
import { InstructionError, resolveReferences, LinkError } from "../asm/index.js";
import { Btf, BtfError, parseBtfExt, type BtfExt } from "../btf/index.js";
import { SHN, STB, STT } from "./constants.js";
import { describeFunction, gatherProgram, readCodeSections, resolveRelocations, type CodeFunction, type CodeSection, type Placement } from "./code.js";
import { dataMapSpec, dataVariables, fixupDatasecs, isDataSection, ksymExterns, layoutKconfig, type DataSymbol } from "./data.js";
import { ParseError } from "./errors.js";
import { hideFunctions } from "./hidden.js";
import { unresolvedReferences } from "./unresolved.js";
import { emptyMapSpec, mapTypeName, parseBtfMaps, parseLegacyMaps } from "./maps.js";
import { readElf, type ElfFile, type ElfSection } from "./reader.js";
import { programKind } from "./program-kind.js";
import { readStructOpsMaps } from "./struct-ops.js";
import type { CollectionSpec, ExternSpec, MapSpec, ProgramCoreRelo, ProgramFuncInfo, ProgramLineInfo, ProgramSpec, VariableSpec } from "./spec.js";
import { MapType } from "../abi/index.js";

/**
 * A BTF error of the object as a ParseError. One that knows its byte offset in its blob (`blob`:
 * the .BTF or .BTF.ext section it was read from) names that section, the file offset and the
 * offset within the section; one that does not names `section`, what was being read.
 */
function btfParseError(e: BtfError, section: string, blob: ElfSection | undefined): ParseError {
  if (e.offset === undefined || blob === undefined) return new ParseError(e.message, { section });
  const reason = blob.name === section ? e.reason : `${e.reason} (reading ${section})`;
  return new ParseError(reason, { section: blob.name, offset: blob.offset + e.offset, sectionOffset: e.offset });
}

/** Runs `f`, turning BTF errors into ParseErrors about `section` (see btfParseError). */
function inSection<T>(section: string, blob: ElfSection | undefined, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BtfError) throw btfParseError(e, section, blob);
    throw e;
  }
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString("latin1");
}

/** Reads an object file into a CollectionSpec. Throws ParseError for anything malformed. */
export function readCollectionSpec(bytes: Uint8Array): CollectionSpec {
  const elf = readElf(bytes);
  try {
    return read(elf);
  } catch (e) {
    // BTF is read lazily, so its errors can surface anywhere: they are all about .BTF.
    if (e instanceof BtfError) throw btfParseError(e, ".BTF", elf.sectionByName(".BTF"));
    if (e instanceof LinkError || e instanceof InstructionError) throw new ParseError(e.message, {});
    throw e;
  }
}

function read(elf: ElfFile): CollectionSpec {
  const btfSection = elf.sectionByName(".BTF");
  let btf = btfSection ? inSection(".BTF", btfSection, () => new Btf(btfSection.data)) : undefined;

  // Externs, laid out from BTF; weak ones marked from the symbol table.
  const externs = new Map<string, ExternSpec>();
  let kconfigSize = 0;
  if (btf) {
    const b = btf;
    const kconfig = inSection(".BTF", btfSection, () => layoutKconfig(b));
    kconfigSize = kconfig.size;
    for (const e of [...kconfig.externs, ...inSection(".BTF", btfSection, () => ksymExterns(b))]) externs.set(e.name, e);
    const sectionSize = (name: string) => elf.sectionByName(name)?.size;
    const symbolOffset = (section: string, name: string) => {
      const s = elf.sectionByName(section);
      return s ? elf.symbols.find((y) => y.sectionIndex === s.index && y.name === name)?.value : undefined;
    };
    btf = inSection(".BTF", btfSection, () => hideFunctions(fixupDatasecs((btfSection as { data: Uint8Array }).data, b, sectionSize, symbolOffset, kconfig), elf.symbols));
  }
  for (const sym of elf.symbols) {
    const known = externs.get(sym.name);
    if (sym.sectionIndex === SHN.UNDEF && known && sym.bind === STB.WEAK) externs.set(sym.name, { ...known, weak: true });
  }

  // Maps: BTF-defined, legacy, global data, kconfig.
  const maps = new Map<string, MapSpec>();
  const addMap = (m: MapSpec) => {
    if (maps.has(m.name)) throw new ParseError(`map ${m.name} is defined twice`, { section: m.section });
    maps.set(m.name, m);
  };
  const mapOffsets = new Map<string, Map<number, string>>();
  const mapsSection = elf.sectionByName(".maps");
  if (mapsSection) {
    if (!btf) throw new ParseError("object has a .maps section but no BTF: rebuild with clang -g", { section: ".maps" });
    const b = btf;
    const relos = elf.relocationsFor(mapsSection).map((r) => ({ offset: r.offset, symbol: r.symbol.name }));
    for (const m of inSection(".maps", elf.sectionByName(".BTF"), () => parseBtfMaps(b, mapsSection.size, relos))) addMap(m);
  }
  const legacy = elf.sectionByName("maps");
  if (legacy) {
    const syms = elf.symbols.filter((s) => s.sectionIndex === legacy.index && (s.type === STT.OBJECT || s.type === STT.NOTYPE) && s.name);
    for (const m of parseLegacyMaps(legacy.data, elf.byteOrder, syms.map((s) => ({ name: s.name, offset: s.value, size: s.size })))) addMap(m);
  }
  for (const section of [mapsSection, legacy]) {
    if (!section) continue;
    const byOffset = new Map<number, string>();
    for (const s of elf.symbols) if (s.sectionIndex === section.index && s.type !== STT.SECTION && s.name) byOffset.set(s.value, s.name);
    mapOffsets.set(section.name, byOffset);
  }
  const dataSymbols: DataSymbol[] = [];
  for (const section of elf.sections) {
    if (!isDataSection(section.name) || (section.flags & 0x2) === 0) continue;
    addMap(dataMapSpec(section.name, section.size, section.type === 8 ? undefined : section.data, btf));
    for (const s of elf.symbols) {
      if (s.sectionIndex !== section.index || s.type !== STT.OBJECT || !s.name) continue;
      dataSymbols.push({ name: s.name, section: section.name, offset: s.value, size: s.size, global: s.bind !== STB.LOCAL });
    }
  }
  for (const m of inSection(".BTF", btfSection, () => readStructOpsMaps(elf, btf))) addMap(m);
  if ([...externs.values()].some((e) => e.kind === "kconfig")) {
    const m = emptyMapSpec(".kconfig", ".kconfig");
    m.type = MapType.ARRAY;
    m.typeName = mapTypeName(m.type);
    m.keySize = 4;
    m.valueSize = kconfigSize;
    m.maxEntries = 1;
    m.readOnly = true;
    m.flags = 0x80;
    m.valueType = btf?.find(".kconfig", "datasec");
    m.data = new Uint8Array(kconfigSize);
    addMap(m);
  }

  // By label: unique, since a name two variables share is qualified by section and offset.
  const variables = new Map<string, VariableSpec>();
  for (const v of dataVariables(dataSymbols, btf)) {
    if (variables.has(v.label)) throw new ParseError(`variable ${v.name} is defined twice at offset ${v.offset}`, { section: v.map });
    variables.set(v.label, v);
  }

  // Code.
  const code = readCodeSections(elf);
  const undefinedNames = resolveRelocations({ elf, code, externs, mapAt: (section, offset) => mapOffsets.get(section)?.get(offset) });
  const license = cString(elf.sectionByName("license")?.data ?? new Uint8Array());
  const versionSection = elf.sectionByName("version");
  const kernelVersion = versionSection && versionSection.size >= 4
    ? new DataView(versionSection.data.buffer, versionSection.data.byteOffset, 4).getUint32(0, elf.byteOrder === "little")
    : 0;
  const ext = readExt(elf, btf);
  const programs = buildPrograms(code, ext, license, kernelVersion, undefinedNames);

  return { byteOrder: elf.byteOrder, programs, maps, variables, externs, btf, license, kernelVersion };
}

function readExt(elf: ElfFile, btf: Btf | undefined): BtfExt | undefined {
  const section = elf.sectionByName(".BTF.ext");
  if (!section || !btf) return undefined;
  return inSection(".BTF.ext", section, () => parseBtfExt(section.data, btf));
}

function buildPrograms(code: Map<number, CodeSection>, ext: BtfExt | undefined, license: string, kernelVersion: number, undefinedNames: ReadonlySet<string>): Map<string, ProgramSpec> {
  // By label: unique, since a name two functions share is qualified by section and offset.
  const functions = new Map<string, { fn: CodeFunction; code: CodeSection }>();
  for (const c of code.values()) {
    for (const fn of c.functions) {
      const other = functions.get(fn.label);
      // Two function symbols at one place (aliases): the first names it.
      if (other && (other.code !== c || other.fn.start !== fn.start)) throw new ParseError(`function ${describeFunction(fn)} is defined twice`, { section: c.section.name });
      if (!other) functions.set(fn.label, { fn, code: c });
    }
  }
  const programs = new Map<string, ProgramSpec>();
  for (const c of code.values()) {
    // Every executable section's functions are programs (libbpf 1.x rules, 0.x's prefixes as a
    // guess, else unspecified); those of .text are subprograms.
    if (c.section.name === ".text") continue;
    const kind = programKind(c.section.name);
    for (const fn of c.functions) {
      const { instructions, placements } = gatherProgram(fn, functions, undefinedNames);
      let linked;
      try {
        linked = resolveReferences(instructions);
      } catch (e) {
        if (e instanceof LinkError) throw new ParseError(`program ${fn.name}: ${e.message}`, { section: c.section.name });
        throw e;
      }
      const info = extInfo(placements, ext);
      programs.set(fn.name, {
        name: fn.name,
        sectionName: c.section.name,
        kind,
        programType: kind.programType,
        attachType: kind.attachType,
        attachTarget: kind.attachTarget,
        autoload: kind.autoload,
        instructions: linked,
        subprograms: placements.slice(1).map((p) => p.fn.name),
        license,
        kernelVersion,
        ...info,
        btfFunc: info.funcInfo[0]?.slot === 0 ? info.funcInfo[0].typeId : undefined,
        unresolved: unresolvedReferences(linked, undefinedNames),
      });
    }
  }
  return programs;
}

/** BTF.ext records of the placed functions, re-addressed to slots of the linked program. */
function extInfo(placements: readonly Placement[], ext: BtfExt | undefined): { funcInfo: ProgramFuncInfo[]; lineInfo: ProgramLineInfo[]; coreRelos: ProgramCoreRelo[] } {
  const funcInfo: ProgramFuncInfo[] = [];
  const lineInfo: ProgramLineInfo[] = [];
  const coreRelos: ProgramCoreRelo[] = [];
  if (!ext) return { funcInfo, lineInfo, coreRelos };
  for (const p of placements) {
    const section = p.code.section.name;
    const place = (insnOff: number): number | undefined => {
      const slot = insnOff / 8;
      return slot >= p.fn.start && slot < p.fn.end ? p.at + slot - p.fn.start : undefined;
    };
    for (const f of ext.funcInfo.get(section) ?? []) {
      const slot = place(f.insnOff);
      if (slot !== undefined) funcInfo.push({ slot, typeId: f.typeId });
    }
    for (const l of ext.lineInfo.get(section) ?? []) {
      const slot = place(l.insnOff);
      if (slot !== undefined) {
        lineInfo.push({ slot, fileNameOff: l.fileNameOff, lineOff: l.lineOff, fileName: l.fileName, line: l.line, lineNumber: l.lineNumber, column: l.column });
      }
    }
    for (const relo of ext.coreRelos.get(section) ?? []) {
      const slot = place(relo.insnOff);
      if (slot !== undefined) coreRelos.push({ slot, relo });
    }
  }
  return { funcInfo, lineInfo, coreRelos };
}
