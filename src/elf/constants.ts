/**
 * ELF64 constants used by BPF objects, as named by the System V gABI (elf.h) and, for the
 * relocation types, by LLVM (Documentation/bpf/llvm_reloc.rst in the kernel).
 */

/** The four bytes every ELF file starts with: 0x7f 'E' 'L' 'F'. */
export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;

/** Indices into e_ident. */
export const EI = {
  /** File class: 32 or 64 bit. */
  CLASS: 4,
  /** Data encoding: byte order. */
  DATA: 5,
  /** ELF header version, always EV_CURRENT. */
  VERSION: 6,
  /** Size of e_ident. */
  NIDENT: 16,
} as const;

/** e_ident[EI_CLASS]. */
export const ELFCLASS = {
  NONE: 0,
  /** 32-bit objects (not BPF). */
  ELFCLASS32: 1,
  /** 64-bit objects: every BPF object. */
  ELFCLASS64: 2,
} as const;

/** e_ident[EI_DATA]. */
export const ELFDATA = {
  NONE: 0,
  /** Little endian (two's complement): `bpfel`. */
  LSB: 1,
  /** Big endian (two's complement): `bpfeb`. */
  MSB: 2,
} as const;

/** e_ident[EI_VERSION] and e_version. */
export const EV_CURRENT = 1;

/** Object file types (e_type). */
export const ET = {
  NONE: 0,
  /** Relocatable object: what `clang -target bpf -c` writes. */
  REL: 1,
  /** Executable. */
  EXEC: 2,
  /** Shared object. */
  DYN: 3,
  /** Core dump. */
  CORE: 4,
} as const;

/** Machines (e_machine): BPF, and a few others that error messages name. */
export const EM = {
  I386: 3,
  MIPS: 8,
  PPC64: 21,
  S390: 22,
  ARM: 40,
  X86_64: 62,
  AARCH64: 183,
  RISCV: 243,
  /** Linux BPF. */
  BPF: 247,
  LOONGARCH: 258,
} as const;

/** Linux BPF (e_machine). */
export const EM_BPF = EM.BPF;

/** Sizes of the ELF64 structures, in bytes. */
export const ELF64_SIZE = {
  /** ELF header (Elf64_Ehdr). */
  EHDR: 64,
  /** Section header (Elf64_Shdr): the only valid e_shentsize. */
  SHDR: 64,
  /** Symbol (Elf64_Sym): the only valid symbol table sh_entsize. */
  SYM: 24,
  /** Relocation without addend (Elf64_Rel). */
  REL: 16,
  /** Relocation with addend (Elf64_Rela). */
  RELA: 24,
  /** Entry of an SHT_SYMTAB_SHNDX section (Elf32_Word). */
  SHNDX: 4,
} as const;

/** Section types (sh_type). */
export const SHT = {
  /** Inactive header; section 0 always. */
  NULL: 0,
  /** Contents defined by the program: code, data, BTF, maps, license. */
  PROGBITS: 1,
  /** The symbol table. */
  SYMTAB: 2,
  /** A string table. */
  STRTAB: 3,
  /** Relocations with explicit addends. */
  RELA: 4,
  HASH: 5,
  DYNAMIC: 6,
  NOTE: 7,
  /** Occupies no file space (.bss): size only. */
  NOBITS: 8,
  /** Relocations without addends: what BPF objects use. */
  REL: 9,
  SHLIB: 10,
  DYNSYM: 11,
  INIT_ARRAY: 14,
  FINI_ARRAY: 15,
  PREINIT_ARRAY: 16,
  /** A section group. */
  GROUP: 17,
  /** Extended section indices of the symbol table's entries. */
  SYMTAB_SHNDX: 18,
  /** LLVM: symbols whose address is taken (`.llvm_addrsig`). */
  LLVM_ADDRSIG: 0x6fff4c03,
} as const;

/** Section flags (sh_flags), bit masks. */
export const SHF = {
  /** Writable at run time. */
  WRITE: 0x1,
  /** Occupies memory at run time. */
  ALLOC: 0x2,
  /** Executable instructions. */
  EXECINSTR: 0x4,
  /** May be merged to remove duplicates. */
  MERGE: 0x10,
  /** NUL-terminated strings. */
  STRINGS: 0x20,
  /** sh_info holds a section index. */
  INFO_LINK: 0x40,
  /** Ordered like the section sh_link names. */
  LINK_ORDER: 0x80,
  OS_NONCONFORMING: 0x100,
  /** Member of a section group. */
  GROUP: 0x200,
  /** Thread-local storage. */
  TLS: 0x400,
  /** Compressed contents. */
  COMPRESSED: 0x800,
  /** Not to be included in a linked output. */
  EXCLUDE: 0x80000000,
} as const;

/** Special section indices (st_shndx, e_shstrndx). */
export const SHN = {
  /** Undefined: the symbol is defined elsewhere (externs, kfuncs, kconfig). */
  UNDEF: 0,
  /** Lowest reserved index. */
  LORESERVE: 0xff00,
  /** First processor-specific index. */
  LOPROC: 0xff00,
  /** Last processor-specific index. */
  HIPROC: 0xff1f,
  /** First OS-specific index. */
  LOOS: 0xff20,
  /** Last OS-specific index. */
  HIOS: 0xff3f,
  /** Absolute value, not relative to a section. */
  ABS: 0xfff1,
  /** Common symbol, not yet allocated. */
  COMMON: 0xfff2,
  /** The real index is elsewhere: section 0's sh_link, or the SHT_SYMTAB_SHNDX section. */
  XINDEX: 0xffff,
  /** Highest reserved index. */
  HIRESERVE: 0xffff,
} as const;

/** Symbol types (low 4 bits of st_info). */
export const STT = {
  NOTYPE: 0,
  /** A variable or other data object (maps, globals). */
  OBJECT: 1,
  /** A function (program or subprogram). */
  FUNC: 2,
  /** The section itself. */
  SECTION: 3,
  /** The source file name. */
  FILE: 4,
  COMMON: 5,
  TLS: 6,
} as const;

/** Symbol bindings (high 4 bits of st_info). */
export const STB = {
  LOCAL: 0,
  GLOBAL: 1,
  /** Global, but may stay undefined (`__weak` externs). */
  WEAK: 2,
} as const;

/** Symbol visibility (low 2 bits of st_other). */
export const STV = {
  DEFAULT: 0,
  INTERNAL: 1,
  /** Not visible outside the object: libbpf keeps such globals private. */
  HIDDEN: 2,
  PROTECTED: 3,
} as const;

/** BPF relocation types (low 32 bits of r_info); written `R_BPF_<key>` by LLVM. */
export const R_BPF = {
  NONE: 0,
  /** The 64-bit immediate of an `lddw` instruction (map references, globals). */
  "64_64": 1,
  /** A 64-bit data field (DWARF). */
  "64_ABS64": 2,
  /** A 32-bit data field (DWARF, BTF). */
  "64_ABS32": 3,
  /** A 32-bit data field that runtime dynamic loaders leave alone (.BTF, .BTF.ext). */
  "64_NODYLD32": 4,
  /** The immediate of a `call` instruction (subprograms, kfuncs). */
  "64_32": 10,
} as const;

/** The name of a constant's key for a value (`SHT`, 9 → "REL"), or undefined. */
export function constantName(table: Readonly<Record<string, number>>, value: number): string | undefined {
  for (const key of Object.keys(table)) if (table[key] === value) return key;
  return undefined;
}
