import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { serverProcess, type Proc } from "@speedyfiles/test-utils/process";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { expectError, RAW_TOKEN } from "@speedyfiles/test-utils/expect";
import { signInThroughPage, userMenu } from "@speedyfiles/test-utils/web-browser";

/**
 * Sessions live in the database, not in a process: a browser stays signed in across a restart,
 * and any of several server processes on one PostgreSQL serves it. (Cookies are per host, not
 * per port, so one browser reaches every server on 127.0.0.1 with the same cookie.)
 */
describe("web sessions outlive a process (real browser)", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function freshPage(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
    const context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    return { context, page, problems: watchProblems(page) };
  }

  it("a session survives a server restart (SQLite in the same data dir)", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-restart-"));
    let first: TestServer | undefined;
    let second: TestServer | undefined;
    const { context, page, problems } = await freshPage();
    try {
      first = await startTestServer("sqlite", { dataDir });
      const u = await first.createUser();
      await signInThroughPage(page, first.url, u.user.email, u.password);
      await first.close();
      first = undefined;

      second = await startTestServer("sqlite", { dataDir });
      const res = await page.goto(`${second.url}/packages`);
      expect(res!.status()).toBe(200);
      expect(new URL(page.url()).pathname).toBe("/packages");
      await expect(page.locator(".user-menu .who").textContent()).resolves.toBe(u.user.email.split("@")[0]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      await first?.close();
      await second?.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it("two server processes on one PostgreSQL share sessions: sign in on one, work and sign out on the other", async () => {
    const db = await createPgDatabase();
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-second-"));
    let a: TestServer | undefined;
    let b: Proc | undefined;
    const { context, page, problems } = await freshPage();
    try {
      a = await startTestServer("postgres", { databaseUrl: db.url });
      const u = await a.createUser();
      // The second one is a real `speedyfiles-server` process of its own.
      b = serverProcess(["serve"], { SF_PORT: "0", SF_DATA_DIR: dataDir, SF_DATABASE_URL: db.url, SF_LOG_LEVEL: "warn", SF_SWEEP_INTERVAL_SECONDS: "0" });
      const [, bUrl] = await b.waitFor(/SpeedyFiles (http:\/\/127\.0\.0\.1:\d+)/);

      await signInThroughPage(page, a.url, u.user.email, u.password);
      await page.goto(`${bUrl}/account/tokens`);
      expect(new URL(page.url()).pathname).toBe("/account/tokens");

      // A change through the other process: its forms carry the same session's CSRF token.
      await page.getByText("Create token").click();
      await page.getByLabel("Name").fill("made on process B");
      await page.getByRole("button", { name: "Create", exact: true }).click();
      const token = await page.locator("#new-token").inputValue();
      expect(token).toMatch(RAW_TOKEN);
      expect((await a.fetch("/me", { token })).status).toBe(200);

      // Signing out on B ends the session on A too.
      const [cookie] = (await context.cookies()).filter((c) => c.name === "sf_session");
      await userMenu(page, "Sign out");
      await page.waitForURL(/\/login\?notice=signed_out$/);
      await expectError(await fetch(`${a.api}/me`, { headers: { Cookie: `sf_session=${cookie!.value}` } }), 401, "session_invalid");
      await page.goto(`${a.url}/packages`);
      expect(new URL(page.url()).pathname).toBe("/login");
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      b?.kill("SIGTERM");
      await b?.code;
      await a?.close();
      await db.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
