// CI: send the build output to QA and print the link. SF_URL and SF_TOKEN come from CI secrets.
// Run as `node ci-upload.mjs dist/` after compiling, or with tsx.
import { ApiError, SpeedyFiles } from "../src/index.js";

const sf = new SpeedyFiles(); // reads SF_URL and SF_TOKEN
const dirs = process.argv.slice(2);
const commit = (process.env.GITHUB_SHA ?? "local").slice(0, 7);

try {
  const started = Date.now();
  let lastPct = -1;
  const {
    magic_link,
    expires_at,
    package: pkg,
  } = await sf.send({
    files: dirs.length > 0 ? dirs : ["dist"],
    to: process.env.QA_EMAIL ?? "qa@example.com",
    title: `Build ${commit}`,
    message: `Artifacts of ${commit}`,
    ttl_days: 3,
    concurrency: 4,
    signal: AbortSignal.timeout(30 * 60_000),
    onProgress: ({ bytes, totalBytes }) => {
      const pct = totalBytes === 0 ? 100 : Math.floor((bytes / totalBytes) * 100);
      if (pct % 10 === 0 && pct !== lastPct) console.error(`uploading… ${pct}%`);
      lastPct = pct;
    },
  });
  console.error(`sent ${pkg.file_count} files (${pkg.total_size} bytes) in ${Date.now() - started} ms, expires ${expires_at}`);
  console.log(magic_link);
} catch (err) {
  if (err instanceof ApiError) console.error(`${err.message} (request id ${err.requestId ?? "n/a"})`);
  else console.error(err);
  process.exitCode = 1;
}
