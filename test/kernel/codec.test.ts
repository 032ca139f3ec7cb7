import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { readCollectionSpec } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { u32, u64, TypedMap } from "../../src/runtime/codec.js";
import { describeKernel } from "../helpers/kernel.js";

describeKernel("typed maps", () => {
  it("encodes keys and values from the object's BTF", () => {
    using c = Collection.load(readCollectionSpec(readFileSync("test/fixtures/maps.bpfel.o")));
    const hash = c.typedMap<number, { packets: bigint; bytes: bigint }>("hash_typed");
    hash.set(5, { packets: 3n, bytes: 1500n });
    expect(hash.get(5)).toEqual({ packets: 3n, bytes: 1500n });
    expect([...hash.entries()]).toEqual([[5, { packets: 3n, bytes: 1500n }]]);
    expect(hash.delete(5)).toBe(true);
    expect(hash.get(5)).toBeUndefined();

    const lpm = c.typedMap("lpm");
    // The trie matches bytes in memory order: 10.0.0.0/24 is bytes 0a 00 00 00 (host order u32).
    lpm.set({ prefixlen: 24, addr: 0x0000000a }, 7);
    expect(lpm.get({ prefixlen: 32, addr: 0x0500000a })).toBe(7);
    expect(lpm.get({ prefixlen: 32, addr: 0x0500010a })).toBeUndefined();

    const percpu = c.typedMap<bigint, bigint>("pinned_percpu");
    percpu.set(1n, 9n);
    expect(new Set(percpu.getPerCpu(1n))).toEqual(new Set([9n]));
  });

  it("reads global data through the DATASEC's BTF, and takes supplied codecs", () => {
    using c = Collection.load(readCollectionSpec(readFileSync("test/fixtures/globals.bpfel.o")));
    const rodata = c.typedMap(".rodata").get(0) as Record<string, unknown>;
    expect(rodata).toMatchObject({ threshold: 7, cfg: { port: 80, mode: 1, limit: 1000n } });
    expect(c.typedMap(".rodata.custom").get(0)).toEqual({ banner: "tsebpf" });
    const data = new TypedMap(c.map(".data.custom"), u32, u32);
    expect(data.get(0)).toBe(0xabcd);
    expect(() => new TypedMap(c.map(".data.custom"), u32, u64)).toThrow(/value codec is 8 bytes, values are 4/);
  });
});
