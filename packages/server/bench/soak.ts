/**
 * `pnpm soak` (NOT a test, NOT part of `pnpm bench`): two built server processes (dist/main.js)
 * on one fresh PostgreSQL database and one shared data folder, under mixed traffic for
 * SF_SOAK_MINUTES (default 30), watching for growth and for any 5xx.
 *
 * Traffic, from SF_SOAK_WORKERS loops (default 3) against both processes, through the SDK and raw
 * HTTP: small uploads (SDK) and big ones (raw multipart, SF_SOAK_BIG_MIB, streamed from generated
 * bytes, never held in memory), tus uploads cut mid-PATCH and resumed (HEAD, PATCH) on the other
 * process, owner and link downloads with ranges, zip archives, webhooks to a slow receiver
 * (answers after 1-5 s, one in ten never), mail to a local SMTP sink, web sessions (sign-in form
 * with CSRF, pages, sign-out), packages with lifetimes of seconds (the sweeper runs every 5 s),
 * deletions, also while the package's link downloads are in flight.
 *
 * Every minute, for each process: RSS and open file descriptors (/proc), event-loop delay (the
 * server's own `diagnostics` log lines, SF_DIAGNOSTICS_INTERVAL_SECONDS) and database connections
 * (pg_stat_activity, by application_name). At the end: a markdown table, the least-squares slope
 * of each after a warm-up, and a verdict. Exit 0: no 5xx, no failure, flat; 1: a 5xx, a failed
 * check or a crashed process; 2: something grew.
 *
 *   SF_SOAK_MINUTES (30), SF_SOAK_WORKERS (3), SF_SOAK_BIG_MIB (32), SF_SOAK_REPORT=<file>,
 *   SF_SOAK_KEEP=1 (keep the database and data folder), SF_TEST_PG_URL (the PostgreSQL server)
 */
import crypto from "node:crypto";
import diagnosticsChannel from "node:diagnostics_channel";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pg from "pg";
import { SMTPServer } from "smtp-server";
import { WebClient } from "@speedyfiles/test-utils/web";
import { ApiError, SpeedyFiles } from "../../sdk/src/index.js";
import { childEnv, envInt, freePort, log, MiB, readRssKiB, SERVER_DIR, startChild, stopChild, type Child } from "./lib.js";

const MINUTES = envInt("SF_SOAK_MINUTES", 30);
const WORKERS = envInt("SF_SOAK_WORKERS", 3);
const BIG_MIB = envInt("SF_SOAK_BIG_MIB", 32);
const KEEP = !!process.env.SF_SOAK_KEEP;
const REPORT = process.env.SF_SOAK_REPORT;
const PG_ADMIN_URL = process.env.SF_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** Minutes left out of the slopes: caches, JIT and pools fill up first. */
const WARMUP = Math.min(3, Math.floor(MINUTES / 2));
/** What "flat" means, per minute after the warm-up. */
const BOUNDS = { rssMiB: 1, fds: 0.5, eldP99Ms: 1, dbConns: 0.2 };
const SWEEP_SECONDS = 5;
const DIAG_SECONDS = 10;

// ---------------------------------------------------------------- counting

