import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Builds the SDK and the CLI once per run: the GitLab template's test runs the built `sf` as its
 * `npx @speedyfiles/cli` (the action's own bundle is committed and checked for freshness instead).
 */
export default function setup(): void {
  for (const dir of ["sdk", "cli"].map((p) => path.join(PACKAGES, p))) {
    const r = spawnSync(process.execPath, [path.join(PACKAGES, "action/node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`build of ${dir} failed:\n${r.stdout}${r.stderr}`);
  }
}
