/**
 * Specs: plain descriptions of what an object file asks the kernel for, before anything is
 * loaded. A user may adjust them (map sizes, variable values, pin settings) and then hand them
 * to the loader.
 */
import type { Instruction } from "../asm/index.js";
import type { Btf, CoreRelo } from "../btf/index.js";
import type { SectionKind } from "./section-names.js";
import type { StructOpsSpec } from "./struct-ops.js";

/** How a map is pinned (libbpf's `pinning` attribute). */
export type PinType = "none" | "by_name";

/** An initial entry of a prog array or map-in-map: the slot and what it holds, by name. */
export interface MapContent {
  readonly key: number;
  /** Name of a program (prog arrays) or a map (map-in-map). */
  readonly value: string;
}

export interface MapSpec {
  /** The map's name in the object (`events`, `.rodata`, `.data.custom`, `.kconfig`). */
  name: string;
  /** BPF_MAP_TYPE_* number and name. */
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  numaNode: number;
  pinning: PinType;
  /** map_extra (bloom filter hash count, arena address). */
  mapExtra: bigint;
  /** BTF ids of key and value types in the object's BTF, when it has them. */
  keyType: number | undefined;
  valueType: number | undefined;
  /** For map-in-map: the inner map's template. */
  innerMap: MapSpec | undefined;
  /** Initial prog-array or map-in-map entries. */
  contents: MapContent[];
  /** Initial value bytes of global data (the single value of a data section's array map). */
  data: Uint8Array | undefined;
  /** Read-only data: frozen after it is filled, read-only for programs (.rodata*). */
  readOnly: boolean;
  /** The ELF section it came from (`.maps`, `maps`, `.data`, …). */
  section: string;
  /** A `.struct_ops` / `.struct_ops.link` variable: the kernel struct it fills and with what. */
  structOps?: StructOpsSpec;
}

/** A global variable in a data section, readable and settable before load. */
export interface VariableSpec {
  /** Its symbol's name, for display: not unique when two static variables share it. */
  readonly name: string;
  /**
   * Its key in CollectionSpec.variables: the name when no other variable of the object has it,
   * else `name@section+byteOffset` (two objects linked by libbpf's linker may each bring a
   * static variable of one name; see variableLabel).
   */
  readonly label: string;
  /** The data map it lives in (`.data`, `.rodata`, `.bss`, …). */
  readonly map: string;
  readonly offset: number;
  readonly size: number;
  /** BTF id of its type (0 when the object has no BTF for it). */
  readonly type: number;
  readonly linkage: "static" | "global";
  /** In .rodata: a constant to the program (set it before load; frozen afterwards). */
  readonly readOnly: boolean;
}

/** An extern the loader must resolve. */
export interface ExternSpec {
  readonly name: string;
  /** `.kconfig` value, `.ksyms` variable (typed or typeless), or kfunc. */
  readonly kind: "kconfig" | "ksym" | "kfunc";
  /** BTF id of the extern's VAR or FUNC in the object BTF (0 when unknown). */
  readonly type: number;
  /** Weak externs may stay unresolved (they read as 0). */
  readonly weak: boolean;
  /** For kconfig: the value's offset and size in the `.kconfig` map. */
  readonly offset: number;
  readonly size: number;
  /** For ksym variables: true when declared `const void` (an address from kallsyms). */
  readonly typeless: boolean;
}

/** Function info of a program (BTF.ext), by instruction slot of the linked program. */
export interface ProgramFuncInfo {
  readonly slot: number;
  readonly typeId: number;
}

/** Line info of a program, by instruction slot of the linked program. */
export interface ProgramLineInfo {
  readonly slot: number;
  readonly fileNameOff: number;
  readonly lineOff: number;
  readonly fileName: string;
  readonly line: string;
  readonly lineNumber: number;
  readonly column: number;
}

/** A CO-RE relocation of a program, by instruction slot of the linked program. */
export interface ProgramCoreRelo {
  readonly slot: number;
  readonly relo: CoreRelo;
}

/**
 * A reference to a symbol the object does not define and that is no extern the loader resolves:
 * inline assembly's `r0 = MY_CONST ll`, a variable or function only declared. A program with
 * one does not load until it is resolved (a 64-bit load to a constant: `resolveSymbol`).
 */
export interface UnresolvedReference {
  readonly symbol: string;
  /** Index of the instruction in the program's `instructions`. */
  readonly instruction: number;
  /** `load`: a 64-bit load (`lddw`) of the symbol's value; `call`: a call of it. */
  readonly kind: "load" | "call";
}

export interface ProgramSpec {
  /** The function's symbol name. */
  name: string;
  sectionName: string;
  /**
   * What the section name says: program type, attach type and target, flags, and how the type
   * was decided (`kind.typeSource`: "section", "legacy" — guessed by libbpf 0.x's prefix rules,
   * "unspecified" — no rule knows the name, "user" — set by setProgramType).
   */
  kind: SectionKind;
  /**
   * BPF_PROG_TYPE_* the program loads as: ProgramType.UNSPEC (0) when its section name says
   * nothing — such a program is found and listed, but loads only after its type is set
   * (setProgramType, which also updates `kind` and `attachType`; or assign this field directly).
   */
  programType: number;
  /** expected_attach_type it loads with (undefined: none, 0). */
  attachType: number | undefined;
  /** Attach target from the section name (`sock/inet_sock_set_state`, `do_unlinkat`). */
  attachTarget: string;
  /** False for `?`-prefixed sections: loaded only when asked for. */
  autoload: boolean;
  /**
   * The program's instructions followed by every subprogram it reaches, linked. Map, data and
   * extern references stay symbolic (`reference`) until load.
   */
  instructions: Instruction[];
  /** Names of the subprograms appended after the program's own instructions. */
  subprograms: string[];
  license: string;
  kernelVersion: number;
  funcInfo: ProgramFuncInfo[];
  lineInfo: ProgramLineInfo[];
  coreRelos: ProgramCoreRelo[];
  /** BTF id of the program's FUNC, when the object has BTF. */
  btfFunc: number | undefined;
  /** References to undefined symbols, which must be resolved before load (empty when none). */
  unresolved: UnresolvedReference[];
}

export interface CollectionSpec {
  readonly byteOrder: "little" | "big";
  readonly programs: Map<string, ProgramSpec>;
  readonly maps: Map<string, MapSpec>;
  /** By label (VariableSpec.label): the name, or `name@section+offset` for a shared name. */
  readonly variables: Map<string, VariableSpec>;
  readonly externs: Map<string, ExternSpec>;
  /** The object's BTF (with data-section sizes and offsets fixed up), when it has one. */
  readonly btf: Btf | undefined;
  readonly license: string;
  readonly kernelVersion: number;
}
