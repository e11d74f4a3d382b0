/**
 * Download benchmark (part of `pnpm bench`; not a test). One 1 GiB file (SF_BENCH_BYTES) is
 * uploaded to our server once; then the same stored blob is fetched with `curl -o /dev/null`
 *   - ours:  the owner's GET /packages/{id}/files/{file_id} and the recipient's GET /links/{link}/files/{file_id},
 *   - nginx: ../../shared/bench/nginx-download.sh (sendfile) serving the blob's folder,
 *   - node:  ../../shared/bench/download-baseline.mjs (fs.createReadStream, 1 MiB chunks) serving the blob,
 * in turns whose order rotates, medians of SF_BENCH_ROUNDS (default 3).
 */
import fs from "node:fs";
import path from "node:path";
import {
  listening,
  curlDownload,
  curlUpload,
  envInt,
  f1,
  freePort,
  GiB,
  log,
  makeFile,
  median,
  MiB,
  report,
  ROUNDS,
  runBench,
  SHARED_BENCH,
  startChild,
  startOurs,
  tempDir,
} from "./lib.js";

const BYTES = envInt("SF_BENCH_BYTES", GiB);

runBench("download bench", async () => {
  const tmp = await tempDir("sf-bench-download-");
  const file = path.join(tmp, "download.bin");
  log(`download bench: ${f1(BYTES / MiB)} MiB, ${ROUNDS} rounds`);
  await makeFile(file, BYTES);

  const ours = await startOurs("ours (download)");
  const pkg = await ours.json<{ id: string }>("POST", "/packages", { title: "download bench", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 });
  const up = JSON.parse((await curlUpload(`${ours.api}/packages/${pkg.id}/files`, file, ours.token)).body) as { id: string };
  const fin = await ours.json<{ magic_link: string }>("POST", `/packages/${pkg.id}/finalize`);
  const secret = fin.magic_link.split("/l/")[1]!;
  // The one blob on disk: the baselines serve exactly the bytes ours does.
  const blobDir = fs.readdirSync(path.join(ours.dataDir, "blobs")).map((d) => path.join(ours.dataDir, "blobs", d))[0]!;
  const blob = path.join(blobDir, fs.readdirSync(blobDir)[0]!);

  // nginx's workers run as an unprivileged user: let them read the blob (temp dirs are 0700).
  for (const d of [ours.dataDir, path.dirname(blobDir), blobDir]) fs.chmodSync(d, 0o755);
  fs.chmodSync(blob, 0o644);
  const nginxPort = await freePort();
  await startChild("nginx", "bash", [path.join(SHARED_BENCH, "nginx-download.sh"), blobDir, String(nginxPort)], {
    ready: listening(nginxPort),
  });
  const nodePort = await freePort();
  await startChild("download-baseline.mjs", process.execPath, [path.join(SHARED_BENCH, "download-baseline.mjs"), blob, String(nodePort)], {
    ready: listening(nodePort),
  });

  const targets = {
    owner: () => curlDownload(`${ours.api}/packages/${pkg.id}/files/${up.id}`, ours.token),
    link: () => curlDownload(`${ours.api}/links/${secret}/files/${up.id}`),
    nginx: () => curlDownload(`http://127.0.0.1:${nginxPort}/${path.basename(blob)}`),
    node: () => curlDownload(`http://127.0.0.1:${nodePort}/`),
  };
  const names = Object.keys(targets) as (keyof typeof targets)[];
  for (const n of names) await targets[n](); // warm-up: page cache and JIT for everyone
  const speeds: Record<string, number[]> = { owner: [], link: [], nginx: [], node: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
    for (const n of order) {
      const s = await targets[n]();
      speeds[n]!.push(s);
      log(`  round ${round} ${n.padEnd(6)} ${f1(s)} MB/s`);
    }
  }
  const m = (n: string) => median(speeds[n]!);
  for (const who of ["owner", "link"] as const) {
    const ratio = m(who) / m("nginx");
    report({
      path: `${who} download ${f1(BYTES / GiB)} GiB`,
      ours: `${f1(m(who))} MB/s`,
      baseline: `nginx sendfile ${f1(m("nginx"))}; bare Node read stream ${f1(m("node"))} MB/s`,
      ratio: `${ratio.toFixed(2)}× nginx, ${(m(who) / m("node")).toFixed(2)}× Node`,
      mustReach: "≥ 0.8× nginx",
      goal: "≥ 0.9×",
      pass: ratio >= 0.8,
    });
  }
});
