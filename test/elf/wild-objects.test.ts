// Objects from the wild (issue 15): `__ulong()` map attributes, kfuncs and ksyms used as values,
// undefined symbols kept as unresolved references. Both byte orders give the same spec.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import { LD_IMM64, PseudoLd } from "../../src/asm/index.js";
import { readCollectionSpec } from "../../src/elf/collection.js";

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
});
