// Invariant: DepartureHeap releases items in (departure, seq) order, never before their departure and each exactly once, whatever the push order or the clock's ticks.
/**
 * The release thread's heap (runtime/departure-heap.ts): items come out in (departure, seq)
 * order whatever order they went in, and a scheduler that calls takeDue(now) with a clock that
 * only moves forward never releases an item before its departure, and releases every item once.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DepartureHeap } from "../../src/runtime/departure-heap.js";
import { assertProperty } from "../helpers/property.js";

const byDepartureThenSeq = (a: { d: number; s: number }, b: { d: number; s: number }): number => a.d - b.d || a.s - b.s;

/** Departures on a small range so that ties (same departure, different seq) are common. */
const entries = fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }).map((ds) => ds.map((d, s) => ({ d, s })));

describe("DepartureHeap", () => {
  it("pop returns the items in (departure, seq) order, whatever order they were pushed in", () => {
    assertProperty(
      fc.property(entries, fc.func(fc.integer()), (list, rank) => {
        const shuffled = [...list].sort((a, b) => rank(a.s) - rank(b.s) || a.s - b.s);
        const heap = new DepartureHeap<{ d: number; s: number }>();
        for (const e of shuffled) heap.push(e.d, e.s, e);
        expect(heap.size).toBe(list.length);
        const out: Array<{ d: number; s: number }> = [];
        for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push(e);
        expect(out).toEqual([...list].sort(byDepartureThenSeq));
        expect(heap.size).toBe(0);
        expect(heap.peekDeparture()).toBe(Infinity);
      }),
      { numRuns: 300 },
    );
  });

  it("a scheduler never releases early, releases each item once, in (departure, seq) order, whatever the interleaving of arrivals and clock ticks", () => {
    // A script: arrivals (departure = now + delay, seq in arrival order) and clock advances.
    const step = fc.oneof(fc.record({ arrive: fc.integer({ min: 0, max: 40 }) }), fc.record({ advance: fc.integer({ min: 0, max: 25 }) }));
    assertProperty(
      fc.property(fc.array(step, { maxLength: 400 }), (script) => {
        const heap = new DepartureHeap<number>();
        let now = 0;
        let seq = 0;
        const departures = new Map<number, number>();
        const released: Array<{ d: number; s: number; at: number }> = [];
        const take = () =>
          heap.takeDue(now, (s, d) => {
            expect(d).toBe(departures.get(s));
            released.push({ d, s, at: now });
          });
        for (const st of script) {
          if ("arrive" in st) {
            const d = now + st.arrive;
            departures.set(seq, d);
            heap.push(d, seq++, seq - 1);
          } else {
            now += st.advance;
            take();
            expect(heap.peekDeparture()).toBeGreaterThan(now); // nothing due is left behind
          }
        }
        // Never early; each item once.
        for (const r of released) expect(r.at).toBeGreaterThanOrEqual(r.d);
        expect(new Set(released.map((r) => r.s)).size).toBe(released.length);
        // A last tick: what is left is not due yet; a flush (Infinity) takes the rest.
        take();
        expect(heap.peekDeparture()).toBeGreaterThan(now);
        heap.takeDue(Infinity, (s, d) => released.push({ d, s, at: Infinity }));
        expect(released.length).toBe(seq);
        // Within each takeDue call and overall among items due together: (departure, seq) order.
        for (let i = 1; i < released.length; i++) {
          const a = released[i - 1] as { d: number; s: number; at: number };
          const b = released[i] as { d: number; s: number; at: number };
          if (a.at === b.at) expect(byDepartureThenSeq(a, b)).toBeLessThan(0);
        }
        // Items of equal departure always leave in arrival (seq) order.
        const bySeq = new Map<number, number[]>();
        for (const r of released) bySeq.set(r.d, [...(bySeq.get(r.d) ?? []), r.s]);
        for (const seqs of bySeq.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      }),
      { numRuns: 300 },
    );
  });

  it("takeDue(now) takes exactly the items due at now and returns how many", () => {
    const heap = new DepartureHeap<string>();
    heap.push(5, 1, "b");
    heap.push(5, 0, "a");
    heap.push(7, 2, "c");
    heap.push(3, 3, "z");
    const got: string[] = [];
    expect(heap.takeDue(4, (x) => got.push(x))).toBe(1);
    expect(heap.takeDue(5, (x) => got.push(x))).toBe(2);
    expect(got).toEqual(["z", "a", "b"]);
    expect(heap.peekDeparture()).toBe(7);
    expect(heap.takeDue(6.9, () => got.push("early"))).toBe(0);
    expect(heap.pop()).toBe("c");
    expect(heap.pop()).toBeUndefined();
  });
});
