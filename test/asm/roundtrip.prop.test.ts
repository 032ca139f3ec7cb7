// Invariant: every valid instruction survives encode/decode and text/bytes round trips; malformed bytes or text raise only typed errors.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AsmSyntaxError,
  InstructionError,
  LinkError,
  assemble,
  assembleInstructions,
  decode,
  disassemble,
  encode,
  type ByteOrder,
  type Instruction,
} from "../../src/asm/index.js";
import { anyInstruction } from "./arbitrary.js";
import { assertProperty } from "../helpers/property.js";

const orders: ByteOrder[] = ["little", "big"];
const fields = ({ opcode, dst, src, off, imm, imm2 }: Instruction) => ({ opcode, dst, src, off, imm, imm2 });

describe("encoding round trip", () => {
  for (const order of orders) {
    it(`every valid instruction round-trips encode -> decode -> encode (${order} endian)`, () => {
      assertProperty(
        fc.property(anyInstruction, (ins) => {
          const bytes = encode([ins], order);
          const [back] = decode(bytes, order);
          expect(fields(back as Instruction)).toEqual(fields(ins));
          expect(encode([back as Instruction], order)).toEqual(bytes);
        }),
        { numRuns: 10_000 },
      );
    });
  }

  it("the two byte orders differ only in register nibbles and multi-byte fields", () => {
    assertProperty(
      fc.property(anyInstruction, (ins) => {
        const le = encode([ins], "little");
        const be = encode([ins], "big");
        expect(be[0]).toBe(le[0]);
        expect(be[1]).toBe((((le[1] as number) & 0x0f) << 4) | ((le[1] as number) >> 4));
        expect([...be.subarray(2, 4)]).toEqual([...le.subarray(2, 4)].reverse());
        expect([...be.subarray(4, 8)]).toEqual([...le.subarray(4, 8)].reverse());
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("text round trip", () => {
  for (const hex of [false, true]) {
    it(`random instruction streams round-trip text -> bytes -> text (hex=${hex})`, () => {
      assertProperty(
        fc.property(fc.array(anyInstruction, { minLength: 1, maxLength: 40 }), fc.constantFrom(...orders), fc.boolean(), (stream, order, alu32) => {
          const text = disassemble(stream, { hex, alu32 }).map((l) => l.text).join("\n");
          const bytes = encode(assembleInstructions(text), order);
          const again = disassemble(decode(bytes, order), { hex, alu32 }).map((l) => l.text).join("\n");
          expect(again).toBe(text);
        }),
        { numRuns: 1_000 },
      );
    });
  }
});

describe("malformed input", () => {
  it("random bytes decode or raise InstructionError naming the offset, nothing else", () => {
    assertProperty(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.constantFrom(...orders), (bytes, order) => {
        try {
          decode(bytes, order);
        } catch (e) {
          expect(e).toBeInstanceOf(InstructionError);
          expect((e as InstructionError).offset).toBeTypeOf("number");
          expect((e as Error).message).toMatch(/^at byte offset \d+: /);
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it("random text assembles or raises AsmSyntaxError/LinkError, nothing else", () => {
    const pieces = fc.constantFrom(
      "r0", "w1", "r10", "r11", "=", "+=", "s>>=", "-", "*", "(", ")", "u32", "s8", "skb", "[", "]", "ll", "goto", "if",
      "lock", "call", "exit", "1", "0x10", "-5", "label", ":", ",", ";", "\n", "#", "atomic_fetch_add", "xchg_64",
      "be16", "load_acquire", "store_release", "ld_pseudo", ".section", "99999999999", "/*", "*/", "@", "\"",
    );
    assertProperty(
      fc.property(fc.array(pieces, { maxLength: 20 }), (words) => {
        try {
          assemble(words.join(" "));
        } catch (e) {
          if (!(e instanceof AsmSyntaxError) && !(e instanceof LinkError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
