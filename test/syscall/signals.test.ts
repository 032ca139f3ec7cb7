import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { kernel } from "../../src/syscall/index.js";

/** This (main) thread's blocked signal set, from /proc. */
const blocked = (): bigint => BigInt(`0x${/^SigBlk:\s*([0-9a-f]+)/m.exec(readFileSync(`/proc/${process.pid}/task/${process.pid}/status`, "utf8"))?.[1] ?? "0"}`);
const bit = (signal: number) => 1n << BigInt(signal - 1);

describe("kernel().withSignalsBlocked", () => {
  it("blocks this thread's asynchronous signals while it runs, not the fault signals, and restores the mask", () => {
    const before = blocked();
    let inside = 0n;
    const result = kernel().withSignalsBlocked(() => {
      inside = blocked();
      return 42;
    });
    expect(result).toBe(42);
    for (const signal of [1 /* HUP */, 2 /* INT */, 14 /* ALRM */, 15 /* TERM */, 17 /* CHLD */, 27 /* PROF */]) expect(inside & bit(signal)).not.toBe(0n);
    for (const signal of [4, 5, 7, 8, 11]) expect(inside & bit(signal)).toBe(0n);
    expect(blocked()).toBe(before);
  });

  it("restores the mask when the function throws", () => {
    const before = blocked();
    expect(() =>
      kernel().withSignalsBlocked(() => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(blocked()).toBe(before);
  });
});
