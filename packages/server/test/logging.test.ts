import { afterAll, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectUnauthorized, UUID } from "@speedyfiles/test-utils/expect";
import { redactPath } from "../src/http/logging.js";

/** Everything the server logs, as text and as parsed JSON lines. */
class LogCapture {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
  lines(): Record<string, unknown>[] {
    return this.text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  /** The access-log line of one request, waiting briefly: it is written when the response finishes. */
  async lineFor(requestId: string): Promise<Record<string, unknown>> {
    for (let i = 0; i < 50; i++) {
      const line = this.lines().find((l) => (l.req as { id?: string } | undefined)?.id === requestId && "res" in l);
      if (line) return line;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no log line for request ${requestId}`);
  }
}

describe.each(DATABASES)("what the server logs (%s)", (kind) => {
  let t: TestServer;
  let log: LogCapture;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;

  beforeAll(async () => {
    log = new LogCapture();
    t = await startTestServer(kind, { logStream: log });
    alice = await t.createUser({ password: "Pa55-word-that-must-stay-secret" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("logs every request with its id, but never a token or a password", async () => {
    const secrets: string[] = [alice.password, alice.token];
    const requestIds: [string, number][] = [];
    const track = (res: Response) => {
      const id = res.headers.get("x-request-id");
      expect(id, `X-Request-Id on ${res.url}`).toBeTruthy();
      requestIds.push([id!, res.status]);
      return res;
    };

    // A login, a failed login and a rejected one, each carrying a password.
    const loginRes = track(await t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: alice.password, name: "laptop" } }));
    expect(loginRes.status).toBe(201);
    const { token: sessionToken } = await loginRes.json();
    secrets.push(sessionToken);
    const wrongPassword = "Wr0ng-but-still-private";
    secrets.push(wrongPassword);
    track(await t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: wrongPassword, name: "x" } }));
    track(await t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: alice.password, name: "x", extra: 1 } }));

    // Authenticated requests, one of which returns a new raw token.
    track(await t.fetch("/me", { token: sessionToken }));
    const created = await track(await t.fetch("/me/tokens", { method: "POST", token: sessionToken, json: { name: "ci" } })).json();
    secrets.push(created.token);
    track(await t.fetch("/me/tokens", { token: created.token }));
    track(await t.fetch(`/me/tokens/${created.id}`, { method: "DELETE", token: sessionToken }));
    // Rejected credentials: a revoked token, and a token put in the query string.
    await expectUnauthorized(track(await t.fetch("/me", { token: created.token })));
    await expectUnauthorized(track(await t.fetch(`/me?token=${sessionToken}`)), "token_missing");
    // A password change through the admin API.
    const admin = await t.createUser({ role: "admin" });
    secrets.push(admin.token);
    const newPassword = "N3w-passphrase-nobody-sees";
    secrets.push(newPassword);
    const patch = track(await t.fetch(`/admin/users/${alice.user.id}`, { method: "PATCH", token: admin.token, json: { password: newPassword } }));
    expect(patch.status).toBe(200);

    for (const [id, status] of requestIds) {
      const line = await log.lineFor(id);
      expect(line).toMatchObject({ req: { id, method: expect.any(String), url: expect.any(String) }, res: { statusCode: status } });
    }
    expect(new Set(requestIds.map(([id]) => id)).size).toBe(requestIds.length);

    const text = log.text;
    for (const secret of secrets) {
      expect(text.includes(secret), `the log contains ${secret.slice(0, 6)}…`).toBe(false);
    }
    for (const token of secrets.filter((s) => s.startsWith("sf_"))) {
      expect(text.includes(token.slice(11)), `the log contains the secret part of ${token.slice(0, 11)}`).toBe(false);
    }
    expect(text).not.toMatch(/authorization|bearer/i);
  });

  it("never logs a token or link secret put in the URL: any query parameter, any path segment, any encoding", async () => {
    const token = alice.token;
    const linkSecret = crypto.randomBytes(32).toString("base64url");
    const encodeAll = (v: string) => [...Buffer.from(v)].map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("");
    // Values that are not shaped like a secret, but named like one.
    const named = {
      password: "hunter2-plain",
      apiKey: "k-9f8e7d",
      client_secret: "cs-1234",
      sig: "a1b2c3",
      code: "4711-0815",
      "X-Amz-Signature": "deadbeef42",
      auth: "basic-ish",
      session_id: "sess-77",
      refreshToken: "rt-short",
    };
    const urls = [
      `/me?bearer=${token}`,
      `/me?api_key=${token}`,
      `/me?anything=${token}`,
      `/me?page=2&x=${encodeURIComponent(`Bearer ${token}`)}`,
      `/me?x=${encodeAll(token)}`,
      `/me?${token}`,
      `/me?next=${encodeURIComponent(`/l/${linkSecret}`)}`,
      `/me?s=${linkSecret}`,
      `/packages/${token}`,
      `/packages/${encodeAll(linkSecret)}/files`,
      `/no/such/route/${linkSecret}/x`,
      `/l/${linkSecret}`,
      ...Object.entries(named).map(([k, v]) => `/me?${encodeURIComponent(k)}=${encodeURIComponent(v)}&page=2`),
    ];
    for (const [i, url] of urls.entries()) {
      const id = `redact-${kind}-${i}`;
      await t.fetch(url, { headers: { "X-Request-Id": id } });
      const line = await log.lineFor(id);
      const logged = (line.req as { url: string }).url;
      expect(logged, url).toContain("[redacted]");
    }
    const text = log.text;
    const secrets = [token, token.slice(3), linkSecret, encodeAll(token), encodeAll(linkSecret), ...Object.values(named)];
    for (const secret of secrets) {
      expect(text.includes(secret), `the log contains ${secret.slice(0, 8)}…`).toBe(false);
    }
    // Ordinary parameters stay readable: an operator still sees what was asked.
    await t.fetch("/admin/users?q=links&page=2", { token, headers: { "X-Request-Id": `plain-${kind}` } });
    expect(((await log.lineFor(`plain-${kind}`)).req as { url: string }).url).toBe("/api/v1/admin/users?q=links&page=2");
  });

  it("keeps a sane incoming X-Request-Id and replaces one that is not", async () => {
    const mine = await t.fetch("/me", { token: alice.token, headers: { "X-Request-Id": "lb-trace.42_abc-DEF" } });
    expect(mine.headers.get("x-request-id")).toBe("lb-trace.42_abc-DEF");
    expect(await log.lineFor("lb-trace.42_abc-DEF")).toMatchObject({ res: { statusCode: 200 } });

    const forged = '"}, "level": 60, "msg": "forged';
    const theirs = await t.fetch("/me", { token: alice.token, headers: { "X-Request-Id": forged } });
    const id = theirs.headers.get("x-request-id")!;
    expect(id).toMatch(UUID);
    expect(await log.lineFor(id)).toMatchObject({ res: { statusCode: 200 } });
    expect(log.text).not.toContain("forged");
  });
});

describe("redactPath", () => {
  const token = `sf_${"A".repeat(20)}_${"b".repeat(22)}`;
  const secret = `${"x".repeat(21)}-${"Y".repeat(21)}`;
  it.each([
    [`/api/v1/me?bearer=${token}`, "/api/v1/me?bearer=[redacted]"],
    [`/api/v1/me?api_key=${token}&page=2`, "/api/v1/me?api_key=[redacted]&page=2"],
    [`/api/v1/me?whatever=${token}`, "/api/v1/me?whatever=[redacted]"],
    [`/api/v1/me?q=${secret}`, "/api/v1/me?q=[redacted]"],
    [`/api/v1/me?${token}`, "/api/v1/me?[redacted]"],
    [`/api/v1/packages/${token}/files`, "/api/v1/packages/[redacted]/files"],
    [`/anything/${secret}`, "/anything/[redacted]"],
    ["/api/v1/me?password=hunter2&page=2", "/api/v1/me?password=[redacted]&page=2"],
    [
      "/x?clientSecret=1&apiKey=2&sig=3&code=4&X-Amz-Signature=5&auth=6&pass=7",
      "/x?clientSecret=[redacted]&apiKey=[redacted]&sig=[redacted]&code=[redacted]&X-Amz-Signature=[redacted]&auth=[redacted]&pass=[redacted]",
    ],
    [
      "/x?access_token=a&id_token=b&refresh-token=c&authorization=d&session=e",
      "/x?access_token=[redacted]&id_token=[redacted]&refresh-token=[redacted]&authorization=[redacted]&session=[redacted]",
    ],
  ])("redacts %s", (input, expected) => {
    expect(redactPath(input)).toBe(expected);
  });

  it.each([
    "/api/v1/packages/3f0c1c36-8a55-4a7b-9a39-0b6f5c1e2a11/files/0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55",
    "/api/v1/admin/users?q=links&page=2&per_page=50",
    "/api/v1/packages?status=active&keyword=design&author=me&monkey=1",
  ])("leaves %s as it is", (input) => {
    expect(redactPath(input)).toBe(input);
  });
});

describe.each(DATABASES)("diagnostics lines (%s)", (kind) => {
  it("logs memory, open files, event-loop delay and the database pool every SF_DIAGNOSTICS_INTERVAL_SECONDS", async () => {
    const log = new LogCapture();
    const t = await startTestServer(kind, { logStream: log, env: { SF_DIAGNOSTICS_INTERVAL_SECONDS: "1" } });
    try {
      const { token } = await t.createUser();
      expect((await t.fetch("/me", { token })).status).toBe(200);
      const diag = () => log.lines().filter((l) => l.msg === "diagnostics");
      for (let i = 0; i < 60 && diag().length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      const lines = diag();
      expect(lines.length).toBeGreaterThanOrEqual(2);
      const d = lines[0]!.diagnostics as {
        rss: number;
        heapUsed: number;
        fds: number | null;
        eventLoopDelayMs: { p50: number; p99: number; max: number };
        dbPool: { used: number; free: number; pending: number };
      };
      expect(lines[0]!.level).toBe(30);
      expect(d.rss).toBeGreaterThan(d.heapUsed);
      expect(d.heapUsed).toBeGreaterThan(1024 * 1024);
      // This process's own descriptors: at least stdin/stdout/stderr, the listening socket and the database.
      expect(d.fds).toBeGreaterThan(4);
      expect(d.eventLoopDelayMs.p50).toBeGreaterThan(0);
      expect(d.eventLoopDelayMs.p99).toBeGreaterThanOrEqual(d.eventLoopDelayMs.p50);
      expect(d.eventLoopDelayMs.max).toBeGreaterThanOrEqual(d.eventLoopDelayMs.p99);
      expect(d.dbPool.used).toBeGreaterThanOrEqual(0);
      expect(d.dbPool.free + d.dbPool.used).toBeGreaterThanOrEqual(1);
      expect(d.dbPool.pending).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("logs none by default", async () => {
    const log = new LogCapture();
    const t = await startTestServer(kind, { logStream: log });
    try {
      await new Promise((r) => setTimeout(r, 1200));
      expect(log.lines().filter((l) => l.msg === "diagnostics")).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
