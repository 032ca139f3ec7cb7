import type { Command } from "commander";
import { abi, asm, btf as btfNs, elf, readCollectionSpec, type CollectionSpec, type ProgramSpec } from "../../index.js";
import { readInput, table, type Output } from "../io.js";

/** Counts of the references in every program, by kind. */
function relocationCounts(spec: CollectionSpec) {
  const counts = { maps: 0, data: 0, calls: 0, callbacks: 0, kfuncs: 0, ksyms: 0, kconfig: 0, core: 0, unresolved: 0 };
  for (const p of spec.programs.values()) {
    counts.core += p.coreRelos.length;
    counts.unresolved += p.unresolved.length;
    const unresolved = new Set(p.unresolved.map((r) => r.instruction));
    for (const [n, i] of p.instructions.entries()) {
      if (i.reference === undefined || asm.isJump(i) || unresolved.has(n)) continue;
      if (i.opcode === asm.LD_IMM64) {
        if (i.reference === ".kconfig") counts.kconfig++;
        else if (i.src === asm.PseudoLd.MAP_FD) counts.maps++;
        else if (i.src === asm.PseudoLd.MAP_VALUE) counts.data++;
        else if (i.src === asm.PseudoLd.FUNC) counts.callbacks++;
        else counts.ksyms++;
      } else if (i.src === asm.PseudoCall.KFUNC) counts.kfuncs++;
      else counts.calls++;
    }
  }
  return counts;
}

/** A program's type as shown: `xdp`, `unspecified` (no rule knows its section). */
function typeName(p: ProgramSpec): string {
  return p.programType === abi.ProgramType.UNSPEC ? "unspecified" : abi.programTypeName(p.programType).toLowerCase();
}

/** The inspection as plain data: what --json prints. */
export function inspection(spec: CollectionSpec) {
  const btf = spec.btf;
  const kinds: Record<string, number> = {};
  if (btf) for (const id of btf.ids()) kinds[btf.kindOf(id)] = (kinds[btf.kindOf(id)] ?? 0) + 1;
  return {
    byteOrder: spec.byteOrder,
    license: spec.license,
    programs: [...spec.programs.values()].map((p) => ({
      name: p.name,
      section: p.sectionName,
      type: typeName(p),
      /** How the type was decided: section (libbpf 1.x rules), legacy (guessed by libbpf 0.x's prefix rules), unspecified, user. */
      typeSource: p.kind.typeSource,
      guessed: p.kind.typeSource === "legacy",
      attachType: p.attachType === undefined ? null : abi.attachTypeName(p.attachType).toLowerCase(),
      attachTarget: p.attachTarget || null,
      autoload: p.autoload,
      instructions: p.instructions.length,
      subprograms: p.subprograms,
      /** References to symbols the object does not define (resolve them before load). */
      unresolved: p.unresolved,
      /** Reasons it would not load that the object alone shows (empty: none known). */
      wouldNotLoad: elf.loadProblems(spec, p),
    })),
    maps: [...spec.maps.values()].map((m) => ({
      name: m.name,
      type: m.typeName.toLowerCase(),
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      pinning: m.pinning,
      ...(m.innerMap ? { innerMap: { type: m.innerMap.typeName.toLowerCase(), keySize: m.innerMap.keySize, valueSize: m.innerMap.valueSize, maxEntries: m.innerMap.maxEntries } } : {}),
      ...(m.contents.length ? { contents: m.contents } : {}),
      /** struct_ops maps: the kernel struct, registered by a link or not, and the program at each member. */
      ...(m.structOps ? { structOps: { struct: m.structOps.typeName, link: m.structOps.link, members: m.structOps.members.filter((x) => x.program).map((x) => ({ member: x.name, program: x.program as string })) } } : {}),
    })),
    variables: [...spec.variables.values()].map((v) => ({
      name: v.name,
      /** The name, or `name@section+offset` when static variables of linked objects share it. */
      label: v.label,
      map: v.map,
      offset: v.offset,
      size: v.size,
      type: btf && v.type ? btfNs.describeType(btf, v.type) : null,
      linkage: v.linkage,
      readOnly: v.readOnly,
    })),
    externs: [...spec.externs.values()].map((e) => ({ name: e.name, kind: e.kind, weak: e.weak })),
    btf: btf ? { types: btf.typeCount, kinds } : null,
    relocations: relocationCounts(spec),
  };
}

