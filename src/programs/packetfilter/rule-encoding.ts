/**
 * How generations and rules sit in the maps' bytes (the structs of packetfilter.bpf.c, through the
 * codecs generated from the object's BTF): generation flags, map kinds, and rules' keys and values
 * written and read in place (the bulk paths handle a million rules without an object each).
 */
import type { Family, Prefix } from "../common/net.js";
import type { Action } from "./config.js";
import { GenerationCodec, HitCodec, RuleCodec, V4HostCodec, V4PrefixCodec, V6HostCodec, V6PrefixCodec } from "./packetfilter.gen.js";

/** Flags of a generation (GEN_* in packetfilter.bpf.c). */
export const GEN_DEFAULT_BLOCK: Record<Family, number> = { ipv4: 0x1, ipv6: 0x2 };
export const GEN_MAPS: Record<Kind, Record<Family, number>> = {
  hosts: { ipv4: 0x4, ipv6: 0x20 },
  prefixes: { ipv4: 0x8, ipv6: 0x40 },
  prefix_hash: { ipv4: 0x10, ipv6: 0x80 },
};

/**
 * Prefixes of at most this many lengths live in a hash map (one lookup per length); more, in an
 * LPM trie. HASHED_LENGTHS of packetfilter.bpf.c: struct generation's `length` holds that many
 * u8 per family, `count` one.
 */
export const HASHED_LENGTHS = GenerationCodec.fields.length.size / GenerationCodec.fields.count.size;
export const FAMILY_INDEX: Record<Family, number> = { ipv4: 0, ipv6: 1 };
export const FAMILIES = ["ipv4", "ipv6"] as const;
export const ACTION_CODE: Record<Action, number> = { allow: 0, block: 1 };
/** Bytes of a struct rule and of a struct hit (their layouts: RuleCodec, HitCodec, generated from the object's BTF). */
export const RULE_SIZE = RuleCodec.size;
export const HIT_SIZE = HitCodec.size;
/** Where their members are (the bulk paths read them in place). */
const RULE = RuleCodec.fields;
export const HIT = HitCodec.fields;
/** Counters per chunk (per CPU), and the most chunks (HIT_CHUNK*, packetfilter.bpf.c). */
export const HIT_CHUNK_BITS = 12;
export const HIT_CHUNK = 1 << HIT_CHUNK_BITS;
export const HIT_CHUNKS = 16384;

/** Exact hosts (hash), prefixes in an LPM trie, or prefixes of few lengths in a hash. */
export type Kind = "hosts" | "prefixes" | "prefix_hash";
export const KINDS: readonly Kind[] = ["hosts", "prefixes", "prefix_hash"];
export const outerName = (family: Family, kind: Kind) => `${family === "ipv4" ? "v4" : "v6"}_${kind}` as const;
export const addressBytes = (family: Family): number => (family === "ipv4" ? 4 : 16);

/** The key of a hosts map (struct v4_host, v6_host: the address) and of the prefix maps (struct v4_prefix, v6_prefix: length, address). */
export const HOST_CODEC = { ipv4: V4HostCodec, ipv6: V6HostCodec } as const;
export const PREFIX_CODEC = { ipv4: V4PrefixCodec, ipv6: V6PrefixCodec } as const;
export const keySizeOf = (family: Family, kind: Kind): number => (kind === "hosts" ? HOST_CODEC : PREFIX_CODEC)[family].size;

export type OuterName = ReturnType<typeof outerName>;

/** A DataView of all of `bytes` (what the codecs read and write without a view per call). */
export const viewOf = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** The (little-endian) u64 at `at`, known to stay below 2^53 (a tag: one per generation), as a number: no bigint made. */
export const u64Number = (view: DataView, at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
function setU64Number(view: DataView, at: number, n: number): void {
  view.setUint32(at, n % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(n / 2 ** 32), true);
}

/**
 * A rule's key in its map, written at `at` of `out` (`view`, a DataView of it): struct v4_host /
 * v6_host (hosts), v4_prefix / v6_prefix (the others), in place at the codecs' field offsets
 * (see buildInner).
 */
export function writeKey(out: Uint8Array, view: DataView, at: number, prefix: Prefix, kind: Kind): void {
  if (kind === "hosts") {
    out.set(prefix.address, at + HOST_CODEC[prefix.family].fields.addr.offset);
    return;
  }
  const key = PREFIX_CODEC[prefix.family].fields;
  view.setUint32(at + key.prefixlen.offset, prefix.length, true);
  out.set(prefix.address, at + key.addr.offset);
}

/** A struct rule written at `at` of `out`, in place at RuleCodec's field offsets (see buildInner). */
export function writeRule(out: DataView, at: number, action: number, prefixlen: number, counter: number, tag: number): void {
  out.setUint32(at + RULE.action.offset, action, true);
  out.setUint32(at + RULE.prefixlen.offset, prefixlen, true);
  out.setUint32(at + RULE.counter.offset, counter, true);
  out.setUint32(at + RULE.reserved.offset, 0, true);
  setU64Number(out, at + RULE.tag.offset, tag);
}

/** The key at `at` of an inner map's keys: its address (a copy) and prefix length. */
export function readKey(keys: DataView, at: number, family: Family, kind: Kind): { address: Uint8Array; length: number } {
  if (kind === "hosts") return { address: HOST_CODEC[family].decode(keys, at).addr, length: addressBytes(family) * 8 };
  const key = PREFIX_CODEC[family].decode(keys, at);
  return { address: key.addr, length: key.prefixlen };
}

/**
 * Packed struct rule values. The bulk paths (a reload reads every rule of both slots) read the
 * members they need in place, at RuleCodec.fields' offsets: decoding a million rules would make
 * a million objects and bigints for the collector.
 */
export class StoredRules {
  private readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.view = viewOf(bytes);
  }

  action(i: number): number {
    return this.view.getUint32(i * RULE_SIZE + RULE.action.offset, true);
  }

  counter(i: number): number {
    return this.view.getUint32(i * RULE_SIZE + RULE.counter.offset, true);
  }

  /** The tag as a number (tags stay far below 2^53: one per generation). */
  tag(i: number): number {
    return u64Number(this.view, i * RULE_SIZE + RULE.tag.offset);
  }
}
