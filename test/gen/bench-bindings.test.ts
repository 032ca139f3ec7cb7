/**
 * The benchmark's generated view (bench/typed-events.gen.ts, #10) is what the generator makes of
 * the event's BTF now: a stale one fails here. TSEBPF_WRITE_GEN=1 rewrites it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { expect, it } from "vitest";
import { generateTypes } from "../../src/gen/index.js";
import { eventBtf } from "../../bench/typed-events.js";

const OUTPUT = "bench/typed-events.gen.ts";

it(`${OUTPUT} is what tsebpf gen makes of the benchmark's struct event`, () => {
  const fresh = generateTypes(eventBtf(), ["struct event"], { byteOrder: "little", importFrom: "../src/index.js" }).replace("\n", "\n// Regenerate: TSEBPF_WRITE_GEN=1 npx vitest run test/gen/bench-bindings.test.ts\n");
  if (process.env.TSEBPF_WRITE_GEN === "1") writeFileSync(OUTPUT, fresh);
  expect(readFileSync(OUTPUT, "utf8"), `${OUTPUT} is stale: rerun with TSEBPF_WRITE_GEN=1`).toBe(fresh);
});
