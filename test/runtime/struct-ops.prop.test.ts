// Invariant: for any kernel member order, the struct_ops value holds each object member at the kernel's member of its name and zero elsewhere; each program gets its member's index.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, it } from "vitest";
import { readCollectionSpec, type CollectionSpec, type StructOpsMapSpec } from "../../src/elf/index.js";
import { layoutStructOps, planStructOps, structOpsValue } from "../../src/runtime/struct-ops.js";
import { assertProperty } from "../helpers/property.js";
import { KERNEL_MEMBERS, kernelBtfWith } from "./struct-ops-layout.js";

const spec: CollectionSpec = readCollectionSpec(readFileSync("test/fixtures/struct_ops.bpfel.o"));
const cc = spec.maps.get("tsebpf_cc") as StructOpsMapSpec;
const PROGRAMS = ["tsebpf_init", "tsebpf_ssthresh", "tsebpf_cong_avoid", "tsebpf_undo_cwnd"];
const names = KERNEL_MEMBERS.map((m) => m.name);

describe("struct_ops value", () => {
  it("places fds and data by member name for any kernel member order, zero elsewhere; programs get their member's index", () => {
    const arb = fc.record({
      order: fc.shuffledSubarray(names, { minLength: names.length, maxLength: names.length }),
      fds: fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { minLength: PROGRAMS.length, maxLength: PROGRAMS.length }),
      flags: fc.integer({ min: 0, max: 0xffffffff }),
      name: fc.stringMatching(/^[a-z_]{1,15}$/),
    });
    assertProperty(
      fc.property(arb, ({ order, fds, flags, name }) => {
        const kernel = kernelBtfWith(order);
        const data = Buffer.from(cc.data as Uint8Array);
        const member = (n: string) => cc.structOps.members.find((m) => m.name === n) as { offset: number; size: number };
        data.fill(0, member("name").offset, member("name").offset + 16);
        data.write(name, member("name").offset, "latin1");
        data.writeUInt32LE(flags, member("flags").offset);
        const map: StructOpsMapSpec = { ...cc, data };
        const fdOf = Object.fromEntries(PROGRAMS.map((p, i) => [p, fds[i] as number]));
        const layout = layoutStructOps(map, kernel);
        const value = Buffer.from(structOpsValue(layout, (p) => fdOf[p]));
        // Expected: built from the kernel BTF's own member offsets.
        const kstruct = kernel.type(kernel.find("tcp_congestion_ops", "struct") as number) as unknown as { members: { name: string; bitOffset: number }[] };
        const at = (n: string) => 8 + (kstruct.members.find((m) => m.name === n) as { bitOffset: number }).bitOffset / 8;
        const expected = Buffer.alloc(value.byteLength);
        for (const m of cc.structOps.members) {
          if (m.program) expected.writeBigUInt64LE(BigInt(fdOf[m.program] as number), at(m.name));
        }
        expected.write(name, at("name"), "latin1");
        expected.writeUInt32LE(flags, at("flags"));
        if (!value.equals(expected)) return false;
        const plan = planStructOps({ ...spec, maps: new Map([["tsebpf_cc", map]]) }, () => kernel);
        return [...plan.programs].every(([, t]) => t.memberIndex === order.indexOf(t.member));
      }),
      { numRuns: 300 },
    );
  });
});
