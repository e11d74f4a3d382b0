import fs from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  expandPaths,
  normaliseBaseUrl,
  SpeedyFilesError,
  ApiError,
  AuthenticationError,
  PermissionError,
  NotFoundError,
  ConflictError,
  GoneError,
  PayloadTooLargeError,
  ValidationError,
  RateLimitError,
} from "../src/index.js";
import { apiErrorFrom, parseRetryAfter, safeUrl } from "../src/errors.js";
import { DEFAULT_RETRY, isIdempotent, retryDelay, shouldRetryStatus } from "../src/retry.js";
import { tmpDir } from "./helpers/tmp.js";

const opts = { retries: 3, baseDelayMs: 100, maxDelayMs: 1000 };

describe("retryDelay", () => {
  it("uses full-jitter-ish bounds: between half and all of base·2^attempt", () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const exp = 100 * 2 ** attempt;
      expect(retryDelay(attempt, opts, null, () => 0)).toBe(exp / 2);
      expect(retryDelay(attempt, opts, null, () => 0.999999)).toBe(exp);
      for (let i = 0; i < 200; i++) {
        const d = retryDelay(attempt, opts);
        expect(d).toBeGreaterThanOrEqual(exp / 2);
        expect(d).toBeLessThanOrEqual(exp);
      }
    }
  });

  it("actually jitters", () => {
    const seen = new Set(Array.from({ length: 50 }, () => retryDelay(2, opts)));
    expect(seen.size).toBeGreaterThan(5);
  });

  it("caps the backoff at maxDelayMs", () => {
    expect(retryDelay(10, opts, null, () => 0.999999)).toBe(1000);
    expect(retryDelay(30, opts, undefined, () => 0)).toBe(500);
    for (let i = 0; i < 50; i++) expect(retryDelay(20, opts)).toBeLessThanOrEqual(1000);
  });

  it("honours Retry-After in seconds, capped at maxDelayMs, ignoring jitter", () => {
    expect(retryDelay(0, opts, "0", () => 0.5)).toBe(0);
    expect(retryDelay(0, { ...opts, maxDelayMs: 5000 }, "2", () => 0.5)).toBe(2000);
    expect(retryDelay(0, opts, "120")).toBe(1000);
    const inTwo = new Date(Date.now() + 2500).toUTCString();
    const d = retryDelay(0, { ...opts, maxDelayMs: 10_000 }, inTwo);
    expect(d).toBeGreaterThanOrEqual(1000);
    expect(d).toBeLessThanOrEqual(3000);
  });

  it("falls back to backoff for a junk Retry-After", () => {
    expect(retryDelay(0, opts, "soon", () => 0)).toBe(50);
  });

  it("has sane defaults", () => {
    expect(DEFAULT_RETRY).toEqual({ retries: 2, baseDelayMs: 300, maxDelayMs: 10_000 });
  });
});

describe("parseRetryAfter", () => {
  it("reads delta-seconds", () => {
    expect(parseRetryAfter("1")).toBe(1);
    expect(parseRetryAfter(" 30 ")).toBe(30);
    expect(parseRetryAfter("0")).toBe(0);
  });
  it("reads an HTTP date relative to now, never negative", () => {
    const v = parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())!;
    expect(v).toBeGreaterThanOrEqual(9);
    expect(v).toBeLessThanOrEqual(11);
    expect(parseRetryAfter(new Date(Date.now() - 60_000).toUTCString())).toBe(0);
  });
  it("is undefined for missing or junk values", () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter("")).toBeUndefined();
    expect(parseRetryAfter("later")).toBeUndefined();
    expect(parseRetryAfter("-5")).toBeUndefined();
    expect(parseRetryAfter("1.5")).toBeUndefined();
  });
});

describe("retry policy", () => {
  it("retries only idempotent methods", () => {
    for (const m of ["GET", "get", "HEAD", "PUT", "DELETE", "OPTIONS"]) expect(isIdempotent(m)).toBe(true);
    for (const m of ["POST", "PATCH", "post"]) expect(isIdempotent(m)).toBe(false);
  });
  it("retries only 429 and 502-504", () => {
    for (const s of [429, 502, 503, 504]) expect(shouldRetryStatus(s)).toBe(true);
    for (const s of [200, 400, 401, 404, 409, 413, 422, 500, 501, 505]) expect(shouldRetryStatus(s)).toBe(false);
  });
});

describe("normaliseBaseUrl", () => {
  it.each([
    ["https://files.example.com", "https://files.example.com"],
    ["https://files.example.com/", "https://files.example.com"],
    ["https://files.example.com///", "https://files.example.com"],
    ["https://files.example.com/api/v1", "https://files.example.com"],
    ["https://files.example.com/api/v1/", "https://files.example.com"],
    ["  http://127.0.0.1:8080/api/v1  ", "http://127.0.0.1:8080"],
    ["https://example.com/sf", "https://example.com/sf"],
    ["https://example.com/sf/api/v1", "https://example.com/sf"],
  ])("%s → %s", (input, out) => {
    expect(normaliseBaseUrl(input)).toBe(out);
  });
});

describe("safeUrl", () => {
  it("drops query strings, credentials and link secrets", () => {
    expect(safeUrl("https://u:p@x.com/api/v1/me?token=sf_abc")).toBe("https://x.com/api/v1/me");
    expect(safeUrl("https://x.com/l/SECRETSECRET")).toBe("https://x.com/l/[redacted]");
    expect(safeUrl("not a url")).toBe("not a url");
  });
});

