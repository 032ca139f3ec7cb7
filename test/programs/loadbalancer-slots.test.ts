import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAGLEV_SLOT_SIZE, SLOT_CLEAN, decodeSlots, encodeSlots, nextSlots, type MaglevSlot } from "../../src/programs/loadbalancer/slots.js";
import { assertProperty } from "../helpers/property.js";

/** A backend set: id → generation. */
type Backends = ReadonlyMap<number, number>;

const apply = (ids: number[], before: MaglevSlot[] | undefined, from: Backends, to: Backends) =>
  nextSlots(
    ids,
    before,
    (id) => from.get(id),
    (b) => to.get(b.id) === b.generation,
  );

/**
 * A run of backend changes: each step a set of ids 0..5 (each with a generation: a kept id keeps
 * it or, changed, gets a new one) and a table of `size` slots over that set.
 */
const changes = (size: number) =>
  fc.array(
    fc.record({
      ids: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 6 }),
      renew: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      picks: fc.array(fc.nat(), { minLength: size, maxLength: size }),
    }),
    { minLength: 1, maxLength: 8 },
  );

describe("loadbalancer Maglev slots (slots.ts)", () => {
  it("a first table is all clean; a clean slot keeping its id stays clean; a changed one remembers the backend that stays", () => {
    const first = apply([0, 1, 0], undefined, new Map(), new Map([[0, 1], [1, 2]]));
    expect(first).toEqual([0, 1, 0].map((id) => ({ id, prev: SLOT_CLEAN, prevGeneration: 0 })));
    const set = new Map([[0, 1], [1, 2], [2, 3]]);
    expect(apply([0, 2, 2], first, new Map([[0, 1], [1, 2]]), set)).toEqual([
      { id: 0, prev: SLOT_CLEAN, prevGeneration: 0 },
      { id: 2, prev: 1, prevGeneration: 2 },
      { id: 2, prev: 0, prevGeneration: 1 },
    ]);
  });

  it("a clean slot whose backend is removed stays clean: its flows are gone with it", () => {
    const first = apply([0, 1], undefined, new Map(), new Map([[0, 1], [1, 2]]));
    expect(apply([0, 0], first, new Map([[0, 1], [1, 2]]), new Map([[0, 1]]))).toEqual([
      { id: 0, prev: SLOT_CLEAN, prevGeneration: 0 },
      { id: 0, prev: SLOT_CLEAN, prevGeneration: 0 },
    ]);
    // The same id given to another backend (a new generation) is not the old backend either.
    expect(apply([1, 0], first, new Map([[0, 1], [1, 2]]), new Map([[0, 1], [1, 3]]))[1]).toEqual({ id: 0, prev: SLOT_CLEAN, prevGeneration: 0 });
  });

  it("a changed slot keeps its previous backend while it stays, then has none", () => {
    const changed: MaglevSlot[] = [{ id: 1, prev: 0, prevGeneration: 1 }];
    expect(apply([2], changed, new Map([[0, 1], [1, 2]]), new Map([[0, 1], [2, 3]]))).toEqual([{ id: 2, prev: 0, prevGeneration: 1 }]);
    expect(apply([1], changed, new Map([[0, 1], [1, 2]]), new Map([[1, 2]]))).toEqual([{ id: 1, prev: 0, prevGeneration: 0 }]);
    expect(apply([0], changed, new Map([[0, 1], [1, 2]]), new Map([[0, 4]]))).toEqual([{ id: 0, prev: 0, prevGeneration: 0 }]);
  });

  it("property: what the program does with an unrecorded, established flow follows the backend it began on while that backend stays; a slot never becomes clean again", () => {
    const size = 16;
    assertProperty(
      fc.property(changes(size), (steps) => {
        let set: Map<number, number> = new Map();
        let slots: MaglevSlot[] | undefined;
        let generation = 0;
        // Per slot: the backend (id, generation) every unrecorded flow of the slot began on, while
        // the slot has been clean since the start (undefined once it changed).
        let began: ({ id: number; generation: number } | undefined)[] = [];
        const everChanged = new Array<boolean>(size).fill(false);
        for (const step of steps) {
          const next = new Map<number, number>();
          for (const id of step.ids) {
            const old = set.get(id);
            next.set(id, old !== undefined && !step.renew[id] ? old : ++generation);
          }
          const ids = step.picks.map((p) => step.ids[p % step.ids.length] ?? 0);
          const out = nextSlots(
            ids,
            slots,
            (id) => set.get(id),
            (b) => next.get(b.id) === b.generation,
          );
          out.forEach((slot, i) => {
            expect(slot.id).toBe(ids[i]);
            if (everChanged[i]) expect(slot.prev).not.toBe(SLOT_CLEAN);
            everChanged[i] = everChanged[i] || slot.prev !== SLOT_CLEAN;
            const origin = slots === undefined ? undefined : began[i];
            if (origin && next.get(origin.id) === origin.generation) {
              // The program sends such a flow to `id` on a clean slot, else to a valid `prev`.
              const target = slot.prev === SLOT_CLEAN ? slot.id : next.get(slot.prev) === slot.prevGeneration ? slot.prev : slot.id;
              expect(target).toBe(origin.id);
            }
          });
          // A clean slot's unrecorded flows began on its backend; a changed slot records every new
          // flow, so its unrecorded ones are those it had when it changed.
          began = out.map((slot, i) => (slot.prev === SLOT_CLEAN ? { id: slot.id, generation: next.get(slot.id) ?? 0 } : began[i]));
          slots = out;
          set = next;
        }
      }),
    );
  });

  it("property: encode and decode round-trip struct maglev_slot", () => {
    assertProperty(
      fc.property(fc.array(fc.record({ id: fc.integer({ min: 0, max: 0xffff }), prev: fc.integer({ min: 0, max: 0xffff }), prevGeneration: fc.nat({ max: 0xffffffff }) })), (slots) => {
        const bytes = encodeSlots(slots);
        expect(bytes.byteLength).toBe(MAGLEV_SLOT_SIZE * slots.length);
        expect(decodeSlots(bytes)).toEqual(slots);
      }),
    );
  });
});
