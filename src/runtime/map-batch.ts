/**
 * Batch operations on maps (kernel 5.6): many entries per system call. Keys and values are
 * packed back to back, `keySize` / `userValueSize` bytes each.
 */
import { Struct, bpfCall, bpfError, bpfTry, kernel } from "../syscall/index.js";
import type { BpfMap } from "./map.js";

const ENOENT = 2;

/** Packed keys and values. */
export interface Entries {
  readonly keys: Buffer;
  readonly values: Buffer;
  readonly count: number;
}

/**
 * The entries, one system call per step: each step reads up to `chunk` entries after those of the
 * step before (the kernel's batch token is kept between steps). A caller can stop between steps
 * (letting the event loop run); entries added or removed meanwhile may be missed or seen twice,
 * as with MAP_GET_NEXT_KEY.
 */
function* steps(map: BpfMap, command: "MAP_LOOKUP_BATCH" | "MAP_LOOKUP_AND_DELETE_BATCH", chunk: number): Generator<Entries> {
  const token = Buffer.alloc(Math.max(8, map.keySize));
  const next = Buffer.alloc(Math.max(8, map.keySize));
  const k = Buffer.alloc(chunk * map.keySize);
  const v = Buffer.alloc(chunk * map.userValueSize);
  const a = new Struct("AttrBatch");
  const K = kernel();
  let first = true;
  for (;;) {
    a.set("in_batch", first ? 0n : K.address(token)).set("out_batch", K.address(next)).set("keys", K.address(k)).set("values", K.address(v));
    a.set("count", chunk).set("map_fd", map.fd).set("elem_flags", 0).set("flags", 0);
    const r = bpfTry(command, a, a.end("flags"));
    const n = a.getU32("count");
    if (r < 0 && -r !== ENOENT) throw bpfError(command, -r, `map "${map.name}"`);
    if (n > 0) yield { keys: Buffer.from(k.subarray(0, n * map.keySize)), values: Buffer.from(v.subarray(0, n * map.userValueSize)), count: n };
    if (r < 0) return; // ENOENT: that was the last batch
    next.copy(token);
    first = false;
  }
}

function run(map: BpfMap, command: "MAP_LOOKUP_BATCH" | "MAP_LOOKUP_AND_DELETE_BATCH", chunk: number): Entries {
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  let total = 0;
  for (const e of steps(map, command, chunk)) {
    keys.push(e.keys);
    values.push(e.values);
    total += e.count;
  }
  return { keys: Buffer.concat(keys), values: Buffer.concat(values), count: total };
}

/** Every entry, up to `chunk` per system call, one call per step of the iteration (see steps). */
export const lookupBatches = (map: BpfMap, chunk = 4096): Generator<Entries> => steps(map, "MAP_LOOKUP_BATCH", chunk);

/** Every entry, read `chunk` at a time. */
export const lookupBatch = (map: BpfMap, chunk = 4096): Entries => run(map, "MAP_LOOKUP_BATCH", chunk);

/** Every entry, read and deleted `chunk` at a time. */
export const lookupAndDeleteBatch = (map: BpfMap, chunk = 4096): Entries => run(map, "MAP_LOOKUP_AND_DELETE_BATCH", chunk);

/** Writes `count` entries in one call; returns how many the kernel wrote. */
export function updateBatch(map: BpfMap, keys: Uint8Array, values: Uint8Array, flags = 0): number {
  const count = keys.byteLength / map.keySize;
  if (!Number.isInteger(count) || values.byteLength !== count * map.userValueSize) {
    throw new RangeError(`map "${map.name}": ${keys.byteLength} bytes of keys and ${values.byteLength} of values are not whole entries of ${map.keySize}+${map.userValueSize} bytes`);
  }
  const a = new Struct("AttrBatch");
  a.set("keys", kernel().address(keys)).set("values", kernel().address(values)).set("count", count).set("map_fd", map.fd).set("elem_flags", flags);
  bpfCall("MAP_UPDATE_BATCH", a, a.end("flags"), `map "${map.name}"`);
  return a.getU32("count");
}

/** Deletes the entries of these keys in one call; returns how many were deleted. */
export function deleteBatch(map: BpfMap, keys: Uint8Array): number {
  const count = keys.byteLength / map.keySize;
  if (!Number.isInteger(count)) throw new RangeError(`map "${map.name}": ${keys.byteLength} bytes are not whole keys of ${map.keySize}`);
  const a = new Struct("AttrBatch");
  a.set("keys", kernel().address(keys)).set("count", count).set("map_fd", map.fd);
  const r = bpfTry("MAP_DELETE_BATCH", a, a.end("flags"));
  if (r < 0 && -r !== ENOENT) throw bpfError("MAP_DELETE_BATCH", -r, `map "${map.name}"`);
  return a.getU32("count");
}
