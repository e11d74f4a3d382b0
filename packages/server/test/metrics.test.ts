import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import parsePrometheusTextFormat, { type PromFamily } from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { expectError, expectUnauthorized } from "@speedyfiles/test-utils/expect";
import { requestFiles, shareFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, rawMultipart, until } from "@speedyfiles/test-utils/uploads";
import { ConfigError, loadConfig } from "../src/config.js";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { isPostgres } from "../src/db/knex.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TOKEN = crypto.randomBytes(24).toString("hex");
const H = "speedyfiles_http_request_duration_seconds";

/** Every family the metrics promise, with its type. */
const FAMILIES: [string, PromFamily["type"]][] = [
  [H, "HISTOGRAM"],
  ["speedyfiles_upload_bytes_total", "COUNTER"],
  ["speedyfiles_download_bytes_total", "COUNTER"],
  ["speedyfiles_uploads_in_flight", "GAUGE"],
  ["speedyfiles_tus_uploads_open", "GAUGE"],
  ["speedyfiles_webhook_queue_depth", "GAUGE"],
  ["speedyfiles_webhook_queue_oldest_seconds", "GAUGE"],
  ["speedyfiles_mail_queue_depth", "GAUGE"],
  ["speedyfiles_mail_queue_oldest_seconds", "GAUGE"],
  ["speedyfiles_sweeper_runs_total", "COUNTER"],
  ["speedyfiles_sweeper_last_run_timestamp_seconds", "GAUGE"],
  ["speedyfiles_sweeper_last_run_duration_seconds", "GAUGE"],
  ["speedyfiles_db_pool_connections", "GAUGE"],
  ["speedyfiles_scrape_errors_total", "COUNTER"],
  ["speedyfiles_scrape_database_up", "GAUGE"],
  // The process's own (prom-client's default metrics, with our prefix).
  ["speedyfiles_nodejs_eventloop_lag_p99_seconds", "GAUGE"],
  ["speedyfiles_nodejs_eventloop_lag_max_seconds", "GAUGE"],
  ["speedyfiles_process_resident_memory_bytes", "GAUGE"],
  ["speedyfiles_process_open_fds", "GAUGE"],
  ["speedyfiles_process_cpu_seconds_total", "COUNTER"],
];

interface Scrape {
  text: string;
  families: PromFamily[];
}

async function scrape(url: string, token: string | undefined = TOKEN): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, families: parsePrometheusTextFormat(text) };
}

const matches = (labels: Record<string, string> | undefined, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels?.[k] === v);

/** A counter's or gauge's value, summed over the samples whose labels include `labels` (0: none). */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const f = s.families.find((x) => x.name === name);
  return (f?.metrics ?? []).filter((m) => matches(m.labels, labels)).reduce((sum, m) => sum + Number(m.value), 0);
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Every sample line as written. The parser above checks the format and the families, but folds
 * a labelled histogram's series into one: the histogram's series are read here.
 */
function samples(s: Scrape): Sample[] {
  return s.text.split("\n").flatMap((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) return [];
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    return [{ name: m[1]!, labels, value: Number(m[3]) }];
  });
}

/** How many observations a histogram holds under `labels`. */
function count(s: Scrape, name: string, labels: Record<string, string>): number {
  return samples(s)
    .filter((x) => x.name === `${name}_count` && matches(x.labels, labels))
    .reduce((sum, x) => sum + x.value, 0);
}

