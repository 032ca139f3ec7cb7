// Invariant: mutated or truncated fixture objects read as collections or raise ParseError, nothing else.
/** Byte-mutated and truncated fixtures: reading them as collections raises ParseError or nothing. */
import fc from "fast-check";
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readCollectionSpec } from "../../src/elf/collection.js";
import { ParseError } from "../../src/elf/errors.js";
import { assertProperty } from "../helpers/property.js";

const fixtures = readdirSync("test/fixtures").filter((f) => f.endsWith(".o")).map((f) => readFileSync(`test/fixtures/${f}`));

describe("malformed objects", () => {
  it("mutated or truncated fixtures only ever raise ParseError", () => {
    const input = fc.nat(fixtures.length - 1).chain((k) => {
      const bytes = fixtures[k] as Buffer;
      return fc.tuple(
        fc.constant(bytes),
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.oneof(fc.constant(bytes.length), fc.nat(bytes.length)),
      );
    });
    let parsed = 0;
    assertProperty(
      fc.property(input, ([bytes, changes, cut]) => {
        const copy = Uint8Array.from(bytes.subarray(0, cut));
        for (const [at, value] of changes) if (at < copy.length) copy[at] = value;
        try {
          readCollectionSpec(copy);
          parsed++;
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
          expect(e.message).toMatch(/^ELF/);
        }
      }),
      { numRuns: 5_000 },
    );
    // Some mutations hit bytes that do not matter: the property must see both outcomes.
    expect(parsed).toBeGreaterThan(0);
  });
});
