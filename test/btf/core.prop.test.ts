// Invariant: a CO-RE field relocation against a derived target is the member's true target offset or poison, never a wrong offset.
/**
 * CO-RE property: random local structs (nested structs and unions, anonymous members, arrays,
 * bitfields, pointers), and a target derived from each by shuffling members, inserting padding,
 * resizing integers, resizing arrays, wrapping members in anonymous structs, flattening
 * anonymous members, turning structs into unions, retyping and removing members, renaming the
 * nested types, flavouring the root and adding decoy types. For every field access of the local
 * type, FIELD_BYTE_OFFSET resolves to the member's offset in the target, computed here from the
 * model by names (for a bitfield: a load unit that holds it, with shifts that extract it), or the
 * relocation is poisoned exactly when the member is gone, incompatible, or past the array's end.
 * Never a wrong offset.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Btf, CoreReloKind, marshalBtf, type BtfType } from "../../src/btf/index.js";
import * as asm from "../../src/asm/index.js";
import { CandidateCache, CoreError, patchInstruction, resolveCoreRelocation } from "../../src/btf/core/index.js";
import { btfTypesWithTowers } from "./arbitrary-btf.js";
import { assertProperty } from "../helpers/property.js";

// ---- the model -----------------------------------------------------------------------------

type Ty =
  | { readonly k: "int"; readonly size: 1 | 2 | 4 | 8; readonly signed: boolean }
  | { readonly k: "ptr" }
  | { readonly k: "array"; readonly elem: Ty; readonly n: number }
  | { readonly k: "comp"; readonly union: boolean; readonly name: string; readonly members: readonly Mem[] };
/** A member; `name` "" for an anonymous struct/union; `bits` > 0 for an integer bitfield. */
interface Mem {
  readonly name: string;
  readonly ty: Ty;
  readonly bits: number;
}
type Comp = Extract<Ty, { k: "comp" }>;

interface Layout {
  readonly size: number;
  readonly align: number;
  /** Bit offset of each member. */
  readonly offsets: readonly number[];
}

const layouts = new WeakMap<Ty, Layout>();
const roundUp = (v: number, a: number) => Math.ceil(v / a) * a;

/** C layout (natural alignment; bitfields packed in units of their type, never straddling one). */
function layout(ty: Ty): Layout {
  const known = layouts.get(ty);
  if (known) return known;
  let out: Layout;
  switch (ty.k) {
    case "int":
      out = { size: ty.size, align: ty.size, offsets: [] };
      break;
    case "ptr":
      out = { size: 8, align: 8, offsets: [] };
      break;
    case "array": {
      const e = layout(ty.elem);
      out = { size: e.size * ty.n, align: e.align, offsets: [] };
      break;
    }
    case "comp": {
      let bit = 0;
      let align = 1;
      let end = 0;
      const offsets: number[] = [];
      for (const m of ty.members) {
        const l = layout(m.ty);
        align = Math.max(align, l.align);
        let at: number;
        if (ty.union) {
          at = 0;
        } else if (m.bits > 0) {
          const unit = l.size * 8;
          at = Math.floor(bit / unit) === Math.floor((bit + m.bits - 1) / unit) ? bit : roundUp(bit, unit);
          bit = at + m.bits;
        } else {
          at = roundUp(bit, l.align * 8);
          bit = at + l.size * 8;
        }
        offsets.push(at);
        end = Math.max(end, m.bits > 0 ? at + m.bits : at + l.size * 8);
      }
      out = { size: roundUp(Math.ceil(end / 8), align), align, offsets };
      break;
    }
  }
  layouts.set(ty, out);
  return out;
}

/** The model as BTF types (ids 1..n). */
function emit(root: Comp, extra: (list: BtfType[], ints: (size: number, signed: boolean) => number) => void = () => {}): Btf {
  const list: BtfType[] = [];
  const intIds = new Map<string, number>();
  const intId = (size: number, signed: boolean): number => {
    const key = `${size}${signed}`;
    let id = intIds.get(key);
    if (id === undefined) {
      list.push({ kind: "int", name: `${signed ? "s" : "u"}${size * 8}`, size, signed, char: false, bool: false, bitOffset: 0, bits: size * 8 });
      id = list.length;
      intIds.set(key, id);
    }
    return id;
  };
  const go = (ty: Ty): number => {
    switch (ty.k) {
      case "int":
        return intId(ty.size, ty.signed);
      case "ptr":
        list.push({ kind: "ptr", name: "", type: 0 });
        return list.length;
      case "array": {
        const elem = go(ty.elem);
        list.push({ kind: "array", name: "", type: elem, indexType: intId(4, false), nelems: ty.n });
        return list.length;
      }
      case "comp": {
        list.push({ kind: "int", name: "placeholder", size: 1, signed: false, char: false, bool: false, bitOffset: 0, bits: 8 });
        const id = list.length;
        const l = layout(ty);
        const members = ty.members.map((m, i) => ({ name: m.name, type: go(m.ty), bitOffset: l.offsets[i] as number, bitSize: m.bits }));
        list[id - 1] = { kind: ty.union ? "union" : "struct", name: ty.name, size: l.size, members, bitfields: ty.members.some((m) => m.bits > 0) };
        return id;
      }
    }
  };
  extra(list, intId);
  go(root);
  return new Btf(marshalBtf(list));
}