export function registerInspect(program: Command, io: Output): void {
  program
    .command("inspect")
    .description("show what a BPF object file holds: programs, maps, variables, externs, BTF, relocations")
    .argument("<object>", "a clang-built BPF object (either byte order)")
    .addHelpText(
      "after",
      `
"struct_ops" lists each .struct_ops / .struct_ops.link map (a kernel struct such as
tcp_congestion_ops filled by the object) and the program at each function-pointer member
(--json: structOps per map: {struct, link, members: [{member, program}]}).`,
    )
    .option("--json", "print JSON (top-level keys: programs, maps, variables, externs, btf, relocations; per program typeSource, guessed, unresolved and wouldNotLoad)")
    .addHelpText(
      "after",
      `
Every function of every executable section is a program (.text holds subprograms). Its type
comes from the section name by libbpf 1.x's rules; a name they do not know is tried against
libbpf 0.x's prefix rules (xdp_dummy -> xdp, sk_skb1 -> sk_skb, cgroup_skb/egress/1), shown
as "(guessed)"; otherwise the type is "unspecified" (cls_test, l4lb-demo): such a program loads
only with a type given (tsebpf load --type). "would not load" lists, per program, what the object
alone shows would fail (--json: wouldNotLoad, each {kind, message}; kinds: unspecified-type, unresolved-symbol).
"unresolved symbols" lists references to symbols the object neither defines nor declares as
.kconfig/.ksyms externs (inline assembly's r0 = MY_CONST ll; --json: unresolved per program,
each {symbol, instruction, kind: load|call}); load one with tsebpf load --const NAME=VALUE.
"variables" names each by its label: its name, or name@section+offset where static variables
of linked objects share the name (--json: name and label); --set and coll.variable take it.`,
    )
    .action((file: string, opts: { json?: boolean }) => {
      const spec = readCollectionSpec(readInput(file));
      const info = inspection(spec);
      if (opts.json) {
        io.out(`${JSON.stringify(info, null, 2)}\n`);
        return;
      }
      io.out(`${file}: ${info.byteOrder} endian, license ${JSON.stringify(info.license)}\n\nprograms:\n`);
      io.out(table([["NAME", "SECTION", "TYPE", "ATTACH", "INSNS", "SUBPROGRAMS"], ...info.programs.map((p) => [
        p.autoload ? p.name : `${p.name} (not autoloaded)`, p.section, p.guessed ? `${p.type} (guessed)` : p.type, [p.attachType, p.attachTarget].filter(Boolean).join(" ") || "-", String(p.instructions), p.subprograms.join(",") || "-",
      ])]));
      const problems = info.programs.flatMap((p) => p.wouldNotLoad.map((w) => `  ${w.message}\n`));
      if (problems.length) io.out(`\nwould not load:\n${problems.join("")}`);
      io.out("\nmaps:\n");
      io.out(table([["NAME", "TYPE", "KEY", "VALUE", "MAX", "FLAGS", "PIN"], ...info.maps.map((m) => [
        m.name, m.type, String(m.keySize), String(m.valueSize), String(m.maxEntries), `0x${m.flags.toString(16)}`, m.pinning,
      ])]));
      const structOps = info.maps.flatMap(({ name, structOps: so }) => (so ? so.members.map((x) => [name, so.struct, so.link ? "link" : "map update", x.member, x.program]) : []));
      if (structOps.length) {
        io.out("\nstruct_ops:\n");
        io.out(table([["MAP", "STRUCT", "REGISTERED BY", "MEMBER", "PROGRAM"], ...structOps]));
      }
      if (info.variables.length) {
        io.out("\nvariables:\n");
        io.out(table([["NAME", "MAP", "OFFSET", "SIZE", "TYPE"], ...info.variables.map((v) => [v.label, v.map, String(v.offset), String(v.size), v.type ?? "-"])]));
      }
      const unresolved = info.programs.flatMap((p) => p.unresolved.map((r) => [p.name, r.symbol, String(r.instruction), r.kind]));
      if (unresolved.length) {
        io.out("\nunresolved symbols:\n");
        io.out(table([["PROGRAM", "SYMBOL", "INSN", "KIND"], ...unresolved]));
      }
      if (info.externs.length) {
        io.out("\nexterns:\n");
        io.out(table([["NAME", "KIND", "WEAK"], ...info.externs.map((e) => [e.name, e.kind, e.weak ? "yes" : "no"])]));
      }
      io.out(`\nbtf: ${info.btf ? `${info.btf.types} types (${Object.entries(info.btf.kinds).map(([k, n]) => `${n} ${k}`).join(", ")})` : "none"}\n`);
      io.out(`relocations: ${Object.entries(info.relocations).map(([k, n]) => `${n} ${k}`).join(", ")}\n`);
    });
}
