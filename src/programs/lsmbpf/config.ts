/**
 * lsmbpf's configuration file. Every key is optional (no file at the default path: the defaults),
 * and everything else is strict: unknown keys, wrong types, duplicates, over-long command names
 * and cgroup paths that do not exist are one line naming the file, the key and the value, before
 * anything is loaded.
 *
 * ```yaml
 * mode: enforce          # enforce | audit
 * engine: auto           # auto | lsm | signal
 * allow:
 *   comm: [runc, conmon]          # command names (the kernel's 15 bytes)
 *   cgroup: [/system.slice/x.scope] # cgroup v2 paths (as /proc/PID/cgroup shows them); descendants too
 * ```
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { posix } from "node:path";
import { ConfigError, ConfigNode, readYamlFile } from "../common/config.js";

export const MODES = ["enforce", "audit"] as const;
export type Mode = (typeof MODES)[number];
export const ENGINES = ["auto", "lsm", "signal"] as const;
export type EngineChoice = (typeof ENGINES)[number];
export type Engine = Exclude<EngineChoice, "auto">;

/** The allow-lists' capacities (the BPF maps' sizes). */
export const MAX_COMMS = 256;
export const MAX_CGROUPS = 256;
/** The kernel's TASK_COMM_LEN − 1. */
export const COMM_BYTES = 15;
export const DEFAULT_CONFIG = "./config.yml";

export interface GuardConfig {
  readonly mode: Mode;
  readonly engine: EngineChoice;
  readonly allow: {
    readonly comm: readonly string[];
    /** cgroup v2 paths, normalized (`/a/b`), relative to the cgroup2 mount. */
    readonly cgroup: readonly string[];
  };
}

export const DEFAULT_GUARD_CONFIG: GuardConfig = { mode: "enforce", engine: "auto", allow: { comm: [], cgroup: [] } };

function uniqueStrings(node: ConfigNode, max: number, check: (s: string, item: ConfigNode) => string): string[] {
  const seen = new Map<string, number>();
  return node.list(max).map((item, i) => {
    const v = check(item.string(), item);
    const before = seen.get(v);
    if (before !== undefined) throw item.error(`'${v}' is already listed (${node.path}[${before}])`);
    seen.set(v, i);
    return v;
  });
}

/** A parsed document (`undefined`/null: an empty file) as a checked configuration. */
export function parseGuardConfig(value: unknown, source: string): GuardConfig {
  if (value === undefined || value === null) return DEFAULT_GUARD_CONFIG;
  const root = ConfigNode.root(value, source).object(["mode", "engine", "allow"]);
  const mode = root.get("mode").present ? root.get("mode").oneOf(MODES) : "enforce";
  const engine = root.get("engine").present ? root.get("engine").oneOf(ENGINES) : "auto";
  const allowNode = root.get("allow");
  let comm: string[] = [];
  let cgroup: string[] = [];
  if (allowNode.present) {
    allowNode.object(["comm", "cgroup"]);
    comm = uniqueStrings(allowNode.get("comm"), MAX_COMMS, (s, item) => {
      if (Buffer.byteLength(s, "utf8") > COMM_BYTES) throw item.error(`'${s}' is longer than a command name (${COMM_BYTES} bytes: the kernel keeps no more)`);
      if (s.includes("\0")) throw item.error(`'${s}' contains a NUL byte`);
      return s;
    });
    cgroup = uniqueStrings(allowNode.get("cgroup"), MAX_CGROUPS, (s, item) => {
      if (!s.startsWith("/")) throw item.error(`'${s}' is not a cgroup path (it starts with /, as in /proc/PID/cgroup)`);
      if (s.split("/").includes("..")) throw item.error(`'${s}': '..' is not allowed in a cgroup path`);
      const normal = posix.normalize(s);
      return normal.length > 1 ? normal.replace(/\/$/, "") : normal;
    });
  }
  return { mode, engine, allow: { comm, cgroup } };
}

/**
 * Reads the configuration. A missing file at the default path gives the defaults (the guard
 * starts with no file); a missing file the user named is an error.
 */
export function readGuardConfig(path: string = DEFAULT_CONFIG, explicit = path !== DEFAULT_CONFIG): GuardConfig {
  if (!explicit && !existsSync(path)) return DEFAULT_GUARD_CONFIG;
  return parseGuardConfig(readYamlFile(path), path);
}

/** Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid systems). */
export function cgroup2Mount(mounts: string = readFileSync("/proc/self/mounts", "utf8")): string | undefined {
  for (const line of mounts.split("\n")) {
    const [, dir, type] = line.split(" ");
    if (type === "cgroup2" && dir) return dir.replace(/\\040/g, " ");
  }
  return undefined;
}

/** A cgroup v2 path's id (null mount: cgroup v2 is not mounted) (the inode number of its directory: what bpf_get_current_cgroup_id returns). */
export function cgroupId(path: string, mount: string | null = cgroup2Mount() ?? null): bigint {
  if (!mount) throw new ConfigError(`cgroup ${path}: cgroup v2 is not mounted`);
  const dir = posix.join(mount, path);
  let st;
  try {
    st = statSync(dir, { bigint: true });
  } catch {
    throw new ConfigError(`cgroup ${path}: no such cgroup (${dir})`);
  }
  if (!st.isDirectory()) throw new ConfigError(`cgroup ${path}: ${dir} is not a cgroup directory`);
  return st.ino;
}

/** The config's cgroup paths as ids; a missing cgroup is a ConfigError naming its key. */
export function resolveCgroups(config: GuardConfig, source: string, mount: string | null = cgroup2Mount() ?? null): bigint[] {
  return config.allow.cgroup.map((path, i) => {
    try {
      return cgroupId(path, mount);
    } catch (e) {
      throw new ConfigError(`${source}: allow.cgroup[${i}]: ${(e as Error).message.replace(/^cgroup \S+: /, "")} ('${path}')`);
    }
  });
}
