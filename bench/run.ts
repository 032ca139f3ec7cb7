/** `npm run bench`: every benchmark, one table. Figures are ratios against peers measured now. */
import { btfIndex } from "./btf-index.js";
import { mapOps } from "./map-ops.js";
import { objectLoad } from "./object-load.js";
import { ringbuf } from "./ringbuf.js";
import { packetfilterBench } from "./packetfilter.js";
import { loadbalancerBench } from "./loadbalancer.js";
import type { Figure } from "./lib.js";

const figures: Figure[] = [];
for (const bench of [btfIndex, objectLoad, mapOps, ringbuf, packetfilterBench, loadbalancerBench]) {
  try {
    figures.push(...bench());
  } catch (e) {
    figures.push({ id: bench.name, figure: bench.name, tsebpf: "error", peer: "-", ratio: undefined, target: "-", pass: false, note: (e as Error).message });
  }
}
figures.push(...(await import("./map-memory.js").then((b) => b.mapMemory()).catch((e: Error): Figure[] => [{ id: "11", figure: "mapMemory", tsebpf: "error", peer: "-", ratio: undefined, target: "-", pass: false, note: e.message }])));
figures.push(...(await import("./typed-events.js").then((b) => b.typedEvents()).catch((e: Error): Figure[] => [{ id: "10", figure: "typedEvents", tsebpf: "error", peer: "-", ratio: undefined, target: "-", pass: false, note: e.message }])));
figures.push(...(await import("./disasm.js")).disasmBench());
figures.push(...(await import("./comtrace.js").then((b) => b.comtraceBench()).catch((e: Error): Figure[] => [{ id: "9", figure: "comtraceBench", tsebpf: "error", peer: "-", ratio: undefined, target: "-", pass: false, note: e.message }])));
figures.push(...(await import("./lsmbpf.js").then((b) => b.lsmbpfBench()).catch((e: Error): Figure[] => [{ id: "13", figure: "lsmbpfBench", tsebpf: "error", peer: "-", ratio: undefined, target: "-", pass: false, note: e.message }])));
figures.push(...(await import("./jittergen.js").then((b) => b.jittergenBench()).catch((e: Error): Figure[] => [{ id: "12", figure: "jittergenBench", tsebpf: "error", peer: "-", ratio: undefined, target: "-", pass: false, note: e.message }])));
figures.push(...(await import("./metrics.js").then((b) => b.metricsBench()).catch((e: Error): Figure[] => [{ id: "m1", figure: "metricsBench", tsebpf: "error", peer: "-", ratio: undefined, target: "-", pass: false, note: e.message }])));
figures.push(...(await import("./startup.js")).startup());
const rows = [["#", "figure", "tsebpf", "peer", "ratio", "target", "ok"], ...figures.map((f) => [
  f.id, f.figure, f.tsebpf, f.peer, f.ratio === undefined ? "-" : `${f.ratio.toFixed(2)}x`, f.target, f.pass === undefined ? "?" : f.pass ? "yes" : "NO",
])];
const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  "));
for (const f of figures) if (f.note) console.log(`note #${f.id}: ${f.note}`);