describe("apiErrorFrom", () => {
  const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n.toLowerCase()] ?? null });
  it.each([
    [401, AuthenticationError, "unauthorized"],
    [403, PermissionError, "forbidden"],
    [404, NotFoundError, "not_found"],
    [409, ConflictError, "conflict"],
    [410, GoneError, "gone"],
    [413, PayloadTooLargeError, "payload_too_large"],
    [422, ValidationError, "validation"],
    [429, RateLimitError, "rate_limited"],
    [500, ApiError, "server"],
    [503, ApiError, "server"],
    [418, ApiError, "http"],
  ] as const)("%i → %o with code %s", (status, Cls, code) => {
    const e = apiErrorFrom(
      status,
      { detail: "Nope", errors: [{ path: "/body/title", message: "bad" }] },
      {
        method: "post",
        url: "http://h/api/v1/packages?x=1",
        headers: headers({ "x-request-id": "rid-1", "retry-after": "7" }),
      },
    );
    expect(e).toBeInstanceOf(Cls);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toBeInstanceOf(SpeedyFilesError);
    expect(e).toBeInstanceOf(Error);
    expect(e.status).toBe(status);
    expect(e.code).toBe(code);
    expect(e.detail).toBe("Nope");
    expect(e.errors).toEqual([{ path: "/body/title", message: "bad" }]);
    expect(e.method).toBe("POST");
    expect(e.url).toBe("http://h/api/v1/packages");
    expect(e.requestId).toBe("rid-1");
    expect(e.name).toBe(Cls.name);
    expect(e.message).toBe(`POST http://h/api/v1/packages → ${status}: Nope`);
    if (e instanceof RateLimitError) expect(e.retryAfter).toBe(7);
  });

  it("copes with a body that is not the error schema", () => {
    const e = apiErrorFrom(502, "<html>bad gateway</html>", { method: "GET", url: "http://h/x", headers: headers({}) });
    expect(e.detail).toBe("HTTP 502");
    expect(e.errors).toEqual([]);
    expect(e.requestId).toBeUndefined();
  });
});

describe("expandPaths", () => {
  it("expands directories with relative names, sorted, hidden files included", async () => {
    const d = await tmpDir();
    await fs.mkdir(path.join(d, "out/b/c"), { recursive: true });
    await fs.writeFile(path.join(d, "out/z.txt"), "z");
    await fs.writeFile(path.join(d, "out/.env"), "hidden");
    await fs.writeFile(path.join(d, "out/b/c/deep.txt"), "deep!");
    await fs.writeFile(path.join(d, "single.bin"), "123");
    const files = await expandPaths([path.join(d, "out"), path.join(d, "single.bin")]);
    expect(files.map((f) => [f.name, f.size])).toEqual([
      ["out/.env", 6],
      ["out/b/c/deep.txt", 5],
      ["out/z.txt", 1],
      ["single.bin", 3],
    ]);
    expect(files[1]!.path).toBe(path.join(d, "out/b/c/deep.txt"));
  });

  it("rejects two inputs that would share a name", async () => {
    const d = await tmpDir();
    await fs.mkdir(path.join(d, "a"));
    await fs.mkdir(path.join(d, "b"));
    await fs.writeFile(path.join(d, "a/report.pdf"), "1");
    await fs.writeFile(path.join(d, "b/report.pdf"), "2");
    const err = await expandPaths([path.join(d, "a/report.pdf"), path.join(d, "b/report.pdf")]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpeedyFilesError);
    expect((err as Error).message).toContain('"report.pdf"');
  });

  it("rejects a directory given twice (same relative names)", async () => {
    const d = await tmpDir();
    await fs.mkdir(path.join(d, "x"));
    await fs.writeFile(path.join(d, "x/f"), "1");
    await expect(expandPaths([path.join(d, "x"), path.join(d, "x") + "/"])).rejects.toThrow(/"x\/f"/);
  });

  it("names a missing input", async () => {
    const d = await tmpDir();
    await expect(expandPaths([path.join(d, "nope")])).rejects.toThrow(/cannot read .*nope: ENOENT/);
  });

  it("returns nothing for an empty directory", async () => {
    const d = await tmpDir();
    expect(await expandPaths([d])).toEqual([]);
  });
});

describe("version", () => {
  it("VERSION (sent in the User-Agent) is package.json's version", async () => {
    const { VERSION, USER_AGENT } = await import("../src/version.js");
    const pkg = JSON.parse(await fs.readFile(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    expect(VERSION).toBe(pkg.version);
    expect(USER_AGENT).toBe(`speedyfiles-sdk/${pkg.version} node/${process.versions.node}`);
  });
});

describe("link passwords", () => {
  it("a password a header cannot carry is a clear SpeedyFilesError before any request", async () => {
    const { getLink, downloadLinkFile } = await import("../src/index.js");
    const link = `http://127.0.0.1:9/l/${"a".repeat(43)}`;
    for (const password of ["pässwörd12€", " padded password "]) {
      await expect(getLink(link, { password })).rejects.toThrow(/printable ASCII/);
      await expect(downloadLinkFile(link, { id: "f" }, "/nonexistent/x", { password })).rejects.toThrow(/printable ASCII/);
    }
  });
});
