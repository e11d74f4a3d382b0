import fs from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError, ChecksumError, NetworkError, RateLimitError, SpeedyFiles, SpeedyFilesError, TimeoutError, AbortError, UnexpectedResponseError } from "../src/index.js";
import { FAKE_USER, json, readBody, startFaultServer, type FaultServer, type FaultHandler } from "./helpers/fault-server.js";
import { bytes, sha256, tmpDir } from "./helpers/tmp.js";
import { fakePackage } from "@speedyfiles/test-utils/fixtures";

const TOKEN = "sf_SECRETsecretSECRETsecretSECRETsecretSECRET1";
const PKG = "0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55";
const FILE = "1c7f4d2f-3b22-4b8c-8b4a-7c2f6d2f3b22";

let fault: FaultServer | undefined;
afterEach(async () => {
  await fault?.close();
  fault = undefined;
});

async function serve(handler: FaultHandler, opts: ConstructorParameters<typeof SpeedyFiles>[0] = {}) {
  fault = await startFaultServer(handler);
  const sf = new SpeedyFiles({ baseUrl: fault.url, token: TOKEN, retry: { baseDelayMs: 10, maxDelayMs: 50 }, ...opts });
  return { sf, f: fault };
}

function expectNoToken(err: unknown) {
  expect(String((err as Error).message)).not.toContain(TOKEN);
  expect(JSON.stringify(err)).not.toContain(TOKEN);
  expect(String((err as Error).stack)).not.toContain(TOKEN);
}

const package503 = (res: Parameters<FaultHandler>[1]) => json(res, 503, { detail: "Try later" });