const classes: Record<string, number> = { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
const byScenario: Record<string, number> = {};
let minuteReq = 0;
let minuteBytes = 0;
let minuteErrors = 0;
let totalReq = 0;
let totalBytes = 0;
const failures: string[] = [];
let fiveXx = 0;
let stopping = false;

function countBytes(n: number): void {
  minuteBytes += n;
  totalBytes += n;
}

/** Every answer goes through here: raw HTTP below, and the SDK's and fetch's (undici) through diagnostics_channel. */
function countResponse(status: number, method: string, url: string, requestId: string | undefined): void {
  totalReq++;
  minuteReq++;
  const cls = `${Math.floor(status / 100)}xx`;
  classes[cls] = (classes[cls] ?? 0) + 1;
  if (status >= 500) {
    fiveXx++;
    minuteErrors++;
    const proc = procs.find((p) => url.startsWith(p.url));
    const what = `${status} ${method} ${redact(url)} (request id ${requestId ?? "?"}, process ${proc?.name ?? "?"})`;
    log(`!! 5xx: ${what}`);
    // The access-log line is written when the answer ends: look a moment later.
    setTimeout(() => {
      const around = proc ? linesAround(proc, requestId) : [];
      failures.push(`5xx: ${what}\n    server log around it:\n${around.map((l) => `      ${l}`).join("\n")}`);
      log(`   server log around it:\n${around.map((l) => `      ${l}`).join("\n")}`);
    }, 1000);
  }
}

function fail(msg: string): void {
  minuteErrors++;
  failures.push(msg);
  if (failures.length <= 50) log(`!! ${msg}`);
}

const redact = (url: string) => url.replace(/\/(l|links)\/[A-Za-z0-9_-]{20,}/g, "/$1/[secret]");

interface UndiciHeadersMessage {
  request: { origin: string; method: string; path: string };
  response: { statusCode: number; headers: Buffer[] };
}
diagnosticsChannel.subscribe("undici:request:headers", (m) => {
  const { request, response } = m as UndiciHeadersMessage;
  let requestId: string | undefined;
  for (let i = 0; i + 1 < response.headers.length; i += 2) {
    if (response.headers[i]!.toString().toLowerCase() === "x-request-id") requestId = response.headers[i + 1]!.toString();
  }
  countResponse(response.statusCode, request.method, `${request.origin}${request.path}`, requestId);
});

// ---------------------------------------------------------------- generated bytes

/** Content is a function of (seed, position): any part can be made again, nothing is held. */
const BLOCK = crypto.randomBytes(MiB);
function* generated(seed: number, start: number, end: number): Generator<Buffer> {
  let pos = start;
  while (pos < end) {
    const off = (pos + seed) % MiB;
    const n = Math.min(64 * 1024, MiB - off, end - pos);
    yield BLOCK.subarray(off, off + n);
    pos += n;
  }
}
function sha256Of(seed: number, start: number, end: number): string {
  const h = crypto.createHash("sha256");
  for (const c of generated(seed, start, end)) h.update(c);
  return h.digest("hex");
}
const newSeed = () => crypto.randomInt(0, MiB);
const rnd = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- processes

interface Proc extends Child {
  api: string;
  agent: http.Agent;
  lines: string[];
  diag: { p50: number; p99: number; max: number; used: number; free: number; heapUsed: number }[];
}
const procs: Proc[] = [];

function linesAround(p: Proc, requestId: string | undefined): string[] {
  const i = requestId ? p.lines.findIndex((l) => l.includes(requestId)) : -1;
  if (i < 0) return p.lines.filter((l) => /"level":(50|60)/.test(l)).slice(-10);
  return p.lines.slice(Math.max(0, i - 10), i + 10);
}

async function startProc(name: string, env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = await startChild(name, process.execPath, [path.join(SERVER_DIR, "dist/main.js")], {
    env: childEnv({ ...env, SF_PORT: String(port), SF_PUBLIC_URL: url }),
    ready: /SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/,
  });
  const p: Proc = { ...child, url, api: `${url}/api/v1`, agent: new http.Agent({ keepAlive: true, maxSockets: 16 }), lines: [], diag: [] };
  // stderr too: a crash's stack trace goes there.
  child.proc.stderr!.on("data", (c: Buffer) => {
    for (const line of c.toString("utf8").split("\n")) if (line.trim()) p.lines.push(`[stderr] ${line}`);
  });
  let buf = "";
  child.proc.stdout!.on("data", (c: Buffer) => {
    buf += c.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      p.lines.push(line);
      if (p.lines.length > 5000) p.lines.splice(0, 1000);
      if (line.includes('"msg":"diagnostics"')) {
        try {
          const d = (JSON.parse(line) as { diagnostics: { heapUsed: number; eventLoopDelayMs: { p50: number; p99: number; max: number }; dbPool: { used: number; free: number } } })
            .diagnostics;
          p.diag.push({ ...d.eventLoopDelayMs, ...d.dbPool, heapUsed: d.heapUsed });
        } catch {
          // a partial line: skip it
        }
      }
    }
  });
  child.proc.once("exit", (code, signal) => {
    if (stopping) return;
    fail(`${name} exited during the run (code ${code}, signal ${signal}):\n${p.lines.slice(-20).join("\n")}`);
    // Nothing more to learn from traffic to a dead process: report what there is.
    stopping = true;
    interrupt();
  });
  procs.push(p);
  return p;
}

const other = (p: Proc) => (p === procs[0] ? procs[1]! : procs[0]!);

// ---------------------------------------------------------------- raw HTTP

interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body when it is small (≤ 1 MiB); bigger ones are only counted and hashed. */
  text: string;
  bytes: number;
  sha256: string;
}

interface CallOpts {
  token?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string | (() => Iterable<Buffer>);
  json?: unknown;
  /** Destroy the request after this many body bytes (a client that goes away mid-upload). */
  cutAfter?: number;
}

/** Stale keep-alive connections the server had closed as a request went out on them: sent again. */
let staleRetries = 0;

async function call(p: Proc, method: string, pathname: string, o: CallOpts = {}): Promise<Resp> {
  try {
    return await callOnce(p, method, pathname, o);
  } catch (err) {
    // Node's advice for keep-alive: a request on a reused socket that the server closed at that
    // moment gets ECONNRESET before any answer; send it again (not a deliberately cut one).
    if ((err as { reusedSocket?: boolean }).reusedSocket && o.cutAfter === undefined) {
      staleRetries++;
      return callOnce(p, method, pathname, o);
    }
    throw err;
  }
}

