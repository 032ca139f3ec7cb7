import { describe, expect, it } from "vitest";
import * as asm from "../../src/asm/index.js";
import { InstructionError, decode, encode } from "../../src/asm/index.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("encode", () => {
  it("encodes known instructions like llvm-mc (little endian)", () => {
    expect(hex(encode([asm.mov64Imm(asm.R0, 1)]))).toBe("b700000001000000");
    expect(hex(encode([asm.add64Reg(asm.R0, asm.R1)]))).toBe("0f10000000000000");
    expect(hex(encode([asm.sdiv64Reg(asm.R0, asm.R1)]))).toBe("3f10010000000000");
    expect(hex(encode([asm.movsx64(asm.R0, asm.R1, 8)]))).toBe("bf10080000000000");
    expect(hex(encode([asm.stx("dw", asm.R10, -8, asm.R1)]))).toBe("7b1af8ff00000000");
    expect(hex(encode([asm.atomic("xor", "w", asm.R1, 8, asm.R2, true)]))).toBe("c3210800a1000000");
    expect(hex(encode([asm.ldImm64(asm.R0, 0x123456789n)]))).toBe("18000000896745230000000001000000");
    expect(hex(encode([asm.mayGoto(2)]))).toBe("e500020000000000");
  });

  it("swaps register nibbles and multi-byte fields for big endian", () => {
    expect(hex(encode([asm.stx("dw", asm.R10, -8, asm.R1)], "big"))).toBe("7ba1fff800000000");
    expect(hex(encode([asm.ldImm64(asm.R1, 0x123456789n)], "big"))).toBe("1810000023456789" + "0000000000000001");
  });

  it("refuses invalid instructions with the byte offset", () => {
    const bad = { opcode: 0xb7, dst: 0 as const, src: 3, off: 0, imm: 0 }; // mov imm with a source register
    expect(() => encode([asm.exit(), bad])).toThrow(/at byte offset 8: opcode 0xb7 uses reserved field src/);
  });
});

describe("decode", () => {
  it("decodes lddw as one 16-byte instruction", () => {
    const ins = decode(encode([asm.ldImm64(asm.R2, -1n), asm.exit()]));
    expect(ins).toHaveLength(2);
    expect(asm.constant64(ins[0] as asm.Instruction)).toBe(0xffffffffffffffffn);
  });

  const bad: [string, string, RegExp][] = [
    ["a truncated lddw", "1800000001000000", /at byte offset 0: truncated lddw/],
    ["an unknown opcode", "9500000000000000ff00000000000000", /at byte offset 8: unknown opcode 0xff/],
    ["a bad register", "bf0b000000000000", /bad destination register 11/],
    ["a bad source register", "bfc0000000000000", /bad source register 12/],
    ["a length that is not a multiple of 8", "950000000000", /not a multiple of 8/],
    ["a reserved field", "9501000000000000", /reserved field dst/],
    ["a bad byte-swap width", "dc00000008000000", /byte swap width/],
    ["a bad lddw second slot", "18000000000000000100000000000000", /second slot/],
    ["an unknown atomic", "db21000002000000", /unknown atomic operation 0x2/],
    ["a JMP32 call", "8600000001000000", /unknown opcode 0x86/],
  ];
  for (const [what, bytes, message] of bad) {
    it(`raises InstructionError for ${what}`, () => {
      const err = (() => {
        try {
          decode(Buffer.from(bytes, "hex"));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InstructionError);
      expect((err as Error).message).toMatch(message);
    });
  }
});
