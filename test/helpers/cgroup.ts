/** cgroup v2 for kernel tests: where it is mounted, and test cgroups that are always removed. */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";

/** The cgroup2 mount point (unified hierarchy), or undefined. */
export function cgroup2Root(): string | undefined {
  for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
    const [, mnt, type] = line.split(" ");
    if (type === "cgroup2" && mnt) return mnt;
  }
  return undefined;
}

/** A fresh cgroup below the cgroup2 root; `remove()` moves its processes out and deletes it. */
export function testCgroup(name: string): { path: string; remove(): void } {
  const root = cgroup2Root();
  if (!root) throw new Error("no cgroup2 mount");
  const path = `${root}/tsebpf-${name}-${process.pid}`;
  mkdirSync(path, { recursive: true });
  return {
    path,
    remove() {
      if (!existsSync(path)) return;
      for (const pid of readFileSync(`${path}/cgroup.procs`, "utf8").split("\n").filter(Boolean)) {
        try {
          writeFileSync(`${root}/cgroup.procs`, pid);
        } catch {
          // gone already
        }
      }
      rmdirSync(path);
    },
  };
}
