import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { AuthenticationError, NotFoundError, PermissionError, SpeedyFiles, ValidationError } from "../src/index.js";

const mailTo = (to: string) => (m: ReceivedMail) => m.envelope.to.includes(to);
const tokenIn = (m: ReceivedMail) => /\/reset-password#token=(sfr_[A-Za-z0-9_-]{43})/.exec(m.parsed.text ?? "")![1]!;

describe.each(DATABASES)("password reset through the SDK (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let root: SpeedyFiles;
  let anon: SpeedyFiles;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_MAIL_POLL_MS: "50" } });
    root = new SpeedyFiles({ baseUrl: t.url, token: (await t.createUser({ role: "admin" })).token });
    anon = new SpeedyFiles({ baseUrl: t.url });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it("auth.requestPasswordReset(email) and auth.confirmPasswordReset(token, password), without a token", async () => {
    const { user, password } = await t.createUser();
    expect(await anon.auth.requestPasswordReset(user.email)).toEqual({ detail: `If ${user.email} has an account, a link to choose a new password is on its way.` });
    const token = tokenIn(await smtp.waitForMail(mailTo(user.email)));
    await expect(anon.auth.confirmPasswordReset(token, "a brand new passphrase")).resolves.toBeUndefined();
    await expect(anon.auth.login(user.email, password, "old")).rejects.toBeInstanceOf(AuthenticationError);
    expect((await anon.auth.login(user.email, "a brand new passphrase", "new")).token).toMatch(/^sf_/);

    const again = await anon.auth.confirmPasswordReset(token, "another passphrase").catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ValidationError);
    expect(again).toMatchObject({ status: 422, code: "reset_token_invalid" });
    expect(JSON.stringify(again)).not.toContain("another passphrase");
  });

  it("admin.users.forcePasswordReset(id, { revoke_tokens })", async () => {
    const u = await t.createUser();
    const asUser = new SpeedyFiles({ baseUrl: t.url, token: u.token });
    await expect(asUser.admin.users.forcePasswordReset(u.user.id)).rejects.toBeInstanceOf(PermissionError);
    await expect(root.admin.users.forcePasswordReset(crypto.randomUUID())).rejects.toBeInstanceOf(NotFoundError);

    const kept = await root.admin.users.forcePasswordReset(u.user.id);
    expect(kept.detail).toMatch(/no longer works/);
    expect((await asUser.me()).id).toBe(u.user.id);
    await smtp.waitForMail(mailTo(u.user.email));

    await root.admin.users.forcePasswordReset(u.user.id, { revoke_tokens: true });
    await expect(asUser.me()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(anon.auth.login(u.user.email, u.password, "x")).rejects.toBeInstanceOf(AuthenticationError);
  });
});
