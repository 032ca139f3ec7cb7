/**
 * CO-RE relocation engine: every kind against small hand-built BTFs (flavours, moved and resized
 * fields, missing fields and types, enums, bitfields in both byte orders, ambiguity, errors,
 * instruction patching), then against what clang-19 emits: each record of a compiled program
 * resolved against its own BTF (identity) and against the running kernel's BTF (offsets checked
 * by walking the kernel's types by name).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as asm from "../../src/asm/index.js";
import type { Instruction } from "../../src/asm/index.js";
import {
  Btf,
  CoreReloKind,
  marshalBtf,
  parseBtfExt,
  skipModifiers,
  sizeOf,
  type BtfType,
  type CoreRelo,
} from "../../src/btf/index.js";
import {
  CandidateCache,
  CoreError,
  POISON_HELPER_ID,
  applyCoreRelocations,
  essentialName,
  patchInstruction,
  resolveCoreRelocation,
  type CoreResolution,
} from "../../src/btf/core/index.js";
import { clang } from "../helpers/llvm.js";
import { describeWith, itWith, vmlinuxMissing } from "../helpers/oracle.js";

// ---- building BTF by hand ------------------------------------------------------------------

type Member = readonly [name: string, type: number, bitOffset: number, bitSize?: number];

/** Types with ids 1..n in the order added. */
class Types {
  readonly list: BtfType[] = [];
  private indexType = 0;

  add(t: BtfType): number {
    this.list.push(t);
    return this.list.length;
  }
  int(name: string, size: number, signed = false): number {
    return this.add({ kind: "int", name, size, signed, char: false, bool: false, bitOffset: 0, bits: size * 8 });
  }
  ptr(type: number): number {
    return this.add({ kind: "ptr", name: "", type });
  }
  array(type: number, nelems: number): number {
    if (this.indexType === 0) this.indexType = this.int("__ARRAY_SIZE_TYPE__", 4);
    return this.add({ kind: "array", name: "", type, indexType: this.indexType, nelems });
  }
  struct(name: string, size: number, members: readonly Member[], kind: "struct" | "union" = "struct"): number {
    return this.add({
      kind, name, size,
      bitfields: members.some((m) => (m[3] ?? 0) > 0),
      members: members.map(([n, type, bitOffset, bitSize]) => ({ name: n, type, bitOffset, bitSize: bitSize ?? 0 })),
    });
  }
  union(name: string, size: number, members: readonly Member[]): number {
    return this.struct(name, size, members, "union");
  }
  enum(name: string, values: readonly (readonly [string, number])[], size = 4, signed = false): number {
    return this.add({ kind: "enum", name, size, signed, values: values.map(([n, value]) => ({ name: n, value })) });
  }
  enum64(name: string, values: readonly (readonly [string, bigint])[], signed = false): number {
    return this.add({ kind: "enum64", name, size: 8, signed, values: values.map(([n, value]) => ({ name: n, value })) });
  }
  typedef(name: string, type: number): number {
    return this.add({ kind: "typedef", name, type });
  }
  const(type: number): number {
    return this.add({ kind: "const", name: "", type });
  }
  fwd(name: string, union = false): number {
    return this.add({ kind: "fwd", name, union });
  }
  btf(order: "little" | "big" = "little"): Btf {
    return new Btf(marshalBtf(this.list, { order }));
  }
}

const K = CoreReloKind;
const relo = (typeId: number, accessStr: string, kind: CoreReloKind, insn = 0): CoreRelo => ({ insnOff: insn * 8, typeId, accessStr, kind });
const resolve = (local: Btf, r: CoreRelo, target: Btf, options: Parameters<typeof resolveCoreRelocation>[3] = {}) =>
  resolveCoreRelocation(local, r, target, { cache: new CandidateCache(), ...options });
const error = (f: () => unknown): CoreError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CoreError);
    return e as CoreError;
  }
  throw new Error("expected a CoreError");
};
const poisonCall = { opcode: 0x85, dst: 0, src: 0, off: 0, imm: POISON_HELPER_ID };

// ---- a local program's types and a target where things moved ------------------------------

/** Local: struct task_struct { int pid; unsigned int flags; struct pid *thread_pid; char comm[16]; unsigned int level:4, mode:3; long state; }. */
function localTypes() {
  const T = new Types();
  const int = T.int("int", 4, true);
  const uint = T.int("unsigned int", 4);
  const long = T.int("long", 8, true);
  const char = T.int("char", 1, true);
  const pidStruct = T.struct("pid", 4, [["level", uint, 0]]);
  const pidPtr = T.ptr(pidStruct);
  const comm = T.array(char, 16);
  const task = T.struct("task_struct", 48, [
    ["pid", int, 0],
    ["flags", uint, 32],
    ["thread_pid", pidPtr, 64],
    ["comm", comm, 128],
    ["level", uint, 256, 4],
    ["mode", uint, 260, 3],
    ["state", long, 320],
  ]);
  const old = T.struct("task_struct___old", 16, [["state", long, 0], ["pid", int, 64]]);
  const color = T.enum("color", [["RED", 1], ["GREEN", 2], ["BLUE", -5]], 4, true);
  const taskT = T.typedef("task_t", task);
  return { T, int, uint, long, task, old, color, taskT, pidStruct, btf: T.btf() };
}

/** Target: fields moved and resized, `state` gone, an unrelated type in front. */
function targetTypes() {
  const T = new Types();
  const ulong = T.int("long unsigned int", 8);
  T.struct("unrelated", 8, [["x", ulong, 0]]);
  const int = T.int("int", 4, true);
  const uint = T.int("unsigned int", 4);
  const char = T.int("char", 1, true);
  const pidStruct = T.struct("pid", 16, [["count", int, 0], ["level", uint, 32]]);
  const pidPtr = T.ptr(pidStruct);
  const comm = T.array(char, 16);
  const inner = T.struct("", 8, [["pid", int, 0], ["tgid", int, 32]]);
  const task = T.struct("task_struct", 96, [
    ["usage", ulong, 0],
    ["flags", ulong, 64],
    ["", inner, 128],
    ["comm", comm, 192],
    ["thread_pid", pidPtr, 320],
    ["mode", uint, 384 + 5, 3],
    ["level", uint, 384 + 13, 4],
  ]);
  const color = T.enum("color", [["GREEN", 20], ["RED", 10]]);
  return { T, task, pidStruct, color, btf: T.btf() };
}

