/**
 * #1 kernel BTF load + name index: parse /sys/kernel/btf/vmlinux and look up 1,000 type names,
 * in-process, median of 20 — against libbpf's btf__parse + btf__find_by_name_kind.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Btf, BtfKindNumber, type BtfKind } from "../src/btf/index.js";
import { buildPeer, median, ms, workdir, type Figure } from "./lib.js";

const VMLINUX = "/sys/kernel/btf/vmlinux";
const ROUNDS = 20;

export function btfIndex(): Figure[] {
  const bytes = readFileSync(VMLINUX);
  // 1,000 named types spread over the whole id range, first of their name and kind.
  const all = new Btf(bytes);
  const picked: [string, BtfKind][] = [];
  const seen = new Set<string>();
  const step = Math.max(1, Math.floor(all.typeCount / 2000));
  for (let id = 1; id <= all.typeCount && picked.length < 1000; id += step) {
    const kind = all.kindOf(id);
    const name = all.nameOf(id);
    if (!name || kind === "void" || seen.has(name) || all.find(name, kind) !== id) continue;
    seen.add(name);
    picked.push([name, kind]);
  }
  const namesFile = join(workdir, "names.txt");
  writeFileSync(namesFile, picked.map(([n, k]) => `${BtfKindNumber[k]}\t${n}`).join("\n"));

  const times: number[] = [];
  let rssGrowth = 0;
  for (let r = 0; r < ROUNDS; r++) {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = process.hrtime.bigint();
    const btf = new Btf(readFileSync(VMLINUX));
    let found = 0;
    for (const [name, kind] of picked) if (btf.find(name, kind) !== undefined) found++;
    const t1 = process.hrtime.bigint();
    rssGrowth = Math.max(rssGrowth, process.memoryUsage().rss - rss0);
    if (found !== picked.length) throw new Error("bench: lookups failed");
    times.push(Number(t1 - t0));
  }
  const ours = median(times);
  const peer = buildPeer("btf_index.c", ["-lbpf"]);
  let theirs: number | undefined;
  let note = peer.reason;
  if (peer.path) {
    const r = spawnSync(peer.path, [VMLINUX, namesFile, String(ROUNDS)], { encoding: "utf8" });
    if (r.status === 0) theirs = median(r.stdout.trim().split("\n").map(Number));
    else note = `peer exited ${r.status}`;
  }
  const ratio = theirs ? ours / theirs : undefined;
  return [
    {
      id: "1",
      figure: `kernel BTF load + ${picked.length} name lookups`,
      tsebpf: ms(ours),
      peer: theirs ? `${ms(theirs)} (libbpf)` : "n/a",
      ratio,
      target: "<= 1.0x",
      pass: ratio === undefined ? undefined : ratio <= 1.0,
      ...(note ? { note } : {}),
    },
    {
      id: "1m",
      figure: "kernel BTF: RSS growth",
      tsebpf: `${(rssGrowth / 2 ** 20).toFixed(1)} MB`,
      peer: "-",
      ratio: undefined,
      target: "<= 20 MB",
      pass: rssGrowth <= 20 * 2 ** 20,
    },
  ];
}