function callOnce(p: Proc, method: string, pathname: string, o: CallOpts): Promise<Resp> {
  const headers: Record<string, string | number> = { ...o.headers };
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  let body = o.body;
  if (o.json !== undefined) {
    body = JSON.stringify(o.json);
    headers["Content-Type"] = "application/json";
  }
  if (typeof body === "string" || Buffer.isBuffer(body)) headers["Content-Length"] = Buffer.byteLength(body);
  const url = pathname.startsWith("/api/") || pathname.startsWith("/l/") ? `${p.url}${pathname}` : `${p.api}${pathname}`;
  let answered = false;
  return new Promise<Resp>((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: p.agent }, (res) => {
      answered = true;
      const h = crypto.createHash("sha256");
      const kept: Buffer[] = [];
      let bytes = 0;
      res.on("data", (c: Buffer) => {
        bytes += c.length;
        countBytes(c.length);
        h.update(c);
        if (bytes <= MiB) kept.push(c);
      });
      res.on("end", () => {
        countResponse(res.statusCode ?? 0, method, url, res.headers["x-request-id"] as string | undefined);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: bytes <= MiB ? Buffer.concat(kept).toString("utf8") : "", bytes, sha256: h.digest("hex") });
      });
      res.on("error", reject);
    });
    req.on("error", (err) => {
      const beforeAnswer = !answered && (err as { code?: string }).code === "ECONNRESET";
      reject(Object.assign(err, { reusedSocket: req.reusedSocket && beforeAnswer }));
    });
    if (typeof body === "function") {
      let sent = 0;
      const src = Readable.from(body());
      src.on("data", (c: Buffer) => {
        if (o.cutAfter !== undefined && sent >= o.cutAfter) {
          src.destroy();
          req.destroy(new Error("cut on purpose"));
          return;
        }
        sent += c.length;
        countBytes(c.length);
        if (!req.write(c)) {
          src.pause();
          req.once("drain", () => src.resume());
        }
      });
      src.on("end", () => req.end());
    } else {
      if (body !== undefined) countBytes(Buffer.byteLength(body));
      req.end(body);
    }
  });
}

class Unexpected extends Error {}
function expectStatus(r: Resp, what: string, ...ok: number[]): Resp {
  if (!ok.includes(r.status)) throw new Unexpected(`${what}: ${r.status} (expected ${ok.join(" or ")}) ${r.text.slice(0, 200)}`);
  return r;
}
const json = <T>(r: Resp) => JSON.parse(r.text) as T;

// ---------------------------------------------------------------- users and helpers

interface User {
  email: string;
  password: string;
  token: string;
  sdk: SpeedyFiles[];
}
const users: User[] = [];

function sdkFor(u: User, p: Proc): SpeedyFiles {
  return u.sdk[procs.indexOf(p)]!;
}

interface LivePkg {
  id: string;
  owner: User;
  secret: string | null;
  files: { id: string; seed: number; size: number; sha256: string }[];
}
const live: LivePkg[] = [];

async function createPkg(p: Proc, u: User, title: string): Promise<string> {
  const r = expectStatus(
    await call(p, "POST", "/packages", {
      token: u.token,
      json: { title, recipient_email: `rcpt-${crypto.randomBytes(3).toString("hex")}@example.com`, direction: "outbound", ttl_days: 1 },
    }),
    "create package",
    201,
  );
  return json<{ id: string }>(r).id;
}

async function finalize(p: Proc, u: User, id: string): Promise<string> {
  const r = expectStatus(await call(p, "POST", `/packages/${id}/finalize`, { token: u.token }), "finalize", 200);
  const link = json<{ magic_link: string }>(r).magic_link;
  return link.slice(link.lastIndexOf("/l/") + 3);
}

/** A streamed multipart upload of generated bytes: `sha256` first, then the file. */
async function multipartUpload(p: Proc, u: User, pkgId: string, seed: number, size: number): Promise<LivePkg["files"][number]> {
  const boundary = `----soak${crypto.randomBytes(8).toString("hex")}`;
  const sha = sha256Of(seed, 0, size);
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n${sha}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big-${seed}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const r = expectStatus(
    await call(p, "POST", `/packages/${pkgId}/files`, {
      token: u.token,
      headers: { "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": head.length + size + tail.length },
      body: function* () {
        yield head;
        yield* generated(seed, 0, size);
        yield tail;
      },
    }),
    "multipart upload",
    201,
  );
  const f = json<{ id: string; sha256: string }>(r);
  if (f.sha256 !== sha) fail(`multipart upload: the server's SHA-256 ${f.sha256} is not ${sha}`);
  return { id: f.id, seed, size, sha256: sha };
}

/** A ranged GET, checked against the generated bytes. */
async function rangedGet(p: Proc, pathname: string, token: string | undefined, f: LivePkg["files"][number]): Promise<void> {
  const a = rnd(0, f.size - 1);
  const b = Math.min(f.size - 1, a + rnd(0, 4 * MiB));
  const r = await call(p, "GET", pathname, { ...(token ? { token } : {}), headers: { Range: `bytes=${a}-${b}` } });
  expectStatus(r, `ranged GET ${redact(pathname)}`, 206);
  if (r.sha256 !== sha256Of(f.seed, a, b + 1)) fail(`ranged GET ${redact(pathname)} bytes=${a}-${b}: wrong bytes`);
}

