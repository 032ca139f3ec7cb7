/** Generated bindings against the kernel: load() with typed variables, then variables, typed maps and programs by name. */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { readCollectionSpec } from "../../src/index.js";
import { generateBindings } from "../../src/gen/index.js";
import { importGenerated, SRC_INDEX } from "../gen/generated.js";
import { describeKernel } from "../helpers/kernel.js";

describeKernel("generated bindings", () => {
  it("globals: variables set before load, read and written after it; .rodata ones constant; close and dispose", async () => {
    const bytes = readFileSync("test/fixtures/globals.bpfel.o");
    const mod = await importGenerated<any>(generateBindings(readCollectionSpec(bytes), { object: { embed: bytes }, importFrom: SRC_INDEX }));
    const obj = mod.load({ variables: { threshold: 9, cfg: { port: 8080, mode: 2, pad: new Uint8Array(3), limit: 77n }, banner: "hey" } });
    try {
      expect(obj.programs.globals.fd).toBeGreaterThan(0);
      expect(obj.variables.counter.get()).toBe(42n);
      obj.variables.counter.set(43n);
      expect(obj.variables.counter.get()).toBe(43n);
      expect(obj.variables.threshold.get()).toBe(9);
      expect(obj.variables.cfg.get()).toEqual({ port: 8080, mode: 2, pad: new Uint8Array(3), limit: 77n });
      expect(obj.variables.banner.get()).toBe("hey");
      expect(() => obj.variables.threshold.set(1)).toThrow(/rodata/);
      obj.variables.hits.set([1, 2, 3, 4]);
      expect(obj.variables.hits.get()).toEqual([1, 2, 3, 4]);
      const r = obj.programs.globals.testRun({ data: new Uint8Array(64) });
      expect(r.returnValue).toBe(1); // XDP_DROP: cfg.port is not 80
    } finally {
      obj.close();
    }
    expect(() => obj.variables.zeroed.get()).toThrow();
  });

  it("maps: typed maps of the object's key and value types", async () => {
    const bytes = readFileSync("test/fixtures/maps.bpfel.o");
    const mod = await importGenerated<any>(generateBindings(readCollectionSpec(bytes), { object: { embed: bytes }, importFrom: SRC_INDEX }));
    using obj = mod.load({ maxEntries: { hash_typed: 16 } });
    expect(obj.maps.hash_typed.maxEntries).toBe(16);
    obj.typedMaps.hash_typed.set(7, { packets: 1n, bytes: 2n });
    expect(obj.typedMaps.hash_typed.get(7)).toEqual({ packets: 1n, bytes: 2n });
    obj.typedMaps.lpm.set({ prefixlen: 32, addr: 0x0100000a }, 5);
    expect([...obj.typedMaps.lpm.entries()]).toEqual([[{ prefixlen: 32, addr: 0x0100000a }, 5]]);
    expect(Object.keys(obj.programs).sort()).toEqual(["tail_a", "tail_b", "use_maps"]);
  });
});
