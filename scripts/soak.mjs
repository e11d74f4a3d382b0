#!/usr/bin/env node
// `pnpm soak`: builds the packages, then runs packages/server/bench/soak.ts (two built server
// processes on PostgreSQL under mixed traffic for SF_SOAK_MINUTES, default 30). Not a test:
// `npm test` never runs it. What it does and how to read its table: docs/benchmarks.md#soak.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// The built server is what runs.
if (spawnSync("pnpm", ["-r", "build"], { cwd: root, stdio: "inherit" }).status !== 0) process.exit(1);
const p = spawn(process.execPath, ["--import", "tsx", "bench/soak.ts"], { cwd: path.join(root, "packages/server"), stdio: "inherit" });
// Ctrl-C reaches the soak too (same process group): it reports the minutes so far and cleans up.
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => undefined);
p.on("close", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
