import { readFileSync, readdirSync } from "node:fs";
import { expect, it } from "vitest";
import { Btf, sanitizeForKernel } from "../../src/btf/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { btfLoad, kernel } from "../../src/syscall/index.js";
import { describeKernel } from "../helpers/kernel.js";

describeKernel("object BTF in the kernel", () => {
  it("loads every fixture's BTF, sanitized, into the kernel", () => {
    for (const f of readdirSync("test/fixtures").filter((x) => x.endsWith(".bpfel.o"))) {
      const spec = readCollectionSpec(readFileSync(`test/fixtures/${f}`));
      if (!spec.btf) continue;
      // The spec's BTF has DATASEC sizes fixed; sanitize it for the kernel.
      const fixed = spec.btf;
      const blob = sanitizeForKernel(fixed.bytes, fixed);
      const log = Buffer.alloc(1 << 16);
      const { result } = btfLoad(blob, log, 1);
      expect(result, `${f}: ${log.toString("utf8", 0, log.indexOf(0)).split("\n").slice(-4).join(" | ")}`).toBeGreaterThan(0);
      kernel().close(result);
      // The sanitized blob still parses, with the same ids.
      expect(new Btf(blob).typeCount).toBeGreaterThanOrEqual(fixed.typeCount);
    }
  });
});

