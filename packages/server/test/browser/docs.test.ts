import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";

/** Every request of the page that goes to another origin (data: and blob: stay in the page). */
function watchOffsite(page: Page, origin: string): string[] {
  const offsite: string[] = [];
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(`${origin}/`) && !u.startsWith("blob:") && !u.startsWith("data:")) offsite.push(u);
  });
  return offsite;
}

// One database is enough: the pages are the same on both.
describe("the API docs in a real browser (sqlite)", () => {
  let t: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestServer("sqlite");
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("Swagger UI renders every operation under its CSP, and Authorize keeps the token out of browser storage", async () => {
    const { user, token } = await t.createUser();
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${t.api}/docs/`);
    await page.locator(".swagger-ui .info .title").filter({ hasText: "SpeedyFiles API" }).waitFor({ timeout: 5000 });
    await page.locator(".opblock").first().waitFor({ timeout: 5000 });
    expect(await page.locator(".opblock").count()).toBeGreaterThanOrEqual(27);

    // Authorize with a token, then try GET /me from the page.
    await page
      .getByRole("button", { name: /Authorize/ })
      .first()
      .click();
    // The dialog offers both schemes of the spec (bearerAuth, and the web interface's sessionCookie).
    const bearer = page.locator(".modal-ux .auth-container").filter({ hasText: "bearerAuth" });
    await bearer.locator("input[type=text]").fill(token);
    await bearer.locator("button.authorize").click();
    await bearer.locator("button.btn-done").click();
    await page.locator("#operations-me-getMe").click();
    await page.locator("#operations-me-getMe").getByRole("button", { name: "Try it out" }).click();
    await page.locator("#operations-me-getMe").getByRole("button", { name: "Execute" }).click();
    await page.locator("#operations-me-getMe .live-responses-table .response-col_status").filter({ hasText: "200" }).waitFor();
    expect(await page.locator("#operations-me-getMe .live-responses-table").innerText()).toContain(user.email);

    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    expect(stored).not.toContain(token);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("ReDoc renders from our own bundle under its CSP", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watchProblems(page);
    const offsite = watchOffsite(page, t.url);
    await page.goto(`${t.api}/redoc`);
    await page.locator("h1").filter({ hasText: "SpeedyFiles API" }).waitFor({ timeout: 20_000 });
    await page.locator("h2").filter({ hasText: "Upload a file (multipart)" }).first().waitFor();
    // Its footer's logo too: the docs are promised to work offline, so nothing comes from a CDN.
    await page.waitForLoadState("networkidle");
    expect(offsite).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("no docs page asks another origin for anything (Swagger UI, its assets, ReDoc)", async () => {
    for (const p of ["/docs/", "/redoc"]) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const offsite = watchOffsite(page, t.url);
      await page.goto(`${t.api}${p}`);
      await page.waitForLoadState("networkidle");
      expect(offsite, p).toEqual([]);
      await context.close();
    }
    // Swagger UI's online validator badge (validator.swagger.io) shows for any host but
    // localhost: it is switched off in the page's settings, not merely unseen on 127.0.0.1.
    const init = await (await fetch(`${t.api}/docs/swagger-ui-init.js`)).text();
    expect(init).toMatch(/"validatorUrl":\s*null/);
  });
});
