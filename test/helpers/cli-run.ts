/**
 * The tsebpf CLI (dist/cli/main.js) as a child process for kernel tests: started (inside a
 * network namespace or not, after an optional command prefix), its output collected, a wait for
 * a line matching a pattern, and a stop by signal. Every child still running is killed after
 * each test.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach } from "vitest";

export const CLI = "dist/cli/main.js";

const running = new Set<ChildProcess>();
afterEach(() => {
  for (const c of running) c.kill("SIGKILL");
  running.clear();
});

export interface CliRunOptions {
  /** The network namespace to run it in (nsenter --net). */
  readonly nsPath?: string;
  /** A command the CLI runs under (inside the namespace), e.g. one dropping capabilities. */
  readonly prefix?: readonly string[];
  /** The output `waitFor` searches: stdout alone, or stdout then stderr (the default). */
  readonly watch?: "stdout" | "both";
  /** `waitFor`'s default timeout. */
  readonly timeoutMs?: number;
}

export class CliRun {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly options: CliRunOptions;

  /** `tsebpf <args>`. */
  constructor(args: readonly string[], options: CliRunOptions = {}) {
    this.options = options;
    const node = [...(options.prefix ?? []), process.execPath, CLI, ...args];
    const command = options.nsPath ? ["nsenter", `--net=${options.nsPath}`, "--", ...node] : node;
    this.child = spawn(command[0] ?? "", command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    running.add(this.child);
    this.child.stdout?.on("data", (d) => (this.stdout += d));
    this.child.stderr?.on("data", (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  /** Polls the output until `pattern` matches; fails on timeout or if the program exits first. */
  async waitFor(pattern: RegExp, timeoutMs = this.options.timeoutMs ?? 20_000): Promise<RegExpExecArray> {
    const start = Date.now();
    for (;;) {
      const m = pattern.exec(this.options.watch === "stdout" ? this.stdout : this.stdout + this.stderr);
      if (m) return m;
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${pattern}: stdout ${this.stdout} stderr ${this.stderr}`);
      if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode} before ${pattern}: ${this.stdout} ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(signal: NodeJS.Signals = "SIGINT"): Promise<number | null> {
    this.child.kill(signal);
    return await this.exited;
  }
}
