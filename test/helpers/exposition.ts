/**
 * A strict parser of the Prometheus text exposition format (0.0.4), written for the tests (no
 * package: the point is to reject what a lenient scraper would let through). It refuses: a
 * sample before its family's TYPE, HELP or TYPE given twice, a family's series not together, bad
 * metric or label names, a label twice in a series, bad escapes, a counter not named `_total` or
 * a `_total` that is not a counter, a negative counter, a series given twice, histogram buckets
 * without `le`, out of order or not cumulative, a missing +Inf bucket or one that differs from
 * `_count`, and text that does not end in a line feed.
 */

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  readonly help: string | undefined;
  readonly samples: ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function fail(line: number, why: string, text: string): never {
  throw new Error(`exposition line ${line}: ${why}: ${JSON.stringify(text)}`);
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return Number.NaN;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number.NaN - 1; // still NaN: checked below
  return Number(text);
}

function unescapeHelp(text: string, line: number): string {
  return text.replace(/\\(.?)/g, (_m, c: string) => (c === "\\" ? "\\" : c === "n" ? "\n" : fail(line, "bad escape in HELP", text)));
}

/** `{a="x",b="y"}` at the start of `text`: the labels and the rest of the text. */
function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let rest = text.slice(1);
  for (;;) {
    if (rest.startsWith("}")) return { labels, rest: rest.slice(1) };
    const name = LABEL_NAME.exec(rest)?.[0];
    if (!name || name.startsWith("__")) fail(line, "bad label name", text);
    if (name in labels) fail(line, `label ${name} twice`, text);
    rest = rest.slice(name.length);
    if (!rest.startsWith('="')) fail(line, "expected =\"", text);
    rest = rest.slice(2);
    let value = "";
    for (;;) {
      const c = rest[0];
      if (c === undefined || c === "\n") fail(line, "unterminated label value", text);
      if (c === '"') break;
      if (c === "\\") {
        const e = rest[1];
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else fail(line, "bad escape in label value", text);
        rest = rest.slice(2);
      } else {
        value += c;
        rest = rest.slice(1);
      }
    }
    labels[name] = value;
    rest = rest.slice(1);
    if (rest.startsWith(",")) rest = rest.slice(1);
    else if (!rest.startsWith("}")) fail(line, "expected , or } after a label", text);
  }
}

const seriesKey = (name: string, labels: Record<string, string>, without?: string) =>
  `${name}{${Object.keys(labels)
    .filter((k) => k !== without)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(",")}}`;