describe("retries", () => {
  it("retries a GET on 503 and then succeeds", async () => {
    const { sf, f } = await serve((_req, res, _s, n) => (n < 2 ? package503(res) : json(res, 200, FAKE_USER)));
    const me = await sf.me();
    expect(me.email).toBe("alice@example.com");
    expect(f.requests.map((r) => `${r.method} ${r.url}`)).toEqual(Array(3).fill("GET /api/v1/me"));
    expect(f.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it.each([502, 504])("retries a GET on %i", async (status) => {
    const { sf, f } = await serve((_req, res, _s, n) => (n === 0 ? json(res, status, { detail: "gw" }) : json(res, 200, FAKE_USER)));
    await sf.me();
    expect(f.requests).toHaveLength(2);
  });

  it("retries a DELETE (idempotent) on 503", async () => {
    const { sf, f } = await serve((_req, res, _s, n) => {
      if (n === 0) return package503(res);
      res.writeHead(204).end();
    });
    await sf.packages.delete(PKG);
    expect(f.requests.map((r) => r.method)).toEqual(["DELETE", "DELETE"]);
  });

  it("never retries a POST without an Idempotency-Key, on 503 or on a reset", async () => {
    const { sf, f } = await serve((req, res) => {
      if (req.url === "/api/v1/me/tokens") return package503(res);
      req.socket.destroy();
    });
    const err = await sf.tokens.create("ci").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect((err as ApiError).method).toBe("POST");
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]!.headers["idempotency-key"]).toBeUndefined();

    const err2 = await sf.auth.login("a@b.co", "pw", "x").catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(NetworkError);
    expect(f.requests).toHaveLength(2);
  });

  it("POST /packages and /finalize carry an Idempotency-Key, the same on each retry, and are retried", async () => {
    const DRAFT = fakePackage({ id: PKG, title: "t", ttl_days: 1 });
    const { sf, f } = await serve((req, res, _s, n) => {
      if (n % 2 === 0) return n === 0 ? package503(res) : void req.socket.destroy(); // first attempt of each call fails
      if (req.url === "/api/v1/packages") return json(res, 201, DRAFT);
      return json(res, 200, {
        ...DRAFT,
        status: "active",
        magic_link: `http://x/l/${"a".repeat(43)}`,
        expires_at: "2026-11-28T10:00:00.000Z",
        email_sent: true,
        email_error: null,
      });
    });
    await sf.packages.create({ title: "t", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 });
    await sf.packages.finalize(PKG);
    expect(f.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      "POST /api/v1/packages",
      "POST /api/v1/packages",
      `POST /api/v1/packages/${PKG}/finalize`,
      `POST /api/v1/packages/${PKG}/finalize`,
    ]);
    const keys = f.requests.map((r) => r.headers["idempotency-key"]);
    for (const k of keys) expect(k).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(keys[0]).toBe(keys[1]);
    expect(keys[2]).toBe(keys[3]);
    expect(keys[0]).not.toBe(keys[2]);
    // A caller's own key is used as is.
    await sf.packages.finalize(PKG, { idempotencyKey: "my-key-1" });
    expect(f.requests.at(-1)!.headers["idempotency-key"]).toBe("my-key-1");
  });

  it("does not retry other errors (500, 404)", async () => {
    const { sf, f } = await serve((req, res) => json(res, req.url === "/api/v1/me" ? 500 : 404, { detail: "x" }));
    await expect(sf.me()).rejects.toMatchObject({ status: 500, code: "server" });
    await expect(sf.packages.get(PKG)).rejects.toMatchObject({ status: 404, code: "not_found" });
    expect(f.requests).toHaveLength(2);
  });

  it("honours Retry-After on 429", async () => {
    const { sf, f } = await serve((_req, res, _s, n) => (n === 0 ? json(res, 429, { detail: "Slow down" }, { "retry-after": "1" }) : json(res, 200, FAKE_USER)), {
      retry: { baseDelayMs: 1, maxDelayMs: 5000 },
    });
    await sf.me();
    expect(f.requests).toHaveLength(2);
    // Backoff alone would wait ~1 ms; the server asked for a second.
    expect(f.requests[1]!.at - f.requests[0]!.at).toBeGreaterThanOrEqual(995);
  });

  it("gives up with a RateLimitError carrying retryAfter when 429 persists", async () => {
    const { sf, f } = await serve((_req, res) => json(res, 429, { detail: "Slow down" }, { "retry-after": "0" }), { retry: { retries: 1 } });
    const err = await sf.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfter).toBe(0);
    expect((err as RateLimitError).code).toBe("rate_limited");
    expect(f.requests).toHaveLength(2);
  });

  it("is bounded: 1 + retries attempts, then the ApiError 503", async () => {
    // Counted retries alone (no retry window, which would keep trying a 503 for 30 s).
    const { sf, f } = await serve((_req, res) => package503(res), { retry: { retries: 3, baseDelayMs: 5, maxDelayMs: 20 }, retryWindowMs: 0 });
    const err = await sf.packages.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, code: "server", detail: "Try later", method: "GET", requestId: "req-fault-1" });
    expect((err as ApiError).url).toBe(`${f.url}/api/v1/packages`);
    expect(f.requests).toHaveLength(4);
    expectNoToken(err);
  });

  it("retries: 0 turns retries off", async () => {
    const { sf, f } = await serve((_req, res) => package503(res), { retry: { retries: 0 } });
    await expect(sf.me()).rejects.toMatchObject({ status: 503 });
    expect(f.requests).toHaveLength(1);
  });

  it("a connection reset becomes a NetworkError with the cause, after the retries", async () => {
    const { sf, f } = await serve(
      (req) => {
        req.socket.destroy();
      },
      { retryWindowMs: 0 },
    );
    const err = await sf.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toBeInstanceOf(SpeedyFilesError);
    expect((err as Error).cause).toBeDefined();
    expect((err as Error).message).toMatch(/^GET \/api\/v1\/me: /);
    expect(f.requests).toHaveLength(3);
    expectNoToken(err);
  });

  it("a refused connection becomes a NetworkError", async () => {
    const { f } = await serve(() => undefined);
    const url = f.url;
    await f.close();
    fault = undefined;
    const sf = new SpeedyFiles({ baseUrl: url, token: TOKEN, retry: { retries: 1, baseDelayMs: 1 }, retryWindowMs: 0 });
    const err = await sf.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(JSON.stringify((err as Error).cause ?? {}) + String((err as Error).message)).toMatch(/ECONNREFUSED/);
  });

  it("no answer in timeoutMs → TimeoutError with the cause; the deadline covers the retries too", async () => {
    const { sf, f } = await serve(() => undefined, { timeoutMs: 150, retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    const t0 = performance.now();
    const err = await sf.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).cause).toBeDefined();
    // The one deadline was spent on the first attempt: no second one (a retry must not extend it).
    expect(f.requests).toHaveLength(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it("timeoutMs is for the headers: a slow but flowing body is not cut off", async () => {
    const { sf } = await serve(
      (_req, res) => {
        const text = JSON.stringify(FAKE_USER);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.write(text.slice(0, 10));
        setTimeout(() => res.end(text.slice(10)), 400);
      },
      { timeoutMs: 150, retry: { retries: 0 } },
    );
    expect((await sf.me()).email).toBe("alice@example.com");
  });

  it("a caller's abort while waiting to retry stops at once", async () => {
    const { sf, f } = await serve((_req, res) => json(res, 503, { detail: "x" }, { "retry-after": "5" }), { retry: { maxDelayMs: 10_000 } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = performance.now();
    await expect(sf.api.GET("/me", { signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(f.requests).toHaveLength(1);
  });
});

describe("upload checksum", () => {
  it("a wrong sha256 in the server's answer → ChecksumError, and the SDK deletes that file", async () => {
    const data = bytes(300_000);
    const { sf, f } = await serve(async (req, res, seen) => {
      if (req.method === "POST" && req.url === `/api/v1/packages/${PKG}/files`) {
        await readBody(req, seen);
        return json(res, 201, {
          id: FILE,
          name: "a.bin",
          size: data.length,
          sha256: "0".repeat(64),
          content_type: "application/octet-stream",
          created_at: "2026-11-27T10:00:00.000Z",
        });
      }
      if (req.method === "DELETE" && req.url === `/api/v1/packages/${PKG}/files/${FILE}`) return void res.writeHead(204).end();
      json(res, 404, { detail: "no" });
    });
    const err = await sf.uploadFile(PKG, data, { name: "a.bin" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as ChecksumError).expected).toBe(sha256(data));
    expect((err as ChecksumError).actual).toBe("0".repeat(64));
    expect(f.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`POST /api/v1/packages/${PKG}/files`, `DELETE /api/v1/packages/${PKG}/files/${FILE}`]);
    // The whole multipart body went out: the file plus its framing.
    expect(f.requests[0]!.bodyBytes).toBeGreaterThan(data.length);
    expect(f.requests[0]!.headers["content-type"]).toMatch(/^multipart\/form-data; boundary=/);
    expectNoToken(err);
  });

  it("a download whose bytes do not hash to the expected sha256 → ChecksumError, nothing left behind", async () => {
    const data = bytes(10_000);
    const { sf } = await serve((_req, res) => {
      res.writeHead(200, { "content-length": data.length, etag: `"${"1".repeat(64)}"` });
      res.end(data);
    });
    const d = await tmpDir();
    const dest = path.join(d, "x.bin");
    const err = await sf.downloadFile(PKG, FILE, dest, { sha256: "1".repeat(64) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect(await fs.readdir(d)).toEqual([]);
  });

  it("a reset during an upload → NetworkError; abort → AbortError", async () => {
    const { sf } = await serve((req) => {
      req.once("data", () => req.socket.destroy());
    });
    await expect(sf.uploadFile(PKG, bytes(2_000_000), { name: "a" })).rejects.toBeInstanceOf(NetworkError);
    const ac = new AbortController();
    ac.abort();
    await expect(sf.uploadFile(PKG, bytes(1000), { name: "a", signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
  });
});

describe("send() that cannot clean up", () => {
  const DRAFT = fakePackage({ id: PKG });
  // Before GET /me/policy existed: send() goes on without checking the policy first.
  const olderServer = (res: Parameters<FaultHandler>[1]) => json(res, 404, { detail: "Not found", code: "not_found" });

  it("an upload fails and so does deleting the draft: the error names the orphaned package", async () => {
    const { sf, f } = await serve((req, res) => {
      if (req.url === "/api/v1/me/policy") return olderServer(res);
      if (req.method === "POST" && req.url === "/api/v1/packages") return json(res, 201, DRAFT);
      // The server "dies": every later request is cut off.
      req.socket.destroy();
    });
    const err = await sf.send({ files: [], sources: [{ name: "a.bin", source: bytes(100_000) }], to: "a@b.co" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as SpeedyFilesError).orphanedPackageId).toBe(PKG);
    expect((err as SpeedyFilesError).cleanupError).toBeInstanceOf(NetworkError);
    expect(f.requests.filter((r) => r.method === "DELETE").length).toBeGreaterThanOrEqual(1);
  });

  it("when the draft is deleted, no orphan is reported", async () => {
    const { sf } = await serve((req, res) => {
      if (req.url === "/api/v1/me/policy") return olderServer(res);
      if (req.method === "POST" && req.url === "/api/v1/packages") return json(res, 201, DRAFT);
      if (req.method === "DELETE") return void res.writeHead(204).end();
      req.socket.destroy();
    });
    const err = await sf.send({ files: [], sources: [{ name: "a.bin", source: bytes(100_000) }], to: "a@b.co" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as SpeedyFilesError).orphanedPackageId).toBeUndefined();
  });
});

describe("answers that are not from a SpeedyFiles server", () => {
  const html = (status: number) => (_req: unknown, res: Parameters<FaultHandler>[1]) => {
    res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>Sign in to the Wi-Fi</title>");
  };

  it("an HTML page where JSON was due: UnexpectedResponseError naming the type and URL, never a SyntaxError", async () => {
    const { sf, f } = await serve(html(200));
    const err = await sf.me().catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(SyntaxError);
    expect(err).toBeInstanceOf(UnexpectedResponseError);
    expect(err).toBeInstanceOf(SpeedyFilesError);
    expect((err as Error).message).toBe(`not a SpeedyFiles server? got text/html from ${f.url}/api/v1/me (HTTP 200)`);
    expect(err).toMatchObject({ status: 200, contentType: "text/html; charset=utf-8", method: "GET", url: `${f.url}/api/v1/me` });
  });

  it("an HTML 404 (a wrong URL) too, and the low-level client throws it instead of a SyntaxError", async () => {
    const { sf } = await serve(html(404));
    await expect(sf.packages.get(PKG)).rejects.toBeInstanceOf(UnexpectedResponseError);
    await expect(sf.api.GET("/me")).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it("JSON that does not parse", async () => {
    const { sf } = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"id": ');
    });
    const err = await sf.me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnexpectedResponseError);
    expect((err as Error).message).toMatch(/^not a SpeedyFiles server\? got JSON that does not parse/);
  });

  it("an upload or a download answered with a page: UnexpectedResponseError, and nothing saved", async () => {
    const { sf } = await serve(async (req, res) => {
      await readBody(req);
      html(200)(req, res);
    });
    await expect(sf.uploadFile(PKG, Buffer.from("x"), { name: "x" })).rejects.toBeInstanceOf(UnexpectedResponseError);
    const dir = await tmpDir();
    await expect(sf.downloadFile(PKG, FILE, path.join(dir, "x.bin"), { sha256: "a".repeat(64) })).rejects.toBeInstanceOf(UnexpectedResponseError);
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it("an error body's `code` becomes err.code; without one the code comes from the status", async () => {
    const { sf } = await serve((req, res) =>
      req.url === "/api/v1/me" ? json(res, 409, { detail: "Package is not a draft", code: "package_not_draft" }) : json(res, 409, { detail: "x" }),
    );
    await expect(sf.me()).rejects.toMatchObject({ status: 409, code: "package_not_draft", detail: "Package is not a draft" });
    await expect(sf.packages.get(PKG)).rejects.toMatchObject({ status: 409, code: "conflict" });
  });
});
