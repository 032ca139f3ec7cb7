/**
 * CO-RE type relocations (TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES, TYPE_ID_LOCAL, TYPE_ID_TARGET)
 * on typedefs of function prototypes, of pointers to them and of arrays: hand-built local and
 * target BTF, then the committed fixture core_typedefs.bpf{el,eb}.o against a fixed target
 * that holds the kernel's shapes of initcall_t, __signalfn_t, sse128_t and retpoline_thunk_t.
 * The expected values are libbpf's (test/kernel/core-libbpf.test.ts compares with libbpf itself
 * against the running kernel).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Btf, CoreReloKind, marshalBtf, type BtfType, type CoreRelo } from "../../src/btf/index.js";
import { CandidateCache, resolveCoreRelocation } from "../../src/btf/core/index.js";
import { readCollectionSpec, relocateProgram } from "../../src/elf/index.js";

class Types {
  readonly list: BtfType[] = [];
  add(t: BtfType): number {
    this.list.push(t);
    return this.list.length;
  }
  int(name: string, size: number, signed = false): number {
    return this.add({ kind: "int", name, size, signed, char: false, bool: false, bitOffset: 0, bits: size * 8 });
  }
  proto(returnType: number, params: readonly number[]): number {
    return this.add({ kind: "func_proto", name: "", returnType, params: params.map((type) => ({ name: "", type })) });
  }
  ptr(type: number): number {
    return this.add({ kind: "ptr", name: "", type });
  }
  array(type: number, nelems: number, indexType: number): number {
    return this.add({ kind: "array", name: "", type, indexType, nelems });
  }
  typedef(name: string, type: number): number {
    return this.add({ kind: "typedef", name, type });
  }
  float(name: string, size: number): number {
    return this.add({ kind: "float", name, size });
  }
  struct(name: string, size: number): number {
    return this.add({ kind: "struct", name, size, bitfields: false, members: [] });
  }
  btf(): Btf {
    return new Btf(marshalBtf(this.list, { order: "little" }));
  }
}

const K = CoreReloKind;
const relo = (typeId: number, kind: CoreReloKind): CoreRelo => ({ insnOff: 0, typeId, accessStr: "0", kind });
const resolve = (local: Btf, id: number, kind: CoreReloKind, target: Btf) => resolveCoreRelocation(local, relo(id, kind), target, { cache: new CandidateCache() });

/** The kernel's shapes: initcall_t, __signalfn_t, sse128_t, retpoline_thunk_t (after an unrelated type). */
function kernelLike() {
  const T = new Types();
  T.struct("unrelated", 8);
  const int = T.int("int", 4, true);
  const uint = T.int("unsigned int", 4);
  const u8 = T.typedef("u8", T.int("unsigned char", 1));
  const initcall = T.typedef("initcall_t", T.ptr(T.proto(int, [])));
  const signalfn = T.typedef("__signalfn_t", T.proto(0, [int]));
  const sse = T.typedef("sse128_t", T.array(uint, 4, int));
  const thunk = T.typedef("retpoline_thunk_t", T.array(u8, 32, int));
  const real = T.typedef("real_t", T.float("double", 8));
  return { initcall, signalfn, sse, thunk, real, btf: T.btf() };
}

