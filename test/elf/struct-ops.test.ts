/** struct_ops objects: programs, `.struct_ops` / `.struct_ops.link` maps and their relocations, both byte orders. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MapType, ProgramType } from "../../src/abi/index.js";
import { BPF_F_LINK, ParseError, R_BPF, STT, isStructOpsMap, readCollectionSpec, readElf, type StructOpsMapSpec } from "../../src/elf/index.js";

const fixture = (order: "el" | "eb") => readFileSync(`test/fixtures/struct_ops.bpf${order}.o`);

/** The members each map fills with a program, by member name. */
const programsOf = (m: StructOpsMapSpec) => Object.fromEntries(m.structOps.members.filter((x) => x.program).map((x) => [x.name, x.program]));

describe.each(["el", "eb"] as const)("struct_ops (bpf%s)", (order) => {
  const spec = readCollectionSpec(fixture(order));
  const le = order === "el";

  it("finds the struct_ops programs, typed BPF_PROG_TYPE_STRUCT_OPS", () => {
    const names = [...spec.programs.values()].filter((p) => p.programType === ProgramType.STRUCT_OPS).map((p) => p.name).sort();
    expect(names).toEqual(["tsebpf_cong_avoid", "tsebpf_init", "tsebpf_ssthresh", "tsebpf_undo_cwnd"]);
    expect(spec.programs.get("tsebpf_init")?.sectionName).toBe("struct_ops/tsebpf_init");
  });

  it("makes one map per struct_ops variable: type, struct, link or not", () => {
    const cc = spec.maps.get("tsebpf_cc");
    const link = spec.maps.get("tsebpf_cc_link");
    expect(cc && isStructOpsMap(cc)).toBe(true);
    expect(link && isStructOpsMap(link)).toBe(true);
    const a = cc as StructOpsMapSpec;
    const b = link as StructOpsMapSpec;
    for (const m of [a, b]) {
      expect(m.type).toBe(MapType.STRUCT_OPS);
      expect([m.keySize, m.maxEntries]).toEqual([4, 1]);
      expect(m.structOps.typeName).toBe("tcp_congestion_ops");
      expect(spec.btf?.nameOf(m.structOps.typeId)).toBe("tcp_congestion_ops");
      expect(m.valueSize).toBe(spec.btf?.type(m.structOps.typeId)?.kind === "struct" ? (spec.btf.type(m.structOps.typeId) as { size: number }).size : -1);
    }
    expect([a.section, a.structOps.link, a.flags]).toEqual([".struct_ops", false, 0]);
    expect([b.section, b.structOps.link, b.flags]).toEqual([".struct_ops.link", true, BPF_F_LINK]);
    // Not global data: no variables of these sections.
    expect([...spec.variables.values()].map((v) => v.map)).toEqual([".bss"]);
  });

  it("names the program each function-pointer member points at (the section's relocations)", () => {
    const cc = spec.maps.get("tsebpf_cc") as StructOpsMapSpec;
    const link = spec.maps.get("tsebpf_cc_link") as StructOpsMapSpec;
    expect(programsOf(cc)).toEqual({ init: "tsebpf_init", ssthresh: "tsebpf_ssthresh", cong_avoid: "tsebpf_cong_avoid", undo_cwnd: "tsebpf_undo_cwnd" });
    expect(programsOf(link)).toEqual({ ssthresh: "tsebpf_ssthresh", cong_avoid: "tsebpf_cong_avoid", undo_cwnd: "tsebpf_undo_cwnd" });
    expect(cc.structOps.members.map((m) => [m.name, m.kind])).toEqual([
      ["ssthresh", "program"], ["cong_avoid", "program"], ["undo_cwnd", "program"], ["init", "program"], ["name", "data"], ["flags", "data"],
    ]);
    // The ELF's own relocations agree: one R_BPF_64_ABS64 per filled member, at its offset.
    const elf = readElf(fixture(order));
    const relos = elf.relocationsFor(elf.sectionByName(".struct_ops")!);
    expect(relos.map((r) => [r.type, r.offset, r.symbol.name]).sort()).toEqual(
      cc.structOps.members.filter((m) => m.program).map((m) => [R_BPF["64_ABS64"], m.offset, m.program]).sort(),
    );
  });

  it("keeps the data members' bytes in the object's byte order", () => {
    const cc = spec.maps.get("tsebpf_cc") as StructOpsMapSpec;
    const link = spec.maps.get("tsebpf_cc_link") as StructOpsMapSpec;
    const field = (m: StructOpsMapSpec, name: string) => {
      const member = m.structOps.members.find((x) => x.name === name)!;
      return Buffer.from(m.data!.subarray(member.offset, member.offset + member.size));
    };
    expect(field(cc, "name").toString("latin1").replace(/\0+$/, "")).toBe("tsebpf_cc");
    expect(field(link, "name").toString("latin1").replace(/\0+$/, "")).toBe("tsebpf_cc_link");
    expect(le ? field(cc, "flags").readUInt32LE() : field(cc, "flags").readUInt32BE()).toBe(1);
    expect(field(link, "flags").readUInt32LE()).toBe(0);
  });
});

