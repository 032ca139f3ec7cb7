// Invariant: struct_ops relocations rewritten at random parse to members holding STRUCT_OPS programs at function pointers, or fail with ParseError, nothing else.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProgramType } from "../../src/abi/index.js";
import { ParseError, isStructOpsMap, readCollectionSpec, readElf } from "../../src/elf/index.js";
import { assertProperty } from "../helpers/property.js";

describe.each(["el", "eb"] as const)("struct_ops relocations (bpf%s)", (order) => {
  const base = readFileSync(`test/fixtures/struct_ops.bpf${order}.o`);
  const elf = readElf(base);
  const le = order === "el";
  const sections = [".rel.struct_ops", ".rel.struct_ops.link"].map((n) => elf.sections.find((s) => s.name === n)!);
  const entries = sections.flatMap((s) => elf.relocations(s).map((r) => ({ pos: s.offset + r.index * 16, section: s })));

  it("each member a parse names holds a struct_ops program at a function pointer; anything else is a ParseError", () => {
    let parsed = 0;
    const arb = fc.array(
      fc.record({ entry: fc.nat(entries.length - 1), offset: fc.nat(0x40), symbol: fc.nat(elf.symbols.length + 1) }),
      { minLength: 1, maxLength: 3 },
    );
    assertProperty(
      fc.property(arb, (edits) => {
        const bytes = Uint8Array.from(base);
        const view = new DataView(bytes.buffer);
        for (const e of edits) {
          const { pos } = entries[e.entry]!;
          view.setBigUint64(pos, BigInt(e.offset), le);
          view.setUint32(le ? pos + 12 : pos + 8, e.symbol, le);
        }
        let spec;
        try {
          spec = readCollectionSpec(bytes);
        } catch (err) {
          return err instanceof ParseError;
        }
        parsed++;
        for (const m of spec.maps.values()) {
          if (!isStructOpsMap(m)) continue;
          for (const member of m.structOps.members) {
            if (member.program === undefined) continue;
            if (member.kind !== "program") return false;
            if (spec.programs.get(member.program)?.programType !== ProgramType.STRUCT_OPS) return false;
          }
        }
        return true;
      }),
      { numRuns: 400 },
    );
    // Not only failures: moved relocations that still land on function pointers parse.
    expect(parsed).toBeGreaterThan(0);
  });
});
