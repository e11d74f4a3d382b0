import fsp from "node:fs/promises";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { secretOf } from "@speedyfiles/test-utils/links";
import { until } from "@speedyfiles/test-utils/uploads";
import { signInThroughPage, snap } from "@speedyfiles/test-utils/web-browser";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

// Delivery controls in a real browser: a password-protected link's page, and the owner's pages with
// several recipients, their counts and a revoke of one. One database is enough here.
describe("delivery controls in a real browser (sqlite)", () => {
  let t: TestServer;
  let smtp: TestSmtp;
  let alice: User;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    smtp = await startTestSmtp();
    // A fixed "now": the dates on the pages (and so the screenshots) are the same every run.
    // Only the server's clock: the browser and its cookies keep the real date, as a visitor's do.
    const clock = new TestClock({ at: "2026-11-27T09:00:00.000Z" });
    t = await startTestServer("sqlite", { clock, env: { SF_SMTP_URL: smtp.url } });
    alice = await t.createUser({ email: "alice@speedyfiles.test" });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await smtp?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 800 }, acceptDownloads: true });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    problems = watchProblems(page, [403]);
  });
  afterEach(async () => {
    await context?.close();
  });

  /** Local link: SF_PUBLIC_URL names a placeholder port in tests. */
  const local = (link: string) => `${t.url}/l/${secretOf(link)}`;

  it("New package with two recipients, a limit and a password; the package page shows each link and its count; revoke one", async () => {
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/packages/new`);
    await page.fill("#title", "Q4 numbers");
    await page.fill("#recipient_email", "cfo@acme.test, audit@acme.test");
    await page.fill("#max_downloads", "1");
    await page.fill("#password", "board eyes only");
    await snap(page, "new-package-delivery", { fullPage: true });
    await page.setInputFiles("#file-input", { name: "q4.csv", mimeType: "text/csv", buffer: Buffer.from("q,rev\n4,100\n") });
    await page.click("#submit");
    await page.waitForSelector("#result:not([hidden])");
    const links = await page.$$eval("#recipient-links input", (els) => els.map((e) => (e as HTMLInputElement).value));
    expect(links).toHaveLength(2);
    expect(await page.textContent("#email-status")).toContain("cfo@acme.test, audit@acme.test");

    // The recipient (another browser context: no session) gets the password form first.
    const recipient = await browser.newContext({ acceptDownloads: true });
    const rp = await recipient.newPage();
    const rProblems = watchProblems(rp, [403]);
    await rp.goto(local(links[0]!));
    expect(await rp.isVisible("#link-password")).toBe(true);
    await snap(rp, "link-password");
    expect(await rp.content()).not.toContain("q4.csv");
    await rp.fill("#link-password", "wrong password");
    await rp.click("button[type=submit]");
    expect(await rp.textContent("#password-error")).toContain("not right");
    await rp.fill("#link-password", "board eyes only");
    await rp.click("button[type=submit]");
    await rp.waitForSelector("li.file");
    expect(await rp.textContent("li.file .name")).toBe("q4.csv");
    expect(await rp.textContent("#limit")).toContain("once");
    // The cookie is HttpOnly: no script sees it.
    expect(await rp.evaluate(() => document.cookie)).toBe("");
    const cookies = await recipient.cookies();
    expect(cookies.filter((c) => c.name === "sf_link").every((c) => c.httpOnly && c.sameSite === "Lax")).toBe(true);
    const [download] = await Promise.all([rp.waitForEvent("download"), rp.click("li.file a.button")]);
    expect(await fsp.readFile((await download.path())!, "utf8")).toBe("q,rev\n4,100\n");
    // Used once: the page now says so.
    await until(
      async () => {
        await rp.reload();
        return (await rp.content()).includes("no longer active");
      },
      5000,
      "the link to be used up",
    );
    expect(rProblems.filter((p) => !/status of 410/.test(p))).toEqual([]);
    await recipient.close();

    // The owner's page: each recipient, their state and count; revoke the auditor's link.
    await page.click("#open-package");
    await page.waitForSelector("#recipients");
    const rows = await page.$$eval("#recipients tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent!.trim())));
    expect(rows).toEqual([
      ["cfo@acme.test", "used up", "1"],
      ["audit@acme.test", "Active", "0"],
    ]);
    await page.click("#recipients tbody tr:nth-child(2) summary");
    await page.click("#recipients tbody tr:nth-child(2) form button[type=submit]");
    await page.waitForURL(/notice=link_revoked/);
    expect(await page.textContent("#recipients tbody tr:nth-child(2)")).toContain("Revoked");
    await page.locator("#recipients").scrollIntoViewIfNeeded();
    await snap(page, "package-recipients");
    const gone = await fetch(`${t.api}/links/${secretOf(links[1]!)}`, { headers: { "X-Link-Password": "board eyes only" } });
    expect(gone.status).toBe(410);
    expect(problems).toEqual([]);
  });
});