/** Everything the server logs, as text. */
class LogCapture {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("metrics settings", () => {
  const base = { SF_DATA_DIR: "/tmp/sf-metrics-config" };
  it("SF_METRICS_LISTEN: a bare port binds loopback; host:port and [ipv6]:port as written", () => {
    expect(loadConfig({ ...base }).metricsListen).toBeNull();
    expect(loadConfig({ ...base, SF_METRICS_LISTEN: "9464" }).metricsListen).toEqual({ host: "127.0.0.1", port: 9464 });
    expect(loadConfig({ ...base, SF_METRICS_LISTEN: "0.0.0.0:9464" }).metricsListen).toEqual({ host: "0.0.0.0", port: 9464 });
    expect(loadConfig({ ...base, SF_METRICS_LISTEN: "[::1]:9464" }).metricsListen).toEqual({ host: "::1", port: 9464 });
    expect(loadConfig({ ...base, SF_METRICS_LISTEN: "metrics.internal:9100" }).metricsListen).toEqual({ host: "metrics.internal", port: 9100 });
  });

  it("refuses a malformed address, the main port, and a short token without echoing it", () => {
    expect(() => loadConfig({ ...base, SF_METRICS_LISTEN: "localhost:http" })).toThrow(/SF_METRICS_LISTEN must be a port or host:port/);
    expect(() => loadConfig({ ...base, SF_METRICS_LISTEN: "70000" })).toThrow(/SF_METRICS_LISTEN/);
    expect(() => loadConfig({ ...base, SF_PORT: "8080", SF_METRICS_LISTEN: "8080" })).toThrow(/SF_METRICS_LISTEN must not use SF_PORT's port 8080/);
    let err: unknown;
    try {
      loadConfig({ ...base, SF_METRICS_TOKEN: "hunter2-short" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/SF_METRICS_TOKEN must be 16 to 512 printable characters/);
    expect((err as Error).message).not.toContain("hunter2");
    expect(loadConfig({ ...base, SF_METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN);
    expect(() => loadConfig({ ...base, SF_METRICS_DB_TIMEOUT_MS: "5" })).toThrow(/SF_METRICS_DB_TIMEOUT_MS/);
  });
});

describe.each(DATABASES)("metrics off, or on a listener of their own (%s)", (kind) => {
  it("off by default: /metrics is a 404 like any unknown path, token or not", async () => {
    const t = await startTestServer(kind);
    try {
      expect(t.running.services.metrics.enabled).toBe(false);
      expect(t.running.metricsUrl).toBeUndefined();
      await expectError(await fetch(`${t.url}/metrics`), 404, "not_found");
      await expectError(await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } }), 404, "not_found");
    } finally {
      await t.close();
    }
  });

  it("SF_METRICS_LISTEN: the listener serves /metrics without a token and nothing else; the main port does not serve it", async () => {
    const t = await startTestServer(kind, { env: { SF_METRICS_LISTEN: "127.0.0.1:0" } });
    try {
      const listener = t.running.metricsUrl!;
      expect(listener).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(listener).not.toBe(t.url);
      const { token } = await t.createUser();
      expect((await t.fetch("/me", { token })).status).toBe(200);

      const s = await scrape(listener, undefined);
      expect(count(s, H, { operation: "getMe", status: "2xx" })).toBe(1);
      expect((await fetch(`${listener}/metrics`, { method: "HEAD" })).status).toBe(200);

      await expectError(await fetch(`${t.url}/metrics`), 404, "not_found");
      await expectError(await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } }), 404, "not_found");
      // The API is not on the listener.
      await expectError(await fetch(`${listener}/api/v1/health`), 404, "not_found");
      await expectError(await fetch(`${listener}/`), 404, "not_found");
      const post = await fetch(`${listener}/metrics`, { method: "POST" });
      expect(post.headers.get("allow")).toBe("GET, HEAD");
      await expectError(post, 405, "method_not_allowed");
      // What either refused is `unknown` (two on the main port, three here), never its path.
      await until(async () => count(await scrape(listener, undefined), H, { operation: "unknown", status: "4xx" }) === 5, 5000, "five refusals counted");
      expect(count(await scrape(listener, undefined), H, { operation: "web" })).toBe(0);
    } finally {
      await t.close();
    }
    // Closed with the server.
    await expect(fetch(`${t.running.metricsUrl}/metrics`)).rejects.toThrow();
  });

  it("a download handed to nginx (X-Accel-Redirect) is not this process's bytes", async () => {
    const t = await startTestServer(kind, { env: { SF_METRICS_LISTEN: "127.0.0.1:0", SF_ACCEL_REDIRECT: "/_sf_blobs/" } });
    try {
      const { token } = await t.createUser();
      const shared = await shareFiles(t, token, [["n.bin", crypto.randomBytes(4096)]]);
      const res = await fetch(`${shared.api}/files/${shared.files[0]!.id}`);
      expect(res.headers.get("x-accel-redirect")).toMatch(/^\/_sf_blobs\//);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
      const s = await scrape(t.running.metricsUrl!, undefined);
      expect(value(s, "speedyfiles_upload_bytes_total")).toBe(4096);
      expect(value(s, "speedyfiles_download_bytes_total")).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("a listener address that is taken stops the start, and releases what it held (a restart on the data dir works)", async () => {
    const taken = http.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as { port: number }).port;
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-metrics-"));
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const db = pg ? { databaseUrl: pg.url } : {};
    try {
      await expect(startTestServer(kind, { dataDir, ...db, env: { SF_METRICS_LISTEN: `127.0.0.1:${port}` } })).rejects.toThrow(/EADDRINUSE/);
      const again = await startTestServer(kind, { dataDir, ...db });
      expect((await again.fetch("/health")).status).toBe(200);
      await again.close();
    } finally {
      await new Promise((r) => taken.close(r));
      await fs.rm(dataDir, { recursive: true, force: true });
      await pg?.drop();
    }
  });
});

describe.each(DATABASES)("metrics with SF_METRICS_TOKEN (%s)", (kind) => {
  let t: TestServer;
  let log: LogCapture;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;

  beforeAll(async () => {
    log = new LogCapture();
    t = await startTestServer(kind, {
      logStream: log,
      // Queued mail stays queued, as webhook deliveries do (their worker is off in tests).
      mail: false,
      env: { SF_METRICS_TOKEN: TOKEN, SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SF_METRICS_DB_TIMEOUT_MS: "300" },
    });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("401 without the token, with a wrong one or an API token; the token never reaches the log", async () => {
    await expectUnauthorized(await fetch(`${t.url}/metrics`), "token_missing");
    await expectUnauthorized(await fetch(`${t.url}/metrics`, { headers: { Authorization: `Basic ${b64(`x:${TOKEN}`)}` } }), "token_missing");
    await expectUnauthorized(await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}x` } }), "token_invalid");
    await expectUnauthorized(await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN.slice(1)}` } }), "token_invalid");
    await expectUnauthorized(await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${alice.token}` } }), "token_invalid");

    const res = await fetch(`${t.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.text()).toContain("# TYPE speedyfiles_upload_bytes_total counter");
    const head = await fetch(`${t.url}/metrics`, { method: "HEAD", headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");

    await until(() => (log.text.match(/"url":"\/metrics"/g) ?? []).length >= 7, 5000, "the requests' log lines");
    expect(log.text).not.toContain(TOKEN);
    expect(log.text).not.toContain(TOKEN.slice(1));
  });

  it("parses as Prometheus text, and every family is there with its HELP and TYPE", async () => {
    expect((await t.fetch("/me", { token: alice.token })).status).toBe(200);
    const s = await scrape(t.url);
    for (const [name, type] of FAMILIES) {
      const f = s.families.find((x) => x.name === name);
      expect(f, name).toBeDefined();
      expect(f!.type, name).toBe(type);
      expect(f!.help.length, name).toBeGreaterThan(10);
      expect(s.text).toMatch(new RegExp(`^# HELP ${name} \\S`, "m"));
      expect(s.text).toMatch(new RegExp(`^# TYPE ${name} ${type.toLowerCase()}$`, "m"));
    }
    for (const state of ["used", "free", "pending"])
      expect(s.families.find((x) => x.name === "speedyfiles_db_pool_connections")!.metrics.some((m) => m.labels?.state === state)).toBe(true);
    // The figures read from the database say they are the instance's, not this process's.
    for (const name of ["speedyfiles_tus_uploads_open", "speedyfiles_mail_queue_depth", "speedyfiles_webhook_queue_oldest_seconds"]) {
      expect(s.families.find((x) => x.name === name)!.help).toMatch(/Instance-wide/);
    }
    expect(value(s, "speedyfiles_scrape_database_up")).toBe(1);
    // Nothing else in the registry: every family is ours.
    expect(s.families.filter((f) => !f.name.startsWith("speedyfiles_")).map((f) => f.name)).toEqual([]);
  });

  it("a request counts once under its operationId and status class; unknown paths under `unknown`", async () => {
    const before = await scrape(t.url);
    expect((await t.fetch("/me", { token: alice.token })).status).toBe(200);
    expect((await t.fetch("/me")).status).toBe(401);
    expect((await t.fetch(`/packages/${crypto.randomUUID()}`, { token: alice.token })).status).toBe(404);
    expect((await fetch(`${t.url}/no/such/page`)).status).toBe(404);
    expect((await t.fetch("/no-such-operation")).status).toBe(404);
    expect((await t.fetch("/me", { method: "DELETE", token: alice.token })).status).toBe(405);
    const delta = (s: Scrape, operation: string, status: string) => count(s, H, { operation, status }) - count(before, H, { operation, status });
    let after = before;
    await until(async () => {
      after = await scrape(t.url);
      return delta(after, "unknown", "4xx") >= 3;
    });
    expect(delta(after, "getMe", "2xx")).toBe(1);
    expect(delta(after, "getMe", "4xx")).toBe(1);
    expect(delta(after, "getPackage", "4xx")).toBe(1);
    expect(delta(after, "unknown", "4xx")).toBe(3);
    expect(delta(after, "getMe", "5xx")).toBe(0);
    // The previous scrape is counted too.
    expect(delta(after, "metrics", "2xx")).toBeGreaterThanOrEqual(1);
  });

  it("bytes up and down move by what was sent: multipart, tus, link upload, file, range, link download, zip", async () => {
    const up0 = value(await scrape(t.url), "speedyfiles_upload_bytes_total");
    const a = crypto.randomBytes(100_000);
    const b = crypto.randomBytes(12_345);
    const shared = await shareFiles(t, alice.token, [
      ["a.bin", a],
      ["b.bin", b],
    ]);
    expect(value(await scrape(t.url), "speedyfiles_upload_bytes_total") - up0).toBe(a.length + b.length);

    // tus: a creation carrying its first 70,000 bytes, then a PATCH with the rest.
    const pkg = await createPackage(t, alice.token);
    const c = crypto.randomBytes(100_000);
    const created = await t.fetch(`/packages/${pkg.id}/uploads`, {
      method: "POST",
      token: alice.token,
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(c.length), "Upload-Metadata": `filename ${b64("c.bin")}`, "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(c.subarray(0, 70_000)),
    });
    expect(created.status).toBe(201);
    const up1 = value(await scrape(t.url), "speedyfiles_upload_bytes_total");
    expect(up1 - up0).toBe(a.length + b.length + 70_000);
    const patched = await fetch(`${t.url}${created.headers.get("location")}`, {
      method: "PATCH",
      headers: { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${alice.token}`, "Upload-Offset": "70000", "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(c.subarray(70_000)),
    });
    expect(patched.status).toBe(200);
    // Through an inbound link.
    const inbound = await requestFiles(t, alice.token);
    expect((await uploadToLink(inbound.api, "d.bin", Buffer.alloc(5_000, 7))).status).toBe(201);
    const s1 = await scrape(t.url);
    expect(value(s1, "speedyfiles_upload_bytes_total") - up0).toBe(a.length + b.length + c.length + 5_000);
    expect(value(s1, "speedyfiles_uploads_in_flight")).toBe(0);

    const down = async () => value(await scrape(t.url), "speedyfiles_download_bytes_total");
    const d0 = await down();
    const file = shared.files[0]!;
    const whole = await t.fetch(`/packages/${shared.id}/files/${file.id}`, { token: alice.token });
    expect(Buffer.from(await whole.arrayBuffer()).equals(a)).toBe(true);
    expect((await down()) - d0).toBe(a.length);
    const part = await t.fetch(`/packages/${shared.id}/files/${file.id}`, { token: alice.token, headers: { Range: "bytes=10-19" } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(10);
    expect((await t.fetch(`/packages/${shared.id}/files/${file.id}`, { method: "HEAD", token: alice.token })).status).toBe(200);
    expect((await down()) - d0).toBe(a.length + 10);
    const viaLink = await fetch(`${shared.api}/files/${shared.files[1]!.id}`);
    expect((await viaLink.arrayBuffer()).byteLength).toBe(b.length);
    expect((await down()) - d0).toBe(a.length + 10 + b.length);
    const zip = await fetch(`${shared.api}/archive`);
    expect(zip.status).toBe(200);
    const zipBytes = (await zip.arrayBuffer()).byteLength;
    expect(zipBytes).toBe(Number(zip.headers.get("content-length")));
    expect(zipBytes).toBeGreaterThan(a.length + b.length);
    expect((await down()) - d0).toBe(a.length + 10 + b.length + zipBytes);
  });

  it("uploads in flight while a body arrives, and unfinished tus uploads from the database", async () => {
    const pkg = await createPackage(t, alice.token);
    const open0 = value(await scrape(t.url), "speedyfiles_tus_uploads_open");
    const created = await t.fetch(`/packages/${pkg.id}/uploads`, {
      method: "POST",
      token: alice.token,
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "1000", "Upload-Metadata": `filename ${b64("half.bin")}` },
    });
    expect(created.status).toBe(201);
    expect(value(await scrape(t.url), "speedyfiles_tus_uploads_open") - open0).toBe(1);

    // A multipart upload whose client sends half its body and waits.
    const m = rawMultipart('filename="slow.bin"', Buffer.alloc(200_000, 1));
    const req = http.request(`${t.api}/packages/${pkg.id}/files`, {
      method: "POST",
      headers: { Authorization: `Bearer ${alice.token}`, "Content-Type": m.contentType, "Content-Length": String(m.body.length) },
    });
    req.on("error", () => undefined);
    req.write(m.body.subarray(0, 100_000));
    try {
      await until(async () => value(await scrape(t.url), "speedyfiles_uploads_in_flight") === 1, 5000, "the upload in flight");
    } finally {
      req.destroy();
    }
    await until(async () => value(await scrape(t.url), "speedyfiles_uploads_in_flight") === 0, 5000, "the upload no longer in flight");
  });

  it("queued mail and pending webhook deliveries show in the queues' depth and age", async () => {
    const hook = await t.fetch("/webhooks", { method: "POST", token: alice.token, json: { url: "http://127.0.0.1:9/hook", events: ["package.created", "package.finalized"] } });
    expect(hook.status).toBe(201);
    const s0 = await scrape(t.url);
    await shareFiles(t, alice.token, [["q.txt", "queued"]]);
    t.clock.advance(90_000);
    const s1 = await scrape(t.url);
    expect(value(s1, "speedyfiles_mail_queue_depth") - value(s0, "speedyfiles_mail_queue_depth")).toBe(1);
    expect(value(s1, "speedyfiles_webhook_queue_depth") - value(s0, "speedyfiles_webhook_queue_depth")).toBe(2);
    expect(value(s1, "speedyfiles_mail_queue_oldest_seconds")).toBeGreaterThanOrEqual(90);
    expect(value(s1, "speedyfiles_webhook_queue_oldest_seconds")).toBeGreaterThanOrEqual(90);
  });

  it("counts the sweeper's passes", async () => {
    const runs = async () => value(await scrape(t.url), "speedyfiles_sweeper_runs_total", { result: "ok" });
    const r0 = await runs();
    await sweepOnce(t.running.services);
    const s = await scrape(t.url);
    expect(value(s, "speedyfiles_sweeper_runs_total", { result: "ok" }) - r0).toBe(1);
    expect(value(s, "speedyfiles_sweeper_runs_total", { result: "failed" })).toBe(0);
    expect(Math.abs(value(s, "speedyfiles_sweeper_last_run_timestamp_seconds") - Date.now() / 1000)).toBeLessThan(60);
    expect(value(s, "speedyfiles_sweeper_last_run_duration_seconds")).toBeGreaterThan(0);
  });

  it("no label holds a path, a link secret or a token, whatever URLs clients try", async () => {
    const shared = await shareFiles(t, alice.token, [["x.txt", "x"]]);
    const urls = [
      `/l/${shared.secret}`,
      `/api/v1/links/${shared.secret}`,
      `/api/v1/links/${shared.secret}/files/${shared.files[0]!.id}`,
      `/l/${crypto.randomBytes(32).toString("base64url")}`,
      `/some/${crypto.randomUUID()}/path?token=${alice.token}`,
      `/api/v1/${alice.token}`,
      "/assets/no-such.js",
      "/api/v1/openapi.json",
      "/login",
      "/%2e%2e/%2e%2e/etc/passwd",
    ];
    for (const u of urls) await (await fetch(`${t.url}${u}`)).arrayBuffer();
    const spec = YAML.parse(await fs.readFile(path.join(ROOT, "openapi.yaml"), "utf8")) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const operationIds = Object.values(spec.paths).flatMap((item) => Object.values(item).flatMap((op) => (op?.operationId ? [op.operationId] : [])));
    const allowed = new Set([...operationIds, "web", "assets", "docs", "metrics", "unknown"]);

    let s = await scrape(t.url);
    await until(async () => {
      s = await scrape(t.url);
      return count(s, H, { operation: "docs" }) >= 1;
    });
    const labels = samples(s).flatMap((x) => Object.entries(x.labels));
    expect(labels.length).toBeGreaterThan(50);
    const operations = new Set(labels.filter(([k]) => k === "operation").map(([, v]) => v));
    expect([...operations].filter((o) => !allowed.has(o))).toEqual([]);
    for (const o of ["web", "docs", "unknown", "getLink", "downloadLinkFile"]) expect(operations.has(o), o).toBe(true);
    expect(labels.filter(([k, v]) => k === "status" && !/^[1-5]xx$/.test(v))).toEqual([]);
    expect(labels.filter(([, v]) => v.includes("/"))).toEqual([]);
    for (const secret of [shared.secret, alice.token, TOKEN, "passwd"]) expect(s.text).not.toContain(secret);
  });

  it("a slow database does not hang the scrape: the previous figures, an error counted, and back once it answers", async () => {
    const { db } = t.running.services;
    const errors = (s: Scrape) => value(s, "speedyfiles_scrape_errors_total", { source: "database" });
    const e0 = errors(await scrape(t.url));
    // SQLite has one connection: a transaction holds it. PostgreSQL: a lock on a table the scrape counts.
    const trx = await db.transaction();
    try {
      if (isPostgres(db)) await trx.raw("lock table uploads in access exclusive mode");
      const started = Date.now();
      const s = await scrape(t.url);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(value(s, "speedyfiles_scrape_database_up")).toBe(0);
      expect(errors(s) - e0).toBe(1);
      // A second scrape waits for the same read, instead of queueing another.
      const again = await scrape(t.url);
      expect(errors(again) - e0).toBe(2);
      expect(value(again, "speedyfiles_uploads_in_flight")).toBe(0);
    } finally {
      await trx.rollback();
    }
    await until(async () => value(await scrape(t.url), "speedyfiles_scrape_database_up") === 1, 5000, "the database figures back");
    expect(log.text.match(/metrics: could not read the queues/g)?.length).toBe(1);
  });

  it("the Grafana dashboard (valid JSON, its data source an input) and the Prometheus examples query only metrics a scrape has", async () => {
    const file = path.join(ROOT, "deploy/grafana/speedyfiles-dashboard.json");
    const dashboard = JSON.parse(await fs.readFile(file, "utf8")) as { __inputs: { name: string; type: string; pluginId: string }[]; panels: unknown[]; templating: unknown };
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" }));
    const exprs: string[] = [];
    const sources: unknown[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          // Panels' queries, and the instance variable's.
          if ((k === "expr" || k === "query" || k === "definition") && typeof x === "string") exprs.push(x);
          else if (k === "datasource") sources.push(x);
          else walk(x);
        }
      }
    };
    walk({ panels: dashboard.panels, templating: dashboard.templating });
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    expect(sources.length).toBeGreaterThan(10);
    // Grafana's own placeholder, replaced by the data source picked at import.
    const input = ["$", "{DS_PROMETHEUS}"].join("");
    for (const src of sources) expect(src).toEqual({ type: "prometheus", uid: input });

    // Traffic, so that the histogram has series.
    expect((await t.fetch("/me", { token: alice.token })).status).toBe(200);
    const s = await scrape(t.url);
    const sampleNames = new Set(s.text.split("\n").flatMap((l) => (l.startsWith("#") || l === "" ? [] : [l.split(/[{ ]/, 1)[0]!])));
    const used = new Set(exprs.flatMap((e) => e.match(/\bspeedyfiles_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThanOrEqual(10);
    expect([...used].filter((n) => !sampleNames.has(n))).toEqual([]);
    // What the dashboard promises to show.
    // The example Prometheus configuration and its alert rules do not drift either.
    const prom = YAML.parse(await fs.readFile(path.join(ROOT, "deploy/prometheus/prometheus.yml"), "utf8")) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path: string; authorization?: { type: string; credentials_file: string } }[];
    };
    expect(prom.rule_files).toEqual(["speedyfiles-alerts.yml"]);
    expect(prom.scrape_configs).toContainEqual(
      expect.objectContaining({ job_name: "speedyfiles", metrics_path: "/metrics", authorization: expect.objectContaining({ type: "Bearer" }) }),
    );
    const rules = YAML.parse(await fs.readFile(path.join(ROOT, "deploy/prometheus/speedyfiles-alerts.yml"), "utf8")) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const alertNames = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => r.expr.match(/\bspeedyfiles_[a-z0-9_]+/g) ?? [])));
    expect(alertNames.size).toBeGreaterThanOrEqual(5);
    expect([...alertNames].filter((n) => !sampleNames.has(n))).toEqual([]);
    for (const name of [
      `${H}_bucket`,
      `${H}_count`,
      "speedyfiles_upload_bytes_total",
      "speedyfiles_download_bytes_total",
      "speedyfiles_uploads_in_flight",
      "speedyfiles_mail_queue_depth",
      "speedyfiles_webhook_queue_depth",
      "speedyfiles_db_pool_connections",
      "speedyfiles_nodejs_eventloop_lag_p99_seconds",
    ]) {
      expect(used.has(name), name).toBe(true);
    }
  });
});
