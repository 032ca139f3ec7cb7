/** Map and program owners after close(), against a fake kernel: a typed error, and no call reaches the kernel. */
import { afterEach, describe, expect, it } from "vitest";
import { MapType } from "../../src/abi/index.js";
import * as asm from "../../src/asm/index.js";
import { BpfMap, UseAfterCloseError } from "../../src/runtime/map.js";
import { deleteBatch, lookupBatch, updateBatch } from "../../src/runtime/map-batch.js";
import { Program } from "../../src/runtime/program.js";
import { useKernel, type Kernel } from "../../src/syscall/index.js";
import { FakeKernel } from "../helpers/fake-kernel.js";

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

function fake(): FakeKernel {
  const k = new FakeKernel();
  restore = useKernel(k as unknown as Kernel);
  return k;
}

const closedError = (f: () => unknown, object: string) => {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error, object).toBeInstanceOf(UseAfterCloseError);
  expect((error as Error).message).toBe(`${object}: used after close`);
};

describe("use after close", () => {
  it("every map operation throws UseAfterCloseError and issues no system call", () => {
    const k = fake();
    const m = BpfMap.create({ name: "gone", type: MapType.HASH, keySize: 8, valueSize: 16, maxEntries: 4 });
    const key = Buffer.alloc(8);
    const value = Buffer.alloc(16);
    m.update(key, value);
    expect(m.lookupInto(key, value)).toBe(true);
    expect(m.fast.lookup()).toBe(true);
    const fd = m.fd;
    m.close();
    m.close(); // idempotent
    expect(k.open.has(fd)).toBe(false);
    expect(m.closed).toBe(true);
    const before = k.calls.length;
    const what = 'map "gone"';
    closedError(() => m.fd, what);
    closedError(() => m.lookupInto(key, value), what);
    closedError(() => m.lookupInto(key, value, 4), what);
    closedError(() => m.lookup(key), what);
    closedError(() => m.update(key, value), what);
    closedError(() => m.delete(key), what);
    closedError(() => m.fast.lookup(), what);
    closedError(() => m.fast.update(), what);
    closedError(() => m.fast.delete(), what);
    closedError(() => m.lookupAndDelete(key), what);
    closedError(() => m.nextKeyOf(undefined), what);
    closedError(() => [...m.keys()], what);
    closedError(() => m.freeze(), what);
    closedError(() => m.pin("/sys/fs/bpf/x"), what);
    closedError(() => m.info(), what);
    closedError(() => lookupBatch(m), what);
    closedError(() => updateBatch(m, key, value), what);
    closedError(() => deleteBatch(m, key), what);
    expect(k.calls.length).toBe(before);
  });

  it("a closed program throws UseAfterCloseError and issues no system call", () => {
    const k = fake();
    const p = Program.load({ name: "gone_prog", type: 6 /* XDP */, instructions: asm.encode([asm.mov64Imm(asm.R0, 2), asm.exit()]), license: "GPL" });
    p.close();
    const before = k.calls.length;
    closedError(() => p.fd, 'program "gone_prog"');
    closedError(() => p.testRun({ data: Buffer.alloc(64) }), 'program "gone_prog"');
    closedError(() => p.info(), 'program "gone_prog"');
    closedError(() => p.pin("/sys/fs/bpf/x"), 'program "gone_prog"');
    expect(k.calls.length).toBe(before);
  });

  it("the fast path is one call on the prepared attr, key and value given by address", () => {
    const k = fake();
    const m = BpfMap.create({ name: "fast", type: MapType.HASH, keySize: 8, valueSize: 16, maxEntries: 4 });
    const before = k.calls.length;
    m.fast.key.writeUInt32LE(7);
    m.fast.lookup();
    m.fast.update(1);
    m.fast.update(1);
    m.fast.delete();
    expect(k.calls.slice(before)).toEqual(["MAP_LOOKUP_ELEM", "MAP_UPDATE_ELEM", "MAP_UPDATE_ELEM", "MAP_DELETE_ELEM"]);
    expect(m.fast.key.byteLength).toBe(8);
    expect(m.fast.value.byteLength).toBe(16);
    m.close();
  });
});
