/**
 * SDK client memory during a large upload (NOT a test; `pnpm --filter @speedyfiles/sdk bench` runs
 * it, the root's `pnpm bench` does not).
 *
 * Starts the real server (../server/src/main.ts, SQLite, temp data dir) in a child process, then
 * in a second child process uploads a generated file from a path with `SpeedyFiles.uploadFile`,
 * sampling that process's RSS every 20 ms. Reports the peak RSS growth over the client's RSS just
 * before the upload. Target: < 64 MiB for 1 GiB (the SDK streams; it never holds the file).
 *
 *   SF_BENCH_BYTES   file size (default 1 GiB)
 */
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const MiB = 1024 * 1024;
const SDK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SERVER_DIR = path.resolve(SDK_DIR, "../server");
const BYTES = Number(process.env.SF_BENCH_BYTES ?? 1024 * MiB);
const TARGET_MIB = 64;

const CLIENT = `
import { SpeedyFiles } from ${JSON.stringify(path.join(SDK_DIR, "src/index.ts"))};
const [url, token, file] = process.argv.slice(-3);
const sf = new SpeedyFiles({ baseUrl: url, token });
const pkg = await sf.packages.create({ title: "bench", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 });
globalThis.gc?.();
const before = process.memoryUsage().rss;
let peak = before;
const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
const t0 = performance.now();
const r = await sf.uploadFile(pkg.id, file);
const ms = performance.now() - t0;
clearInterval(timer);
peak = Math.max(peak, process.memoryUsage().rss);
await sf.packages.delete(pkg.id);
console.log(JSON.stringify({ before, peak, ms, size: r.size }));
`;

function startServer(dataDir: string): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: SERVER_DIR,
      env: {
        ...process.env,
        SF_PORT: "0",
        SF_DATA_DIR: dataDir,
        SF_LOG_LEVEL: "warn",
        SF_ADMIN_EMAIL: "bench@example.com",
        SF_ADMIN_PASSWORD: "bench-password-1",
        SF_MAX_FILE_BYTES: String(BYTES * 2),
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    proc.stderr!.on("data", (c: Buffer) => {
      err += c.toString();
      const m = /SpeedyFiles (http:\/\/[0-9.]+:\d+)/.exec(err);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.on("exit", (code) => reject(new Error(`server exited (${code}): ${err.slice(-2000)}`)));
  });
}

async function main(): Promise<void> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-sdk-bench-"));
  let server: ChildProcess | undefined;
  try {
    const file = path.join(tmp, "upload.bin");
    const block = crypto.randomBytes(16 * MiB);
    const fh = await fsp.open(file, "w");
    for (let left = BYTES; left > 0; left -= block.length) await fh.write(block, 0, Math.min(block.length, left));
    await fh.close();

    const s = await startServer(path.join(tmp, "data"));
    server = s.proc;
    const login = await fetch(`${s.url}/api/v1/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "bench@example.com", password: "bench-password-1", name: "bench" }),
    });
    const { token } = (await login.json()) as { token: string };

    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ["--expose-gc", "--import", "tsx", "--input-type=module", "-e", CLIENT, "--", s.url, token, file], {
        cwd: SDK_DIR,
        stdio: ["ignore", "pipe", "inherit"],
      });
      let buf = "";
      c.stdout!.on("data", (d: Buffer) => (buf += d.toString()));
      c.on("exit", (code) => (code === 0 ? resolve(buf) : reject(new Error(`client exited with ${code}`))));
    });
    const r = JSON.parse(out.trim().split("\n").pop()!) as { before: number; peak: number; ms: number; size: number };
    const growth = (r.peak - r.before) / MiB;
    const mbps = r.size / 1e6 / (r.ms / 1000);
    console.log(`\nSDK uploadFile from a path: ${(r.size / MiB).toFixed(1)} MiB in ${(r.ms / 1000).toFixed(1)} s (${mbps.toFixed(1)} MB/s)`);
    console.log(
      `client RSS before ${(r.before / MiB).toFixed(1)} MiB, peak ${(r.peak / MiB).toFixed(1)} MiB, growth ${growth.toFixed(1)} MiB (target < ${TARGET_MIB} MiB) ${growth < TARGET_MIB ? "OK" : "ABOVE TARGET"}`,
    );
    console.log(
      JSON.stringify({ bench: "sdk-client-memory", bytes: r.size, ms: Math.round(r.ms), rss_growth_mib: +growth.toFixed(1), target_mib: TARGET_MIB, pass: growth < TARGET_MIB }),
    );
  } finally {
    server?.kill("SIGTERM");
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

await main();