// ---- random local types ----------------------------------------------------------------------

type RawTy =
  | { k: "int"; size: 1 | 2 | 4 | 8; signed: boolean }
  | { k: "ptr" }
  | { k: "array"; elem: RawTy; n: number }
  | { k: "comp"; union: boolean; named: boolean; members: RawMem[] };
interface RawMem {
  anon: boolean;
  bits: number;
  ty: RawTy;
}

const intArb = fc.record({ k: fc.constant("int" as const), size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), signed: fc.boolean() });
const { comp: compArb } = fc.letrec<{ ty: RawTy; array: RawTy; comp: RawTy; member: RawMem }>((tie) => ({
  ty: fc.oneof({ maxDepth: 3, depthSize: "small" }, { arbitrary: intArb, weight: 5 }, { arbitrary: fc.constant({ k: "ptr" as const }), weight: 1 }, { arbitrary: tie("array"), weight: 2 }, { arbitrary: tie("comp"), weight: 3 }),
  array: fc.record({ k: fc.constant("array" as const), elem: tie("ty"), n: fc.integer({ min: 1, max: 5 }) }),
  comp: fc.record({ k: fc.constant("comp" as const), union: fc.integer({ min: 0, max: 4 }).map((x) => x === 0), named: fc.boolean(), members: fc.array(tie("member"), { minLength: 1, maxLength: 6 }) }),
  member: fc.record({ anon: fc.boolean(), bits: fc.integer({ min: 0, max: 40 }), ty: tie("ty") }),
}));

/** Gives every member a unique name (so that lookups through anonymous members are unambiguous) and fixes up bitfields. */
function finish(raw: RawTy, root: boolean): Comp {
  let next = 0;
  let types = 0;
  const go = (r: RawTy): Ty => {
    switch (r.k) {
      case "int":
      case "ptr":
        return r;
      case "array":
        return { k: "array", elem: go(r.elem), n: r.n };
      case "comp":
        return {
          k: "comp",
          union: r.union,
          name: r.named ? `t${types++}` : "",
          members: r.members.map((m) => {
            const ty = go(m.ty);
            const anon = m.anon && ty.k === "comp";
            // A third of the integer members are bitfields of 1..size*8 bits.
            const bits = ty.k === "int" && !anon && m.bits % 3 === 0 ? 1 + (m.bits % (ty.size * 8)) : 0;
            return { name: anon ? "" : `f${next++}`, ty, bits };
          }),
        };
    }
  };
  const t = go(raw.k === "comp" ? raw : { k: "comp", union: false, named: true, members: [{ anon: false, bits: 0, ty: raw }] }) as Comp;
  return root ? { ...t, name: "root" } : t;
}

// ---- deriving a target ---------------------------------------------------------------------------

