/**
 * The CO-RE relocation lines of `llvm-objdump-19 -dr`: llvm-objdump reads the object's `.BTF` and
 * `.BTF.ext` and prints, after each instruction a CO-RE relocation points at, a description of it:
 *
 *     CO-RE <byte_off> [17] struct task_struct::pid (0:0)
 *     CO-RE <enumval_value> [29] enum tcp_ca_state::TCP_CA_Loss = 4
 *     CO-RE <type_exists> [25] struct sock
 *
 * The format and every rule here (type names, the field path, the error texts for records that do
 * not fit the types) were found by running llvm-objdump 19 on compiled and on patched objects.
 * Reading is lenient like llvm-objdump's: a malformed record section keeps the records read before
 * the problem, and a record that does not fit the types is printed with the reason. The records
 * are read as LLVM 19's BTFParser reads them: the CO-RE offset and length at bytes 24 and 28
 * whatever the header length says, start and end as u32 sums, 16 bytes of each record (a longer
 * record size only moves to the next), and each ELF section's records sorted once all of them
 * were read (the list a problem interrupted stays in file order, and lookups in it are the same
 * binary search llvm-objdump makes). Given the object's section names, a record section whose name
 * no ELF section has adds its records to the section named before it, as llvm-objdump 19 does (it
 * looks the missing section up through a stale reference); with no section named before, they are
 * dropped (llvm-objdump 19 crashes on that object).
 */
import { Btf } from "../btf/btf.js";
import { BtfKindNumber } from "../btf/types.js";
import { TsebpfError } from "../errors.js";

/** One `bpf_core_relo` record of `.BTF.ext`, as stored (the kind is not checked). */
export interface CoreRelocationRecord {
  /** Byte offset of the instruction in its ELF section. */
  readonly insnOff: number;
  /** Local (object BTF) type id of the root type. */
  readonly typeId: number;
  /** The access string, `0:1:2` ("" when its offset is outside the string table). */
  readonly accessStr: string;
  /** enum bpf_core_relo_kind; unknown kinds are kept. */
  readonly kind: number;
}

/** The label llvm-objdump prints for each relocation kind, by kind number. */
export const CORE_RELOCATION_LABELS: readonly string[] = [
  "byte_off",
  "byte_sz",
  "field_exists",
  "signed",
  "lshift_u64",
  "rshift_u64",
  "local_type_id",
  "target_type_id",
  "type_exists",
  "type_size",
  "enumval_exists",
  "enumval_value",
  "type_matches",
];

/** The CO-RE relocations of an object, ready to be looked up by section name and offset. */
export interface CoreRelocations {
  readonly btf: Btf;
  /** Records per ELF section name, sorted by instruction offset (records at the same offset keep their order). */
  readonly bySection: ReadonlyMap<string, readonly CoreRelocationRecord[]>;
}

/**
 * Reads the CO-RE records of `.BTF.ext` against `.BTF`. Returns undefined when `.BTF` cannot be
 * read (nothing can be described then); problems in `.BTF.ext` end the reading there, keeping
 * the records read so far (those of the interrupted ELF section unsorted, as llvm-objdump keeps
 * them). Each problem is passed to `warn`.
 */
