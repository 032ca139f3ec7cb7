/**
 * The committed packetfilter object and the TypeScript that fills its maps agree on the layouts
 * they share (a change on one side only would make the program read garbage). The layouts come
 * from the generated bindings (packetfilter.gen.ts, kept fresh by test/gen/programs.test.ts); what
 * BTF does not tie to them is checked here: the inner maps' templates, which give sizes only.
 */
import { describe, expect, it } from "vitest";
import { HASHED_LENGTHS, HIT_CHUNK, HIT_CHUNKS } from "../../src/programs/packetfilter/rule-encoding.js";
import { RULE_MAP_NAMES } from "../../src/programs/packetfilter/rule-maps.js";
import { CounterCodec, DropEventCodec, GenerationCodec, HitCodec, RuleCodec, U32Codec, U64Codec, V4HostCodec, V4PrefixCodec, V6HostCodec, V6PrefixCodec } from "../../src/programs/packetfilter/packetfilter.gen.js";
import { SUMMARY_WORDS } from "../../src/programs/packetfilter/summary.js";
import { programObject } from "../helpers/struct-layout.js";

const { spec, layout } = programObject("packetfilter");

/** A generated record codec's layout, as the layout helper reads one from BTF. */
interface Layout {
  readonly size: number;
  readonly fields: { readonly [name: string]: { readonly offset: number } };
}
const codecLayout = (codec: Layout) => ({ kind: "struct", size: codec.size, members: Object.entries(codec.fields).map(([name, f]) => [name, f.offset]) });

describe("packetfilter object", () => {
  it("has in its BTF every struct user space reads or writes, laid out as the generated codecs say", () => {
    const codecs: Record<string, Layout> = { generation: GenerationCodec, counter: CounterCodec, drop_event: DropEventCodec, rule: RuleCodec, hit: HitCodec, v4_host: V4HostCodec, v6_host: V6HostCodec, v4_prefix: V4PrefixCodec, v6_prefix: V6PrefixCodec };
    for (const [name, codec] of Object.entries(codecs)) expect(layout(name), name).toEqual(codecLayout(codec));
  });

  it("has the member widths generation.ts reads and writes in place (u32 and u64 at the codecs' offsets)", () => {
    expect(RuleCodec.fields).toMatchObject({ action: { size: 4 }, prefixlen: { size: 4 }, counter: { size: 4 }, reserved: { size: 4 }, tag: { size: 8 } });
    expect(HitCodec.fields).toMatchObject({ tag: { size: 8 }, count: { size: 8 } });
    for (const codec of [V4PrefixCodec, V6PrefixCodec]) expect(codec.fields.prefixlen.size).toBe(4);
    expect([V4HostCodec.fields.addr.size, V4PrefixCodec.fields.addr.size, V6HostCodec.fields.addr.size, V6PrefixCodec.fields.addr.size]).toEqual([4, 4, 16, 16]);
  });

  it("struct generation holds HASHED_LENGTHS prefix lengths per family", () => {
    expect(HASHED_LENGTHS).toBe(4);
    expect(GenerationCodec.fields).toMatchObject({ count: { size: 2 }, length: { size: 2 * HASHED_LENGTHS }, summary: { size: 2 } });
  });

  it("has every map the generations use, with the key and value sizes of the generated codecs", () => {
    for (const name of [...RULE_MAP_NAMES, "verdicts"]) expect(spec.maps.has(name), name).toBe(true);
    expect(spec.maps.get("generations")).toMatchObject({ keySize: U32Codec.size, valueSize: GenerationCodec.size, maxEntries: 2 });
    expect(spec.maps.get("state")).toMatchObject({ keySize: U32Codec.size, valueSize: U64Codec.size, maxEntries: 1 });
    // Chunks of hit counters: the template's size is set at load (HIT_CHUNK per CPU).
    expect(spec.maps.get("hit_chunks")).toMatchObject({ typeName: "ARRAY_OF_MAPS", keySize: U32Codec.size, maxEntries: HIT_CHUNKS });
    expect(spec.maps.get("hit_chunks")?.innerMap).toMatchObject({ typeName: "ARRAY", keySize: U32Codec.size, valueSize: HitCodec.size, maxEntries: HIT_CHUNK, flags: 0 });
    // Two slots, two families, two kinds of SUMMARY_BITS-bit bitmaps in u64 words.
    expect(spec.maps.get("summary")).toMatchObject({ typeName: "ARRAY", keySize: U32Codec.size, valueSize: U64Codec.size, maxEntries: 8 * SUMMARY_WORDS });
    // The inner maps' templates give sizes, not types: they must be those of the key and rule codecs.
    const inner = (outer: string) => spec.maps.get(outer)?.innerMap;
    expect(inner("v4_hosts")).toMatchObject({ typeName: "HASH", keySize: V4HostCodec.size, valueSize: RuleCodec.size });
    expect(inner("v6_hosts")).toMatchObject({ typeName: "HASH", keySize: V6HostCodec.size, valueSize: RuleCodec.size });
    expect(inner("v4_prefix_hash")).toMatchObject({ typeName: "HASH", keySize: V4PrefixCodec.size, valueSize: RuleCodec.size });
    expect(inner("v6_prefix_hash")).toMatchObject({ typeName: "HASH", keySize: V6PrefixCodec.size, valueSize: RuleCodec.size });
    expect(inner("v4_prefixes")).toMatchObject({ typeName: "LPM_TRIE", keySize: V4PrefixCodec.size, valueSize: RuleCodec.size, flags: 1 });
    expect(inner("v6_prefixes")).toMatchObject({ typeName: "LPM_TRIE", keySize: V6PrefixCodec.size, valueSize: RuleCodec.size, flags: 1 });
    // The sizes the C source's comments name (a template's size is all the verifier sees).
    expect([V4HostCodec.size, V6HostCodec.size, V4PrefixCodec.size, V6PrefixCodec.size, RuleCodec.size, HitCodec.size]).toEqual([4, 16, 8, 20, 24, 16]);
  });
});
