#!/usr/bin/env node
import { packageVersion } from "./version.js";

// `tsebpf ... | head` closes the pipe early: that is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // Needs nothing but package.json: not even commander (what run() prints for it too).
  process.stdout.write(`${packageVersion()}\n`);
} else {
  const { run } = await import("./program.js");
  process.exitCode = await run(args);
}
