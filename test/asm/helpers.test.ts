import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { allHelpers, helperById, helperByName } from "../../src/asm/index.js";
import { Btf } from "../../src/btf/index.js";
import { DEFAULT_BTF, DEFAULT_DEFS, outputs } from "../../scripts/gen-abi.js";
import { fileMissing, itWith } from "../helpers/oracle.js";

describe("helper table", () => {
  it("maps ids and names both ways", () => {
    expect(helperById(1)?.name).toBe("bpf_map_lookup_elem");
    expect(helperByName("bpf_ringbuf_output")?.id).toBe(130);
    expect(helperById(2)?.prototype).toBe("long bpf_map_update_elem(void *map, const void *key, const void *value, __u64 flags)");
    expect(allHelpers().length).toBeGreaterThan(200);
  });
});

describe("generated kernel ABI tables", () => {
  itWith(fileMissing(DEFAULT_BTF, "the kernel's BTF"))("are what the generator makes from this kernel's BTF (regenerate with make abi)", () => {
    const defs = existsSync(DEFAULT_DEFS) ? readFileSync(DEFAULT_DEFS, "utf8") : undefined;
    for (const [file, fresh] of outputs(new Btf(readFileSync(DEFAULT_BTF)), defs)) {
      const committed = readFileSync(file, "utf8");
      if (defs || !file.endsWith("helpers.generated.ts")) {
        expect(fresh, `${file} is stale: run make abi`).toBe(committed);
      } else {
        // Without libbpf's header only the id/name columns can be compared.
        const idsAndNames = (t: string) => [...t.matchAll(/\[(\d+), "(\w+)"/g)].map((m) => `${m[1]} ${m[2]}`);
        expect(idsAndNames(fresh)).toEqual(idsAndNames(committed));
      }
    }
  });
});