/** A small deterministic generator, so that a failing seed replays. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    chance: (p: number) => next() < p,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T,
  };
}
type Rng = ReturnType<typeof prng>;

function mutate(ty: Ty, rng: Rng, names: { pad: number; type: number }): Ty {
  switch (ty.k) {
    case "int":
      if (rng.chance(0.15)) return { k: "ptr" };
      return rng.chance(0.3) ? { ...ty, size: rng.pick([1, 2, 4, 8] as const) } : ty;
    case "ptr":
      return rng.chance(0.1) ? { k: "int", size: 8, signed: false } : ty;
    case "array":
      return { k: "array", elem: mutate(ty.elem, rng, names), n: rng.chance(0.3) ? rng.int(1, ty.n + 3) : ty.n };
    case "comp": {
      let members: Mem[] = [];
      for (const m of ty.members) {
        if (rng.chance(0.1)) continue; // removed
        let mt = mutate(m.ty, rng, names);
        let bits = m.bits;
        if (bits > 0 && mt.k === "int" && mt.size * 8 < bits) mt = { ...mt, size: 8 };
        if (mt.k !== "int") bits = 0;
        else if (bits > 0 && rng.chance(0.2)) bits = 0; // no longer a bitfield
        if (m.name === "" && mt.k === "comp" && rng.chance(0.25)) {
          members.push(...mt.members); // flattened into the parent
          continue;
        }
        members.push({ name: m.name, ty: mt, bits });
      }
      const pads = rng.int(0, 2);
      for (let i = 0; i < pads; i++) {
        members.splice(rng.int(0, members.length), 0, {
          name: `pad${names.pad++}`,
          ty: rng.chance(0.7) ? { k: "int", size: rng.pick([1, 2, 4, 8] as const), signed: rng.chance(0.5) } : { k: "array", elem: { k: "int", size: 1, signed: false }, n: rng.int(1, 9) },
          bits: 0,
        });
      }
      if (rng.chance(0.5)) {
        for (let i = members.length - 1; i > 0; i--) {
          const j = rng.int(0, i);
          [members[i], members[j]] = [members[j] as Mem, members[i] as Mem];
        }
      }
      if (members.length >= 2 && rng.chance(0.2)) {
        const start = rng.int(0, members.length - 1);
        const end = rng.int(start + 1, members.length);
        const wrapped: Comp = { k: "comp", union: rng.chance(0.3), name: "", members: members.slice(start, end) };
        members = [...members.slice(0, start), { name: "", ty: wrapped, bits: 0 }, ...members.slice(end)];
      }
      if (members.length === 0) members.push({ name: `pad${names.pad++}`, ty: { k: "int", size: 4, signed: true }, bits: 0 });
      const union = rng.chance(0.1) ? !ty.union : ty.union;
      const name = ty.name !== "" && rng.chance(0.5) ? `renamed${names.type++}` : ty.name;
      return { k: "comp", union, name, members };
    }
  }
}

// ---- accesses and what the target should say -----------------------------------------------------

type Step = { readonly name: string } | { readonly index: number };
interface Access {
  readonly raw: readonly number[];
  readonly steps: readonly Step[];
  readonly bitOffset: number;
  readonly ty: Ty;
  readonly bits: number;
}

/** Every access of the root's fields (array elements at the first, last and a middle index). */
function accesses(root: Comp, rootIndex: number): Access[] {
  const out: Access[] = [];
  const start = rootIndex * layout(root).size * 8;
  const walk = (ty: Ty, raw: number[], steps: Step[], bitOffset: number) => {
    if (ty.k === "comp") {
      const l = layout(ty);
      ty.members.forEach((m, i) => {
        const at = bitOffset + (l.offsets[i] as number);
        const r = [...raw, i];
        if (m.name === "") {
          walk(m.ty, r, steps, at);
          return;
        }
        const s = [...steps, { name: m.name }];
        out.push({ raw: r, steps: s, bitOffset: at, ty: m.ty, bits: m.bits });
        walk(m.ty, r, s, at);
      });
    } else if (ty.k === "array") {
      const size = layout(ty.elem).size;
      for (const index of new Set([0, ty.n - 1, Math.floor(ty.n / 2)])) {
        const r = [...raw, index];
        const s = [...steps, { index }];
        const at = bitOffset + index * size * 8;
        out.push({ raw: r, steps: s, bitOffset: at, ty: ty.elem, bits: 0 });
        walk(ty.elem, r, s, at);
      }
    }
  };
  walk(root, [rootIndex], [], start);
  return out;
}

/** May a local member of type `l` be read as a target member of type `t` (CO-RE's field rule)? */
function compatible(l: Ty, t: Ty): boolean {
  if (l.k === "comp" || t.k === "comp") return l.k === t.k;
  if (l.k === "array" || t.k === "array") return l.k === "array" && t.k === "array" && compatible(l.elem, t.elem);
  return l.k === t.k;
}

function findMember(ty: Comp, name: string, bitOffset: number): { m: Mem; bitOffset: number } | undefined {
  const l = layout(ty);
  for (let i = 0; i < ty.members.length; i++) {
    const m = ty.members[i] as Mem;
    const at = bitOffset + (l.offsets[i] as number);
    if (m.name === name) return { m, bitOffset: at };
    if (m.name === "" && m.ty.k === "comp") {
      const found = findMember(m.ty, name, at);
      if (found) return found;
    }
  }
  return undefined;
}