async function wholeGet(p: Proc, pathname: string, token: string | undefined, f: LivePkg["files"][number]): Promise<void> {
  const r = expectStatus(await call(p, "GET", pathname, token ? { token } : {}), `GET ${redact(pathname)}`, 200);
  if (r.sha256 !== f.sha256) fail(`GET ${redact(pathname)}: wrong bytes`);
}

async function deletePkg(p: Proc, pkg: LivePkg): Promise<void> {
  expectStatus(await call(p, "DELETE", `/packages/${pkg.id}`, { token: pkg.owner.token }), "delete package", 204, 404);
}

/** Keeps a handful of packages around for the pages and lists; deletes the oldest beyond that. */
async function keepOrDelete(p: Proc, pkg: LivePkg): Promise<void> {
  live.push(pkg);
  while (live.length > 12) await deletePkg(p, live.shift()!);
}

// ---------------------------------------------------------------- scenarios

type Scenario = (p: Proc, u: User) => Promise<void>;

/** SDK: a draft, small files, finalize on the other process, the recipient's downloads and zip. */
const smallFiles: Scenario = async (p, u) => {
  const sf = sdkFor(u, p);
  const pkg = await sf.packages.create({ title: "soak small", recipient_email: "small@example.com", direction: "outbound", ttl_days: 1 });
  const files: LivePkg["files"] = [];
  for (let i = 0; i < rnd(1, 5); i++) {
    const seed = newSeed();
    const size = rnd(1, 256 * 1024);
    const buf = Buffer.concat([...generated(seed, 0, size)]);
    countBytes(size);
    const f = await sf.uploadFile(pkg.id, buf, { name: `small-${i}.bin` });
    files.push({ id: f.id, seed, size, sha256: f.sha256 });
  }
  const q = other(p);
  const secret = await finalize(q, u, pkg.id);
  const info = expectStatus(await call(p, "GET", `/links/${secret}`), "GET link", 200);
  countBytes(info.bytes);
  for (const f of files) {
    if (Math.random() < 0.5) await rangedGet(q, `/links/${secret}/files/${f.id}`, undefined, f);
    else await wholeGet(pick(procs), `/links/${secret}/files/${f.id}`, undefined, f);
  }
  expectStatus(await call(pick(procs), "GET", `/links/${secret}/archive`), "zip", 200);
  expectStatus(await call(p, "GET", `/packages/${pkg.id}/events`, { token: u.token }), "events", 200);
  const entry = { id: pkg.id, owner: u, secret, files };
  if (Math.random() < 0.5) await deletePkg(q, entry);
  else await keepOrDelete(q, entry);
};

/** Raw HTTP: one big streamed upload, owner ranges from the other process, the whole through the link. */
const bigFile: Scenario = async (p, u) => {
  const id = await createPkg(p, u, "soak big");
  const size = rnd(BIG_MIB / 2, BIG_MIB) * MiB + rnd(0, 4095);
  const f = await multipartUpload(p, u, id, newSeed(), size);
  const q = other(p);
  await rangedGet(q, `/packages/${id}/files/${f.id}`, u.token, f);
  await rangedGet(p, `/packages/${id}/files/${f.id}`, u.token, f);
  const secret = await finalize(p, u, id);
  await wholeGet(q, `/links/${secret}/files/${f.id}`, undefined, f);
  await deletePkg(pick(procs), { id, owner: u, secret, files: [f] });
};

const TUS = { "Tus-Resumable": "1.0.0" };
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** tus: a PATCH cut mid-way on one process, HEAD and the rest on the other. */
const tusWithCut: Scenario = async (p, u) => {
  const id = await createPkg(p, u, "soak tus");
  const seed = newSeed();
  const size = rnd(2, Math.max(2, BIG_MIB / 2)) * MiB + rnd(0, 4095);
  const sha = sha256Of(seed, 0, size);
  const created = expectStatus(
    await call(p, "POST", `/packages/${id}/uploads`, {
      token: u.token,
      headers: { ...TUS, "Upload-Length": size, "Upload-Metadata": `filename ${b64(`tus-${seed}.bin`)},sha256 ${b64(sha)}`, "Content-Length": 0 },
    }),
    "tus create",
    201,
  );
  const location = created.headers.location!;
  // Well before the end: bytes already in the socket's buffers when the cut comes still arrive.
  const cutAt = rnd(1, size - MiB);
  await call(p, "PATCH", location, {
    token: u.token,
    headers: { ...TUS, "Upload-Offset": 0, "Content-Type": "application/offset+octet-stream", "Content-Length": size },
    body: () => generated(seed, 0, size),
    cutAfter: cutAt,
  }).then(
    (r) => fail(`tus PATCH cut after ${cutAt} bytes answered ${r.status} instead of being cut`),
    () => undefined,
  );
  const q = other(p);
  // The other process: HEAD until the cut upload is let go (423 while the cut request still holds it).
  let offset = -1;
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline) {
    const h = await call(q, "HEAD", location, { token: u.token, headers: TUS });
    if (h.status === 200) {
      const o = Number(h.headers["upload-offset"]);
      const r = await call(q, "PATCH", location, {
        token: u.token,
        headers: { ...TUS, "Upload-Offset": o, "Content-Type": "application/offset+octet-stream", "Content-Length": size - o },
        body: () => generated(seed, o, size),
      });
      // The last PATCH answers 200 with the file (any other 204).
      if (r.status === 200 || r.status === 204) {
        offset = r.status === 200 ? size : Number(r.headers["upload-offset"]);
        break;
      }
      // 409 (the offset moved: the cut request's last bytes landed after our HEAD) or 423 (still locked): again.
      expectStatus(r, "tus resume PATCH", 409, 423);
    } else {
      expectStatus(h, "tus HEAD", 423);
    }
    await sleep(500);
  }
  if (offset !== size) return fail(`tus upload ${location} did not complete (offset ${offset} of ${size})`);
  const detail = json<{ files: { id: string; sha256: string }[] }>(expectStatus(await call(p, "GET", `/packages/${id}`, { token: u.token }), "get package", 200));
  const f = detail.files[0];
  if (f?.sha256 !== sha) return fail(`tus upload: the file's SHA-256 is ${f?.sha256}, not ${sha}`);
  await rangedGet(q, `/packages/${id}/files/${f.id}`, u.token, { id: f.id, seed, size, sha256: sha });
  await deletePkg(p, { id, owner: u, secret: null, files: [] });
};