describe("CO-RE against hand-built BTF", () => {
  const L = localTypes();
  const R = targetTypes();

  it("FIELD_BYTE_OFFSET follows a field that moved, through an anonymous struct of the target", () => {
    const r = resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET, 3), R.btf);
    expect(r).toMatchObject({ kind: K.FIELD_BYTE_OFFSET, kindName: "FIELD_BYTE_OFFSET", local: 0, target: 16, poison: false, localSize: 4, targetSize: 4, targetSigned: true, targetTypeId: R.task, insnIndex: 3, path: "struct task_struct::pid" });
    expect(r.description).toContain("FIELD_BYTE_OFFSET struct task_struct::pid (0:0): 0 -> 16");
    expect(resolve(L.btf, relo(L.task, "0:2", K.FIELD_BYTE_OFFSET), R.btf)).toMatchObject({ local: 8, target: 40 });
    expect(resolve(L.btf, relo(L.task, "0:3", K.FIELD_BYTE_OFFSET), R.btf)).toMatchObject({ local: 16, target: 24 });
  });

  it("array elements, a root index and typedef roots", () => {
    expect(resolve(L.btf, relo(L.task, "0:3:5", K.FIELD_BYTE_OFFSET), R.btf)).toMatchObject({ local: 21, target: 29, path: "struct task_struct::comm[5]", localSize: 1 });
    expect(resolve(L.btf, relo(L.task, "2:1", K.FIELD_BYTE_OFFSET), R.btf)).toMatchObject({ local: 2 * 48 + 4, target: 2 * 96 + 8, path: "struct task_struct[2]::flags" });
    expect(resolve(L.btf, relo(L.task, "0", K.FIELD_BYTE_SIZE), R.btf)).toMatchObject({ local: 48, target: 96 });
    expect(resolve(L.btf, relo(L.task, "0:3", K.FIELD_BYTE_SIZE), R.btf)).toMatchObject({ local: 16, target: 16 });
    expect(resolve(L.btf, relo(L.task, "0:3:1", K.FIELD_BYTE_SIZE), R.btf)).toMatchObject({ local: 1, target: 1 });
    // A typedef root looks for a typedef of the same name; the target has none.
    expect(resolve(L.btf, relo(L.taskT, "0:0", K.FIELD_BYTE_OFFSET), R.btf)).toMatchObject({ poison: true, reason: "the target has no typedef task_t" });
    const T2 = targetTypes();
    T2.T.typedef("task_t", T2.task);
    expect(resolve(L.btf, relo(L.taskT, "0:0", K.FIELD_BYTE_OFFSET), T2.T.btf())).toMatchObject({ local: 0, target: 16, path: "task_t::pid" });
  });

  it("a flavour (task_struct___old) matches the target's task_struct by its essential name", () => {
    const pid = resolve(L.btf, relo(L.old, "0:1", K.FIELD_BYTE_OFFSET), R.btf);
    expect(pid).toMatchObject({ local: 8, target: 16, targetTypeId: R.task, path: "struct task_struct___old::pid" });
    expect(resolve(L.btf, relo(L.old, "0", K.TYPE_ID_TARGET), R.btf)).toMatchObject({ local: L.old, target: R.task });
  });

  it("a field that grew from u32 to u64: offset and load width both patched", () => {
    const r = resolve(L.btf, relo(L.task, "0:1", K.FIELD_BYTE_OFFSET), R.btf);
    expect(r).toMatchObject({ local: 4, target: 8, localSize: 4, targetSize: 8, targetSigned: false });
    expect(r.resizeProblem).toBeUndefined();
    expect(patchInstruction(asm.ldx("w", 2, 1, 4), r, 0)).toEqual([asm.ldx("dw", 2, 1, 8)]);
    expect(patchInstruction(asm.stx("w", 1, 4, 3), r, 0)).toEqual([asm.stx("dw", 1, 8, 3)]);
    expect(patchInstruction(asm.st("w", 1, 4, 7), r, 0)).toEqual([asm.st("dw", 1, 8, 7)]);
    // As an immediate (BPF_CORE_READ's `r1 = 4; r3 += r1`) only the value changes.
    expect(patchInstruction(asm.mov64Imm(1, 4), r, 0)).toEqual([asm.mov64Imm(1, 8)]);
    // The instruction must access the local field's width.
    expect(error(() => patchInstruction(asm.ldx("h", 2, 1, 4), r, 9)).message).toContain("accesses 2 bytes, but the local field has 4");
  });

  it("a signed field that changed size cannot be loaded with another width: poisoned, or CoreError in strict mode", () => {
    const T = new Types();
    const int = T.int("int", 4, true);
    const s = T.struct("s", 8, [["a", int, 0], ["b", int, 32]]);
    const T2 = new Types();
    const long = T2.int("long", 8, true);
    T2.struct("s", 16, [["b", long, 0], ["a", long, 64]]);
    const r = resolve(T.btf(), relo(s, "0:1", K.FIELD_BYTE_OFFSET), T2.btf());
    expect(r).toMatchObject({ local: 4, target: 0, localSize: 4, targetSize: 8 });
    expect(r.resizeProblem).toContain("only pointers and unsigned integers");
    expect(patchInstruction(asm.ldx("w", 2, 1, 4), r, 0)).toEqual([poisonCall]);
    expect(error(() => patchInstruction(asm.ldx("w", 2, 1, 4), r, 5, { strict: true })).message).toContain("changed size from 4 to 8 bytes");
    // The offset alone is fine.
    expect(patchInstruction(asm.add64Imm(1, 4), r, 0)).toEqual([asm.add64Imm(1, 0)]);
  });

  it("a missing field poisons the instruction (both slots of an lddw); strict mode throws", () => {
    const r = resolve(L.btf, relo(L.task, "0:6", K.FIELD_BYTE_OFFSET, 7), R.btf);
    expect(r).toMatchObject({ local: 40, target: undefined, poison: true });
    expect(r.reason).toBe(`no candidate fits: [${R.task}] struct task_struct has no member state`);
    expect(r.description).toContain("poisoned");
    expect(patchInstruction(asm.ldx("dw", 2, 1, 40), r, 7)).toEqual([poisonCall]);
    const labelled = { ...asm.ldImm64(1, 40), symbol: "here" };
    expect(patchInstruction(labelled, r, 7)).toEqual([{ ...poisonCall, symbol: "here" }, poisonCall]);
    const e = error(() => resolve(L.btf, relo(L.task, "0:6", K.FIELD_BYTE_OFFSET, 7), R.btf, { strict: true }));
    expect(e.message).toBe(
      `CO-RE FIELD_BYTE_OFFSET relocation of insn #7, struct task_struct::state (access "0:6", local type [9] struct task_struct): no candidate fits: [${R.task}] struct task_struct has no member state`,
    );
    expect(e).toMatchObject({ name: "CoreError", kind: "FIELD_BYTE_OFFSET", insnIndex: 7, accessStr: "0:6", path: "struct task_struct::state", localType: "[9] struct task_struct" });
    // Every field kind but FIELD_EXISTS poisons; FIELD_EXISTS is 0.
    for (const kind of [K.FIELD_BYTE_SIZE, K.FIELD_SIGNED, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64]) {
      expect(resolve(L.btf, relo(L.task, "0:6", kind), R.btf).poison).toBe(true);
    }
    expect(resolve(L.btf, relo(L.task, "0:6", K.FIELD_EXISTS), R.btf)).toMatchObject({ local: 1, target: 0, poison: false });
    expect(resolve(L.btf, relo(L.task, "0:0", K.FIELD_EXISTS), R.btf)).toMatchObject({ local: 1, target: 1 });
    expect(patchInstruction(asm.mov64Imm(1, 1), resolve(L.btf, relo(L.task, "0:6", K.FIELD_EXISTS), R.btf), 0)).toEqual([asm.mov64Imm(1, 0)]);
  });

  it("a field of an incompatible type does not match (poison, or exists = 0)", () => {
    const T2 = new Types();
    const int = T2.int("int", 4, true);
    const ptr = T2.ptr(int);
    T2.struct("task_struct", 8, [["pid", ptr, 0]]);
    const r = resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET), T2.btf());
    expect(r.poison).toBe(true);
    expect(r.reason).toContain("member pid of struct task_struct is int * in the target but int locally");
    expect(resolve(L.btf, relo(L.task, "0:0", K.FIELD_EXISTS), T2.btf()).target).toBe(0);
  });

  it("array bounds: a smaller target array poisons; a flexible array member takes any index", () => {
    const T2 = new Types();
    const char = T2.int("char", 1, true);
    const t2 = T2.struct("task_struct", 8, [["comm", T2.array(char, 4), 0]]);
    expect(resolve(L.btf, relo(L.task, "0:3:5", K.FIELD_BYTE_OFFSET), T2.btf())).toMatchObject({ poison: true, reason: `no candidate fits: [${t2}] struct task_struct::comm has 4 elements, no index 5` });
    expect(resolve(L.btf, relo(L.task, "0:3:3", K.FIELD_BYTE_OFFSET), T2.btf())).toMatchObject({ target: 3 });
    const T3 = new Types();
    const c3 = T3.int("char", 1, true);
    const long = T3.int("long", 8, true);
    T3.struct("task_struct", 8, [["x", long, 0], ["comm", T3.array(c3, 0), 64]]);
    expect(resolve(L.btf, relo(L.task, "0:3:9", K.FIELD_BYTE_OFFSET), T3.btf())).toMatchObject({ target: 17 });
    // Locally too: an index past a flexible array's (zero) length is fine, past a real one is not.
    const T4 = new Types();
    const i4 = T4.int("int", 4, true);
    const flex = T4.struct("flex", 4, [["n", i4, 0], ["data", T4.array(i4, 0), 32]]);
    const fixed = T4.struct("fixed", 12, [["data", T4.array(i4, 2), 0], ["n", i4, 64]]);
    const local4 = T4.btf();
    expect(resolve(local4, relo(flex, "0:1:7", K.FIELD_BYTE_OFFSET), local4)).toMatchObject({ local: 32, target: 32 });
    expect(error(() => resolve(local4, relo(fixed, "0:0:2", K.FIELD_BYTE_OFFSET), local4)).reason).toMatch(/^array index 2 is out of range: .+ has 2 elements$/);
  });

  it("anonymous members: a local field inside an anonymous union found at the top of the target, and the reverse", () => {
    const T = new Types();
    const int = T.int("int", 4, true);
    const long = T.int("long", 8, true);
    const u = T.union("", 8, [["b", int, 0], ["c", long, 0]]);
    const s = T.struct("s", 16, [["a", int, 0], ["", u, 64]]);
    const local = T.btf();
    const T2 = new Types();
    const int2 = T2.int("int", 4, true);
    const long2 = T2.int("long", 8, true);
    const inner = T2.struct("", 16, [["pad", long2, 0], ["c", long2, 64]]);
    T2.struct("s", 32, [["c0", long2, 0], ["a", int2, 64], ["", inner, 128]]);
    const target = T2.btf();
    const r = resolve(local, relo(s, "0:1:1", K.FIELD_BYTE_OFFSET), target);
    expect(r).toMatchObject({ local: 8, target: 24, path: "struct s::c" });
    expect(resolve(local, relo(s, "0:0", K.FIELD_BYTE_OFFSET), target)).toMatchObject({ local: 0, target: 8 });
    // An access cannot end at an anonymous member: a target has no name to find it by.
    expect(error(() => resolve(local, relo(s, "0:1", K.FIELD_BYTE_SIZE), local)).reason).toBe(
      "the access ends at member 1 of struct s, which has no name to look it up by in a target",
    );
  });

  it("nested named structs and struct/union interchange", () => {
    const T = new Types();
    const int = T.int("int", 4, true);
    const se = T.struct("sched_entity", 8, [["vruntime", int, 32]]);
    const task = T.struct("task_struct", 16, [["pid", int, 0], ["se", se, 64]]);
    const T2 = new Types();
    const int2 = T2.int("int", 4, true);
    const se2 = T2.union("sched_entity", 16, [["load", int2, 0], ["vruntime", int2, 0]]);
    T2.struct("task_struct", 48, [["se", se2, 128], ["pid", int2, 0]]);
    expect(resolve(T.btf(), relo(task, "0:1:0", K.FIELD_BYTE_OFFSET), T2.btf())).toMatchObject({ local: 12, target: 16, path: "struct task_struct::se.vruntime" });
  });

  it("bitfields: byte offset and size of the load unit, shifts for both byte orders, signedness", () => {
    // Local level:4 at bit 256 of a u32 unit; the target has it at bit 397 (= byte 49, bit 5).
    // Target unit: u32 (4 bytes) at floor(397 / 32) * 4 = 48; the field spans bits 13..16 of it.
    const level = (kind: CoreReloKind, options = {}) => resolve(L.btf, relo(L.task, "0:4", kind), R.btf, options);
    expect(level(K.FIELD_BYTE_OFFSET)).toMatchObject({ local: 32, target: 48, validate: false });
    expect(level(K.FIELD_BYTE_OFFSET).localSize).toBeUndefined();
    expect(level(K.FIELD_BYTE_SIZE)).toMatchObject({ local: 4, target: 4, validate: false });
    expect(level(K.FIELD_LSHIFT_U64)).toMatchObject({ local: 64 - (0 + 4), target: 64 - (13 + 4), validate: false });
    expect(level(K.FIELD_LSHIFT_U64, { byteOrder: "big" })).toMatchObject({ local: (8 - 4) * 8 + 0, target: (8 - 4) * 8 + 13 });
    expect(level(K.FIELD_RSHIFT_U64)).toMatchObject({ local: 60, target: 60, validate: true });
    expect(level(K.FIELD_SIGNED)).toMatchObject({ local: 0, target: 0, validate: true });
    // mode:3 at bit 389: unit at byte 48, bits 5..7.
    const mode = (kind: CoreReloKind) => resolve(L.btf, relo(L.task, "0:5", kind), R.btf);
    expect(mode(K.FIELD_BYTE_OFFSET)).toMatchObject({ local: 32, target: 48 });
    expect(mode(K.FIELD_LSHIFT_U64)).toMatchObject({ local: 64 - (4 + 3), target: 64 - (5 + 3) });
    expect(mode(K.FIELD_RSHIFT_U64)).toMatchObject({ local: 61, target: 61 });
  });

  it("bitfields: a field straddling its type's unit widens the load; one past 64 bits is an error", () => {
    const T = new Types();
    const u8 = T.int("unsigned char", 1);
    const s8 = T.int("signed char", 1, true);
    const u64 = T.int("unsigned long", 8);
    // f: 4 bits at bit 13 of a u8 type: bytes 1..2 → not in one byte, not in the aligned u16 at 0
    // (bits 0..15 hold 13..16? no: 13 + 4 = 17 > 16), so the unit is the u32 at 0.
    const s = T.struct("s", 16, [["f", u8, 13, 4], ["g", s8, 17, 7], ["h", u64, 60, 10]]);
    const btf = T.btf();
    const f = (kind: CoreReloKind, byteOrder: "little" | "big" = "little") => resolve(btf, relo(s, "0:0", kind), btf, { byteOrder });
    expect(f(K.FIELD_BYTE_OFFSET)).toMatchObject({ local: 0, target: 0 });
    expect(f(K.FIELD_BYTE_SIZE)).toMatchObject({ local: 4 });
    expect(f(K.FIELD_LSHIFT_U64)).toMatchObject({ local: 64 - 17 });
    expect(f(K.FIELD_LSHIFT_U64, "big")).toMatchObject({ local: 32 + 13 });
    expect(f(K.FIELD_RSHIFT_U64)).toMatchObject({ local: 60 });
    // g: 7 bits at 17, signed char: byte 2 holds bits 16..23 → one byte at 2.
    const g = (kind: CoreReloKind, byteOrder: "little" | "big" = "little") => resolve(btf, relo(s, "0:1", kind), btf, { byteOrder });
    expect(g(K.FIELD_BYTE_OFFSET)).toMatchObject({ local: 2 });
    expect(g(K.FIELD_BYTE_SIZE)).toMatchObject({ local: 1 });
    expect(g(K.FIELD_LSHIFT_U64)).toMatchObject({ local: 64 - (1 + 7) });
    expect(g(K.FIELD_LSHIFT_U64, "big")).toMatchObject({ local: 56 + 1 });
    expect(g(K.FIELD_SIGNED)).toMatchObject({ local: 1 });
    expect(error(() => resolve(btf, relo(s, "0:2", K.FIELD_BYTE_OFFSET), btf)).reason).toBe("bitfield h (bits 60-69) cannot be read with one 64-bit load");
  });

  it("bitfield shifts extract the field from memory in both byte orders", () => {
    const T = new Types();
    const u16 = T.int("unsigned short", 2);
    const u32 = T.int("unsigned int", 4);
    const fields: Member[] = [["a", u16, 3, 9], ["b", u32, 12, 17], ["c", u16, 29, 3], ["d", u32, 40, 24]];
    const s = T.struct("s", 8, fields);
    for (const order of ["little", "big"] as const) {
      const btf = T.btf(order);
      const memory = Uint8Array.from([0x9d, 0x3c, 0xe1, 0x57, 0xa2, 0x6b, 0xf0, 0x18]);
      fields.forEach(([name, , bitOffset, bitSize = 0], i) => {
        const v = (kind: CoreReloKind) => Number(resolve(btf, relo(s, `0:${i}`, kind), btf).target);
        const size = v(K.FIELD_BYTE_SIZE);
        const offset = v(K.FIELD_BYTE_OFFSET);
        let loaded = 0n;
        for (let b = 0; b < size; b++) {
          const byte = BigInt(memory[offset + (order === "little" ? size - 1 - b : b)] as number);
          loaded = (loaded << 8n) | byte;
        }
        const extracted = BigInt.asUintN(64, loaded << BigInt(v(K.FIELD_LSHIFT_U64))) >> BigInt(v(K.FIELD_RSHIFT_U64));
        // The field's bits straight from memory: little endian numbers bits from the least
        // significant bit of byte 0, big endian from the most significant.
        let expected = 0n;
        for (let bit = bitOffset + bitSize - 1; bit >= bitOffset; bit--) {
          const byte = memory[Math.floor(bit / 8)] as number;
          const set = order === "little" ? (byte >> (bit % 8)) & 1 : (byte >> (7 - (bit % 8))) & 1;
          expected = order === "little" ? (expected << 1n) | BigInt(set) : expected;
        }
        if (order === "big") for (let bit = bitOffset; bit < bitOffset + bitSize; bit++) expected = (expected << 1n) | BigInt(((memory[Math.floor(bit / 8)] as number) >> (7 - (bit % 8))) & 1);
        expect(extracted, `${order} ${name}`).toBe(expected);
      });
    }
  });

  it("TYPE_EXISTS, TYPE_SIZE, TYPE_ID_TARGET, TYPE_ID_LOCAL", () => {
    expect(resolve(L.btf, relo(L.task, "0", K.TYPE_EXISTS), R.btf)).toMatchObject({ local: 1, target: 1 });
    expect(resolve(L.btf, relo(L.task, "0", K.TYPE_SIZE), R.btf)).toMatchObject({ local: 48, target: 96 });
    expect(resolve(L.btf, relo(L.taskT, "0", K.TYPE_SIZE), L.btf)).toMatchObject({ local: 48, target: 48 });
    expect(resolve(L.btf, relo(L.task, "0", K.TYPE_ID_TARGET), R.btf)).toMatchObject({ local: L.task, target: R.task });
    expect(resolve(L.btf, relo(L.task, "0", K.TYPE_ID_LOCAL), R.btf)).toMatchObject({ local: L.task, target: L.task });
    // TYPE_ID_LOCAL needs no name and no target type.
    const T = new Types();
    const anon = T.struct("", 4, [["x", T.int("int", 4, true), 0]]);
    expect(resolve(T.btf(), relo(anon, "0", K.TYPE_ID_LOCAL), R.btf)).toMatchObject({ target: anon });
    expect(error(() => resolve(T.btf(), relo(anon, "0", K.TYPE_EXISTS), R.btf)).reason).toBe("struct (anon) has no name, so it cannot be looked up in the target");
  });

  it("a type the target lacks: every type relocation is 0 (as libbpf resolves them), strict mode throws for size and target id", () => {
    const T = new Types();
    const int = T.int("int", 4, true);
    const missing = T.struct("bpf_nonexistent", 4, [["x", int, 0]]);
    const btf = T.btf();
    expect(resolve(btf, relo(missing, "0", K.TYPE_EXISTS), R.btf)).toMatchObject({ local: 1, target: 0, poison: false, reason: "the target has no struct bpf_nonexistent" });
    expect(resolve(btf, relo(missing, "0", K.TYPE_MATCHES), R.btf)).toMatchObject({ local: 1, target: 0 });
    expect(resolve(btf, relo(missing, "0", K.TYPE_SIZE), R.btf)).toMatchObject({ local: 4, target: 0, poison: false });
    expect(resolve(btf, relo(missing, "0", K.TYPE_ID_TARGET), R.btf)).toMatchObject({ local: missing, target: 0, poison: false });
    expect(resolve(btf, relo(missing, "0:0", K.FIELD_EXISTS), R.btf)).toMatchObject({ target: 0 });
    const r = resolve(btf, relo(missing, "0", K.TYPE_ID_TARGET, 4), R.btf);
    expect(patchInstruction(asm.ldImm64(1, missing), r, 4)).toEqual([asm.ldImm64(1, 0)]);
    expect(error(() => resolve(btf, relo(missing, "0", K.TYPE_ID_TARGET, 4), R.btf, { strict: true })).reason).toBe("the target has no struct bpf_nonexistent");
    expect(error(() => resolve(btf, relo(missing, "0", K.TYPE_SIZE, 4), R.btf, { strict: true })).message).toBe(
      'CO-RE TYPE_SIZE relocation of insn #4, struct bpf_nonexistent (access "0", local type [2] struct bpf_nonexistent): the target has no struct bpf_nonexistent',
    );
    // A struct and a union of the same name are not candidates for each other.
    const U = new Types();
    U.union("task_struct", 4, [["x", U.int("int", 4, true), 0]]);
    expect(resolve(L.btf, relo(L.task, "0", K.TYPE_EXISTS), U.btf()).target).toBe(0);
  });

  it("TYPE_MATCHES: members by name and type, integers by size and signedness, pointers to forward declarations", () => {
    const local = new Types();
    const li = local.int("int", 4, true);
    const lu = local.int("unsigned long", 8);
    const lfoo = local.struct("foo", 4, [["x", li, 0]]);
    const lp = local.ptr(lfoo);
    const ls = local.struct("s", 24, [["a", li, 0], ["b", lu, 64], ["p", lp, 128]]);
    const le = local.enum("e", [["A", 1], ["B___new", 2]]);
    const lbtf = local.btf();
    const target = (build: (T: Types, ti: number, tu: number) => void) => {
      const T = new Types();
      const ti = T.int("int", 4, true);
      const tu = T.int("long unsigned int", 8);
      build(T, ti, tu);
      return T.btf();
    };
    const matches = (t: Btf, id = ls) => resolve(lbtf, relo(id, "0", K.TYPE_MATCHES), t).target;
    // Same members in another order, more members, a pointer to a forward declaration: matches.
    expect(matches(target((T, ti, tu) => {
      const fwd = T.fwd("foo");
      T.struct("s", 40, [["extra", ti, 0], ["p", T.ptr(fwd), 64], ["b", tu, 128], ["a", ti, 192]]);
    }))).toBe(1);
    // A member of another signedness, a missing member, a pointer to a union: no match.
    expect(matches(target((T, ti) => {
      const foo = T.struct("foo", 4, [["x", ti, 0]]);
      const long = T.int("long", 8, true);
      T.struct("s", 24, [["a", ti, 0], ["b", long, 64], ["p", T.ptr(foo), 128]]);
    }))).toBe(0);
    expect(matches(target((T, ti, tu) => {
      const foo = T.struct("foo", 4, [["x", ti, 0]]);
      T.struct("s", 16, [["a", ti, 0], ["b", tu, 64], ["q", T.ptr(foo), 128]]);
    }))).toBe(0);
    expect(matches(target((T, ti, tu) => {
      const foo = T.union("foo", 4, [["x", ti, 0]]);
      T.struct("s", 24, [["a", ti, 0], ["b", tu, 64], ["p", T.ptr(foo), 128]]);
    }))).toBe(0);
    // Enums: every local enumerator by essential name, values free, sizes equal.
    expect(matches(target((T) => T.enum("e", [["B", 20], ["A", 10], ["C", 3]])), le)).toBe(1);
    expect(matches(target((T) => T.enum("e", [["A", 1]])), le)).toBe(0);
    expect(matches(target((T) => T.enum64("e", [["A", 1n], ["B", 2n]])), le)).toBe(0);
    // TYPE_EXISTS is looser: any struct named s.
    expect(resolve(lbtf, relo(ls, "0", K.TYPE_EXISTS), target((T, ti) => T.struct("s", 4, [["zzz", ti, 0]]))).target).toBe(1);
  });

  it("ENUMVAL_EXISTS and ENUMVAL_VALUE, by enumerator name (flavours stripped), signed and 64-bit values", () => {
    expect(resolve(L.btf, relo(L.color, "0", K.ENUMVAL_VALUE), R.btf)).toMatchObject({ local: 1, target: 10, path: "enum color::RED" });
    expect(resolve(L.btf, relo(L.color, "1", K.ENUMVAL_VALUE), R.btf)).toMatchObject({ local: 2, target: 20 });
    expect(resolve(L.btf, relo(L.color, "2", K.ENUMVAL_VALUE), L.btf)).toMatchObject({ local: -5, target: -5 });
    expect(resolve(L.btf, relo(L.color, "2", K.ENUMVAL_EXISTS), R.btf)).toMatchObject({ local: 1, target: 0 });
    expect(resolve(L.btf, relo(L.color, "2", K.ENUMVAL_VALUE), R.btf)).toMatchObject({ poison: true, reason: `no candidate fits: [${R.color}] enum color has no enumerator BLUE` });
    expect(resolve(L.btf, relo(L.color, "0", K.ENUMVAL_EXISTS), R.btf)).toMatchObject({ local: 1, target: 1 });

    const T = new Types();
    const e = T.enum("state___v1", [["ST_A___v1", 7], ["ST_B___v1", 8]]);
    const T2 = new Types();
    const big = (1n << 62n) + 5n;
    T2.enum64("state", [["ST_B", big], ["ST_A", -3n]], true);
    const b = resolve(T.btf(), relo(e, "1", K.ENUMVAL_VALUE), T2.btf());
    expect(b).toMatchObject({ local: 8, target: big, path: "enum state___v1::ST_B___v1" });
    expect(patchInstruction(asm.ldImm64(3, 8), b, 0)).toEqual([asm.ldImm64(3, big)]);
    const a = resolve(T.btf(), relo(e, "0", K.ENUMVAL_VALUE), T2.btf());
    expect(a.target).toBe(-3);
    expect(patchInstruction(asm.ldImm64(3, 7), a, 0)).toEqual([asm.ldImm64(3, -3n)]);
    expect(patchInstruction(asm.mov64Imm(3, 7), a, 0)).toEqual([asm.mov64Imm(3, -3)]);
    // A 62-bit value does not fit an ALU immediate.
    expect(error(() => patchInstruction(asm.mov64Imm(3, 8), b, 2)).reason).toContain(`the target value ${big} does not fit the sign-extended 32-bit immediate`);
  });

  it("ambiguous candidates that disagree are a CoreError; candidates that agree are fine", () => {
    const T2 = new Types();
    const int = T2.int("int", 4, true);
    T2.struct("task_struct___a", 8, [["x", int, 0], ["pid", int, 32]]);
    T2.struct("task_struct___b", 8, [["pid", int, 0]]);
    T2.struct("task_struct___c", 16, [["y", int, 0], ["pid", int, 32]]);
    const e = error(() => resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET, 12), T2.btf()));
    expect(e.reason).toBe("ambiguous: candidates [2] struct task_struct___a gives 4 (size 4) but [3] struct task_struct___b gives 0 (size 4)");
    expect(e.message).toContain("CO-RE FIELD_BYTE_OFFSET relocation of insn #12, struct task_struct::pid");
    const T3 = new Types();
    const i3 = T3.int("int", 4, true);
    T3.struct("task_struct___a", 8, [["x", i3, 0], ["pid", i3, 32]]);
    T3.struct("task_struct___c", 16, [["y", i3, 0], ["pid", i3, 32]]);
    expect(resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET), T3.btf())).toMatchObject({ target: 4, targetTypeId: 2 });
    // Type ids always differ: two fitting flavours make TYPE_ID_TARGET ambiguous...
    expect(error(() => resolve(L.btf, relo(L.task, "0", K.TYPE_ID_TARGET), T3.btf())).reason).toContain("ambiguous");
    // ...unless one carries exactly the local name.
    T3.struct("task_struct", 4, [["pid", i3, 0]]);
    expect(resolve(L.btf, relo(L.task, "0", K.TYPE_ID_TARGET), T3.btf())).toMatchObject({ target: 4 });
    expect(resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET), T3.btf())).toMatchObject({ target: 0 });
  });

  it("split BTF (a module) as the target: base and module types are candidates, ids in the combined space", () => {
    const base = new Types();
    const int = base.int("int", 4, true);
    base.struct("task_struct", 8, [["tgid", int, 0], ["pid", int, 32]]);
    const baseBtf = base.btf();
    const mod: BtfType[] = [
      { kind: "struct", name: "color_holder", size: 4, bitfields: false, members: [{ name: "c", type: int, bitOffset: 0, bitSize: 0 }] },
      { kind: "enum", name: "color", size: 4, signed: false, values: [{ name: "RED", value: 99 }] },
    ];
    const baseBytes = marshalBtf(base.list);
    const stringLength = new DataView(baseBytes.buffer).getUint32(20, true);
    const split = new Btf(marshalBtf(mod, { base: { typeCount: baseBtf.typeCount, stringLength } }), { base: baseBtf });
    expect(split.typeCount).toBe(4);
    expect(resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET), split)).toMatchObject({ target: 4, targetTypeId: 2 });
    expect(resolve(L.btf, relo(L.color, "0", K.ENUMVAL_VALUE), split)).toMatchObject({ target: 99, targetTypeId: 4 });
    expect(resolve(L.btf, relo(L.color, "0", K.TYPE_ID_TARGET), split)).toMatchObject({ target: 4 });
  });

  it("the candidate cache indexes a target once and serves every local BTF", () => {
    const cache = new CandidateCache();
    expect(cache.candidates(L.btf, L.task, R.btf)).toEqual([R.task]);
    expect(cache.candidates(L.btf, L.old, R.btf)).toEqual([R.task]);
    expect(cache.candidates(L.btf, L.task, L.btf)).toEqual([L.task, L.old]);
    expect(cache.candidates(L.btf, L.int, R.btf)).toEqual([3]);
    expect(cache.candidates(L.btf, L.color, R.btf)).toEqual([R.color]);
  });

  it("essential names", () => {
    expect(essentialName("task_struct___old")).toBe("task_struct");
    expect(essentialName("task_struct___2")).toBe("task_struct");
    expect(essentialName("a___b___c")).toBe("a___b");
    expect(essentialName("task_struct")).toBe("task_struct");
    expect(essentialName("a____b")).toBe("a____b");
    expect(essentialName("a___")).toBe("a___");
    expect(essentialName("___a")).toBe("___a");
    expect(essentialName("__x___y")).toBe("__x");
    expect(essentialName("")).toBe("");
  });

  it("malformed relocations are CoreErrors naming the kind, instruction, access and type", () => {
    const bad = (r: CoreRelo) => error(() => resolve(L.btf, r, R.btf));
    expect(bad(relo(L.task, "0:x", K.FIELD_BYTE_OFFSET, 1)).message).toBe(
      'CO-RE FIELD_BYTE_OFFSET relocation of insn #1, struct task_struct (access "0:x", local type [9] struct task_struct): malformed access string "0:x" (expected indices like "0:1:2")',
    );
    expect(bad(relo(L.task, "", K.FIELD_BYTE_OFFSET)).reason).toContain("malformed access string");
    expect(bad(relo(L.task, "0:9", K.FIELD_BYTE_OFFSET)).reason).toBe("member index 9 is out of range: struct task_struct has 7 members");
    expect(bad(relo(L.task, "0:9", K.FIELD_BYTE_OFFSET)).path).toBe("struct task_struct::?9");
    expect(bad(relo(L.task, "0:0:1", K.FIELD_BYTE_OFFSET)).reason).toBe("index 2 (1) goes into int, which is neither a struct, a union nor an array");
    expect(bad(relo(L.task, "1", K.TYPE_SIZE)).reason).toBe('a type relocation\'s access string must be "0", not "1"');
    expect(bad(relo(L.task, "0", K.ENUMVAL_VALUE)).reason).toBe("an enum value relocation needs an enum, but the root is struct task_struct");
    expect(bad(relo(L.color, "3", K.ENUMVAL_VALUE)).reason).toBe("enumerator index 3 is out of range: enum color has 3");
    expect(bad(relo(999, "0", K.TYPE_SIZE)).reason).toBe("root type id 999 is past the last type (12)");
    expect(bad(relo(0, "0", K.TYPE_SIZE)).reason).toBe("root type is void (type id 0)");
    expect(bad({ insnOff: 3, typeId: L.task, accessStr: "0", kind: K.TYPE_SIZE }).reason).toBe("instruction offset 3 is not a multiple of 8");
    expect(bad({ insnOff: 0, typeId: L.task, accessStr: "0", kind: 77 as CoreReloKind }).reason).toBe("unknown relocation kind 77");
  });

  it("patching checks the instruction carries the local value and can hold the target's", () => {
    const r = resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET, 2), R.btf);
    const e = error(() => patchInstruction(asm.mov64Imm(1, 4), r, 2));
    expect(e.message).toBe(
      'CO-RE FIELD_BYTE_OFFSET relocation of insn #2, struct task_struct::pid (access "0:0", local type [9] struct task_struct): the instruction\'s immediate is 4, but the local value is 0 (insn: r1 = 4)',
    );
    expect(error(() => patchInstruction(asm.ldx("w", 1, 2, 8), r, 2)).reason).toContain("the instruction's offset is 8, but the local value is 0");
    expect(error(() => patchInstruction(asm.ldImm64(1, 1), r, 2)).reason).toContain("the instruction's constant is 1, but the local value is 0");
    expect(error(() => patchInstruction(asm.jeqImm(1, 0, 3), r, 2)).reason).toContain("cannot be relocated");
    expect(error(() => patchInstruction(asm.add64Reg(1, 2), r, 2)).reason).toContain("without an immediate operand");
    expect(error(() => patchInstruction(asm.loadMapFd(1, 0), r, 2)).reason).toContain("only an lddw of a plain 64-bit constant");
    // 32-bit ALU: the immediate is read as unsigned 32 bits.
    const size = resolve(L.btf, relo(L.task, "0", K.TYPE_SIZE), R.btf);
    expect(patchInstruction(asm.mov32Imm(2, 48), size, 0)).toEqual([asm.mov32Imm(2, 96)]);
    expect(patchInstruction(asm.ldImm64(2, 48), size, 0)).toEqual([asm.ldImm64(2, 96)]);
    // Bitfield offsets are not validated (the compiler may load another unit), the others are.
    const lshift = resolve(L.btf, relo(L.task, "0:4", K.FIELD_LSHIFT_U64), R.btf);
    expect(patchInstruction(asm.lsh64Imm(1, 36), lshift, 0)).toEqual([asm.lsh64Imm(1, 47)]);
    // Offsets past 32767 do not fit an instruction's offset.
    const T2 = new Types();
    const int = T2.int("int", 4, true);
    T2.struct("task_struct", 40000, [["pid", int, 8 * 39996]]);
    const far = resolve(L.btf, relo(L.task, "0:0", K.FIELD_BYTE_OFFSET), T2.btf());
    expect(far.target).toBe(39996);
    expect(error(() => patchInstruction(asm.ldx("w", 1, 2, 0), far, 0)).reason).toContain("does not fit the 16-bit offset field");
    expect(patchInstruction(asm.mov64Imm(1, 0), far, 0)).toEqual([asm.mov64Imm(1, 39996)]);
    // A poisoned resolution in strict mode.
    const gone = resolve(L.btf, relo(L.task, "0:6", K.FIELD_BYTE_OFFSET), R.btf);
    expect(error(() => patchInstruction(asm.ldx("dw", 1, 2, 40), gone, 0, { strict: true })).reason).toContain("has no member state");
  });

  it("applyCoreRelocations patches a section by byte offsets; a poisoned lddw keeps its two slots", () => {
    const insns: Instruction[] = [
      asm.mov64Imm(1, 0), // 0: pid offset
      asm.ldImm64(2, 40), // 1-2: state offset (gone)
      asm.ldx("w", 3, 1, 4), // 3: flags
      asm.ldImm64(4, L.task), // 4-5: type id
      asm.exit(), // 6
    ];
    const relos = [
      relo(L.task, "0:0", K.FIELD_BYTE_OFFSET, 0),
      relo(L.task, "0:6", K.FIELD_BYTE_OFFSET, 1),
      relo(L.task, "0:1", K.FIELD_BYTE_OFFSET, 3),
      relo(L.task, "0", K.TYPE_ID_TARGET, 4),
    ];
    const { instructions, resolutions } = applyCoreRelocations(insns, relos, L.btf, R.btf);
    expect(resolutions.map((r) => r.target)).toEqual([16, undefined, 8, R.task]);
    expect(instructions).toEqual([asm.mov64Imm(1, 16), poisonCall, poisonCall, asm.ldx("dw", 3, 1, 8), asm.ldImm64(4, R.task), asm.exit()]);
    expect(asm.encode(instructions).byteLength).toBe(asm.encode(insns).byteLength);
    expect(error(() => applyCoreRelocations(insns, [relo(L.task, "0:0", K.FIELD_BYTE_OFFSET, 2)], L.btf, R.btf)).reason).toBe(
      "byte offset 16 is not the start of an instruction of this section",
    );
  });
});

