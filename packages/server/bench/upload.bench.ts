/**
 * Upload benchmark (part of `pnpm bench`; not a test). A generated 1 GiB file (SF_BENCH_BYTES) is
 * sent with `curl -F` to
 *   - ours:     POST /api/v1/packages/{id}/files of a fresh draft (the built server, SQLite), and
 *   - baseline: ../../shared/bench/upload-sink.mjs — busboy → SHA-256 on the main thread → file
 *               with a 1 MiB write buffer → fsync,
 * alternating which goes first, after one warm-up upload each, `sync` before every timed upload.
 * Rows: MB/s (median of SF_BENCH_ROUNDS, default 3) and our server's RSS growth over the uploads.
 */
import fsp from "node:fs/promises";
import path from "node:path";
import {
  listening,
  curlUpload,
  envInt,
  f1,
  freePort,
  GiB,
  log,
  makeFile,
  median,
  MiB,
  readCpuSeconds,
  report,
  ROOT_DIR,
  ROUNDS,
  runBench,
  sampleRss,
  SHARED_BENCH,
  startChild,
  startOurs,
  syncDisks,
  tempDir,
} from "./lib.js";

const BYTES = envInt("SF_BENCH_BYTES", GiB);

runBench("upload bench", async () => {
  const tmp = await tempDir("sf-bench-upload-");
  const file = path.join(tmp, "upload.bin");
  const sinkDir = path.join(tmp, "sink");
  await fsp.mkdir(sinkDir);
  log(`upload bench: ${f1(BYTES / MiB)} MiB, ${ROUNDS} rounds`);
  await makeFile(file, BYTES);

  const ours = await startOurs("ours (upload)");
  const port = await freePort();
  const sink = await startChild("upload-sink.mjs", process.execPath, [path.join(SHARED_BENCH, "upload-sink.mjs"), ROOT_DIR, sinkDir, String(port)], {
    ready: listening(port),
    url: `http://127.0.0.1:${port}/`,
  });

  const uploadOurs = async () => {
    const pkg = await ours.json<{ id: string }>("POST", "/packages", { title: "upload bench", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 });
    const r = await curlUpload(`${ours.api}/packages/${pkg.id}/files`, file, ours.token);
    const stored = JSON.parse(r.body) as { size: number };
    if (stored.size !== BYTES) throw new Error(`ours stored ${stored.size} bytes`);
    await ours.json("DELETE", `/packages/${pkg.id}`);
    return r.ms;
  };
  const uploadSink = async () => {
    const r = await curlUpload(sink.url, file);
    for (const f of await fsp.readdir(sinkDir)) await fsp.rm(path.join(sinkDir, f));
    return r.ms;
  };

  // Our server's memory over all the uploads, warm-up included, from its fresh start.
  const rss = sampleRss(ours.pid);
  await uploadOurs();
  await uploadSink();
  const times = { ours: [] as number[], baseline: [] as number[], oursCpu: [] as number[] };
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? (["ours", "baseline"] as const) : (["baseline", "ours"] as const);
    for (const who of order) {
      await syncDisks();
      const cpu0 = readCpuSeconds(ours.pid);
      const ms = who === "ours" ? await uploadOurs() : await uploadSink();
      if (who === "ours") times.oursCpu.push(readCpuSeconds(ours.pid) - cpu0);
      times[who].push(ms);
      log(`  round ${round} ${who.padEnd(8)} ${f1(BYTES / 1e6 / (ms / 1000))} MB/s`);
    }
  }
  const mem = rss.stop();
  const oursMbps = BYTES / 1e6 / (median(times.ours) / 1000);
  const baseMbps = BYTES / 1e6 / (median(times.baseline) / 1000);
  const ratio = oursMbps / baseMbps;
  report({
    path: `upload ${f1(BYTES / GiB)} GiB, curl -F`,
    ours: `${f1(oursMbps)} MB/s`,
    baseline: `${f1(baseMbps)} MB/s (busboy + SHA-256 + 1 MiB buffer + fsync)`,
    ratio: ratio.toFixed(2),
    mustReach: "≥ 0.85",
    goal: "≥ 0.95",
    pass: ratio >= 0.85,
  });
  const growth = (mem.peakKiB - mem.beforeKiB) / 1024;
  report({
    path: `server RSS growth, ${ROUNDS + 1} uploads of ${f1(BYTES / GiB)} GiB`,
    ours: `+${f1(growth)} MiB peak (+${f1((mem.lastKiB - mem.beforeKiB) / 1024)} MiB after)`,
    baseline: "—",
    ratio: "—",
    mustReach: "≤ 48 MiB",
    goal: "≤ 32 MiB",
    pass: growth <= 48,
  });
  log(`  our CPU per upload: ${f1(median(times.oursCpu))} s`);
});
