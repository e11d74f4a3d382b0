import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DATABASES } from "@speedyfiles/test-utils/server";
import { launchChromium } from "@speedyfiles/test-utils/browser";
import { expectError } from "@speedyfiles/test-utils/expect";
import { snap, userMenu } from "@speedyfiles/test-utils/web-browser";
import { startSsoServer, type SsoSetup } from "../sso/server.js";

// Single sign-on in Chromium against a real OpenID provider (oidc-provider) on loopback: the
// button, the provider's sign-in page, the way back. The provider and the browser keep the real
// time (the ID token's dates are checked against it); the server's clock is the default one.

/** Through the provider's sign-in page (oidc-provider's development one: any password) and back. */
async function signInWithSso(page: Page, sso: SsoSetup, login: string, button = "Sign in with single sign-on"): Promise<void> {
  await page.goto(`${sso.publicUrl}/login`);
  await page.getByRole("link", { name: button }).click();
  await page.waitForURL((u) => u.origin === sso.provider.issuer);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any password");
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.origin === sso.publicUrl && u.pathname === "/packages");
}

/**
 * What a person would call broken on our pages (test-utils' watchProblems, for our origin only):
 * the provider's development sign-in page loads web fonts from the internet and has no favicon,
 * which is its business.
 */
function watchOurProblems(page: Page, origin: string): string[] {
  const problems: string[] = [];
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.type()} ${d.message()}`);
    void d.dismiss();
  });
  page.on("pageerror", (err) => {
    if (page.url().startsWith(origin)) problems.push(`page error: ${err.message}`);
  });
  page.on("console", (m) => {
    if (!m.location().url.startsWith(origin)) return;
    const text = m.text();
    if (m.type() === "error" && !text.includes("status of 403")) problems.push(`console error: ${text}`);
    if (/Content Security Policy|Refused to (execute|load|apply|connect|create)/i.test(text)) problems.push(`CSP: ${text}`);
  });
  return problems;
}

describe.each(DATABASES)("single sign-on in a real browser (%s)", (kind) => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  /** Watches this test's page for problems on the server's pages. */
  const watch = (sso: SsoSetup) => {
    problems = watchOurProblems(page, sso.publicUrl);
  };

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: "light" });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    problems = [];
  });
  afterEach(async () => {
    await context?.close();
  });

  describe("accounts made at first sign-in, admins by group", () => {
    let sso: SsoSetup;
    beforeAll(async () => {
      sso = await startSsoServer(kind, { env: { SF_SSO_GROUPS_CLAIM: "groups", SF_SSO_ADMIN_GROUPS: "sf-admins" } });
      // Someone is an admin already, so the group decides everyone else's role.
      await sso.t.createUser({ role: "admin" });
    });
    afterAll(async () => {
      await sso?.close();
    });

    it("first sign-in creates the user and lands on their packages; signing out ends the session", async () => {
      watch(sso);
      sso.provider.accounts.set("amy", { email: "Amy.Pond@Example.com", email_verified: true, name: "Amy Pond", groups: ["staff"] });
      await page.goto(`${sso.publicUrl}/login`);
      await expect(page.getByRole("link", { name: "Sign in with single sign-on" }).isVisible()).resolves.toBe(true);
      await expect(page.getByLabel("Password").count()).resolves.toBe(1);
      await snap(page, "sign-in-sso");

      await signInWithSso(page, sso, "amy");
      await expect(page.locator(".user-menu .who").textContent()).resolves.toBe("Amy Pond");
      // Not in the admin group: no Admin section.
      await expect(page.getByRole("link", { name: "Admin", exact: true }).count()).resolves.toBe(0);
      const row = await sso.t.running.services.db("users").where({ email: "amy.pond@example.com" }).first();
      expect(row).toMatchObject({ name: "Amy Pond", role: "user", password_hash: "!sso" });

      // The Account page: no password to change.
      await userMenu(page, "Account");
      await page.waitForURL(/\/account$/);
      await expect(page.getByText("You sign in through single sign-on").isVisible()).resolves.toBe(true);

      await userMenu(page, "Sign out");
      await page.waitForURL(/\/login\?notice=signed_out$/);
      await page.goto(`${sso.publicUrl}/packages`);
      expect(new URL(page.url()).pathname).toBe("/login");
      expect(problems).toEqual([]);
    });

    it("a member of the admin group is an admin; after leaving the group, the next sign-in makes them a user", async () => {
      watch(sso);
      sso.provider.accounts.set("rory", { email: "rory@example.com", email_verified: true, name: "Rory", groups: ["staff", "sf-admins"] });
      await signInWithSso(page, sso, "rory");
      await page.getByRole("link", { name: "Admin", exact: true }).click();
      await page.waitForURL(/\/admin\/users$/);
      await expect(page.locator("h1").first().textContent()).resolves.toContain("Users");

      // The provider drops them from the group; a new browser signs in again.
      sso.provider.accounts.set("rory", { email: "rory@example.com", email_verified: true, name: "Rory", groups: ["staff"] });
      const other = await browser.newContext();
      other.setDefaultTimeout(15_000);
      try {
        const second = await other.newPage();
        await signInWithSso(second, sso, "rory");
        await expect(second.getByRole("link", { name: "Admin", exact: true }).count()).resolves.toBe(0);
      } finally {
        await other.close();
      }
      // The first browser's session lost the admin pages at once.
      const res = await page.goto(`${sso.publicUrl}/admin/users`);
      expect(res!.status()).toBe(403);
      expect(problems).toEqual([]);
    });
  });

  describe("password sign-in off", () => {
    let sso: SsoSetup;
    beforeAll(async () => {
      sso = await startSsoServer(kind, { env: { SF_PASSWORD_LOGIN: "false", SF_SSO_BUTTON_LABEL: "Sign in with Acme ID", SF_SSO_SIGN_OUT: "provider" } });
    });
    afterAll(async () => {
      await sso?.close();
    });

    it("the page offers only the button, a posted password form is refused, the button signs in, and signing out ends the provider's session too", async () => {
      watch(sso);
      const u = await sso.t.createUser({ email: "clara@example.com" });
      await page.goto(`${sso.publicUrl}/login`);
      await expect(page.getByLabel("Password").count()).resolves.toBe(0);
      await expect(page.getByLabel("Email").count()).resolves.toBe(0);
      await expect(page.getByRole("link", { name: "Sign in with Acme ID" }).isVisible()).resolves.toBe(true);
      await snap(page, "sign-in-sso-only");

      // A password form posted from this browser all the same (an old bookmark, a script): refused.
      const posted = await page.request.post(`${sso.publicUrl}/login`, { form: { email: u.user.email, password: u.password }, maxRedirects: 0 });
      expect(posted.status()).toBe(403);
      expect(await posted.text()).toContain("Password sign-in is turned off");
      await expectError(
        await fetch(`${sso.t.api}/auth/token`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ email: u.user.email, password: u.password, name: "sf" }),
        }),
        403,
        "password_login_disabled",
      );
      expect((await context.cookies()).some((c) => c.name === "sf_session")).toBe(false);

      sso.provider.accounts.set("clara", { email: "clara@example.com", email_verified: true });
      await signInWithSso(page, sso, "clara", "Sign in with Acme ID");
      await expect(page.locator(".user-menu .who").textContent()).resolves.toBe("clara");

      // SF_SSO_SIGN_OUT=provider: signing out here goes on to the provider's sign-out, which
      // comes back to our sign-in page; both sessions are over.
      await userMenu(page, "Sign out");
      await page.waitForURL((u) => u.origin === sso.provider.issuer);
      await page.getByRole("button", { name: /sign me out/i }).click();
      await page.waitForURL((u) => u.origin === sso.publicUrl && u.pathname === "/login");
      expect((await context.cookies()).some((c) => c.name === "sf_session")).toBe(false);
      // At the provider too: the button asks for the password again.
      await page.getByRole("link", { name: "Sign in with Acme ID" }).click();
      await page.waitForURL((u) => u.origin === sso.provider.issuer);
      await expect(page.locator('input[name="login"]').isVisible()).resolves.toBe(true);
      expect(problems).toEqual([]);
    });
  });
});