export function readCoreRelocations(
  btfBytes: Uint8Array,
  extBytes: Uint8Array,
  warn: (message: string) => void = () => {},
  sectionNames?: ReadonlySet<string>,
): CoreRelocations | undefined {
  let btf: Btf;
  try {
    btf = new Btf(btfBytes);
    // Decode every type once: a bad reference inside a type is a malformed .BTF, found here.
    for (const id of btf.ids()) btf.type(id);
  } catch (e) {
    warn(`.BTF: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
  const bySection = new Map<string, CoreRelocationRecord[]>();
  try {
    readRecords(btf, extBytes, bySection, sectionNames);
  } catch (e) {
    warn(`.BTF.ext: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { btf, bySection };
}

class ExtError extends TsebpfError {}

function readRecords(btf: Btf, bytes: Uint8Array, out: Map<string, CoreRelocationRecord[]>, sectionNames: ReadonlySet<string> | undefined): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (pos: number, n: number): void => {
    if (pos + n > bytes.byteLength) throw new ExtError(`unexpected end of data at offset 0x${pos.toString(16)}`);
  };
  need(0, 8);
  const le = view.getUint16(0, true) === 0xeb9f;
  if (!le && view.getUint16(0, false) !== 0xeb9f) throw new ExtError(`invalid magic 0x${view.getUint16(0, true).toString(16)}`);
  const version = view.getUint8(2);
  if (version !== 1) throw new ExtError(`unsupported version ${version}`);
  const u32 = (pos: number): number => {
    need(pos, 4);
    return view.getUint32(pos, le);
  };
  const hdrLen = u32(4);
  if (hdrLen < 8) throw new ExtError(`header length ${hdrLen} is smaller than 8`);
  // The CO-RE fields follow func_info and line_info in the header. A header shorter than 32
  // bytes lacks them, but llvm-objdump reads bytes 24 and 28 all the same (whatever is there).
  const off = u32(24);
  const len = u32(28);
  if (len === 0) return;
  // Offsets are u32 sums, as llvm-objdump computes them: a length that runs past 4 GiB wraps the
  // end around to before the start, and then no record is read (and nothing is wrong).
  const start = (hdrLen + off) >>> 0;
  const end = (start + len) >>> 0;
  const recSize = u32(start);
  if (recSize < 16) throw new ExtError(`CO-RE record size ${recSize} is smaller than 16`);
  const string = (offset: number): string => {
    try {
      return btf.string(offset);
    } catch {
      return "";
    }
  };
  let known: string | undefined; // the last name an ELF section has
  for (let p = start + 4; p < end; ) {
    const name = string(u32(p));
    const count = u32(p + 4);
    p += 8;
    if (sectionNames === undefined || sectionNames.has(name)) known = name;
    const list = known === undefined ? [] : (out.get(known) ?? []);
    if (known !== undefined) out.set(known, list);
    for (let i = 0; i < count; i++, p += recSize) {
      need(p, 16);
      list.push({ insnOff: u32(p), typeId: u32(p + 4), accessStr: string(u32(p + 8)), kind: u32(p + 12) });
    }
    stableSortByOffset(list);
  }
}

function stableSortByOffset(list: CoreRelocationRecord[]): void {
  const indexed = list.map((r, i) => ({ r, i }));
  indexed.sort((a, b) => a.r.insnOff - b.r.insnOff || a.i - b.i);
  indexed.forEach(({ r }, i) => (list[i] = r));
}

/** The first record at exactly this instruction offset (records are sorted by offset). */
export function findCoreRelocation(records: readonly CoreRelocationRecord[], insnOff: number): CoreRelocationRecord | undefined {
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((records[mid] as CoreRelocationRecord).insnOff < insnOff) lo = mid + 1;
    else hi = mid;
  }
  const found = records[lo];
  return found && found.insnOff === insnOff ? found : undefined;
}

/** A problem with a record: printed as the quoted access string and the reason. */
class Unfit extends Error {}

const FIELD_KINDS = 6; // byte_off .. rshift_u64
const ENUM_KINDS = new Set([10, 11]);
const TYPE_KINDS = new Set([6, 7, 8, 9, 12]);
const MAX_CHAIN = 64;

/**
 * llvm-objdump's description of a CO-RE relocation, without the `CO-RE ` prefix:
 * `<byte_off> [17] struct task_struct::pid (0:0)`.
 */
export function describeCoreRelocation(btf: Btf, record: CoreRelocationRecord): string {
  const { kind, typeId, accessStr } = record;
  const head = `<${CORE_RELOCATION_LABELS[kind] ?? `reloc kind #${kind >>> 0}`}> [${typeId >>> 0}] `;
  try {
    const spec = parseAccess(accessStr);
    if (typeId > btf.typeCount) throw new Unfit(`unknown type id: ${typeId | 0}`);
    if (kind < FIELD_KINDS) return head + describeField(btf, typeId, spec, accessStr);
    if (TYPE_KINDS.has(kind)) {
      if (spec.length !== 1 || spec[0] !== 0) throw new Unfit("unexpected type-based relocation spec: should be '0'");
      return head + typeName(btf, typeId);
    }
    if (ENUM_KINDS.has(kind)) return head + describeEnumValue(btf, typeId, spec);
    throw new Unfit(`unknown relocation kind: ${kind | 0}`);
  } catch (e) {
    if (e instanceof Unfit) return `${head}'${accessStr}' <${e.message}>`;
    throw e;
  }
}

