// Invariant: llvm-mc and tsebpf print the same text for random valid instructions and assemble that text to the same bytes.
/**
 * Cross-check with LLVM 19: random valid instructions, disassembled by llvm-mc and by tsebpf,
 * must print the same text; text printed by tsebpf, assembled by llvm-mc and by tsebpf, must give
 * the same bytes. Both byte orders, with and without alu32, decimal and hex immediates.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import {
  assembleInstructions,
  encode,
  formatInstruction,
  isLongJump,
  unknownToLlvm19,
  type ByteOrder,
  type Instruction,
} from "../../src/asm/index.js";
import { llvmInstruction } from "./arbitrary.js";
import { llvmMissing, mcDisassemble, mcEncode } from "../helpers/llvm.js";
import { describeWith } from "../helpers/oracle.js";
import { propertyRuns, propertySeed } from "../helpers/property.js";

const COUNT = propertyRuns(2500);
const sample = (seed: number) => fc.sample(llvmInstruction, { numRuns: COUNT, seed });

describeWith(llvmMissing)(`LLVM 19 oracle${llvmMissing ? ` (skipped: ${llvmMissing})` : ""}`, () => {
  for (const [order, triple] of [["little", "bpfel"], ["big", "bpfeb"]] as [ByteOrder, string][]) {
    for (const alu32 of [false, true]) {
      for (const hex of [false, true]) {
        it(`disassembles ${COUNT} random instructions like llvm-mc (${triple}, alu32=${alu32}, hex=${hex})`, () => {
          const seed = propertySeed(Date.now() ^ (alu32 ? 1 : 0) ^ (hex ? 2 : 0));
          const known = sample(seed).filter((i) => !unknownToLlvm19(i, alu32));
          const theirs = mcDisassemble(encode(known, order), { triple, alu32, hex });
          expect(theirs.length, `TSEBPF_PROPERTY_SEED=${seed}`).toBe(known.length);
          known.forEach((ins, k) => {
            expect(formatInstruction(ins, { alu32, hex }), `TSEBPF_PROPERTY_SEED=${seed}, ${JSON.stringify(ins)}`).toBe(theirs[k]);
          });
        });
      }
    }
    it(`assembles ${COUNT} random instructions to the bytes llvm-mc gives (${triple})`, () => {
      const seed = propertySeed(Date.now());
      // llvm-mc 19 reads gotol distances only up to 16 bits (it disassembles any 32-bit one).
      const instructions = sample(seed).filter((i) => !(isLongJump(i) && (i.imm < -32768 || i.imm > 32767)));
      // Forms LLVM 19 only reads with alu32 are written the way alu32 prints them.
      const text = instructions.map((i) => formatInstruction(i, { alu32: true, hex: seed % 2 === 0 })).join("\n");
      const { lines, stderr } = mcEncode(text, triple);
      expect(stderr.split("\n").slice(0, 6).join("\n"), `TSEBPF_PROPERTY_SEED=${seed}`).toBe("");
      const ours = assembleInstructions(text);
      expect(ours.length).toBe(lines.length);
      ours.forEach((ins: Instruction, k) => {
        expect([...encode([ins], order)], `TSEBPF_PROPERTY_SEED=${seed}, line ${k + 1}: ${text.split("\n")[k]}`).toEqual(lines[k]);
      });
    });
  }
});
