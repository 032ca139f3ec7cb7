// Objects from the wild (issue 15): `__ulong()` map attributes, kfuncs and ksyms used as values,
// undefined symbols kept as unresolved references. Both byte orders give the same spec.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import { readCollectionSpec } from "../../src/elf/collection.js";

const spec = (name: string, order: "el" | "eb") => readCollectionSpec(readFileSync(`test/fixtures/${name}.bpf${order}.o`));

describe.each(["el", "eb"] as const)("objects from the wild (bpf%s)", (order) => {
  it("reads __ulong() map attributes like __uint(): enum64 above 32 bits, enum below", () => {
    const s = spec("ulong", order);
    expect(s.maps.get("arena")).toMatchObject({ type: MapType.ARENA, mapExtra: 0x100000000n, maxEntries: 2, flags: 1 << 10 });
    expect(s.maps.get("bloom")).toMatchObject({ type: MapType.BLOOM_FILTER, mapExtra: 3n, maxEntries: 64, valueSize: 4 });
  });
});
