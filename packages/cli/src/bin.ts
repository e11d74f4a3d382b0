#!/usr/bin/env node
import { setMaxListeners } from "node:events";
import { ExitCode } from "./exit-codes.js";
import { reportError, run } from "./run.js";

// Every upload in flight listens on the same abort signal; 16 at once is expected, not a leak.
setMaxListeners(64);

// The only place that ends the process or sets its exit code (STYLE: commands throw).
const interrupt = new AbortController();
let interrupted = false;
process.on("SIGINT", () => {
  // First Ctrl-C: abort transfers and let them stop cleanly (`sf send` keeps its draft to resume). Second: leave now.
  if (interrupted) process.exit(ExitCode.INTERRUPTED);
  interrupted = true;
  interrupt.abort(new Error("interrupted"));
});
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  // `sf packages list | head`: the reader left; not an error of ours.
  if (err.code === "EPIPE") process.exit(interrupted ? ExitCode.INTERRUPTED : ExitCode.OK);
  throw err;
});

const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, signal: interrupt.signal };
// No top-level await: the single executable (scripts/release.mjs) runs this file bundled as CommonJS.
run(process.argv.slice(2), io).then(
  () => {
    process.exitCode = interrupted ? ExitCode.INTERRUPTED : ExitCode.OK;
  },
  (err: unknown) => {
    const code = reportError(err, io);
    process.exitCode = interrupted ? ExitCode.INTERRUPTED : code;
  },
);
