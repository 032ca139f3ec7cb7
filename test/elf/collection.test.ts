import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { LD_IMM64, PseudoCall, PseudoLd, symbolOffsets, type Instruction } from "../../src/asm/index.js";
import { MapType, ProgramType } from "../../src/abi/index.js";
import { readCollectionSpec } from "../../src/elf/collection.js";
import { ParseError } from "../../src/elf/errors.js";
import { readElf } from "../../src/elf/reader.js";
import { getVariable, getVariableInteger, setVariable, VariableError } from "../../src/elf/variables.js";
import type { CollectionSpec, ProgramSpec } from "../../src/elf/spec.js";
import { llvmObjdump, llvmMissing } from "../helpers/llvm.js";
import { itWith } from "../helpers/oracle.js";

const fixture = (name: string, order: "el" | "eb" = "el") => `test/fixtures/${name}.bpf${order}.o`;
const spec = (name: string, order: "el" | "eb" = "el") => readCollectionSpec(readFileSync(fixture(name, order)));
const prog = (s: CollectionSpec, name: string) => s.programs.get(name) as ProgramSpec;

/** Slot of every instruction. */
const slots = (ins: readonly Instruction[]) => {
  const out: number[] = [];
  let slot = 0;
  for (const i of ins) {
    out.push(slot);
    slot += i.opcode === LD_IMM64 ? 2 : 1;
  }
  return out;
};

