import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { requestFiles } from "@speedyfiles/test-utils/links";
import { until } from "@speedyfiles/test-utils/uploads";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { signInThroughPage } from "@speedyfiles/test-utils/web-browser";

const MiB = 1024 * 1024;

// One database is enough here: the tus API tests run on both.
describe("a large browser upload survives a dropped connection (sqlite)", () => {
  let t: TestServer;
  let browser: Browser;
  let work: string;

  beforeAll(async () => {
    t = await startTestServer("sqlite");
    browser = await launchChromium();
    work = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-browser-tus-"));
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  it("inbound page: tus-js-client resumes the same upload after the connection is cut, and the bytes arrive intact", async () => {
    const { token } = await t.createUser();
    const s = await requestFiles(t, token, { title: "Footage" });
    const file = path.join(work, "footage.bin");
    const hash = crypto.createHash("sha256");
    const out = fs.openSync(file, "w");
    for (let i = 0; i < 100; i++) {
      const b = crypto.randomBytes(MiB);
      hash.update(b);
      fs.writeSync(out, b);
    }
    fs.closeSync(out);

    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watchProblems(page);
    // A slow uplink, so the cut lands in the middle of a chunk.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 25 * MiB });
    await page.goto(s.page);
    await page.setInputFiles("#file-input", file);

    // Once ~20 MiB are on the server's disk, every connection is cut.
    const uploads = path.join(t.dataDir, "uploads");
    const partSize = async () => {
      const names = (await fsp.readdir(uploads)).filter((n) => !n.endsWith(".json"));
      return names.length === 1 ? (await fsp.stat(path.join(uploads, names[0]!))).size : 0;
    };
    await until(async () => (await partSize()) > 20 * MiB, 30_000, "20 MiB to arrive");
    t.running.server.closeAllConnections();

    await page.waitForFunction(() => document.querySelectorAll('#queue li[data-state="uploaded"]').length === 1, undefined, { timeout: 60_000 });
    expect(await page.locator('#queue li[data-state="failed"]').count()).toBe(0);
    const pkg = (await (await t.fetch(`/packages/${s.id}`, { token })).json()) as { files: { name: string; sha256: string; size: number }[] };
    expect(pkg.files).toEqual([expect.objectContaining({ name: "footage.bin", size: 100 * MiB, sha256: hash.digest("hex") })]);
    // One upload, resumed: not a second one started from zero.
    expect(await t.running.services.db("uploads").where({ package_id: s.id }).count<{ n: number }[]>({ n: "*" })).toEqual([{ n: 1 }]);
    // The cut itself is reported by the browser (a failed request), and so may be one 409: the
    // cut PATCH's last write can land on disk just after the client's HEAD read the offset, and
    // tus-js-client then asks again. Nothing else may be reported.
    const unexpected = problems.filter((p) => !/net::ERR_(CONNECTION_RESET|EMPTY_RESPONSE|CONNECTION_CLOSED)|status of 409/.test(p));
    expect(unexpected).toEqual([]);
    await context.close();
  }, 120_000);

  it("New package page: a file over 64 MiB goes through tus with the session (CSRF header), and the package is sent", async () => {
    const alice = await t.createUser();
    const file = path.join(work, "render.mov");
    const hash = crypto.createHash("sha256");
    const out = fs.openSync(file, "w");
    for (let i = 0; i < 70; i++) {
      const b = crypto.randomBytes(MiB);
      hash.update(b);
      fs.writeSync(out, b);
    }
    fs.closeSync(out);
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watchProblems(page);
    await signInThroughPage(page, t.url, alice.user.email, alice.password);
    await page.goto(`${t.url}/packages/new`);
    await page.getByLabel("Title").fill("Render");
    await page.getByLabel("Recipient email").fill("carol@client.test");
    await page.setInputFiles("#file-input", file);
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.locator("#result").waitFor({ state: "visible", timeout: 60_000 });
    const row = await t.running.services.db("uploads").where({ name: "render.mov" }).first("package_id", "file_id");
    expect(row.file_id).toEqual(expect.any(String));
    const pkg = (await (await t.fetch(`/packages/${row.package_id}`, { token: alice.token })).json()) as { status: string; files: { sha256: string }[] };
    expect(pkg.status).toBe("active");
    expect(pkg.files.map((f) => f.sha256)).toEqual([hash.digest("hex")]);
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
