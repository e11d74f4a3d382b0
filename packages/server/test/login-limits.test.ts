import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "@speedyfiles/test-utils/expect";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { setCookieOf, signedIn, WebClient } from "@speedyfiles/test-utils/web";

// The per-account login limit counts the account the sign-in reached, however its email was
// spelled: the sign-in form cuts the email to 254 characters and trims it, so padding with
// spaces and a varying tail reaches the same account under a new spelling every time. Wrong
// current passwords on the Account page count toward the same limit: a stolen session cannot
// try the account's password there without limit.

const login = (t: TestServer, email: string, password: string) => t.fetch("/auth/token", { method: "POST", json: { email, password, name: "api" } });

/** `email`, spaces up to 254 characters, then a tail that the form's cut drops. */
const padded = (email: string, i: number) => `${email}${" ".repeat(254 - email.length)}tail-${i}`;

describe.each(DATABASES)("the per-account login limit and the email's spelling (%s)", (kind) => {
  let t: TestServer;

  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_LOGIN_MAX_FAILURES_PER_IP: "1000", SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "10" } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("14 wrong passwords on the sign-in page with a padded email: 10 answer 401, then 429, and the right password is refused", async () => {
    const u = await t.createUser();
    const c = new WebClient(t);
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) {
      const res = await c.signIn(padded(u.user.email, i), "wrong password");
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([...Array(10).fill(401), ...Array(4).fill(429)]);

    const right = await c.signIn(u.user.email, u.password);
    expect(right.status).toBe(429);
    expect(await right.text()).toContain("Too many failed login attempts for this account");
    expect(setCookieOf(right, "sf_session")).toBeUndefined();
    // The other door is closed too.
    await expectError(await login(t, u.user.email, u.password), 429, "rate_limited");
    await expectError(await login(t, u.user.email.toUpperCase(), u.password), 429, "rate_limited");
  });

  it("failures through the API and the page under different spellings all count toward the one account", async () => {
    const u = await t.createUser();
    const c = new WebClient(t);
    const spellings = [u.user.email.toUpperCase(), ` ${u.user.email}`, padded(u.user.email, 1), u.user.email.replace(/^./, (ch) => ch.toUpperCase())];
    for (let i = 0; i < 10; i++) {
      if (i % 2) await expectError(await login(t, i % 4 === 1 ? spellings[0]! : u.user.email, "wrong password"), 401);
      else expect((await c.signIn(spellings[(i / 2) % spellings.length]!, "wrong password")).status).toBe(401);
    }
    await expectError(await login(t, u.user.email, u.password), 429, "rate_limited");
    expect((await c.signIn(u.user.email, u.password)).status).toBe(429);
  });

  it("an unknown email is limited the same way, so the answers tell an attacker nothing", async () => {
    const ghost = `ghost-${Date.now()}@example.com`;
    const c = new WebClient(t);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await c.signIn(padded(ghost, i), "whatever");
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429]);
    await expectError(await login(t, ghost, "whatever"), 429, "rate_limited");
    // Another account is not affected.
    const u = await t.createUser();
    expect((await login(t, u.user.email, u.password)).status).toBe(201);
  });

  it("12 wrong current passwords on the Account page: 10 are checked, then 429, the right one is refused, and sign-in is closed too", async () => {
    const u = await t.createUser();
    const c = await signedIn(t, u.user.email, u.password);
    const change = async (current: string) => {
      const res = await c.post("/account/password", { _csrf: await c.csrf(), current_password: current, new_password: "n3w-passw0rd", confirm_password: "n3w-passw0rd" });
      return { status: res.status, text: await res.text() };
    };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await change(`wrong guess ${i}`)).status);
    expect(statuses).toEqual([...Array(10).fill(422), 429, 429]);

    const right = await change(u.password);
    expect(right.status).toBe(429);
    expect(right.text).toContain("Too many wrong passwords for this account");
    // The password did not change, and the account's sign-in is limited as well.
    await expectError(await login(t, u.user.email, u.password), 429, "rate_limited");
    expect((await login(t, u.user.email, "n3w-passw0rd")).status).toBe(429);
    expect((await c.get("/account")).status).toBe(200);
  });

  it("failed sign-ins and wrong current passwords share the account's one count", async () => {
    const u = await t.createUser();
    const c = await signedIn(t, u.user.email, u.password);
    for (let i = 0; i < 9; i++) await expectError(await login(t, u.user.email, "wrong password"), 401);
    const wrongPage = await c.post("/account/password", { _csrf: await c.csrf(), current_password: "still wrong", new_password: "n3w-passw0rd", confirm_password: "n3w-passw0rd" });
    expect(wrongPage.status).toBe(422);
    const limited = await c.post("/account/password", { _csrf: await c.csrf(), current_password: u.password, new_password: "n3w-passw0rd", confirm_password: "n3w-passw0rd" });
    expect(limited.status).toBe(429);
  });
});
