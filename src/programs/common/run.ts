/**
 * What every program does while it runs in the foreground: print a summary every interval, apply
 * a new configuration on SIGHUP (or when a watched file changes), and stop on SIGINT/SIGTERM.
 */
import { existsSync, statSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isInterfaceName } from "./net.js";
import { TsebpfError } from "../../errors.js";

export interface RunLoopOptions {
  /** Milliseconds between `tick` calls (0: no ticks). */
  readonly intervalMs: number;
  readonly tick?: () => void;
  /** Called on SIGHUP and when `watchFile` changes; errors (and rejections) are reported, the program keeps going. */
  readonly reload?: () => void | Promise<void>;
  /** A file whose changes trigger `reload` (editors that rename over it included). */
  readonly watchFile?: string;
  /** Reports a failed reload (one line). */
  readonly onError?: (e: unknown) => void;
  /** Stops the loop as a signal would (tests, embedding). */
  readonly signal?: AbortSignal;
  /** Called once the signal handlers are in place (say "running" here, not before). */
  readonly onReady?: () => void;
  /**
   * A loop that runs beside this one (reading sampled events): started once the handlers are
   * in place, its signal aborted when this loop stops, and awaited before it resolves. It
   * reports its own errors.
   */
  readonly background?: (signal: AbortSignal) => Promise<unknown>;
}

function isEmptyFile(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return false; // gone: the reload says so
  }
}

/** The file's size and modification time, to tell whether it changed during a reload. */
function fileStamp(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.size}:${s.mtimeNs}`;
  } catch {
    return undefined;
  }
}

/**
 * Which file a path names now and its state (device, inode, size, modification time), following
 * symlinks: it changes when the path's target is swapped (a Kubernetes ConfigMap update renames a
 * new `..data` symlink over the old one, and the file's own name sees no event).
 */
function targetStamp(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return undefined;
  }
}

/** Runs until SIGINT or SIGTERM (or the abort signal); resolves with what stopped it. */
export function runUntilStopped(options: RunLoopOptions): Promise<"SIGINT" | "SIGTERM" | "abort"> {
  return new Promise((resolvePromise) => {
    const timers: NodeJS.Timeout[] = [];
    // Signal listeners do not keep Node running: a timer does.
    timers.push(setInterval(() => undefined, 1 << 30));
    if (options.intervalMs > 0 && options.tick) timers.push(setInterval(options.tick, options.intervalMs));
    let pending: NodeJS.Timeout | undefined;
    const watched = options.watchFile ? resolve(options.watchFile) : undefined;
    const reload = () => {
      const before = watched ? fileStamp(watched) : undefined;
      // A reload that failed on a file written meanwhile (truncated and refilled by an editor, a
      // script, a test) is not the user's mistake: the file's next state gets its own reload.
      const failed = (e: unknown) => {
        if (watched && (isEmptyFile(watched) || fileStamp(watched) !== before)) reloadSoon(watched);
        else options.onError?.(e);
      };
      try {
        options.reload?.()?.catch(failed);
      } catch (e) {
        failed(e);
      }
    };
    // Editors write a file in several steps: apply once things settle. A file just truncated
    // (empty: never a configuration) is the middle of a write, whose end is another change.
    const reloadSoon = (file: string) => {
      if (pending) clearTimeout(pending);
      pending = setTimeout(() => {
        if (!isEmptyFile(file)) reload();
      }, 100);
    };
    let watcher: FSWatcher | undefined;
    if (options.watchFile && options.reload) {
      const file = resolve(options.watchFile);
      // An event naming the file is a change; any other event in its folder is one when the file
      // the path leads to is another or has changed (a symlink swapped in the folder, as kubelet does).
      let target = targetStamp(file);
      watcher = watch(dirname(file), (_event, name) => {
        const now = targetStamp(file);
        const swapped = now !== undefined && now !== target;
        target = now ?? target;
        if (name === null || name === basename(file) || swapped) reloadSoon(file);
      });
      // The folder went away (or cannot be watched any more): say so, keep running.
      watcher.on("error", (e) => options.onError?.(e));
    }
    const stop = (why: "SIGINT" | "SIGTERM" | "abort") => {
      for (const t of timers) clearInterval(t);
      if (pending) clearTimeout(pending);
      watcher?.close();
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      process.off("SIGHUP", reload);
      options.signal?.removeEventListener("abort", onAbort);
      side.abort();
      void running.then(() => resolvePromise(why));
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    const onAbort = () => stop("abort");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    if (options.reload) process.on("SIGHUP", reload);
    const side = new AbortController();
    let running: Promise<unknown> = Promise.resolve();
    if (options.signal?.aborted) stop("abort");
    else options.signal?.addEventListener("abort", onAbort);
    options.onReady?.();
    if (!side.signal.aborted && options.background) running = options.background(side.signal).catch(() => undefined);
  });
}

/**
 * Where a program pins its maps and link: /sys/fs/bpf/tsebpf/<program>/<instance>, the instance
 * being an interface name (anything else — `..`, a path — is refused, never joined).
 */
export function pinDirectory(program: string, instance: string): string {
  if (!isInterfaceName(instance)) throw new TsebpfError(`'${instance}' is not an interface name`);
  return `/sys/fs/bpf/tsebpf/${program}/${instance}`;
}

/** The most `--interval` may be: a day (timers clamp longer delays to 1 ms). */
export const MAX_INTERVAL_SECONDS = 86_400;

/** `--interval` text as seconds: a plain decimal number from 0 (no periodic output) to a day. */
export function parseInterval(text: string, option = "--interval"): number {
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= 0 && seconds <= MAX_INTERVAL_SECONDS)) throw new TsebpfError(`${option}: expected seconds from 0 to ${MAX_INTERVAL_SECONDS}, not '${text}'`);
  return seconds;
}

/**
 * The path of a program's committed BPF object, src/programs/<name>/<name>.bpf.o of the package
 * this module belongs to (found from src/, dist/ or any other build folder inside the package).
 */
export function programObjectPath(name: string): string {
  const relative = `src/programs/${name}/${name}.bpf.o`;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, relative))) return join(dir, relative);
    const up = dirname(dir);
    if (up === dir) throw new TsebpfError(`${relative}: not found above ${fileURLToPath(import.meta.url)} (is the package complete?)`);
    dir = up;
  }
}
