import fs from "node:fs/promises";
import path from "node:path";
import vm from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { addFile, createPackage, sha256 } from "@speedyfiles/test-utils/uploads";
import { signedIn, type WebClient } from "@speedyfiles/test-utils/web";
import { formatBytes } from "../src/web/format.js";
// The CLI's own formatter, read only to prove the server writes sizes exactly as `sf` does.
import { formatBytes as cliFormatBytes } from "../../cli/src/output.js";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

const GiB = 1024 ** 3;
const SIZES = [0, 1, 999, 1000, 1023, 1024, 1536, 10_000, 102_400, 1_048_575, 1_048_576, 1_500_000, 27_000_000, 123_456_789, 10 * GiB, 3 * 1024 * GiB];

/** What a page shows as text (tags dropped, the few entities our escaping writes decoded). */
function textOf(page: string): string {
  return page
    .replace(/<[^>]*>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, "`")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");
}

describe("sizes: one binary (IEC) format, the CLI's", () => {
  it("formatBytes writes what the CLI writes, for every size", () => {
    for (const n of SIZES) expect(formatBytes(n), String(n)).toBe(cliFormatBytes(n));
    expect(formatBytes(10 * GiB)).toBe("10.0 GiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(1000)).toBe("1000 B");
  });
});

describe.each(DATABASES)("the web interface's first hour (%s)", (kind) => {
  let t: TestServer;
  let alice: User;
  let c: WebClient;

  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_MAX_FILE_BYTES: String(10 * GiB) } });
    alice = await t.createUser();
    c = await signedIn(t, alice.user.email, alice.password);
  });
  afterAll(async () => {
    await t?.close();
  });

  const tokenCount = async () => ((await (await t.fetch("/me/tokens", { token: alice.token })).json()) as unknown[]).length;

  describe("API tokens page", () => {
    it("names the CLI's real flag: `sf login --with-token` (reads stdin), never `sf login --token`", async () => {
      const res = await c.post("/account/tokens", { _csrf: await c.csrf(), name: "words" });
      const page = res.status === 303 ? await (await c.get(res.headers.get("location")!)).text() : await res.text();
      expect(page).toContain("new-token");
      expect(page).not.toContain("sf login --token");
      expect(page).toMatch(/sf login --url http:\/\/[^ ]+ --with-token/);
    });

    it("create → 303 to the list; the token is shown once; a reload shows it no more and creates nothing", async () => {
      const before = await tokenCount();
      const res = await c.post("/account/tokens", { _csrf: await c.csrf(), name: "CI on build-01" });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/account/tokens");
      expect(await res.text()).not.toMatch(/sf_[A-Za-z0-9_-]{43}/);
      expect(await tokenCount()).toBe(before + 1);

      const first = await c.get("/account/tokens");
      expect(first.status).toBe(200);
      expect(first.headers.get("cache-control")).toBe("no-store");
      const shown = /id="new-token"[^>]*value="(sf_[A-Za-z0-9_-]{43})"/.exec(await first.text());
      expect(shown).not.toBeNull();
      const me = await fetch(`${t.api}/me`, { headers: { Authorization: `Bearer ${shown![1]}` } });
      expect(me.status).toBe(200);

      const again = await (await c.get("/account/tokens")).text();
      expect(again).not.toContain("new-token");
      expect(again).not.toContain(shown![1]);
      expect(await tokenCount()).toBe(before + 1);
    });

    it("the secret is only in the session that created it, and not stored in the clear", async () => {
      const res = await c.post("/account/tokens", { _csrf: await c.csrf(), name: "elsewhere" });
      expect(res.status).toBe(303);
      // Another browser of the same user does not see it.
      const other = await signedIn(t, alice.user.email, alice.password);
      expect(await (await other.get("/account/tokens")).text()).not.toContain("new-token");
      const flashes = JSON.stringify(await t.running.services.db("web_session_flashes").select());
      expect(flashes).not.toMatch(/sf_[A-Za-z0-9_-]{43}/);
      const page = await (await c.get("/account/tokens")).text();
      expect(page).toContain("new-token");
      // Taken: gone from the database too.
      expect(await t.running.services.db("web_session_flashes").select()).toEqual([]);
    });

    it("a form error is the form again with 422 (nothing created)", async () => {
      const before = await tokenCount();
      const res = await c.post("/account/tokens", { _csrf: await c.csrf(), name: "" });
      expect(res.status).toBe(422);
      expect(await tokenCount()).toBe(before);
    });
  });

  it("every form that succeeds answers 303 (post/redirect/get); the link and the webhook secret are shown once", async () => {
    const csrf = await c.csrf();
    const expect303 = async (p: string, form: Record<string, string | string[]>, location?: RegExp) => {
      const res = await c.post(p, { _csrf: csrf, ...form });
      expect(res.status, `${p}: ${res.status}`).toBe(303);
      if (location) expect(res.headers.get("location"), p).toMatch(location);
      await res.body?.cancel();
      return res.headers.get("location")!;
    };

    // New package (the form without JavaScript), a file, then finalize: the link shows once.
    const where = await expect303(
      "/packages/new",
      { title: "Report", recipient_email: "a@example.com, b@example.com", direction: "outbound", ttl_days: "7" },
      /^\/packages\/[0-9a-f-]{36}/,
    );
    const id = /\/packages\/([0-9a-f-]{36})/.exec(where)![1]!;
    const file = await addFile(t, alice.token, id, "a.txt", "hello");
    await expect303(`/packages/${id}/finalize`, {}, new RegExp(`^/packages/${id}$`));
    const shown = await (await c.get(`/packages/${id}`)).text();
    expect(shown).toMatch(/id="magic-link"[^>]*value="http[^"]+\/l\/[A-Za-z0-9_-]+"/);
    expect(await (await c.get(`/packages/${id}`)).text()).not.toContain('id="magic-link"');

    const detail = (await (await t.fetch(`/packages/${id}`, { token: alice.token })).json()) as { links: { id: string }[] };
    await expect303(`/packages/${id}/links/${detail.links[1]!.id}/revoke`, {});
    await expect303(`/packages/${id}/extend`, { days: "3" });
    await expect303(`/packages/${id}/revoke`, {});
    const draft = await createPackage(t, alice.token);
    const f2 = await addFile(t, alice.token, draft.id, "b.txt", "x");
    await expect303(`/packages/${draft.id}/files/${f2.id}/delete`, {});
    await expect303(`/packages/${draft.id}/delete`, {}, /^\/packages/);
    expect(file.size).toBe(5);

    // Webhooks: the signing secret shows once.
    await expect303("/webhooks", { url: "https://hooks.example.test/x", events: ["package.created"] }, /^\/webhooks\/[0-9a-f-]{36}$|^\/webhooks$/);
    const hooks = (await (await t.fetch("/webhooks", { token: alice.token })).json()) as { items?: { id: string }[] } | { id: string }[];
    const hookId = (Array.isArray(hooks) ? hooks : hooks.items!)[0]!.id;
    const withSecret = await (await c.get("/webhooks")).text();
    expect(withSecret).toMatch(/id="webhook-secret"[^>]*value="[^"]+"/);
    expect(await (await c.get("/webhooks")).text()).not.toMatch(/id="webhook-secret"/);
    for (const a of ["disable", "enable", "test"]) await expect303(`/webhooks/${hookId}/${a}`, {});
    await expect303(`/webhooks/${hookId}/delete`, {});

    // Account: a session revoke; admin forms are covered by the admin's own test below.
    const other = await signedIn(t, alice.user.email, alice.password);
    await other.get("/account");
    const mine = sha256(c.jar.cookies.get("sf_session")!);
    const otherSession = (await t.running.services.db("web_sessions").where({ user_id: alice.user.id }).whereNull("revoked_at").whereNot({ secret_hash: mine }).first("id")) as {
      id: string;
    };
    await expect303(`/account/sessions/${otherSession.id}/revoke`, {});
  });

  it("admin forms answer 303", async () => {
    const [admin, bob] = await Promise.all([t.createUser({ role: "admin" }), t.createUser()]);
    const a = await signedIn(t, admin.user.email, admin.password);
    const csrf = await a.csrf();
    const add = await a.post("/admin/users", { _csrf: csrf, email: `new-${Date.now()}@example.com`, name: "New", password: "a-long-password", role: "user" });
    expect(add.status).toBe(303);
    for (const p of ["role", "disable", "enable"]) {
      const res = await a.post(`/admin/users/${bob.user.id}/${p}`, { _csrf: csrf, role: "user" });
      expect(res.status, p).toBe(303);
    }
  });

  it("a package with several recipients shows them all (escaped) in its header and in the list", async () => {
    const recipients = ["first@example.com", "o'brien&co@example.com", "third@example.com", "fourth@example.com", "fifth@example.com"];
    const pkg = await createPackage(t, alice.token, { title: "Many", recipients: recipients.map((email) => ({ email })), recipient_email: undefined });
    const detail = await (await c.get(`/packages/${pkg.id}`)).text();
    expect(detail).not.toContain("o'brien&co");
    expect(detail).toContain("o&#39;brien&amp;co@example.com");
    const facts = textOf(/<dl class="facts">[\s\S]*?<\/dl>/.exec(detail)![0]);
    for (const r of recipients) expect(facts, r).toContain(r);

    const list = await (await c.get("/packages?q=Many")).text();
    expect(list).not.toContain("o'brien&co");
    const row = /<tr>[\s\S]*?Many[\s\S]*?<\/tr>/.exec(list)![0];
    // The first few by name, the rest as "+k more" with every address in the title.
    const shown = textOf(row);
    expect(shown).toContain("first@example.com");
    expect(shown).toMatch(/\+\d+ more/);
    const title = /title="([^"]*)"[^>]*>\+\d+ more/.exec(row)?.[1] ?? "";
    for (const r of recipients) expect(textOf(title), r).toContain(r);
  });

  it("sizes are written the same on the pages, in the email, in the upload form and by the pages' script", async () => {
    const bytes = Buffer.alloc(1536, 1);
    const pkg = await createPackage(t, alice.token, { title: "Sizes", recipient_email: "sizes@example.com" });
    await addFile(t, alice.token, pkg.id, "s.bin", bytes);
    const detail = textOf(await (await c.get(`/packages/${pkg.id}`)).text());
    expect(detail).toContain(formatBytes(1536));
    expect(detail).toContain("1.5 KiB");

    const form = textOf(await (await c.get("/packages/new")).text());
    expect(form).toContain(`up to ${formatBytes(10 * GiB)} each`);
    expect(form).toContain("up to 10.0 GiB each");
    expect(form).not.toMatch(/\d (kB|MB|GB)\b/);

    const list = textOf(await (await c.get("/packages?q=Sizes")).text());
    expect(list).toContain("1.5 KiB");

    // The email the recipient gets.
    const outbox = path.join(t.dataDir, "outbox");
    await fs.rm(outbox, { recursive: true, force: true });
    expect((await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: alice.token })).status).toBe(200);
    // Mail leaves in the background (the outbox worker), a moment after finalize answers.
    let mails: string[] = [];
    for (let i = 0; i < 100 && mails.length === 0; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 50));
      mails = (await fs.readdir(outbox).catch(() => [] as string[])).filter((m) => m.endsWith(".eml"));
    }
    const mail = (await Promise.all(mails.map((m) => fs.readFile(path.join(outbox, m), "utf8")))).join("\n");
    expect(mail).toContain("(1.5 KiB)");
    expect(mail).not.toMatch(/\d (kB|MB|GB)\b/);

    // The script the upload pages use: the same function, served from /assets.
    const js = await fetch(`${t.url}/assets/format-bytes.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    const sandbox: { globalThis?: unknown; sfFormatBytes?: (n: number) => string } = {};
    vm.createContext(sandbox);
    vm.runInContext(await js.text(), sandbox);
    for (const n of SIZES) expect(sandbox.sfFormatBytes!(n), String(n)).toBe(formatBytes(n));
  });
});
