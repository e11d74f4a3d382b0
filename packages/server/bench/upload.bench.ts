/**
 * Upload benchmark (NOT a test; `pnpm bench` from the repository root runs it).
 *
 * Uploads one large file as multipart field `file` to
 *   - "ours":     the real SpeedyFiles server (src/main.ts, SQLite, temp SF_DATA_DIR), to
 *                 POST /api/v1/packages/{id}/files of a fresh draft package, and
 *   - "baseline": bench/baseline-sink.ts, plain node:http + busboy → 1 MiB-buffered write stream
 *                 → fsync (no hashing, no database),
 * each in its own child process so its RSS (/proc/<pid>/status VmRSS, every 50 ms) is its own.
 * Rounds alternate the order (ours first, then baseline first, ...).
 *
 * Targets: median MB/s ours/baseline ≥ 0.9; our server's peak RSS growth during an upload ≤ 32 MiB.
 *
 * Environment:
 *   SF_BENCH_BYTES   file size in bytes (default 1 GiB; 134217728 = 128 MiB for a quick try)
 *   SF_BENCH_ROUNDS  rounds (default 3); each round uploads once to each server
 *   SF_BENCH_TMP     parent of the temp dir (default os.tmpdir())
 * MB/s is 10^6 bytes per second, from the first byte sent to the 201 (the answer comes after fsync).
 *
 * Noise control: the generated file is fsynced; one full-size upload to each server is made first
 * and not counted (the first run after boot is much slower on these VMs: fresh page-cache pages);
 * `sync` runs before every timed upload so one run's writeback does not land in the next one.
 * "CPU s" is the child's user+system time during the run (/proc/<pid>/stat).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const MiB = 1024 * 1024;
const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BYTES = envInt("SF_BENCH_BYTES", 1024 * MiB);
const ROUNDS = envInt("SF_BENCH_ROUNDS", 3);
const SAMPLE_MS = 50;
const TARGET_RATIO = 0.9;
const TARGET_RSS_MIB = 32;
const ADMIN_EMAIL = "bench@example.com";
const ADMIN_PASSWORD = `bench-${crypto.randomBytes(12).toString("hex")}`;

function envInt(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive whole number (got "${raw}")`);
  return Number(raw);
}

// ---------------------------------------------------------------- children

interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  url: string;
  /** Last few KB of the child's output, for error messages. */
  log(): string;
}

const children: Child[] = [];
let tmpRoot: string | undefined;

/** The child's env: ours, without any SF_* (or NODE_OPTIONS) inherited from the caller. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("SF_") && k !== "NODE_OPTIONS") env[k] = v;
  }
  return { ...env, ...extra };
}

/**
 * `node --import tsx <script>` rather than the tsx CLI: the CLI runs the script in a grandchild,
 * and the pid we measure must be the process that does the work.
 */
function startChild(name: string, args: string[], env: NodeJS.ProcessEnv, urlPattern: RegExp): Promise<Child> {
  const proc = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: SERVER_DIR, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b.toString("utf8")).slice(-8192);
  };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  const child: Child = { name, proc, pid: proc.pid ?? -1, url: "", log: () => out };
  children.push(child);
  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${name} did not start within 60 s:\n${out}`)), 60_000);
    const onData = () => {
      const m = urlPattern.exec(out);
      if (m) {
        child.url = m[1]!;
        done();
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`${name} exited during start (code ${code}, signal ${signal}):\n${out}`));
    const done = (err?: Error) => {
      clearTimeout(timer);
      proc.stderr!.off("data", onData);
      proc.stdout!.off("data", onData);
      proc.off("exit", onExit);
      if (err) reject(err);
      else resolve(child);
    };
    proc.stderr!.on("data", onData);
    proc.stdout!.on("data", onData);
    proc.once("exit", onExit);
    proc.once("error", (err) => done(err));
  });
}

async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.proc.once("exit", () => resolve()));
  c.proc.kill("SIGTERM");
  const timer = setTimeout(() => c.proc.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await Promise.all(children.map((c) => stopChild(c).catch(() => undefined)));
    if (tmpRoot) await fsp.rm(tmpRoot, { recursive: true, force: true }).catch(() => undefined);
  })());
}

// ---------------------------------------------------------------- RSS

function readRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds a process has used so far. */
function readCpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
}

/** sync(1): waits until the kernel has written every dirty page. */
function syncDisks(): Promise<void> {
  return new Promise((resolve) => execFile("sync", () => resolve()));
}

/** Samples a pid's RSS every 50 ms until stopped; returns the pre-run value and the peak. */
function sampleRss(pid: number): { stop(): { beforeKiB: number; peakKiB: number } } {
  const beforeKiB = readRssKiB(pid);
  let peakKiB = beforeKiB;
  const take = () => {
    const v = readRssKiB(pid);
    if (v > peakKiB) peakKiB = v;
  };
  const timer = setInterval(take, SAMPLE_MS);
  let result: { beforeKiB: number; peakKiB: number } | undefined;
  return {
    stop() {
      if (!result) {
        clearInterval(timer);
        take();
        result = { beforeKiB, peakKiB };
      }
      return result;
    },
  };
}

// ---------------------------------------------------------------- HTTP

interface HttpResult {
  status: number;
  body: string;
}

function request(
  url: string,
  opts: { method: string; headers?: Record<string, string | number>; body?: string | Buffer },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

async function json(url: string, method: string, token: string | undefined, body?: unknown): Promise<HttpResult> {
  const headers: Record<string, string | number> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = Buffer.byteLength(payload);
  }
  return request(url, { method, headers, body: payload });
}

function expect(r: HttpResult, status: number, what: string): void {
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status}: ${r.body.slice(0, 500)}`);
}

