// A real browser keeps the real date; a server may disagree by far more than anyone would
// configure. Signing in and opening a password-protected link must work either way, because the
// cookies live by Max-Age (counted by the browser) and the server judges validity by its clock.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { shareFiles } from "@speedyfiles/test-utils/links";
import { signInThroughPage } from "@speedyfiles/test-utils/web-browser";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

const YEAR = 365 * 86_400_000;

// One database is enough here: test/cookies.test.ts checks the same cookies on both.
describe("a real browser with the server's clock a year off (sqlite)", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  for (const [label, skew] of [
    ["a year ahead of", YEAR],
    ["a year behind", -YEAR],
  ] as const) {
    describe(`the server ${label} the browser`, () => {
      let t: TestServer;
      let alice: User;
      let context: BrowserContext;
      let page: Page;
      let problems: string[];

      beforeAll(async () => {
        t = await startTestServer("sqlite", { clock: new TestClock({ at: Date.now() + skew }) });
        alice = await t.createUser({ email: "alice@speedyfiles.test" });
      });
      afterAll(async () => {
        await t?.close();
      });
      beforeEach(async () => {
        context = await browser.newContext();
        context.setDefaultTimeout(10_000);
        page = await context.newPage();
        problems = watchProblems(page);
      });
      afterEach(async () => {
        await context?.close();
      });

      it("signs in, and the session holds from page to page", async () => {
        await signInThroughPage(page, t.url, alice.user.email, alice.password);
        const cookies = await context.cookies(t.url);
        const session = cookies.find((c) => c.name === "sf_session");
        // Kept for the session's whole life (168 h by default), counted on the browser's clock.
        expect(session?.expires).toBeGreaterThan(Date.now() / 1000 + 167 * 3600);
        expect(session?.expires).toBeLessThan(Date.now() / 1000 + 169 * 3600);
        await page.goto(`${t.url}/account`);
        expect(new URL(page.url()).pathname).toBe("/account");
        await expect(page.locator("h1").textContent()).resolves.toBe("Account");
        expect(problems).toEqual([]);
      });

      it("opens a password-protected link, and its cookie reaches the page and the link's API", async () => {
        const s = await shareFiles(t, alice.token, [["notes.txt", "board notes"]], { password: "open sesame 42" });
        await page.goto(s.page);
        await page.getByLabel("Password").fill("open sesame 42");
        await page.getByRole("button", { name: "Open" }).click();
        await page.waitForURL(s.page);
        await expect(page.getByText("notes.txt").first().isVisible()).resolves.toBe(true);
        // A reload still shows the files: the browser kept the cookie.
        await page.reload();
        await expect(page.getByText("notes.txt").first().isVisible()).resolves.toBe(true);
        const file = await context.request.get(`${s.api}/files/${s.files[0]!.id}`);
        expect(file.status()).toBe(200);
        expect(await file.text()).toBe("board notes");
        expect(problems).toEqual([]);
      });
    });
  }
});
