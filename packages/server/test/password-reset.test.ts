import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { expectError, expectUnauthorized, expectValidationError } from "@speedyfiles/test-utils/expect";
import { sha256 } from "@speedyfiles/test-utils/uploads";
import { signedIn } from "@speedyfiles/test-utils/web";
import { resetRequestsSettled } from "../src/services/password-reset.js";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

const RESET_TOKEN = /^sfr_[A-Za-z0-9_-]{43}$/;
const tag = () => crypto.randomBytes(4).toString("hex");
const mailTo = (to: string) => (m: ReceivedMail) => m.envelope.to.includes(to);

interface AuditRow {
  type: string;
  actor_user_id: string | null;
  subject_id: string | null;
  data: string;
  client_address: string | null;
}

describe.each(DATABASES)("password reset through the API (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let admin: User;

  const ask = (email: unknown) => t.fetch("/auth/password-reset", { method: "POST", json: { email } });
  const confirm = (token: unknown, password: unknown) => t.fetch("/auth/password-reset/confirm", { method: "POST", json: { token, password } });
  const force = (id: string, body?: unknown, token = admin.token) =>
    t.fetch(`/admin/users/${id}/password-reset`, { method: "POST", token, ...(body === undefined ? {} : { json: body }) });
  const login = (email: string, password: string) => t.fetch("/auth/token", { method: "POST", json: { email, password, name: "test" } });
  const settled = () => resetRequestsSettled(t.running.services);
  const db = () => t.running.services.db;
  // The reset's own lines (the trail also holds the account's creation, sign-ins and tokens).
  const RESET_TYPES = ["password_reset.requested", "password_reset.completed", "user.password_reset_forced"];
  // In the trail's own order (its sequence): lines written in the same millisecond of the test clock tie on time.
  const auditOf = async (subject: string): Promise<AuditRow[]> => db()("audit_events").where({ subject_id: subject }).whereIn("type", RESET_TYPES).orderBy("seq");
  const mailsTo = (email: string) => smtp.messages.filter(mailTo(email));

  /** The reset email's token, checked to be in both parts and in the link's fragment only. */
  const tokenOf = (mail: ReceivedMail): string => {
    const m = /\/reset-password#token=(sfr_[A-Za-z0-9_-]{43})/.exec(mail.parsed.text ?? "");
    expect(m, mail.parsed.text).not.toBeNull();
    const token = m![1]!;
    expect(mail.parsed.text).toContain(`${t.running.services.config.publicUrl}/reset-password#token=${token}`);
    expect(mail.parsed.html).toContain(`href="${t.running.services.config.publicUrl}/reset-password#token=${token}"`);
    expect(mail.parsed.subject).not.toContain(token);
    return token;
  };
  /** Asks for a reset of `email` and returns the token of the email that arrives (the `n`th to that address). */
  const resetToken = async (email: string): Promise<string> => {
    const before = mailsTo(email).length;
    expect((await ask(email)).status).toBe(202);
    const mails = await smtp.waitForMails(before + 1, mailTo(email));
    return tokenOf(mails[before]!);
  };

  beforeAll(async () => {
    smtp = await startTestSmtp();
    // High limits here: the limits have their own server below.
    t = await startTestServer(kind, {
      env: {
        SF_SMTP_URL: smtp.url,
        SF_MAIL_POLL_MS: "50",
        SF_PASSWORD_RESET_MAX_PER_ADDRESS: "1000",
        SF_PASSWORD_RESET_MAX_PER_IP: "100000",
        SF_LOGIN_MAX_FAILURES_PER_IP: "100000",
      },
    });
    admin = await t.createUser({ role: "admin" });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it("emails a link whose token works once: the password changes, web sessions end, API tokens stay", async () => {
    const u = await t.createUser();
    const browser = await signedIn(t, u.user.email, u.password);
    const res = await ask(u.user.email.toUpperCase());
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ detail: `If ${u.user.email} has an account, a link to choose a new password is on its way.` });

    const mail = await smtp.waitForMail(mailTo(u.user.email));
    expect(mail.parsed.subject).toBe("Choose a new SpeedyFiles password");
    expect(mail.parsed.text).toMatch(/works once, for 30 minutes/);
    const token = tokenOf(mail);
    expect(token).toMatch(RESET_TOKEN);

    // Only the token's SHA-256 is kept, and the queued mail's body is gone once sent.
    const rows = await db()("password_reset_tokens").where({ user_id: u.user.id });
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).toBe(sha256(token));
    expect(Date.parse(rows[0].expires_at) - Date.parse(rows[0].created_at)).toBe(30 * 60_000);
    await settled();
    expect(JSON.stringify(await db()("mail_outbox").select())).not.toContain(token);
    expect(JSON.stringify(await db()("audit_events").select())).not.toContain(token);

    expect((await confirm(token, "a brand new passphrase")).status).toBe(204);
    expect((await login(u.user.email, u.password)).status).toBe(401);
    expect((await login(u.user.email, "a brand new passphrase")).status).toBe(201);
    // The web session ended; the API token still works.
    const page = await browser.get("/packages");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toMatch(/^\/login/);
    expect((await t.fetch("/me", { token: u.token })).status).toBe(200);

    // Used up: the same answer as an unknown token.
    await expectValidationError(await confirm(token, "another new passphrase"), "/body/token", "reset_token_invalid");
    await expectValidationError(await confirm(`sfr_${crypto.randomBytes(32).toString("base64url")}`, "another new passphrase"), "/body/token", "reset_token_invalid");
    expect((await login(u.user.email, "a brand new passphrase")).status).toBe(201);
    expect(await db()("password_reset_tokens").where({ user_id: u.user.id })).toHaveLength(0);

    const audit = await auditOf(u.user.id);
    expect(audit.map((a) => a.type)).toEqual(["password_reset.requested", "password_reset.completed"]);
    expect(audit[0]).toMatchObject({ actor_user_id: null, client_address: expect.stringMatching(/127\.0\.0\.1/) });
    expect(JSON.parse(audit[0]!.data)).toEqual({ mailed: true });
    expect(audit[1]).toMatchObject({ actor_user_id: u.user.id });
    expect(JSON.parse(audit[1]!.data)).toEqual({ reason: "requested", sessions_ended: 1 });
  });

  it("escapes the account's name in the email's HTML and keeps the text part plain", async () => {
    const u = await t.createUser();
    const name = `<img src=x onerror=alert(1)> "Bob" & co`;
    await db()("users").where({ id: u.user.id }).update({ name });
    await resetToken(u.user.email);
    const mail = smtp.messages.filter(mailTo(u.user.email)).at(-1)!;
    expect(mail.parsed.html).toContain("Hello &lt;img src=x onerror=alert(1)&gt; &quot;Bob&quot; &amp; co,");
    expect(mail.parsed.html).not.toContain("<img src=x");
    expect(mail.parsed.text).toContain(`Hello ${name},`);
  });

  it("refuses an expired token (the server's clock decides)", async () => {
    const u = await t.createUser();
    const late = await resetToken(u.user.email);
    t.clock.advance(30 * 60_000 + 1000);
    await expectValidationError(await confirm(late, "a brand new passphrase"), "/body/token", "reset_token_invalid");
    expect((await login(u.user.email, u.password)).status).toBe(201);

    const inTime = await resetToken(u.user.email);
    t.clock.advance(29 * 60_000);
    expect((await confirm(inTime, "a brand new passphrase")).status).toBe(204);
  });

  it("honours SF_PASSWORD_RESET_MINUTES", async () => {
    const short = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_MAIL_POLL_MS: "50", SF_PASSWORD_RESET_MINUTES: "10" } });
    try {
      const u = await short.createUser();
      expect((await short.fetch("/auth/password-reset", { method: "POST", json: { email: u.user.email } })).status).toBe(202);
      const mail = await smtp.waitForMail(mailTo(u.user.email));
      expect(mail.parsed.text).toMatch(/works once, for 10 minutes/);
      const [row] = await short.running.services.db("password_reset_tokens").where({ user_id: u.user.id });
      expect(Date.parse(row.expires_at) - Date.parse(row.created_at)).toBe(10 * 60_000);
      short.clock.advance(10 * 60_000);
      const res = await short.fetch("/auth/password-reset/confirm", { method: "POST", json: { token: tokenOf(mail), password: "a brand new passphrase" } });
      await expectValidationError(res, "/body/token", "reset_token_invalid");
    } finally {
      await short.close();
    }
  });

  it("a newer request replaces the older link", async () => {
    const u = await t.createUser();
    const first = await resetToken(u.user.email);
    const second = await resetToken(u.user.email);
    expect(second).not.toBe(first);
    await expectValidationError(await confirm(first, "a brand new passphrase"), "/body/token", "reset_token_invalid");
    expect((await confirm(second, "a brand new passphrase")).status).toBe(204);
  });

  it("a password changed any other way ends the outstanding link", async () => {
    // By an admin.
    const u = await t.createUser();
    const token = await resetToken(u.user.email);
    expect((await t.fetch(`/admin/users/${u.user.id}`, { method: "PATCH", token: admin.token, json: { password: "set by the admin" } })).status).toBe(200);
    await expectValidationError(await confirm(token, "a brand new passphrase"), "/body/token", "reset_token_invalid");
    expect((await login(u.user.email, "set by the admin")).status).toBe(201);

    // By the user on the Account page.
    const v = await t.createUser();
    const token2 = await resetToken(v.user.email);
    const browser = await signedIn(t, v.user.email, v.password);
    const changed = await browser.post("/account/password", {
      _csrf: await browser.csrf(),
      current_password: v.password,
      new_password: "changed on the account page",
      confirm_password: "changed on the account page",
    });
    expect(changed.status).toBe(303);
    await expectValidationError(await confirm(token2, "a brand new passphrase"), "/body/token", "reset_token_invalid");
  });

  it("lets exactly one of two simultaneous confirmations win", async () => {
    const u = await t.createUser();
    const token = await resetToken(u.user.email);
    const [a, b] = await Promise.all([confirm(token, "password number one"), confirm(token, "password number two")]);
    expect([a.status, b.status].sort()).toEqual([204, 422]);
    const winner = a.status === 204 ? "password number one" : "password number two";
    const loser = a.status === 204 ? "password number two" : "password number one";
    expect((await login(u.user.email, winner)).status).toBe(201);
    expect((await login(u.user.email, loser)).status).toBe(401);
    expect((await auditOf(u.user.id)).filter((e) => e.type === "password_reset.completed")).toHaveLength(1);
  });

  it("answers the same for an unknown address, a disabled account and one without a password, and emails none of them", async () => {
    const known = await t.createUser();
    const disabled = await t.createUser();
    expect((await t.fetch(`/admin/users/${disabled.user.id}`, { method: "PATCH", token: admin.token, json: { disabled: true } })).status).toBe(200);
    // An account that signs in only through single sign-on keeps no password hash.
    const ssoOnly = await t.createUser();
    await db()("users").where({ id: ssoOnly.user.id }).update({ password_hash: "" });
    const unknown = `nobody-${tag()}@example.com`;

    const answers = [];
    for (const email of [known.user.email, unknown, disabled.user.email, ssoOnly.user.email]) {
      const res = await ask(email);
      answers.push({ status: res.status, type: res.headers.get("content-type"), body: ((await res.json()) as { detail: string }).detail.replace(email, "<email>") });
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]!.status).toBe(202);

    await smtp.waitForMail(mailTo(known.user.email));
    await settled();
    // Give the mail worker the time it took for the one that did go.
    await new Promise((r) => setTimeout(r, 300));
    for (const email of [unknown, disabled.user.email, ssoOnly.user.email]) expect(mailsTo(email)).toEqual([]);
    expect(await db()("mail_outbox").whereIn("recipient", [unknown, disabled.user.email, ssoOnly.user.email])).toEqual([]);
    expect(await db()("password_reset_tokens").whereIn("user_id", [disabled.user.id, ssoOnly.user.id])).toEqual([]);
    // The admin sees the attempts on accounts that exist; nothing is recorded for the unknown one.
    expect(JSON.parse((await auditOf(disabled.user.id))[0]!.data)).toEqual({ mailed: false, reason: "disabled" });
    expect(JSON.parse((await auditOf(ssoOnly.user.id))[0]!.data)).toEqual({ mailed: false, reason: "no_password" });
    expect(JSON.stringify(await db()("audit_events").select())).not.toContain(unknown);
  });

  it("refuses malformed requests with 422 and leaves nothing behind", async () => {
    const before = await db()("password_reset_tokens").count({ n: "*" });
    await expectValidationError(await t.fetch("/auth/password-reset", { method: "POST", json: {} }), "/body/email");
    await expectValidationError(await ask("not an email"), "/body/email");
    await expectValidationError(await ask(42), "/body/email");
    await expectValidationError(await ask(`${"a".repeat(250)}@example.com`), "/body/email");
    await expectValidationError(await t.fetch("/auth/password-reset", { method: "POST", json: { email: admin.user.email, extra: 1 } }));
    await expectError(await t.fetch("/auth/password-reset", { method: "POST", body: "email=a@b.c", headers: { "Content-Type": "application/x-www-form-urlencoded" } }), 415);
    await expectError(await t.fetch("/auth/password-reset", { method: "POST", body: "{", headers: { "Content-Type": "application/json" } }), 422);

    await expectValidationError(await t.fetch("/auth/password-reset/confirm", { method: "POST", json: { password: "long enough" } }), "/body/token");
    await expectValidationError(await confirm("", "long enough"), "/body/token");
    await expectValidationError(await confirm("x".repeat(201), "long enough"), "/body/token");
    await expectValidationError(await confirm("sfr_short", "long enough"), "/body/token", "reset_token_invalid");
    const u = await t.createUser();
    const token = await resetToken(u.user.email);
    await expectValidationError(await confirm(token, "short"), "/body/password");
    await expectValidationError(await confirm(token, 12345678), "/body/password");
    await expectValidationError(await t.fetch("/auth/password-reset/confirm", { method: "POST", json: { token, password: "long enough", extra: true } }));
    // None of these used the token up.
    expect((await confirm(token, "a brand new passphrase")).status).toBe(204);
    expect(await db()("password_reset_tokens").count({ n: "*" })).toEqual(before);
  });

  describe("an admin forcing a reset", () => {
    it("stops the password at once, ends the sessions, keeps the tokens, and emails a link", async () => {
      const u = await t.createUser();
      const browser = await signedIn(t, u.user.email, u.password);
      const res = await force(u.user.id);
      expect(res.status).toBe(202);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/no longer works/);

      expect((await login(u.user.email, u.password)).status).toBe(401);
      expect((await browser.get("/packages")).status).toBe(303);
      expect((await t.fetch("/me", { token: u.token })).status).toBe(200);

      const mail = await smtp.waitForMail(mailTo(u.user.email));
      expect(mail.parsed.subject).toBe("Your SpeedyFiles password was reset: choose a new one");
      expect(mail.parsed.text).toContain("An administrator of SpeedyFiles reset your password");
      expect((await confirm(tokenOf(mail), "my own new password")).status).toBe(204);
      expect((await login(u.user.email, "my own new password")).status).toBe(201);

      const audit = await auditOf(u.user.id);
      expect(audit.map((a) => a.type)).toEqual(["user.password_reset_forced", "password_reset.completed"]);
      expect(audit[0]).toMatchObject({ actor_user_id: admin.user.id });
      expect(JSON.parse(audit[0]!.data)).toEqual({ revoke_tokens: false, tokens_revoked: 0, sessions_ended: 1, mailed: true });
      expect(JSON.parse(audit[1]!.data)).toMatchObject({ reason: "forced" });
    });

    it("revokes the API tokens too with revoke_tokens", async () => {
      const u = await t.createUser();
      expect((await force(u.user.id, { revoke_tokens: true })).status).toBe(202);
      await expectUnauthorized(await t.fetch("/me", { token: u.token }));
      expect(JSON.parse((await auditOf(u.user.id))[0]!.data)).toMatchObject({ revoke_tokens: true, tokens_revoked: 1 });
      await smtp.waitForMail(mailTo(u.user.email));
    });

    it("emails no link to a disabled user", async () => {
      const u = await t.createUser();
      expect((await t.fetch(`/admin/users/${u.user.id}`, { method: "PATCH", token: admin.token, json: { disabled: true } })).status).toBe(200);
      const res = await force(u.user.id, {});
      expect(res.status).toBe(202);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/no email was sent/);
      expect(await db()("mail_outbox").where({ recipient: u.user.email })).toEqual([]);
      expect(await db()("password_reset_tokens").where({ user_id: u.user.id })).toEqual([]);
    });

    it("refuses a non-admin (403), no token (401), an unknown user (404), oneself and bad bodies (422)", async () => {
      const u = await t.createUser();
      await expectError(await force(u.user.id, {}, u.token), 403, "admin_required");
      await expectError(await force(admin.user.id, {}, u.token), 403, "admin_required");
      await expectUnauthorized(await t.fetch(`/admin/users/${u.user.id}/password-reset`, { method: "POST" }));
      await expectUnauthorized(await force(u.user.id, {}, "sf_" + "x".repeat(43)));
      await expectError(await force(crypto.randomUUID()), 404, "user_not_found");
      const malformed = await force("not-a-uuid");
      expect([404, 422]).toContain(malformed.status);
      await expectError(malformed, malformed.status);
      await expectValidationError(await force(admin.user.id), "/path/id");
      await expectValidationError(await force(admin.user.id.toUpperCase()), "/path/id");
      await expectValidationError(await force(u.user.id, { revoke_tokens: "yes" }), "/body/revoke_tokens");
      await expectValidationError(await force(u.user.id, { revoke_tokens: true, extra: 1 }));
      // Nothing happened to anyone.
      expect((await login(u.user.email, u.password)).status).toBe(201);
      expect((await t.fetch("/me", { token: u.token })).status).toBe(200);
      expect(await auditOf(u.user.id)).toEqual([]);
    });
  });
});

