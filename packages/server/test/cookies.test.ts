// Every cookie the server sets lives by Max-Age (counted by the browser from receipt), never by an
// Expires date from the server's clock: a server and a browser that disagree about the date must
// still agree on sessions and link cookies. Whether they are valid stays the server's decision.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { shareFiles } from "@speedyfiles/test-utils/links";
import { setCookieOf, WebClient } from "@speedyfiles/test-utils/web";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

const YEAR = 365 * 86_400_000;
/** `name=value; Max-Age=N; Path=…; HttpOnly; SameSite=Lax` and nothing else. */
const cookieLine = (name: string, maxAge: number | string, path: string) =>
  new RegExp(`^${name}=[A-Za-z0-9._-]+; Max-Age=${maxAge}; Path=${path.replace(/[/.]/g, "\\$&")}; HttpOnly; SameSite=Lax$`);

describe.each(DATABASES)("cookies by Max-Age, whatever the server's clock says (%s)", (kind) => {
  for (const [label, skew] of [
    ["a year ahead of", YEAR],
    ["a year behind", -YEAR],
  ] as const) {
    describe(`the server's clock ${label} the client's`, () => {
      let t: TestServer;
      let alice: User;
      beforeAll(async () => {
        t = await startTestServer(kind, { clock: new TestClock({ at: Date.now() + skew }) });
        alice = await t.createUser();
      });
      afterAll(async () => {
        await t?.close();
      });

      it("the sign-in form's CSRF cookie and the session cookie carry Max-Age, no Expires; the session works", async () => {
        const c = new WebClient(t);
        const form = await c.get("/login");
        expect(setCookieOf(form, "sf_login_csrf")).toMatch(cookieLine("sf_login_csrf", 86400, "/login"));
        const res = await c.signIn(alice.user.email, alice.password);
        expect(res.status).toBe(303);
        // SF_SESSION_MAX_HOURS is 168 by default.
        expect(setCookieOf(res, "sf_session")).toMatch(cookieLine("sf_session", 168 * 3600, "/"));
        // The jar keeps real time, as a browser does: the cookie is still there, and it works.
        const page = await c.get("/packages");
        expect(page.status).toBe(200);
        expect(await page.text()).toContain(alice.user.email);

        const out = await c.post("/logout", { _csrf: await c.csrf() });
        expect(out.status).toBe(303);
        expect(setCookieOf(out, "sf_session")).toBe("sf_session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; SameSite=Lax");
        expect(c.jar.cookies.has("sf_session")).toBe(false);
      });

      it("the server's clock still ends the session, though the browser would keep the cookie", async () => {
        const c = new WebClient(t);
        expect((await c.signIn(alice.user.email, alice.password)).status).toBe(303);
        expect((await c.get("/packages")).status).toBe(200);
        t.clock.advance(169 * 3_600_000);
        const after = await c.get("/packages");
        expect(after.status).toBe(303);
        expect(after.headers.get("location")).toMatch(/^\/login/);
        expect(setCookieOf(after, "sf_session")).toMatch(/^sf_session=; Max-Age=0;/);
      });

      it("a link's password cookie carries Max-Age, no Expires, and opens the link in the client's time", async () => {
        const s = await shareFiles(t, alice.token, [["a.txt", "alpha"]], { password: "open sesame 42" });
        const c = new WebClient(t);
        const ok = await c.post(`/l/${s.secret}`, { password: "open sesame 42" });
        expect(ok.status).toBe(303);
        const lines = ok.headers.getSetCookie();
        expect(lines).toHaveLength(2);
        for (const [i, path] of [`/l/${s.secret}`, `/api/v1/links/${s.secret}`].entries()) {
          expect(lines[i]).toMatch(cookieLine("sf_link", 12 * 3600, path));
        }
        const page = await c.get(`/l/${s.secret}`);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain("a.txt");
      });
    });
  }
});
