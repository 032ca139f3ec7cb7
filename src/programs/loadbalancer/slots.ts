/**
 * The Maglev slots as the program reads them (struct maglev_slot in loadbalancer.bpf.c), and how
 * a backend change carries them from one table to the next.
 *
 * A clean slot has named the same backend since the program started: TCP flows hashed to it need
 * no connection-table entry, because every one of them is on that backend. When a change gives
 * the slot another backend, it stops being clean for good and remembers the backend its
 * unrecorded flows began on (`prev`); from then on the program records every flow of the slot.
 * So a new connection costs no connection-table insert, and the table's room goes to the flows
 * that need it.
 */

import { MaglevSlotCodec } from "./loadbalancer.gen.js";

/** `prev` of a clean slot. */
export const SLOT_CLEAN = 0xffff;
/** Bytes of a struct maglev_slot (its layout: MaglevSlotCodec, generated from the object's BTF). */
export const MAGLEV_SLOT_SIZE = MaglevSlotCodec.size;

export interface MaglevSlot {
  /** The backend id new flows get. */
  readonly id: number;
  /** SLOT_CLEAN, or the id unrecorded flows began on (valid while it has `prevGeneration`). */
  readonly prev: number;
  /** 0: no previous backend (generations start at 1). */
  readonly prevGeneration: number;
}

/** A backend id with its generation: which holder of the id it is. */
export interface BackendIdentity {
  readonly id: number;
  readonly generation: number;
}

/**
 * The slots of a new table (`ids`: slot → backend id), given the slots in use now (undefined: the
 * program has not run yet, every slot starts clean). `generationBefore` gives the generation of an
 * id in the backend set before the change; `kept` says whether a backend (id and generation) is in
 * the set after it.
 *
 * - A clean slot keeping its id stays clean (a backend whose MAC changed keeps its id: its flows
 *   start over on the new MAC, as they would anyway).
 * - A clean slot changing its id remembers the old backend if it stays; if it is removed, its flows
 *   are gone with it and the slot stays clean.
 * - A slot that was not clean stays so (its connection-table entries must still be looked up); it
 *   keeps its previous backend while that stays, else has none.
 */
export function nextSlots(
  ids: ArrayLike<number>,
  before: readonly MaglevSlot[] | undefined,
  generationBefore: (id: number) => number | undefined,
  kept: (backend: BackendIdentity) => boolean,
): MaglevSlot[] {
  const out: MaglevSlot[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] ?? 0;
    const old = before?.[i];
    if (!old) {
      out.push({ id, prev: SLOT_CLEAN, prevGeneration: 0 });
    } else if (old.prev === SLOT_CLEAN) {
      const generation = generationBefore(old.id);
      const stays = generation !== undefined && kept({ id: old.id, generation });
      out.push(old.id === id || !stays ? { id, prev: SLOT_CLEAN, prevGeneration: 0 } : { id, prev: old.id, prevGeneration: generation });
    } else {
      const stays = old.prevGeneration !== 0 && kept({ id: old.prev, generation: old.prevGeneration });
      out.push(stays ? { id, prev: old.prev, prevGeneration: old.prevGeneration } : { id, prev: 0, prevGeneration: 0 });
    }
  }
  return out;
}

/** The slots as the maglev map's values, back to back. */
export function encodeSlots(slots: readonly MaglevSlot[]): Buffer {
  const out = Buffer.alloc(MAGLEV_SLOT_SIZE * slots.length);
  slots.forEach((s, i) => MaglevSlotCodec.encode({ id: s.id, prev: s.prev, prev_generation: s.prevGeneration }, out, MAGLEV_SLOT_SIZE * i));
  return out;
}

export function decodeSlots(bytes: Uint8Array): MaglevSlot[] {
  const out: MaglevSlot[] = [];
  for (let at = 0; at + MAGLEV_SLOT_SIZE <= bytes.byteLength; at += MAGLEV_SLOT_SIZE) {
    const s = MaglevSlotCodec.decode(bytes, at);
    out.push({ id: s.id, prev: s.prev, prevGeneration: s.prev_generation });
  }
  return out;
}
