/**
 * #1 kernel BTF load + name index: parse /sys/kernel/btf/vmlinux and look up 1,000 type names,
 * in-process, median of 20 — against libbpf's btf__parse + btf__find_by_name_kind.
 *
 * #1v the same BTF parsed and validated in full: every type decoded, every type id it refers to
 * and every string offset it holds checked. tsebpf's Btf is lazy (the constructor walks the
 * records; a type is decoded, and its references checked, when first asked for), and it has no
 * separate validation entry point, so the bench decodes every type through the public API
 * (`type(id)` for each of `ids()`), which checks each reference and resolves each name. The peer
 * is btf__parse plus the same checks made through libbpf's API (bench/peers/btf_validate.c):
 * Debian 12's libbpf 1.1 does not validate inside btf__parse (1.2 added that).
 *
 * Rounds interleave: one in-process round of tsebpf, then a peer process that runs PEER_ROUNDS
 * rounds and reports its last (in-process and warm, like tsebpf's).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Btf, BtfKindNumber, type BtfKind } from "../src/btf/index.js";
import { buildPeer, interleaved, median, ms, peerLines, roundRatio, workdir, type Figure } from "./lib.js";

const VMLINUX = "/sys/kernel/btf/vmlinux";
const ROUNDS = 20;
/** Rounds per peer process; its last is the round reported (its first ones fault its heap in). */
const PEER_ROUNDS = 3;

/** Decodes every type of `btf`: each decode checks the type ids the record refers to and resolves its strings. */
function validateAll(btf: Btf): number {
  let decoded = 0;
  for (const id of btf.ids()) if (btf.type(id) !== undefined) decoded++;
  return decoded;
}

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

  const figures: Figure[] = [];
  let rssGrowth = 0;
  const oursLookups = () => {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = process.hrtime.bigint();
    const btf = new Btf(readFileSync(VMLINUX));
    let found = 0;
    for (const [name, kind] of picked) if (btf.find(name, kind) !== undefined) found++;
    const t1 = process.hrtime.bigint();
    rssGrowth = Math.max(rssGrowth, process.memoryUsage().rss - rss0);
    if (found !== picked.length) throw new Error("bench: lookups failed");
    return Number(t1 - t0);
  };
  const peer = buildPeer("btf_index.c", ["-lbpf"]);
  if (peer.path) {
    const path = peer.path;
    const [ours = [], theirs = []] = interleaved(ROUNDS, [oursLookups, () => peerLines(path, [VMLINUX, namesFile, String(PEER_ROUNDS)])[PEER_ROUNDS - 1]?.[0] ?? NaN]);
    const ratio = roundRatio(ours, theirs);
    figures.push({ id: "1", figure: `kernel BTF load + ${picked.length} name lookups`, tsebpf: ms(median(ours)), peer: `${ms(median(theirs))} (libbpf)`, ratio, target: "<= 1.0x", pass: ratio <= 1.0 });
  } else {
    const ours = Array.from({ length: ROUNDS }, oursLookups);
    figures.push({ id: "1", figure: `kernel BTF load + ${picked.length} name lookups`, tsebpf: ms(median(ours)), peer: "n/a", ratio: undefined, target: "<= 1.0x", pass: undefined, note: peer.reason ?? "" });
  }
  figures.push({ id: "1m", figure: "kernel BTF: RSS growth", tsebpf: `${(rssGrowth / 2 ** 20).toFixed(1)} MB`, peer: "-", ratio: undefined, target: "<= 20 MB", pass: rssGrowth <= 20 * 2 ** 20 });

  // #1v: the full, validating parse.
  const oursValidate = () => {
    global.gc?.();
    const t0 = process.hrtime.bigint();
    const btf = new Btf(readFileSync(VMLINUX));
    const decoded = validateAll(btf);
    const t1 = process.hrtime.bigint();
    if (decoded !== btf.typeCount) throw new Error(`bench: decoded ${decoded} of ${btf.typeCount} types`);
    return Number(t1 - t0);
  };
  const label = `kernel BTF full validating parse (${all.typeCount} types, every reference checked)`;
  const validator = buildPeer("btf_validate.c", ["-lbpf"]);
  if (validator.path) {
    const path = validator.path;
    const parseOnly: number[] = [];
    const [ours = [], theirs = []] = interleaved(ROUNDS, [
      oursValidate,
      () => {
        const [parse = NaN, total = NaN] = peerLines(path, [VMLINUX, String(PEER_ROUNDS)])[PEER_ROUNDS - 1] ?? [];
        parseOnly.push(parse);
        return total;
      },
    ]);
    const ratio = roundRatio(ours, theirs);
    figures.push({
      id: "1v",
      figure: label,
      tsebpf: ms(median(ours)),
      peer: `${ms(median(theirs))} (libbpf btf__parse + checks)`,
      ratio,
      target: "<= 1.0x",
      pass: ratio <= 1.0,
      note: `the peer's btf__parse alone: ${ms(median(parseOnly))} (libbpf 1.1 does not validate inside it; the peer makes the same checks after it); tsebpf decodes every type through Btf.type() (no separate validation entry point)`,
    });
  } else {
    const ours = Array.from({ length: ROUNDS }, oursValidate);
    figures.push({ id: "1v", figure: label, tsebpf: ms(median(ours)), peer: "n/a", ratio: undefined, target: "<= 1.0x", pass: undefined, note: validator.reason ?? "" });
  }
  return figures;
}