/** The form sign-in with CSRF, a few pages, sign-out. */
const webSession: Scenario = async (p, u) => {
  const c = new WebClient({ url: p.url, api: p.api });
  const res = await c.signIn(u.email, u.password);
  await res.arrayBuffer();
  if (res.status !== 303) throw new Unexpected(`web sign-in: ${res.status}`);
  const pages = ["/packages", "/account", "/webhooks", "/account/tokens", "/packages/new"];
  const mine = live.find((l) => l.owner === u);
  if (mine) pages.push(`/packages/${mine.id}`);
  for (const page of pages) {
    const r = await c.get(page);
    const body = await r.text();
    countBytes(body.length);
    // A package of the list may have been deleted by another loop meanwhile.
    if (r.status !== 200 && !(r.status === 404 && page.startsWith("/packages/"))) throw new Unexpected(`web page ${page}: ${r.status}`);
  }
  const csrf = await c.csrf();
  const out = await c.post("/logout", { _csrf: csrf });
  await out.arrayBuffer();
  if (out.status !== 303) throw new Unexpected(`web sign-out: ${out.status}`);
  const after = await c.get("/packages");
  await after.arrayBuffer();
  if (after.status !== 303) throw new Unexpected(`a page after sign-out: ${after.status} (expected 303 to /login)`);
};

/** Link downloads of a package while it is being deleted (from the other process). */
const deleteDuringDownloads: Scenario = async (p, u) => {
  const id = await createPkg(p, u, "soak delete race");
  const files: LivePkg["files"] = [];
  for (let i = 0; i < 3; i++) files.push(await multipartUpload(p, u, id, newSeed(), rnd(256 * 1024, 4 * MiB)));
  const secret = await finalize(p, u, id);
  const downloads = [];
  for (let i = 0; i < 6; i++) {
    const f = pick(files);
    const target = pick(procs);
    const url = i % 3 === 2 ? `/links/${secret}/archive` : `/links/${secret}/files/${f.id}`;
    downloads.push(
      call(target, "GET", url).then(
        (r) => {
          if (![200, 404, 410].includes(r.status)) fail(`link download during delete ${redact(url)}: ${r.status} (expected 200, 404 or 410) ${r.text.slice(0, 200)}`);
        },
        // Cut off when its bytes went away: fine, as long as the server stays up and answers no 5xx.
        () => undefined,
      ),
    );
  }
  await sleep(rnd(0, 30));
  await deletePkg(other(p), { id, owner: u, secret, files });
  await Promise.all(downloads);
};

/** Packages that expire in seconds; checked later, once the sweeper has had its turn. */
const expiring: { secret: string; at: number }[] = [];
const shortLived: Scenario = async (p, u) => {
  const id = await createPkg(p, u, "soak short-lived");
  const f = await multipartUpload(p, u, id, newSeed(), rnd(1, 512 * 1024));
  const secret = await finalize(other(p), u, id);
  const at = Date.now() + rnd(5, 20) * 1000;
  expectStatus(await call(p, "PATCH", `/packages/${id}`, { token: u.token, json: { expires_at: new Date(at).toISOString() } }), "shorten expiry", 200);
  await wholeGet(other(p), `/links/${secret}/files/${f.id}`, undefined, f);
  expiring.push({ secret, at });
  // Earlier ones, whose expiry plus two sweeps has passed: their link must be gone.
  const now = Date.now();
  for (const e of expiring.filter((x) => x.at + 3 * SWEEP_SECONDS * 1000 < now)) {
    expiring.splice(expiring.indexOf(e), 1);
    const r = await call(pick(procs), "GET", `/links/${e.secret}`);
    expectStatus(r, "a link past its package's expiry", 410);
    expired++;
  }
};
let expired = 0;

