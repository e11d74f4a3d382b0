#!/usr/bin/env node
// `npm run release`: builds the workspace and writes into release/
//   speedyfiles-{sdk,cli,server}-<version>.tgz   `pnpm pack` (workspace:* becomes the version)
//   sf-<platform>-<arch>                          `sf` as a Node single executable application
//   SHA256SUMS                                    sha256sum format (`sha256sum -c SHA256SUMS`)
// Everything is built with the Node that runs this script, whose binary becomes the executable.
//
//   --no-build   pack what packages/*/dist already holds (the release test builds first itself)
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "release");
const work = path.join(out, ".work");
const { version } = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const started = Date.now();

function step(what) {
  process.stderr.write(`release: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"], ...opts });
  if (r.status !== 0) throw new Error(`'${cmd} ${args.join(" ")}' failed (exit ${r.status ?? r.signal})`);
}

const runPnpm = (args) => run("pnpm", args);

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });

if (!process.argv.includes("--no-build")) {
  step("building the workspace");
  runPnpm(["-r", "build"]);
}

step("packing the three packages");
for (const name of ["sdk", "cli", "server"]) {
  runPnpm(["--filter", `@speedyfiles/${name}`, "pack", "--pack-destination", out]);
  const tgz = path.join(out, `speedyfiles-${name}-${version}.tgz`);
  if (!fs.existsSync(tgz)) throw new Error(`pnpm pack did not write ${tgz}`);
}

// The single executable: the CLI (and the SDK, commander, ora, undici…) bundled to one CommonJS
// file, the form Node's single executable applications run, then injected into a copy of this
// Node binary. https://nodejs.org/api/single-executable-applications.html
step("bundling sf to one CommonJS file");
const esbuild = await import("esbuild");
const bundle = path.join(work, "sf.cjs");
const built = await esbuild.build({
  entryPoints: [path.join(root, "packages/cli/src/bin.ts")],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: `node${process.versions.node.split(".")[0]}`,
  // A shebang in the entry would stay on line 1 of the bundle: harmless for SEA, but not needed.
  banner: { js: `/* sf ${version}: bundled by scripts/release.mjs */` },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});
if (built.errors.length) throw new Error("esbuild failed");

step("making the SEA blob and injecting it into a copy of node");
const blob = path.join(work, "sf.blob");
const seaConfig = path.join(work, "sea-config.json");
fs.writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2));
run(process.execPath, ["--experimental-sea-config", seaConfig]);
const exe = path.join(out, `sf-${process.platform}-${process.arch}${process.platform === "win32" ? ".exe" : ""}`);
fs.copyFileSync(process.execPath, exe);
fs.chmodSync(exe, 0o755);
const postject = path.join(path.dirname(fileURLToPath(import.meta.resolve("postject/package.json"))), "dist", "cli.js");
run(process.execPath, [
  postject,
  exe,
  "NODE_SEA_BLOB",
  blob,
  "--sentinel-fuse",
  "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ...(process.platform === "darwin" ? ["--macho-segment-name", "NODE_SEA"] : []),
]);
fs.rmSync(work, { recursive: true, force: true });

step("SHA256SUMS");
const files = fs
  .readdirSync(out)
  .filter((f) => f !== "SHA256SUMS")
  .sort();
const sums = files
  .map(
    (f) =>
      `${crypto
        .createHash("sha256")
        .update(fs.readFileSync(path.join(out, f)))
        .digest("hex")}  ${f}\n`,
  )
  .join("");
fs.writeFileSync(path.join(out, "SHA256SUMS"), sums);

for (const f of [...files, "SHA256SUMS"]) {
  const size = fs.statSync(path.join(out, f)).size;
  process.stdout.write(`${path.relative(process.cwd(), path.join(out, f))}\t${(size / 1024 / 1024).toFixed(2)} MiB\n`);
}
step("done");
