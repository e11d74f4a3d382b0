// Bundles the encrypted pages' browser scripts (web-src/) with age-encryption and @noble/hashes
// into dist/assets/, which routes/web.ts serves: /assets/e2e/<name>.js for the pages and
// /decrypt-sw.js, the decrypting service worker. Run by `pnpm build` after tsc; not committed.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "dist/assets");
fs.rmSync(out, { recursive: true, force: true });

const common = {
  bundle: true,
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  absWorkingDir: here,
  logLevel: "warning",
};
// The pages load these as modules (the link page's <script type="module">, upload.js's import()).
await build({
  ...common,
  format: "esm",
  entryPoints: { "e2e/encrypted-link": "web-src/encrypted-link.js", "e2e/encrypted-upload": "web-src/encrypted-upload.js" },
  outdir: out,
});
// A service worker registered as a classic script: one self-contained file.
await build({ ...common, format: "iife", entryPoints: { "decrypt-sw": "web-src/decrypt-sw.js" }, outdir: out });

for (const f of ["e2e/encrypted-link.js", "e2e/encrypted-upload.js", "decrypt-sw.js"]) {
  console.log(`wrote dist/assets/${f} (${(fs.statSync(path.join(out, f)).size / 1024).toFixed(0)} KiB)`);
}
