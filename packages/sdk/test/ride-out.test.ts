// Deploys do not fail jobs, and reruns are safe: calls ride out a server that refuses connections
// or answers 502–504 for the retry window, and a send with an idempotency key answers the first
// send's package when run again. Against the real server (SQLite and PostgreSQL).
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { AbortError, NetworkError, SpeedyFiles, ValidationError } from "../src/index.js";
import { bytes, tmpDir } from "./helpers/tmp.js";

/** A real proxy in front of `target` that answers the first `fail` requests 503 itself. */
async function flakyProxy(target: string, fail: number) {
  let n = 0;
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (n++ < fail) {
      req.resume();
      res.writeHead(503, { "content-type": "text/html", "retry-after": "0" });
      return res.end("<h1>503 Service Unavailable</h1>");
    }
    const t = new URL(target);
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

describe.each(DATABASES)("riding out an unavailable server (%s)", (kind) => {
  it("a send started while the server is down succeeds once it is up (3 s later, same port)", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-down-"));
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    const shared = { dataDir, ...(pg ? { databaseUrl: pg.url } : {}) };
    const first = await startTestServer(kind, shared);
    const { token } = await first.createUser();
    const port = new URL(first.url).port;
    await first.close();
    let second: TestServer | undefined;
    try {
      const file = path.join(await tmpDir(), "build.zip");
      await fs.writeFile(file, bytes(200_000));
      const sf = new SpeedyFiles({ baseUrl: first.url, token });
      const t0 = performance.now();
      const sending = sf.send({ files: [file], to: "qa@acme.com" });
      await new Promise((r) => setTimeout(r, 3000));
      second = await startTestServer(kind, { ...shared, env: { SF_PORT: port } });
      const r = await sending;
      expect(performance.now() - t0).toBeGreaterThanOrEqual(3000);
      expect(r.package).toMatchObject({ status: "active", file_count: 1 });
      expect(r.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    } finally {
      await second?.close();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe.each(DATABASES)("retry window and idempotent sends (%s)", (kind) => {
  let t: TestServer;
  let dir: string;
  beforeAll(async () => {
    t = await startTestServer(kind);
    dir = await tmpDir();
  });
  afterAll(async () => {
    await t?.close();
  });

  async function file(name: string, size = 50_000): Promise<string> {
    const p = path.join(dir, name);
    await fs.writeFile(p, bytes(size));
    return p;
  }

  it("503 twice, then the server: ridden out (create is keyed, so retried)", async () => {
    const proxy = await flakyProxy(t.url, 2);
    try {
      const { token } = await t.createUser();
      const sf = new SpeedyFiles({ baseUrl: proxy.url, token });
      // (No policy check first: its GET would meet the 503s, and this is about the POST.)
      const r = await sf.send({ files: [await file("a.bin")], to: "qa@acme.com", checkPolicy: false });
      expect(r.package.status).toBe("active");
      expect(proxy.seen.slice(0, 3)).toEqual(["POST /api/v1/packages", "POST /api/v1/packages", "POST /api/v1/packages"]);
      expect((await new SpeedyFiles({ baseUrl: t.url, token }).packages.list()).items).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it("a POST without an Idempotency-Key rides out refused connections (nothing was sent), not a 503", async () => {
    const { token } = await t.createUser();
    // Refused: a port nobody listens on yet, then a proxy on it.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const sf = new SpeedyFiles({ baseUrl: `http://127.0.0.1:${port}`, token });
    const creating = sf.tokens.create("ci");
    await new Promise((r) => setTimeout(r, 1000));
    const proxy = await flakyProxy(t.url, 0);
    const relay = http.createServer((req, res) => {
      const up = http.request(`${proxy.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => (res.writeHead(r.statusCode ?? 502, r.headers), r.pipe(res)));
      req.pipe(up);
    });
    await new Promise<void>((r) => relay.listen(port, "127.0.0.1", r));
    try {
      expect((await creating).token).toMatch(/^sf_/);
    } finally {
      relay.closeAllConnections();
      await new Promise<void>((r) => relay.close(() => r()));
      await proxy.close();
    }
    const flaky = await flakyProxy(t.url, 1);
    try {
      await expect(new SpeedyFiles({ baseUrl: flaky.url, token }).tokens.create("ci2")).rejects.toMatchObject({ status: 503 });
      expect(flaky.seen).toHaveLength(1);
    } finally {
      await flaky.close();
    }
  });

  it("a window that runs out fails with a clear message", async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const sf = new SpeedyFiles({ baseUrl: `http://127.0.0.1:${port}`, token: `sf_${"x".repeat(43)}`, retryWindowMs: 1500 });
    const t0 = performance.now();
    const err = await sf.me().catch((e: unknown) => e);
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).message).toMatch(new RegExp(`^GET /api/v1/me: the server at http://127\\.0\\.0\\.1:${port} stayed unavailable \\(ECONNREFUSED\\) for 2 s$`));
    expect((err as NetworkError).unavailableForMs).toBeGreaterThanOrEqual(1500);
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(4000);
  });

  it("a token provider's token goes on API calls and uploads alike", async () => {
    const { token } = await t.createUser();
    let asked = 0;
    const sf = new SpeedyFiles({ baseUrl: t.url, tokenProvider: { kind: "test", token: async () => (asked++, token) } });
    const r = await sf.send({ files: [await file("via-provider.bin", 70_000)], to: "qa@acme.com" });
    expect(r.package.file_count).toBe(1);
    expect(asked).toBeGreaterThanOrEqual(3); // create, the upload, finalize
  });

  it("the same idempotency key and arguments: the first send's package and link, sent once", async () => {
    const { token } = await t.createUser();
    const sf = new SpeedyFiles({ baseUrl: t.url, token });
    const files = [await file("report.pdf")];
    const first = await sf.send({ files, to: "qa@acme.com", idempotencyKey: "run-42-job-build" });
    const again = await sf.send({ files, to: "qa@acme.com", idempotencyKey: "run-42-job-build" });
    expect(again.package.id).toBe(first.package.id);
    expect(again.magic_link).toBe(first.magic_link);
    expect((await sf.packages.list()).items).toHaveLength(1);
    // Another send under that key: the server refuses it rather than answer the wrong package.
    await expect(sf.send({ files, to: "other@acme.com", idempotencyKey: "run-42-job-build" })).rejects.toBeInstanceOf(ValidationError);
    // Without a key: a second package.
    await sf.send({ files, to: "qa@acme.com" });
    expect((await sf.packages.list()).items).toHaveLength(2);
  });

  it("a keyed send that failed (its draft deleted) runs again into one new package, the same on every later run", async () => {
    const { token } = await t.createUser();
    const sf = new SpeedyFiles({ baseUrl: t.url, token });
    const broken = () =>
      new Readable({
        read() {
          this.destroy(new Error("disk went away"));
        },
      });
    const key = "pipeline-7-job-deploy";
    const name = "artifact.tgz";
    await expect(sf.send({ files: [], sources: [{ name, source: broken() }], to: "qa@acme.com", title: "deploy", idempotencyKey: key })).rejects.toThrow();
    const src = () => Readable.from([bytes(10_000)]);
    const second = await sf.send({ files: [], sources: [{ name, source: src() }], to: "qa@acme.com", title: "deploy", idempotencyKey: key });
    const third = await sf.send({ files: [], sources: [{ name, source: src() }], to: "qa@acme.com", title: "deploy", idempotencyKey: key });
    expect(third.package.id).toBe(second.package.id);
    expect(third.magic_link).toBe(second.magic_link);
    expect((await sf.packages.list()).items.map((p) => p.status)).toEqual(["active"]);
  });

  it("a keyed send cut off with its draft kept is finished by the rerun, files it has not sent again", async () => {
    const { token } = await t.createUser();
    const sf = new SpeedyFiles({ baseUrl: t.url, token });
    const files = [await file("one.bin", 30_000), await file("two.bin", 40_000)];
    const ac = new AbortController();
    const key = "pipeline-8-job-ship";
    const cut = await sf
      .send({
        files,
        to: "qa@acme.com",
        idempotencyKey: key,
        concurrency: 1,
        signal: ac.signal,
        resume: { keepDraft: true },
        onProgress: (p) => p.phase === "done" && ac.abort(),
      })
      .catch((e: unknown) => e);
    expect(cut).toBeInstanceOf(AbortError);
    const draft = await sf.packages.get((cut as AbortError).resumablePackageId!);
    expect(draft).toMatchObject({ status: "draft", file_count: 1 });
    const uploads: string[] = [];
    const r = await sf.send({ files, to: "qa@acme.com", idempotencyKey: key, onProgress: (p) => p.phase === "upload" && !uploads.includes(p.file) && uploads.push(p.file) });
    expect(r.package.id).toBe(draft.id);
    expect(r.package.file_count).toBe(2);
    expect(uploads).toHaveLength(1);
  });
});
