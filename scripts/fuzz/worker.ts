/**
 * The fuzz campaign's worker thread: examines the inputs it is sent, one by one, counting each
 * start in shared memory (so the main thread sees a hang), and answers with the outcome counts
 * and the findings. Runs under resourceLimits: an input that allocates past the bound kills it.
 */
import { parentPort, workerData } from "node:worker_threads";
import { examineObject, isFinding, type Outcome } from "./examine.js";

export interface WorkItem {
  id: number;
  bytes: Uint8Array;
  target?: Uint8Array;
}
export interface WorkRequest {
  batch: number;
  items: WorkItem[];
}
export interface WorkReply {
  batch: number;
  /** "kind|class|key" -> count. */
  counts: Record<string, number>;
  findings: { id: number; outcome: Outcome }[];
}

const started = new Int32Array(workerData.started as SharedArrayBuffer);
// Loaded: from now on the main thread's clock runs (module loading on a busy machine is no hang).
Atomics.store(started, 2, 1);

parentPort!.on("message", (req: WorkRequest) => {
  const counts: Record<string, number> = {};
  const findings: WorkReply["findings"] = [];
  for (const item of req.items) {
    Atomics.store(started, 1, item.id);
    Atomics.add(started, 0, 1);
    const outcome = examineObject(item.bytes, item.target);
    const k = `${outcome.kind}|${outcome.errorClass}|${outcome.key}`;
    counts[k] = (counts[k] ?? 0) + 1;
    if (isFinding(outcome)) findings.push({ id: item.id, outcome });
  }
  parentPort!.postMessage({ batch: req.batch, counts, findings } satisfies WorkReply);
});
