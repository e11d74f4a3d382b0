// Run by `pnpm pack` / `npm publish` in a package's folder (its prepack and postpack scripts):
// puts the workspace's LICENSE (and, with --spec, openapi.yaml, which the server reads at run
// time) beside package.json so they go into the tarball, and takes them away again afterwards
// (--clean), so the workspace keeps one copy of each.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const here = process.cwd();
if (path.dirname(path.dirname(here)) !== root) throw new Error(`prepack.mjs runs in packages/<name>, not in ${here}`);
const files = ["LICENSE", "openapi.yaml"];

if (process.argv.includes("--clean")) {
  for (const f of files) fs.rmSync(path.join(here, f), { force: true });
} else {
  fs.copyFileSync(path.join(root, "LICENSE"), path.join(here, "LICENSE"));
  if (process.argv.includes("--spec")) fs.copyFileSync(path.join(root, "openapi.yaml"), path.join(here, "openapi.yaml"));
}