/** `0:1:2` to numbers: decimal digits (u64, truncated to u32) separated by colons; a trailing colon ends it. */
function parseAccess(text: string): number[] {
  const out: number[] = [];
  let rest = text;
  while (rest !== "") {
    const digits = /^[0-9]+/.exec(rest)?.[0];
    if (digits === undefined) throw new Unfit("spec string is not a number");
    const value = BigInt(digits);
    if (value > 0xffff_ffff_ffff_ffffn) throw new Unfit("spec string is not a number");
    out.push(Number(value & 0xffff_ffffn));
    rest = rest.slice(digits.length);
    if (rest === "") break;
    if (rest[0] !== ":") throw new Unfit(`unexpected spec string delimiter: '${String.fromCodePoint(rest.codePointAt(0) as number)}'`);
    rest = rest.slice(1);
  }
  return out;
}

/** `struct outer::in[2].x (0:1:2:0)` */
function describeField(btf: Btf, rootId: number, spec: readonly number[], accessStr: string): string {
  if (spec.length === 0) throw new Unfit("field spec too short");
  let text = `${typeName(btf, rootId)}::`;
  let first = true;
  if (spec[0] !== 0) {
    text += `[${spec[0]}]`;
    first = false;
  }
  let current = rootId;
  for (let i = 1; i < spec.length; i++) {
    const index = spec[i] as number;
    const id = skipTypedefsAndQualifiers(btf, current);
    const t = btf.type(id);
    if (t?.kind === "struct" || t?.kind === "union") {
      const member = t.members[index];
      if (member === undefined) throw new Unfit(`member index ${index | 0} for spec sub-string ${i} is out of range`);
      text += `${first ? "" : "."}${member.name || `<anon ${index}>`}`;
      current = member.type;
    } else if (t?.kind === "array") {
      text += `[${index}]`;
      current = t.type;
    } else {
      throw new Unfit(`unexpected type kind ${t ? BtfKindNumber[t.kind] : 0} for spec sub-string ${i}`);
    }
    first = false;
  }
  return `${text} (${accessStr})`;
}

/** `enum tcp_ca_state::TCP_CA_Loss = 4` */
function describeEnumValue(btf: Btf, rootId: number, spec: readonly number[]): string {
  if (spec.length !== 1) throw new Unfit("unexpected enumval relocation spec size");
  const t = btf.type(skipTypedefsAndQualifiers(btf, rootId));
  if (t?.kind !== "enum" && t?.kind !== "enum64") {
    throw new Unfit(`unexpected type kind for enum relocation: ${t ? BtfKindNumber[t.kind] : 0}`);
  }
  const index = spec[0] as number;
  const entry = t.values[index];
  if (entry === undefined) throw new Unfit(`bad value index: ${index | 0}`);
  // A 32-bit value is widened with its sign; an unsigned enum prints the 64-bit pattern unsigned.
  const value = t.kind === "enum64" ? BigInt(entry.value) : BigInt((entry.value as number) | 0);
  const shown = t.signed ? BigInt.asIntN(64, value) : BigInt.asUintN(64, value);
  return `${typeName(btf, rootId)}::${entry.name} = ${shown}`;
}

function skipTypedefsAndQualifiers(btf: Btf, id: number): number {
  for (let i = 0; i < MAX_CHAIN; i++) {
    const t = btf.type(id);
    if (!t) return id;
    if (t.kind !== "typedef" && t.kind !== "const" && t.kind !== "volatile" && t.kind !== "restrict" && t.kind !== "type_tag") return id;
    id = t.type;
  }
  throw new Unfit(`type chain longer than ${MAX_CHAIN}`);
}

/** How llvm-objdump names a type: `struct sock`, `typedef u32`, `const volatile int`, `<anon 7>`. */
export function typeName(btf: Btf, id: number, depth = 0): string {
  if (id === 0) return "void";
  if (depth > MAX_CHAIN) throw new Unfit(`type chain longer than ${MAX_CHAIN}`);
  const t = btf.type(id);
  if (!t) return "void";
  const name = t.name || `<anon ${id}>`;
  switch (t.kind) {
    case "struct":
    case "union":
      return `${t.kind} ${name}`;
    case "enum":
    case "enum64":
      return `enum ${name}`;
    case "fwd":
      return `fwd ${t.union ? "union" : "struct"} ${name}`;
    case "typedef":
      return `typedef ${name}`;
    case "const":
    case "volatile":
    case "restrict":
      return `${t.kind} ${typeName(btf, t.type, depth + 1)}`;
    case "type_tag":
      return `type_tag("${t.name}") ${typeName(btf, t.type, depth + 1)}`;
    default:
      return name;
  }
}
