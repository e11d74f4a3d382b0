import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { expectError, RAW_TOKEN } from "@speedyfiles/test-utils/expect";
import { signInThroughPage, snap, userMenu } from "@speedyfiles/test-utils/web-browser";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

// One database is enough here: the HTTP tests of sessions run on both.
describe("the web interface in a real browser: signing in, account, API tokens (sqlite)", () => {
  let t: TestServer;
  let alice: User;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    // A fixed "now", so the dates on the pages (and in the screenshots) are the same every run.
    // Only the server's clock: the browser and its cookies keep the real date, as a visitor's do.
    const clock = new TestClock({ at: "2026-11-27T09:00:00.000Z" });
    t = await startTestServer("sqlite", { clock, env: { SF_LOGIN_MAX_FAILURES_PER_ACCOUNT: "3", SF_LOGIN_MAX_FAILURES_PER_IP: "1000" } });
    alice = await t.createUser({ email: "alice@speedyfiles.test" });
    await t.running.services.db("users").where({ id: alice.user.id }).update({ name: "Alice Example" });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: "light" });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: t.url });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    // Wrong passwords, rate limits and refused forms answer 401/403/429 documents on purpose.
    problems = watchProblems(page, [401, 403, 429]);
  });
  afterEach(async () => {
    await context?.close();
  });

  it("the seed's path: sign in → user menu → Account → API tokens → Create token → copy; the copied token works on GET /api/v1/me", async () => {
    // A signed-out visitor of the server is sent to sign in.
    await page.goto(t.url);
    expect(new URL(page.url()).pathname).toBe("/login");
    await expect(page.title()).resolves.toBe("Sign in · SpeedyFiles");
    await snap(page, "sign-in");

    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await userMenu(page, "Account");
    await page.waitForURL(/\/account$/);
    await expect(page.locator("h1").textContent()).resolves.toBe("Account");
    await snap(page, "account", { fullPage: true });

    await page.getByRole("link", { name: "API tokens" }).click();
    await page.waitForURL(/\/account\/tokens$/);
    await page.getByText("Create token").click();
    await page.getByLabel("Name").fill("CI pipeline");
    await page.getByLabel("Expires").selectOption({ label: "In 30 days" });
    await page.getByRole("button", { name: "Create", exact: true }).click();

    // Shown once, with a warning and a copy button.
    const panel = page.locator(".secret-once");
    await expect(panel.textContent()).resolves.toContain("It is shown only this once and never again");
    await page.getByRole("button", { name: "Copy" }).click();
    await page.locator(".copy-status").filter({ hasText: "Copied" }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toMatch(RAW_TOKEN);
    expect(await page.locator("#new-token").inputValue()).toBe(copied);
    await snap(page, "tokens");

    // The list shows it by name and prefix, never the rest.
    const row = page.locator("#tokens tbody tr", { hasText: "CI pipeline" });
    await expect(row.locator("code").textContent()).resolves.toBe(`${copied.slice(0, 11)}…`);
    expect(await row.locator("td").nth(4).textContent()).toBe("2026-12-27 09:00 UTC"); // expires in 30 days (after Scopes and Created)

    const me = await fetch(`${t.api}/me`, { headers: { Authorization: `Bearer ${copied}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ email: alice.user.email, name: "Alice Example", role: "user" });

    // Shown once: the page again has no trace of it.
    await page.reload();
    expect(await page.content()).not.toContain(copied);
    expect(problems).toEqual([]);
  });

  it("a revoked token disappears from the list and stops working", async () => {
    const res = await t.fetch("/me/tokens", { method: "POST", token: alice.token, json: { name: "old laptop" } });
    const { token } = (await res.json()) as { token: string };
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/account/tokens`);
    const row = page.locator("#tokens tbody tr", { hasText: "old laptop" });
    await row.getByText("Revoke", { exact: true }).click();
    // Nothing happens until the confirmation is pressed (which the keyboard focused).
    expect((await fetch(`${t.api}/me`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    // The dialog's script moves the focus just after it opens: wait for it, as a person would.
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe("Revoke token");
    await page.keyboard.press("Enter");
    await page.waitForURL(/notice=token_revoked/);
    await expect(page.locator(".notice").textContent()).resolves.toContain("The token was revoked");
    expect(await page.locator("#tokens tbody tr", { hasText: "old laptop" }).count()).toBe(0);
    await expectError(await fetch(`${t.api}/me`, { headers: { Authorization: `Bearer ${token}` } }), 401, "token_invalid");
    expect(problems).toEqual([]);
  });

  it("a signed-out visitor is sent to sign in and comes back to the page they asked for", async () => {
    await page.goto(`${t.url}/account/tokens`);
    expect(page.url()).toBe(`${t.url}/login?next=%2Faccount%2Ftokens`);
    await page.getByLabel("Email").fill(alice.user.email);
    await page.getByLabel("Password").fill(alice.password);
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/account\/tokens$/);
    await expect(page.locator(".tabs [aria-current=page]").textContent()).resolves.toBe("API tokens");
    expect(problems).toEqual([]);
  });

  it("a form posted without its CSRF token is refused with a page that says so", async () => {
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/account/tokens`);
    await page.getByText("Create token").click();
    await page.getByLabel("Name").fill("forged");
    // What a forged form lacks: the page's token.
    await page.evaluate(() =>
      document.querySelectorAll("input[name=_csrf]").forEach((e) => {
        e.remove();
      }),
    );
    await page.getByRole("button", { name: "Create", exact: true }).click();
    await page.locator("h1", { hasText: "This form cannot be sent" }).waitFor();
    await snap(page, "csrf-refused");
    const list = (await (await t.fetch("/me/tokens", { token: alice.token })).json()) as { name: string }[];
    expect(list.map((x) => x.name)).not.toContain("forged");
    expect(problems).toEqual([]);
  });

  it("a password change signs out the other browsers; sign out revokes the session on the server", async () => {
    const u = await t.createUser();
    await signInThroughPage(page, t.url, u.user.email, u.password);
    const other = await browser.newContext();
    other.setDefaultTimeout(10_000);
    const otherPage = await other.newPage();
    const otherProblems = watchProblems(otherPage);
    await signInThroughPage(otherPage, t.url, u.user.email, u.password);

    await page.goto(`${t.url}/account`);
    expect(await page.locator("table tbody tr").count()).toBe(2);
    await page.getByLabel("Current password").fill(u.password);
    await page.getByLabel("New password (at least 8 characters)").fill("a-much-better-one");
    await page.getByLabel("New password again").fill("a-much-better-one");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForURL(/notice=password_changed/);
    expect(await page.locator("table tbody tr").count()).toBe(1);

    await otherPage.reload();
    expect(new URL(otherPage.url()).pathname).toBe("/login");
    await expect(otherPage.locator(".notice").textContent()).resolves.toBe("Your session ended. Sign in again.");
    expect(otherProblems).toEqual([]);
    await other.close();

    // Sign out: the cookie the browser had is dead on the server too, not just deleted.
    const [cookie] = (await context.cookies()).filter((c) => c.name === "sf_session");
    await userMenu(page, "Sign out");
    await page.waitForURL(/\/login\?notice=signed_out$/);
    await expect(page.locator(".notice").textContent()).resolves.toBe("You are signed out.");
    await expectError(await fetch(`${t.api}/me`, { headers: { Cookie: `sf_session=${cookie!.value}` } }), 401, "session_invalid");
    expect(problems).toEqual([]);
  });

  it("sign-in failures on the page and on POST /auth/token count toward one limit: 429 on both", async () => {
    const u = await t.createUser();
    const apiLogin = (password: string) => t.fetch("/auth/token", { method: "POST", json: { email: u.user.email, password, name: "x" } });
    expect((await apiLogin("wrong-1")).status).toBe(401);
    await page.goto(`${t.url}/login`);
    await page.getByLabel("Email").fill(u.user.email);
    await page.getByLabel("Password").fill("wrong-2");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.locator(".error").textContent()).resolves.toBe("Wrong email or password.");
    expect((await apiLogin("wrong-3")).status).toBe(401);

    // The limit (3 per account) is reached: the right password is refused on the page…
    await page.getByLabel("Password").fill(u.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.locator(".error").textContent()).resolves.toContain("Too many failed login attempts for this account");
    expect(new URL(page.url()).pathname).toBe("/login");
    // …and on the API.
    await expectError(await apiLogin(u.password), 429, "rate_limited");
    expect(problems).toEqual([]);
  });
});
