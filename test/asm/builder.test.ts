import { describe, expect, it } from "vitest";
import * as asm from "../../src/asm/index.js";

describe("builder", () => {
  it("builds a program with labels and resolves jumps", () => {
    const prog = new asm.Builder()
      .add(asm.mov64Imm(asm.R0, 2))
      .add(asm.jeqImm(asm.R1, 0, "out"))
      .add(asm.ldImm64(asm.R2, 1n << 40n))
      .add(asm.mov64Imm(asm.R0, 1))
      .label("out")
      .add(asm.exit())
      .build();
    expect(prog[1]).toMatchObject({ off: 3, reference: "out" }); // the lddw counts two slots
    expect(asm.disassemble(prog).map((l) => l.text)).toEqual([
      "r0 = 2",
      "if r1 == 0 goto +3",
      "r2 = 1099511627776 ll",
      "r0 = 1",
      "exit",
    ]);
  });

  it("resolves subprogram calls and callback references, keeps map and kfunc references", () => {
    const prog = new asm.Builder()
      .add(asm.loadMapPtr(asm.R1, "events"))
      .add(asm.loadFunction(asm.R2, "cb"))
      .add(asm.callSubprogram("cb"))
      .add(asm.callKfunc("bpf_obj_new_impl"))
      .add(asm.exit())
      .label("cb")
      .add(asm.mov64Imm(asm.R0, 0), asm.exit())
      .build();
    expect(prog[0]).toMatchObject({ src: asm.PseudoLd.MAP_FD, reference: "events" });
    expect(prog[1]).toMatchObject({ src: asm.PseudoLd.FUNC, imm: 4 });
    expect(prog[2]).toMatchObject({ src: asm.PseudoCall.CALL, imm: 2 });
    expect(prog[3]).toMatchObject({ src: asm.PseudoCall.KFUNC, reference: "bpf_obj_new_impl" });
  });

  it("calls helpers by name or id", () => {
    expect(asm.call("bpf_map_lookup_elem").imm).toBe(1);
    expect(asm.call("ktime_get_ns").imm).toBe(5);
    expect(() => asm.call("bpf_no_such_helper")).toThrow(asm.LinkError);
  });

  it("builds every instruction family as the kernel encodes it", () => {
    const all = [
      asm.neg32(asm.R3), asm.movsx32(asm.R1, asm.R2, 16), asm.toBe(asm.R1, 32), asm.bswap(asm.R1, 64),
      asm.smod32Imm(asm.R1, 7), asm.jsle32Reg(asm.R1, asm.R2, -1), asm.gotol(100000), asm.ldxs("h", asm.R1, asm.R2, 2),
      asm.st("b", asm.R10, -1, 7), asm.ldAbs("w", 14), asm.ldInd("b", asm.R6, 1), asm.xchg("dw", asm.R1, 0, asm.R2),
      asm.cmpxchg("w", asm.R1, 4, asm.R3), asm.loadAcquire("w", asm.R0, asm.R1, 0), asm.storeRelease("b", asm.R1, 0, asm.R2),
      asm.loadMapValue(asm.R1, ".data", 16),
    ];
    expect(asm.disassemble(all, { alu32: true }).map((l) => l.text)).toEqual([
      "w3 = -w3", "w1 = (s16)w2", "r1 = be32 r1", "r1 = bswap64 r1",
      "w1 s%= 7", "if w1 s<= w2 goto -1", "gotol +100000", "r1 = *(s16 *)(r2 + 2)",
      "*(u8 *)(r10 - 1) = 7", "r0 = *(u32 *)skb[14]", "r0 = *(u8 *)skb[r6 + 1]", "r2 = xchg_64(r1 + 0, r2)",
      "w0 = cmpxchg32_32(r1 + 4, w0, w3)", "w0 = load_acquire((u32 *)(r1 + 0))", "store_release((u8 *)(r1 + 0), w2)",
      "ld_pseudo\tr1, 2, 68719476736",
    ]);
  });

  it("refuses invalid operands at once", () => {
    expect(() => asm.mov64Imm(asm.R0, 2 ** 31)).toThrow(asm.InstructionError);
    expect(() => asm.ja(40000)).toThrow(/16 bits/);
    expect(() => new asm.Builder().label("a").label("b")).toThrow(asm.LinkError);
    expect(() => new asm.Builder().add(asm.ja("nowhere")).build()).toThrow(/unknown label nowhere/);
  });
});

describe("disassembly of streams", () => {
  it("annotates jump targets like llvm-objdump", () => {
    const prog = asm.assembleInstructions("f:\nif r1 > r2 goto +1\ngoto -2\nexit");
    const lines = asm.disassemble(prog, { hex: true, branchTarget: asm.symbolizer([{ name: ".text", slot: 0 }, { name: "f", slot: 0 }]) });
    expect(lines.map(asm.objdumpLine)).toEqual([
      "       0:\tif r1 > r2 goto +0x1 <f+0x10>",
      "       1:\tgoto -0x2 <f>",
      "       2:\texit",
    ]);
  });

  it("prints <unknown> for invalid bytes on request", () => {
    const bytes = Buffer.from("ff000000000000009500000000000000", "hex");
    expect(() => asm.disassembleBytes(bytes)).toThrow(asm.InstructionError);
    expect(asm.disassembleBytes(bytes, { onInvalid: "unknown" }).map((l) => l.text)).toEqual(["<unknown>", "exit"]);
  });
});
