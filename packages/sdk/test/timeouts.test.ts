// No request may wait forever. API calls have one deadline across their
// retries (`timeoutMs`, per client or per call); uploads and downloads fail when no byte moves for
// `stallTimeoutMs`.
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AbortError, SpeedyFiles, TimeoutError } from "../src/index.js";
import { FAKE_USER, json, readBody, startFaultServer, type FaultHandler, type FaultServer } from "./helpers/fault-server.js";
import { bytes, sha256, tmpDir } from "./helpers/tmp.js";

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
  return { sf: new SpeedyFiles({ baseUrl: fault.url, token: TOKEN, ...opts }), f: fault };
}

const never = () => undefined;

async function timed<T>(p: Promise<T>): Promise<{ err: unknown; ms: number }> {
  const t0 = performance.now();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, ms: performance.now() - t0 };
}

describe("API calls: one deadline across retries", () => {
  it("a server that never answers: TimeoutError after timeoutMs, not timeoutMs per attempt", async () => {
    const { sf, f } = await serve(never, { timeoutMs: 400, retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 1 } });
    const { err, ms } = await timed(sf.me());
    expect(err).toBeInstanceOf(TimeoutError);
    expect(ms).toBeGreaterThanOrEqual(390);
    expect(ms).toBeLessThan(1500); // 4 attempts × 400 ms would be 1600
    expect((err as TimeoutError).url).toBe(`${f.url}/api/v1/me`);
    expect((err as TimeoutError).timeoutMs).toBe(400);
    expect((err as Error).message).toMatch(/no answer from .*\/api\/v1\/me within 0\.4 s/);
  });

  it("retries that would outlive the deadline are not started: the last real error is thrown", async () => {
    const { sf, f } = await serve((_req, res) => json(res, 503, { detail: "busy" }, { "retry-after": "5" }), {
      timeoutMs: 1000,
      retry: { retries: 3, maxDelayMs: 10_000 },
      // Counted retries alone: within a retry window a 503 is waited out whatever the deadline.
      retryWindowMs: 0,
    });
    const { err, ms } = await timed(sf.me());
    expect(err).toMatchObject({ status: 503, detail: "busy" });
    expect(ms).toBeLessThan(900);
    expect(f.requests).toHaveLength(1);
  });

  it("timeoutMs per call overrides the client's; a per-call signal aborts", async () => {
    const { sf } = await serve(never, { timeoutMs: 60_000, retry: { retries: 0 } });
    const { err, ms } = await timed(sf.me({ timeoutMs: 200 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(ms).toBeLessThan(2000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const aborted = await timed(sf.packages.get(PKG, { signal: ac.signal }));
    expect(aborted.err).toBeInstanceOf(AbortError);
    expect(aborted.ms).toBeLessThan(2000);
  });

  it("a JSON answer whose body stops flowing fails after stallTimeoutMs", async () => {
    const { sf } = await serve(
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": "500" });
        res.write('{"id":');
      },
      { timeoutMs: 5000, stallTimeoutMs: 300, retry: { retries: 0 } },
    );
    const { err, ms } = await timed(sf.me());
    expect(err).toBeInstanceOf(TimeoutError);
    expect(ms).toBeLessThan(2500);
  });

  it("defaults: 30 s per API call, 60 s of no progress for transfers", () => {
    const sf = new SpeedyFiles({ baseUrl: "http://127.0.0.1:9" });
    expect(sf.timeouts).toEqual({ timeoutMs: 30_000, stallTimeoutMs: 60_000 });
  });
});

describe("transfers: a stall timeout, not a deadline", () => {
  it("an upload the server never reads or answers fails after stallTimeoutMs", async () => {
    const { sf } = await serve(never, { stallTimeoutMs: 400 });
    const { err, ms } = await timed(sf.uploadFile(PKG, bytes(20 * 1024 * 1024), { name: "big.bin" }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/upload of big\.bin .*no progress for 0\.4 s/);
    expect(ms).toBeLessThan(5000);
  });

  it("an upload fully sent but never answered fails after stallTimeoutMs", async () => {
    const { sf } = await serve(async (req, _res, seen) => void (await readBody(req, seen)), { stallTimeoutMs: 400 });
    const { err } = await timed(sf.uploadFile(PKG, Buffer.from("small"), { name: "small.txt" }));
    expect(err).toBeInstanceOf(TimeoutError);
  });

  it("a slow upload that keeps moving is not cut off", async () => {
    // The server reads 1 MiB every 50 ms: well over 2 s in all, longer than the 1.5 s stall
    // timeout, and never a pause near it. (With 100 ms ticks against 600 ms, a loaded CI machine
    // once paused this process long enough to fire the watchdog.) 56 MiB stays under the 64 MiB
    // resumable threshold, so this is one multipart request.
    const data = bytes(56 * 1024 * 1024);
    const { sf } = await serve(
      async (req, res) => {
        let n = 0;
        let window = 0;
        const tick = setInterval(() => {
          window = 0;
          req.resume();
        }, 50);
        req.on("data", (c: Buffer) => {
          n += c.length;
          window += c.length;
          if (window >= 1024 * 1024) req.pause();
        });
        await new Promise((r) => req.on("end", r));
        clearInterval(tick);
        expect(n).toBeGreaterThan(data.length);
        json(res, 201, { id: FILE, name: "slow.bin", size: data.length, sha256: sha256(data), content_type: "application/octet-stream", created_at: "2026-11-27T10:00:00.000Z" });
      },
      { stallTimeoutMs: 1500 },
    );
    const t0 = performance.now();
    const up = await sf.uploadFile(PKG, data, { name: "slow.bin" });
    expect(up.size).toBe(data.length);
    expect(performance.now() - t0).toBeGreaterThan(1500);
  });

  it("a download whose body stops flowing fails after stallTimeoutMs and keeps the .part", async () => {
    const { sf } = await serve(
      (_req, res) => {
        res.writeHead(200, { "content-length": String(1_000_000), "content-type": "application/octet-stream", "content-disposition": "attachment" });
        res.write(Buffer.alloc(100_000, 1));
      },
      { stallTimeoutMs: 400 },
    );
    const dir = await tmpDir();
    const { err, ms } = await timed(sf.downloadFile(PKG, FILE, path.join(dir, "x.bin"), { sha256: "a".repeat(64) }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/download of x\.bin .*no progress for 0\.4 s/);
    expect(ms).toBeLessThan(5000);
  });

  it("a download that never gets headers fails after stallTimeoutMs; per-call stallTimeoutMs wins", async () => {
    const { sf } = await serve(never, { stallTimeoutMs: 60_000 });
    const dir = await tmpDir();
    const { err, ms } = await timed(sf.downloadFile(PKG, FILE, path.join(dir, "y.bin"), { sha256: "a".repeat(64), stallTimeoutMs: 300 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(ms).toBeLessThan(3000);
  });

  it("me() against the same silent server also ends (sanity for the fault server)", async () => {
    const { sf } = await serve((_req, res) => json(res, 200, FAKE_USER), { timeoutMs: 1000 });
    expect((await sf.me()).email).toBe(FAKE_USER.email);
  });
});
