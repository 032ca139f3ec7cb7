/**
 * "Nothing left in the kernel" checks that look only at this test's own objects: other processes
 * on the machine (systemd, another test run, another tool) may create programs and maps with the
 * same names at any moment, so a check by name alone is not a check.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { expect } from "vitest";
import { runtime } from "../../src/index.js";

export interface KernelObjectIds {
  readonly programs: ReadonlySet<number>;
  readonly maps: ReadonlySet<number>;
}

const ids = (): KernelObjectIds => ({
  programs: new Set(runtime.listPrograms().map((p) => p.id)),
  maps: new Set(runtime.listMaps().map((m) => m.id)),
});

/** The ids of the BPF programs and maps this process holds an fd of. */
export function ownBpfFds(): KernelObjectIds {
  const programs = new Set<number>();
  const maps = new Set<number>();
  for (const fd of readdirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed meanwhile
    }
    if (!target.startsWith("anon_inode:bpf-")) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
    const prog = /^prog_id:\s*(\d+)$/m.exec(info);
    const map = /^map_id:\s*(\d+)$/m.exec(info);
    if (prog) programs.add(Number(prog[1]));
    else if (map) maps.add(Number(map[1]));
  }
  return { programs, maps };
}

/** Waits (the kernel frees closed objects after an RCU grace period) until `gone()` holds; asserts it. */
async function eventually<T>(what: string, left: () => T[]): Promise<void> {
  for (let i = 0; i < 250 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(left(), what).toEqual([]);
}

/** The programs and maps with these ids are no longer in the kernel (ids a CLI run printed). */
export async function expectGone(created: { programs?: number[]; maps?: number[] }): Promise<void> {
  await eventually("programs and maps this test created", () => {
    const now = ids();
    return [...(created.programs ?? []).filter((id) => now.programs.has(id)).map((id) => `prog ${id}`), ...(created.maps ?? []).filter((id) => now.maps.has(id)).map((id) => `map ${id}`)];
  });
}

/**
 * Starts a check that a piece of in-process work (a CLI run) leaves nothing behind: call it
 * before, and await the returned function after. This process must hold no fd of a program or
 * map that did not exist before (a leak keeps the object alive; without one the kernel frees it
 * once the last fd closes). Objects of other processes are never looked at.
 */
export function trackOwnObjects(): () => Promise<void> {
  const before = ownBpfFds();
  return async () => {
    const after = ownBpfFds();
    const leaked = [...[...after.programs].filter((id) => !before.programs.has(id)).map((id) => `prog ${id}`), ...[...after.maps].filter((id) => !before.maps.has(id)).map((id) => `map ${id}`)];
    expect(leaked, "fds this process still holds of objects the work created").toEqual([]);
  };
}
