/**
 * S3 benchmark (part of `pnpm bench`; not a test): one 1 GiB file (SF_BENCH_BYTES) uploaded with
 * `curl -F` and downloaded with `curl -o /dev/null` through the built server
 *   - with SF_STORAGE=s3 on s3rver (npm, the store the tests use, a child process on loopback),
 *   - downloaded again with SF_S3_PRESIGN_DOWNLOADS=true (`curl -L`: the 302, then s3rver itself),
 *   - against the same server on local disk (the baseline),
 * and the store's own pace (lib-storage uploading the file straight to s3rver),
 * medians of SF_BENCH_ROUNDS (default 3), plus the server's RSS growth while uploading to S3
 * after a warm-up upload (lib-storage keeps at most 4 parts of 8 MiB in flight per upload). s3rver is a JavaScript fake that
 * writes and MD5s every byte on the same 2 cores: the S3 numbers are a floor, not what a real
 * store would give.
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Upload } from "@aws-sdk/lib-storage";
import { s3Client } from "../src/storage/s3.js";
import {
  curlDownload,
  curlUpload,
  envInt,
  f1,
  GiB,
  log,
  makeFile,
  median,
  MiB,
  report,
  ROUNDS,
  run,
  runBench,
  sampleRss,
  startChild,
  startOurs,
  stopChild,
  syncDisks,
  tempDir,
  type Ours,
} from "./lib.js";

const BYTES = envInt("SF_BENCH_BYTES", GiB);
const S3RVER = path.join(path.dirname(createRequire(import.meta.url).resolve("s3rver/package.json")), "bin/s3rver.js");
const BUCKET = "bench";

runBench("s3 bench", async () => {
  const tmp = await tempDir("sf-bench-s3-");
  const file = path.join(tmp, "s3.bin");
  log(`s3 bench: ${f1(BYTES / MiB)} MiB, ${ROUNDS} rounds`);
  await makeFile(file, BYTES);
  const warmUp = path.join(tmp, "warm-up.bin");
  await makeFile(warmUp, 9 * MiB);

  const storeDir = await tempDir("sf-bench-s3rver-");
  const store = await startChild("s3rver", process.execPath, [S3RVER, "-d", storeDir, "-a", "127.0.0.1", "-p", "0", "-s", "--configure-bucket", BUCKET], {
    ready: /listening on (127\.0\.0\.1:\d+)/,
  });
  const s3Env = {
    SF_STORAGE: "s3",
    SF_S3_BUCKET: BUCKET,
    SF_S3_ENDPOINT: `http://${store.url}`,
    SF_S3_FORCE_PATH_STYLE: "true",
    SF_S3_ACCESS_KEY_ID: "S3RVER",
    SF_S3_SECRET_ACCESS_KEY: "S3RVER",
    SF_S3_PREFIX: "bench/",
    // 8 MiB parts, 4 in flight (the default plan); the bench's usual "no limit" is refused with S3.
    SF_MAX_FILE_BYTES: String(16 * GiB),
  };

  /** Upload and download rounds against one server; returns MB/s medians. */
  async function measure(ours: Ours, label: string, rss = false) {
    const pkg = await ours.json<{ id: string }>("POST", "/packages", { title: "s3 bench", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 });
    const up: number[] = [];
    const down: number[] = [];
    // A first small upload loads and sets up the SDK: its one-time memory is not the uploads'.
    await curlUpload(`${ours.api}/packages/${pkg.id}/files`, warmUp, ours.token);
    const mem = rss ? sampleRss(ours.pid) : undefined;
    let fileId = "";
    for (let round = 1; round <= ROUNDS; round++) {
      await syncDisks();
      const r = await curlUpload(`${ours.api}/packages/${pkg.id}/files`, file, ours.token);
      const stored = JSON.parse(r.body) as { id: string; size: number };
      if (stored.size !== BYTES) throw new Error(`${label} stored ${stored.size} bytes`);
      up.push(BYTES / 1e6 / (r.ms / 1000));
      if (round < ROUNDS) await ours.json("DELETE", `/packages/${pkg.id}/files/${stored.id}`);
      fileId = stored.id;
      log(`  ${label} upload round ${round}: ${f1(up.at(-1)!)} MB/s`);
    }
    const growth = mem ? (mem.stop().peakKiB - mem.stop().beforeKiB) / 1024 : NaN;
    for (let round = 1; round <= ROUNDS; round++) {
      down.push(await curlDownload(`${ours.api}/packages/${pkg.id}/files/${fileId}`, ours.token));
      log(`  ${label} download round ${round}: ${f1(down.at(-1)!)} MB/s`);
    }
    return { up: median(up), down: median(down), growth, pkg: pkg.id, fileId };
  }

  const local = await startOurs("ours (local disk)");
  const onDisk = await measure(local, "local");
  await stopChild(local);

  const s3 = await startOurs("ours (S3)", s3Env);
  const onS3 = await measure(s3, "s3", true);
  await stopChild(s3);

  // The same database and bucket, now with presigned downloads: curl follows the 302 to s3rver.
  const presigning = await startOurs("ours (S3, presigned)", { ...s3Env, SF_DATA_DIR: s3.dataDir, SF_S3_PRESIGN_DOWNLOADS: "true" });
  const presigned: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const r = await run("curl", [
      "-sS",
      "--fail",
      "-L",
      "-o",
      "/dev/null",
      "-w",
      "%{speed_download}",
      "-H",
      `Authorization: Bearer ${presigning.token}`,
      `${presigning.api}/packages/${onS3.pkg}/files/${onS3.fileId}`,
    ]);
    if (r.code !== 0) throw new Error(`presigned download failed: ${r.stderr}`);
    presigned.push(Number(r.stdout) / 1e6);
    log(`  s3 presigned download round ${round}: ${f1(presigned.at(-1)!)} MB/s`);
  }

  // The store's own pace: the same file straight from disk to s3rver with lib-storage (the same
  // 8 MiB parts, 4 at once), no server in between.
  const client = s3Client({
    bucket: BUCKET,
    region: "us-east-1",
    endpoint: `http://${store.url}`,
    forcePathStyle: true,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    prefix: "",
    presignDownloads: false,
    presignSeconds: 60,
  });
  const bare: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await syncDisks();
    const t0 = performance.now();
    await new Upload({ client, queueSize: 4, partSize: 8 * MiB, params: { Bucket: BUCKET, Key: `bare/${round}`, Body: fs.createReadStream(file, { highWaterMark: MiB }) } }).done();
    bare.push(BYTES / 1e6 / ((performance.now() - t0) / 1000));
    log(`  bare lib-storage upload round ${round}: ${f1(bare.at(-1)!)} MB/s`);
  }
  client.destroy();

  const size = `${f1(BYTES / GiB)} GiB`;
  report({
    path: `upload ${size} to S3 (s3rver): through the server vs lib-storage from the file`,
    ours: `${f1(onS3.up)} MB/s`,
    baseline: `${f1(median(bare))} MB/s (lib-storage → s3rver, no server)`,
    ratio: (onS3.up / median(bare)).toFixed(2),
    mustReach: "≥ 0.7",
    goal: "≥ 0.9",
    pass: onS3.up / median(bare) >= 0.7,
  });
  report({
    path: `download ${size} from S3 (s3rver): through the server vs the presigned URL`,
    ours: `${f1(onS3.down)} MB/s`,
    baseline: `${f1(median(presigned))} MB/s (curl -L: 302, then s3rver)`,
    ratio: (onS3.down / median(presigned)).toFixed(2),
    mustReach: "—",
    goal: "—",
    pass: true,
  });
  const info = { mustReach: "—", goal: "—", pass: true };
  report({
    path: `upload ${size} to S3 (s3rver) vs local disk`,
    ours: `${f1(onS3.up)} MB/s`,
    baseline: `${f1(onDisk.up)} MB/s (local disk)`,
    ratio: (onS3.up / onDisk.up).toFixed(2),
    ...info,
  });
  report({
    path: `download ${size} from S3 through the server vs local disk`,
    ours: `${f1(onS3.down)} MB/s`,
    baseline: `${f1(onDisk.down)} MB/s (local disk)`,
    ratio: (onS3.down / onDisk.down).toFixed(2),
    ...info,
  });
  report({
    path: `download ${size} from S3, presigned 302 (curl -L) vs local disk`,
    ours: `${f1(median(presigned))} MB/s`,
    baseline: `${f1(onDisk.down)} MB/s (local disk)`,
    ratio: (median(presigned) / onDisk.down).toFixed(2),
    ...info,
  });
  report({
    path: `server RSS growth, ${ROUNDS} uploads of ${size} to S3`,
    ours: `+${f1(onS3.growth)} MiB peak`,
    baseline: "—",
    ratio: "—",
    mustReach: "≤ 96 MiB",
    goal: "≤ 48 MiB",
    pass: onS3.growth <= 96,
  });
});
