import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { signInThroughPage, snap } from "@speedyfiles/test-utils/web-browser";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

// One database is enough: the HTTP tests (test/policy-web.test.ts) run on both.
describe("Admin → Policy and what users see, in a real browser (sqlite)", () => {
  let t: TestServer;
  let admin: User;
  let alice: User;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    t = await startTestServer("sqlite");
    [admin, alice] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    problems = [];
  });
  afterEach(async () => {
    await context?.close();
  });

  it("an admin sets the policy through the form: a contradiction is shown at its field, then saved", async () => {
    problems = watchProblems(page, [422]);
    await signInThroughPage(page, t.url, admin.user.email, admin.password);
    await page.getByRole("link", { name: "Admin" }).click();
    await page.getByRole("link", { name: "Policy" }).click();
    await page.waitForURL(`${t.url}/admin/policy`);

    await page.getByLabel("Shortest link lifetime (days)", { exact: true }).fill("40");
    await page.getByLabel("Longest link lifetime (days)", { exact: true }).fill("30");
    await page.getByLabel("Recipients only at", { exact: true }).fill("acme.com\n*.acme.com");
    await page.getByLabel("Largest file", { exact: true }).fill("2 GiB");
    await page.getByLabel("Storage quota per user", { exact: true }).fill("50 GiB");
    await page.getByLabel("Storage quota per user for the admin role").fill("none");
    await page.getByRole("button", { name: "Save policy" }).click();

    await expect.poll(() => page.locator("#err-min_ttl_days").innerText()).toContain("is above max_ttl_days (30)");
    expect(await page.locator("p.error[role=alert]").innerText()).toContain("The policy was not saved");
    // What was typed is still there to fix.
    expect(await page.getByLabel("Largest file", { exact: true }).inputValue()).toBe("2 GiB");
    expect(await page.getByLabel("Shortest link lifetime (days)", { exact: true }).getAttribute("aria-invalid")).toBe("true");

    await page.getByLabel("Shortest link lifetime (days)", { exact: true }).fill("");
    await page.getByRole("button", { name: "Save policy" }).click();
    await page.waitForURL(`${t.url}/admin/policy?notice=saved`);
    expect(await page.locator("p.notice").innerText()).toContain("The policy was saved");
    const preview = await page.locator("#policy-preview").innerText();
    expect(preview).toContain("Links can live at most 30 days.");
    expect(preview).toContain("Recipients must be at acme.com or a subdomain of acme.com.");
    await snap(page, "admin-policy", { fullPage: true });

    const stored = (await (await t.fetch("/admin/policy", { token: admin.token })).json()) as { rules: Record<string, unknown>; roles: Record<string, unknown> };
    expect(stored.rules).toMatchObject({ max_ttl_days: 30, min_ttl_days: null, max_file_bytes: 2 * 1024 ** 3, quota_bytes_per_user: 50 * 1024 ** 3 });
    expect(stored.roles).toEqual({ user: {}, admin: { quota_bytes_per_user: null } });
    expect(problems).toEqual([]);
  });

  it("a user sees the limits on New package and, sending anyway, the rule in words", async () => {
    expect(
      (
        await t.fetch("/admin/policy", {
          method: "PUT",
          token: admin.token,
          json: { max_ttl_days: 30, allowed_recipient_domains: ["acme.com"], max_file_bytes: 1024 * 1024, quota_bytes_per_user: 10 * 1024 * 1024 },
        })
      ).status,
    ).toBe(200);
    problems = watchProblems(page, [422]);
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/packages/new`);
    const limits = await page.locator("#policy-limits").innerText();
    expect(limits).toContain("Links can live at most 30 days.");
    expect(limits).toContain("Recipients must be at acme.com.");
    expect(limits).toContain("Files up to 1.0 MiB; you use 0 B of your 10.0 MiB.");

    await page.getByLabel("Title").fill("To a friend");
    await page.getByLabel(/Recipient email/).fill("friend@gmail.com");
    await page.locator("#file-input").setInputFiles({ name: "a.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
    await page.getByRole("button", { name: "Send" }).click();
    await expect.poll(() => page.locator("#status").innerText()).toContain("Recipients must be at acme.com on this server; friend@gmail.com is not");
    expect(await page.locator("#status").innerText()).not.toContain("policy_violation");
    expect(problems).toEqual([]);
  });
});
