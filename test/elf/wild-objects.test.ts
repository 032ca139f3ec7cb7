// Objects from the wild (issue 15): `__ulong()` map attributes, kfuncs and ksyms used as values,
// undefined symbols kept as unresolved references. Both byte orders give the same spec.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import fc from "fast-check";
import { LD_IMM64, PseudoLd, constant64 } from "../../src/asm/index.js";
import { readCollectionSpec } from "../../src/elf/collection.js";
import { ResolveSymbolError, UnresolvedSymbolError, refuseUnresolved, resolveSymbol, rewriteConstants, unresolvedSymbols, withConstants } from "../../src/elf/unresolved.js";
import { NotFoundError } from "../../src/errors.js";
import { assertProperty } from "../helpers/property.js";

const spec = (name: string, order: "el" | "eb") => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpf${order}.o`));

describe.each(["el", "eb"] as const)("objects from the wild (bpf%s)", (order) => {
  it("reads __ulong() map attributes like __uint(): enum64 above 32 bits, enum below", () => {
    const s = spec("ulong", order);
    expect(s.maps.get("arena")).toMatchObject({ type: MapType.ARENA, mapExtra: 0x100000000n, maxEntries: 2, flags: 1 << 10 });
    expect(s.maps.get("bloom")).toMatchObject({ type: MapType.BLOOM_FILTER, mapExtra: 3n, maxEntries: 64, valueSize: 4 });
  });

  it("records libbpf's built-in kconfig externs and gives hidden global functions (usdt.bpf.h) static linkage in the BTF", () => {
    const k = spec("kconfig_builtins", order);
    for (const name of ["LINUX_KERNEL_VERSION", "LINUX_HAS_BPF_COOKIE", "LINUX_HAS_SYSCALL_WRAPPER"]) expect(k.externs.get(name)).toMatchObject({ kind: "kconfig", weak: false });
    expect(k.externs.get("LINUX_HAS_BPF_COOKIE")?.size).toBe(1);
    const u = spec("usdt", order);
    expect(u.externs.get("LINUX_HAS_BPF_COOKIE")).toMatchObject({ kind: "kconfig" });
    const linkage = (name: string) => {
      const id = u.btf?.find(name, "func");
      const t = id === undefined ? undefined : u.btf?.type(id);
      return t?.kind === "func" ? t.linkage : undefined;
    };
    expect(linkage("bpf_usdt_arg")).toBe("static"); // __weak __hidden: global to the linker only
    expect(linkage("usdt_probe")).toBe("global");
  });

  it("keeps kfuncs used as values (bpf_ksym_exists) as 64-bit loads of their BTF id, for the loader", () => {
    const s = spec("ksym_values", order);
    expect(s.externs.get("bpf_task_from_pid")).toMatchObject({ kind: "kfunc", weak: true });
    expect(s.externs.get("bpf_tsebpf_no_such_kfunc")).toMatchObject({ kind: "kfunc", weak: true });
    const loads = (s.programs.get("ksym_values")?.instructions ?? []).filter((i) => i.opcode === LD_IMM64 && i.reference !== undefined);
    expect(loads.map((i) => [i.reference, i.src])).toEqual([
      ["bpf_task_from_pid", PseudoLd.BTF_ID],
      ["bpf_tsebpf_no_such_kfunc", PseudoLd.BTF_ID],
      ["_stext", PseudoLd.NONE],
      ["bpf_prog_active", PseudoLd.BTF_ID],
    ]);
  });

  it("keeps undefined symbols (inline asm constants, declared-only variables and functions) as unresolved references", () => {
    const s = spec("unresolved", order);
    const refs = (name: string) => s.programs.get(name)?.unresolved;
    expect(refs("uses_const")).toEqual([{ symbol: "MY_CONST", instruction: 0, kind: "load" }]);
    expect(refs("uses_two")?.map((r) => [r.symbol, r.kind])).toEqual([["MY_CONST", "load"], ["OTHER_CONST", "load"]]);
    expect(refs("uses_forward")).toEqual([{ symbol: "forward_declared", instruction: 0, kind: "load" }]);
    expect(refs("calls_undefined")?.map((r) => [r.symbol, r.kind])).toEqual([["not_defined", "call"]]);
    expect(refs("plain")).toEqual([]);
    expect(unresolvedSymbols(s)).toEqual(["MY_CONST", "OTHER_CONST", "forward_declared", "not_defined"]);
    expect(unresolvedSymbols(s, ["plain", "uses_const"])).toEqual(["MY_CONST"]);
    expect(() => refuseUnresolved(s, ["plain", "uses_two"])).toThrow(UnresolvedSymbolError);
    expect(() => refuseUnresolved(s, ["uses_two"])).toThrow(/program "uses_two": unresolved symbols MY_CONST, OTHER_CONST \(instruction \d+, a 64-bit load\): resolve it to a constant before load/);
    expect(() => refuseUnresolved(s, ["calls_undefined"])).toThrow(/unresolved symbol not_defined .*a call.*does not define/);
    refuseUnresolved(s, ["plain"]);
  });

  it("resolveSymbol turns every load of the symbol into the constant (plus the addend), in every program", () => {
    const s = spec("unresolved", order);
    expect(resolveSymbol(s, "MY_CONST", 0x1122334455667788n)).toBe(2);
    for (const name of ["uses_const", "uses_two"]) {
      const p = s.programs.get(name);
      const ins = p?.instructions[0];
      expect(ins).toMatchObject({ opcode: LD_IMM64, src: PseudoLd.NONE });
      expect(ins?.reference).toBeUndefined();
      expect(constant64(ins as never)).toBe(0x1122334455667788n);
      expect(p?.unresolved.some((r) => r.symbol === "MY_CONST")).toBe(false);
    }
    expect(s.programs.get("uses_const")?.unresolved).toEqual([]);
    expect(unresolvedSymbols(s)).toEqual(["OTHER_CONST", "forward_declared", "not_defined"]);
  });

  it("refuses what a constant cannot resolve, changing nothing", () => {
    const s = spec("unresolved", order);
    const before = s.programs.get("uses_two")?.instructions;
    expect(() => resolveSymbol(s, "NO_SUCH", 1)).toThrow(NotFoundError);
    expect(() => resolveSymbol(s, "NO_SUCH", 1)).toThrow(/no unresolved symbol "NO_SUCH" in this object \(there are: MY_CONST, OTHER_CONST, forward_declared, not_defined\)/);
    expect(() => resolveSymbol(s, "not_defined", 1)).toThrow(ResolveSymbolError);
    expect(() => resolveSymbol(s, "MY_CONST", 1n << 64n)).toThrow(/does not fit 64 bits/);
    expect(() => resolveSymbol(s, "MY_CONST", 1.5)).toThrow(/not an integer/);
    expect(() => rewriteConstants(s, { MY_CONST: 1, NOPE: 2 })).toThrow(NotFoundError);
    expect(s.programs.get("uses_two")?.instructions).toBe(before);
    expect(unresolvedSymbols(s)).toContain("MY_CONST");
    const copy = withConstants(s, { MY_CONST: 5, OTHER_CONST: -1 });
    expect(copy.programs.get("uses_two")?.unresolved).toEqual([]);
    expect(s.programs.get("uses_two")?.unresolved.length).toBe(2); // the spec given is unchanged
  });

  it("property: any 64-bit value (signed or unsigned) resolves to the same bits", () => {
    const base = spec("unresolved", order);
    assertProperty(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }), (v) => {
        const s = withConstants(base, { MY_CONST: v });
        expect(constant64(s.programs.get("uses_const")?.instructions[0] as never)).toBe(BigInt.asUintN(64, v));
        expect(base.programs.get("uses_const")?.unresolved.length).toBe(1);
      }),
      { numRuns: 300 },
    );
  });
});

