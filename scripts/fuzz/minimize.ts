/**
 * Byte-level minimization of a failing input against the object it was mutated from: the
 * differing bytes are put back to the original's (in halves, then one by one) while the failure
 * stays the same, then the tail is cut while it still does. What is left is the smallest change
 * to a real object that still fails — easy to read in a hex dump.
 */

/** Minimizes `failing` (derived from `original`) under `stillFails`, trying at most `budget` candidates. */
export function minimizeBytes(original: Uint8Array, failing: Uint8Array, stillFails: (candidate: Uint8Array) => boolean, budget = 2000): Uint8Array {
  let best: Uint8Array = failing.slice();
  let tries = 0;
  const attempt = (candidate: Uint8Array): boolean => {
    if (tries++ >= budget) return false;
    if (!stillFails(candidate)) return false;
    best = candidate;
    return true;
  };
  // 1. Put differing bytes back, in chunks halving down to single bytes.
  const diffs = () => {
    const out: number[] = [];
    for (let i = 0; i < best.length; i++) if (i < original.length && best[i] !== original[i]) out.push(i);
    return out;
  };
  for (let chunk = Math.max(1, diffs().length >> 1); ; chunk >>= 1) {
    const d = diffs();
    for (let start = 0; start < d.length; start += chunk) {
      const candidate = best.slice();
      for (const i of d.slice(start, start + chunk)) candidate[i] = original[i]!;
      attempt(candidate);
    }
    if (chunk <= 1 || tries >= budget) break;
  }
  // 2. Cut the tail: halves of what is left, then smaller steps.
  for (let step = best.length >> 1; step >= 1 && tries < budget; step >>= 1) {
    while (best.length - step >= 0 && attempt(best.subarray(0, best.length - step).slice()));
  }
  return best;
}

/** How many bytes of `bytes` differ from `original` (bytes past the original's end count). */
export function differingBytes(original: Uint8Array, bytes: Uint8Array): number {
  let n = Math.max(0, bytes.length - original.length);
  for (let i = 0; i < Math.min(bytes.length, original.length); i++) if (bytes[i] !== original[i]) n++;
  return n;
}
