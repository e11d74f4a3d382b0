import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { sf } from "./helpers.js";

const mailTo = (to: string) => (m: ReceivedMail) => m.envelope.to.includes(to);

describe.each(DATABASES)("sf admin users reset-password and sf password forgot (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let admin: Awaited<ReturnType<TestServer["createUser"]>>;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_MAIL_POLL_MS: "50" } });
    admin = await t.createUser({ role: "admin" });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  const login = (email: string, password: string) => t.fetch("/auth/token", { method: "POST", json: { email, password, name: "test" } });

  it("forces a reset by email or id; --revoke-tokens revokes the tokens too", async () => {
    const env = { SF_URL: t.url, SF_TOKEN: admin.token };
    const u = await t.createUser();
    const byEmail = await sf(["admin", "users", "reset-password", u.user.email.toUpperCase()], { env });
    expect(byEmail.code, byEmail.stderr).toBe(0);
    expect(byEmail.stdout).toBe("");
    expect(byEmail.stderr).toContain(`The password of ${u.user.email} no longer works`);
    expect((await login(u.user.email, u.password)).status).toBe(401);
    expect((await t.fetch("/me", { token: u.token })).status).toBe(200);
    await smtp.waitForMail(mailTo(u.user.email));

    const byId = await sf(["admin", "users", "reset-password", u.user.id, "--revoke-tokens", "--json"], { env });
    expect(byId.code, byId.stderr).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({ id: u.user.id, detail: expect.stringContaining("API tokens revoked") });
    expect((await t.fetch("/me", { token: u.token })).status).toBe(401);
  });

  it("says what is wrong: unknown user (4), not an admin (3), oneself (5), not a user (2)", async () => {
    const env = { SF_URL: t.url, SF_TOKEN: admin.token };
    const unknown = await sf(["admin", "users", "reset-password", "nobody@example.com"], { env });
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain("no user has the email nobody@example.com");
    expect((await sf(["admin", "users", "reset-password", "00000000-0000-4000-8000-000000000000"], { env })).code).toBe(4);
    expect((await sf(["admin", "users", "reset-password", "bob"], { env })).code).toBe(2);
    const self = await sf(["admin", "users", "reset-password", admin.user.email], { env });
    expect(self.code).toBe(5);
    expect(self.stderr).toContain("You cannot force a reset of your own password");
    const plain = await t.createUser();
    const refused = await sf(["admin", "users", "reset-password", admin.user.id], { env: { SF_URL: t.url, SF_TOKEN: plain.token } });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/admin/i);
    expect((await login(admin.user.email, admin.password)).status).toBe(201);
  });

  it("sf password forgot <email> needs no token and answers the same for any address", async () => {
    const u = await t.createUser();
    const known = await sf(["password", "forgot", u.user.email], { env: { SF_URL: t.url } });
    expect(known.code, known.stderr).toBe(0);
    expect(known.stderr).toContain(`If ${u.user.email} has an account, a link to choose a new password is on its way.`);
    const mail = await smtp.waitForMail(mailTo(u.user.email));
    expect(mail.parsed.text).toContain("/reset-password#token=sfr_");
    const unknown = await sf(["password", "forgot", "nobody-at-all@example.com"], { env: { SF_URL: t.url } });
    expect(unknown.code).toBe(0);
    expect(unknown.stderr).toContain("If nobody-at-all@example.com has an account");
    expect((await sf(["password", "forgot", "not-an-email"], { env: { SF_URL: t.url } })).code).toBe(2);
  });
});
