/**
 * Values for `.kconfig` externs: the kernel's build configuration (/proc/config.gz or
 * /boot/config-<release>) and LINUX_KERNEL_VERSION from the running kernel's release.
 */
import { existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { gunzipSync } from "node:zlib";

let cached: Map<string, string> | undefined;

/** Parses `.config` text: CONFIG_X=value lines; `# CONFIG_X is not set` is `n`. */
export function parseKconfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set) {
      out.set(set[1] as string, set[2] as string);
      continue;
    }
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset) out.set(unset[1] as string, "n");
  }
  return out;
}

/** The running kernel's configuration, or an empty map when the kernel does not publish it. */
export function kernelConfig(): Map<string, string> {
  if (cached) return cached;
  const boot = `/boot/config-${release()}`;
  let text = "";
  if (existsSync("/proc/config.gz")) text = gunzipSync(readFileSync("/proc/config.gz")).toString("utf8");
  else if (existsSync(boot)) text = readFileSync(boot, "utf8");
  cached = parseKconfig(text);
  return cached;
}

/** KERNEL_VERSION(a, b, c) of a release string like `6.18.44-foo`. */
export function kernelVersionCode(rel: string = release()): number {
  const [a = 0, b = 0, c = 0] = (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel) ?? []).slice(1).map((x) => Number(x ?? 0));
  return (a << 16) + (b << 8) + Math.min(c, 255);
}
