/**
 * Concurrency benchmark (part of `pnpm bench`; not a test): 8 uploads of 256 MiB at once (curl -F),
 * then 8 downloads of 1 GiB at once (curl, half through the owner's API, half through a magic
 * link), against the built server. Every transfer's SHA-256 is checked (the server's answer for
 * the uploads, the bytes received for the downloads). The row: the server's peak RSS growth over
 * its fresh start; target under 160 MiB.
 */
import path from "node:path";
import { curlUpload, f1, GiB, log, makeFile, MiB, report, run, runBench, sampleRss, sha256File, startOurs, tempDir } from "./lib.js";

const UPLOADS = 8;
const UPLOAD_BYTES = 256 * MiB;
const DOWNLOADS = 8;
const DOWNLOAD_BYTES = GiB;

runBench("concurrency bench", async () => {
  const tmp = await tempDir("sf-bench-conc-");
  const small = path.join(tmp, "upload.bin");
  const big = path.join(tmp, "download.bin");
  await makeFile(small, UPLOAD_BYTES);
  await makeFile(big, DOWNLOAD_BYTES);
  const [smallSha, bigSha] = await Promise.all([sha256File(small), sha256File(big)]);

  const ours = await startOurs("ours (concurrency)");
  const rss = sampleRss(ours.pid);
  log(`concurrency bench: ${UPLOADS} × ${UPLOAD_BYTES / MiB} MiB uploads at once`);
  const pkg = await ours.json<{ id: string }>("POST", "/packages", { title: "concurrency", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 });
  let t = Date.now();
  const uploads = await Promise.all(
    Array.from({ length: UPLOADS }, async (_, i) => {
      const r = await curlUpload(`${ours.api}/packages/${pkg.id}/files`, `${small};filename=u${i}.bin`, ours.token);
      return JSON.parse(r.body) as { sha256: string; size: number };
    }),
  );
  const uploadsOk = uploads.every((u) => u.sha256 === smallSha && u.size === UPLOAD_BYTES);
  log(`  uploads took ${f1((Date.now() - t) / 1000)} s, every SHA-256 ${uploadsOk ? "right" : "WRONG"}`);
  const afterUploads = rss.stop();

  const rss2 = sampleRss(ours.pid);
  const dl = await ours.json<{ id: string }>("POST", "/packages", { title: "concurrency downloads", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 });
  const file = JSON.parse((await curlUpload(`${ours.api}/packages/${dl.id}/files`, big, ours.token)).body) as { id: string };
  const secret = (await ours.json<{ magic_link: string }>("POST", `/packages/${dl.id}/finalize`)).magic_link.split("/l/")[1]!;
  log(`concurrency bench: ${DOWNLOADS} × ${DOWNLOAD_BYTES / GiB} GiB downloads at once`);
  t = Date.now();
  const shas = await Promise.all(
    Array.from({ length: DOWNLOADS }, async (_, i) => {
      const url = i % 2 ? `${ours.api}/links/${secret}/files/${file.id}` : `${ours.api}/packages/${dl.id}/files/${file.id}`;
      const auth = i % 2 ? "" : `-H 'Authorization: Bearer ${ours.token}'`;
      const r = await run("sh", ["-c", `curl -sS --fail ${auth} '${url}' | sha256sum`]);
      return r.stdout.split(" ")[0];
    }),
  );
  const downloadsOk = shas.every((s) => s === bigSha);
  log(`  downloads took ${f1((Date.now() - t) / 1000)} s, every SHA-256 ${downloadsOk ? "right" : "WRONG"}`);
  const afterDownloads = rss2.stop();

  const growth = (Math.max(afterUploads.peakKiB, afterDownloads.peakKiB) - afterUploads.beforeKiB) / 1024;
  report({
    path: `${UPLOADS} concurrent ${UPLOAD_BYTES / MiB} MiB uploads, then ${DOWNLOADS} concurrent ${DOWNLOAD_BYTES / GiB} GiB downloads`,
    ours: `RSS +${f1(growth)} MiB peak; SHA-256 ${uploadsOk && downloadsOk ? "all right" : "WRONG"}`,
    baseline: "—",
    ratio: "—",
    mustReach: "RSS < 160 MiB, every transfer right",
    goal: "same",
    pass: growth < 160 && uploadsOk && downloadsOk,
  });
});
