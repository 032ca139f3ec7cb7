/**
 * core_typedefs.bpfel.o on the kernel: bpf_core_type_exists/size/matches/id_local/id_kernel on
 * typedefs of function prototypes, of pointers to them and of arrays, loaded by
 * Collection.load and run: every value the program writes is the relocation's target value
 * (which test/kernel/core-libbpf.test.ts shows equal to libbpf's), nothing poisoned; the types
 * this kernel has (initcall_t, __signalfn_t, sse128_t) exist and the local-only ones do not.
 */
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { Btf } from "../../src/btf/index.js";
import { readCollectionSpec, relocateProgram } from "../../src/elf/index.js";
import { Collection } from "../../src/runtime/collection.js";
import { describeKernel } from "../helpers/kernel.js";

describeKernel("CO-RE type relocations on typedefs, run", () => {
  it("the program writes each relocation's value for this kernel", () => {
    const kernel = new Btf(readFileSync("/sys/kernel/btf/vmlinux"));
    const spec = readCollectionSpec(readFileSync("test/fixtures/core_typedefs.bpfel.o"));
    const program = spec.programs.get("core_typedefs");
    const { resolutions } = relocateProgram(spec, program as never, kernel);
    expect(resolutions).toHaveLength(24);
    expect(resolutions.filter((r) => r.poison)).toEqual([]);
    using c = Collection.load(spec);
    expect(c.program("core_typedefs").testRun({ data: Buffer.alloc(64) }).returnValue).toBe(0);
    const out = c.map("out");
    const values = resolutions.map((_, k) => (out.lookup(Buffer.from(new Uint32Array([k]).buffer)) as Buffer).readBigUInt64LE(0));
    // put(k, …) holds relocation k: the values written are the resolved ones.
    expect(values).toEqual(resolutions.map((r) => BigInt(r.target as number)));
    const has = (name: string) => (kernel.find(name, "typedef") !== undefined ? 1n : 0n);
    const at = (path: string, kind: string) => values[resolutions.findIndex((r) => r.path === path && r.kindName === kind)];
    expect(at("initcall_t", "TYPE_EXISTS")).toBe(has("initcall_t"));
    expect(at("__signalfn_t", "TYPE_EXISTS")).toBe(has("__signalfn_t"));
    expect(at("sse128_t", "TYPE_EXISTS")).toBe(has("sse128_t"));
    if (has("initcall_t")) expect(at("initcall_t", "TYPE_ID_TARGET")).toBe(BigInt(kernel.find("initcall_t", "typedef") as number));
    for (const local of ["fn_t", "fn_proto_t", "arr_t"]) expect(at(local, "TYPE_EXISTS"), local).toBe(0n);
  });
});
