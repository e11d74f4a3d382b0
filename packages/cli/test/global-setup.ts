import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Builds the SDK and the CLI once per test run, so every test that spawns `dist/bin.js` runs the
 * current source (and two test files never compile into the same dist/ at once).
 */
export default function setup(): void {
  for (const dir of [path.join(CLI, "../sdk"), CLI]) {
    const r = spawnSync(process.execPath, [path.join(CLI, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`build of ${dir} failed:\n${r.stdout}${r.stderr}`);
  }
}
