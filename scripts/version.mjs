// The workspace has one version, defined by the root package.json's "version". This script
// writes it everywhere it must be repeated: each package's package.json (npm and `pnpm pack`
// read it there) and the `src/version.ts` constants of the SDK and the CLI (so `sf --version`
// and the SDK's User-Agent need no package.json at run time, which a bundled single
// executable does not have).
//
//   node scripts/version.mjs            write the root's version everywhere
//   node scripts/version.mjs 0.2.0      set the root's version, then write it everywhere
//   node scripts/version.mjs --check    fail if any copy differs (run by `pnpm gen:check`)
import fs from "node:fs";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const read = (rel) => fs.readFileSync(new URL(rel, root), "utf8");
const rootPkgPath = "package.json";
const packages = ["packages/sdk", "packages/cli", "packages/server"];

const args = process.argv.slice(2);
const check = args.includes("--check");
const wanted = args.find((a) => !a.startsWith("--"));

if (wanted !== undefined) {
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(wanted)) {
    console.error(`not a semantic version: ${wanted}`);
    process.exit(2);
  }
  const pkg = JSON.parse(read(rootPkgPath));
  pkg.version = wanted;
  fs.writeFileSync(new URL(rootPkgPath, root), `${JSON.stringify(pkg, null, 2)}\n`);
}

const version = JSON.parse(read(rootPkgPath)).version;
if (typeof version !== "string") {
  console.error("the root package.json has no version");
  process.exit(1);
}

function versionModule(pkgName, extra) {
  return `/**
 * DO NOT EDIT. Written by scripts/version.mjs from the root package.json's version, the one
 * place that defines it; \`pnpm gen:check\` fails when this differs.
 */

/** The version of ${pkgName}: the workspace's one version. */
export const VERSION = "${version}";
${extra}`;
}

/** Each derived file and what it must contain. */
const wantedFiles = new Map();
for (const dir of packages) {
  const rel = `${dir}/package.json`;
  const text = read(rel);
  const pkg = JSON.parse(text);
  // Replace the one field in place, so the rest of the file keeps its layout.
  wantedFiles.set(rel, text.replace(/("version":\s*)"[^"]*"/, `$1"${version}"`));
  if (pkg.version === undefined) throw new Error(`${rel} has no "version" field to keep in step`);
}
wantedFiles.set(
  "packages/sdk/src/version.ts",
  versionModule(
    "@speedyfiles/sdk",
    `
/** \`speedyfiles-sdk/${version} node/24.0.0\`: sent with every request. */
export const USER_AGENT = \`speedyfiles-sdk/\${VERSION} node/\${process.versions.node}\`;
`,
  ),
);
wantedFiles.set("packages/cli/src/version.ts", versionModule("@speedyfiles/cli, printed by `sf --version`", ""));

let stale = 0;
for (const [rel, contents] of wantedFiles) {
  const file = new URL(rel, root);
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  if (current === contents) continue;
  if (check) {
    console.error(`${rel} does not carry the workspace version ${version}: run \`node scripts/version.mjs\` and commit the result.`);
    stale++;
  } else {
    fs.writeFileSync(file, contents);
    console.log(`wrote ${fileURLToPath(file)}`);
  }
}
if (stale) process.exit(1);
if (check) console.log(`every package carries the workspace version ${version}`);
