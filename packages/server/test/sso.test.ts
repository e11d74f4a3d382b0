import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError, expectUnauthorized } from "@speedyfiles/test-utils/expect";
import { closedPort } from "@speedyfiles/test-utils/process";
import { csrfOf, setCookieOf, WebClient } from "@speedyfiles/test-utils/web";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { signInAtProvider, startTestProvider } from "./sso/provider.js";
import { callbackPath, ssoSignIn, startSso, startSsoServer, type SsoSetup } from "./sso/server.js";

// Single sign-on against a real OpenID provider (oidc-provider) on loopback, over HTTP as a
// browser does it (test/browser/sso.test.ts does the same in Chromium).

interface AuditRow {
  type: string;
  actor_user_id: string | null;
  subject_id: string | null;
  data: Record<string, unknown>;
}

async function audit(t: TestServer, type: string): Promise<AuditRow[]> {
  const rows = await t.running.services.db("audit_events").where({ type }).orderBy("created_at");
  return rows.map((r: { data: string }) => ({ ...r, data: JSON.parse(r.data) as Record<string, unknown> })) as AuditRow[];
}

async function userByEmail(t: TestServer, email: string): Promise<{ id: string; role: string; password_hash: string } | undefined> {
  return t.running.services.db("users").where({ email }).first();
}

/** A page of ours: HTML, not cached, under the page CSP. */
function expectPage(res: Response, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  expect(res.headers.get("cache-control")).toBe("no-store");
}