/** The target field an access reaches, by names, or undefined when CO-RE must poison. */
function expectedTarget(root: Comp, rootIndex: number, access: Access, local: Comp): { bitOffset: number; ty: Ty; bits: number } | undefined {
  let ty: Ty = root;
  let lty: Ty = local;
  let bitOffset = rootIndex * layout(root).size * 8;
  let bits = 0;
  for (const step of access.steps) {
    if ("name" in step) {
      if (ty.k !== "comp" || lty.k !== "comp") return undefined;
      const found = findMember(ty, step.name, bitOffset);
      const mine = findMember(lty, step.name, 0);
      if (!found || !mine || !compatible(mine.m.ty, found.m.ty)) return undefined;
      ty = found.m.ty;
      lty = mine.m.ty;
      bitOffset = found.bitOffset;
      bits = found.m.bits;
    } else {
      if (ty.k !== "array" || lty.k !== "array" || step.index >= ty.n) return undefined;
      ty = ty.elem;
      lty = lty.elem;
      bitOffset += step.index * layout(ty).size * 8;
      bits = 0;
    }
  }
  return { bitOffset, ty, bits };
}

// ---- the property ----------------------------------------------------------------------------------

describe("CO-RE field offsets on derived targets", () => {
  it("FIELD_BYTE_OFFSET is the member's offset in the target, or poison when it is gone — never a wrong offset", () => {
    let relocations = 0;
    let poisoned = 0;
    let moved = 0;
    assertProperty(
      fc.property(compArb, fc.noShrink(fc.integer()), fc.constantFrom(0, 0, 0, 1, 3), fc.boolean(), fc.boolean(), (raw, seed, rootIndex, flavourLocal, flavourTarget) => {
        const local = finish(raw, true);
        const rng = prng(seed);
        const target = mutate(local, rng, { pad: 0, type: 0 }) as Comp;
        const localRoot: Comp = { ...local, name: flavourLocal ? "root___old" : "root" };
        const targetRoot: Comp = { ...target, union: local.union, name: flavourTarget ? "root___v2" : "root" };
        const localBtf = emit(localRoot);
        const rootId = localBtf.find(localRoot.name, local.union ? "union" : "struct") as number;
        // Decoys: same name, other kinds (not candidates); other names (not candidates either).
        const targetBtf = emit(targetRoot, (list, intId) => {
          const i = intId(4, true);
          list.push({ kind: local.union ? "struct" : "union", name: "root", size: 4, bitfields: false, members: [{ name: "f0", type: i, bitOffset: 0, bitSize: 0 }] });
          list.push({ kind: "enum", name: "root", size: 4, signed: false, values: [{ name: "f0", value: 1 }] });
          list.push({ kind: local.union ? "union" : "struct", name: "rooted", size: 4, bitfields: false, members: [{ name: "f0", type: i, bitOffset: 0, bitSize: 0 }] });
          list.push({ kind: "typedef", name: "root", type: i });
        });
        const cache = new CandidateCache();
        for (const access of accesses(localRoot, rootIndex)) {
          const accessStr = access.raw.join(":");
          const r = (kind: CoreReloKind) => resolveCoreRelocation(localBtf, { insnOff: 0, typeId: rootId, accessStr, kind }, targetBtf, { cache });
          const res = r(CoreReloKind.FIELD_BYTE_OFFSET);
          const expected = expectedTarget(targetRoot, rootIndex, access, localRoot);
          relocations++;
          const where = `${accessStr} ${JSON.stringify(access.steps)}: ${res.description}`;
          if (access.bits === 0) expect(res.local, where).toBe(access.bitOffset / 8);
          if (!expected) {
            poisoned++;
            expect(res.poison, where).toBe(true);
            expect(r(CoreReloKind.FIELD_EXISTS).target, where).toBe(0);
            continue;
          }
          expect(res.poison, where).toBe(false);
          expect(r(CoreReloKind.FIELD_EXISTS).target, where).toBe(1);
          if (expected.bits === 0) {
            expect(res.target, where).toBe(expected.bitOffset / 8);
            const size = layout(expected.ty).size;
            expect(res.targetSize, where).toBe(size);
            expect(r(CoreReloKind.FIELD_BYTE_SIZE).target, where).toBe(size);
            if (res.target !== res.local) moved++;
            const lt = access.ty;
            const tt = expected.ty;
            if (access.bits === 0 && lt.k === "int" && tt.k === "int" && lt.size !== tt.size) {
              expect(res.resizeProblem !== undefined, where).toBe(lt.signed || tt.signed);
            }
          } else {
            // A bitfield: the load unit holds it and the shifts extract exactly its bits.
            const offset = Number(res.target);
            const size = Number(r(CoreReloKind.FIELD_BYTE_SIZE).target);
            expect([1, 2, 4, 8], where).toContain(size);
            expect(offset % size, where).toBe(0);
            expect(offset * 8 <= expected.bitOffset && expected.bitOffset + expected.bits <= (offset + size) * 8, where).toBe(true);
            // ...and stays inside the object (the unit is the field type's, which C aligns).
            expect(offset + size <= (rootIndex + 1) * layout(targetRoot).size, where).toBe(true);
            const lshift = Number(r(CoreReloKind.FIELD_LSHIFT_U64).target);
            const rshift = Number(r(CoreReloKind.FIELD_RSHIFT_U64).target);
            expect(rshift, where).toBe(64 - expected.bits);
            expect(lshift, where).toBe(64 - (expected.bitOffset - offset * 8 + expected.bits));
          }
        }
      }),
      { numRuns: 1200 },
    );
    // The generator exercises both outcomes, and offsets that actually move.
    if (process.env.CORE_DEBUG) console.log({ relocations, poisoned, moved });
    expect(relocations).toBeGreaterThan(5000);
    expect(poisoned).toBeGreaterThan(200);
    expect(moved).toBeGreaterThan(1000);
  });

  it("any access string, kind and type id: a resolution or a CoreError, nothing else; patching likewise", () => {
    const kinds = Object.values(CoreReloKind);
    assertProperty(
      fc.property(
        compArb,
        fc.noShrink(fc.integer()),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 2 ** 32 })), { minLength: 0, maxLength: 6 }),
        fc.constantFrom(...kinds),
        fc.integer({ min: 0, max: 40 }),
        fc.boolean(),
        (raw, seed, indices, kind, typeId, strict) => {
          const local = finish(raw, true);
          const target = mutate(local, prng(seed), { pad: 0, type: 0 }) as Comp;
          const localBtf = emit(local);
          const targetBtf = emit({ ...target, union: local.union, name: "root" });
          const accessStr = indices.join(":");
          let res;
          try {
            res = resolveCoreRelocation(localBtf, { insnOff: 8 * (typeId % 3), typeId, accessStr, kind }, targetBtf, { strict });
          } catch (e) {
            if (!(e instanceof CoreError)) throw e;
            expect(e.message).toContain(accessStr === "" ? "access" : accessStr);
            return;
          }
          for (const ins of [asm.mov64Imm(1, 0), asm.mov32Imm(1, 1), asm.ldx("w", 1, 2, 4), asm.ldImm64(1, 3), asm.exit()]) {
            try {
              const out = patchInstruction(ins, res, res.insnIndex, { strict });
              expect(out.length === 1 || (out.length === 2 && ins.opcode === asm.LD_IMM64)).toBe(true);
            } catch (e) {
              if (!(e instanceof CoreError)) throw e;
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it("arbitrary BTF (loops, towers past MAX_TYPE_DEPTH) on either side: every relocation resolves or throws CoreError, in bounded time", () => {
    const kinds = Object.values(CoreReloKind);
    let resolved = 0;
    let refused = 0;
    assertProperty(
      fc.property(
        compArb,
        btfTypesWithTowers,
        fc.array(fc.record({ name: fc.integer({ min: 0, max: 8 }), type: fc.nat() }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (raw, arbitrary, rootMembers, swap) => {
          const model = finish(raw, true);
          const derived = emit(model);
          // The arbitrary types, with a `struct root` whose members (named like the model's) are any of them.
          const n = arbitrary.length;
          const members = rootMembers.map((m, i) => ({ name: `f${m.name}`, type: 1 + (m.type % n), bitOffset: i * 32, bitSize: 0 }));
          const wild = new Btf(marshalBtf([...arbitrary, { kind: model.union ? "union" : "struct", name: "root", size: 8 * members.length, bitfields: false, members }]));
          const [local, target] = swap ? [wild, derived] : [derived, wild];
          const rootId = local.find("root", model.union ? "union" : "struct") as number;
          const tried = [...accesses(model, 0).map((a) => a.raw.join(":")), ...members.map((_, i) => `0:${i}`), "0"];
          for (const accessStr of tried.slice(0, 12)) {
            for (const kind of kinds) {
              try {
                resolveCoreRelocation(local, { insnOff: 0, typeId: rootId, accessStr, kind }, target);
                resolved++;
              } catch (e) {
                if (!(e instanceof CoreError)) throw e;
                expect(e.message).not.toContain("\n");
                refused++;
              }
            }
          }
        },
      ),
      { numRuns: 100 },
    );
    if (process.env.CORE_DEBUG) console.log({ resolved, refused });
    expect(resolved).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(500);
  });
});
