/**
 * The running kernel's BTF, parsed by tsebpf, compared type by type with what bpftool reads
 * from the same file; and marshalled back in both byte orders.
 */
import { existsSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { Btf, marshalBtf, sizeOf, skipModifiers, typeJson, type BtfType } from "../../src/btf/index.js";
import { bpftoolJson, bpftoolMissing } from "../helpers/bpftool.js";
import { describeWith, itWith } from "../helpers/oracle.js";

const VMLINUX = "/sys/kernel/btf/vmlinux";
const missing = existsSync(VMLINUX) ? undefined : `${VMLINUX} is missing`;

describeWith(missing)(`kernel BTF${missing ? ` (skipped: ${missing})` : ""}`, () => {
  const bytes = missing ? new Uint8Array() : readFileSync(VMLINUX);

  itWith(bpftoolMissing)("reads every type as bpftool does", { timeout: 60_000 }, () => {
    const btf = new Btf(bytes);
    const theirs = bpftoolJson<{ types: Record<string, unknown>[] }>("btf", "dump", "file", VMLINUX).types;
    expect(btf.typeCount).toBe(theirs.length);
    let compared = 0;
    for (const expected of theirs) {
      const id = expected.id as number;
      const ours = typeJson(id, btf.type(id) as BtfType);
      if (ours.values) ours.values = (ours.values as { name: string; val: unknown }[]).map((v) => ({ name: v.name, val: String(v.val) }));
      if (expected.kind === "ENUM" || expected.kind === "ENUM64") {
        // bpftool sign-extends unsigned 32-bit enumerators before printing them as u64: undo that.
        const mask = (v: unknown) => (expected.kind === "ENUM" && expected.encoding === "UNSIGNED" ? BigInt.asUintN(32, BigInt(v as string)) : BigInt(v as string)).toString();
        expected.values = (expected.values as { name: string; val: unknown }[]).map((v) => ({ name: v.name, val: mask(v.val) }));
      }
      expect(ours).toEqual(expected);
      compared++;
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  it("finds types by name and sizes them", () => {
    const btf = new Btf(bytes);
    const task = btf.find("task_struct", "struct");
    expect(task).toBeDefined();
    expect(sizeOf(btf, task as number)).toBeGreaterThan(1000);
    expect(btf.kindOf(btf.find("u32", "typedef") as number)).toBe("typedef");
    expect(sizeOf(btf, skipModifiers(btf, btf.find("u64", "typedef") as number))).toBe(8);
    expect(btf.find("no_such_type_anywhere")).toBeUndefined();
  });

  for (const order of ["little", "big"] as const) {
    it(`marshals every type back, ${order} endian, and reads the same types`, { timeout: 30_000 }, () => {
      const btf = new Btf(bytes);
      const types = btf.types();
      const again = new Btf(marshalBtf(types, { order }));
      expect(again.byteOrder).toBe(order);
      expect(again.typeCount).toBe(types.length);
      for (let id = 1; id <= types.length; id += 7) expect(again.type(id)).toEqual(types[id - 1]);
    });
  }
});
