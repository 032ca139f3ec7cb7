// Invariant (planted, false on purpose): no byte array sums past 300 — fast-check finds one and shrinks it.
import fc from "fast-check";
import { it } from "vitest";
import { assertProperty } from "../../helpers/property.js";

const CONFIG = "test/tooling/planted/vitest.config.ts";

it("planted: small byte sums", () => {
  // Records every generated input, so a test can compare a run with its replay.
  const seen: string[] = [];
  try {
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => {
        seen.push(Buffer.from(bytes).toString("hex"));
        return bytes.reduce((a, b) => a + b, 0) <= 300;
      }),
      { numRuns: 200, bytes: (c) => c[0], context: { config: CONFIG } },
    );
  } finally {
    if (process.env.PLANTED_SEEN) process.stdout.write(`PLANTED_SEEN ${seen.slice(0, 5).join(",")}\n`);
  }
});
