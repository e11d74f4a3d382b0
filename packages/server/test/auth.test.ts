import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized, expectValidationError, RAW_TOKEN, UUID } from "@speedyfiles/test-utils/expect";

type Login = { email?: unknown; password?: unknown; name?: unknown; expires_in_days?: unknown; [k: string]: unknown };

const login = (t: TestServer, body: Login, headers: Record<string, string> = {}) => t.fetch("/auth/token", { method: "POST", json: body, headers });

const tokenCount = async (t: TestServer, token: string) => ((await (await t.fetch("/me/tokens", { token })).json()) as unknown[]).length;

describe.each(DATABASES)("POST /auth/token (%s)", (kind) => {
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;

  beforeAll(async () => {
    // Rate limits high: these tests fail logins on purpose and must not trip them.
    t = await startTestServer(kind, {
      env: { SF_LOGIN_MAX_FAILURES_PER_IP: "1000", SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000" },
    });
    [alice, admin] = await Promise.all([t.createUser(), t.createUser({ role: "admin" })]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("exchanges email and password for a new token that works at once", async () => {
    const res = await login(t, { email: alice.user.email, password: alice.password, name: "sf on laptop" });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toEqual({
      id: expect.stringMatching(UUID),
      name: "sf on laptop",
      prefix: body.token.slice(0, 11),
      token: expect.stringMatching(RAW_TOKEN),
      created_at: t.clock.now().toISOString(),
      expires_at: null,
      last_used_at: null,
      kind: "personal",
      scopes: ["packages:read", "packages:write", "webhooks:read", "webhooks:write", "tokens:write"],
    });

    const me = await t.fetch("/me", { token: body.token });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: alice.user.id, email: alice.user.email, role: "user" });

    // The new token is one of the user's tokens, listed without its secret.
    const list = await (await t.fetch("/me/tokens", { token: alice.token })).json();
    expect(list.map((x: { id: string }) => x.id)).toContain(body.id);
    expect(JSON.stringify(list)).not.toContain(body.token);
  });

  it("gives a new, different token on every login", async () => {
    const bodies = await Promise.all([1, 2].map(async () => (await login(t, { email: alice.user.email, password: alice.password, name: "twice" })).json()));
    expect(bodies[0].token).not.toBe(bodies[1].token);
    expect(bodies[0].id).not.toBe(bodies[1].id);
    for (const b of bodies) expect((await t.fetch("/me", { token: b.token })).status).toBe(200);
  });

  it("matches the email case-insensitively and ignores surrounding spaces in the name", async () => {
    const res = await login(t, { email: alice.user.email.toUpperCase(), password: alice.password, name: "  ci  " });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body.name).toBe("ci");
    expect(await (await t.fetch("/me", { token: body.token })).json()).toMatchObject({ id: alice.user.id });
  });

  it("answers a wrong password and an unknown email with the same 401, creating no token", async () => {
    const before = await tokenCount(t, alice.token);
    const wrong = await login(t, { email: alice.user.email, password: `${alice.password}x`, name: "x" });
    const wrongBody = await expectError(wrong, 401);
    const unknown = await login(t, { email: "nobody-here@example.com", password: alice.password, name: "x" });
    const unknownBody = await expectError(unknown, 401);
    // Identical answers, so a caller cannot find out which emails have accounts.
    expect(unknownBody).toEqual(wrongBody);
    expect(wrongBody).toEqual({ detail: "Wrong email or password", code: "credentials_invalid" });
    expect(await tokenCount(t, alice.token)).toBe(before);
  });

  it("takes the password exactly: no trimming, no case folding", async () => {
    for (const password of [` ${alice.password}`, alice.password.toUpperCase(), alice.password.slice(0, -1)]) {
      await expectError(await login(t, { email: alice.user.email, password, name: "x" }), 401);
    }
  });

  it("refuses a disabled user with the same 401, even with the right password", async () => {
    const bob = await t.createUser();
    const wrongBody = await expectError(await login(t, { email: bob.user.email, password: "not-the-password", name: "x" }), 401);
    const patch = await t.fetch(`/admin/users/${bob.user.id}`, { method: "PATCH", token: admin.token, json: { disabled: true } });
    expect(patch.status).toBe(200);

    const res = await login(t, { email: bob.user.email, password: bob.password, name: "x" });
    expect(await expectError(res, 401)).toEqual(wrongBody);
  });

  it("sets expires_at from expires_in_days, and the token stops working then", async () => {
    const res = await login(t, { email: alice.user.email, password: alice.password, name: "short", expires_in_days: 7 });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(Date.parse(body.expires_at) - Date.parse(body.created_at)).toBe(7 * 86_400_000);
    expect(body.created_at).toBe(t.clock.now().toISOString());

    t.clock.advanceDays(7);
    await expectUnauthorized(await t.fetch("/me", { token: body.token }));
    // Tokens without an expiry are unaffected.
    expect((await t.fetch("/me", { token: alice.token })).status).toBe(200);
  });

  const good = () => ({ email: alice.user.email, password: alice.password, name: "x" });
  it.each<[string, () => Login, string]>([
    ["a missing email", () => ({ password: alice.password, name: "x" }), "/body/email"],
    ["a missing password", () => ({ email: alice.user.email, name: "x" }), "/body/password"],
    ["a missing name", () => ({ email: alice.user.email, password: alice.password }), "/body/name"],
    ["an email that is not one", () => ({ ...good(), email: "alice-at-example.com" }), "/body/email"],
    ["a number for the email", () => ({ ...good(), email: 42 }), "/body/email"],
    ["an object for the password", () => ({ ...good(), password: { value: alice.password } }), "/body/password"],
    ["an array for the name", () => ({ ...good(), name: ["x"] }), "/body/name"],
    ["an empty password", () => ({ ...good(), password: "" }), "/body/password"],
    ["an empty name", () => ({ ...good(), name: "" }), "/body/name"],
    ["a name over 100 characters", () => ({ ...good(), name: "n".repeat(101) }), "/body/name"],
    ["a name with a control character", () => ({ ...good(), name: "lap\u0000top" }), "/body/name"],
    ["expires_in_days of 0", () => ({ ...good(), expires_in_days: 0 }), "/body/expires_in_days"],
    ["expires_in_days over 3650", () => ({ ...good(), expires_in_days: 3651 }), "/body/expires_in_days"],
    ["a fractional expires_in_days", () => ({ ...good(), expires_in_days: 1.5 }), "/body/expires_in_days"],
    ["a word for expires_in_days", () => ({ ...good(), expires_in_days: "soon" }), "/body/expires_in_days"],
    ["an unknown field", () => ({ ...good(), remember_me: true }), "/body"],
  ])("rejects %s with 422 and errors[], even with the right password", async (_label, body, field) => {
    const before = await tokenCount(t, alice.token);
    await expectValidationError(await login(t, body()), field);
    expect(await tokenCount(t, alice.token)).toBe(before);
  });

  it.each([
    ["malformed JSON", '{"email": "a@example.com",'],
    ["a JSON array", "[1, 2]"],
    ["JSON null", "null"],
  ])("rejects %s with 422 and errors[]", async (_label, raw) => {
    const res = await t.fetch("/auth/token", { method: "POST", body: raw, headers: { "Content-Type": "application/json" } });
    await expectValidationError(res, "/body");
  });

  it("answers 415 to a body that is not JSON", async () => {
    const res = await t.fetch("/auth/token", {
      method: "POST",
      body: `email=${encodeURIComponent(alice.user.email)}&password=${encodeURIComponent(alice.password)}&name=x`,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    await expectError(res, 415);
  });
});

describe.each(DATABASES)("login rate limiting (%s)", (kind) => {
  const expectLocked = async (res: Response) => {
    await expectError(res, 429);
    const retryAfter = res.headers.get("retry-after");
    expect(retryAfter).toMatch(/^[0-9]+$/);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(900); // the default window
  };

  it("locks one account after SF_LOGIN_MAX_FAILURES_PER_ACCOUNT failures, even for the right password", async () => {
    const t = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "3", SF_LOGIN_MAX_FAILURES_PER_IP: "1000" } });
    try {
      const [carol, dave] = await Promise.all([t.createUser(), t.createUser()]);
      const right = { email: carol.user.email, password: carol.password, name: "x" };
      const wrong = { ...right, password: "wrong password" };

      await expectError(await login(t, wrong), 401);
      await expectError(await login(t, wrong), 401);
      // A successful login in between does not count: were it counted, the next request would be
      // the fourth and already locked.
      expect((await login(t, right)).status).toBe(201);
      await expectError(await login(t, { ...wrong, email: carol.user.email.toUpperCase() }), 401); // third failure

      await expectLocked(await login(t, right));
      await expectLocked(await login(t, { ...right, email: carol.user.email.toUpperCase() }));

      // Only this account is locked, and only its logins: its tokens keep working.
      expect((await login(t, { email: dave.user.email, password: dave.password, name: "x" })).status).toBe(201);
      expect((await t.fetch("/me", { token: carol.token })).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it("locks one address after SF_LOGIN_MAX_FAILURES_PER_IP failures across accounts", async () => {
    const t = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_IP: "3", SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000" } });
    try {
      const erin = await t.createUser();
      const right = { email: erin.user.email, password: erin.password, name: "x" };

      await expectError(await login(t, { email: "ghost-1@example.com", password: "whatever1", name: "x" }), 401);
      await expectError(await login(t, { email: "ghost-2@example.com", password: "whatever2", name: "x" }), 401);
      expect((await login(t, right)).status).toBe(201); // not counted
      await expectError(await login(t, { ...right, password: "wrong password" }), 401); // third failure

      await expectLocked(await login(t, right));
      // X-Forwarded-For is not trusted by default, so it cannot buy a fresh counter.
      await expectLocked(await login(t, right, { "X-Forwarded-For": "203.0.113.7" }));
      // Validation errors are answered as before; the lock is about logins.
      await expectValidationError(await login(t, { email: erin.user.email }), "/body/password");
    } finally {
      await t.close();
    }
  });
});