describe("struct_ops malformed", () => {
  it("a relocation at a data member is a ParseError naming the map and member", () => {
    const bytes = Uint8Array.from(fixture("el"));
    const elf = readElf(bytes);
    const rel = elf.sections.find((s) => s.name === ".rel.struct_ops")!;
    const cc = readCollectionSpec(bytes).maps.get("tsebpf_cc") as StructOpsMapSpec;
    const flags = cc.structOps.members.find((m) => m.name === "flags")!;
    // Move the first relocation's r_offset onto `flags`.
    new DataView(bytes.buffer).setBigUint64(rel.offset, BigInt(cc.structOps.offset + flags.offset), true);
    expect(() => readCollectionSpec(bytes)).toThrow(ParseError);
    expect(() => readCollectionSpec(bytes)).toThrow(/struct_ops tsebpf_cc: member flags is not a function pointer/);
  });

  it("a relocation against the program's section symbol (the function found at its offset) names the same program", () => {
    const bytes = Uint8Array.from(fixture("el"));
    const elf = readElf(bytes);
    const rel = elf.sections.find((s) => s.name === ".rel.struct_ops")!;
    const entry = elf.relocations(rel).find((r) => r.symbol.name === "tsebpf_ssthresh")!;
    const section = elf.sectionByName("struct_ops/tsebpf_ssthresh")!;
    const sectionSymbol = elf.symbols.find((y) => y.type === STT.SECTION && y.sectionIndex === section.index)!;
    const view = new DataView(bytes.buffer);
    view.setUint32(rel.offset + entry.index * 16 + 12, sectionSymbol.index, true);
    const cc = readCollectionSpec(bytes).maps.get("tsebpf_cc") as StructOpsMapSpec;
    expect(programsOf(cc).ssthresh).toBe("tsebpf_ssthresh");
    // An implicit addend (the 8 bytes at the slot) that starts no function is a ParseError.
    const data = elf.sectionByName(".struct_ops")!;
    view.setBigUint64(data.offset + entry.offset, 8n, true);
    expect(() => readCollectionSpec(bytes)).toThrow(/member ssthresh points at offset 8 of struct_ops\/tsebpf_ssthresh, where no function starts/);
  });

  it("a relocation to a function that is not a struct_ops program is a ParseError", () => {
    const bytes = Uint8Array.from(fixture("el"));
    const elf = readElf(bytes);
    const rel = elf.sections.find((s) => s.name === ".rel.struct_ops")!;
    const entry = elf.relocations(rel).find((r) => r.symbol.name === "tsebpf_init")!;
    const license = elf.symbols.find((y) => y.name === "LICENSE")!;
    new DataView(bytes.buffer).setUint32(rel.offset + entry.index * 16 + 12, license.index, true);
    expect(() => readCollectionSpec(bytes)).toThrow(/struct_ops tsebpf_cc: member init points at LICENSE in section license, which is not a struct_ops program/);
  });
});
