/**
 * BTF type model (uapi/linux/btf.h). Types refer to each other by id; id 0 is `void`.
 * Plain data: what `parseBtf` reads is exactly what `marshalBtf` writes back.
 */

/** Numeric kinds as encoded in `btf_type.info` bits 24-28. */
export const BtfKindNumber = {
  int: 1,
  ptr: 2,
  array: 3,
  struct: 4,
  union: 5,
  enum: 6,
  fwd: 7,
  typedef: 8,
  volatile: 9,
  const: 10,
  restrict: 11,
  func: 12,
  func_proto: 13,
  var: 14,
  datasec: 15,
  float: 16,
  decl_tag: 17,
  type_tag: 18,
  enum64: 19,
} as const;
export type BtfKind = keyof typeof BtfKindNumber;

export const KIND_BY_NUMBER: readonly (BtfKind | undefined)[] = (() => {
  const out: (BtfKind | undefined)[] = [];
  for (const [k, n] of Object.entries(BtfKindNumber)) out[n] = k as BtfKind;
  return out;
})();

/** Linkage of functions and variables. */
export const BtfLinkage = { static: 0, global: 1, extern: 2 } as const;
export type BtfLinkage = keyof typeof BtfLinkage;

export interface BtfInt {
  readonly kind: "int";
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly char: boolean;
  readonly bool: boolean;
  /** Offset of the value's bits (legacy; 0 in practice). */
  readonly bitOffset: number;
  readonly bits: number;
}
export interface BtfPtr {
  readonly kind: "ptr";
  readonly name: string;
  readonly type: number;
}
export interface BtfArray {
  readonly kind: "array";
  readonly name: string;
  readonly type: number;
  readonly indexType: number;
  readonly nelems: number;
}
export interface BtfMember {
  readonly name: string;
  readonly type: number;
  /** Offset in bits from the start of the struct. */
  readonly bitOffset: number;
  /** Bitfield size in bits; 0 when the member is not a bitfield. */
  readonly bitSize: number;
}
export interface BtfComposite {
  readonly kind: "struct" | "union";
  readonly name: string;
  readonly size: number;
  readonly members: readonly BtfMember[];
  /** kind_flag: member offsets carry bitfield sizes. */
  readonly bitfields: boolean;
}
export interface BtfEnumValue {
  readonly name: string;
  readonly value: number;
}
export interface BtfEnum {
  readonly kind: "enum";
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly BtfEnumValue[];
}
export interface BtfEnum64Value {
  readonly name: string;
  readonly value: bigint;
}
export interface BtfEnum64 {
  readonly kind: "enum64";
  readonly name: string;
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly BtfEnum64Value[];
}
export interface BtfFwd {
  readonly kind: "fwd";
  readonly name: string;
  readonly union: boolean;
}
/** typedef, volatile, const, restrict, type_tag: a name (for typedef and type_tag) over a type. */
export interface BtfRef {
  readonly kind: "typedef" | "volatile" | "const" | "restrict" | "type_tag";
  readonly name: string;
  readonly type: number;
}
export interface BtfFunc {
  readonly kind: "func";
  readonly name: string;
  /** The FUNC_PROTO. */
  readonly type: number;
  readonly linkage: BtfLinkage;
}
export interface BtfParam {
  readonly name: string;
  readonly type: number;
}
export interface BtfFuncProto {
  readonly kind: "func_proto";
  readonly name: string;
  readonly returnType: number;
  readonly params: readonly BtfParam[];
}
export interface BtfVar {
  readonly kind: "var";
  readonly name: string;
  readonly type: number;
  readonly linkage: BtfLinkage;
}
export interface BtfVarSecinfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}
export interface BtfDatasec {
  readonly kind: "datasec";
  readonly name: string;
  readonly size: number;
  readonly vars: readonly BtfVarSecinfo[];
}
export interface BtfFloat {
  readonly kind: "float";
  readonly name: string;
  readonly size: number;
}
export interface BtfDeclTag {
  readonly kind: "decl_tag";
  readonly name: string;
  readonly type: number;
  /** -1 for the type itself, else the member or parameter index. */
  readonly componentIdx: number;
}

export type BtfType =
  | BtfInt
  | BtfPtr
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfEnum64
  | BtfFwd
  | BtfRef
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;

/** True for the qualifier kinds that CO-RE and sizing look through. */
export const isQualifier = (t: BtfType): t is BtfRef =>
  t.kind === "volatile" || t.kind === "const" || t.kind === "restrict" || t.kind === "type_tag";
