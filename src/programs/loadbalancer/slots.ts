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
 *
 * The previous backend counts only for a while after the change (`prevUntil`): long enough for a
 * connection open at the change to show itself (its next packet records it), after which an
 * unrecorded flow of the slot goes where the table says — what every other balancer of a fleet
 * with the same config does with it, whatever changes it went through (a connection opened
 * through another balancer, moved here by a rehash).
 */

import { MaglevSlotCodec } from "./loadbalancer.gen.js";

/** `prev` of a clean slot. */
export const SLOT_CLEAN = 0xffff;
/** `prev_until` of a slot whose previous backend counts without a limit (what `prevUntil` absent encodes). */
export const PREV_FOREVER = 0xffffffff;
/** Bytes of a struct maglev_slot (its layout: MaglevSlotCodec, generated from the object's BTF). */
export const MAGLEV_SLOT_SIZE = MaglevSlotCodec.size;

export interface MaglevSlot {
  /** The backend id new flows get. */
  readonly id: number;
  /** SLOT_CLEAN, or the id unrecorded flows began on (valid while it has `prevGeneration`). */
  readonly prev: number;
  /** 0: no previous backend (generations start at 1). */
  readonly prevGeneration: number;
  /**
   * Until when `prev` counts, in seconds of the monotonic clock (monotonicSeconds(), the program's
   * bpf_ktime_get_ns); absent: no limit.
   */
  readonly prevUntil?: number;
}

/** CLOCK_MONOTONIC in whole seconds: the clock the program compares `prev_until` with. */
export const monotonicSeconds = (): number => Number(process.hrtime.bigint() / 1_000_000_000n);

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
 * - A clean slot changing its id remembers the old backend if it stays, until `prevUntil` (absent:
 *   no limit); if it is removed, its flows are gone with it and the slot stays clean.
 * - A slot that was not clean stays so (its connection-table entries must still be looked up); it
 *   keeps its previous backend (and its deadline) while that stays, else has none.
 *
 * Which backend each slot gives new flows (`id`) is `ids`, whatever the slots were before.
 */
export function nextSlots(
  ids: ArrayLike<number>,
  before: readonly MaglevSlot[] | undefined,
  generationBefore: (id: number) => number | undefined,
  kept: (backend: BackendIdentity) => boolean,
  prevUntil?: number,
): MaglevSlot[] {
  const until = prevUntil === undefined ? {} : { prevUntil };
  const out: MaglevSlot[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] ?? 0;
    const old = before?.[i];
    if (!old) {
      out.push({ id, prev: SLOT_CLEAN, prevGeneration: 0 });
    } else if (old.prev === SLOT_CLEAN) {
      const generation = generationBefore(old.id);
      const stays = generation !== undefined && kept({ id: old.id, generation });
      out.push(old.id === id || !stays ? { id, prev: SLOT_CLEAN, prevGeneration: 0 } : { id, prev: old.id, prevGeneration: generation, ...until });
    } else {
      const stays = old.prevGeneration !== 0 && kept({ id: old.prev, generation: old.prevGeneration });
      out.push(stays ? { id, prev: old.prev, prevGeneration: old.prevGeneration, ...(old.prevUntil === undefined ? {} : { prevUntil: old.prevUntil }) } : { id, prev: 0, prevGeneration: 0 });
    }
  }
  return out;
}

/** The slots as the maglev map's values, back to back. */
export function encodeSlots(slots: readonly MaglevSlot[]): Buffer {
  const out = Buffer.alloc(MAGLEV_SLOT_SIZE * slots.length);
  slots.forEach((s, i) => MaglevSlotCodec.encode({ id: s.id, prev: s.prev, prev_generation: s.prevGeneration, prev_until: s.prevUntil ?? PREV_FOREVER }, out, MAGLEV_SLOT_SIZE * i));
  return out;
}

export function decodeSlots(bytes: Uint8Array): MaglevSlot[] {
  const out: MaglevSlot[] = [];
  for (let at = 0; at + MAGLEV_SLOT_SIZE <= bytes.byteLength; at += MAGLEV_SLOT_SIZE) {
    const s = MaglevSlotCodec.decode(bytes, at);
    out.push({ id: s.id, prev: s.prev, prevGeneration: s.prev_generation, ...(s.prev_until === PREV_FOREVER ? {} : { prevUntil: s.prev_until }) });
  }
  return out;
}
