/** Runs the tsebpf CLI in-process and captures its output. */
import { run } from "../../src/cli/program.js";

export async function tsebpf(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}