/** Webhook tests, a webhook made and removed, lists and /me. */
const apiMisc: Scenario = async (p, u) => {
  const hooks = json<{ items?: { id: string }[] } | { id: string }[]>(expectStatus(await call(p, "GET", "/webhooks", { token: u.token }), "list webhooks", 200));
  const list = Array.isArray(hooks) ? hooks : (hooks.items ?? []);
  if (list[0]) expectStatus(await call(other(p), "POST", `/webhooks/${list[0].id}/test`, { token: u.token }), "webhook test", 200, 202, 429);
  const made = await call(p, "POST", "/webhooks", { token: u.token, json: { url: receiverUrl, events: ["package.deleted"] } });
  expectStatus(made, "create webhook", 201);
  expectStatus(await call(other(p), "DELETE", `/webhooks/${json<{ id: string }>(made).id}`, { token: u.token }), "delete webhook", 204);
  expectStatus(await call(p, "GET", "/packages?per_page=50", { token: u.token }), "list packages", 200);
  await sdkFor(u, other(p)).me();
  await sdkFor(u, p).packages.list({ per_page: 10 });
};

const SCENARIOS: [string, Scenario, number][] = [
  ["small files (SDK)", smallFiles, 5],
  ["big file", bigFile, 1],
  ["tus with a cut", tusWithCut, 2],
  ["web session", webSession, 3],
  ["delete during downloads", deleteDuringDownloads, 2],
  ["short-lived package", shortLived, 2],
  ["webhooks and lists", apiMisc, 3],
];
const WEIGHT = SCENARIOS.reduce((s, [, , w]) => s + w, 0);
function pickScenario(): [string, Scenario] {
  let x = Math.random() * WEIGHT;
  for (const [name, fn, w] of SCENARIOS) {
    if ((x -= w) < 0) return [name, fn];
  }
  return [SCENARIOS[0]![0], SCENARIOS[0]![1]];
}

async function worker(i: number): Promise<void> {
  const u = users[i % users.length]!;
  while (!stopping) {
    const [name, fn] = pickScenario();
    const p = pick(procs);
    try {
      await fn(p, u);
      byScenario[name] = (byScenario[name] ?? 0) + 1;
    } catch (err) {
      if (err instanceof ApiError && err.status >= 500) continue; // counted (and shown) as a 5xx already
      if (stopping && !(err instanceof Unexpected)) continue; // a server going away at the end
      fail(`${name} on ${p.name}: ${(err as Error).message}`);
    }
  }
}

// ---------------------------------------------------------------- the slow webhook receiver and the SMTP sink

let receiverUrl = "";
let received = 0;
async function startSlowReceiver(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      // One in ten never answers (the server's SF_WEBHOOK_TIMEOUT_SECONDS gives up); the rest after 1-5 s.
      if (Math.random() < 0.1) return;
      setTimeout(() => res.writeHead(200, { "Content-Type": "text/plain" }).end("ok"), rnd(1000, 5000));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return server;
}

let mails = 0;
async function startSmtpSink(): Promise<SMTPServer> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on("end", () => {
        mails++;
        callback();
      });
    },
  });
  // A connection the server drops (a process stopping) is not the sink's problem.
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return server;
}

// ---------------------------------------------------------------- minutes

interface Sample {
  rssMiB: number;
  /** The V8 heap in use at the minute's last diagnostics line: what RSS holds beyond it is the allocator's. */
  heapMiB: number;
  fds: number;
  eldP50: number;
  eldP99: number;
  eldMax: number;
  dbConns: number;
  pool: string;
}
interface MinuteRow {
  minute: number;
  per: Sample[];
  requests: number;
  bytes: number;
  errors: number;
}
const rows: MinuteRow[] = [];

