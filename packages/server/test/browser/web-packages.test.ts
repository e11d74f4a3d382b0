import crypto from "node:crypto";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { startReceiver, type Receiver } from "@speedyfiles/test-utils/receiver";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { expectError } from "@speedyfiles/test-utils/expect";
import { createPackage, sha256, until } from "@speedyfiles/test-utils/uploads";
import { finalize, secretOf, shareFiles } from "@speedyfiles/test-utils/links";
import { addFileWithLegacyName } from "@speedyfiles/test-utils/legacy-names";
import { signInThroughPage, snap } from "@speedyfiles/test-utils/web-browser";
import { deliverDue } from "../../src/jobs/webhook-worker.js";

type User = Awaited<ReturnType<TestServer["createUser"]>>;
const HOSTILE = "<img src=x onerror=alert(1)>";

// One database is enough here: the HTTP tests of sessions run on both.
describe("the web interface in a real browser: packages, webhooks, admin (sqlite)", () => {
  let t: TestServer;
  let smtp: TestSmtp;
  let receiver: Receiver;
  let alice: User;
  let admin: User;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    smtp = await startTestSmtp();
    receiver = await startReceiver();
    // A fixed "now" for the server, so the dates on its pages (and the screenshots) are the same
    // every run; the browser and its cookies keep the real date, as a visitor's do.
    const clock = new TestClock({ at: "2026-11-27T09:00:00.000Z" });
    t = await startTestServer("sqlite", { clock, env: { SF_SMTP_URL: smtp.url, SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1", SF_PUBLIC_URL: "http://localhost:8080" } });
    alice = await t.createUser({ email: "alice@speedyfiles.test" });
    admin = await t.createUser({ email: "ada@speedyfiles.test", role: "admin" });
    await t.running.services.db("users").where({ id: alice.user.id }).update({ name: "Alice Example" });
    await t.running.services.db("users").where({ id: admin.user.id }).update({ name: "Ada Admin" });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await receiver?.close();
    await smtp?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: "light", acceptDownloads: true });
    context.setDefaultTimeout(15_000);
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: t.url });
    page = await context.newPage();
    problems = watchProblems(page, [403]);
  });
  afterEach(async () => {
    await context?.close();
  });

  it("New package: two files with a progress bar each, finalize, copy the link once; the email arrives and the link works", async () => {
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.getByRole("link", { name: "New package" }).first().click();
    await page.waitForURL(/\/packages\/new$/);
    await page.getByLabel("Title").fill("Q4 financials");
    await page.getByLabel("Recipient email").fill("carol@client.test");
    await page.getByLabel("Recipient name (optional)").fill("Carol");
    await page.getByLabel(/^Message/).fill("Numbers for Friday.");
    await page.getByLabel("Link works for (days)").fill("14");
    const report = crypto.randomBytes(3_000_000);
    const budget = crypto.randomBytes(70_000);
    await page.setInputFiles("#file-input", [
      { name: "Q4-report.pdf", mimeType: "application/pdf", buffer: report },
      { name: "budget-2027.xlsx", mimeType: "application/octet-stream", buffer: budget },
    ]);
    expect(await page.locator("#queue li .name").allTextContents()).toEqual(["Q4-report.pdf", "budget-2027.xlsx"]);
    expect(await page.locator("#queue li progress").count()).toBe(2);
    await snap(page, "new-package", { fullPage: true });

    // Every state each file's row goes through, as the page shows it.
    await page.evaluate(() => {
      const seen: Record<string, string[]> = {};
      (window as unknown as { seen: typeof seen }).seen = seen;
      new MutationObserver((records) => {
        for (const r of records) {
          const row = r.target as HTMLElement;
          const name = row.querySelector(".name")?.textContent ?? "?";
          (seen[name] ??= []).push(row.getAttribute("data-state") ?? "");
        }
      }).observe(document.getElementById("queue")!, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
    });
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.locator("#result").waitFor({ state: "visible" });
    const seen = await page.evaluate(() => (window as unknown as { seen: Record<string, string[]> }).seen);
    expect(seen).toEqual({ "Q4-report.pdf": ["uploading", "uploaded"], "budget-2027.xlsx": ["uploading", "uploaded"] });
    expect(await page.locator("#queue progress").evaluateAll((bars) => bars.map((b) => (b as HTMLProgressElement).value))).toEqual([1, 1]);

    await expect(page.locator("#result").textContent()).resolves.toContain("It is shown only this once");
    // Mail is queued and sent in the background: the answer usually says queued.
    await expect(page.locator("#email-status").textContent()).resolves.toMatch(/^(Emailed to|Email queued for) carol@client\.test\.$/);
    await page.getByRole("button", { name: "Copy" }).click();
    await page.locator(".copy-status").filter({ hasText: "Copied" }).waitFor();
    const link = await page.evaluate(() => navigator.clipboard.readText());
    expect(await page.locator("#magic-link").inputValue()).toBe(link);
    const secret = secretOf(link);
    await snap(page, "package-link");

    // The recipient's email has the same link.
    const mail = await smtp.waitForMail((m) => m.envelope.to.includes("carol@client.test") && /Q4 financials/.test(m.parsed.subject ?? ""));
    expect(mail.parsed.text).toContain(link);
    expect(mail.parsed.text).toContain("Numbers for Friday.");

    // The link works: the recipient's page lists both files, and the bytes are the ones sent.
    const recipient = await context.newPage();
    const recipientProblems = watchProblems(recipient);
    expect((await recipient.goto(`${t.url}/l/${secret}`))!.status()).toBe(200);
    expect(await recipient.locator(".files .file .name").allTextContents()).toEqual(expect.arrayContaining(["Q4-report.pdf", "budget-2027.xlsx"]));
    const view = (await (await fetch(`${t.api}/links/${secret}`)).json()) as { files: { name: string; sha256: string }[] };
    expect(Object.fromEntries(view.files.map((f) => [f.name, f.sha256]))).toEqual({ "Q4-report.pdf": sha256(report), "budget-2027.xlsx": sha256(budget) });
    expect(recipientProblems).toEqual([]);
    await recipient.close();

    // The package's page: active, and it says the link cannot be shown again.
    await page.getByRole("link", { name: "Open the package" }).click();
    await page.waitForURL(/\/packages\/[0-9a-f-]{36}$/);
    await expect(page.locator(".page-head .badge").textContent()).resolves.toBe("Active");
    await expect(page.locator("main").textContent()).resolves.toContain("cannot be shown again");
    expect(await page.content()).not.toContain(secret);
    expect(await page.locator("#files tbody tr .name").allTextContents()).toEqual(["Q4-report.pdf", "budget-2027.xlsx"]);
    // The owner's own copy, through the API with the session cookie.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#files tbody tr", { hasText: "budget-2027.xlsx" }).getByRole("link", { name: "Download" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("budget-2027.xlsx");
    const { readFile } = await import("node:fs/promises");
    expect(sha256(await readFile(await download.path()))).toBe(sha256(budget));
    expect(problems).toEqual([]);
  });

  it("the list filters by status and searches; a package's page shows its activity, revokes and deletes after confirming", async () => {
    // A draft, an active package downloaded once, and a revoked one.
    t.clock.advance(60_000);
    const draft = await createPackage(t, alice.token, { title: "Contract draft", recipient_email: "legal@partner.test" });
    t.clock.advance(60_000);
    const shared = await shareFiles(t, alice.token, [["minutes.txt", "Minutes of the board meeting"]], { title: "Board minutes", recipient_email: "board@acme.test" });
    t.clock.advance(60_000);
    const gone = await shareFiles(t, alice.token, [["old.txt", "old"]], { title: "Old release" });
    await t.fetch(`/packages/${gone.id}/revoke`, { method: "POST", token: alice.token });
    await fetch(`${shared.api}/files/${shared.files[0]!.id}`, { headers: { "User-Agent": "curl/8.5.0" } }).then((r) => r.arrayBuffer());
    await until(async () => ((await (await t.fetch(`/packages/${shared.id}/events`, { token: alice.token })).json()) as unknown[]).length === 1, 5000, "the download recorded");

    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    const titles = () => page.locator("#packages tbody td.title a").allTextContents();
    expect(await titles()).toEqual(expect.arrayContaining(["Contract draft", "Board minutes", "Old release"]));
    await snap(page, "packages");
    await page.locator(".chips").getByRole("link", { name: "Draft" }).click();
    await page.waitForURL(/status=draft/);
    expect(await titles()).toEqual(["Contract draft"]);
    await page.locator(".chips").getByRole("link", { name: "Revoked" }).click();
    expect(await titles()).toEqual(["Old release"]);
    await page.locator(".chips").getByRole("link", { name: "All" }).click();
    await page.getByLabel("Search packages").fill("board");
    await page.getByLabel("Search packages").press("Enter");
    await page.waitForURL(/q=board/);
    expect(await titles()).toEqual(["Board minutes"]);

    // The audit trail and the link's state.
    await page.getByRole("link", { name: "Board minutes" }).click();
    await page.waitForURL(new RegExp(`/packages/${shared.id}$`));
    expect(await page.locator("#events tbody tr").count()).toBe(1);
    await expect(page.locator("#events tbody tr").textContent()).resolves.toMatch(/Downloaded\s+minutes\.txt[\s\S]*curl\/8\.5\.0/);
    await snap(page, "package", { fullPage: true });

    // Revoke, confirmed: the recipient's link is dead.
    await page.getByText("Revoke link", { exact: true }).first().click();
    await page.locator(".confirm-box").getByRole("button", { name: "Revoke link" }).click();
    await page.waitForURL(/notice=revoked/);
    await expect(page.locator(".page-head .badge").textContent()).resolves.toBe("Revoked");
    expect((await fetch(`${shared.api}`)).status).toBe(410);

    // Delete, confirmed: gone from the list and from the database.
    await page.getByText("Delete package", { exact: true }).click();
    await page.getByRole("button", { name: "Delete for good" }).click();
    await page.waitForURL(/\/packages\?notice=deleted$/);
    expect(await titles()).not.toContain("Board minutes");
    await expectError(await t.fetch(`/packages/${shared.id}`, { token: alice.token }), 404);

    // A draft takes files on its page and finalizes there: the link is shown once.
    await page.goto(`${t.url}/packages/${draft.id}`);
    await expect(page.locator("#finalize").isDisabled()).resolves.toBe(true);
    await page.setInputFiles("#file-input", [{ name: "contract.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF contract") }]);
    await page.waitForURL(new RegExp(`/packages/${draft.id}$`));
    await page.locator("#files tbody tr", { hasText: "contract.pdf" }).waitFor();
    await page.getByRole("button", { name: "Finalize and send the link" }).click();
    const link = await page.locator("#magic-link").inputValue();
    expect((await fetch(`${t.api}/links/${secretOf(link)}`)).status).toBe(200);
    expect(problems).toEqual([]);
  });

  it("the upload API refuses the session cookie without the CSRF header, from the page itself", async () => {
    const pkg = await createPackage(t, alice.token, { title: "CSRF check" });
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    const answer = async (withHeader: boolean) =>
      page.evaluate(
        async ({ id, withHeader }) => {
          const form = new FormData();
          form.append("file", new Blob(["sneaky"]), "sneaky.txt");
          const token = document.querySelector('meta[name="csrf-token"]')!.getAttribute("content")!;
          const res = await fetch(`/api/v1/packages/${id}/files`, { method: "POST", body: form, headers: withHeader ? { "X-CSRF-Token": token } : {} });
          return { status: res.status, body: await res.json() };
        },
        { id: pkg.id, withHeader },
      );
    expect(await answer(false)).toEqual({ status: 403, body: { code: "csrf_failed", detail: expect.any(String) } });
    expect((await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json()).files).toEqual([]);
    expect(await answer(true)).toMatchObject({ status: 201, body: { name: "sneaky.txt" } });
    // The 403 was asked for; nothing else went wrong.
    expect(problems.filter((p) => !p.includes("status of 403"))).toEqual([]);
  });

  it("webhooks: add (secret shown once), send a test, see the delivery, redeliver", async () => {
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.getByRole("link", { name: "Webhooks" }).click();
    await page.getByText("Add webhook").first().click();
    await page.getByLabel("URL").fill(`${receiver.url}/hooks/sf`);
    await page.getByLabel(/^Description/).fill("CI notifier");
    await page.locator("form").getByRole("button", { name: "Add webhook" }).click();
    const secret = await page.locator("#webhook-secret").inputValue();
    expect(secret).toMatch(/^whsec_/);
    await snap(page, "webhooks");

    await page.getByRole("link", { name: "Open the webhook" }).click();
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.waitForURL(/notice=test_sent/);
    await expect(page.locator("#deliveries tbody tr").first().textContent()).resolves.toContain("ping");
    await deliverDue(t.running.services);
    await receiver.waitFor(1);
    await page.reload();
    await expect(page.locator("#deliveries tbody tr .badge").first().textContent()).resolves.toBe("succeeded");
    await page.getByRole("button", { name: "Redeliver" }).first().click();
    await page.waitForURL(/notice=redelivered/);
    expect(await page.locator("#deliveries tbody tr").count()).toBe(2);
    // (The test's clock stands still: both rows have the same time.)
    expect(await page.locator("#deliveries tbody tr", { hasText: "(redelivery)" }).count()).toBe(1);
    await deliverDue(t.running.services);
    await receiver.waitFor(2);
    await page.reload();
    await snap(page, "webhook");
    expect(problems).toEqual([]);
  });

  it("admin: users are listed, added, promoted and disabled; a user gets the 403 page", async () => {
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    expect(await page.locator(".mainnav").getByRole("link", { name: "Admin" }).count()).toBe(0);
    const res = await page.goto(`${t.url}/admin/users`);
    expect(res!.status()).toBe(403);
    await expect(page.locator("h1").textContent()).resolves.toBe("You cannot open this page");
    await snap(page, "forbidden");
    await context.clearCookies();

    await signInThroughPage(page, t.url, admin.user.email, admin.password);
    await page.locator(".mainnav").getByRole("link", { name: "Admin" }).click();
    await page.getByText("Add user").first().click();
    await page.getByLabel("Email").fill("dave@speedyfiles.test");
    await page.getByLabel("Name").fill("Dave Doe");
    await page.getByLabel(/^Password/).fill("dave-password-1");
    await page.locator("form").getByRole("button", { name: "Add user" }).click();
    await page.waitForURL(/notice=created/);
    const row = page.locator("#users tbody tr", { hasText: "dave@speedyfiles.test" });
    await row.getByLabel(/Role of/).selectOption("admin");
    await row.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/notice=role_changed/);
    await row.getByRole("button", { name: "Disable" }).click();
    await page.waitForURL(/notice=disabled/);
    await expect(row.locator(".badge").textContent()).resolves.toBe("disabled");
    await snap(page, "admin-users");
    const dave = await t.fetch("/auth/token", { method: "POST", json: { email: "dave@speedyfiles.test", password: "dave-password-1", name: "x" } });
    expect(dave.status).toBe(401);
    expect(problems.filter((p) => !p.includes("status of 403"))).toEqual([]);
  });

  it("hostile user content is shown as text on every page: no element injected, no script run, no CSP violation", async () => {
    // A user whose name, token, package (title, recipient, message, file name) and webhook are all markup.
    const mallory = await t.createUser({ email: "mallory@speedyfiles.test" });
    await t.running.services.db("users").where({ id: mallory.user.id }).update({ name: HOSTILE });
    await t.fetch("/me/tokens", { method: "POST", token: mallory.token, json: { name: `${HOSTILE} token` } });
    const pkg = await createPackage(t, mallory.token, { title: HOSTILE, recipient_name: "<script>alert(2)</script>", message: "<svg onload=alert(3)>" });
    await addFileWithLegacyName(t, mallory.token, pkg.id, "<b onmouseover=alert(4)>.txt", "harmless");
    await finalize(t, mallory.token, pkg.id);
    const hook = await t.fetch("/webhooks", { method: "POST", token: mallory.token, json: { url: `${receiver.url}/x`, events: ["package.created"], description: HOSTILE } });
    const hookId = ((await hook.json()) as { id: string }).id;

    const visit = async (path: string) => {
      const res = await page.goto(`${t.url}${path}`);
      expect({ path, status: res!.status() }).toEqual({ path, status: 200 });
      expect({ path, injected: await page.locator("main img, main svg, main script, main b, main i, header .who img").count() }).toEqual({ path, injected: 0 });
      return (await page.locator("body").textContent()) ?? "";
    };
    await signInThroughPage(page, t.url, mallory.user.email, mallory.password);
    expect(await page.locator(".user-menu .who").textContent()).toBe(HOSTILE);
    expect(await visit("/packages")).toContain(HOSTILE);
    const detail = await visit(`/packages/${pkg.id}`);
    expect(await page.title()).toBe(`${HOSTILE} · SpeedyFiles`);
    for (const text of [HOSTILE, "<script>alert(2)</script>", "<svg onload=alert(3)>", "<b onmouseover=alert(4)>.txt"]) expect(detail).toContain(text);
    await page.locator("#files .name").hover();
    expect(await visit("/account")).toContain(HOSTILE);
    expect(await visit("/account/tokens")).toContain(`${HOSTILE} token`);
    expect(await visit("/webhooks")).toContain(HOSTILE);
    expect(await visit(`/webhooks/${hookId}`)).toContain(HOSTILE);
    expect(await visit("/packages/new")).toContain("New package");
    await context.clearCookies();
    await signInThroughPage(page, t.url, admin.user.email, admin.password);
    expect(await visit("/admin/users")).toContain(HOSTILE);
    // Give any injected handler a moment to fire.
    await page.waitForTimeout(300);
    expect(problems).toEqual([]);
  });
});
