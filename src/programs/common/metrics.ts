/**
 * The Prometheus text exposition format (version 0.0.4) of a program's counters: metric families
 * with their HELP and TYPE lines, counters (named `…_total`), gauges and histograms (cumulative
 * `_bucket{le=…}` series, `_sum`, `_count`). Names and label names are checked, label values and
 * help text escaped; a family written twice, a series repeated or buckets out of order are errors
 * (a bug in the program's mapping, never something a scraper should see).
 */
import { TsebpfError } from "../../errors.js";

export type MetricType = "counter" | "gauge" | "histogram";
export type Labels = Readonly<Record<string, string>>;
export type MetricValue = number | bigint;

/** One series of a counter or gauge. */
export interface Sample {
  readonly labels?: Labels;
  readonly value: MetricValue;
}

/**
 * One series of a histogram: per bucket its upper bound and the observations in it alone (not
 * cumulative: the writer adds them up), bounds increasing; `above` counts observations above the
 * last bound (the +Inf bucket gets the total).
 */
export interface HistogramSample {
  readonly labels?: Labels;
  readonly buckets: readonly { readonly le: number; readonly count: MetricValue }[];
  readonly above?: MetricValue;
  readonly sum: number;
}

/**
 * A family's series. Counters and gauges may come from an async iterable of batches of series
 * (read as they are written, a large set across turns of the event loop; a batch per await keeps
 * the cost of awaiting off each series): only the async writer (expositionAsync, what the metrics
 * server uses) writes those.
 */
export type MetricFamily =
  | { readonly name: string; readonly help: string; readonly type: "counter" | "gauge"; readonly samples: Iterable<Sample> | AsyncIterable<readonly Sample[]> }
  | { readonly name: string; readonly help: string; readonly type: "histogram"; readonly samples: Iterable<HistogramSample> };

