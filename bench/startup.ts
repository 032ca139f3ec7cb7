/**
 * #8 CLI start-up: `node dist/cli/main.js --version` against `node -e 0` (the floor: Node itself),
 * in interleaved rounds so both see the same machine load, median of each. Reference rows:
 * `--help` (commander and the command table, no command module) and `prog list` (one command's
 * module and the library it uses). Needs `npm run build` first.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { median, ms, type Figure } from "./lib.js";

const CLI = "dist/cli/main.js";
const ROUNDS = 21;
const WARMUP = 2;

/** Wall time of one run of `node ...args`, in ns; throws when it fails. */
function timeRun(args: readonly string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const t1 = process.hrtime.bigint();
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr.trim().split("\n")[0] ?? ""}`);
  return Number(t1 - t0);
}

/** Never throws: a failure is a row with the reason (run.ts adds these rows outside its loop). */
export function startup(): Figure[] {
  const failed = (note: string): Figure[] => [{ id: "s1", figure: "CLI start-up: tsebpf --version", tsebpf: "n/a", peer: "n/a", ratio: undefined, target: "<= 1.5x", pass: undefined, note }];
  if (!existsSync(CLI)) return failed(`${CLI} is missing: npm run build first`);
  try {
    return measure();
  } catch (e) {
    return failed((e as Error).message);
  }
}

function measure(): Figure[] {
  const commands: Record<"floor" | "version" | "help" | "progList", string[]> = {
    floor: ["-e", "0"],
    version: [CLI, "--version"],
    help: [CLI, "--help"],
    progList: [CLI, "prog", "list"],
  };
  const times: Record<keyof typeof commands, number[]> = { floor: [], version: [], help: [], progList: [] };
  let progListNote: string | undefined;
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (const key of Object.keys(commands) as (keyof typeof commands)[]) {
      if (key === "progList" && progListNote !== undefined) continue;
      let ns: number;
      try {
        ns = timeRun(commands[key]);
      } catch (e) {
        if (key !== "progList") throw e;
        progListNote = (e as Error).message; // needs bpf(2): a reference row only
        continue;
      }
      if (round >= WARMUP) times[key].push(ns);
    }
  }
  const floor = median(times.floor);
  const version = median(times.version);
  const help = median(times.help);
  const figures: Figure[] = [
    { id: "s1", figure: "CLI start-up: tsebpf --version (median of 21)", tsebpf: ms(version), peer: `${ms(floor)} (node -e 0)`, ratio: version / floor, target: "<= 1.5x", pass: version / floor <= 1.5 },
    { id: "s1h", figure: "CLI start-up: tsebpf --help (every command listed, none loaded)", tsebpf: ms(help), peer: `${ms(floor)} (node -e 0)`, ratio: help / floor, target: "(reference)", pass: undefined },
  ];
  if (progListNote === undefined) {
    const progList = median(times.progList);
    figures.push({ id: "s1p", figure: "CLI start-up: tsebpf prog list", tsebpf: ms(progList), peer: `${ms(floor)} (node -e 0)`, ratio: progList / floor, target: "(reference)", pass: undefined });
  } else {
    figures.push({ id: "s1p", figure: "CLI start-up: tsebpf prog list", tsebpf: "n/a", peer: "-", ratio: undefined, target: "(reference)", pass: undefined, note: progListNote });
  }
  return figures;
}
