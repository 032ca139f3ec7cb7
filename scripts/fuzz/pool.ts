/**
 * One worker thread with the campaign's bounds: a per-input time bound (the worker's start
 * counter must move within it, else the worker is terminated and the input is a "hang") and a
 * heap bound (resourceLimits: the worker dies with ERR_WORKER_OUT_OF_MEMORY and the input is a
 * "memory" finding). After either, a fresh worker takes the rest of the batch.
 */
import { Worker } from "node:worker_threads";
import type { Outcome } from "./examine.js";
import type { WorkItem, WorkReply } from "./worker.js";

export interface Bounds {
  /** Milliseconds one input may take. */
  timeMs: number;
  /** Megabytes of V8 heap the worker may use. */
  memoryMb: number;
}

export interface BatchResult {
  counts: Record<string, number>;
  findings: { id: number; outcome: Outcome }[];
}

const WORKER = new URL("./worker.js", import.meta.url);

export class BoundedWorker {
  private worker: Worker | undefined;
  private started = new Int32Array(new SharedArrayBuffer(12));

  constructor(private readonly bounds: Bounds) {}

  private spawn(): Worker {
    this.started = new Int32Array(new SharedArrayBuffer(12));
    const w = new Worker(WORKER, {
      workerData: { started: this.started.buffer },
      resourceLimits: { maxOldGenerationSizeMb: this.bounds.memoryMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, this.bounds.memoryMb >> 2)) },
      stdout: false,
      stderr: false,
    });
    w.unref();
    return w;
  }

  /** Examines the items; hangs and out-of-memory deaths become findings of their item. */
  async run(items: WorkItem[], batch = 0): Promise<BatchResult> {
    const out: BatchResult = { counts: {}, findings: [] };
    let rest = items;
    while (rest.length > 0) {
      const worker = (this.worker ??= this.spawn());
      const started = this.started;
      const before = Atomics.load(started, 0);
      const reply = await new Promise<WorkReply | { died: "hang" | "memory" | "crash"; id: number; message: string }>((resolve) => {
        let last = before;
        let lastChange = Date.now();
        const timer = setInterval(() => {
          const now = Atomics.load(started, 0);
          if (now !== last || Atomics.load(started, 2) === 0) {
            last = now;
            lastChange = Date.now();
          } else if (Date.now() - lastChange > this.bounds.timeMs) {
            finish({ died: "hang", id: Atomics.load(started, 1), message: `no answer within ${this.bounds.timeMs} ms` });
          }
        }, Math.max(10, Math.min(100, this.bounds.timeMs / 4)));
        const onMessage = (r: WorkReply) => finish(r);
        const onError = (e: Error & { code?: string }) =>
          finish({ died: e.code === "ERR_WORKER_OUT_OF_MEMORY" ? "memory" : "crash", id: Atomics.load(started, 1), message: e.code === "ERR_WORKER_OUT_OF_MEMORY" ? `heap past ${this.bounds.memoryMb} MB` : e.message });
        const onExit = (code: number) => finish({ died: "crash", id: Atomics.load(started, 1), message: `worker exited with ${code}` });
        const finish = (r: Parameters<typeof resolve>[0]) => {
          clearInterval(timer);
          worker.off("message", onMessage).off("error", onError).off("exit", onExit);
          resolve(r);
        };
        worker.on("message", onMessage).on("error", onError).on("exit", onExit);
        worker.postMessage({ batch, items: rest });
      });
      if ("died" in reply) {
        void this.worker?.terminate();
        this.worker = undefined;
        const at = Math.max(0, rest.findIndex((i) => i.id === reply.id));
        const kind = reply.died === "hang" ? "hang" : "memory";
        const errorClass = reply.died === "hang" ? "Hang" : reply.died === "memory" ? "OutOfMemory" : "WorkerCrash";
        const key = `${kind}|${errorClass}|${reply.message}`;
        out.counts[key] = (out.counts[key] ?? 0) + 1;
        out.findings.push({ id: rest[at]!.id, outcome: { kind, errorClass, key: reply.message, message: reply.message } });
        rest = rest.slice(at + 1);
        continue;
      }
      for (const [k, n] of Object.entries(reply.counts)) out.counts[k] = (out.counts[k] ?? 0) + n;
      out.findings.push(...reply.findings);
      rest = [];
    }
    return out;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
