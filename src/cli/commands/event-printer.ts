/**
 * `tsebpf load --attach`: the records of every ring buffer and perf event array of the collection,
 * printed as they arrive — hex bytes, or decoded by a BTF type (`--type "struct event"`, or
 * `--type rb="struct event"` for one map), as text or JSON lines.
 */
import { abi, runtime, type Collection } from "../../index.js";
import { CliError, type Output } from "../io.js";

type Reader = runtime.RingBufferReader | runtime.PerfEventReader;

/** JSON with bigints as decimal strings and byte arrays as hex. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex").replace(/(..)(?=.)/g, "$1 ");

/** The event maps of a collection and the codec each one's records are decoded with (undefined: hex). */
export type EventDecoders = ReadonlyMap<string, runtime.Codec<unknown> | undefined>;

/**
 * Checks `--event-type` against the collection (before anything is attached): `NAME` for every
 * ring buffer and perf event array, `MAP=NAME` for one. A type the BTF lacks says how to keep it.
 */
export function eventDecoders(c: Collection, types: readonly string[] = []): EventDecoders {
  const maps = [...c.maps].filter(([, m]) => m.type === abi.MapType.RINGBUF || m.type === abi.MapType.PERF_EVENT_ARRAY).map(([n]) => n);
  const chosen = new Map<string, string>();
  for (const t of types) {
    const eq = t.indexOf("=");
    const map = eq > 0 ? t.slice(0, eq) : undefined;
    const name = eq > 0 ? t.slice(eq + 1) : t;
    if (map !== undefined && !maps.includes(map)) throw new CliError(`--event-type ${t}: no ring buffer or perf event array "${map}" (there are: ${maps.join(", ") || "none"})`);
    for (const m of map === undefined ? maps : [map]) chosen.set(m, name);
  }
  const btf = c.spec.btf;
  if (chosen.size > 0 && !btf) throw new CliError("--event-type: the object has no BTF to decode records with");
  const codecs = new Map<string, runtime.Codec<unknown> | undefined>();
  for (const m of maps) {
    const name = chosen.get(m);
    try {
      codecs.set(m, name === undefined || !btf ? undefined : runtime.btfCodec(btf, name));
    } catch (e) {
      throw new CliError(`--event-type ${name}: ${(e as Error).message}`);
    }
  }
  return codecs;
}

/**
 * Starts a reader per event map and prints every record until `signal` aborts; resolves when
 * all readers have stopped (and are closed). Nothing to read: resolves at once.
 */
export async function printEvents(c: Collection, decoders: EventDecoders, json: boolean, io: Output, outer: AbortSignal): Promise<void> {
  // One reader failing stops the others too (the error is the one reported).
  const failed = new AbortController();
  const signal = AbortSignal.any([outer, failed.signal]);
  const loops: Promise<number>[] = [];
  const readers: Reader[] = [];
  try {
    for (const [name, codec] of decoders) {
      const map = c.map(name);
      const reader: Reader = map.type === abi.MapType.RINGBUF ? new runtime.RingBufferReader(map) : new runtime.PerfEventReader(map);
      readers.push(reader);
      const where = (record: runtime.EventRecord) => (record.cpu >= 0 ? { map: name, cpu: record.cpu } : { map: name });
      const prefix = (record: runtime.EventRecord) => (record.cpu >= 0 ? `${name} cpu ${record.cpu}` : name);
      if (codec) {
        loops.push(reader.on((value: unknown, record: runtime.EventRecord) => io.out(json ? `${toJson({ ...where(record), value })}\n` : `${prefix(record)}: ${toJson(value)}\n`), { codec, signal }));
      } else {
        loops.push(reader.on((record: runtime.EventRecord) => io.out(json ? `${toJson({ ...where(record), bytes: record.data })}\n` : `${prefix(record)}: ${hex(record.data)}\n`), { signal }));
      }
    }
    await Promise.all(
      loops.map((l) =>
        l.catch((e: unknown) => {
          failed.abort();
          throw e;
        }),
      ),
    );
  } finally {
    failed.abort();
    await Promise.allSettled(loops);
    for (const r of readers) r.close();
  }
}