describe.each(DATABASES)("single sign-on (%s)", (kind) => {
  describe("creating accounts, admin groups, refusals, state, sign-out", () => {
    let sso: SsoSetup;
    let t: TestServer;
    const clock = new TestClock({ ticking: true });

    beforeAll(async () => {
      sso = await startSsoServer(kind, { clock, env: { SF_SSO_GROUPS_CLAIM: "groups", SF_SSO_ADMIN_GROUPS: "sf-admins, other admins" } });
      t = sso.t;
    });
    afterAll(async () => {
      await sso?.close();
    });

    it("shows the button beside the password form", async () => {
      const page = await (await new WebClient(t).get("/login")).text();
      expect(page).toContain('href="/login/sso"');
      expect(page).toContain("Sign in with single sign-on");
      expect(page).toContain('name="password"');
      // The button keeps where the person was going.
      expect(await (await new WebClient(t).get("/login?next=%2Fwebhooks")).text()).toContain('href="/login/sso?next=%2Fwebhooks"');
    });

    it("first sign-in creates the account (email in lower case, no password) and records it; the next finds it", async () => {
      sso.provider.accounts.set("ann", { email: "Ann.Lee@Example.COM", email_verified: true, name: "Ann Lee", groups: ["staff"] });
      const c = new WebClient(t);
      const res = await ssoSignIn(c, "ann", "/packages/new");
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/packages/new");
      expect(setCookieOf(res, "sf_session")).toMatch(/^sf_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);

      const me = await (await c.api("/me")).json();
      expect(me).toMatchObject({ email: "ann.lee@example.com", name: "Ann Lee", role: "user", disabled: false });
      const row = await userByEmail(t, "ann.lee@example.com");
      expect(row!.password_hash).toBe("!sso");
      const session = await t.running.services.db("web_sessions").where({ user_id: me.id }).first();
      expect(session.sign_in_method).toBe("sso");
      // The sign-in under way was used up.
      expect(Number((await t.running.services.db("sso_sign_ins").count({ n: "*" }).first())!.n)).toBe(0);

      const created = (await audit(t, "user.created")).filter((e) => e.subject_id === me.id);
      expect(created).toEqual([expect.objectContaining({ actor_user_id: me.id, data: { via: "sso", email: "ann.lee@example.com", role: "user" } })]);
      const signedIn = (await audit(t, "auth.signed_in")).filter((e) => e.subject_id === me.id);
      expect(signedIn).toEqual([expect.objectContaining({ actor_user_id: me.id, data: { method: "sso", session_id: session.id } })]);

      // Another browser, the same person: the same account, one more sign-in.
      const again = new WebClient(t);
      expect((await ssoSignIn(again, "ann")).headers.get("location")).toBe("/packages");
      expect((await (await again.api("/me")).json()).id).toBe(me.id);
      expect(Number((await t.running.services.db("users").where({ email: "ann.lee@example.com" }).count({ n: "*" }).first())!.n)).toBe(1);
      expect((await audit(t, "user.created")).filter((e) => e.subject_id === me.id)).toHaveLength(1);
      expect((await audit(t, "auth.signed_in")).filter((e) => e.subject_id === me.id)).toHaveLength(2);

      // The account has no password: POST /auth/token refuses every one, as for a wrong one.
      await expectUnauthorized(await t.fetch("/auth/token", { method: "POST", json: { email: "ann.lee@example.com", password: "!sso", name: "x" } }), "credentials_invalid");
      // And its Account page has no password form.
      const account = await (await c.get("/account")).text();
      expect(account).not.toContain('action="/account/password"');
      expect(account).toContain("You sign in through single sign-on");
    });

    it("matches an account made beforehand by its email, whatever its case", async () => {
      const u = await t.createUser({ email: "Dora@Example.com" });
      sso.provider.accounts.set("dora", { email: "DORA@example.COM", email_verified: true, name: "Someone Else" });
      const c = new WebClient(t);
      expect((await ssoSignIn(c, "dora")).status).toBe(303);
      const me = await (await c.api("/me")).json();
      expect(me.id).toBe(u.user.id);
      // The account's own name stays; it keeps its password too.
      expect(me.name).toBe("Dora");
      // Made by the admin (recorded then), not by this sign-in.
      expect((await audit(t, "user.created")).filter((e) => e.subject_id === u.user.id && e.data.via === "sso")).toEqual([]);
      expect((await t.fetch("/auth/token", { method: "POST", json: { email: "dora@example.com", password: u.password, name: "x" } })).status).toBe(201);
    });

    it("the groups claim makes admins at each sign-in, and leaving the group demotes (but never the last admin)", async () => {
      // The only admin there is, through the first admin group.
      sso.provider.accounts.set("solo", { email: "solo@example.com", email_verified: true, groups: ["sf-admins", "staff"] });
      const solo = new WebClient(t);
      await ssoSignIn(solo, "solo");
      expect((await (await solo.api("/me")).json()).role).toBe("admin");
      expect((await solo.api("/admin/users")).status).toBe(200);

      // Out of the group, but the last admin: stays one (no one could manage the instance otherwise).
      sso.provider.accounts.set("solo", { email: "solo@example.com", email_verified: true, groups: ["staff"] });
      await ssoSignIn(new WebClient(t), "solo");
      expect((await userByEmail(t, "solo@example.com"))!.role).toBe("admin");

      // A member of the other admin group (a name with a space) is an admin; someone in neither is a user.
      sso.provider.accounts.set("ben", { email: "ben@example.com", email_verified: true, groups: ["other admins"] });
      sso.provider.accounts.set("carl", { email: "carl@example.com", email_verified: true, groups: ["staff", "SF-ADMINS"] });
      sso.provider.accounts.set("dan", { email: "dan@example.com", email_verified: true });
      await ssoSignIn(new WebClient(t), "ben");
      await ssoSignIn(new WebClient(t), "carl");
      await ssoSignIn(new WebClient(t), "dan");
      expect((await userByEmail(t, "ben@example.com"))!.role).toBe("admin");
      // Group names are compared exactly.
      expect((await userByEmail(t, "carl@example.com"))!.role).toBe("user");
      expect((await userByEmail(t, "dan@example.com"))!.role).toBe("user");

      // Now another admin exists: solo's next sign-in demotes solo, and the old session loses admin at once.
      await ssoSignIn(new WebClient(t), "solo");
      const row = (await userByEmail(t, "solo@example.com"))!;
      expect(row.role).toBe("user");
      await expectError(await solo.api("/admin/users"), 403, "admin_required");
      const updated = (await audit(t, "user.updated")).filter((e) => e.subject_id === row.id);
      expect(updated).toEqual([expect.objectContaining({ data: { via: "sso", role: { from: "admin", to: "user" } } })]);

      // Back in the group: admin again.
      sso.provider.accounts.set("solo", { email: "solo@example.com", email_verified: true, groups: ["sf-admins"] });
      await ssoSignIn(new WebClient(t), "solo");
      expect((await userByEmail(t, "solo@example.com"))!.role).toBe("admin");
    });

    it("refuses an unverified email and a missing email claim, saying why, creating nothing, recording it", async () => {
      sso.provider.accounts.set("unverified", { email: "eve@example.com", email_verified: false });
      sso.provider.accounts.set("unverified-text", { email: "eve2@example.com", email_verified: "false" });
      sso.provider.accounts.set("no-email", { name: "No Email" });
      for (const [login, text] of [
        ["unverified", "not verified"],
        ["unverified-text", "not verified"],
        ["no-email", "did not say which email address is yours (the &quot;email&quot; claim)"],
      ] as const) {
        const c = new WebClient(t);
        const res = await ssoSignIn(c, login);
        expectPage(res, 403);
        expect(await res.text()).toContain(text);
        expect(setCookieOf(res, "sf_session")).toBeUndefined();
      }
      expect(await userByEmail(t, "eve@example.com")).toBeUndefined();
      expect(await userByEmail(t, "eve2@example.com")).toBeUndefined();
      const failed = await audit(t, "auth.sign_in_failed");
      expect(failed.map((e) => e.data.reason)).toEqual(expect.arrayContaining(["email_unverified", "email_missing"]));
      expect(failed.find((e) => e.data.email === "eve@example.com")).toMatchObject({ actor_user_id: null, data: { method: "sso", reason: "email_unverified" } });
    });

    it("refuses a disabled account", async () => {
      const admin = await t.createUser({ role: "admin" });
      const u = await t.createUser({ email: "frank@example.com" });
      sso.provider.accounts.set("frank", { email: "frank@example.com", email_verified: true });
      expect((await t.fetch(`/admin/users/${u.user.id}`, { method: "PATCH", token: admin.token, json: { disabled: true } })).status).toBe(200);
      const res = await ssoSignIn(new WebClient(t), "frank");
      expectPage(res, 403);
      expect(await res.text()).toContain("Your account here is disabled");
      expect(setCookieOf(res, "sf_session")).toBeUndefined();
      expect((await audit(t, "auth.sign_in_failed")).filter((e) => e.subject_id === u.user.id)).toEqual([
        expect.objectContaining({ data: { method: "sso", reason: "account_disabled", email: "frank@example.com" } }),
      ]);
    });

    it("refuses a callback whose state was changed, that is replayed, carried to another browser or too late", async () => {
      sso.provider.accounts.set("gus", { email: "gus@example.com", email_verified: true });
      const unknown = "This sign-in could not be finished";

      // State changed: refused; the real one still works once, and never again.
      const c = new WebClient(t);
      const back = await signInAtProvider(await startSso(c), "gus");
      const tampered = new URL(back);
      tampered.searchParams.set("state", crypto.randomBytes(32).toString("base64url"));
      let res = await c.get(callbackPath(tampered));
      expectPage(res, 400);
      expect(await res.text()).toContain(unknown);
      expect(setCookieOf(res, "sf_session")).toBeUndefined();
      expect((await c.get(callbackPath(back))).status).toBe(303);
      res = await c.get(callbackPath(back));
      expectPage(res, 400);

      // Carried to another browser (login CSRF: an attacker's callback in a victim's browser): refused,
      // and used up, so the browser that started it cannot finish it either.
      const starter = new WebClient(t);
      const leaked = await signInAtProvider(await startSso(starter), "gus");
      const victim = new WebClient(t);
      res = await victim.get(callbackPath(leaked));
      expectPage(res, 400);
      expect(setCookieOf(res, "sf_session")).toBeUndefined();
      expect((await victim.api("/me")).status).toBe(401);
      expect((await starter.get(callbackPath(leaked))).status).toBe(400);

      // Too late: the server's clock passed the ten minutes while the browser was at the provider.
      const slow = new WebClient(t);
      const late = await signInAtProvider(await startSso(slow), "gus");
      clock.advance(11 * 60_000);
      expectPage(await slow.get(callbackPath(late)), 400);

      // Sign-ins started and never finished are swept once they expired; one under way is kept.
      await startSso(new WebClient(t));
      clock.advance(11 * 60_000);
      const fresh = await startSso(new WebClient(t));
      await sweepOnce(t.running.services);
      const left = await t.running.services.db("sso_sign_ins").select("state_hash");
      expect(left.map((r: { state_hash: string }) => r.state_hash)).toEqual([crypto.createHash("sha256").update(new URL(fresh).searchParams.get("state")!).digest("hex")]);

      // Nothing or nonsense.
      for (const q of ["", "?state=", "?code=abc", `?state=${"x".repeat(5000)}&code=1`, "?state=%E0%A4%A&code=%ZZ", "?state[]=a&state[]=b"]) {
        const r = await c.get(`/login/sso/callback${q}`);
        expectPage(r, 400);
        expect(await r.text()).toContain(unknown);
      }
    });

    it("shows the provider's refusal as text (escaped) and a code the provider will not exchange as a clear page; both recorded", async () => {
      const c = new WebClient(t);
      const state = new URL(await startSso(c)).searchParams.get("state")!;
      const description = '<script>alert("x")</script> The user said no';
      let res = await c.get(`/login/sso/callback?${new URLSearchParams({ error: "access_denied", error_description: description, state })}`);
      expectPage(res, 403);
      const page = await res.text();
      expect(page).toContain("The identity provider did not sign you in (access_denied: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; The user said no).");
      expect(page).not.toContain("<script>alert");

      // A valid state with a code the provider never issued: its token endpoint answers invalid_grant.
      const state2 = new URL(await startSso(c)).searchParams.get("state")!;
      res = await c.get(`/login/sso/callback?${new URLSearchParams({ code: "made-up", state: state2, iss: sso.provider.issuer })}`);
      expectPage(res, 502);
      expect(await res.text()).toContain("answer could not be verified");
      const failed = await audit(t, "auth.sign_in_failed");
      expect(failed.map((e) => e.data)).toEqual(
        expect.arrayContaining([
          { method: "sso", reason: "provider_error", error: "access_denied" },
          { method: "sso", reason: "provider_answer_invalid", error: "invalid_grant" },
        ]),
      );
    });

    it("signing out ends the local session (the provider's is left alone by default)", async () => {
      sso.provider.accounts.set("hal", { email: "hal@example.com", email_verified: true });
      const c = new WebClient(t);
      await ssoSignIn(c, "hal");
      const secret = c.jar.cookies.get("sf_session")!;
      const res = await c.post("/logout", { _csrf: csrfOf(await (await c.get("/account")).text()) });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/login?notice=signed_out");
      // The old cookie is worthless everywhere now.
      const replay = await fetch(`${t.api}/me`, { headers: { Cookie: `sf_session=${secret}` } });
      await expectUnauthorized(replay, "session_invalid");
      const row = await t.running.services
        .db("web_sessions")
        .where({ secret_hash: crypto.createHash("sha256").update(secret).digest("hex") })
        .first();
      expect(row.revoked_at).not.toBeNull();
    });
  });

  describe("pre-created accounts only, password sign-in off, sign-out at the provider too", () => {
    let sso: SsoSetup;
    let t: TestServer;

    beforeAll(async () => {
      sso = await startSsoServer(kind, {
        claimsInIdToken: true,
        env: { SF_SSO_CREATE_USERS: "false", SF_PASSWORD_LOGIN: "false", SF_SSO_SIGN_OUT: "provider", SF_SSO_BUTTON_LABEL: "Sign in with Acme <ID>" },
      });
      t = sso.t;
    });
    afterAll(async () => {
      await sso?.close();
    });

    it("SF_SSO_CREATE_USERS=false refuses an unknown email and admits an account made beforehand", async () => {
      sso.provider.accounts.set("stranger", { email: "stranger@example.com", email_verified: true });
      const res = await ssoSignIn(new WebClient(t), "stranger");
      expectPage(res, 403);
      expect(await res.text()).toContain("There is no account for stranger@example.com here");
      expect(await userByEmail(t, "stranger@example.com")).toBeUndefined();
      expect((await audit(t, "auth.sign_in_failed")).map((e) => e.data)).toContainEqual({ method: "sso", reason: "no_account", email: "stranger@example.com" });

      const u = await t.createUser({ email: "known@example.com" });
      sso.provider.accounts.set("known", { email: "Known@Example.com", email_verified: true });
      const c = new WebClient(t);
      expect((await ssoSignIn(c, "known")).status).toBe(303);
      expect((await (await c.api("/me")).json()).id).toBe(u.user.id);
    });

    it("password sign-in off: the page shows only the button, the form and POST /auth/token are refused", async () => {
      const u = await t.createUser({ email: "pw@example.com" });
      const c = new WebClient(t);
      const page = await (await c.get("/login")).text();
      expect(page).not.toContain('name="password"');
      expect(page).not.toContain('action="/login"');
      expect(page).toContain("Sign in with Acme &lt;ID&gt;");
      expect(page).toContain('href="/login/sso"');

      // The form posted all the same (with its CSRF cookie and token): refused, no session.
      const form = await c.post("/login", { _csrf: c.jar.cookies.get("sf_login_csrf") ?? "", email: u.user.email, password: u.password });
      expectPage(form, 403);
      expect(await form.text()).toContain("Password sign-in is turned off");
      expect(setCookieOf(form, "sf_session")).toBeUndefined();

      const api = await expectError(
        await t.fetch("/auth/token", { method: "POST", json: { email: u.user.email, password: u.password, name: "sf" } }),
        403,
        "password_login_disabled",
      );
      expect(api.detail).toContain("Account → API tokens");
      // A wrong password is refused the same way: nothing tells whether it was right.
      await expectError(await t.fetch("/auth/token", { method: "POST", json: { email: u.user.email, password: "wrong-password", name: "sf" } }), 403, "password_login_disabled");

      // Signed in through the provider, the account has no password form, and a posted one is refused.
      sso.provider.accounts.set("pw", { email: "pw@example.com", email_verified: true });
      await ssoSignIn(c, "pw");
      const account = await (await c.get("/account")).text();
      expect(account).not.toContain('action="/account/password"');
      const change = await c.post("/account/password", {
        _csrf: csrfOf(account),
        current_password: u.password,
        new_password: "another-password",
        confirm_password: "another-password",
      });
      expectPage(change, 403);
      // Tokens are how programs get in: the tokens page still makes them.
      expect((await c.get("/account/tokens")).status).toBe(200);
    });

    it("signing out of an SSO session goes on to the provider's end_session_endpoint", async () => {
      sso.provider.accounts.set("ivy", { email: "ivy@example.com", email_verified: true });
      await t.createUser({ email: "ivy@example.com" });
      const c = new WebClient(t);
      await ssoSignIn(c, "ivy");
      const res = await c.post("/logout", { _csrf: csrfOf(await (await c.get("/account")).text()) });
      expectPage(res, 200);
      const page = await res.text();
      const discovery = await (await fetch(`${sso.provider.issuer}/.well-known/openid-configuration`)).json();
      const m = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(page);
      const url = new URL(m![1]!.replace(/&amp;/g, "&"));
      expect(`${url.origin}${url.pathname}`).toBe(discovery.end_session_endpoint);
      expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: sso.provider.clientId, post_logout_redirect_uri: `${sso.publicUrl}/login` });
      expect((await c.api("/me")).status).toBe(401);
      // The provider takes it (its sign-out confirmation page).
      expect((await fetch(url)).status).toBe(200);
    });
  });

  it("a provider that is down does not stop the server: the sign-in page works and the button answers a clear page until the provider is back (and is rate-limited)", async () => {
    const port = await closedPort();
    const t = await startTestServer(kind, { env: { SF_SSO_ISSUER: `http://127.0.0.1:${port}`, SF_SSO_CLIENT_ID: "speedyfiles", SF_SSO_CLIENT_SECRET: "s3cret-value" } });
    try {
      const c = new WebClient(t);
      expectPage(await c.get("/login"), 200);
      const res = await c.get("/login/sso");
      expectPage(res, 502);
      const page = await res.text();
      expect(page).toContain("The identity provider cannot be reached right now");
      expect(page).not.toContain("s3cret-value");
      expect(setCookieOf(res, "sf_sso")).toBeUndefined();
      expect(Number((await t.running.services.db("sso_sign_ins").count({ n: "*" }).first())!.n)).toBe(0);

      // The provider comes back: the next click finds it (a failed discovery is not kept).
      const provider = await startTestProvider("http://localhost:8080", { port });
      try {
        const back = await c.get("/login/sso");
        expect(back.status).toBe(303);
        expect(back.headers.get("location")).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/auth\\?`));
      } finally {
        await provider.close();
      }

      // Starting sign-ins is limited per address (each one is a row while it is under way).
      for (let i = 2; i < 200; i++) expect([303, 502]).toContain((await c.get("/login/sso")).status);
      const limited = await c.get("/login/sso");
      expectPage(limited, 429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await limited.text()).toContain("Too many sign-ins were started from this address");
    } finally {
      await t.close();
    }
  });

  it("without single sign-on set up, its addresses are the 404 page and the sign-in page has no button", async () => {
    const t = await startTestServer(kind);
    try {
      const c = new WebClient(t);
      expect(await (await c.get("/login")).text()).not.toContain("/login/sso");
      expectPage(await c.get("/login/sso"), 404);
      expectPage(await c.get("/login/sso/callback?state=x&code=y"), 404);
    } finally {
      await t.close();
    }
  });
});
