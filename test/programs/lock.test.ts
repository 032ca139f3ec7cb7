/**
 * withLock (flock(2) through runtime.FileLock): mutual exclusion between processes, release when
 * a holder is killed, waiting that leaves the event loop running, and the timeout's message.
 * Child processes run the library itself: the sources are transpiled (types stripped, no
 * checking) into a temporary folder once per file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TsebpfError } from "../../src/errors.js";
import { runtime } from "../../src/index.js";
import { LockBusyError, withLock } from "../../src/programs/common/lock.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** Transpiles `entry` and every module it imports (relative imports) into `out`, with node_modules linked beside them. */
function transpileSources(entry: string, out: string): void {
  const pending = [join(root, entry)];
  const done = new Set<string>();
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (done.has(file)) continue;
    done.add(file);
    const js = ts.transpileModule(readFileSync(file, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: file,
    }).outputText;
    for (const m of js.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)\.js"/g)) pending.push(join(dirname(file), `${m[1]}.ts`));
    const target = join(out, relative(root, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
  writeFileSync(join(out, "package.json"), '{ "type": "module" }\n');
  symlinkSync(join(root, "node_modules"), join(out, "node_modules"));
}

describe("withLock", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsebpf-lock-"));
  const lib = join(dir, "lib");
  const children = new Set<ChildProcess>();
  beforeAll(() => transpileSources("src/programs/common/lock.ts", lib), 60_000);
  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    children.clear();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A child process running `body` (an ES module; `withLock` and `dir` in scope). */
  function child(body: string): ChildProcess {
    const script = `import { withLock } from ${JSON.stringify(join(lib, "src/programs/common/lock.js"))};\nconst dir = ${JSON.stringify(dir)};\n${body}`;
    const c = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(c);
    return c;
  }

  const exited = (c: ChildProcess): Promise<{ code: number | null; stderr: string }> => {
    let stderr = "";
    c.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => c.once("exit", (code) => resolve({ code, stderr })));
  };

  /** Resolves when the child writes `line` on stdout. */
  const says = (c: ChildProcess, line: string): Promise<void> =>
    new Promise((resolve, reject) => {
      let out = "";
      let err = "";
      c.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      c.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.split("\n").includes(line)) resolve();
      });
      c.once("exit", (code) => reject(new Error(`child exited (${code}) before saying ${line}: ${err}`)));
    });

  /** A child that takes the lock `name`, says "locked" and holds it until killed. */
  const holder = async (name: string): Promise<ChildProcess> => {
    const c = child(`setInterval(() => {}, 1000);\nawait withLock(${JSON.stringify(name)}, () => { process.stdout.write("locked\\n"); return new Promise(() => {}); }, { dir });`);
    await says(c, "locked");
    return c;
  };

  it("holds the lock while fn runs and releases it after, also when fn throws; the lock file stays", async () => {
    const path = join(dir, "a.lock");
    expect(await withLock("a", () => runtime.FileLock.tryAcquire(path) === undefined, { dir })).toBe(true);
    expect(existsSync(path)).toBe(true);
    const again = runtime.FileLock.tryAcquire(path);
    expect(again).toBeDefined();
    again?.close();
    await expect(withLock("a", () => { throw new Error("boom"); }, { dir })).rejects.toThrow("boom");
    await expect(withLock("a", async () => { await new Promise((r) => setTimeout(r, 5)); throw new Error("later"); }, { dir })).rejects.toThrow("later");
    using free = runtime.FileLock.tryAcquire(path);
    expect(free).toBeDefined();
    expect(existsSync(path)).toBe(true);
  });

  it("what the file says decides nothing: a file left with a live pid or half a pid is taken at once", async () => {
    writeFileSync(join(dir, "b.lock"), `${process.pid}\n`);
    expect(await withLock("b", () => "taken", { dir, timeoutMs: 0 })).toBe("taken");
    writeFileSync(join(dir, "b.lock"), "12");
    expect(await withLock("b", () => "taken again", { dir, timeoutMs: 0 })).toBe("taken again");
  });

  it("FileLock: the holder's pid in the file while held, nothing after; fd close-on-exec; close idempotent", () => {
    const path = join(dir, "f.lock");
    const lock = runtime.FileLock.tryAcquire(path);
    if (!lock) throw new Error("not taken");
    expect(runtime.lockHolderPid(path)).toBe(process.pid);
    const flags = Number.parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${lock.fd}`, "utf8"))?.[1] ?? "0", 8);
    expect(flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC: a child process never inherits the lock
    lock.close();
    lock.close();
    expect(lock.closed).toBe(true);
    expect(() => lock.fd).toThrow(/used after close/);
    expect(runtime.lockHolderPid(path)).toBeUndefined();
    expect(readFileSync(path, "utf8")).toBe("");
  });

  it("two processes contending: their critical sections never overlap", async () => {
    const log = join(dir, "mx.log");
    writeFileSync(log, "");
    const rounds = 25;
    const body = `import { appendFileSync } from "node:fs";
for (let i = 0; i < ${rounds}; i++) {
  await withLock("mx", async () => {
    appendFileSync(${JSON.stringify(log)}, "start " + process.pid + "\\n");
    await new Promise((r) => setTimeout(r, 2 + (i % 3)));
    appendFileSync(${JSON.stringify(log)}, "end " + process.pid + "\\n");
  }, { dir, pollMs: 1 });
}`;
    const a = child(body);
    const b = child(body);
    const [ra, rb] = await Promise.all([exited(a), exited(b)]);
    expect(ra).toEqual({ code: 0, stderr: "" });
    expect(rb).toEqual({ code: 0, stderr: "" });
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines.length).toBe(4 * rounds);
    // Each start is followed by the end of the same process: no interval contains another's.
    for (let i = 0; i < lines.length; i += 2) {
      const [what, pid] = (lines[i] as string).split(" ");
      expect(what).toBe("start");
      expect(lines[i + 1]).toBe(`end ${pid}`);
    }
    expect(new Set(lines.map((l) => l.split(" ")[1]))).toEqual(new Set([String(a.pid), String(b.pid)]));
    // The checker itself sees an overlap when there is one.
    appendFileSync(log, `start ${a.pid}\nstart ${b.pid}\n`);
    const bad = readFileSync(log, "utf8").trim().split("\n");
    expect(bad.some((l, i) => i % 2 === 0 && l.startsWith("start") && bad[i + 1] !== `end ${l.split(" ")[1]}`)).toBe(true);
  });

  it("a holder killed with SIGKILL releases the lock at once", async () => {
    const h = await holder("k");
    let acquiredAt = 0;
    const waiting = withLock("k", () => (acquiredAt = Date.now()), { dir, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 150));
    expect(acquiredAt).toBe(0); // still waiting while the holder lives
    const killedAt = Date.now();
    h.kill("SIGKILL");
    await waiting;
    expect(acquiredAt - killedAt).toBeLessThan(500);
    expect(h.signalCode).toBe("SIGKILL");
  });

  it("waiting leaves the event loop running (an interval ticks meanwhile)", async () => {
    const h = await holder("e");
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      const killer = setTimeout(() => h.kill("SIGKILL"), 400);
      const start = Date.now();
      await withLock("e", () => undefined, { dir, timeoutMs: 10_000 });
      clearTimeout(killer);
      expect(Date.now() - start).toBeGreaterThanOrEqual(350);
      expect(ticks).toBeGreaterThanOrEqual(15);
    } finally {
      clearInterval(timer);
    }
  });

  it("gives up after the timeout with an error naming the lock and the holder's pid; fn never runs", async () => {
    const h = await holder("t");
    let ran = false;
    const start = Date.now();
    const failure = await withLock("t", () => (ran = true), { dir, timeoutMs: 200 }).catch((e: unknown) => e);
    expect(Date.now() - start).toBeGreaterThanOrEqual(200);
    expect(ran).toBe(false);
    expect(failure).toBeInstanceOf(LockBusyError);
    expect(failure).toBeInstanceOf(TsebpfError);
    expect((failure as Error).message).toBe(`t: another process (pid ${h.pid}) is changing it; try again (lock ${join(dir, "t.lock")}, waited 200 ms)`);
    expect(failure).toMatchObject({ lock: "t", path: join(dir, "t.lock"), holderPid: h.pid, timeoutMs: 200 });
    expect(existsSync(join(dir, "t.lock"))).toBe(true);
  });

  it("excludes flock(1) holders too; the message says no pid when the file names none", async () => {
    const path = join(dir, "u.lock");
    writeFileSync(path, "");
    // Its own process group: flock(1) runs the command as its child, killed with it.
    const h = spawn("flock", ["-x", path, "sh", "-c", "echo locked; exec sleep 30"], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    try {
      await says(h, "locked");
      await expect(withLock("u", () => "never", { dir, timeoutMs: 100 })).rejects.toThrow(`u: another process is changing it; try again (lock ${path}, waited 100 ms)`);
    } finally {
      process.kill(-(h.pid as number), "SIGKILL");
    }
    expect(await withLock("u", () => "mine", { dir, timeoutMs: 5000 })).toBe("mine");
  });
});