describe("CO-RE type relocations on typedefs of function prototypes and arrays", () => {
  const target = kernelLike();

  it("resolve against a target that has them: exists, size, matches, target id", () => {
    const T = new Types();
    const int = T.int("int", 4, true);
    const uint = T.int("unsigned int", 4);
    const initcall = T.typedef("initcall_t", T.ptr(T.proto(int, [])));
    const signalfn = T.typedef("__signalfn_t", T.proto(0, [int]));
    const sse = T.typedef("sse128_t", T.array(uint, 4, int));
    const local = T.btf();
    expect(resolve(local, initcall, K.TYPE_EXISTS, target.btf)).toMatchObject({ local: 1, target: 1, poison: false });
    expect(resolve(local, initcall, K.TYPE_SIZE, target.btf)).toMatchObject({ local: 8, target: 8, poison: false });
    expect(resolve(local, initcall, K.TYPE_MATCHES, target.btf)).toMatchObject({ target: 1 });
    expect(resolve(local, initcall, K.TYPE_ID_TARGET, target.btf)).toMatchObject({ local: initcall, target: target.initcall });
    expect(resolve(local, signalfn, K.TYPE_EXISTS, target.btf)).toMatchObject({ target: 1 });
    expect(resolve(local, signalfn, K.TYPE_MATCHES, target.btf)).toMatchObject({ target: 1 });
    expect(resolve(local, signalfn, K.TYPE_ID_TARGET, target.btf)).toMatchObject({ target: target.signalfn, poison: false });
    expect(resolve(local, sse, K.TYPE_SIZE, target.btf)).toMatchObject({ local: 16, target: 16 });
    expect(resolve(local, sse, K.TYPE_MATCHES, target.btf)).toMatchObject({ target: 1 });
    expect(resolve(local, sse, K.TYPE_ID_TARGET, target.btf)).toMatchObject({ target: target.sse });
    // TYPE_ID_LOCAL never looks at the target.
    expect(resolve(local, signalfn, K.TYPE_ID_LOCAL, target.btf)).toMatchObject({ local: signalfn, target: signalfn, poison: false });
  });

  it("another shape: an array length is compatible but no match, another element kind or parameter count is neither", () => {
    const T = new Types();
    const int = T.int("int", 4, true);
    const uint = T.int("unsigned int", 4);
    const wide = T.typedef("sse128_t___wide", T.array(uint, 8, int));
    const ptrs = T.typedef("sse128_t___ptrs", T.array(T.ptr(int), 4, int));
    const twoArgs = T.typedef("initcall_t___two", T.ptr(T.proto(int, [int, int])));
    const voidRet = T.typedef("initcall_t___void", T.ptr(T.proto(0, [])));
    const notPtr = T.typedef("initcall_t___proto", T.proto(int, []));
    const local = T.btf();
    expect(resolve(local, wide, K.TYPE_EXISTS, target.btf)).toMatchObject({ target: 1 });
    expect(resolve(local, wide, K.TYPE_SIZE, target.btf)).toMatchObject({ local: 32, target: 16 });
    expect(resolve(local, wide, K.TYPE_MATCHES, target.btf)).toMatchObject({ target: 0 });
    expect(resolve(local, ptrs, K.TYPE_EXISTS, target.btf)).toMatchObject({ target: 0 });
    expect(resolve(local, ptrs, K.TYPE_ID_TARGET, target.btf)).toMatchObject({ target: 0, poison: false });
    expect(resolve(local, twoArgs, K.TYPE_EXISTS, target.btf)).toMatchObject({ target: 0 });
    expect(resolve(local, voidRet, K.TYPE_EXISTS, target.btf)).toMatchObject({ target: 0 });
    expect(resolve(local, notPtr, K.TYPE_EXISTS, target.btf)).toMatchObject({ target: 0 });
  });

  it("local-only typedefs: exists, matches, target id and size 0 (never poisoned, as libbpf), local id kept", () => {
    const T = new Types();
    const int = T.int("int", 4, true);
    const fn = T.typedef("fn_t", T.ptr(T.proto(int, [int])));
    const proto = T.typedef("fn_proto_t", T.proto(0, [int]));
    const arr = T.typedef("arr_t", T.array(int, 4, int));
    const local = T.btf();
    for (const id of [fn, proto, arr]) {
      expect(resolve(local, id, K.TYPE_EXISTS, target.btf)).toMatchObject({ local: 1, target: 0, poison: false });
      expect(resolve(local, id, K.TYPE_MATCHES, target.btf)).toMatchObject({ target: 0, poison: false });
      expect(resolve(local, id, K.TYPE_ID_LOCAL, target.btf)).toMatchObject({ local: id, target: id, poison: false });
      expect(resolve(local, id, K.TYPE_ID_TARGET, target.btf)).toMatchObject({ target: 0, poison: false });
    }
    expect(resolve(local, arr, K.TYPE_SIZE, target.btf)).toMatchObject({ local: 16, target: 0, poison: false });
    expect(resolve(local, fn, K.TYPE_SIZE, target.btf)).toMatchObject({ local: 8, target: 0, poison: false });
  });

  it("a typedef of a float is compatible with nothing and matches nothing (libbpf's rule)", () => {
    const T = new Types();
    const real = T.typedef("real_t", T.float("double", 8));
    const local = T.btf();
    expect(resolve(local, real, K.TYPE_EXISTS, target.btf)).toMatchObject({ target: 0 });
    expect(resolve(local, real, K.TYPE_MATCHES, target.btf)).toMatchObject({ target: 0 });
  });

  it("the fixture core_typedefs.bpf{el,eb}.o resolves against the kernel-like target as libbpf does (both byte orders)", () => {
    for (const order of ["el", "eb"]) {
      const spec = readCollectionSpec(readFileSync(`test/fixtures/core_typedefs.bpf${order}.o`));
      const program = spec.programs.get("core_typedefs");
      expect(program, order).toBeDefined();
      const { resolutions } = relocateProgram(spec, program as never, target.btf);
      const local = spec.btf as Btf;
      const id = (name: string) => local.find(name, "typedef") as number;
      const got = resolutions.map((r) => `${r.kindName} ${r.path} = ${r.poison ? "poison" : String(r.target)}`);
      expect(got, order).toEqual([
        "TYPE_EXISTS initcall_t = 1",
        "TYPE_SIZE initcall_t = 8",
        "TYPE_MATCHES initcall_t = 1",
        `TYPE_ID_LOCAL initcall_t = ${id("initcall_t")}`,
        `TYPE_ID_TARGET initcall_t = ${target.initcall}`,
        "TYPE_EXISTS __signalfn_t = 1",
        "TYPE_MATCHES __signalfn_t = 1",
        `TYPE_ID_TARGET __signalfn_t = ${target.signalfn}`,
        "TYPE_EXISTS sse128_t = 1",
        "TYPE_SIZE sse128_t = 16",
        "TYPE_MATCHES sse128_t = 1",
        `TYPE_ID_TARGET sse128_t = ${target.sse}`,
        "TYPE_SIZE retpoline_thunk_t = 32",
        "TYPE_EXISTS sse128_t___wide = 1",
        "TYPE_MATCHES sse128_t___wide = 0",
        "TYPE_EXISTS sse128_t___ptrs = 0",
        "TYPE_EXISTS fn_t = 0",
        `TYPE_ID_LOCAL fn_t = ${id("fn_t")}`,
        "TYPE_EXISTS fn_proto_t = 0",
        `TYPE_ID_LOCAL fn_proto_t = ${id("fn_proto_t")}`,
        "TYPE_EXISTS arr_t = 0",
        `TYPE_ID_LOCAL arr_t = ${id("arr_t")}`,
        "TYPE_MATCHES arr_t = 0",
        `TYPE_ID_LOCAL sse128_t = ${id("sse128_t")}`,
      ]);
      // Nothing poisoned: every instruction keeps a value.
      expect(resolutions.every((r) => !r.poison)).toBe(true);
    }
  });
});