describe("CollectionSpec from clang objects", () => {
  it("reads BTF-defined maps with every attribute, inner maps and initial values", () => {
    const s = spec("maps");
    const m = (n: string) => s.maps.get(n);
    expect(m("hash_typed")).toMatchObject({ type: MapType.HASH, keySize: 4, valueSize: 16, maxEntries: 1024, flags: 1 });
    expect(m("array_sized")).toMatchObject({ type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 8 });
    expect(m("pinned_percpu")).toMatchObject({ type: MapType.PERCPU_HASH, keySize: 8, valueSize: 8, pinning: "by_name", numaNode: 0 });
    expect(m("lpm")).toMatchObject({ type: MapType.LPM_TRIE, keySize: 8, flags: 1 });
    expect(m("events")).toMatchObject({ type: MapType.RINGBUF, maxEntries: 4096, keySize: 0, valueSize: 0 });
    expect(m("bloom")).toMatchObject({ type: MapType.BLOOM_FILTER, mapExtra: 3n, valueSize: 4 });
    expect(m("jump_table")?.contents).toEqual([{ key: 0, value: "tail_a" }, { key: 2, value: "tail_b" }]);
    expect(m("outer")?.contents).toEqual([{ key: 0, value: "inner_b" }, { key: 1, value: "inner_a" }]);
    expect(m("outer")?.innerMap).toMatchObject({ type: MapType.ARRAY, maxEntries: 1, keySize: 4, valueSize: 4 });
    expect(m("outer_hash")?.innerMap).toMatchObject({ type: MapType.HASH, maxEntries: 8, keySize: 4, valueSize: 8 });
    expect(s.btf?.nameOf(m("hash_typed")?.valueType as number)).toBe("value");
  });

  it("reads every other map kind with its type name, sizes and flags (mapkinds.bpf.c)", () => {
    // [typeName, keySize, valueSize, maxEntries, flags, key BTF type, value BTF type]
    const expected: Record<string, [string, number, number, number, number, string | undefined, string | undefined]> = {
      lru_flows: ["LRU_HASH", 12, 8, 128, 2 /* NO_COMMON_LRU */, "flow", "__u64"],
      lru_percpu: ["LRU_PERCPU_HASH", 4, 8, 32, 0, "__u32", "counter"],
      percpu_counts: ["PERCPU_ARRAY", 4, 4, 4, 0, "__u32", "__u32"],
      fifo: ["QUEUE", 0, 8, 16, 0, undefined, "__u64"],
      lifo: ["STACK", 0, 4, 8, 0x100 /* WRONLY_PROG */, undefined, undefined],
      task_store: ["TASK_STORAGE", 4, 8, 0, 1 /* NO_PREALLOC */, "int", "__u64"],
      inode_store: ["INODE_STORAGE", 4, 4, 0, 1, "int", "__u32"],
      sk_store: ["SK_STORAGE", 4, 8, 0, 1 | 0x200 /* CLONE */, "int", "counter"],
      cgrp_store: ["CGRP_STORAGE", 4, 2, 0, 1, "int", "__u16"],
      cg_storage: ["CGROUP_STORAGE", 16, 8, 0, 0, "bpf_cgroup_storage_key", "counter"],
      cg_percpu_storage: ["PERCPU_CGROUP_STORAGE", 8, 4, 0, 0, "__u64", "__u32"],
      devices: ["DEVMAP", 4, 4, 8, 0, "__u32", "__u32"],
      devices_hash: ["DEVMAP_HASH", 4, 8, 16, 0, undefined, undefined],
      cpus: ["CPUMAP", 4, 8, 4, 0, "__u32", "bpf_cpumap_val"],
      xsks: ["XSKMAP", 4, 4, 4, 0, undefined, undefined],
      socks: ["SOCKMAP", 4, 4, 4, 0, "__u32", "__u32"],
      socks_hash: ["SOCKHASH", 12, 8, 64, 0, "flow", "__u64"],
      reuseport_socks: ["REUSEPORT_SOCKARRAY", 4, 8, 2, 0, "__u32", "__u64"],
      stack_traces: ["STACK_TRACE", 4, 1016, 64, 0, undefined, undefined],
      cgroups: ["CGROUP_ARRAY", 4, 4, 1, 0, "__u32", "__u32"],
      commands: ["USER_RINGBUF", 0, 0, 8192, 0, undefined, undefined],
      arena: ["ARENA", 0, 0, 2, 0x400 /* MMAPABLE */, undefined, undefined],
    };
    for (const order of ["el", "eb"] as const) {
      const s = spec("mapkinds", order);
      expect([...s.maps.keys()].filter((n) => !n.startsWith(".")).sort(), order).toEqual(Object.keys(expected).sort());
      for (const [name, [typeName, keySize, valueSize, maxEntries, flags, key, value]] of Object.entries(expected)) {
        const m = s.maps.get(name);
        expect(m, `${order}/${name}`).toMatchObject({ typeName, type: MapType[typeName as keyof typeof MapType], keySize, valueSize, maxEntries, flags, section: ".maps", pinning: "none", mapExtra: 0n });
        const btfName = (id: number | undefined) => (id === undefined ? undefined : s.btf?.nameOf(id));
        expect([btfName(m?.keyType), btfName(m?.valueType)], `${order}/${name}`).toEqual([key, value]);
      }
      const kinds = Object.fromEntries([...s.programs].map(([n, p]) => [n, [p.kind.programTypeName, p.kind.attachTypeName]]));
      expect(kinds, order).toEqual({
        xdp_redirect: ["XDP", "XDP"],
        on_switch: ["TRACEPOINT", undefined],
        msg_verdict: ["SK_MSG", "SK_MSG_VERDICT"],
        skb_verdict: ["SK_SKB", "SK_SKB_STREAM_VERDICT"],
        select_socket: ["SK_REUSEPORT", "SK_REUSEPORT_SELECT"],
        egress: ["CGROUP_SKB", "CGROUP_INET_EGRESS"],
      });
      expect(prog(s, "on_switch").subprograms, order).toEqual(["on_command"]); // bpf_user_ringbuf_drain's callback
      const refs = (p: string) => [...new Set(s.programs.get(p)?.instructions.filter((i) => i.opcode === LD_IMM64 && i.src === PseudoLd.MAP_FD).map((i) => i.reference))].sort();
      expect(refs("xdp_redirect"), order).toEqual(["cpus", "devices", "devices_hash", "fifo", "lru_flows", "percpu_counts", "xsks"]);
      expect(refs("on_switch"), order).toEqual(["cgroups", "commands", "lifo", "lru_percpu", "stack_traces", "task_store"]);
      expect(refs("egress"), order).toEqual(["cg_percpu_storage", "cg_storage", "sk_store"]);
    }
  });

  it("reads the legacy maps section", () => {
    const s = spec("legacy");
    expect(s.maps.get("legacy_hash")).toMatchObject({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 16, section: "maps" });
    expect(s.maps.get("legacy_array")).toMatchObject({ type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 });
    const refs = prog(s, "legacy").instructions.filter((i) => i.src === PseudoLd.MAP_FD && i.opcode === LD_IMM64).map((i) => i.reference);
    expect(refs).toEqual(["legacy_hash", "legacy_array"]);
  });

  it("turns global data into maps and variables, readable and settable before load", () => {
    for (const order of ["el", "eb"] as const) {
      const s = spec("globals", order);
      expect(s.maps.get(".rodata")).toMatchObject({ readOnly: true, flags: 0x80, maxEntries: 1, keySize: 4 });
      expect(s.maps.get(".bss")?.data).toEqual(new Uint8Array(24));
      expect([...s.maps.keys()].sort()).toEqual([".bss", ".data", ".data.custom", ".rodata", ".rodata.custom"]);
      expect(getVariableInteger(s, "counter")).toBe(42n);
      expect(getVariableInteger(s, "threshold")).toBe(7n);
      expect(getVariableInteger(s, "custom_data")).toBe(0xabcdn);
      expect(Buffer.from(getVariable(s, "banner")).toString("latin1")).toBe("tsebpf\0\0");
      expect(s.variables.get("file_local")).toMatchObject({ linkage: "static", map: ".data", offset: 8, size: 4 });
      expect(s.variables.get("cfg")).toMatchObject({ map: ".rodata", size: 16, readOnly: true });
      setVariable(s, "threshold", 99);
      expect(getVariableInteger(s, "threshold")).toBe(99n);
      expect(() => setVariable(s, "threshold", 1n << 40n)).toThrow(VariableError);
      expect(() => setVariable(s, "nope", 1)).toThrow(/no variable "nope" in this object \(there are: /);
      // Data sections' DATASEC sizes and offsets are filled in for the kernel.
      const ds = s.btf?.type(s.btf.find(".data", "datasec") as number);
      expect(ds).toMatchObject({ size: 12 });
    }
  });

  it("references maps and data by name from lddw", () => {
    const p = prog(spec("globals"), "globals");
    const data = p.instructions.filter((i) => i.opcode === LD_IMM64 && i.src === PseudoLd.MAP_VALUE);
    expect(data.map((i) => i.reference).sort()).toEqual([".bss", ".bss", ".data", ".data", ".data.custom", ".rodata", ".rodata", ".rodata", ".rodata.custom"].sort());
    // Each data reference's offset is the variable's offset (or inside it).
    for (const i of data) expect(i.imm2).toBeLessThan(24);
  });

  it("links only the subprograms each program reaches, with calls and callbacks resolved", () => {
    const s = spec("subprogs");
    expect(prog(s, "first").subprograms).toEqual(["add_index", "square"]);
    expect(prog(s, "second").subprograms).toEqual(["global_add", "square"]);
    expect(prog(s, "third").subprograms).toEqual(["square"]);
    for (const p of s.programs.values()) {
      const at = slots(p.instructions);
      const symbols = symbolOffsets(p.instructions);
      p.instructions.forEach((ins, k) => {
        const isCall = ins.opcode === 0x85 && ins.src === PseudoCall.CALL;
        const isCallback = ins.opcode === LD_IMM64 && ins.src === PseudoLd.FUNC;
        if (!isCall && !isCallback) return;
        expect(ins.imm + (at[k] as number) + 1).toBe(symbols.get(ins.reference as string));
      });
      // func_info: one record per placed function, at its first instruction.
      expect(p.funcInfo.map((f) => f.slot)).toEqual([0, ...p.subprograms.map((n) => symbols.get(n))]);
      expect(p.btfFunc).toBe(p.funcInfo[0]?.typeId);
    }
    expect(prog(s, "third").programType).toBe(ProgramType.SOCKET_FILTER);
  });

  it("records CO-RE relocations at the instructions they patch", () => {
    const s = spec("core");
    const p = prog(s, "core_reads");
    expect(p.coreRelos.length).toBeGreaterThanOrEqual(13);
    const at = new Set(slots(p.instructions));
    for (const r of p.coreRelos) expect(at.has(r.slot)).toBe(true);
    const kinds = new Set([...s.programs.values()].flatMap((x) => x.coreRelos.map((r) => r.relo.kind)));
    expect(kinds.size).toBeGreaterThanOrEqual(10);
  });

  it("records kconfig, ksym and kfunc externs for the loader", () => {
    const s = spec("externs");
    const e = (n: string) => s.externs.get(n);
    expect(e("LINUX_KERNEL_VERSION")).toMatchObject({ kind: "kconfig", offset: 0, size: 4, weak: false });
    expect(e("CONFIG_DEFAULT_HOSTNAME")).toMatchObject({ kind: "kconfig", size: 64 });
    expect(e("CONFIG_TSEBPF_DOES_NOT_EXIST")).toMatchObject({ kind: "kconfig", weak: true });
    expect(e("_stext")).toMatchObject({ kind: "ksym", typeless: true });
    expect(e("bpf_prog_active")).toMatchObject({ kind: "ksym", typeless: false, weak: true });
    expect(e("bpf_fixture_missing")).toMatchObject({ kind: "ksym", typeless: false, weak: true });
    expect(e("bpf_task_acquire")).toMatchObject({ kind: "kfunc" });
    expect(s.maps.get(".kconfig")).toMatchObject({ readOnly: true, valueSize: 80 });
    const ins = prog(s, "externs").instructions;
    const kfuncs = ins.filter((i) => i.opcode === 0x85 && i.src === PseudoCall.KFUNC).map((i) => i.reference);
    expect(kfuncs).toEqual(["bpf_rcu_read_lock", "bpf_task_acquire", "bpf_task_release", "bpf_rcu_read_unlock"]);
    const ksyms = ins.filter((i) => i.opcode === LD_IMM64 && ["_stext", "bpf_prog_active", "bpf_fixture_missing"].includes(i.reference ?? ""));
    expect(ksyms.map((i) => [i.reference, i.src])).toEqual([["_stext", PseudoLd.NONE], ["bpf_prog_active", PseudoLd.BTF_ID], ["bpf_fixture_missing", PseudoLd.BTF_ID]]);
    const kconfig = ins.filter((i) => i.reference === ".kconfig").map((i) => i.imm2);
    expect(kconfig).toContain(e("CONFIG_HZ")?.offset);
  });

  it("finds one program per function, with types from section names", () => {
    const s = spec("sections");
    expect(s.programs.size).toBe(46);
    expect(prog(s, "s_optional")).toMatchObject({ autoload: false, programType: ProgramType.SCHED_CLS });
    expect(prog(s, "s_tracepoint")).toMatchObject({ programType: ProgramType.TRACEPOINT, attachTarget: "sock/inet_sock_set_state" });
    expect(prog(s, "s_lsm")).toMatchObject({ programType: ProgramType.LSM, attachTarget: "path_chroot" });
    expect(s.license).toBe("GPL");
  });

  it("gives the same spec for both byte orders", () => {
    for (const name of ["maps", "mapkinds", "globals", "subprogs", "legacy", "core", "externs", "sections"]) {
      const el = spec(name, "el");
      const eb = spec(name, "eb");
      expect(eb.byteOrder).toBe("big");
      expect([...eb.programs.keys()]).toEqual([...el.programs.keys()]);
      for (const [n, p] of el.programs) {
        const q = eb.programs.get(n) as ProgramSpec;
        // Bitfield reads compile to different code for each byte order; all else is the same.
        if (name !== "core") expect(q.instructions, `${name}/${n}`).toEqual(p.instructions);
        expect(q.subprograms).toEqual(p.subprograms);
        if (name !== "core") expect(q.coreRelos.map((r) => [r.slot, r.relo.kind, r.relo.accessStr])).toEqual(p.coreRelos.map((r) => [r.slot, r.relo.kind, r.relo.accessStr]));
      }
      for (const [n, m] of el.maps) {
        const { data: _a, keyType: _b, valueType: _c, innerMap: _d, ...rest } = m;
        expect(eb.maps.get(n), `${name}/${n}`).toMatchObject(rest);
      }
      expect([...eb.variables.values()]).toEqual([...el.variables.values()]);
    }
  });

  itWith(llvmMissing)("puts every map and data reference where llvm-objdump shows the relocation", () => {
    let checked = 0;
    for (const name of ["maps", "globals", "legacy", "subprogs", "externs"]) {
      const s = spec(name);
      const out = spawnSync(llvmObjdump as string, ["-dr", "--no-show-raw-insn", fixture(name)], { encoding: "utf8" }).stdout;
      let fn = "";
      let base = 0;
      for (const line of out.split("\n")) {
        const header = /^([0-9a-f]{16}) <(\w+)>:$/.exec(line);
        if (header) {
          fn = header[2] as string;
          base = parseInt(header[1] as string, 16) / 8;
          continue;
        }
        const reloc = /^\t\t([0-9a-f]+):\s+R_BPF_64_64\t(\S+)$/.exec(line);
        const p = s.programs.get(fn);
        if (!reloc || !p) continue;
        const slot = parseInt(reloc[1] as string, 16) / 8 - base;
        const k = slots(p.instructions).indexOf(slot);
        const ins = p.instructions[k] as Instruction;
        const sym = reloc[2] as string;
        const variable = s.variables.get(sym);
        if (s.maps.has(sym) && !sym.startsWith(".")) {
          expect(ins).toMatchObject({ src: PseudoLd.MAP_FD, reference: sym });
        } else if (variable) {
          expect(ins).toMatchObject({ src: PseudoLd.MAP_VALUE, reference: variable.map });
          expect(ins.imm2).toBeGreaterThanOrEqual(variable.offset);
        } else if (s.maps.has(sym)) {
          expect(ins).toMatchObject({ src: PseudoLd.MAP_VALUE, reference: sym });
        } else if (s.externs.has(sym)) {
          expect(ins.reference).toBe(s.externs.get(sym)?.kind === "kconfig" ? ".kconfig" : sym);
        } else {
          expect(ins).toMatchObject({ src: PseudoLd.FUNC });
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});

describe("BTF errors through the ELF reader name the byte offset", () => {
  /** The fixture with one little-endian u32 of section `name` (at `at` within it) replaced. */
  const patched = (name: string, at: (data: DataView) => number, value: number) => {
    const bytes = new Uint8Array(readFileSync(fixture("subprogs")));
    const s = readElf(bytes).sectionByName(name)!;
    const view = new DataView(bytes.buffer, bytes.byteOffset + s.offset, s.size);
    const pos = at(view);
    view.setUint32(pos, value, true);
    return { bytes, fileOffset: s.offset + pos, sectionOffset: pos };
  };
  const parseError = (bytes: Uint8Array): ParseError => {
    try {
      readCollectionSpec(bytes);
    } catch (e) {
      if (e instanceof ParseError) return e;
      throw e;
    }
    throw new Error("no ParseError");
  };

  it(".BTF.ext: a line_info file name offset past the strings", () => {
    // btf_ext_header: magic, version, flags, hdr_len; func_info off/len; line_info off/len. The
    // line info area: record size, then per section: name offset, count, records
    // (insn_off, file_name_off, line_off, line_col).
    const firstFileName = (v: DataView) => v.getUint32(4, true) + v.getUint32(16, true) + 4 + 8 + 4;
    const { bytes, fileOffset, sectionOffset } = patched(".BTF.ext", firstFileName, 0x7fffff00);
    const e = parseError(bytes);
    expect(e).toMatchObject({ section: ".BTF.ext", offset: fileOffset, sectionOffset });
    expect(e.message).toMatch(
      new RegExp(`^ELF section "\\.BTF\\.ext" at offset 0x${fileOffset.toString(16)} \\(0x${sectionOffset.toString(16)} into the section\\): string offset 2147483392 is past the string section \\(\\d+\\)$`),
    );
  });

  it(".BTF: a member's name offset past the strings, read lazily", () => {
    // The first struct's first member: its name offset is the member record's first word.
    const bytes0 = new Uint8Array(readFileSync(fixture("subprogs")));
    const s0 = readCollectionSpec(bytes0).btf!;
    const struct = [...s0.ids()].find((id) => {
      const t = s0.type(id);
      return t?.kind === "struct" && t.members.length > 0;
    })!;
    const member = s0.recordPosition(struct) + 12;
    const { bytes, fileOffset } = patched(".BTF", () => member, 0x7fffff00);
    const e = parseError(bytes);
    expect(e).toMatchObject({ section: ".BTF", offset: fileOffset, sectionOffset: member });
    expect(e.message).toContain(`at offset 0x${fileOffset.toString(16)} (0x${member.toString(16)} into the section): string offset 2147483392 is past the string section`);
  });
});
