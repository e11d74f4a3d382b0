import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "./helpers/server.js";
import { expectUnauthorized, expectValidationError, UUID } from "./helpers/expect.js";

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
    const loginRes = track(
      await t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: alice.password, name: "laptop" } }),
    );
    expect(loginRes.status).toBe(201);
    const { token: sessionToken } = await loginRes.json();
    secrets.push(sessionToken);
    const wrongPassword = "Wr0ng-but-still-private";
    secrets.push(wrongPassword);
    track(await t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: wrongPassword, name: "x" } }));
    track(
      await t.fetch("/auth/token", { method: "POST", json: { email: alice.user.email, password: alice.password, name: "x", extra: 1 } }),
    );

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
    const patch = track(
      await t.fetch(`/admin/users/${alice.user.id}`, { method: "PATCH", token: admin.token, json: { password: newPassword } }),
    );
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
