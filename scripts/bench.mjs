#!/usr/bin/env node
// `pnpm bench`: every benchmark, each against its baseline measured in the same run, then one
// table (ours, baseline, ratio, target). Benchmarks are not tests: `npm test` never runs them.
// SF_BENCH_ONLY=upload,api runs some of them; SF_BENCH_ROUNDS, SF_BENCH_BYTES, … are passed on.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BENCHES = [
  ["upload", "packages/server", "bench/upload.bench.ts"],
  ["tus", "packages/server", "bench/tus.bench.ts"],
  ["download", "packages/server", "bench/download.bench.ts"],
  ["api", "packages/server", "bench/api.bench.ts"],
  ["send", "packages/cli", "bench/send.bench.ts"],
  ["concurrency", "packages/server", "bench/concurrency.bench.ts"],
  ["scale", "packages/server", "bench/scale.bench.ts"],
  ["s3", "packages/server", "bench/s3.bench.ts"],
];
const only = process.env.SF_BENCH_ONLY?.split(",").map((s) => s.trim());

for (const tool of ["curl", "wrk", "nginx"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) {
    process.stderr.write(`bench: ${tool} is missing (apt-get install -y curl wrk nginx-light)\n`);
    process.exit(2);
  }
}
// The built server and sf are what is measured.
if (spawnSync("pnpm", ["-r", "build"], { cwd: root, stdio: "inherit" }).status !== 0) process.exit(1);

const rows = [];
let failed = false;
for (const [name, dir, file] of BENCHES) {
  if (only && !only.includes(name)) continue;
  process.stderr.write(`\n== ${name}\n`);
  const code = await new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", file], { cwd: path.join(root, dir), stdio: ["ignore", "pipe", "inherit"] });
    let buf = "";
    p.stdout.on("data", (c) => {
      buf += c.toString();
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("BENCH-ROW ")) rows.push(JSON.parse(line.slice(10)));
        else if (line.trim()) process.stderr.write(`${line}\n`);
      }
    });
    p.on("close", resolve);
  });
  if (code !== 0) {
    failed = true;
    rows.push({ path: `${name}: the benchmark failed (exit ${code})`, ours: "—", baseline: "—", ratio: "—", mustReach: "—", goal: "—", pass: false });
  }
}

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const lines = [
  "",
  `pnpm bench, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  "",
  "| path | ours | baseline | ratio | must reach | goal | |",
  "|---|---|---|---|---|---|---|",
  ...rows.map((r) => `| ${r.path} | ${r.ours} | ${r.baseline} | ${r.ratio} | ${r.mustReach} | ${r.goal} | ${r.pass ? "ok" : "**missed**"} |`),
  "",
];
process.stdout.write(lines.join("\n"));
if (process.env.SF_BENCH_OUT) fs.writeFileSync(process.env.SF_BENCH_OUT, lines.join("\n"));
process.exit(failed ? 1 : 0);
