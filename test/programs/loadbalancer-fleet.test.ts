/**
 * The balancer as a fleet, without a kernel: the backend each Maglev slot gives new flows is a
 * function of the backend set alone (not of the list's order, the previous table or the history
 * of reloads), and a moved slot's previous backend carries its deadline (`prevUntil`).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_PREVIOUS_BACKEND_SECONDS, parseConfig } from "../../src/programs/loadbalancer/config.js";
import { maglevTable } from "../../src/programs/loadbalancer/maglev.js";
import { PREV_FOREVER, SLOT_CLEAN, decodeSlots, encodeSlots, nextSlots, type MaglevSlot } from "../../src/programs/loadbalancer/slots.js";
import { assertProperty } from "../helpers/property.js";

const SIZE = 251;
/** slot → backend name, as a balancer given these names (in this order) fills its table. */
const byName = (names: readonly string[]): string[] => Array.from(maglevTable(names, SIZE), (i) => names[i] ?? "");

/** A balancer's slots through a history of backend sets, ids given in order of appearance (as BackendSet does). */
function replay(history: readonly (readonly string[])[], now: number): { slots: MaglevSlot[]; idOf: Map<string, number> } {
  const idOf = new Map<string, number>();
  let slots: MaglevSlot[] | undefined;
  let before = new Map<number, number>();
  for (const names of history) {
    for (const n of names) if (!idOf.has(n)) idOf.set(n, idOf.size);
    const after = new Map(names.map((n) => [idOf.get(n) ?? 0, 1]));
    const ids = Array.from(maglevTable(names, SIZE), (i) => idOf.get(names[i] ?? "") ?? 0);
    const previous = before;
    slots = nextSlots(ids, slots, (id) => previous.get(id), (b) => after.get(b.id) === b.generation, now);
    before = after;
  }
  return { slots: slots ?? [], idOf };
}

const names = fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h"), { minLength: 1, maxLength: 8 });

describe("loadbalancer fleet determinism", () => {
  it("property: any order of the same backends gives every slot the same backend", () => {
    assertProperty(
      fc.property(
        names.chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length, maxLength: set.length }))),
        ([set, shuffled]) => {
          expect(byName(shuffled)).toEqual(byName(set));
        },
      ),
    );
  });

  it("property: after any history of reloads ending in the same set (in any order), new flows of every slot get the same backend", () => {
    assertProperty(
      fc.property(fc.array(names, { maxLength: 5 }), fc.array(names, { maxLength: 5 }), names, fc.nat(), (historyA, historyB, final, seed) => {
        const shuffled = [...final].sort((x, y) => ((x.charCodeAt(0) * 31 + seed) % 17) - ((y.charCodeAt(0) * 31 + seed) % 17));
        const a = replay([...historyA, final], 100);
        const b = replay([...historyB, shuffled], 200);
        const nameOf = (ids: Map<string, number>) => new Map([...ids].map(([n, id]) => [id, n]));
        const [na, nb] = [nameOf(a.idOf), nameOf(b.idOf)];
        expect(a.slots.map((s) => na.get(s.id))).toEqual(byName(final));
        expect(b.slots.map((s) => nb.get(s.id))).toEqual(byName(final));
      }),
    );
  });

  it("a slot a change moves gets the deadline given; kept previous backends keep theirs; encode and decode carry it", () => {
    const first = nextSlots([0, 1], undefined, () => undefined, () => true, 50);
    expect(first).toEqual([{ id: 0, prev: SLOT_CLEAN, prevGeneration: 0 }, { id: 1, prev: SLOT_CLEAN, prevGeneration: 0 }]);
    const set = new Map([[0, 1], [1, 1], [2, 2]]);
    const moved = nextSlots([0, 2], first, (id) => set.get(id), (b) => set.get(b.id) === b.generation, 50);
    expect(moved).toEqual([{ id: 0, prev: SLOT_CLEAN, prevGeneration: 0 }, { id: 2, prev: 1, prevGeneration: 1, prevUntil: 50 }]);
    const again = nextSlots([0, 0], moved, (id) => set.get(id), (b) => set.get(b.id) === b.generation, 90);
    expect(again[1]).toEqual({ id: 0, prev: 1, prevGeneration: 1, prevUntil: 50 });
    expect(decodeSlots(encodeSlots(again))).toEqual(again);
    // Without a deadline: none encoded as PREV_FOREVER, decoded as absent.
    const forever = encodeSlots([{ id: 2, prev: 1, prevGeneration: 1 }]);
    expect(forever.readUInt32LE(8)).toBe(PREV_FOREVER);
    expect(decodeSlots(forever)).toEqual([{ id: 2, prev: 1, prevGeneration: 1 }]);
  });

  it("previousBackendSeconds: default, range, and one line naming the key", () => {
    const doc = (extra: Record<string, unknown>) => parseConfig({ listenInterface: "eth1", vip: "10.0.0.1", tcp_port: 80, backends: ["02:00:00:00:00:0b"], ...extra }, "lb.yml");
    expect(doc({}).previousBackendSeconds).toBe(DEFAULT_PREVIOUS_BACKEND_SECONDS);
    expect(doc({ previousBackendSeconds: 0 }).previousBackendSeconds).toBe(0);
    expect(() => doc({ previousBackendSeconds: -1 })).toThrow("lb.yml: previousBackendSeconds: -1 is out of range (0..604800)");
    expect(() => doc({ previousBackendSeconds: "soon" })).toThrow("lb.yml: previousBackendSeconds: expected an integer, not 'soon'");
  });
});
