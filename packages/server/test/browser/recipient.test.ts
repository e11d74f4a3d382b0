import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { createPackage, sha256, until } from "@speedyfiles/test-utils/uploads";
import { finalize, requestFiles, shareFiles } from "@speedyfiles/test-utils/links";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { addFileWithLegacyName } from "@speedyfiles/test-utils/legacy-names";

const run = promisify(execFile);
// Screenshots refresh docs/screenshots/ only when asked (SF_SCREENSHOTS=1), so a test run never
// rewrites tracked files; otherwise they go to a temp folder (still taken: rendering must work).
const SCREENSHOTS = process.env.SF_SCREENSHOTS
  ? fileURLToPath(new URL("../../../../docs/screenshots/", import.meta.url))
  : fs.mkdtempSync(path.join(os.tmpdir(), "sf-screenshots-"));
const HOSTILE = "<img src=x onerror=alert(1)>.txt";
const UNZIP_ENV = { ...process.env, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };

type User = Awaited<ReturnType<TestServer["createUser"]>>;

// One database is enough here: the API tests run on both.
describe("the recipient in a real browser (sqlite)", () => {
  let t: TestServer;
  let smtp: TestSmtp;
  let alice: User;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let work: string;
  /** Problems the page reported: dialogs (an alert means script injection), CSP violations, script errors. */
  let problems: string[];

  beforeAll(async () => {
    smtp = await startTestSmtp();
    // A fixed "now", so the expiry shown on the pages (and so the screenshots) is the same every run.
    // Only the server's clock: the browser and its cookies keep the real date, as a visitor's do.
    const clock = new TestClock({ at: "2026-11-27T09:00:00.000Z" });
    t = await startTestServer("sqlite", { clock, env: { SF_SMTP_URL: smtp.url } });
    alice = await t.createUser({ email: "alice@speedyfiles.test" });
    await t.running.services.db("users").where({ id: alice.user.id }).update({ name: "Alice Example" });
    browser = await launchChromium();
    work = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-browser-"));
    await fsp.mkdir(SCREENSHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await smtp?.close();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1000, height: 800 }, acceptDownloads: true, colorScheme: "light" });
    page = await context.newPage();
    // A dead link's page is a 410/404 document: Chromium reports that status as a console error.
    problems = watchProblems(page, [404, 410, 429]);
  });
  afterEach(async () => {
    await context?.close();
  });

  it("outbound: the page lists the files; Download saves the exact bytes; Download all saves a valid zip", async () => {
    const report = crypto.randomBytes(340_000);
    const budget = crypto.randomBytes(52_000);
    const notes = Buffer.from("Board meeting notes\n");
    const s = await shareFiles(
      t,
      alice.token,
      [
        ["Q4-report.pdf", report],
        ["budget-2027.xlsx", budget],
        ["notes/board-meeting.txt", notes],
      ],
      { title: "Q4 financials", message: "Numbers for the board meeting on Friday.\nCall me with questions." },
    );

    const res = await page.goto(s.page);
    expect(res!.status()).toBe(200);
    await expect(page.title()).resolves.toBe("Q4 financials · SpeedyFiles");
    expect(await page.locator("h1").textContent()).toBe("Q4 financials");
    expect(await page.locator("main").textContent()).toContain("Alice Example");
    expect(await page.locator(".message").textContent()).toContain("Numbers for the board meeting on Friday.");
    expect(await page.locator(".files .file .name").allTextContents()).toEqual(["Q4-report.pdf", "budget-2027.xlsx", "notes/board-meeting.txt"]);
    // The stylesheet loaded from /assets (the card has its border radius).
    expect(await page.locator("main.card").evaluate((el) => getComputedStyle(el).borderTopLeftRadius)).toBe("12px");
    await page.screenshot({ path: path.join(SCREENSHOTS, "outbound.png") });

    // One file.
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator(".file", { hasText: "Q4-report.pdf" }).getByRole("link", { name: "Download" }).click()]);
    expect(download.suggestedFilename()).toBe("Q4-report.pdf");
    const saved = await download.path();
    expect(sha256(await fsp.readFile(saved))).toBe(sha256(report));

    // A file in a folder is saved under its own name.
    const [nested] = await Promise.all([page.waitForEvent("download"), page.locator(".file", { hasText: "board-meeting.txt" }).getByRole("link", { name: "Download" }).click()]);
    expect(nested.suggestedFilename()).toBe("board-meeting.txt");
    expect((await fsp.readFile(await nested.path())).equals(notes)).toBe(true);

    // Everything as one zip.
    const [zipDownload] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download all as .zip" }).click()]);
    expect(zipDownload.suggestedFilename()).toBe("Q4-financials.zip");
    const zipPath = path.join(work, "all.zip");
    await zipDownload.saveAs(zipPath);
    const listing = (await run("unzip", ["-l", zipPath], { env: UNZIP_ENV })).stdout;
    for (const [name, bytes] of [
      ["Q4-report.pdf", report],
      ["budget-2027.xlsx", budget],
      ["notes/board-meeting.txt", notes],
    ] as const) {
      expect(listing).toMatch(new RegExp(`^\\s*${bytes.length}\\s.*\\s${name.replace(/[.]/g, "\\.")}$`, "m"));
    }
    expect(listing).toMatch(/\s3 files\s*$/);
    await run("unzip", ["-t", zipPath], { env: UNZIP_ENV });
    const p = await run("unzip", ["-p", zipPath, "budget-2027.xlsx"], { env: UNZIP_ENV, encoding: "buffer", maxBuffer: 10 << 20 });
    expect(sha256(p.stdout)).toBe(sha256(budget));

    // The owner's audit trail saw the three downloads from the browser.
    const eventsNow = async () => (await (await t.fetch(`/packages/${s.id}/events`, { token: alice.token })).json()) as unknown[];
    await until(async () => (await eventsNow()).length === 3, 5000, "three downloads recorded");
    const events = (await eventsNow()) as { type: string; user_agent: string | null }[];
    expect(events.map((e: { type: string }) => e.type).sort()).toEqual(["archive_download", "file_download", "file_download"]);
    expect(events.every((e: { user_agent: string | null }) => /Chrome/.test(e.user_agent ?? ""))).toBe(true);
    expect(problems).toEqual([]);
  });

  it("a hostile file name is shown as text: no element is injected, no script runs, no CSP violation", async () => {
    // Uploads refuse `<` and `>` now (Windows cannot store them); rows from before that rule can
    // still hold them, and the page must still show them as text.
    const pkg = await createPackage(t, alice.token, { direction: "outbound", title: "<img src=y onerror=alert(3)>", message: "<svg onload=alert(4)>" });
    t.clock.advance(1000);
    await addFileWithLegacyName(t, alice.token, pkg.id, HOSTILE, "harmless");
    t.clock.advance(1000);
    await addFileWithLegacyName(t, alice.token, pkg.id, "<script>alert(2)</script>.txt", "also harmless");
    const secret = await finalize(t, alice.token, pkg.id);
    const s = { page: `${t.url}/l/${secret}` };
    await page.goto(s.page);
    await page.waitForLoadState("load");
    expect(await page.locator(".files .file .name").allTextContents()).toEqual([HOSTILE, "<script>alert(2)</script>.txt"]);
    expect(await page.locator("h1").textContent()).toBe("<img src=y onerror=alert(3)>");
    expect(await page.locator(".message").textContent()).toBe("<svg onload=alert(4)>");
    expect(await page.locator("main img, main svg, main script").count()).toBe(0);
    // Downloading it gives the bytes.
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator(".file").first().getByRole("link", { name: "Download" }).click()]);
    expect(await fsp.readFile(await download.path(), "utf8")).toBe("harmless");
    // Give any injected handler a moment to fire.
    await page.waitForTimeout(300);
    expect(problems).toEqual([]);
  });

  it("inbound: two files uploaded from the page, Done notifies the owner by email", async () => {
    const s = await requestFiles(t, alice.token, {
      title: "Tax documents 2026",
      recipient_name: "Carol",
      recipient_email: "carol@client.test",
      message: "Please upload your W-2 and the signed engagement letter.",
    });
    const res = await page.goto(s.page);
    expect(res!.status()).toBe(200);
    expect(await page.locator("h1").textContent()).toBe("Tax documents 2026");
    await expect(page.locator("#done").isDisabled()).resolves.toBe(true);
    expect(await page.locator("#none-yet").textContent()).toBe("Nothing yet.");

    const w2 = crypto.randomBytes(180_000);
    const letter = Buffer.from("%PDF-1.7 signed engagement letter");
    await page.setInputFiles("#file-input", [
      { name: "W-2 2026.pdf", mimeType: "application/pdf", buffer: w2 },
      { name: "engagement-letter-signed.pdf", mimeType: "application/pdf", buffer: letter },
    ]);
    await page.waitForFunction(() => document.querySelectorAll('#queue li[data-state="uploaded"]').length === 2, undefined, { timeout: 15_000 });
    expect(await page.locator('#queue li[data-state="failed"]').count()).toBe(0);
    // Uploads run in parallel: each joins "Already received" when it completes, in either order.
    expect((await page.locator("#received .file .name").allTextContents()).sort()).toEqual(["W-2 2026.pdf", "engagement-letter-signed.pdf"]);
    expect(await page.locator("#none-yet").count()).toBe(0);
    await expect(page.locator("#done").isEnabled()).resolves.toBe(true);

    await page.click("#done");
    await page.waitForSelector('#status[data-done="yes"]');
    expect(await page.locator("#status").textContent()).toBe("Thank you! The requester has been notified.");
    await page.screenshot({ path: path.join(SCREENSHOTS, "inbound.png") });

    // The owner's email lists both files.
    const mail = await smtp.waitForMail((m) => m.envelope.to.includes(alice.user.email) && /Tax documents 2026/.test(m.parsed.subject ?? ""));
    expect(mail.parsed.subject).toContain("Carol");
    expect(mail.parsed.subject).toContain("2 files");
    expect(mail.parsed.text).toContain("W-2 2026.pdf");
    expect(mail.parsed.text).toContain("engagement-letter-signed.pdf");

    // And the bytes arrived intact.
    const pkg = await (await t.fetch(`/packages/${s.id}`, { token: alice.token })).json();
    const byName = new Map(pkg.files.map((f: { name: string; sha256: string }) => [f.name, f.sha256]));
    expect(byName.get("W-2 2026.pdf")).toBe(sha256(w2));
    expect(byName.get("engagement-letter-signed.pdf")).toBe(sha256(letter));
    expect(pkg.completed_at).toEqual(expect.any(String));

    // Coming back later, the page says so.
    await page.reload();
    expect(await page.locator("#status").textContent()).toBe("You already sent files; you can add more.");
    expect(problems).toEqual([]);
  });

  it("after the owner revokes, a reload shows the 410 page with nothing of the package", async () => {
    const s = await shareFiles(t, alice.token, [["contract.pdf", crypto.randomBytes(2000)]], { title: "Signed contract" });
    const first = await page.goto(s.page);
    expect(first!.status()).toBe(200);
    expect(await page.locator(".file .name").allTextContents()).toEqual(["contract.pdf"]);

    const revoke = await t.fetch(`/packages/${s.id}/revoke`, { method: "POST", token: alice.token });
    expect(revoke.status).toBe(200);

    const res = await page.reload();
    expect(res!.status()).toBe(410);
    expect(await page.locator("h1").textContent()).toBe("This link is no longer active");
    expect(await page.title()).toBe("This link is no longer active · SpeedyFiles");
    const text = (await page.locator("body").textContent()) ?? "";
    expect(text).toContain("Ask the sender for a new link");
    expect(text).not.toContain("Signed contract");
    expect(text).not.toContain("contract.pdf");
    expect(text).not.toContain(alice.user.email);
    expect(await page.locator("a[href*='/files/']").count()).toBe(0);
    await page.screenshot({ path: path.join(SCREENSHOTS, "gone.png") });
    expect(problems).toEqual([]);
  });
});
