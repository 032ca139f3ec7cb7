import { readFileSync, readdirSync } from "node:fs";
import { expect, it } from "vitest";
import { Btf, sanitizeForKernel, type BtfDatasec } from "../../src/btf/index.js";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
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

  it("an object with extern declarations (link_a: an extern map in .maps, an extern variable in .data) loads its maps with BTF alone, and refuses only the program its externs hold back", () => {
    const spec = readCollectionSpec(readFileSync("test/fixtures/link_a.bpfel.o"));
    // clang put the extern link_hits in .maps at offset 0, on top of link_a_only (the kernel
    // refuses that DATASEC: "Invalid offset"); the maps get the object's BTF only once it is fitted
    // (without BTF they would still be created, with btf_id 0).
    const btf = spec.btf as Btf;
    const maps = btf.type(btf.find(".maps", "datasec") as number) as BtfDatasec;
    expect(maps.vars.map((v) => [btf.nameOf(v.type), v.offset])).toEqual([["link_hits", 0], ["link_a_only", 0]]);

    using c = Collection.load(spec, { programs: [] });
    for (const name of ["link_a_only", ".data"]) {
      const info = c.map(name).info();
      expect(info.btfId, name).toBeGreaterThan(0);
      expect(info.btfValueTypeId, name).toBeGreaterThan(0);
    }
    // link_main calls link_add and reads link_hits, which only a link brings: refused, named.
    expect(() => Collection.load(spec)).toThrow(/link_add|link_hits|link_scale_base/);
  });
});