// ---- against clang ----------------------------------------------------------------------------

const VMLINUX = "/sys/kernel/btf/vmlinux";
const MULTIARCH = `/usr/include/${process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch}-linux-gnu`;
const objcopy = (() => {
  for (const name of ["llvm-objcopy-19", "llvm-objcopy"]) {
    try {
      execFileSync(name, ["--version"], { stdio: "ignore" });
      return name;
    } catch {
      // try the next
    }
  }
  return undefined;
})();
const clangMissing = !clang ? "clang-19 is not installed" : !objcopy ? "llvm-objcopy is not installed" : !existsSync("/usr/include/bpf/bpf_core_read.h") ? "libbpf-dev (bpf/bpf_core_read.h) is not installed" : undefined;

interface CompiledObject {
  readonly btf: Btf;
  readonly relos: ReadonlyMap<string, readonly CoreRelo[]>;
  readonly code: ReadonlyMap<string, Instruction[]>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** .BTF, .BTF.ext and the code of every section with CO-RE records, via llvm-objcopy (no ELF reader needed). */
function readObject(path: string): CompiledObject {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-core-"));
  dirs.push(dir);
  execFileSync(objcopy as string, [`--dump-section=.BTF=${dir}/btf`, `--dump-section=.BTF.ext=${dir}/btf.ext`, path, `${dir}/copy.o`]);
  const btf = new Btf(readFileSync(`${dir}/btf`));
  const relos = parseBtfExt(readFileSync(`${dir}/btf.ext`), btf).coreRelos;
  const code = new Map<string, Instruction[]>();
  let i = 0;
  for (const section of relos.keys()) {
    execFileSync(objcopy as string, [`--dump-section=${section}=${dir}/code${i}`, path, `${dir}/copy.o`]);
    code.set(section, asm.decode(readFileSync(`${dir}/code${i++}`), btf.byteOrder));
  }
  return { btf, relos, code };
}

function compile(source: string, target: "bpfel" | "bpfeb" = "bpfel"): CompiledObject {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-core-src-"));
  dirs.push(dir);
  writeFileSync(join(dir, "prog.bpf.c"), source);
  execFileSync(clang as string, ["-target", target, "-O2", "-g", "-mcpu=v3", "-Wall", "-Wno-unused-function", `-I${MULTIARCH}`, "-c", "prog.bpf.c", "-o", "prog.o"], { cwd: dir });
  return readObject(join(dir, "prog.o"));
}

const PRELUDE = `
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "GPL";
`;

const LOCAL_PROGRAM = `${PRELUDE}
struct inner {
	int x;
	unsigned char flags: 3;
	signed char sflags: 4;
	unsigned int wide: 20;
	long y;
} __attribute__((preserve_access_index));

struct outer {
	int a;
	struct inner in;
	union { int u1; long u2; };
	struct { short s1; short s2; } named;
	struct inner arr[4];
	char name[16];
	unsigned int tail[];
} __attribute__((preserve_access_index));

struct outer___v2 { long pad; int a; } __attribute__((preserve_access_index));
typedef struct outer outer_t;
enum color { RED = 1, GREEN = 2, BLUE = -5 };
enum big { HUGE = 0x123456789abcdefULL, SMALL = 3 };
typedef int (*callback_t)(struct inner *, long);

__u64 sink;

SEC("tracepoint/syscalls/sys_enter_getpid")
int core_all(void *ctx)
{
	struct outer *o = ctx;
	__u64 r = 0;
	r += BPF_CORE_READ(o, in.y);
	r += o->arr[2].x;
	r += o->u2;
	r += o->named.s2;
	r += o->name[5];
	r += o->tail[7];
	r += bpf_core_field_size(o->name);
	r += bpf_core_field_exists(o->tail);
	r += bpf_core_field_offset(o->arr[3].y);
	r += __builtin_preserve_field_info(o->in.flags, BPF_FIELD_BYTE_OFFSET);
	r += __builtin_preserve_field_info(o->in.wide, BPF_FIELD_LSHIFT_U64);
	r += __builtin_preserve_field_info(o->in.sflags, BPF_FIELD_SIGNED);
	r += BPF_CORE_READ_BITFIELD_PROBED(o, in.sflags);
	r += BPF_CORE_READ_BITFIELD_PROBED(o, in.wide);
	r += BPF_CORE_READ_BITFIELD(&o->in, flags);
	r += bpf_core_type_exists(struct inner);
	r += bpf_core_type_size(outer_t);
	r += bpf_core_type_size(callback_t);
	r += bpf_core_type_id_local(struct outer);
	r += bpf_core_type_id_kernel(struct inner);
	r += bpf_core_type_matches(struct inner);
	r += bpf_core_type_matches(callback_t);
	r += bpf_core_enum_value_exists(enum color, BLUE);
	r += bpf_core_enum_value(enum color, BLUE);
	r += bpf_core_enum_value(enum big, HUGE);
	if (bpf_core_field_exists(struct outer___v2, pad))
		r += BPF_CORE_READ((struct outer___v2 *)o, pad);
	o->in.x = (int)r;
	o->arr[1].y = 7;
	sink = r;
	return 0;
}
`;

const KERNEL_PROGRAM = `${PRELUDE}
struct pid { unsigned int level; } __attribute__((preserve_access_index));
struct sched_entity { __u64 vruntime; } __attribute__((preserve_access_index));
struct list_head { struct list_head *next, *prev; } __attribute__((preserve_access_index));
struct task_struct {
	int pid;
	int tgid;
	unsigned long long flags;
	struct pid *thread_pid;
	char comm[16];
	struct sched_entity se;
	struct list_head children;
	struct task_struct *real_parent;
	long not_in_any_kernel_field;
} __attribute__((preserve_access_index));
struct sock_common {
	unsigned int skc_daddr;
	unsigned int skc_rcv_saddr;
	unsigned short skc_family;
	unsigned short skc_num;
	unsigned char skc_reuse: 4;
	unsigned char skc_reuseport: 1;
	int skc_bound_dev_if;
} __attribute__((preserve_access_index));
struct sock { struct sock_common __sk_common; int sk_rcvbuf; } __attribute__((preserve_access_index));
struct task_struct___not_here { int nothing_like_this; } __attribute__((preserve_access_index));
struct tsebpf_no_such_struct { int x; } __attribute__((preserve_access_index));
enum tcp_ca_state { TCP_CA_Open = 0, TCP_CA_Loss = 4, TCP_CA_Imaginary = 99 };

__u64 sink[32];

SEC("tp_btf/sched_switch")
int kernel_fields(__u64 *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task_btf();
	struct sock *sk = (void *)ctx[0];
	sink[0] = t->pid;
	sink[1] = t->tgid;
	sink[2] = t->flags;
	sink[3] = BPF_CORE_READ(t, thread_pid, level);
	sink[4] = t->comm[3];
	sink[5] = t->se.vruntime;
	sink[6] = (__u64)t->children.prev;
	sink[7] = BPF_CORE_READ(t, real_parent, pid);
	sink[8] = bpf_core_field_exists(t->not_in_any_kernel_field);
	if (bpf_core_field_exists(t->not_in_any_kernel_field))
		sink[9] = t->not_in_any_kernel_field;
	sink[10] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	sink[11] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	sink[12] = BPF_CORE_READ(sk, __sk_common.skc_family);
	sink[13] = BPF_CORE_READ(sk, __sk_common.skc_num);
	sink[14] = BPF_CORE_READ_BITFIELD_PROBED(sk, __sk_common.skc_reuse);
	sink[15] = BPF_CORE_READ_BITFIELD_PROBED(sk, __sk_common.skc_reuseport);
	sink[16] = BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if);
	sink[17] = BPF_CORE_READ(sk, sk_rcvbuf);
	sink[18] = bpf_core_type_size(struct task_struct);
	sink[19] = bpf_core_type_size(struct sock_common);
	sink[20] = bpf_core_type_exists(struct task_struct___not_here);
	sink[21] = bpf_core_type_id_kernel(struct task_struct);
	sink[22] = bpf_core_enum_value(enum tcp_ca_state, TCP_CA_Loss);
	sink[23] = bpf_core_enum_value_exists(enum tcp_ca_state, TCP_CA_Imaginary);
	sink[24] = bpf_core_type_matches(struct pid);
	sink[25] = bpf_core_type_matches(struct list_head);
	sink[26] = bpf_core_field_size(t->comm);
	sink[27] = bpf_core_field_size(sk->__sk_common.skc_family);
	sink[28] = bpf_core_type_matches(struct task_struct___not_here);
	sink[29] = bpf_core_type_exists(struct tsebpf_no_such_struct);
	sink[30] = bpf_core_type_size(struct tsebpf_no_such_struct);
	return 0;
}
`;

/** Every record of an object resolved and applied against its own BTF: nothing changes. */
function checkIdentity(obj: CompiledObject): CoreResolution[] {
  const all: CoreResolution[] = [];
  for (const [section, relos] of obj.relos) {
    const insns = obj.code.get(section) as Instruction[];
    const { instructions, resolutions } = applyCoreRelocations(insns, relos, obj.btf, obj.btf, { strict: true });
    for (const r of resolutions) {
      expect(r.poison, r.description).toBe(false);
      expect(r.target, r.description).toBe(r.local);
    }
    // Validated relocations leave their instruction as it was; for bitfield offsets, sizes and
    // left shifts the compiler may have chosen another load unit, which is then rewritten consistently.
    const unvalidated = new Set(resolutions.filter((r) => !r.validate).map((r) => r.insnIndex));
    let slot = 0;
    insns.forEach((ins, i) => {
      if (!unvalidated.has(slot)) expect(instructions[i], `slot ${slot} of ${section}`).toEqual(ins);
      slot += asm.slotCount(ins);
    });
    all.push(...resolutions);
  }
  return all;
}

describeWith(clangMissing)(`CO-RE against clang-19 output${clangMissing ? ` (skipped: ${clangMissing})` : ""}`, () => {
  it("a program using every builtin on local types resolves against its own BTF to the local values (both byte orders)", () => {
    for (const order of ["bpfel", "bpfeb"] as const) {
      const obj = compile(LOCAL_PROGRAM, order);
      const resolutions = checkIdentity(obj);
      const kinds = new Set(resolutions.map((r) => r.kindName));
      expect([...kinds].sort()).toEqual([
        "ENUMVAL_EXISTS", "ENUMVAL_VALUE", "FIELD_BYTE_OFFSET", "FIELD_BYTE_SIZE", "FIELD_EXISTS", "FIELD_LSHIFT_U64",
        "FIELD_RSHIFT_U64", "FIELD_SIGNED", "TYPE_EXISTS", "TYPE_ID_LOCAL", "TYPE_ID_TARGET", "TYPE_MATCHES", "TYPE_SIZE",
      ]);
      const paths = resolutions.map((r) => r.path);
      expect(paths).toEqual(expect.arrayContaining([
        "struct outer::in.y", "struct outer::arr[2].x", "struct outer::u2", "struct outer::named.s2", "struct outer::name[5]",
        "struct outer::tail[7]", "struct outer::in.sflags", "struct outer___v2::pad", "enum big::HUGE", "callback_t",
      ]));
      const huge = resolutions.find((r) => r.path === "enum big::HUGE" && r.kindName === "ENUMVAL_VALUE");
      expect(huge?.local).toBe(0x123456789abcdefn);
      const blue = resolutions.find((r) => r.path === "enum color::BLUE" && r.kindName === "ENUMVAL_VALUE");
      expect(blue?.local).toBe(-5);
    }
  });

  it("the committed fixtures (test/fixtures/core.bpf{el,eb}.o) resolve against their own BTF", () => {
    for (const order of ["bpfel", "bpfeb"]) {
      const obj = readObject(`test/fixtures/core.${order}.o`);
      expect(obj.btf.byteOrder).toBe(order === "bpfel" ? "little" : "big");
      expect(checkIdentity(obj).length).toBeGreaterThan(20);
    }
  });

  itWith(vmlinuxMissing)("kernel struct names resolve against the running kernel's BTF to the offsets it declares", () => {
    const obj = compile(KERNEL_PROGRAM);
    const kernel = new Btf(readFileSync(VMLINUX));
    const cache = new CandidateCache();
    let checked = 0;
    for (const [section, relos] of obj.relos) {
      const insns = obj.code.get(section) as Instruction[];
      const { instructions, resolutions } = applyCoreRelocations(insns, relos, obj.btf, kernel, { cache });
      const bitfields = new Map<string, { field: KernelField; values: Map<string, number> }>();
      for (const r of resolutions) {
        if (process.env.CORE_DEBUG) console.log(r.description);
        const expected = expectFromKernel(obj.btf, kernel, r);
        if ("bitfield" in expected) {
          // Checked below, once all of the field's relocations are known.
          const entry = bitfields.get(r.path) ?? { field: expected.bitfield, values: new Map<string, number>() };
          entry.values.set(r.kindName, Number(r.target));
          bitfields.set(r.path, entry);
        } else {
          expect({ target: r.target, poison: r.poison }, r.description).toEqual(expected);
        }
        checked++;
      }
      // A bitfield: the load unit (offset, size) and shifts must isolate exactly the kernel's bits.
      expect(bitfields.size).toBeGreaterThan(0);
      for (const [path, { field, values }] of bitfields) {
        const memory = Uint8Array.from({ length: 4096 }, (_, i) => (i * 151 + 7) & 0xff);
        const offset = values.get("FIELD_BYTE_OFFSET") as number;
        const size = values.get("FIELD_BYTE_SIZE") as number;
        let loaded = 0n;
        for (let b = size - 1; b >= 0; b--) loaded = (loaded << 8n) | BigInt(memory[offset + b] as number);
        const got = BigInt.asUintN(64, loaded << BigInt(values.get("FIELD_LSHIFT_U64") as number)) >> BigInt(values.get("FIELD_RSHIFT_U64") as number);
        let want = 0n;
        for (let bit = field.bitOffset + field.bitSize - 1; bit >= field.bitOffset; bit--) {
          want = (want << 1n) | BigInt(((memory[Math.floor(bit / 8)] as number) >> (bit % 8)) & 1);
        }
        expect(got, path).toBe(want);
      }
      // Patched code keeps every slot in place.
      expect(asm.encode(instructions).byteLength).toBe(asm.encode(insns).byteLength);
      // The local `unsigned long long flags` load became a load of the kernel's unsigned int.
      const flags = resolutions.find((r) => r.path === "struct task_struct::flags");
      expect(flags).toMatchObject({ localSize: 8, targetSize: sizeOf(kernel, (findByName(kernel, kernel.find("task_struct", "struct") as number, "flags") as KernelField).type) });
    }
    expect(checked).toBeGreaterThan(25);
  });
});

interface KernelField {
  readonly type: number;
  readonly bitOffset: number;
  readonly bitSize: number;
}

type KernelExpectation = { target: number | bigint | undefined; poison: boolean } | { bitfield: KernelField };

/** What the kernel's BTF says, found by walking its types by name (not through the engine). */
function expectFromKernel(local: Btf, kernel: Btf, r: CoreResolution): KernelExpectation {
  const [rootText, access = ""] = r.path.split("::");
  const [kindWord, rootName] = (rootText as string).split(" ") as [string, string];
  const essential = rootName.replace(/___.*$/, "");
  const rootId = kernel.find(essential, kindWord === "enum" ? "enum" : (kindWord as "struct"));
  switch (r.kindName) {
    case "TYPE_EXISTS":
      return { target: rootId === undefined ? 0 : 1, poison: false };
    case "TYPE_MATCHES": {
      // These local types have only direct members: each must be a member of the kernel's type.
      const mine = local.type(local.find(rootName, kindWord as "struct") as number);
      const theirs = rootId === undefined ? undefined : kernel.type(rootId);
      const names = new Set(theirs?.kind === "struct" ? theirs.members.map((m) => m.name) : []);
      const all = mine?.kind === "struct" && mine.members.every((m) => names.has(m.name));
      return { target: all ? 1 : 0, poison: false };
    }
    case "TYPE_SIZE":
      // A type relocation of a type the kernel lacks is 0, never poisoned (as libbpf resolves it).
      return rootId === undefined ? { target: 0, poison: false } : { target: sizeOf(kernel, rootId), poison: false };
    case "TYPE_ID_TARGET":
      return { target: rootId ?? 0, poison: false };
    case "ENUMVAL_VALUE":
    case "ENUMVAL_EXISTS": {
      const t = rootId === undefined ? undefined : kernel.type(rootId);
      const v = t?.kind === "enum" ? t.values.find((e) => e.name === access) : undefined;
      if (r.kindName === "ENUMVAL_EXISTS") return { target: v ? 1 : 0, poison: false };
      return v ? { target: v.value, poison: false } : { target: undefined, poison: true };
    }
  }
  // A field: walk member names (through anonymous members) and array indices.
  let id = rootId;
  let bitOffset = 0;
  let bitSize = 0;
  for (const step of access.split(".").filter((s) => s !== "")) {
    const m = /^(\w+)(?:\[(\d+)\])?$/.exec(step) as RegExpExecArray;
    const found = id === undefined ? undefined : findByName(kernel, id, m[1] as string);
    if (!found) {
      id = undefined;
      break;
    }
    bitOffset += found.bitOffset;
    bitSize = found.bitSize;
    id = found.type;
    if (m[2] !== undefined) {
      const arr = kernel.type(skipModifiers(kernel, id));
      if (arr?.kind !== "array") throw new Error(`${step} is not an array in the kernel`);
      id = skipModifiers(kernel, arr.type);
      bitOffset += Number(m[2]) * sizeOf(kernel, id) * 8;
      bitSize = 0;
    }
  }
  if (id === undefined) return r.kindName === "FIELD_EXISTS" ? { target: 0, poison: false } : { target: undefined, poison: true };
  const t = kernel.type(skipModifiers(kernel, id));
  switch (r.kindName) {
    case "FIELD_EXISTS":
      return { target: 1, poison: false };
    case "FIELD_SIGNED":
      return { target: t?.kind === "int" && t.signed ? 1 : 0, poison: false };
  }
  if (bitSize > 0) return { bitfield: { type: id, bitOffset, bitSize } };
  switch (r.kindName) {
    case "FIELD_BYTE_OFFSET":
      return { target: bitOffset / 8, poison: false };
    case "FIELD_BYTE_SIZE":
      return { target: sizeOf(kernel, id), poison: false };
    case "FIELD_RSHIFT_U64":
      return { target: 64 - sizeOf(kernel, id) * 8, poison: false };
    case "FIELD_LSHIFT_U64":
      return { target: 64 - sizeOf(kernel, id) * 8, poison: false };
  }
  throw new Error(`unexpected relocation ${r.description}`);
}

function findByName(btf: Btf, holder: number, name: string): KernelField | undefined {
  const t = btf.type(skipModifiers(btf, holder));
  if (t?.kind !== "struct" && t?.kind !== "union") return undefined;
  for (const m of t.members) {
    if (m.name === name) return { type: m.type, bitOffset: m.bitOffset, bitSize: t.bitfields ? m.bitSize : 0 };
    if (m.name === "") {
      const inner = findByName(btf, m.type, name);
      if (inner) return { ...inner, bitOffset: inner.bitOffset + m.bitOffset };
    }
  }
  return undefined;
}