/**
 * Streams `bytes` bytes of `file` as the multipart field `file`: preamble, the file read in 1 MiB
 * chunks, epilogue, with Content-Length set. Resolves when the whole answer has arrived.
 */
function streamUpload(url: string, file: string, bytes: number, token?: string): Promise<HttpResult & { ms: number }> {
  const boundary = `----sfbench${crypto.randomBytes(12).toString("hex")}`;
  const preamble = Buffer.from(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name="file"; filename="bench.bin"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  const headers: Record<string, string | number> = {
    "Content-Type": `multipart/form-data; boundary=${boundary}`,
    "Content-Length": preamble.length + bytes + epilogue.length,
  };
  if (token) headers.Authorization = `Bearer ${token}`;

  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(url, { method: "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        rs.destroy(); // the server may answer early (an error) before the file was read
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms });
      });
      res.on("error", reject);
    });
    const rs = fs.createReadStream(file, { highWaterMark: MiB, start: 0, end: bytes - 1 });
    req.on("error", (err) => {
      rs.destroy();
      reject(err);
    });
    rs.on("error", (err) => {
      req.destroy(err);
      reject(err);
    });
    rs.on("end", () => req.end(epilogue));
    req.write(preamble);
    rs.pipe(req, { end: false });
  });
}

// ---------------------------------------------------------------- the two targets

interface Target {
  name: "ours" | "baseline";
  child: Child;
  /** One upload of the first `bytes` bytes of `file`; returns the elapsed ms, cleans up after itself. */
  upload(file: string, bytes: number): Promise<number>;
}

async function startOurs(dataDir: string): Promise<Target> {
  const child = await startChild(
    "SpeedyFiles",
    ["src/main.ts"],
    childEnv({
      SF_PORT: "0",
      SF_BIND: "127.0.0.1",
      SF_DATA_DIR: dataDir,
      SF_DATABASE_URL: `sqlite://${path.join(dataDir, "speedyfiles.db")}`,
      SF_LOG_LEVEL: "warn",
      SF_ADMIN_EMAIL: ADMIN_EMAIL,
      SF_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SF_MAX_FILE_BYTES: String(Number.MAX_SAFE_INTEGER),
      SF_MAX_PACKAGE_BYTES: String(Number.MAX_SAFE_INTEGER),
    }),
    /SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/,
  );
  const api = `${child.url}/api/v1`;
  const tok = await json(`${api}/auth/token`, "POST", undefined, { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, name: "upload bench" });
  expect(tok, 201, "POST /auth/token");
  const token = (JSON.parse(tok.body) as { token: string }).token;

  return {
    name: "ours",
    child,
    async upload(file, bytes) {
      const created = await json(`${api}/packages`, "POST", token, {
        title: "upload bench",
        recipient_email: "recipient@example.com",
        direction: "outbound",
        ttl_days: 1,
      });
      expect(created, 201, "POST /packages");
      const id = (JSON.parse(created.body) as { id: string }).id;
      try {
        const r = await streamUpload(`${api}/packages/${id}/files`, file, bytes, token);
        expect(r, 201, `POST /packages/${id}/files`);
        const size = (JSON.parse(r.body) as { size: number }).size;
        if (size !== bytes) throw new Error(`server stored ${size} bytes, sent ${bytes}`);
        return r.ms;
      } finally {
        expect(await json(`${api}/packages/${id}`, "DELETE", token), 204, `DELETE /packages/${id}`);
      }
    },
  };
}

