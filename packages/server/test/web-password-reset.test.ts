import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { csrfOf, setCookieOf, signedIn, WebClient } from "@speedyfiles/test-utils/web";
import { resetRequestsSettled } from "../src/services/password-reset.js";
import { usersBody } from "../src/web/admin-users-page.js";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

const tag = () => crypto.randomBytes(4).toString("hex");
const mailTo = (to: string) => (m: ReceivedMail) => m.envelope.to.includes(to);
/** The CSRF token of the page's form posting to `action` (a signed-in page also has the sign-out form's). */
const formCsrf = (html: string, action: string) => new RegExp(`action="${action}" class="form">\\s*<input type="hidden" name="_csrf" value="([^"]+)"`).exec(html)![1]!;
const tokenIn = (mail: ReceivedMail) => /\/reset-password#token=(sfr_[A-Za-z0-9_-]{43})/.exec(mail.parsed.text ?? "")![1]!;

/** Everything the server logs. */
class LogCapture {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

describe.each(DATABASES)("password reset pages (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let log: LogCapture;
  let admin: User;

  /** A browser that asks for a reset link through the forgot-password form. */
  const forgot = async (c: WebClient, email: string) => {
    const page = await c.get("/forgot-password");
    expect(page.status).toBe(200);
    return c.post("/forgot-password", { _csrf: formCsrf(await page.text(), "/forgot-password"), email });
  };
  /** The reset page's form, posted as its script fills it in (token from the link's fragment). */
  const resetWith = async (c: WebClient, token: string, password: string, again = password) => {
    const page = await c.get("/reset-password");
    expect(page.status).toBe(200);
    return c.post("/reset-password", { _csrf: formCsrf(await page.text(), "/reset-password"), token, new_password: password, confirm_password: again });
  };
  const login = (email: string, password: string) => t.fetch("/auth/token", { method: "POST", json: { email, password, name: "test" } });

  beforeAll(async () => {
    smtp = await startTestSmtp();
    log = new LogCapture();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_MAIL_POLL_MS: "50" }, logStream: log });
    admin = await t.createUser({ role: "admin" });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it("walks forgot → email → new password → sign-in over HTTP, ending the account's other sessions", async () => {
    const u = await t.createUser();
    const elsewhere = await signedIn(t, u.user.email, u.password);
    const c = new WebClient(t);

    const signIn = await (await c.get("/login")).text();
    expect(signIn).toContain('<a href="/forgot-password">Forgot your password?</a>');

    const asked = await forgot(c, u.user.email);
    expect(asked.status).toBe(303);
    expect(asked.headers.get("location")).toBe("/forgot-password?notice=sent");
    const sent = await c.get("/forgot-password?notice=sent");
    expect(await sent.text()).toContain("If that address has an account, a link to choose a new password is on its way.");

    const mail = await smtp.waitForMail(mailTo(u.user.email));
    const link = /(\S+\/reset-password#token=sfr_\S+)/.exec(mail.parsed.text ?? "")![1]!;
    const token = tokenIn(mail);

    // The page: the code field is filled in by its script, from the fragment (never sent here).
    const page = await c.get(new URL(link).pathname);
    expect(page.status).toBe(200);
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    expect(page.headers.get("cache-control")).toBe("no-store");
    const html = await page.text();
    expect(html).toContain('<script src="/assets/reset-password.js" type="module"></script>');
    expect(html).toMatch(/<input id="new_password" name="new_password" type="password" autocomplete="new-password" required minlength="8"/);
    expect(setCookieOf(page, "sf_recovery_csrf")).toMatch(/Path=\/reset-password; HttpOnly; SameSite=Lax$/);

    // Mistakes come back on the form (422) and use nothing up.
    const differ = await resetWith(c, token, "a brand new passphrase", "another passphrase");
    expect(differ.status).toBe(422);
    expect(await differ.text()).toContain("The two new passwords differ.");
    const short = await resetWith(c, token, "short");
    expect(short.status).toBe(422);
    expect(await short.text()).toContain("The new password must be 8 to 1024 characters long.");

    const done = await resetWith(c, token, "a brand new passphrase");
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/login?notice=password_reset");
    expect(setCookieOf(done, "sf_session")).toMatch(/^sf_session=; Max-Age=0/);
    const after = await c.get("/login?notice=password_reset");
    expect(await after.text()).toContain("Your new password is set, and you are signed out everywhere. Sign in with it.");

    // The other browser is signed out; the new password signs in, the old one does not.
    expect((await elsewhere.get("/packages")).status).toBe(303);
    expect((await c.signIn(u.user.email, u.password)).status).toBe(401);
    expect((await c.signIn(u.user.email, "a brand new passphrase")).status).toBe(303);

    // The link again: the form says it no longer works, without the code.
    const again = await resetWith(c, token, "yet another passphrase");
    expect(again.status).toBe(422);
    const againHtml = await again.text();
    expect(againHtml).toContain("This password reset link is unknown, already used, replaced by a newer one or expired: ask for a new one.");
    expect(againHtml).not.toContain(token);
  });

  it("answers an unknown address exactly as a known one, and sends nothing", async () => {
    const u = await t.createUser();
    const unknown = `nobody-${tag()}@example.com`;
    const a = await forgot(new WebClient(t), u.user.email);
    const b = await forgot(new WebClient(t), unknown);
    expect([a.status, a.headers.get("location")]).toEqual([b.status, b.headers.get("location")]);
    await smtp.waitForMail(mailTo(u.user.email));
    await resetRequestsSettled(t.running.services);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages.filter(mailTo(unknown))).toEqual([]);
  });

