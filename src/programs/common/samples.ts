/**
 * Sampled events (one in N of some kind of packet, reported through a BPF ring buffer, with a
 * counter of the samples the ring had no room for): the option that sets N, and the reading loop.
 */
import { runtime } from "../../index.js";
import { TsebpfError } from "../../errors.js";

/** Most one may ask for: one in 2^31. */
export const MAX_SAMPLE_EVERY = 2 ** 31;

/** A `--sample-…` value: a whole number of packets, 1..2^31. `option` names it in the error. */
export function parseSampleEvery(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : NaN;
  if (!(v >= 1 && v <= MAX_SAMPLE_EVERY)) throw new TsebpfError(`${option}: '${text}' is not a number of packets (1..${MAX_SAMPLE_EVERY})`);
  return v;
}

/** Checks the rate a program is loaded with (0: no samples). */
export function checkSampleEvery(name: string, every: number): number {
  if (!Number.isInteger(every) || every < 0 || every > MAX_SAMPLE_EVERY) throw new RangeError(`${name}: ${every} is not a whole number of packets in 0..${MAX_SAMPLE_EVERY}`);
  return every;
}

/**
 * Calls `callback` with each record of at least `size` bytes of a ring buffer, decoded, until
 * `signal` aborts; resolves with how many there were. Waiting does not block the event loop.
 */
export async function readSamples<T>(ring: runtime.BpfMap, size: number, decode: (view: DataView) => T, callback: (sample: T) => void, options: { readonly signal?: AbortSignal }): Promise<number> {
  using reader = new runtime.RingBufferReader(ring);
  // Awaited here: the reader must stay open until the loop ends.
  return await reader.on((record) => {
    if (record.length >= size) callback(decode(record.view));
  }, options);
}