async function startBaseline(sinkDir: string): Promise<Target> {
  const child = await startChild("baseline sink", ["bench/baseline-sink.ts", sinkDir], childEnv({}), /SINK (http:\/\/127\.0\.0\.1:\d+)/);
  return {
    name: "baseline",
    child,
    async upload(file, bytes) {
      const r = await streamUpload(`${child.url}/`, file, bytes);
      expect(r, 201, "baseline POST");
      const { path: written, size } = JSON.parse(r.body) as { path: string; size: number };
      await fsp.rm(written, { force: true });
      if (size !== bytes) throw new Error(`baseline stored ${size} bytes, sent ${bytes}`);
      return r.ms;
    },
  };
}

// ---------------------------------------------------------------- main

/** The file: a 16 MiB random buffer repeated (random enough that nothing compresses or dedups it). */
async function makeFile(file: string, bytes: number): Promise<void> {
  const block = crypto.randomBytes(16 * MiB);
  const fh = await fsp.open(file, "w");
  try {
    for (let off = 0; off < bytes; off += block.length) {
      const n = Math.min(block.length, bytes - off);
      await fh.write(block, 0, n, off);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
const f1 = (x: number) => x.toFixed(1);

interface Run {
  target: "ours" | "baseline";
  round: number;
  mbps: number;
  rssBeforeMiB: number;
  rssGrowthMiB: number;
  cpuSeconds: number;
}

async function main(): Promise<void> {
  tmpRoot = await fsp.mkdtemp(path.join(process.env.SF_BENCH_TMP ?? os.tmpdir(), "sf-bench-"));
  const file = path.join(tmpRoot, "upload.bin");
  const dataDir = path.join(tmpRoot, "data");
  const sinkDir = path.join(tmpRoot, "sink");
  await fsp.mkdir(dataDir);
  await fsp.mkdir(sinkDir);

  process.stderr.write(`upload bench: ${BYTES} bytes (${f1(BYTES / MiB)} MiB), ${ROUNDS} rounds, temp ${tmpRoot}\n`);
  let t = Date.now();
  await makeFile(file, BYTES);
  process.stderr.write(`  generated the file in ${Date.now() - t} ms\n`);

  t = Date.now();
  const [ours, baseline] = await Promise.all([startOurs(dataDir), startBaseline(sinkDir)]);
  process.stderr.write(`  started SpeedyFiles (pid ${ours.child.pid}, ${ours.child.url}) and the baseline sink (pid ${baseline.child.pid}, ${baseline.child.url}) in ${Date.now() - t} ms\n`);

  // Warm-up (not counted): first requests compile routes and grow the heap; the first big write
  // after boot also pays for fresh page-cache pages. Full size, so both servers start equal.
  t = Date.now();
  for (const target of [ours, baseline]) await target.upload(file, BYTES);
  process.stderr.write(`  warm-up uploads (not counted) took ${Date.now() - t} ms\n`);

  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? [ours, baseline] : [baseline, ours];
    for (const target of order) {
      await syncDisks();
      const cpu0 = readCpuSeconds(target.child.pid);
      const sampler = sampleRss(target.child.pid);
      const ms = await target.upload(file, BYTES).finally(() => sampler.stop());
      const rss = sampler.stop();
      const cpuSeconds = readCpuSeconds(target.child.pid) - cpu0;
      const run: Run = {
        target: target.name,
        round,
        mbps: mbps(BYTES, ms),
        rssBeforeMiB: rss.beforeKiB / 1024,
        rssGrowthMiB: (rss.peakKiB - rss.beforeKiB) / 1024,
        cpuSeconds,
      };
      runs.push(run);
      process.stderr.write(
        `  round ${round} ${target.name.padEnd(8)} ${f1(run.mbps).padStart(7)} MB/s  ${f1(ms / 1000)} s  CPU ${cpuSeconds.toFixed(2)} s  RSS ${f1(run.rssBeforeMiB)} MiB +${f1(run.rssGrowthMiB)} MiB peak\n`,
      );
    }
  }

  const of = (name: Run["target"]) => runs.filter((r) => r.target === name);
  const oursMbps = of("ours").map((r) => r.mbps);
  const baseMbps = of("baseline").map((r) => r.mbps);
  const oursMedian = median(oursMbps);
  const baseMedian = median(baseMbps);
  const ratio = oursMedian / baseMedian;
  const oursRss = Math.max(...of("ours").map((r) => r.rssGrowthMiB));
  const baseRss = Math.max(...of("baseline").map((r) => r.rssGrowthMiB));
  const ratioOk = ratio >= TARGET_RATIO;
  const rssOk = oursRss <= TARGET_RSS_MIB;

  const row = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(22) : c.padStart(10))).join(" | ")} |`;
  const lines = [
    "",
    `Upload of ${f1(BYTES / MiB)} MiB over loopback, ${ROUNDS} rounds (MB = 10^6 bytes)`,
    "",
    row(["", "median", ...oursMbps.map((_, i) => `run ${i + 1}`)]),
    row(["-".repeat(22), ...Array<string>(oursMbps.length + 1).fill("-".repeat(10))]),
    row(["ours MB/s", f1(oursMedian), ...oursMbps.map(f1)]),
    row(["baseline MB/s", f1(baseMedian), ...baseMbps.map(f1)]),
    row(["ours peak RSS +MiB", f1(oursRss), ...of("ours").map((r) => f1(r.rssGrowthMiB))]),
    row(["baseline peak RSS +MiB", f1(baseRss), ...of("baseline").map((r) => f1(r.rssGrowthMiB))]),
    row(["ours CPU s", median(of("ours").map((r) => r.cpuSeconds)).toFixed(2), ...of("ours").map((r) => r.cpuSeconds.toFixed(2))]),
    row(["baseline CPU s", median(of("baseline").map((r) => r.cpuSeconds)).toFixed(2), ...of("baseline").map((r) => r.cpuSeconds.toFixed(2))]),
    "",
    `ratio ours/baseline (medians): ${ratio.toFixed(3)}   target >= ${TARGET_RATIO}   ${ratioOk ? "OK" : "BELOW TARGET"}`,
    `our server's peak RSS growth:  ${f1(oursRss)} MiB   target <= ${TARGET_RSS_MIB} MiB   ${rssOk ? "OK" : "OVER TARGET"}`,
    "(RSS rows: the largest run, then each run; CPU rows: the median, then each run)",
    "",
  ];
  process.stdout.write(lines.join("\n") + "\n");
  process.stdout.write(
    JSON.stringify({
      bench: "upload",
      bytes: BYTES,
      rounds: ROUNDS,
      ours_mbps_median: +oursMedian.toFixed(1),
      ours_mbps: oursMbps.map((x) => +x.toFixed(1)),
      baseline_mbps_median: +baseMedian.toFixed(1),
      baseline_mbps: baseMbps.map((x) => +x.toFixed(1)),
      ratio: +ratio.toFixed(3),
      ratio_target: TARGET_RATIO,
      ours_peak_rss_growth_mib: +oursRss.toFixed(1),
      baseline_peak_rss_growth_mib: +baseRss.toFixed(1),
      ours_cpu_s_median: +median(of("ours").map((r) => r.cpuSeconds)).toFixed(2),
      baseline_cpu_s_median: +median(of("baseline").map((r) => r.cpuSeconds)).toFixed(2),
      rss_target_mib: TARGET_RSS_MIB,
      pass: ratioOk && rssOk,
    }) + "\n",
  );
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    process.stderr.write(`\nupload bench: ${sig}, cleaning up\n`);
    void cleanup().then(() => process.exit(sig === "SIGINT" ? 130 : 143));
  });
}

main()
  .then(cleanup, async (err: unknown) => {
    process.stderr.write(`upload bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    for (const c of children) if (c.log()) process.stderr.write(`--- ${c.name} output (last 8 KB):\n${c.log()}\n`);
    await cleanup();
    process.exitCode = 1;
  })
  .catch(() => {
    process.exitCode = 1;
  });