  it("refuses forms without their CSRF token or from another site, and a malformed email", async () => {
    const u = await t.createUser();
    const c = new WebClient(t);
    await c.get("/forgot-password");
    expect((await c.post("/forgot-password", { email: u.user.email })).status).toBe(403);
    expect((await c.post("/forgot-password", { _csrf: "x".repeat(43), email: u.user.email })).status).toBe(403);
    const page = await (await c.get("/forgot-password")).text();
    expect((await c.post("/forgot-password", { _csrf: csrfOf(page), email: u.user.email }, { "Sec-Fetch-Site": "cross-site" })).status).toBe(403);
    const bad = await c.post("/forgot-password", { _csrf: csrfOf(page), email: "<b>not an email</b>" });
    expect(bad.status).toBe(422);
    const badHtml = await bad.text();
    expect(badHtml).toContain("Email must be an email address.");
    expect(badHtml).toContain('value="&lt;b&gt;not an email&lt;/b&gt;"');
    expect((await c.post("/reset-password", { token: "x", new_password: "long enough", confirm_password: "long enough" })).status).toBe(403);
    await resetRequestsSettled(t.running.services);
    expect(await t.running.services.db("password_reset_tokens").where({ user_id: u.user.id })).toEqual([]);
  });

  it("escapes what comes back on the form", async () => {
    const c = new WebClient(t);
    const evil = `"><script>alert(1)</script>`;
    const res = await resetWith(c, evil, "a brand new passphrase", "does not match");
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("lets an admin force a reset from Admin → Users", async () => {
    const u = await t.createUser();
    const victimBrowser = await signedIn(t, u.user.email, u.password);
    const a = await signedIn(t, admin.user.email, admin.password);
    const list = await (await a.get(`/admin/users?q=${encodeURIComponent(u.user.email)}`)).text();
    expect(list).toContain(`action="/admin/users/${u.user.id}/password-reset"`);
    const own = await (await a.get(`/admin/users?q=${encodeURIComponent(admin.user.email)}`)).text();
    expect(own).not.toContain(`action="/admin/users/${admin.user.id}/password-reset"`);

    expect((await a.post(`/admin/users/${u.user.id}/password-reset`, { revoke_tokens: "true" })).status).toBe(403);
    const res = await a.post(`/admin/users/${u.user.id}/password-reset`, { _csrf: csrfOf(list), revoke_tokens: "true" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/users?notice=password_reset_forced");
    expect(await (await a.get("/admin/users?notice=password_reset_forced")).text()).toContain("The user&#39;s password no longer works");

    expect((await login(u.user.email, u.password)).status).toBe(401);
    expect((await victimBrowser.get("/packages")).status).toBe(303);
    expect((await t.fetch("/me", { token: u.token })).status).toBe(401);
    const mail = await smtp.waitForMail(mailTo(u.user.email));
    expect(mail.parsed.subject).toBe("Your SpeedyFiles password was reset: choose a new one");

    // A plain user cannot.
    const plain = await t.createUser();
    const p = await signedIn(t, plain.user.email, plain.password);
    expect((await p.post(`/admin/users/${admin.user.id}/password-reset`, { _csrf: await p.csrf() })).status).toBe(403);
    // Nor can an admin reset their own from the page (422 on the page).
    const self = await a.post(`/admin/users/${admin.user.id}/password-reset`, { _csrf: csrfOf(list) });
    expect(self.status).toBe(422);
    expect(await self.text()).toContain("You cannot force a reset of your own password");
  });

  it("never writes a reset token into the log, even one pasted into a URL", async () => {
    const u = await t.createUser();
    const c = new WebClient(t);
    expect((await forgot(c, u.user.email)).status).toBe(303);
    const token = tokenIn(await smtp.waitForMail(mailTo(u.user.email)));
    // Someone pastes the link with the fragment turned into a query, or the bare token as a path.
    const pasted = await c.get(`/reset-password?token=${token}`);
    expect(pasted.status).toBe(200);
    expect((await c.get(`/reset-password/${token}`)).status).toBe(404);
    expect((await resetWith(c, token, "a brand new passphrase")).status).toBe(303);
    const api = await t.fetch("/auth/password-reset/confirm", { method: "POST", json: { token, password: "a brand new passphrase" } });
    expect(api.status).toBe(422);
    await new Promise((r) => setTimeout(r, 200));
    expect(log.text).toContain("/reset-password?token=[redacted]");
    expect(log.text).not.toContain(token);
    expect(log.text).not.toContain(token.slice(4));
    expect(log.text).not.toContain("a brand new passphrase");
  });
});

describe.each(DATABASES)("password reset pages with limits and switches (%s)", (kind) => {
  it("answers the forms' rate limits with the page (429)", async () => {
    const t = await startTestServer(kind, { env: { SF_PASSWORD_RESET_MAX_PER_ADDRESS: "1" } });
    try {
      const c = new WebClient(t);
      const email = `limited-${tag()}@example.com`;
      expect((await forgot(c, email)).status).toBe(303);
      const limited = await forgot(c, email);
      expect(limited.status).toBe(429);
      expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
      const html = await limited.text();
      expect(html).toContain("Too many password reset requests for this email address; try again later.");
      expect(html).toContain(`value="${email}"`);
      // The API shares the counter.
      const api = await t.fetch("/auth/password-reset", { method: "POST", json: { email } });
      expect(api.status).toBe(429);
    } finally {
      await t.close();
    }

    async function forgot(c: WebClient, email: string) {
      const page = await c.get("/forgot-password");
      return c.post("/forgot-password", { _csrf: csrfOf(await page.text()), email });
    }
  });

  it("hides the pages and links when password sign-in is off", async () => {
    const t = await startTestServer(kind, { env: { SF_PASSWORD_LOGIN: "false", SF_SSO_ISSUER: "https://sso.example.com", SF_SSO_CLIENT_ID: "speedyfiles" } });
    try {
      const admin = await t.createUser({ role: "admin" });
      const c = new WebClient(t);
      expect(await (await c.get("/login")).text()).not.toContain("/forgot-password");
      for (const path of ["/forgot-password", "/reset-password"]) {
        const res = await c.get(path);
        expect(res.status).toBe(403);
        expect(await res.text()).toContain("Password sign-in is turned off on this server");
      }
      // Admin → Users offers no "Force password reset" (the page as rendered for an admin).
      const list = { items: [admin.user, (await t.createUser()).user], total: 2, page: 1, per_page: 50 };
      const body = (passwordLogin: boolean) => usersBody({ list, q: "", selfId: admin.user.id, csrfToken: "x", passwordLogin }).value;
      expect(body(true)).toContain("Force password reset");
      expect(body(false)).not.toContain("Force password reset");
    } finally {
      await t.close();
    }
  });
});
