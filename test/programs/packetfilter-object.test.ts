/**
 * The committed packetfilter object and the TypeScript that fills its maps agree on the layouts
 * they share (a change on one side only would make the program read garbage).
 */
import { describe, expect, it } from "vitest";
import { HASHED_LENGTHS, HIT_CHUNK, HIT_CHUNKS, HIT_SIZE, RULE_MAP_NAMES, RULE_SIZE } from "../../src/programs/packetfilter/generation.js";
import { SUMMARY_WORDS } from "../../src/programs/packetfilter/summary.js";
import { programObject } from "../helpers/struct-layout.js";

const { spec, layout } = programObject("packetfilter");

describe("packetfilter object", () => {
  it("struct generation has the layout generation.ts writes", () => {
    expect(layout("generation")).toEqual({ kind: "struct", size: 16, members: [["flags", 0], ["count", 4], ["length", 6], ["summary", 6 + 2 * HASHED_LENGTHS]] });
  });

  it("struct drop_event has the layout index.ts reads", () => {
    expect(layout("drop_event")).toEqual({ kind: "struct", size: 32, members: [["ns", 0], ["length", 8], ["family", 12], ["by_default", 13], ["prefixlen", 14], ["reserved", 15], ["src", 16]] });
  });

  it("struct rule and struct hit have the layouts generation.ts writes and reads", () => {
    expect(layout("rule")).toEqual({ kind: "struct", size: RULE_SIZE, members: [["action", 0], ["prefixlen", 4], ["counter", 8], ["reserved", 12], ["tag", 16]] });
    expect(layout("hit")).toEqual({ kind: "struct", size: HIT_SIZE, members: [["tag", 0], ["count", 8]] });
  });

  it("has every map the generations use, with the key and value sizes user space writes", () => {
    for (const name of [...RULE_MAP_NAMES, "verdicts"]) expect(spec.maps.has(name), name).toBe(true);
    expect(spec.maps.get("generations")).toMatchObject({ keySize: 4, valueSize: 16, maxEntries: 2 });
    expect(spec.maps.get("state")).toMatchObject({ keySize: 4, valueSize: 8, maxEntries: 1 });
    // Chunks of hit counters: the template's size is set at load (HIT_CHUNK per CPU).
    expect(spec.maps.get("hit_chunks")).toMatchObject({ typeName: "ARRAY_OF_MAPS", keySize: 4, maxEntries: HIT_CHUNKS });
    expect(spec.maps.get("hit_chunks")?.innerMap).toMatchObject({ typeName: "ARRAY", keySize: 4, valueSize: HIT_SIZE, maxEntries: HIT_CHUNK, flags: 0 });
    // Two slots, two families, two kinds of SUMMARY_BITS-bit bitmaps in u64 words.
    expect(spec.maps.get("summary")).toMatchObject({ typeName: "ARRAY", keySize: 4, valueSize: 8, maxEntries: 8 * SUMMARY_WORDS });
    const inner = (outer: string) => spec.maps.get(outer)?.innerMap;
    expect(inner("v4_hosts")).toMatchObject({ typeName: "HASH", keySize: 4, valueSize: RULE_SIZE });
    expect(inner("v6_hosts")).toMatchObject({ typeName: "HASH", keySize: 16, valueSize: RULE_SIZE });
    expect(inner("v4_prefix_hash")).toMatchObject({ typeName: "HASH", keySize: 8, valueSize: RULE_SIZE });
    expect(inner("v6_prefix_hash")).toMatchObject({ typeName: "HASH", keySize: 20, valueSize: RULE_SIZE });
    expect(inner("v4_prefixes")).toMatchObject({ typeName: "LPM_TRIE", keySize: 8, valueSize: RULE_SIZE, flags: 1 });
    expect(inner("v6_prefixes")).toMatchObject({ typeName: "LPM_TRIE", keySize: 20, valueSize: RULE_SIZE, flags: 1 });
  });
});
