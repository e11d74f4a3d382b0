import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { signInThroughPage } from "@speedyfiles/test-utils/web-browser";

/** Everything the server logs. */
class LogCapture {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

describe.each(DATABASES)("forgot password in a real browser (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let log: LogCapture;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    smtp = await startTestSmtp();
    log = new LogCapture();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_MAIL_POLL_MS: "50" }, logStream: log });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await smtp?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    problems = watchProblems(page);
  });
  afterEach(async () => {
    await context?.close();
  });

  it("sign-in page → Forgot your password? → email → new password → signed out everywhere → sign in with it", async () => {
    const u = await t.createUser();
    // The same person, signed in on another computer.
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await signInThroughPage(otherPage, t.url, u.user.email, u.password);

    // Every request the browser makes, and what it says it came from.
    const seen: string[] = [];
    page.on("request", (r) => seen.push(`${r.url()} referer=${r.headers().referer ?? ""}`));

    await page.goto(`${t.url}/login`);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.waitForURL(/\/forgot-password$/);
    await page.getByLabel("Email").fill(u.user.email);
    await page.getByRole("button", { name: "Email me a link" }).click();
    await page.waitForURL(/\/forgot-password\?notice=sent$/);
    await expect(page.locator(".notice").textContent()).resolves.toContain("If that address has an account, a link to choose a new password is on its way.");

    const mail = await smtp.waitForMail((m) => m.envelope.to.includes(u.user.email));
    const link = new URL(/(\S+\/reset-password#token=sfr_\S+)/.exec(mail.parsed.text ?? "")![1]!);
    const token = link.hash.slice("#token=".length);
    await page.goto(`${t.url}${link.pathname}${link.hash}`);
    // The script took the token into the form and out of the address bar.
    await page.waitForFunction(() => window.location.hash === "");
    expect(new URL(page.url()).pathname).toBe("/reset-password");
    await expect(page.locator("#token").inputValue()).resolves.toBe(token);
    await expect(page.locator("#token-field").isHidden()).resolves.toBe(true);

    await page.locator("#new_password").fill("a brand new passphrase");
    await page.getByLabel("New password again").fill("a brand new passphrase");
    await page.getByRole("button", { name: "Set the new password" }).click();
    await page.waitForURL(/\/login\?notice=password_reset$/);
    await expect(page.locator(".notice").textContent()).resolves.toContain("Your new password is set, and you are signed out everywhere.");

    await signInThroughPage(page, t.url, u.user.email, "a brand new passphrase");
    // The other computer was signed out.
    await otherPage.reload();
    expect(new URL(otherPage.url()).pathname).toBe("/login");
    await other.close();

    // The token never left the browser: not in a request, not in a Referer, not in the server's log.
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.join("\n")).not.toContain(token);
    expect(log.text).not.toContain(token);
    expect(problems).toEqual([]);
  });

  it("without the fragment, the page asks for the code by hand", async () => {
    await page.goto(`${t.url}/reset-password`);
    await expect(page.locator("#token-field").isVisible()).resolves.toBe(true);
    await page.getByLabel("Reset code").fill("sfr_not-a-real-one");
    await page.locator("#new_password").fill("a brand new passphrase");
    await page.getByLabel("New password again").fill("a brand new passphrase");
    await page.getByRole("button", { name: "Set the new password" }).click();
    await expect(page.locator(".error").textContent()).resolves.toContain("This password reset link is unknown, already used");
    expect(problems.filter((p) => !p.includes("status of 422"))).toEqual([]);
  });
});
