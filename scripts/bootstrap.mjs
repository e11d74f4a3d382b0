#!/usr/bin/env node
// The two README commands run through here so they work on a fresh machine with only Node 22.12+
// (24 LTS recommended) and npm: it finds (or fetches) pnpm, installs the workspace, builds it, then
// starts the server (`npm start`) or runs every test (`npm test`).
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Too old a Node fails later in ways that do not name the cause (pnpm's engine check, a native
// module that will not load): say it in one line and stop. The floor is the root package.json's.
{
  const want = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")).engines.node;
  const [wMaj, wMin = 0] = want
    .replace(/^>=\s*/, "")
    .split(".")
    .map(Number);
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (maj < wMaj || (maj === wMaj && min < wMin)) {
    process.stderr.write(
      `SpeedyFiles needs Node ${want.replace(/^>=\s*/, "")} or newer (24 LTS recommended), but this is Node ${process.version} (${process.execPath}): install Node 24 from https://nodejs.org (or your package manager), put it first on PATH and run the command again.\n`,
    );
    process.exit(1);
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PNPM_VERSION = "12.4.2";
const env = { ...process.env };

// better-sqlite3 compiles from source; point node-gyp at the headers Node ships with when they
// exist locally, so it does not try to download them (impossible on an offline build box).
if (!env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), "..");
  if (fs.existsSync(path.join(prefix, "include", "node", "node.h"))) env.npm_config_nodedir = prefix;
}

function pnpmCommand() {
  const probe = spawnSync("pnpm", ["--version"], { encoding: "utf8", env });
  if (probe.status === 0 && probe.stdout.trim().startsWith("12.")) return ["pnpm", []];
  return ["npx", ["-y", `pnpm@${PNPM_VERSION}`]];
}

const [pnpmBin, pnpmPre] = pnpmCommand();
function pnpm(args, opts = {}) {
  const r = spawnSync(pnpmBin, [...pnpmPre, ...args], { cwd: root, stdio: "inherit", env, ...opts });
  if (r.status !== 0) {
    process.stderr.write(`\nbootstrap: 'pnpm ${args.join(" ")}' failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

const mode = process.argv[2];
const lockfile = fs.existsSync(path.join(root, "pnpm-lock.yaml"));
pnpm(["install", ...(lockfile && env.CI ? ["--frozen-lockfile"] : [])]);
pnpm(["-r", "build"]);

if (mode === "start") {
  const child = spawn(process.execPath, [path.join(root, "packages/server/dist/main.js"), ...process.argv.slice(3)], {
    cwd: root,
    stdio: "inherit",
    env,
  });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
} else if (mode === "test") {
  if (fs.existsSync(path.join(root, "packages/sdk/package.json"))) pnpm(["gen:check"]);
  pnpm(["-r", "typecheck"]);
  // Biome (lint + format check) and Redocly on the contract: seconds, before minutes of suites.
  pnpm(["lint"]);
  // Every suite runs, one after another, whatever the one before did (pnpm -r stops at the first
  // failing package); a suite that writes no report is named and fails the run. The root
  // scripts' own tests (the runner's) go first: they take seconds.
  const { closingLines, runSuites, summarize, testPackages } = await import("./test-run.mjs");
  const suites = [
    {
      name: "scripts",
      command: process.execPath,
      args: (reportDir) => [
        "--test",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        "--test-reporter=./scripts/node-test-report.mjs",
        `--test-reporter-destination=${path.join(reportDir, "scripts.json")}`,
        "scripts/test-run.test.mjs",
      ],
      cwd: root,
    },
    ...testPackages(root).map((p) => ({ name: p.name, command: pnpmBin, args: [...pnpmPre, "run", "test"], cwd: p.dir })),
  ];
  const reportRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sf-test-report-"));
  const runs = runSuites(suites, { reportRoot, env });
  fs.rmSync(reportRoot, { recursive: true, force: true });
  const s = summarize(runs);
  // The closing line, summed over every suite, stays last and alone for CI.
  process.stdout.write(`\n${closingLines(s).join("\n")}\n`);
  process.exit(s.ok ? 0 : 1);
} else {
  process.stderr.write("usage: node scripts/bootstrap.mjs start|test\n");
  process.exit(2);
}
