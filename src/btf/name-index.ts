/**
 * Finding types by name without decoding every name. The first lookups scan the type records
 * and compare name bytes in place (what libbpf does for every lookup); after a few, a hash
 * index over the name bytes is built once, so that thousands of lookups stay cheap. Names are
 * never turned into JavaScript strings, except the rare flavoured ones (`foo___v2`).
 */

/** How the index reads one blob: the name offset of every record, the string section. */
export interface NameSource {
  /** Name offset (in the base + own string space) of each type record, in id order. */
  readonly nameOffsets: Uint32Array;
  /** The blob's own string section. */
  readonly strings: Uint8Array;
  /** Offset of `strings` in the (base + own) string space. */
  readonly stringBase: number;
  /** Id of the first record. */
  readonly firstId: number;
}

/** Linear scans before the hash index pays off. */
const SCANS_BEFORE_INDEX = 24;
const UNDERSCORE = 0x5f;

function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

/** Start (in `strings`) of a record's name, or -1 for an anonymous or out-of-range name. */
function nameStart(src: NameSource, i: number): number {
  const off = src.nameOffsets[i] as number;
  const start = off - src.stringBase;
  return off === 0 || start < 0 || start >= src.strings.byteLength ? -1 : start;
}

/** Whether the NUL-terminated name at `start` equals `want` (bytes). */
function equalsAt(strings: Uint8Array, start: number, want: Uint8Array): boolean {
  if (start + want.byteLength >= strings.byteLength || strings[start + want.byteLength] !== 0) return false;
  for (let j = 0; j < want.byteLength; j++) if (strings[start + j] !== want[j]) return false;
  return true;
}

/** The CO-RE essential name: before the last `___` flanked by non-underscores. */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== "_" && name[i + 1] === "_" && name[i + 2] === "_" && name[i + 3] === "_" && name[i + 4] !== "_") {
      return name.slice(0, i + 1);
    }
  }
  return name;
}

/** True when the name at `start` has a `___` flavour suffix (checked on the bytes). */
function hasFlavour(strings: Uint8Array, start: number): boolean {
  for (let i = start + 1; strings[i + 3] !== undefined && strings[i] !== 0; i++) {
    if (strings[i] === UNDERSCORE && strings[i + 1] === UNDERSCORE && strings[i + 2] === UNDERSCORE && strings[i - 1] !== UNDERSCORE) {
      const next = strings[i + 3];
      if (next !== UNDERSCORE && next !== 0) return true;
    }
  }
  return false;
}

export class NameIndex {
  private scans = 0;
  private hashed: Map<number, number | number[]> | undefined;
  /** Flavoured names (`task_struct___v2`): essential name -> ids. */
  private flavoured: Map<string, number[]> | undefined;
  private readonly decoder = new TextDecoder();

  constructor(private readonly src: NameSource) {}

  /** Ids whose name is exactly `name`, in id order. */
  byName(name: string): number[] {
    const want = Buffer.from(name, "utf8");
    if (want.byteLength === 0) return [];
    if (!this.hashed && ++this.scans <= SCANS_BEFORE_INDEX) return this.scan(want);
    const index = this.index();
    const found = index.get(fnv1a(want, 0, want.byteLength));
    if (found === undefined) return [];
    const ids = typeof found === "number" ? [found] : found;
    return ids.filter((id) => equalsAt(this.src.strings, nameStart(this.src, id - this.src.firstId), want));
  }

  /** Ids whose essential name is `name`: `name` itself and its flavours, in id order. */
  byEssentialName(name: string): number[] {
    if (!this.hashed && this.scans < SCANS_BEFORE_INDEX) {
      this.scans++;
      return this.scan(Buffer.from(name, "utf8"), name);
    }
    const exact = this.byName(name);
    const flavours = this.flavours().get(name);
    return flavours ? [...exact, ...flavours].sort((a, b) => a - b) : exact;
  }

  /**
   * One pass over the records: names equal to `want`, and, with `essential`, also flavours of
   * it (`want___x`, decoded only when the bytes say so).
   */
  private scan(want: Uint8Array, essential?: string): number[] {
    const { nameOffsets, strings, stringBase } = this.src;
    const first = want[0];
    const n = want.byteLength;
    const limit = strings.byteLength;
    const out: number[] = [];
    for (let i = 0; i < nameOffsets.length; i++) {
      const start = (nameOffsets[i] as number) - stringBase;
      if (start < 0 || start >= limit || strings[start] !== first) continue;
      let j = 1;
      while (j < n && strings[start + j] === want[j]) j++;
      if (j < n) continue;
      const next = strings[start + n];
      if (next === 0) out.push(this.src.firstId + i);
      else if (essential !== undefined && next === UNDERSCORE && strings[start + n + 1] === UNDERSCORE && strings[start + n + 2] === UNDERSCORE) {
        const end = strings.indexOf(0, start);
        if (essentialName(this.decoder.decode(strings.subarray(start, end))) === essential) out.push(this.src.firstId + i);
      }
    }
    return out;
  }

  private index(): Map<number, number | number[]> {
    if (this.hashed) return this.hashed;
    const { nameOffsets, strings } = this.src;
    const index = new Map<number, number | number[]>();
    for (let i = 0; i < nameOffsets.length; i++) {
      const start = nameStart(this.src, i);
      if (start < 0) continue;
      let end = start;
      while (end < strings.byteLength && strings[end] !== 0) end++;
      const h = fnv1a(strings, start, end);
      const id = this.src.firstId + i;
      const known = index.get(h);
      if (known === undefined) index.set(h, id);
      else if (typeof known === "number") index.set(h, [known, id]);
      else known.push(id);
    }
    this.hashed = index;
    return index;
  }

  private flavours(): Map<string, number[]> {
    if (this.flavoured) return this.flavoured;
    const out = new Map<string, number[]>();
    const { nameOffsets, strings } = this.src;
    for (let i = 0; i < nameOffsets.length; i++) {
      const start = nameStart(this.src, i);
      if (start < 0 || !hasFlavour(strings, start)) continue;
      const end = strings.indexOf(0, start);
      const essential = essentialName(this.decoder.decode(strings.subarray(start, end < 0 ? strings.byteLength : end)));
      const list = out.get(essential) ?? [];
      list.push(this.src.firstId + i);
      out.set(essential, list);
    }
    this.flavoured = out;
    return out;
  }
}
