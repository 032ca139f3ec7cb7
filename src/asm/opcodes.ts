/**
 * eBPF opcode fields, as defined by the kernel's instruction-set standard
 * (Documentation/bpf/standardization/instruction-set.rst) and uapi/linux/bpf.h.
 *
 * An opcode byte is `class | fields`: for ALU/JMP classes `op | source | class`, for
 * load/store classes `mode | size | class`.
 */

/** Instruction classes (low 3 bits of the opcode). */
export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;
export type Class = (typeof Class)[keyof typeof Class];

/** Operand source for ALU and JMP classes (bit 3). */
export const Source = {
  /** The immediate is the operand. */
  K: 0x00,
  /** The source register is the operand. */
  X: 0x08,
} as const;

/** Byte-swap direction in the ALU-class END instruction (shares bit 3 with Source). */
export const Endian = {
  /** Host to little endian. */
  LE: 0x00,
  /** Host to big endian. */
  BE: 0x08,
} as const;

/** ALU operations (high 4 bits). */
export const AluOp = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;
export type AluOp = (typeof AluOp)[keyof typeof AluOp];

/** Jump operations (high 4 bits). */
export const JmpOp = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
  /** `may_goto`: a conditional pseudo jump the verifier bounds (kernel 6.9). */
  JCOND: 0xe0,
} as const;
export type JmpOp = (typeof JmpOp)[keyof typeof JmpOp];

/** Access sizes of load/store classes (bits 3-4). */
export const Size = {
  W: 0x00,
  H: 0x08,
  B: 0x10,
  DW: 0x18,
} as const;
export type Size = (typeof Size)[keyof typeof Size];

/** Load/store modes (bits 5-7). */
export const Mode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  /** Sign-extending load (kernel 6.6). */
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

/** Atomic operations, carried in the immediate of `STX | ATOMIC` instructions. */
export const AtomicOp = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  /** Modifier: return the old value in the source register. */
  FETCH: 0x01,
  XCHG: 0xe0 | 0x01,
  CMPXCHG: 0xf0 | 0x01,
  /** `dst = load_acquire(src + off)` (kernel 6.15). */
  LOAD_ACQ: 0x100,
  /** `store_release(dst + off, src)` (kernel 6.15). */
  STORE_REL: 0x110,
} as const;

/** Source-register values of `LD | IMM | DW` (lddw) that the loader or kernel interprets. */
export const PseudoLd = {
  /** Plain 64-bit constant. */
  NONE: 0,
  /** imm is a map fd; the register gets the map pointer. */
  MAP_FD: 1,
  /** imm is a map fd, next imm an offset into the map's value. */
  MAP_VALUE: 2,
  /** imm is a BTF id of a kernel variable (ksym). */
  BTF_ID: 3,
  /** imm is a relative instruction offset of a subprogram (callback pointer). */
  FUNC: 4,
  /** imm is an index into the fd_array given at load. */
  MAP_IDX: 5,
  /** imm is an fd_array index, next imm an offset into the map's value. */
  MAP_IDX_VALUE: 6,
} as const;
export type PseudoLd = (typeof PseudoLd)[keyof typeof PseudoLd];

/** Source-register values of `JMP | CALL`. */
export const PseudoCall = {
  /** imm is a helper function id. */
  HELPER: 0,
  /** imm is the relative offset of a bpf-to-bpf call target. */
  CALL: 1,
  /** imm is a kernel function's BTF id; off selects the BTF (0 = vmlinux, else fd_array index). */
  KFUNC: 2,
} as const;
export type PseudoCall = (typeof PseudoCall)[keyof typeof PseudoCall];

/** Masks for taking an opcode apart. */
export const classOf = (opcode: number): Class => (opcode & 0x07) as Class;
export const opOf = (opcode: number): number => opcode & 0xf0;
export const sourceOf = (opcode: number): number => opcode & 0x08;
export const sizeOf = (opcode: number): Size => (opcode & 0x18) as Size;
export const modeOf = (opcode: number): Mode => (opcode & 0xe0) as Mode;

/** The opcode of the 16-byte `lddw` (LD | IMM | DW). */
export const LD_IMM64 = Class.LD | Mode.IMM | Size.DW;

/** Width in bytes of each access size. */
export const sizeBytes = (size: Size): 1 | 2 | 4 | 8 =>
  size === Size.B ? 1 : size === Size.H ? 2 : size === Size.W ? 4 : 8;
