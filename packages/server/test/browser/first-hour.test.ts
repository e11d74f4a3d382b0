import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { RAW_TOKEN } from "@speedyfiles/test-utils/expect";
import { addFile, createPackage } from "@speedyfiles/test-utils/uploads";
import { signInThroughPage } from "@speedyfiles/test-utils/web-browser";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

// One database is enough: the HTTP tests (test/web-first-hour.test.ts) run on both. The server's
// clock is the real time, so the session cookie's expiry is in the browser's future.
describe("what a new user met in the first hour, in a real browser (sqlite)", () => {
  let t: TestServer;
  let alice: User;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    t = await startTestServer("sqlite", { env: { SF_MAX_FILE_BYTES: String(10 * 1024 ** 3) } });
    alice = await t.createUser();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
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

  const tokenNames = async () => ((await (await t.fetch("/me/tokens", { token: alice.token })).json()) as { name: string }[]).map((x) => x.name);

  it("create a token → the page shows it once → a reload shows no new token, and there is one token", async () => {
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/account/tokens`);
    await page.getByText("Create token").click();
    await page.getByLabel("Name").fill("Reload me");
    await page.getByRole("button", { name: "Create", exact: true }).click();
    await page.waitForURL(`${t.url}/account/tokens`);
    const token = await page.locator("#new-token").inputValue();
    expect(token).toMatch(RAW_TOKEN);
    // The words next to it name the CLI's real flag.
    const words = await page.locator(".secret-once").innerText();
    expect(words).toContain("--with-token");
    expect(words).not.toContain("sf login --token");

    // A reload: no "resubmit the form?" (the answer was a redirect), no second token, no secret.
    await page.reload();
    await page.locator("#tokens").waitFor();
    expect(await page.locator("#new-token").count()).toBe(0);
    expect(await page.content()).not.toContain(token);
    expect((await tokenNames()).filter((n) => n === "Reload me")).toHaveLength(1);
    // Back and forward neither.
    await page.goBack();
    await page.goForward();
    expect((await tokenNames()).filter((n) => n === "Reload me")).toHaveLength(1);
    expect(problems).toEqual([]);
  });

  it("finalize → the link shows once → a reload shows the package without it", async () => {
    const pkg = await createPackage(t, alice.token, {
      title: "Reload package",
      recipients: [{ email: "one@example.com" }, { email: "two@example.com" }],
      recipient_email: undefined,
    });
    await addFile(t, alice.token, pkg.id, "a.txt", "hello");
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/packages/${pkg.id}`);
    await page.getByRole("button", { name: "Finalize and send the link" }).click();
    await page.waitForURL(`${t.url}/packages/${pkg.id}`);
    const link = await page.locator("#magic-link").inputValue();
    expect(link).toContain("/l/");
    await page.reload();
    await page.locator("h1", { hasText: "Reload package" }).waitFor();
    expect(await page.locator("#magic-link").count()).toBe(0);
    expect(await page.content()).not.toContain(link);
    expect(problems).toEqual([]);
  });

  it("several recipients: all in the package's header, the first ones and “+k more” (all in its tooltip) in the list", async () => {
    const emails = ["ann@example.com", "bo@example.com", "cy@example.com", "di@example.com"];
    const pkg = await createPackage(t, alice.token, { title: "Four of them", recipients: emails.map((email) => ({ email })), recipient_email: undefined });
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/packages/${pkg.id}`);
    const sentTo = await page.locator("dl.facts dd").first().innerText();
    for (const e of emails) expect(sentTo).toContain(e);

    await page.goto(`${t.url}/packages?q=Four`);
    const row = page.locator("#packages tbody tr", { hasText: "Four of them" });
    const more = row.locator(".more");
    await expect(more.innerText()).resolves.toBe("+2 more");
    const tooltip = (await more.getAttribute("title")) ?? "";
    for (const e of emails) expect(tooltip).toContain(e);
    expect(problems).toEqual([]);
  });

  it("the upload form's limit and a chosen file's size are in binary units, as sf writes them", async () => {
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/packages/new`);
    await expect(page.locator("form#new-package").innerText()).resolves.toContain("up to 10.0 GiB each");
    await page
      .locator("input[type=file]")
      .first()
      .setInputFiles({ name: "x.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(1536, 7) });
    await expect(page.locator(".files .size").first().innerText()).resolves.toBe("1.5 KiB");
    expect(problems).toEqual([]);
  });
});