export class MetricsError extends TsebpfError {
  override readonly name = "MetricsError";
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The content type of this format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A label value inside double quotes: backslash, double quote and line feed escaped. */
export const escapeLabelValue = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
/** HELP text: backslash and line feed escaped. */
export const escapeHelp = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** A sample value: integers exactly (bigint too), floats in shortest form, ±Inf and NaN as the format spells them. */
export function formatValue(v: MetricValue): string {
  if (typeof v === "bigint") return v.toString();
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function checkName(family: string, name: string): void {
  if (!METRIC_NAME.test(name)) throw new MetricsError(`metric ${family}: '${name}' is not a valid metric name`);
}

function labelText(family: string, labels: Labels | undefined, extra?: [string, string]): string {
  const entries = Object.entries(labels ?? {});
  if (extra) entries.push(extra);
  if (entries.length === 0) return "";
  const seen = new Set<string>();
  const parts = entries.map(([k, v]) => {
    if (!LABEL_NAME.test(k) || k.startsWith("__")) throw new MetricsError(`metric ${family}: '${k}' is not a valid label name`);
    if (seen.has(k)) throw new MetricsError(`metric ${family}: label ${k} given twice`);
    seen.add(k);
    return `${k}="${escapeLabelValue(v)}"`;
  });
  return `{${parts.join(",")}}`;
}

/** Series written per piece of a family's text. */
const SERIES_PER_PIECE = 256;

/** The text of one family (its lines, each ending in a line feed). */
export function writeFamily(f: MetricFamily): string {
  return [...familyPieces(f)].join("");
}

/** The same in pieces of at most SERIES_PER_PIECE series (a million rules are not one string). */
export function* familyPieces(f: MetricFamily): Generator<string> {
  const w = new FamilyWriter(f);
  if (!(Symbol.iterator in f.samples)) throw new MetricsError(`metric ${f.name}: its series are read asynchronously (write it with expositionAsync)`);
  for (const s of f.samples) {
    const text = w.add(s);
    if (text !== undefined) yield text;
  }
  const rest = w.end();
  if (rest) yield rest;
}

/** The same, the series of an async iterable awaited as they come (a batch at a time). */
export async function* familyPiecesAsync(f: MetricFamily): AsyncGenerator<string> {
  if (Symbol.iterator in f.samples) {
    yield* familyPieces(f);
    return;
  }
  const w = new FamilyWriter(f);
  for await (const batch of f.samples) {
    for (const s of batch) {
      const text = w.add(s);
      if (text !== undefined) yield text;
    }
  }
  const rest = w.end();
  if (rest) yield rest;
}

/** One family's lines, series by series, handed out in pieces. */
class FamilyWriter {
  private lines: string[];
  private count = 0;
  private readonly series = new Set<string>();

  constructor(private readonly f: MetricFamily) {
    checkName(f.name, f.name);
    if (f.type === "counter" && !f.name.endsWith("_total")) throw new MetricsError(`metric ${f.name}: a counter's name ends in _total`);
    if (f.type !== "counter" && f.name.endsWith("_total")) throw new MetricsError(`metric ${f.name}: only counters end in _total`);
    if (f.type === "histogram" && /_(bucket|sum|count)$/.test(f.name)) throw new MetricsError(`metric ${f.name}: a histogram's name cannot end in _bucket, _sum or _count`);
    this.lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
  }

  /** Adds one series; returns a piece when SERIES_PER_PIECE series are waiting. */
  add(s: Sample | HistogramSample): string | undefined {
    const f = this.f;
    if (f.type === "histogram") {
      const h = s as HistogramSample;
      if (h.labels && "le" in h.labels) throw new MetricsError(`metric ${f.name}: 'le' is the histogram's own label`);
      this.unique(labelText(f.name, h.labels));
      let total = 0n;
      let last = -Infinity;
      for (const b of h.buckets) {
        if (!(b.le > last) || !Number.isFinite(b.le)) throw new MetricsError(`metric ${f.name}: bucket bounds must be finite and increasing (${b.le} after ${last})`);
        last = b.le;
        total += BigInt(b.count);
        this.lines.push(`${f.name}_bucket${labelText(f.name, h.labels, ["le", formatValue(b.le)])} ${total}`);
      }
      total += BigInt(h.above ?? 0);
      this.lines.push(`${f.name}_bucket${labelText(f.name, h.labels, ["le", "+Inf"])} ${total}`);
      this.lines.push(`${f.name}_sum${labelText(f.name, h.labels)} ${formatValue(h.sum)}`);
      this.lines.push(`${f.name}_count${labelText(f.name, h.labels)} ${total}`);
    } else {
      const c = s as Sample;
      const labels = labelText(f.name, c.labels);
      this.unique(labels);
      if (f.type === "counter" && (c.value < 0 || Number.isNaN(c.value))) throw new MetricsError(`metric ${f.name}${labels}: a counter cannot be ${c.value}`);
      this.lines.push(`${f.name}${labels} ${formatValue(c.value)}`);
    }
    if (++this.count % SERIES_PER_PIECE !== 0) return undefined;
    return this.take();
  }

  /** What is left (the HELP and TYPE lines at least, for a family with no series). */
  end(): string {
    return this.lines.length > 0 ? this.take() : "";
  }

  private take(): string {
    const text = `${this.lines.join("\n")}\n`;
    this.lines = [];
    return text;
  }

  private unique(labels: string): void {
    if (this.series.has(labels)) throw new MetricsError(`metric ${this.f.name}: series ${labels || "{}"} given twice`);
    this.series.add(labels);
  }
}

/** The exposition of these families, in order; a name used twice is an error. */
export function writeExposition(families: Iterable<MetricFamily>): string {
  return [...exposition(families)].join("");
}

/** Checks that a family's names (a histogram's …_bucket, _sum, _count too) were not used before. */
function takeNames(names: Set<string>, f: MetricFamily): void {
  const taken = f.type === "histogram" ? [f.name, `${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : [f.name];
  for (const n of taken) {
    if (names.has(n)) throw new MetricsError(`metric ${f.name}: name ${n} used twice`);
    names.add(n);
  }
}

/** The same, family by family (for writing a large exposition in pieces). */
export function* exposition(families: Iterable<MetricFamily>): Generator<string> {
  const names = new Set<string>();
  for (const f of families) {
    takeNames(names, f);
    yield* familyPieces(f);
  }
}

/** The same, families whose series come from async iterables included (awaited as they come). */
export async function* expositionAsync(families: Iterable<MetricFamily>): AsyncGenerator<string> {
  const names = new Set<string>();
  for (const f of families) {
    takeNames(names, f);
    yield* familyPiecesAsync(f);
  }
}

/**
 * A log2 histogram of microseconds (bucket i: [2^i, 2^(i+1)) µs, the first also below 1 µs, the
 * last also everything above) as histogram buckets in seconds: bucket i's bound is 2^(i+1) µs;
 * the last bucket has none (it goes to +Inf).
 */
export function log2MicrosecondBuckets(counts: readonly MetricValue[]): { buckets: { le: number; count: MetricValue }[]; above: MetricValue } {
  const buckets = counts.slice(0, -1).map((count, i) => ({ le: 2 ** (i + 1) / 1e6, count }));
  return { buckets, above: counts.at(-1) ?? 0 };
}

/** `tsebpf_build_info{version,node} 1`. */
export function buildInfo(version: string): MetricFamily {
  return { name: "tsebpf_build_info", help: "The tsebpf version and the Node.js version running it (always 1).", type: "gauge", samples: [{ labels: { version, node: process.versions.node }, value: 1 }] };
}

/** `tsebpf_events_lost_total{program}`: records the program's ring buffer had no room for. */
export function eventsLost(program: string, lost: MetricValue | readonly { readonly labels: Labels; readonly value: MetricValue }[]): MetricFamily {
  const samples = Array.isArray(lost) ? lost.map((s: { labels: Labels; value: MetricValue }) => ({ labels: { program, ...s.labels }, value: s.value })) : [{ labels: { program }, value: lost as MetricValue }];
  return { name: "tsebpf_events_lost_total", help: "Events (samples, records) the program's buffer had no room for.", type: "counter", samples };
}

/** Observations counted into fixed buckets in user space (what the kernel does not histogram). */
export class Histogram {
  private readonly counts: number[];
  private above = 0;
  private total = 0;

  /** `bounds`: increasing upper bounds (the +Inf bucket is implied). */
  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.total += value;
    const i = this.bounds.findIndex((b) => value <= b);
    if (i < 0) this.above++;
    else this.counts[i] = (this.counts[i] ?? 0) + 1;
  }

  sample(labels?: Labels): HistogramSample {
    return { ...(labels ? { labels } : {}), buckets: this.bounds.map((le, i) => ({ le, count: this.counts[i] ?? 0 })), above: this.above, sum: this.total };
  }
}
