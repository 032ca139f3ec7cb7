// Invariant: generated codecs agree byte for byte with btfCodec (and with clang's layouts and initializers).
/**
 * Generated codecs against the runtime's btfCodec (random layouts: bitfields, unions, anonymous
 * members, nested arrays, padding) and, where clang-19 is installed, against clang itself: the
 * layouts clang computes are the generated ones, and the bytes clang writes for random
 * initializers are what the generated codecs read and write.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readCollectionSpec, runtime } from "../../src/index.js";
import { generateTypes } from "../../src/gen/index.js";
import { clang } from "../helpers/llvm.js";
import { importGenerated, SRC_INDEX, type AnyCodec } from "./generated.js";
import { BtfBuilder, C_PRELUDE, cRecord, layout, recordValue } from "./random-layout.js";
import { itWith } from "../helpers/oracle.js";
import { assertProperty } from "../helpers/property.js";

/** btfCodec's value in the generated codec's shape: anonymous members (`_<i>`) merged, byte arrays as Uint8Array. */
function normalize(v: unknown, like: unknown): unknown {
  if (like instanceof Uint8Array && Array.isArray(v)) return Uint8Array.from(v as number[]);
  if (Array.isArray(v)) return v.map((x, i) => normalize(x, (like as unknown[] | undefined)?.[i]));
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    const flatten = (o: Record<string, unknown>) => {
      for (const [k, x] of Object.entries(o)) {
        if (/^_\d+$/.test(k) && x && typeof x === "object" && !Array.isArray(x)) flatten(x as Record<string, unknown>);
        else out[k] = x;
      }
    };
    flatten(v as Record<string, unknown>);
    for (const k of Object.keys(out)) out[k] = normalize(out[k], (like as Record<string, unknown> | undefined)?.[k]);
    return out;
  }
  return v;
}

describe("generated codecs", () => {
  it("agree with btfCodec byte for byte on random layouts and random bytes", async () => {
    await assertProperty(
      fc.asyncProperty(layout, fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (l, seed) => {
        const b = new BtfBuilder();
        const { id, size } = b.record(l.union, l.members, "sample");
        const btf = b.btf();
        const mod = await importGenerated<Record<string, AnyCodec>>(generateTypes(btf, [id], { byteOrder: "little", importFrom: SRC_INDEX }));
        const gen = mod.SampleCodec as AnyCodec;
        const rt = runtime.btfCodec(btf, id);
        expect(gen.size).toBe(size);
        expect(rt.size).toBe(size);
        const bytes = new Uint8Array(size + 3);
        let x = seed;
        for (let i = 0; i < bytes.length; i++) bytes[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
        // Read at an offset, from a Uint8Array and a DataView alike.
        const value = gen.decode(bytes, 3);
        expect(gen.decode(new DataView(bytes.buffer), 3)).toEqual(value);
        expect(normalize(rt.decode(bytes, 3), value)).toEqual(value);
        // Written back: the same bytes as btfCodec writes for its own reading.
        const a = new Uint8Array(size);
        const r = new Uint8Array(size);
        gen.encode(value, a);
        rt.encode(rt.decode(bytes, 3), r);
        expect([...a]).toEqual([...r]);
        // And read again: the same value (a fixed point after one round).
        expect(gen.decode(a)).toEqual(gen.decode(a.slice()));
        const again = new Uint8Array(size);
        gen.encode(gen.decode(a), again);
        expect([...again]).toEqual([...a]);
      }),
      { numRuns: 80 },
    );
  });

  itWith((clang ? undefined : "clang-19 is not installed"))("match clang: its sizes and offsets, and the bytes it writes for random initializers (both byte orders)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tsebpf-gen-clang-"));
    await assertProperty(
      fc.asyncProperty(
        fc.array(layout.chain((l) => recordValue(l.union, l.members).map((value) => ({ ...l, value }))), { minLength: 1, maxLength: 10 }),
        async (samples) => {
          const c = [C_PRELUDE, ...samples.map((s, i) => `${cRecord(`s${i}`, s.union, s.members)}\n${s.union ? "union" : "struct"} s${i} v${i} = ${s.value.c};`)].join("\n\n");
          writeFileSync(join(dir, "layouts.bpf.c"), c);
          for (const order of ["bpfel", "bpfeb"] as const) {
            const object = join(dir, `layouts.${order}.o`);
            const r = spawnSync(clang as string, ["-target", order, "-O2", "-g", "-c", join(dir, "layouts.bpf.c"), "-o", object], { encoding: "utf8" });
            expect(r.status, `${r.stderr}\n${c}`).toBe(0);
            const spec = readCollectionSpec(readFileSync(object));
            const btf = spec.btf as NonNullable<typeof spec.btf>;
            const mod = await importGenerated<Record<string, AnyCodec>>(generateTypes(btf, samples.map((s, i) => `${s.union ? "union" : "struct"} s${i}`), { importFrom: SRC_INDEX }));
            for (const [i, s] of samples.entries()) {
              const codec = mod[`S${i}Codec`] as AnyCodec;
              // Layout: the BTF built here for the same declaration is what clang wrote.
              const b = new BtfBuilder();
              const mine = b.record(s.union, s.members, `s${i}`);
              const ours = b.btf().type(mine.id);
              const theirs = btf.type(btf.find(`s${i}`, s.union ? "union" : "struct") as number);
              expect(codec.size, c).toBe(mine.size);
              expect(theirs && "members" in theirs ? theirs.members.map((m) => [m.name, m.bitOffset, m.bitSize]) : [], c).toEqual(ours && "members" in ours ? ours.members.map((m) => [m.name, m.bitOffset, m.bitSize]) : []);
              for (const m of s.members) if (m.name) expect(codec.fields?.[m.name]?.offset, `${m.name}\n${c}`).toBe(Math.floor(((ours && "members" in ours ? ours.members.find((x) => x.name === m.name)?.bitOffset : 0) ?? 0) / 8));
              // Bytes: what clang wrote reads as the initializer's values, and they write back as those bytes.
              const variable = spec.variables.get(`v${i}`);
              const data = spec.maps.get(variable?.map ?? "")?.data as Uint8Array;
              const bytes = data.subarray(variable?.offset ?? 0, (variable?.offset ?? 0) + codec.size);
              expect(codec.decode(bytes), `${order} v${i}\n${c}`).toMatchObject(s.value.js as object);
              const out = new Uint8Array(codec.size);
              codec.encode(s.value.js, out);
              expect([...out], `${order} v${i}\n${c}`).toEqual([...bytes]);
            }
          }
        },
      ),
      { numRuns: 6 },
    );
  });
});
