// Invariant: the tsebpf/testing arbitraries generate what they promise — valid jumps, BTF and ELF objects that read back, replayable mutations.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decode, encode } from "../../src/asm/index.js";
import { Btf } from "../../src/btf/index.js";
import { readElf } from "../../src/elf/index.js";
import {
  anyInstruction,
  applyMutations,
  bpfObject,
  btfBlob,
  btfTypesWithTowers,
  elfObject,
  isJump,
  jumpTarget,
  mutatedObject,
  mutationTargets,
  program,
  slotsOf,
} from "../../src/testing/index.js";
import { assertProperty } from "../helpers/property.js";

describe("tsebpf/testing arbitraries", () => {
  it("program(): every jump lands on the first slot of an instruction of the program; it ends in exit and encodes", () => {
    let jumps = 0;
    const { numRuns } = assertProperty(
      fc.property(program({ maxLength: 60 }), fc.constantFrom("little" as const, "big" as const), (prog, order) => {
        const starts = new Set<number>();
        let slot = 0;
        for (const ins of prog) {
          starts.add(slot);
          slot += slotsOf(ins);
        }
        slot = 0;
        for (const ins of prog) {
          if (isJump(ins)) {
            jumps++;
            expect(starts.has(jumpTarget(ins, slot)), JSON.stringify(ins)).toBe(true);
          }
          slot += slotsOf(ins);
        }
        expect(prog.at(-1)!.opcode).toBe(0x95);
        expect(decode(encode(prog, order), order).length).toBe(prog.length);
      }),
      { numRuns: 500 },
    );
    expect(jumps).toBeGreaterThan(numRuns / 2);
  });

  it("anyInstruction encodes and decodes (the families are exported from one place)", () => {
    assertProperty(fc.property(anyInstruction, (ins) => void expect(decode(encode([ins])).length).toBe(1)), { numRuns: 500 });
  });

  it("btfBlob(): the bytes parse back to the types, in the byte order drawn", () => {
    const orders = new Set<string>();
    assertProperty(
      fc.property(btfBlob({ types: btfTypesWithTowers }), ({ types, order, bytes }) => {
        orders.add(order);
        expect(new Btf(bytes).types()).toEqual(types);
      }),
      { numRuns: 200 },
    );
    expect([...orders].sort()).toEqual(["big", "little"]);
  });

  it("elfObject and bpfObject: the bytes read, in the model's byte order", () => {
    const orders = new Set<string>();
    assertProperty(
      fc.property(elfObject, bpfObject(), ({ model, bytes }, obj) => {
        expect(readElf(bytes).byteOrder).toBe(model.order);
        expect(readElf(obj.bytes).byteOrder).toBe(obj.order);
        orders.add(`${model.order}/${obj.order}`);
      }),
      { numRuns: 300 },
    );
    expect(orders.size).toBe(4);
  });

  it("mutatedObject(): the description replays the same bytes; a cut only shortens", () => {
    const corpus = [readFileSync("test/fixtures/maps.bpfel.o"), readFileSync("test/fixtures/maps.bpfeb.o")].map((b) => new Uint8Array(b));
    const targets = corpus.map(mutationTargets);
    let changed = 0;
    const { numRuns } = assertProperty(
      fc.property(mutatedObject(corpus), ({ base, mutations, cut, bytes }) => {
        expect(applyMutations(corpus[base]!, targets[base]!, mutations, cut)).toEqual(bytes);
        expect(bytes.length).toBeLessThanOrEqual(corpus[base]!.length);
        if (cut === null) expect(bytes.length).toBe(corpus[base]!.length);
        if (Buffer.compare(bytes, corpus[base]!) !== 0) changed++;
      }),
      { numRuns: 300 },
    );
    expect(changed).toBeGreaterThan(numRuns / 2);
  });
});
