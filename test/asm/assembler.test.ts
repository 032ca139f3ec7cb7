import { describe, expect, it } from "vitest";
import { AsmSyntaxError, assemble, assembleInstructions, disassemble, encode, encodeData, PseudoCall } from "../../src/asm/index.js";

const hexOf = (text: string) => Buffer.from(encode(assembleInstructions(text))).toString("hex");

describe("assembler", () => {
  it("reads the LLVM syntax, comments and statement separators", () => {
    expect(hexOf("r0 = 1 # one\nw0 += w1 // add; \n/* c */ r0 = be16 r0 ; exit")).toBe(
      "b700000001000000" + "0c10000000000000" + "dc00000010000000" + "9500000000000000",
    );
    expect(hexOf("r0 = 0b101\nr0 = 010\nR0 = 0X1F\nr0 = 8 + 1")).toBe(
      "b700000005000000b700000008000000b70000001f000000b700000009000000",
    );
  });

  it("resolves labels, including forward ones and aliases", () => {
    const ins = assembleInstructions("start:\n if r1 > r2 goto out\n goto start\nout:\nalias:\n exit\n goto alias");
    expect(ins.map((i) => i.off)).toEqual([1, -2, 0, -2]);
    expect(ins[0]?.symbol).toBe("start");
  });

  it("resolves local calls and keeps external ones as references", () => {
    const [local, external] = assembleInstructions("call f\ncall ext\nf:\nexit");
    expect(local).toMatchObject({ src: PseudoCall.CALL, imm: 1, reference: "f" });
    expect(external).toMatchObject({ src: PseudoCall.CALL, imm: -1, reference: "ext" });
  });

  it("keeps map references on lddw", () => {
    const [ld] = assembleInstructions("r1 = my_map ll");
    expect(ld).toMatchObject({ opcode: 0x18, dst: 1, reference: "my_map", imm: 0, imm2: 0 });
  });

  it("writes load-acquire, store-release and skb[rN + imm], which LLVM 19 lacks", () => {
    const text = "w0 = load_acquire((u8 *)(r1 + 4))\nstore_release((u64 *)(r1 - 8), r2)\nr0 = *(u16 *)skb[r3 + 12]";
    expect(disassemble(assembleInstructions(text)).map((l) => l.text).join("\n")).toBe(text);
  });

  it("reads data directives into data sections, with labels at byte offsets", () => {
    const { sections } = assemble('.section license,"aw"\n.asciz "GPL"\n.section .data\nx: .long 1, 2\ny: .quad -1\n.zero 3\n.byte 0x7f');
    const data = sections.find((s) => s.name === ".data");
    expect(Buffer.from(encodeData(data?.data ?? [], "big")).toString("hex")).toBe("0000000100000002ffffffffffffffff0000007f");
    expect([...(data?.symbols ?? [])]).toEqual([["x", 0], ["y", 8]]);
    expect(Buffer.from(encodeData(sections.find((s) => s.name === "license")?.data ?? [], "little")).toString()).toBe("GPL\0");
    expect(() => assemble(".data\n.long 1\nexit")).toThrow(/holds data/);
    expect(() => assemble("a: exit\na: exit")).toThrow(/defined twice/);
  });

  it("keeps sections apart", () => {
    const { sections } = assemble(".section xdp\nr0 = 2\nexit\n.text\n.globl f\nf:\nexit");
    expect(sections.map((s) => [s.name, s.instructions.length])).toEqual([
      [".text", 1],
      ["xdp", 2],
    ]);
    expect([...(sections[0]?.globals ?? [])]).toEqual(["f"]);
  });

  const errors: [string, string, number, number, RegExp][] = [
    ["an unknown instruction", "r0 = 1\n  frobnicate r1", 2, 3, /unknown instruction 'frobnicate'/],
    ["a bad register", "r0 = r11", 1, 6, /bad register 'r11'/],
    ["mixed register widths", "r0 += w1", 1, 7, /must be r or both w/],
    ["an immediate too large", "r0 = 4294967296", 1, 6, /does not fit in 32 bits/],
    ["an offset too large", "r0 = *(u32 *)(r1 + 40000)", 1, 20, /signed 16-bit offset/],
    ["an unknown label", "goto nowhere", 1, 1, /unknown label nowhere/],
    ["a missing goto", "if r1 > r2 +3", 1, 12, /expected 'goto'/],
    ["a 64-bit store from a w register", "*(u64 *)(r1 + 0) = w2", 1, 20, /64-bit access needs an r register/],
    ["a bad type", "r0 = *(u33 *)(r1 + 0)", 1, 8, /expected a type like u32/],
    ["an unterminated comment", "r0 = 1 /* oops", 1, 8, /unterminated comment/],
    ["a stray character", "r0 = 1 ?", 1, 8, /unexpected character/],
    ["an unsupported directive", ".frobnicate 1", 1, 1, /unsupported directive '.frobnicate'/],
    ["a jump out of range", `goto far\n${"r0 = 0\n".repeat(40000)}far: exit`, 1, 1, /out of range for goto/],
  ];
  for (const [what, text, line, column, message] of errors) {
    it(`names line and column for ${what}`, () => {
      let err: unknown;
      try {
        assemble(text, { source: "prog.s" });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AsmSyntaxError);
      const e = err as AsmSyntaxError;
      expect(e.message).toMatch(message);
      expect([e.line, e.column]).toEqual([line, column]);
      expect(e.message.startsWith(`prog.s:${line}:${column}: `)).toBe(true);
    });
  }
});
