/** A stand-in kernel BTF for struct_ops tests: tcp_congestion_ops with members in any order, and its bpf_struct_ops_ value. */
import { Btf, marshalBtf, type BtfType } from "../../src/btf/index.js";

/** The kernel members the tests know: function pointers and data, with their sizes. */
export const KERNEL_MEMBERS: readonly { name: string; kind: "fn" | "u32" | "name" | "ptr" }[] = [
  { name: "ssthresh", kind: "fn" },
  { name: "cong_avoid", kind: "fn" },
  { name: "set_state", kind: "fn" },
  { name: "undo_cwnd", kind: "fn" },
  { name: "name", kind: "name" },
  { name: "owner", kind: "ptr" },
  { name: "key", kind: "u32" },
  { name: "flags", kind: "u32" },
  { name: "init", kind: "fn" },
  { name: "release", kind: "fn" },
];

/**
 * Kernel BTF with `struct tcp_congestion_ops` of these members in this order (each at its natural
 * alignment) inside `struct bpf_struct_ops_tcp_congestion_ops { common (8 bytes); data; }`.
 * `overrides` change one member's kind (a kernel that differs from the object).
 */
export function kernelBtfWith(order: readonly string[], overrides: Readonly<Record<string, "fn" | "u32" | "name" | "ptr" | "bits">> = {}): Btf {
  const types: BtfType[] = [
    { kind: "int", name: "unsigned int", size: 4, signed: false, char: false, bool: false, bitOffset: 0, bits: 32 }, // 1
    { kind: "int", name: "char", size: 1, signed: true, char: false, bool: false, bitOffset: 0, bits: 8 }, // 2
    { kind: "array", name: "", type: 2, indexType: 1, nelems: 16 }, // 3 char[16]
    { kind: "func_proto", name: "", returnType: 1, params: [] }, // 4
    { kind: "ptr", name: "", type: 4 }, // 5 function pointer
    { kind: "ptr", name: "", type: 1 }, // 6 data pointer
  ];
  const members: { name: string; type: number; bitOffset: number; bitSize: number }[] = [];
  let offset = 0;
  for (const name of order) {
    const kind = overrides[name] ?? KERNEL_MEMBERS.find((m) => m.name === name)?.kind ?? "u32";
    const size = kind === "fn" || kind === "ptr" ? 8 : kind === "name" ? 16 : 4;
    const align = kind === "name" ? 1 : size;
    offset = Math.ceil(offset / align) * align;
    const type = kind === "fn" ? 5 : kind === "ptr" ? 6 : kind === "name" ? 3 : 1;
    members.push({ name, type, bitOffset: offset * 8, bitSize: kind === "bits" ? 3 : 0 });
    offset += size;
  }
  const size = Math.ceil(offset / 8) * 8;
  types.push({ kind: "struct", name: "tcp_congestion_ops", size, bitfields: Object.values(overrides).includes("bits"), members }); // 7
  types.push({ kind: "struct", name: "bpf_struct_ops_common_value", size: 8, bitfields: false, members: [{ name: "refcnt", type: 1, bitOffset: 0, bitSize: 0 }, { name: "state", type: 1, bitOffset: 32, bitSize: 0 }] }); // 8
  types.push({ kind: "struct", name: "bpf_struct_ops_tcp_congestion_ops", size: 8 + size, bitfields: false, members: [{ name: "common", type: 8, bitOffset: 0, bitSize: 0 }, { name: "data", type: 7, bitOffset: 64, bitSize: 0 }] }); // 9
  return new Btf(marshalBtf(types));
}
