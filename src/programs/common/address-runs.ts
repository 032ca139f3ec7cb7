/**
 * Large rule lists in YAML, fast: a file of a million `- 10.1.2.0/24` lines takes the yaml
 * package many seconds and over a gigabyte to parse. Runs of such lines (block sequence items
 * that are bare addresses or prefixes) are taken out before parsing, each replaced by one
 * placeholder item, and put back into the parsed lists. The result is exactly what the yaml
 * package gives for the whole text; where that cannot be made sure (a placeholder that did not
 * come back as a list item, a %YAML directive, any error: its line would be off), the caller
 * parses the text as it is.
 */

/**
 * An item line whose scalar YAML 1.2 reads as the string it is: only address characters, not
 * ending in ':' (that would be a mapping key), and with a ':' or a '/' or two dots (so never a
 * number).
 */
const ITEM = /^( *)- ([0-9A-Fa-f.:/]*[0-9A-Fa-f./])[ \t]*$/;
const STRING_ONLY = /[:/]|\..*\./;
/** Fewer lines than this are left to the yaml package as they are. */
const MIN_LINES = 256;

export interface AddressRuns {
  /** The text with each run replaced by a placeholder item. */
  readonly text: string;
  /** Puts the runs back into a parsed document; undefined if any placeholder is not a list item. */
  restore(document: unknown): unknown;
}

/** The runs of address items in a YAML text, or undefined when there are too few to matter. */
export function takeAddressRuns(text: string, minLines = MIN_LINES): AddressRuns | undefined {
  if (/^%YAML/m.test(text)) return undefined;
  const lines = text.split("\n");
  const kept: string[] = [];
  const nonce = Math.random().toString(36).slice(2, 10);
  const runs: string[][] = [];
  let taken = 0;
  let indent = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const m = line.length < 200 ? ITEM.exec(line.endsWith("\r") ? line.slice(0, -1) : line) : null;
    const value = m?.[2];
    if (!m || value === undefined || !STRING_ONLY.test(value)) {
      indent = -1;
      kept.push(line);
      continue;
    }
    const spaces = m[1]?.length ?? 0;
    const run = runs.at(-1);
    if (spaces === indent && run) {
      run.push(value);
    } else {
      runs.push([value]);
      kept.push(`${" ".repeat(spaces)}- tsebpf.run.${nonce}.${runs.length - 1}`);
      indent = spaces;
    }
    taken++;
  }
  if (taken < minLines) return undefined;
  const placeholder = new RegExp(`^tsebpf\\.run\\.${nonce}\\.(\\d+)$`);
  return {
    text: kept.join("\n"),
    restore(document: unknown): unknown {
      let restored = 0;
      const walk = (v: unknown): unknown => {
        if (Array.isArray(v)) {
          const out: unknown[] = [];
          for (const item of v) {
            const n = typeof item === "string" ? placeholder.exec(item)?.[1] : undefined;
            const run = n === undefined ? undefined : runs[Number(n)];
            if (run) {
              for (const value of run) out.push(value);
              restored++;
            } else out.push(walk(item));
          }
          return out;
        }
        if (v !== null && typeof v === "object") {
          for (const [k, x] of Object.entries(v)) (v as Record<string, unknown>)[k] = walk(x);
        }
        return v;
      };
      const result = walk(document);
      return restored === runs.length ? result : undefined;
    },
  };
}