/** The families of an exposition, in order; throws on anything the format does not allow. */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("exposition: does not end in a line feed");
  const families = new Map<string, ParsedFamily>();
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: ParsedFamily | undefined;
  const lines = text.split("\n").slice(0, -1);
  const familyOf = (sample: string): string | undefined => {
    if (families.has(sample)) return sample;
    const base = /^(.*)_(bucket|sum|count)$/.exec(sample)?.[1];
    return base !== undefined && families.get(base)?.type === "histogram" ? base : undefined;
  };
  const enter = (name: string, n: number, raw: string) => {
    if (current?.name === name) return;
    if (current) finished.add(current.name);
    if (finished.has(name)) fail(n, `family ${name}'s lines are not together`, raw);
  };
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw === "") fail(n, "empty line", raw);
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
      if (!m) return; // another comment
      const [, kind, name = "", rest = ""] = m;
      if (METRIC_NAME.exec(name)?.[0] !== name) fail(n, "bad metric name", raw);
      enter(name, n, raw);
      let family = families.get(name);
      if (kind === "TYPE") {
        if (family?.type && family.samples.length > 0) fail(n, "TYPE after samples", raw);
        if (family && (family as { typed?: boolean }).typed) fail(n, "TYPE twice", raw);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) fail(n, "unknown type", raw);
        const type = rest as ParsedFamily["type"];
        if (type === "counter" && !name.endsWith("_total")) fail(n, "a counter not named _total", raw);
        if (type !== "counter" && name.endsWith("_total")) fail(n, "_total on a non-counter", raw);
        family = { name, type, help: family?.help, samples: [] };
        (family as { typed?: boolean }).typed = true;
        families.set(name, family);
      } else {
        if (family?.help !== undefined) fail(n, "HELP twice", raw);
        const help = unescapeHelp(rest, n);
        family = family ? { ...family, help } : { name, type: "untyped", help, samples: [] };
        if ((families.get(name) as { typed?: boolean } | undefined)?.typed) (family as { typed?: boolean }).typed = true;
        families.set(name, family);
      }
      current = family;
      return;
    }
    const name = METRIC_NAME.exec(raw)?.[0];
    if (!name) fail(n, "bad metric name", raw);
    const base = familyOf(name);
    const family = base === undefined ? undefined : families.get(base);
    if (!family || !(family as { typed?: boolean }).typed) fail(n, "a sample without its family's TYPE before it", raw);
    enter(family.name, n, raw);
    current = family;
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, n));
    const parts = rest.split(" ");
    if (parts[0] !== "" || parts.length < 2 || parts.length > 3 || parts.slice(1).includes("")) fail(n, "expected one space, a value and perhaps a timestamp", raw);
    const value = parseValue(parts[1] ?? "");
    if (Number.isNaN(value) && parts[1] !== "NaN") fail(n, "bad value", raw);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) fail(n, "bad timestamp", raw);
    const key = seriesKey(name, labels);
    if (series.has(key)) fail(n, "series given twice", raw);
    series.add(key);
    if (family.type === "counter" && !(value >= 0)) fail(n, "a counter below 0", raw);
    if (family.type === "histogram") {
      if (name === `${family.name}_bucket` && !("le" in labels)) fail(n, "a bucket without le", raw);
      if (name !== `${family.name}_bucket` && "le" in labels) fail(n, "le outside a bucket", raw);
      if (name === family.name) fail(n, "a histogram's sample without _bucket, _sum or _count", raw);
    } else if (name !== family.name) fail(n, `a ${family.type} with a sample named ${name}`, raw);
    family.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: ParsedFamily): void {
  const groups = new Map<string, { buckets: { le: number; value: number }[]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const key = seriesKey("", s.labels as Record<string, string>, "le");
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith("_bucket")) {
      const le = parseValue(s.labels.le ?? "");
      if (Number.isNaN(le)) throw new Error(`${f.name}${key}: bad le '${s.labels.le}'`);
      g.buckets.push({ le, value: s.value });
    } else if (s.name.endsWith("_count")) g.count = s.value;
    else g.sum = s.value;
  }
  for (const [key, g] of groups) {
    if (g.count === undefined || g.sum === undefined) throw new Error(`${f.name}${key}: no _count or no _sum`);
    for (let i = 1; i < g.buckets.length; i++) {
      const a = g.buckets[i - 1];
      const b = g.buckets[i];
      if (!a || !b) continue;
      if (!(b.le > a.le)) throw new Error(`${f.name}${key}: bucket le=${b.le} after le=${a.le}`);
      if (b.value < a.value) throw new Error(`${f.name}${key}: buckets not cumulative (le=${b.le}: ${b.value} < ${a.value})`);
    }
    const inf = g.buckets.at(-1);
    if (!inf || inf.le !== Infinity) throw new Error(`${f.name}${key}: no le="+Inf" bucket`);
    if (inf.value !== g.count) throw new Error(`${f.name}${key}: +Inf bucket ${inf.value} != _count ${g.count}`);
  }
}

/** The value of one series (labels matched exactly); throws when there is none. */
export function sampleValue(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
  const family = families.get(base);
  const want = seriesKey(name, labels);
  const s = family?.samples.find((x) => seriesKey(x.name, x.labels as Record<string, string>) === want);
  if (!s) throw new Error(`no series ${want} in the exposition`);
  return s.value;
}
