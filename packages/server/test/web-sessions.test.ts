import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { expectError } from "@speedyfiles/test-utils/expect";
import { createPackage, sha256, uploadFile } from "@speedyfiles/test-utils/uploads";
import { csrfOf, setCookieOf, signedIn, WebClient } from "@speedyfiles/test-utils/web";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

const login = (t: TestServer, email: string, password: string) => t.fetch("/auth/token", { method: "POST", json: { email, password, name: "api" } });

describe.each(DATABASES)("web sessions, CSRF and the API with a session (%s)", (kind) => {
  let t: TestServer;
  let alice: User;
  let admin: User;

  beforeAll(async () => {
    // Failures per address high (the tests all come from 127.0.0.1), per account low: the shared
    // limit is checked per account here and per address in its own server below.
    t = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_IP: "1000", SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "3" } });
    [alice, admin] = await Promise.all([t.createUser(), t.createUser({ role: "admin" })]);
  });
  afterAll(async () => {
    await t?.close();
  });

  describe("signing in and out", () => {
    it("sets an HttpOnly, SameSite=Lax session cookie and stores only the SHA-256 of its secret", async () => {
      const c = new WebClient(t);
      const res = await c.signIn(alice.user.email, alice.password);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/packages");
      const cookie = setCookieOf(res, "sf_session")!;
      expect(cookie).toMatch(/^sf_session=[A-Za-z0-9_-]{43}; Max-Age=604800; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(cookie).not.toMatch(/Secure/);
      const secret = c.jar.cookies.get("sf_session")!;

      const rows = await t.running.services.db("web_sessions").where({ user_id: alice.user.id });
      const row = rows.find((r: { secret_hash: string }) => r.secret_hash === sha256(secret));
      expect(row).toBeDefined();
      expect(JSON.stringify(rows)).not.toContain(secret);
      // Absolute expiry: SF_SESSION_MAX_HOURS (168) after sign-in; the cookie says the same.
      expect(Date.parse(row.expires_at) - Date.parse(row.created_at)).toBe(168 * 3_600_000);

      const page = await c.get("/packages");
      expect(page.status).toBe(200);
      expect(page.headers.get("cache-control")).toBe("no-store");
      expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(await page.text()).toContain(alice.user.email);
    });

    it("marks the cookie Secure when SF_PUBLIC_URL is https", async () => {
      const https = await startTestServer(kind, { env: { SF_PUBLIC_URL: "https://files.example.test" } });
      try {
        const u = await https.createUser();
        const c = new WebClient(https);
        const res = await c.signIn(u.user.email, u.password);
        expect(res.status).toBe(303);
        expect(setCookieOf(res, "sf_session")).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
      } finally {
        await https.close();
      }
    });

    it("answers a wrong password with the form again (401) and sets no session", async () => {
      const c = new WebClient(t);
      const u = await t.createUser();
      const res = await c.signIn(u.user.email, "wrong password");
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      const page = await res.text();
      expect(page).toContain("Wrong email or password.");
      expect(page).toContain(`value="${u.user.email}"`);
      expect(setCookieOf(res, "sf_session")).toBeUndefined();
    });

    it("returns to where the visitor was going, but only to a relative path on this server", async () => {
      const target = "/packages?status=active&q=x";
      const anon = new WebClient(t);
      const first = await anon.get(target);
      expect(first.status).toBe(303);
      expect(first.headers.get("location")).toBe(`/login?next=${encodeURIComponent(target)}`);
      expect((await new WebClient(t).signIn(alice.user.email, alice.password, target)).headers.get("location")).toBe(target);

      const evils = ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/login", " /packages", "/%0d%0aX: y"];
      // Dot segments that collapse into `//host` once the path is normalised.
      evils.push("/.//evil.example", "/a/..//evil.example", "/%2e//evil.example", "/%2e%2e//evil.example/x");
      for (const evil of evils) {
        const res = await new WebClient(t).signIn(alice.user.email, alice.password, evil);
        expect({ evil, status: res.status, location: res.headers.get("location") }).toMatchObject({ evil, status: 303 });
        const location = res.headers.get("location")!;
        expect(location.startsWith("/") && !location.startsWith("//") && !location.includes("\\")).toBe(true);
        expect(new URL(location, t.url).origin).toBe(new URL(t.url).origin);
      }
    });

    it("sends a signed-out visitor to the sign-in page, and a signed-in one from / to their packages", async () => {
      const anon = new WebClient(t);
      for (const path of ["/packages", "/packages/new", "/account", "/account/tokens", "/webhooks", "/admin/users"]) {
        const res = await anon.get(path);
        expect({ path, status: res.status, location: res.headers.get("location") }).toEqual({
          path,
          status: 303,
          location: `/login?next=${encodeURIComponent(path)}`,
        });
      }
      expect((await anon.get("/")).headers.get("location")).toBe("/login");
      const c = await signedIn(t, alice.user.email, alice.password);
      expect((await c.get("/")).headers.get("location")).toBe("/packages");
      expect((await c.get("/login")).headers.get("location")).toBe("/packages");
    });

    it("sign out revokes the session in the database: the old cookie opens nothing", async () => {
      const c = await signedIn(t, alice.user.email, alice.password);
      const secret = c.jar.cookies.get("sf_session")!;
      const out = await c.post("/logout", { _csrf: await c.csrf() });
      expect(out.status).toBe(303);
      expect(out.headers.get("location")).toBe("/login?notice=signed_out");
      expect(setCookieOf(out, "sf_session")).toMatch(/^sf_session=;.*Expires=Thu, 01 Jan 1970/);
      const row = await t.running.services
        .db("web_sessions")
        .where({ secret_hash: sha256(secret) })
        .first();
      expect(row.revoked_at).toEqual(expect.any(String));

      // Someone who kept the cookie (a copy of it) gets nowhere.
      const stolen = { Cookie: `sf_session=${secret}` };
      const page = await fetch(`${t.url}/packages`, { redirect: "manual", headers: stolen });
      expect(page.status).toBe(303);
      expect(page.headers.get("location")).toBe("/login?next=%2Fpackages&notice=session_ended");
      await expectError(await fetch(`${t.api}/me`, { headers: stolen }), 401, "session_invalid");
    });

    it("ends a session after SF_SESSION_IDLE_MINUTES without a request, and SF_SESSION_MAX_HOURS after sign-in however busy", async () => {
      const idle = await signedIn(t, alice.user.email, alice.password);
      t.clock.advance(719 * 60_000);
      expect((await idle.get("/packages")).status).toBe(200); // 719 minutes idle: still fine, and now touched
      t.clock.advance(719 * 60_000);
      expect((await idle.get("/packages")).status).toBe(200);
      t.clock.advance(721 * 60_000);
      const ended = await idle.get("/packages");
      expect(ended.status).toBe(303);
      // The sign-in page says why.
      expect(ended.headers.get("location")).toBe("/login?next=%2Fpackages&notice=session_ended");
      expect(await (await idle.get(ended.headers.get("location")!)).text()).toContain("Your session ended. Sign in again.");
      const busy = await signedIn(t, alice.user.email, alice.password);
      const busyCookie = { Cookie: busy.jar.header() };
      for (let i = 0; i < 16; i++) {
        t.clock.advance(10 * 3_600_000);
        expect((await busy.get("/packages")).status).toBe(200);
      }
      t.clock.advance(7 * 3_600_000); // 167 hours
      expect((await busy.get("/packages")).status).toBe(200);
      t.clock.advance(2 * 3_600_000); // 169 hours
      expect((await busy.get("/packages")).status).toBe(303);
      await expectError(await fetch(`${t.api}/me`, { headers: busyCookie }), 401, "session_invalid");
    });

    it("a changed password signs out the user's other sessions, keeps this one and the API tokens", async () => {
      const u = await t.createUser();
      const here = await signedIn(t, u.user.email, u.password);
      const elsewhere = await signedIn(t, u.user.email, u.password);
      const wrong = await here.post("/account/password", { _csrf: await here.csrf(), current_password: "not it", new_password: "n3w-passw0rd", confirm_password: "n3w-passw0rd" });
      expect(wrong.status).toBe(422);
      expect(await wrong.text()).toContain("The current password is wrong.");
      expect((await elsewhere.get("/account")).status).toBe(200);

      const res = await here.post("/account/password", { _csrf: await here.csrf(), current_password: u.password, new_password: "n3w-passw0rd", confirm_password: "n3w-passw0rd" });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/account?notice=password_changed");
      expect((await here.get("/account")).status).toBe(200);
      expect((await elsewhere.get("/account")).status).toBe(303);
      expect((await t.fetch("/me", { token: u.token })).status).toBe(200);
      expect((await new WebClient(t).signIn(u.user.email, u.password)).status).toBe(401);
      expect((await new WebClient(t).signIn(u.user.email, "n3w-passw0rd")).status).toBe(303);
    });

    it("a disabled user's sessions end at once", async () => {
      const u = await t.createUser();
      const c = await signedIn(t, u.user.email, u.password);
      expect((await t.fetch(`/admin/users/${u.user.id}`, { method: "PATCH", token: admin.token, json: { disabled: true } })).status).toBe(200);
      expect((await c.get("/packages")).status).toBe(303);
      await t.fetch(`/admin/users/${u.user.id}`, { method: "PATCH", token: admin.token, json: { disabled: false } });
      // Re-enabling does not bring the old session back.
      expect((await c.get("/packages")).status).toBe(303);
    });
  });

  describe("CSRF", () => {
    it("refuses a form posted without its token, or with another session's (403 page, nothing done)", async () => {
      const c = await signedIn(t, alice.user.email, alice.password);
      const other = await signedIn(t, admin.user.email, admin.password);
      const before = ((await (await t.fetch("/me/tokens", { token: alice.token })).json()) as unknown[]).length;
      const forms: Record<string, string>[] = [{ name: "x" }, { name: "x", _csrf: "" }, { name: "x", _csrf: await other.csrf() }, { name: "x", _csrf: `${await c.csrf()}x` }];
      for (const form of forms) {
        const res = await c.post("/account/tokens", form);
        expect(res.status).toBe(403);
        expect(res.headers.get("content-type")).toMatch(/^text\/html/);
        expect(await res.text()).toContain("This form cannot be sent");
      }
      // A form sent from another site is refused even with the right token.
      const cross = await c.post("/account/tokens", { name: "x", _csrf: await c.csrf() }, { "Sec-Fetch-Site": "cross-site" });
      expect(cross.status).toBe(403);
      expect(((await (await t.fetch("/me/tokens", { token: alice.token })).json()) as unknown[]).length).toBe(before);
      // The sign-out form too: without the token the session stays.
      expect((await c.post("/logout", {})).status).toBe(403);
      expect((await c.get("/packages")).status).toBe(200);
      // With it, it works.
      expect((await c.post("/account/tokens", { name: "x", _csrf: await c.csrf() })).status).toBe(303);
    });

    it("refuses a sign-in form without its own double-submitted token", async () => {
      const c = new WebClient(t);
      const page = await (await c.get("/login")).text();
      const token = csrfOf(page);
      const noCookie = await fetch(`${t.url}/login`, {
        method: "POST",
        redirect: "manual",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _csrf: token, email: alice.user.email, password: alice.password }),
      });
      expect(noCookie.status).toBe(403);
      expect(setCookieOf(noCookie, "sf_session")).toBeUndefined();
      expect((await c.post("/login", { email: alice.user.email, password: alice.password })).status).toBe(403);
    });
  });

  describe("the API with the session cookie", () => {
    it("reads with the cookie alone; changes need X-CSRF-Token (403 csrf_failed without)", async () => {
      const c = await signedIn(t, alice.user.email, alice.password);
      const me = await c.api("/me");
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ id: alice.user.id });

      await expectError(await c.api("/me/tokens", { method: "POST", json: { name: "no csrf" } }), 403, "csrf_failed");
      await expectError(await c.api("/me/tokens", { method: "POST", json: { name: "bad" }, headers: { "X-CSRF-Token": "nope" } }), 403, "csrf_failed");
      const csrf = await c.csrf();
      const ok = await c.api("/me/tokens", { method: "POST", json: { name: "with csrf" }, headers: { "X-CSRF-Token": csrf } });
      expect(ok.status).toBe(201);
      // CSRF is checked before the body: a broken body without the token is 403, not 422.
      await expectError(await c.api("/packages", { method: "POST", body: "{broken", headers: { "Content-Type": "application/json" } }), 403, "csrf_failed");
      // From another site, even with the token: refused.
      await expectError(await c.api("/me/tokens", { method: "POST", json: { name: "x" }, headers: { "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site" } }), 403, "csrf_failed");
      await expectError(await c.api("/me/tokens", { method: "POST", json: { name: "x" }, headers: { "X-CSRF-Token": csrf, Origin: "https://evil.example" } }), 403, "csrf_failed");
    });

    it("uploads with the cookie and the CSRF header; without the header nothing is stored", async () => {
      const c = await signedIn(t, alice.user.email, alice.password);
      const pkg = await createPackage(t, alice.token);
      const form = () => {
        const f = new FormData();
        f.append("file", new Blob([new Uint8Array(Buffer.from("from the browser"))]), "page.txt");
        return f;
      };
      await expectError(await c.api(`/packages/${pkg.id}/files`, { method: "POST", body: form() }), 403, "csrf_failed");
      expect((await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json()).files).toEqual([]);
      const res = await c.api(`/packages/${pkg.id}/files`, { method: "POST", body: form(), headers: { "X-CSRF-Token": await c.csrf() } });
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ name: "page.txt", sha256: sha256("from the browser") });
    });

    it("leaves bearer-token requests as they were: judged by the token alone, no CSRF header needed", async () => {
      const c = await signedIn(t, alice.user.email, alice.password);
      const both = await fetch(`${t.api}/me/tokens`, {
        method: "POST",
        headers: { Authorization: `Bearer ${alice.token}`, Cookie: c.jar.header(), "Content-Type": "application/json" },
        body: JSON.stringify({ name: "bearer" }),
      });
      expect(both.status).toBe(201);
      // A bad token is 401 even with a good cookie beside it.
      const bad = await fetch(`${t.api}/me`, { headers: { Authorization: `Bearer sf_${"A".repeat(43)}`, Cookie: c.jar.header() } });
      await expectError(bad, 401, "token_invalid");
      const upload = await uploadFile(t, alice.token, (await createPackage(t, alice.token)).id, "b.txt", "bearer");
      expect(upload.status).toBe(201);
    });

    it("a garbage or unknown session cookie is 401 session_invalid", async () => {
      for (const value of ["x", "A".repeat(43), crypto.randomBytes(32).toString("base64url")]) {
        await expectError(await fetch(`${t.api}/me`, { headers: { Cookie: `sf_session=${value}` } }), 401, "session_invalid");
      }
    });
  });

  describe("who sees what", () => {
    it("a user opening another user's package gets the 403 page; unknown and malformed ids the 404 page", async () => {
      const bob = await t.createUser();
      const bobs = await createPackage(t, bob.token, { title: "Bob's secret" });
      const c = await signedIn(t, alice.user.email, alice.password);
      const res = await c.get(`/packages/${bobs.id}`);
      expect(res.status).toBe(403);
      const page = await res.text();
      expect(page).toContain("You cannot open this page");
      expect(page).not.toContain("Bob&#39;s secret");
      expect(page).not.toContain(bob.user.email);
      for (const action of ["revoke", "delete", "finalize"]) {
        expect((await c.post(`/packages/${bobs.id}/${action}`, { _csrf: await c.csrf() })).status).toBe(403);
      }
      expect((await t.fetch(`/packages/${bobs.id}`, { token: bob.token })).status).toBe(200);
      expect((await c.get(`/packages/${crypto.randomUUID()}`)).status).toBe(404);
      expect((await c.get("/packages/not-a-uuid")).status).toBe(404);
      expect((await c.get("/packages/x/y/z")).status).toBe(404);
      // Alice's list does not show Bob's package.
      expect(await (await c.get("/packages")).text()).not.toContain("Bob&#39;s secret");
    });

    it("a user gets the 403 page for admin pages and their forms; an admin gets them", async () => {
      const c = await signedIn(t, alice.user.email, alice.password);
      const res = await c.get("/admin/users");
      expect(res.status).toBe(403);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(await res.text()).toContain("This page is for administrators only.");
      const create = await c.post("/admin/users", { _csrf: await c.csrf(), email: "sneaky@example.com", name: "x", password: "12345678", role: "admin" });
      expect(create.status).toBe(403);
      expect((await c.post(`/admin/users/${alice.user.id}/role`, { _csrf: await c.csrf(), role: "admin" })).status).toBe(403);
      expect(await (await t.fetch("/me", { token: alice.token })).json()).toMatchObject({ role: "user" });

      const a = await signedIn(t, admin.user.email, admin.password);
      const page = await a.get("/admin/users");
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(alice.user.email);
    });
  });

  describe("one login rate limit for the sign-in page and POST /auth/token", () => {
    it("failures per account count together: page, API, page, then 429 on the API and on the page", async () => {
      const u = await t.createUser();
      const page = new WebClient(t);
      expect((await page.signIn(u.user.email, "wrong-1")).status).toBe(401);
      expect((await login(t, u.user.email, "wrong-2")).status).toBe(401);
      expect((await page.signIn(u.user.email.toUpperCase(), "wrong-3")).status).toBe(401);
      // Three failures (limit 3): even the right password is refused now, in either place.
      const api = await login(t, u.user.email, u.password);
      await expectError(api, 429, "rate_limited");
      expect(api.headers.get("retry-after")).toMatch(/^\d+$/);
      const limited = await page.signIn(u.user.email, u.password);
      expect(limited.status).toBe(429);
      expect(limited.headers.get("content-type")).toMatch(/^text\/html/);
      expect(await limited.text()).toContain("Too many failed login attempts for this account");
      expect(setCookieOf(limited, "sf_session")).toBeUndefined();
    });

    it("failures per address count together too", async () => {
      const small = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_IP: "3" } });
      try {
        const u = await small.createUser();
        expect((await login(small, "nobody@example.com", "x")).status).toBe(401);
        expect((await new WebClient(small).signIn("someone@example.com", "x")).status).toBe(401);
        expect((await login(small, "another@example.com", "x")).status).toBe(401);
        const page = await new WebClient(small).signIn(u.user.email, u.password);
        expect(page.status).toBe(429);
        expect(await page.text()).toContain("Too many failed login attempts from this address");
        await expectError(await login(small, u.user.email, u.password), 429, "rate_limited");
      } finally {
        await small.close();
      }
    });
  });
});
