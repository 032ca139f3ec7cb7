/**
 * Range checks at the kernel boundary, against the real kernel: a map size that does not fit
 * `__u32 max_entries` is refused with AttrRangeError before BPF_MAP_CREATE, so no map is made
 * (before, 2**32 + 4 made a 4-entry map, 1.7 a 1-entry map, and -1 failed with ENOMEM).
 */
import { expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import { AttrRangeError, BpfMap, TsebpfError, runtime } from "../../src/index.js";
import { describeKernel, uniqueName } from "../helpers/kernel.js";

/** Names of the maps the kernel has now. */
const mapNames = (): string[] => runtime.listMaps().map((m) => m.name);
/** A name as the kernel keeps it: up to 15 bytes of [A-Za-z0-9_.]. */
const kernelName = (name: string): string => name.replace(/[^A-Za-z0-9_.]/g, "_").slice(0, 15);

describeKernel("attr range checks", () => {
  it.each([
    [2 ** 32 + 4, "4294967300 does not fit in u32"],
    [1.7, "1.7 is not an integer (u32)"],
    [-1, "-1 does not fit in u32"],
  ])("BpfMap.create({ maxEntries: %s }) throws AttrRangeError and creates no map", (maxEntries, text) => {
    const name = uniqueName("rng");
    const before = mapNames();
    expect(before).not.toContain(kernelName(name));
    let error: unknown;
    try {
      BpfMap.create({ name, type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries }).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AttrRangeError);
    expect(error).toBeInstanceOf(TsebpfError);
    expect((error as Error).message).toBe(`map "${name}": bpf_attr max_entries: ${text}`);
    expect(error).toMatchObject({ struct: "bpf_attr", field: "max_entries", value: maxEntries, type: "u32" });
    expect(mapNames()).not.toContain(kernelName(name));
  });

  it("an in-range size still makes the map it asks for (the control)", () => {
    const name = uniqueName("rng");
    using m = BpfMap.create({ name, type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 });
    expect(mapNames()).toContain(kernelName(name));
    expect(m.info()).toMatchObject({ name: kernelName(name), maxEntries: 4 });
  });
});