function fdCount(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

async function sampleMinute(minute: number, db: pg.Client, dbName: string): Promise<void> {
  const conns = await db.query<{ application_name: string; n: number }>(
    "select application_name, count(*)::int as n from pg_stat_activity where datname = $1 group by application_name",
    [dbName],
  );
  const per = procs.map((p) => {
    const d = p.diag.splice(0);
    const last = d[d.length - 1];
    return {
      rssMiB: readRssKiB(p.pid) / 1024,
      heapMiB: last ? last.heapUsed / MiB : Number.NaN,
      fds: fdCount(p.pid),
      eldP50: d.length ? Math.max(...d.map((x) => x.p50)) : Number.NaN,
      eldP99: d.length ? Math.max(...d.map((x) => x.p99)) : Number.NaN,
      eldMax: d.length ? Math.max(...d.map((x) => x.max)) : Number.NaN,
      dbConns: conns.rows.find((r) => r.application_name === `sf-soak-${p.name}`)?.n ?? 0,
      pool: last ? `${last.used}/${last.used + last.free}` : "?",
    };
  });
  rows.push({ minute, per, requests: minuteReq, bytes: minuteBytes, errors: minuteErrors });
  minuteReq = minuteBytes = minuteErrors = 0;
  log(
    `minute ${minute}: ${per
      .map((s, i) => `${procs[i]!.name} rss ${s.rssMiB.toFixed(1)} MiB, fds ${s.fds}, ELD p99 ${s.eldP99} ms, DB ${s.dbConns} (pool ${s.pool})`)
      .join(" | ")} | ${rows[rows.length - 1]!.requests} requests, ${(rows[rows.length - 1]!.bytes / MiB).toFixed(0)} MiB, ${rows[rows.length - 1]!.errors} errors`,
  );
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const pts = xs.map((x, i) => [x, ys[i]!] as const).filter(([, y]) => Number.isFinite(y));
  if (pts.length < 2) return Number.NaN;
  const mx = pts.reduce((s, [x]) => s + x, 0) / pts.length;
  const my = pts.reduce((s, [, y]) => s + y, 0) / pts.length;
  const num = pts.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = pts.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

function report(startedAt: Date, seconds: number): { text: string; flat: boolean } {
  const names = procs.map((p) => p.name);
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");
  const head = ["minute", ...names.flatMap((n) => [`${n} RSS MiB`, `${n} heap MiB`, `${n} fds`, `${n} ELD p99 ms`, `${n} DB conns`]), "requests", "MiB moved", "errors"];
  const lines = [
    `pnpm soak, ${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC, ${(seconds / 60).toFixed(1)} minutes, ${WORKERS} workers, big files up to ${BIG_MIB} MiB, ` +
      `2 processes on PostgreSQL, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, Node ${process.version}`,
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map(
      (r) => `| ${[r.minute, ...r.per.flatMap((s) => [f(s.rssMiB), f(s.heapMiB), s.fds, f(s.eldP99), s.dbConns]), r.requests, (r.bytes / MiB).toFixed(0), r.errors].join(" | ")} |`,
    ),
    "",
  ];
  const after = rows.filter((r) => r.minute > WARMUP);
  const xs = after.map((r) => r.minute);
  let flat = true;
  lines.push(
    `Slopes per minute over minutes ${WARMUP + 1}–${rows.length} (after a ${WARMUP}-minute warm-up), flat when RSS < ${BOUNDS.rssMiB} MiB/min, fds < ${BOUNDS.fds}/min, ELD p99 < ${BOUNDS.eldP99Ms} ms/min, DB connections < ${BOUNDS.dbConns}/min:`,
    "",
  );
  lines.push("| process | RSS MiB/min | heap MiB/min | fds/min | ELD p99 ms/min | DB conns/min |", "|---|---|---|---|---|---|");
  procs.forEach((p, i) => {
    const s = {
      rss: slope(
        xs,
        after.map((r) => r.per[i]!.rssMiB),
      ),
      heap: slope(
        xs,
        after.map((r) => r.per[i]!.heapMiB),
      ),
      fds: slope(
        xs,
        after.map((r) => r.per[i]!.fds),
      ),
      eld: slope(
        xs,
        after.map((r) => r.per[i]!.eldP99),
      ),
      db: slope(
        xs,
        after.map((r) => r.per[i]!.dbConns),
      ),
    };
    const over = (v: number, bound: number) => Number.isFinite(v) && v >= bound;
    if (over(s.rss, BOUNDS.rssMiB) || over(s.fds, BOUNDS.fds) || over(s.eld, BOUNDS.eldP99Ms) || over(s.db, BOUNDS.dbConns)) flat = false;
    lines.push(`| ${p.name} | ${f(s.rss, 2)} | ${f(s.heap, 2)} | ${f(s.fds, 2)} | ${f(s.eld, 2)} | ${f(s.db, 2)} |`);
  });
  if (xs.length < 2) lines.push("", "(too few minutes after the warm-up for a slope: run longer)");
  lines.push(
    "",
    `Requests: ${totalReq} (${Object.entries(classes)
      .filter(([, n]) => n > 0)
      .map(([c, n]) => `${c} ${n}`)
      .join(", ")}), ${(totalBytes / MiB).toFixed(0)} MiB moved; scenarios done: ${Object.entries(byScenario)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}; webhook deliveries received ${received}, mails ${mails}, expiries seen ${expired}, requests sent again on a stale keep-alive connection ${staleRetries}.`,
    "",
    `Verdict: ${fiveXx > 0 ? `**${fiveXx} answers 5xx**; ` : "no 5xx; "}${failures.length - fiveXx > 0 ? `**${failures.length - fiveXx} failed checks**; ` : ""}${xs.length < 2 ? "too short to judge growth" : flat ? "flat" : "**growing** (see the slopes)"}.`,
    "",
  );
  return { text: lines.join("\n"), flat: flat || xs.length < 2 };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = new Date();
  const dbName = `sf_soak_${crypto.randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, application_name: "sf-soak-driver" });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-soak-"));
  const receiver = await startSlowReceiver();
  const smtp = await startSmtpSink();
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  log(`soak: ${MINUTES} minutes, database ${dbName}, data folder ${dataDir}`);

  const dbUrl = (name: string) => {
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${dbName}`;
    u.searchParams.set("application_name", `sf-soak-${name}`);
    return u.toString();
  };
  const adminEmail = "soak-admin@example.com";
  const adminPassword = `soak-${crypto.randomBytes(12).toString("hex")}`;
  const env = (name: string) => ({
    SF_BIND: "127.0.0.1",
    SF_DATA_DIR: dataDir,
    SF_DATABASE_URL: dbUrl(name),
    SF_LOG_LEVEL: "info",
    SF_ADMIN_EMAIL: adminEmail,
    SF_ADMIN_PASSWORD: adminPassword,
    SF_SECRET_KEY: SECRET_KEY,
    SF_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    SF_SWEEP_INTERVAL_SECONDS: String(SWEEP_SECONDS),
    SF_DIAGNOSTICS_INTERVAL_SECONDS: String(DIAG_SECONDS),
    SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1",
    SF_WEBHOOK_TIMEOUT_SECONDS: "8",
    SF_LOGIN_MAX_FAILURES_PER_IP: "1000000",
    // Links of deleted and expired packages are looked up on purpose: those count as failures.
    SF_LINK_MAX_FAILURES_PER_IP: "1000000",
    SF_MAIL_POLL_MS: "1000",
  });
  let exit = 1;
  try {
    // One after the other: the first migrates the database and creates the admin.
    await startProc("A", env("A"));
    await startProc("B", env("B"));

    const a = procs[0]!;
    const adminToken = json<{ token: string }>(
      expectStatus(await call(a, "POST", "/auth/token", { json: { email: adminEmail, password: adminPassword, name: "soak" } }), "admin token", 201, 200),
    ).token;
    for (let i = 0; i < 3; i++) {
      const email = `soak-user-${i}@example.com`;
      const password = `pw-${crypto.randomBytes(10).toString("hex")}`;
      expectStatus(await call(a, "POST", "/admin/users", { token: adminToken, json: { email, name: `Soak ${i}`, password } }), "create user", 201);
      const token = json<{ token: string }>(
        expectStatus(await call(pick(procs), "POST", "/auth/token", { json: { email, password, name: "soak" } }), "user token", 201, 200),
      ).token;
      const u: User = { email, password, token, sdk: procs.map((p) => new SpeedyFiles({ baseUrl: p.url, token, retryWindowMs: 0, retry: { retries: 0 } })) };
      expectStatus(
        await call(a, "POST", "/webhooks", {
          token,
          json: { url: receiverUrl, events: ["package.created", "package.finalized", "package.downloaded", "package.expired", "package.deleted"] },
        }),
        "create webhook",
        201,
      );
      users.push(u);
    }

    const t0 = Date.now();
    const workers = Array.from({ length: WORKERS }, (_, i) => worker(i));
    for (let m = 1; m <= MINUTES; m++) {
      await Promise.race([sleep(t0 + m * 60_000 - Date.now()), interrupted]);
      if (stopping) break;
      await sampleMinute(m, admin, dbName);
    }
    stopping = true;
    log("soak: stopping the workers (each finishes what it is doing)");
    await Promise.race([Promise.all(workers), sleep(180_000)]);
    await sleep(1500); // 5xx log lookups
    const { text, flat } = report(startedAt, (Date.now() - t0) / 1000);
    process.stdout.write(`\n${text}`);
    if (failures.length) process.stdout.write(`\nFailures (${failures.length}):\n${failures.slice(0, 50).join("\n")}\n`);
    if (REPORT) fs.writeFileSync(REPORT, text);
    exit = failures.length > 0 ? 1 : flat ? 0 : 2;
  } finally {
    stopping = true;
    for (const p of procs) {
      await stopChild(p).catch(() => undefined);
      p.agent.destroy();
    }
    receiver.closeAllConnections();
    receiver.close();
    smtp.close();
    if (KEEP) log(`soak: kept the database ${dbName} and the data folder ${dataDir} (SF_SOAK_KEEP)`);
    else {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
      await fsp.rm(dataDir, { recursive: true, force: true });
    }
    await admin.end();
  }
  // Keep-alive sockets of the SDK's and fetch's pools would hold the process open a while longer.
  process.exit(exit);
}

const SECRET_KEY = crypto.randomBytes(32).toString("hex");

/** Ctrl-C: the report of the minutes so far, then the usual clean-up (a second Ctrl-C exits at once). */
let interrupt: () => void = () => undefined;
const interrupted = new Promise<void>((resolve) => {
  interrupt = resolve;
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    log(`soak: ${sig}; stopping after the minutes so far`);
    stopping = true;
    interrupt();
    process.once(sig, () => process.exit(130));
  });
}
// A check that throws outside a scenario's own await is a failed check, not the end of the run.
process.on("unhandledRejection", (err) => fail(`unhandled: ${(err as Error)?.message ?? String(err)}`));
main().catch((err: unknown) => {
  log(`soak failed: ${(err as Error)?.stack ?? String(err)}`);
  for (const p of procs) log(`--- ${p.name} log (last lines):\n${p.lines.slice(-30).join("\n")}`);
  process.exitCode = 1;
});
