/** Which processes hold a BPF object: the fds listed in /proc/PID/fdinfo carry its id. */
import { readFileSync, readdirSync } from "node:fs";

/**
 * The processes (pids) holding an fd of this program, or of a link to it. Processes this one may
 * not inspect are skipped (run as root to see them all).
 */
export function programHolders(programId: number): number[] {
  const holders: number[] = [];
  const wanted = new RegExp(`^prog_id:\\s*${programId}$`, "m");
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fdinfo`);
    } catch {
      continue; // gone, or not ours to see
    }
    for (const fd of fds) {
      let info: string;
      try {
        info = readFileSync(`/proc/${entry}/fdinfo/${fd}`, "utf8");
      } catch {
        continue;
      }
      if (wanted.test(info)) {
        holders.push(Number(entry));
        break;
      }
    }
  }
  return holders;
}
