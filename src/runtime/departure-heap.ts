/**
 * A binary min-heap of items keyed by (departure, seq): the packets a release thread holds
 * (packet-release.ts). Pure, and self-contained on purpose: the class is also sent as source
 * text to the release thread (syscall/release-worker.ts), so it refers to nothing outside
 * itself.
 */
export class DepartureHeap<T> {
  private departures: number[] = [];
  private seqs: number[] = [];
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Adds `item`, due at `departure`; among equal departures the lower `seq` leaves first. */
  push(departure: number, seq: number, item: T): void {
    const d = this.departures;
    const s = this.seqs;
    const v = this.items;
    let i = v.length;
    d.push(departure);
    s.push(seq);
    v.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pd = d[p] as number;
      if (pd < departure || (pd === departure && (s[p] as number) <= seq)) break;
      d[i] = pd;
      s[i] = s[p] as number;
      v[i] = v[p] as T;
      i = p;
    }
    d[i] = departure;
    s[i] = seq;
    v[i] = item;
  }

  /** The earliest departure, Infinity when empty. */
  peekDeparture(): number {
    return this.items.length === 0 ? Infinity : (this.departures[0] as number);
  }

  /** Removes the earliest item (undefined when empty). */
  pop(): T | undefined {
    const d = this.departures;
    const s = this.seqs;
    const v = this.items;
    const n = v.length;
    if (n === 0) return undefined;
    const top = v[0] as T;
    const lastD = d.pop() as number;
    const lastS = s.pop() as number;
    const lastV = v.pop() as T;
    const size = n - 1;
    if (size === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const r = l + 1;
      let c = l;
      if (r < size && ((d[r] as number) < (d[l] as number) || ((d[r] as number) === (d[l] as number) && (s[r] as number) < (s[l] as number)))) c = r;
      const cd = d[c] as number;
      if (lastD < cd || (lastD === cd && lastS <= (s[c] as number))) break;
      d[i] = cd;
      s[i] = s[c] as number;
      v[i] = v[c] as T;
      i = c;
    }
    d[i] = lastD;
    s[i] = lastS;
    v[i] = lastV;
    return top;
  }

  /**
   * Removes every item whose departure is at or before `now` (all of them for Infinity) and
   * passes each to `fn` with its departure, in (departure, seq) order; returns how many.
   */
  takeDue(now: number, fn: (item: T, departure: number) => void): number {
    let n = 0;
    while (this.items.length > 0 && (this.departures[0] as number) <= now) {
      const departure = this.departures[0] as number;
      fn(this.pop() as T, departure);
      n++;
    }
    return n;
  }
}
