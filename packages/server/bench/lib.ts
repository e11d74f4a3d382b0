/**
 * What every benchmark of `pnpm bench` shares: child processes (ours and the baselines in
 * ../../shared/bench), RSS and CPU readings from /proc, curl and wrk runs, medians, and the
 * result rows the root runner (scripts/bench.mjs) gathers into one table.
 *
 * Benchmarks are not tests: nothing here is run by `npm test`, and nothing asserts a time.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT_DIR = path.resolve(SERVER_DIR, "../..");
/** The fixed rulers (see its README). */
export const SHARED_BENCH = path.resolve(ROOT_DIR, "../shared/bench");

export function envInt(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive whole number (got "${raw}")`);
  return Number(raw);
}

export const ROUNDS = envInt("SF_BENCH_ROUNDS", 3);

export const log = (s: string) => process.stderr.write(`${s}\n`);
export const f1 = (x: number) => x.toFixed(1);
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------- result rows

/** One line of the table `pnpm bench` prints. */
export interface Row {
  path: string;
  ours: string;
  baseline: string;
  ratio: string;
  mustReach: string;
  goal: string;
  /** Whether the "must reach" column holds. */
  pass: boolean;
}

/** Prints a row for the root runner (a `BENCH-ROW` JSON line on stdout) and for a person (stderr). */
export function report(row: Row): void {
  process.stdout.write(`BENCH-ROW ${JSON.stringify(row)}\n`);
  log(`  => ${row.path}: ours ${row.ours} | baseline ${row.baseline} | ${row.ratio} | must ${row.mustReach} ${row.pass ? "OK" : "MISSED"}`);
}

// ---------------------------------------------------------------- children

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  url: string;
  log(): string;
}

const children: Child[] = [];
const temps: string[] = [];

/** The env of a child: ours, without any SF_* (or NODE_OPTIONS) inherited from the caller. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SF_") && k !== "NODE_OPTIONS") env[k] = v;
  return { ...env, ...extra };
}

/** Starts `command args…` and resolves once `ready` matches its output (or its url, for a pattern with a group). */
export function startChild(
  name: string,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; ready: RegExp | (() => Promise<boolean>); url?: string },
): Promise<Child> {
  const proc = spawn(command, args, { cwd: opts.cwd ?? SERVER_DIR, env: opts.env ?? childEnv({}), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b.toString("utf8")).slice(-8192);
  };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  const child: Child = { name, proc, pid: proc.pid ?? -1, url: opts.url ?? "", log: () => out };
  children.push(child);
  return new Promise<Child>((resolve, reject) => {
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      if (err) reject(err);
      else resolve(child);
    };
    const timer = setTimeout(() => done(new Error(`${name} did not start within 60 s:\n${out}`)), 60_000);
    proc.once("exit", (code, signal) => done(new Error(`${name} exited during start (code ${code}, signal ${signal}):\n${out}`)));
    proc.once("error", (err) => done(err));
    const ready = opts.ready;
    const poll = setInterval(async () => {
      if (ready instanceof RegExp) {
        const m = ready.exec(out);
        if (m) {
          if (m[1]) child.url = m[1];
          done();
        }
      } else if (await ready().catch(() => false)) {
        done();
      }
    }, 50);
  });
}

export async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.proc.once("exit", () => resolve()));
  c.proc.kill("SIGTERM");
  const timer = setTimeout(() => c.proc.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(process.env.SF_BENCH_TMP ?? os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

let cleaning: Promise<void> | undefined;
export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    await Promise.all(children.map((c) => stopChild(c).catch(() => undefined)));
    for (const t of temps) await fsp.rm(t, { recursive: true, force: true }).catch(() => undefined);
  })());
}

/** Runs a benchmark's main with cleanup on success, failure and Ctrl-C. */
export function runBench(name: string, main: () => Promise<void>): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      log(`\n${name}: ${sig}, cleaning up`);
      void cleanup().then(() => process.exit(sig === "SIGINT" ? 130 : 143));
    });
  }
  main()
    .then(cleanup, async (err: unknown) => {
      log(`${name} failed: ${(err as Error)?.stack ?? String(err)}`);
      for (const c of children) if (c.log()) log(`--- ${c.name} output (last 8 KB):\n${c.log()}`);
      await cleanup();
      process.exitCode = 1;
    })
    .catch(() => {
      process.exitCode = 1;
    });
}

// ---------------------------------------------------------------- our server

export const ADMIN_EMAIL = "bench@example.com";
export const ADMIN_PASSWORD = `bench-${crypto.randomBytes(12).toString("hex")}`;

export interface Ours extends Child {
  api: string;
  token: string;
  dataDir: string;
  json<T = unknown>(method: string, pathname: string, body?: unknown): Promise<T>;
}

/** Our server, built (dist/main.js, as `npm start` runs it), on its own data dir, with an admin token. */
export async function startOurs(name: string, env: Record<string, string> = {}): Promise<Ours> {
  const dataDir = await tempDir("sf-bench-data-");
  const child = await startChild(name, process.execPath, [path.join(SERVER_DIR, "dist/main.js")], {
    env: childEnv({
      SF_PORT: "0",
      SF_BIND: "127.0.0.1",
      SF_DATA_DIR: dataDir,
      SF_LOG_LEVEL: "warn",
      SF_ADMIN_EMAIL: ADMIN_EMAIL,
      SF_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SF_MAX_FILE_BYTES: String(Number.MAX_SAFE_INTEGER),
      SF_MAX_PACKAGE_BYTES: String(Number.MAX_SAFE_INTEGER),
      SF_LOGIN_MAX_FAILURES_PER_IP: "1000000",
      ...env,
    }),
    ready: /SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/,
  });
  const api = `${child.url}/api/v1`;
  const ours = { ...child, api, token: "", dataDir } as Ours;
  ours.json = async <T>(method: string, pathname: string, body?: unknown): Promise<T> => {
    const r = await request(`${api}${pathname}`, method, ours.token || undefined, body);
    if (r.status >= 300) throw new Error(`${method} ${pathname}: ${r.status} ${r.body.slice(0, 300)}`);
    return (r.body ? JSON.parse(r.body) : undefined) as T;
  };
  ours.token = (await ours.json<{ token: string }>("POST", "/auth/token", { email: ADMIN_EMAIL, password: ADMIN_PASSWORD, name: name })).token;
  return ours;
}

export function request(url: string, method: string, token?: string, body?: unknown): Promise<{ status: number; body: string }> {
  const headers: Record<string, string | number> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

// ---------------------------------------------------------------- /proc readings

export function readRssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds a process has used so far. */
export function readCpuSeconds(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Samples a pid's RSS every 50 ms until stopped: the value at the start and the peak. */
export function sampleRss(pid: number): { stop(): { beforeKiB: number; peakKiB: number; lastKiB: number } } {
  const beforeKiB = readRssKiB(pid);
  let peakKiB = beforeKiB;
  let lastKiB = beforeKiB;
  const take = () => {
    lastKiB = readRssKiB(pid);
    if (lastKiB > peakKiB) peakKiB = lastKiB;
  };
  const timer = setInterval(take, 50);
  let result: { beforeKiB: number; peakKiB: number; lastKiB: number } | undefined;
  return {
    stop() {
      if (!result) {
        clearInterval(timer);
        take();
        result = { beforeKiB, peakKiB, lastKiB };
      }
      return result;
    },
  };
}

/** sync(1): waits until the kernel has written every dirty page (so one run's writeback does not land in the next). */
export function syncDisks(): Promise<void> {
  return new Promise((resolve) => execFile("sync", () => resolve()));
}

// ---------------------------------------------------------------- commands

export function run(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(command, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    p.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** `curl -F file=@FILE URL` (the client the targets name); the answer body and the time. */
export async function curlUpload(url: string, file: string, token?: string): Promise<{ ms: number; body: string }> {
  const args = ["-sS", "--fail-with-body", "-o", "-", "-F", `file=@${file};type=application/octet-stream`, url];
  if (token) args.unshift("-H", `Authorization: Bearer ${token}`);
  const r = await run("curl", args);
  if (r.code !== 0) throw new Error(`curl upload to ${url} failed (${r.code}): ${r.stderr} ${r.stdout.slice(0, 300)}`);
  return { ms: r.ms, body: r.stdout };
}

/** `curl -o /dev/null URL`: MB/s as curl measures it. */
export async function curlDownload(url: string, token?: string): Promise<number> {
  const args = ["-sS", "--fail", "-o", "/dev/null", "-w", "%{speed_download} %{size_download}", url];
  if (token) args.unshift("-H", `Authorization: Bearer ${token}`);
  const r = await run("curl", args);
  if (r.code !== 0) throw new Error(`curl download of ${url} failed (${r.code}): ${r.stderr}`);
  const [speed] = r.stdout.trim().split(" ");
  return Number(speed) / 1e6;
}

/** A file of `bytes` random bytes (a 16 MiB random block repeated: nothing compresses or dedups it), fsynced. */
export async function makeFile(file: string, bytes: number): Promise<void> {
  const block = crypto.randomBytes(Math.min(16 * MiB, bytes));
  const fh = await fsp.open(file, "w");
  try {
    for (let off = 0; off < bytes; off += block.length) await fh.write(block, 0, Math.min(block.length, bytes - off), off);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash("sha256");
  for await (const c of fs.createReadStream(file, { highWaterMark: MiB })) h.update(c as Buffer);
  return h.digest("hex");
}

/** Whether something listens on a loopback port (for baselines that print nothing when ready). */
export function listening(port: number): () => Promise<boolean> {
  return async () => {
    const net = await import("node:net");
    return new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
  };
}

export async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
