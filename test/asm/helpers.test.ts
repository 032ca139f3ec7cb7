import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { allHelpers, helperById, helperByName } from "../../src/asm/index.js";
// @ts-expect-error: a plain JavaScript script without type declarations
import { DEFAULT_BTF, DEFAULT_DEFS, ENUMS_OUTPUT, OUTPUT, generate, generateEnums } from "../../scripts/gen-abi.mjs";

describe("helper table", () => {
  it("maps ids and names both ways", () => {
    expect(helperById(1)?.name).toBe("bpf_map_lookup_elem");
    expect(helperByName("bpf_ringbuf_output")?.id).toBe(130);
    expect(helperById(2)?.prototype).toBe("long bpf_map_update_elem(void *map, const void *key, const void *value, __u64 flags)");
    expect(allHelpers().length).toBeGreaterThan(200);
  });

  it.skipIf(!existsSync(DEFAULT_BTF))("is what the generator makes from this kernel's BTF (regenerate with make abi)", () => {
    const defs = existsSync(DEFAULT_DEFS) ? readFileSync(DEFAULT_DEFS, "utf8") : undefined;
    const committed = readFileSync(OUTPUT, "utf8");
    const fresh: string = generate(readFileSync(DEFAULT_BTF), defs);
    if (defs) {
      expect(fresh).toBe(committed);
    } else {
      // Without libbpf's header only the id/name columns can be compared.
      const idsAndNames = (t: string) => [...t.matchAll(/\[(\d+), "(\w+)"/g)].map((m) => `${m[1]} ${m[2]}`);
      expect(idsAndNames(fresh)).toEqual(idsAndNames(committed));
    }
  });

  it.skipIf(!existsSync(DEFAULT_BTF))("kernel enums are what the generator makes from this kernel's BTF (make abi)", () => {
    expect(generateEnums(readFileSync(DEFAULT_BTF))).toBe(readFileSync(ENUMS_OUTPUT, "utf8"));
  });
});