describe.each(DATABASES)("password reset limits and switches (%s)", (kind) => {
  it("limits requests per address and per client address (429 + Retry-After), known address or not", async () => {
    const t = await startTestServer(kind, { env: { SF_PASSWORD_RESET_MAX_PER_ADDRESS: "2", SF_PASSWORD_RESET_MAX_PER_IP: "7" } });
    try {
      const u = await t.createUser();
      const ask = (email: string) => t.fetch("/auth/password-reset", { method: "POST", json: { email } });
      for (const email of [u.user.email, `nobody-${tag()}@example.com`]) {
        expect((await ask(email)).status).toBe(202);
        expect((await ask(email)).status).toBe(202);
        const limited = await ask(email);
        await expectError(limited, 429, "rate_limited");
        expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      // Six asked from this client address so far (two refused): one more, then its limit.
      expect((await ask(`other-${tag()}@example.com`)).status).toBe(202);
      await expectError(await ask(`other-${tag()}@example.com`), 429, "rate_limited");
      await resetRequestsSettled(t.running.services);
      expect(await t.running.services.db("password_reset_tokens").where({ user_id: u.user.id })).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("limits invalid confirmations per client address", async () => {
    const t = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_IP: "3" } });
    try {
      const bad = () =>
        t.fetch("/auth/password-reset/confirm", { method: "POST", json: { token: `sfr_${crypto.randomBytes(32).toString("base64url")}`, password: "long enough" } });
      for (let i = 0; i < 3; i++) await expectValidationError(await bad(), "/body/token", "reset_token_invalid");
      const limited = await bad();
      await expectError(limited, 429, "rate_limited");
      expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    } finally {
      await t.close();
    }
  });

  it("answers 403 password_login_disabled when password sign-in is off", async () => {
    // Password sign-in off needs single sign-on set up (its provider is only looked up at a sign-in).
    const t = await startTestServer(kind, { env: { SF_PASSWORD_LOGIN: "false", SF_SSO_ISSUER: "https://sso.example.com", SF_SSO_CLIENT_ID: "speedyfiles" } });
    try {
      const [admin, u] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
      await expectError(await t.fetch("/auth/password-reset", { method: "POST", json: { email: u.user.email } }), 403, "password_login_disabled");
      await expectError(
        await t.fetch("/auth/password-reset/confirm", { method: "POST", json: { token: `sfr_${crypto.randomBytes(32).toString("base64url")}`, password: "long enough" } }),
        403,
        "password_login_disabled",
      );
      await expectError(await t.fetch(`/admin/users/${u.user.id}/password-reset`, { method: "POST", token: admin.token, json: {} }), 403, "password_login_disabled");
      expect(await t.running.services.db("password_reset_tokens").select()).toEqual([]);
      expect(await t.running.services.db("mail_outbox").select()).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
