/**
 * Resumable-upload benchmark (part of `pnpm bench`; not a test). A generated 1 GiB file
 * (SF_BENCH_BYTES) is sent to the built server (SQLite) two ways, both with curl:
 *   - ours:     tus, `POST …/uploads` then one `PATCH` per 64 MiB chunk (SF_BENCH_CHUNK_BYTES),
 *               the last one adding the file to the package;
 *   - baseline: the multipart upload `POST …/files` (curl -F), the path tus must keep up with.
 * The chunks are cut into files before timing (curl sends a file). Alternating order, one
 * warm-up each, `sync` before every timed upload; MB/s is the median of SF_BENCH_ROUNDS (3).
 */
import fsp from "node:fs/promises";
import path from "node:path";
import { curlUpload, envInt, f1, GiB, log, makeFile, median, MiB, report, ROUNDS, run, runBench, startOurs, syncDisks, tempDir } from "./lib.js";

const BYTES = envInt("SF_BENCH_BYTES", GiB);
const CHUNK = envInt("SF_BENCH_CHUNK_BYTES", 64 * MiB);

runBench("tus bench", async () => {
  const tmp = await tempDir("sf-bench-tus-");
  const file = path.join(tmp, "upload.bin");
  log(`tus bench: ${f1(BYTES / MiB)} MiB in ${f1(CHUNK / MiB)} MiB chunks, ${ROUNDS} rounds`);
  await makeFile(file, BYTES);
  const cut = await run("split", ["-b", String(CHUNK), "-d", "-a", "4", file, path.join(tmp, "chunk-")]);
  if (cut.code !== 0) throw new Error(`split failed: ${cut.stderr}`);
  const chunks = (await fsp.readdir(tmp))
    .filter((n) => n.startsWith("chunk-"))
    .sort()
    .map((n) => path.join(tmp, n));

  const ours = await startOurs("ours (tus)");
  const draft = () => ours.json<{ id: string }>("POST", "/packages", { title: "tus bench", recipient_email: "r@example.com", direction: "outbound", ttl_days: 1 });

  const uploadTus = async () => {
    const pkg = await draft();
    const started = performance.now();
    const created = await run("curl", [
      "-sS",
      "--fail-with-body",
      "-D",
      "-",
      "-o",
      "/dev/null",
      "-X",
      "POST",
      "-H",
      `Authorization: Bearer ${ours.token}`,
      "-H",
      "Tus-Resumable: 1.0.0",
      "-H",
      `Upload-Length: ${BYTES}`,
      "-H",
      `Upload-Metadata: filename ${Buffer.from("bench.bin").toString("base64")}`,
      `${ours.api}/packages/${pkg.id}/uploads`,
    ]);
    const location = /^location: (\S+)/im.exec(created.stdout)?.[1];
    if (!location) throw new Error(`tus creation failed: ${created.stdout} ${created.stderr}`);
    const url = new URL(location, ours.api).toString();
    let offset = 0;
    let last = "";
    for (const c of chunks) {
      const r = await run("curl", [
        "-sS",
        "--fail-with-body",
        "-o",
        "-",
        "-X",
        "PATCH",
        "-T",
        c,
        "-H",
        `Authorization: Bearer ${ours.token}`,
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        "Content-Type: application/offset+octet-stream",
        "-H",
        `Upload-Offset: ${offset}`,
        url,
      ]);
      if (r.code !== 0) throw new Error(`PATCH at ${offset} failed: ${r.stderr} ${r.stdout.slice(0, 300)}`);
      offset += (await fsp.stat(c)).size;
      last = r.stdout;
    }
    const ms = performance.now() - started;
    const stored = JSON.parse(last) as { size: number };
    if (stored.size !== BYTES) throw new Error(`tus stored ${stored.size} bytes`);
    await ours.json("DELETE", `/packages/${pkg.id}`);
    return ms;
  };
  const uploadMultipart = async () => {
    const pkg = await draft();
    const r = await curlUpload(`${ours.api}/packages/${pkg.id}/files`, file, ours.token);
    await ours.json("DELETE", `/packages/${pkg.id}`);
    return r.ms;
  };

  await uploadTus();
  await uploadMultipart();
  const times = { tus: [] as number[], multipart: [] as number[] };
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? (["tus", "multipart"] as const) : (["multipart", "tus"] as const);
    for (const who of order) {
      await syncDisks();
      const ms = who === "tus" ? await uploadTus() : await uploadMultipart();
      times[who].push(ms);
      log(`  round ${round} ${who.padEnd(9)} ${f1(BYTES / 1e6 / (ms / 1000))} MB/s`);
    }
  }
  const tusMbps = BYTES / 1e6 / (median(times.tus) / 1000);
  const multipartMbps = BYTES / 1e6 / (median(times.multipart) / 1000);
  const ratio = tusMbps / multipartMbps;
  report({
    path: `upload ${f1(BYTES / GiB)} GiB through tus, ${f1(CHUNK / MiB)} MiB chunks (curl)`,
    ours: `${f1(tusMbps)} MB/s`,
    baseline: `${f1(multipartMbps)} MB/s (our multipart upload, curl -F)`,
    ratio: ratio.toFixed(2),
    mustReach: "≥ 0.9",
    goal: "≥ 1.0",
    pass: ratio >= 0.9,
  });
});
