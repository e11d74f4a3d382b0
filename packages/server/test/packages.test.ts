import crypto from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { addFileWithLegacyName } from "@speedyfiles/test-utils/legacy-names";
import { addFile, blobPath, createPackage, exists, filesUnder, postPackage, sha256, until, uploadFile } from "@speedyfiles/test-utils/uploads";
import { findPackageByLinkHash } from "../src/db/packages.js";
import { sha256Hex } from "../src/security/secrets.js";
import type { Services } from "../src/services/context.js";

/** The package a magic-link secret resolves to, whatever its state (only the hash is stored). */
const packageByLinkSecret = (s: Services, secret: string) => findPackageByLinkHash(s.db, sha256Hex(secret));

const PUBLIC_URL = "https://files.example.test";
const LINK = new RegExp(`^${PUBLIC_URL.replace(/[.]/g, "\\.")}/l/([A-Za-z0-9_-]{43})$`);
const MISSING = "00000000-0000-4000-8000-000000000000";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A port nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const valid = { title: "Q4 financials", recipient_email: "cfo@acme.test", direction: "outbound", ttl_days: 14 };

describe.each(DATABASES)("packages (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let alice: { token: string; user: { id: string; email: string; name: string } };
  let bob: { token: string; user: { id: string; email: string; name: string } };

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_PUBLIC_URL: PUBLIC_URL, SF_MAIL_FROM: "SpeedyFiles <noreply@files.example.test>" } });
    alice = await t.createUser();
    bob = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  const finalize = (id: string, token = alice.token) => t.fetch(`/packages/${id}/finalize`, { method: "POST", token });
  const mailTo = (addr: string) => (m: ReceivedMail) => m.envelope.to.includes(addr);

  describe("create", () => {
    it("creates a draft with every field echoed and no files", async () => {
      const res = await postPackage(t, alice.token, { ...valid, recipient_name: "  Acme CFO ", message: "Numbers attached." });
      expect(res.status).toBe(201);
      const body = await res.json();
      expect(body).toMatchObject({
        title: "Q4 financials",
        recipient_email: "cfo@acme.test",
        recipient_name: "Acme CFO",
        direction: "outbound",
        status: "draft",
        ttl_days: 14,
        message: "Numbers attached.",
        finalized_at: null,
        expires_at: null,
        revoked_at: null,
        file_count: 0,
        total_size: 0,
        magic_link_state: "none",
        files: [],
      });
      expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(new Date(body.created_at).toISOString()).toBe(body.created_at);
      const again = await (await t.fetch(`/packages/${body.id}`, { token: alice.token })).json();
      expect(again).toEqual(body);
    });

    it("accepts the bounds: title of 1 and 200 characters, ttl_days 1 and 365, message of 5000", async () => {
      for (const patch of [
        { title: "x" },
        { title: "t".repeat(200) },
        { ttl_days: 1 },
        { ttl_days: 365 },
        { message: "m".repeat(5000) },
        { direction: "inbound" },
        { recipient_email: `${"a".repeat(64)}@${"b".repeat(60)}.test` },
      ]) {
        const res = await postPackage(t, alice.token, { ...valid, ...patch });
        expect(res.status, JSON.stringify(patch)).toBe(201);
        expect(await res.json()).toMatchObject(patch);
      }
    });

    it.each([
      ["missing title", { title: undefined }],
      ["empty title", { title: "" }],
      ["blank title", { title: "   " }],
      ["title of 201 characters", { title: "t".repeat(201) }],
      ["title not a string", { title: 42 }],
      ["missing recipient_email", { recipient_email: undefined }],
      ["recipient_email not an email", { recipient_email: "not-an-email" }],
      ["recipient_email not a string", { recipient_email: ["cfo@acme.test"] }],
      ["recipient_email longer than 254", { recipient_email: `${"a".repeat(64)}@${"b".repeat(190)}.test` }],
      ["empty recipient_name", { recipient_name: "" }],
      ["recipient_name of 201 characters", { recipient_name: "n".repeat(201) }],
      ["missing direction", { direction: undefined }],
      ["direction outside the enum", { direction: "sideways" }],
      ["missing ttl_days", { ttl_days: undefined }],
      ["ttl_days 0", { ttl_days: 0 }],
      ["ttl_days 366", { ttl_days: 366 }],
      ["ttl_days negative", { ttl_days: -1 }],
      ["ttl_days fractional", { ttl_days: 1.5 }],
      ["ttl_days as a string", { ttl_days: "14" }],
      ["ttl_days null", { ttl_days: null }],
      ["message of 5001 characters", { message: "m".repeat(5001) }],
      ["message not a string", { message: { text: "hi" } }],
      ["an extra field", { owner_id: MISSING }],
    ])("answers 422 with detail and errors for %s", async (_label, patch) => {
      const body: Record<string, unknown> = { ...valid, ...patch };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      const before = (await (await t.fetch("/packages?per_page=1", { token: alice.token })).json()).total;
      const res = await postPackage(t, alice.token, body);
      expect(res.status).toBe(422);
      const err = await res.json();
      expect(typeof err.detail).toBe("string");
      expect(err.detail.length).toBeGreaterThan(0);
      expect(Array.isArray(err.errors)).toBe(true);
      const after = (await (await t.fetch("/packages?per_page=1", { token: alice.token })).json()).total;
      expect(after).toBe(before);
    });

    it("answers 422 for a body that is not an object or not JSON", async () => {
      for (const body of ["[]", '"title"', "{bad json"]) {
        const res = await t.fetch("/packages", {
          method: "POST",
          token: alice.token,
          headers: { "Content-Type": "application/json" },
          body,
        });
        expect(res.status, body).toBe(422);
        expect((await res.json()).detail).toBeTruthy();
      }
    });

    it("enforces SF_MAX_TTL_DAYS below the schema's 365", async () => {
      const small = await startTestServer(kind, { env: { SF_MAX_TTL_DAYS: "30" } });
      try {
        const u = await small.createUser();
        const over = await postPackage(small, u.token, { ...valid, ttl_days: 31 });
        expect(over.status).toBe(422);
        expect((await over.json()).detail).toMatch(/30/);
        const ok = await postPackage(small, u.token, { ...valid, ttl_days: 30 });
        expect(ok.status).toBe(201);
        expect((await ok.json()).ttl_days).toBe(30);
      } finally {
        await small.close();
      }
    });
  });

  describe("list", () => {
    let carol: { token: string };
    const ids: string[] = [];

    beforeAll(async () => {
      carol = await t.createUser();
      const specs = [
        { title: "Alpha contract", direction: "outbound", recipient_email: "legal@firm.test" },
        { title: "Beta drawings", direction: "inbound", recipient_email: "architect@studio.test", recipient_name: "Zoë Architect" },
        { title: "Gamma 100% final", direction: "outbound", recipient_email: "boss@corp.test" },
        { title: "Delta photos", direction: "inbound", recipient_email: "photo@snap.test" },
        { title: "Epsilon invoice", direction: "outbound", recipient_email: "ACCOUNTS@Corp.test" },
      ] as const;
      for (const s of specs) {
        t.clock.advance(1000); // distinct creation times, so "newest first" is well defined
        ids.push((await createPackage(t, carol.token, s)).id);
      }
      // Alpha becomes active, Gamma active then revoked
      await addFile(t, carol.token, ids[0]!, "a.txt", "a");
      expect((await finalize(ids[0]!, carol.token)).status).toBe(200);
      await addFile(t, carol.token, ids[2]!, "g.txt", "g");
      expect((await finalize(ids[2]!, carol.token)).status).toBe(200);
      expect((await t.fetch(`/packages/${ids[2]}/revoke`, { method: "POST", token: carol.token })).status).toBe(200);
    });

    const list = async (query: string, token = carol.token) => {
      const res = await t.fetch(`/packages${query}`, { token });
      expect(res.status, query).toBe(200);
      return res.json() as Promise<{ items: { id: string; title: string; [k: string]: unknown }[]; total: number; page: number; per_page: number }>;
    };

    it("lists the caller's packages newest first with defaults page=1, per_page=20", async () => {
      const body = await list("");
      expect(body.page).toBe(1);
      expect(body.per_page).toBe(20);
      expect(body.total).toBe(5);
      expect(body.items.map((p) => p.id)).toEqual([...ids].reverse());
      const alpha = body.items.find((p) => p.id === ids[0])!;
      expect(alpha).toMatchObject({ status: "active", file_count: 1, total_size: 1, magic_link_state: "active" });
      expect(alpha).not.toHaveProperty("files");
      expect(JSON.stringify(body)).not.toMatch(/\/l\//);
    });

    it("paginates with page and per_page", async () => {
      const p1 = await list("?per_page=2&page=1");
      const p2 = await list("?per_page=2&page=2");
      const p3 = await list("?per_page=2&page=3");
      const p4 = await list("?per_page=2&page=4");
      expect([p1.total, p2.total, p3.total, p4.total]).toEqual([5, 5, 5, 5]);
      expect(p1.per_page).toBe(2);
      expect(p2.page).toBe(2);
      expect([...p1.items, ...p2.items, ...p3.items].map((p) => p.id)).toEqual([...ids].reverse());
      expect(p3.items).toHaveLength(1);
      expect(p4.items).toEqual([]);
      expect((await list("?per_page=100")).items).toHaveLength(5);
      expect((await list("?per_page=1")).items.map((p) => p.id)).toEqual([ids[4]]);
    });

    it.each([
      "per_page=101",
      "per_page=0",
      "per_page=abc",
      "per_page=2.5",
      "page=0",
      "page=-1",
      "page=1000001",
      "status=deleted",
      "direction=up",
      "q=" + "x".repeat(201),
      "unknown=1",
    ])("answers 422 for ?%s", async (query) => {
      const res = await t.fetch(`/packages?${query}`, { token: carol.token });
      expect(res.status).toBe(422);
      expect((await res.json()).detail).toBeTruthy();
    });

    it("filters by status", async () => {
      expect((await list("?status=draft")).items.map((p) => p.title)).toEqual(["Epsilon invoice", "Delta photos", "Beta drawings"]);
      expect((await list("?status=active")).items.map((p) => p.title)).toEqual(["Alpha contract"]);
      expect((await list("?status=revoked")).items.map((p) => p.title)).toEqual(["Gamma 100% final"]);
      const expired = await list("?status=expired");
      expect(expired).toMatchObject({ items: [], total: 0 });
    });

    it("filters by direction and combines filters", async () => {
      const inbound = await list("?direction=inbound");
      expect(inbound.items.map((p) => p.title)).toEqual(["Delta photos", "Beta drawings"]);
      expect(inbound.total).toBe(2);
      expect((await list("?direction=outbound&status=draft")).items.map((p) => p.title)).toEqual(["Epsilon invoice"]);
    });

    it("searches title, recipient email and name case-insensitively, with % and _ taken literally", async () => {
      expect((await list("?q=ALPHA")).items.map((p) => p.title)).toEqual(["Alpha contract"]);
      expect((await list("?q=corp.test")).items.map((p) => p.title)).toEqual(["Epsilon invoice", "Gamma 100% final"]);
      expect((await list(`?q=${encodeURIComponent("zoë")}`)).items.map((p) => p.title)).toEqual(["Beta drawings"]);
      expect((await list(`?q=${encodeURIComponent("100%")}`)).items.map((p) => p.title)).toEqual(["Gamma 100% final"]);
      expect((await list(`?q=${encodeURIComponent("%")}`)).items.map((p) => p.title)).toEqual(["Gamma 100% final"]);
      expect((await list("?q=_")).total).toBe(0);
      expect((await list("?q=nothing-like-this")).total).toBe(0);
    });

    it("never lists another user's packages", async () => {
      const dave = await t.createUser();
      expect(await list("", dave.token)).toEqual({ items: [], total: 0, page: 1, per_page: 20, next_cursor: null });
      expect((await list("?q=Alpha", dave.token)).total).toBe(0);
      const own = await createPackage(t, dave.token, { title: "Dave's" });
      expect((await list("", dave.token)).items.map((p) => p.id)).toEqual([own.id]);
      expect((await list("")).items.map((p) => p.id)).not.toContain(own.id);
    });
  });

  describe("get", () => {
    it("returns the files and magic_link_state, never the raw link", async () => {
      const pkg = await createPackage(t, alice.token, { title: "Get me" });
      const f1 = await addFile(t, alice.token, pkg.id, "one.txt", "first file");
      const f2 = await addFile(t, alice.token, pkg.id, "sub/two.bin", Buffer.alloc(1500, 7));
      const draft = await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json();
      expect(draft).toMatchObject({ id: pkg.id, status: "draft", file_count: 2, total_size: 10 + 1500, magic_link_state: "none" });
      expect(draft.files).toEqual([f1, f2].sort((a, b) => (a.name < b.name ? -1 : 1)));
      expect(draft.files[0]).toEqual({
        id: f1.id,
        name: "one.txt",
        size: 10,
        sha256: sha256("first file"),
        content_type: "application/octet-stream",
        created_at: expect.any(String),
        sealed: null,
      });

      const fin = await (await finalize(pkg.id)).json();
      const secret = LINK.exec(fin.magic_link)![1]!;
      const res = await t.fetch(`/packages/${pkg.id}`, { token: alice.token });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toContain(secret);
      expect(text).not.toContain("/l/");
      const active = JSON.parse(text);
      expect(active).toMatchObject({ status: "active", magic_link_state: "active", file_count: 2 });
      expect(active).not.toHaveProperty("magic_link");
      expect(active).not.toHaveProperty("link_hash");
    });
  });

  describe("finalize", () => {
    it("refuses an outbound package without files (422) and leaves it a draft", async () => {
      const pkg = await createPackage(t, alice.token);
      const res = await finalize(pkg.id);
      expect(res.status).toBe(422);
      expect((await res.json()).detail).toMatch(/file/i);
      const after = await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json();
      expect(after).toMatchObject({ status: "draft", finalized_at: null, expires_at: null, magic_link_state: "none" });
    });

    it("finalizes an empty inbound package, emailing an upload link", async () => {
      const to = `inbound-${crypto.randomBytes(4).toString("hex")}@client.test`;
      const pkg = await createPackage(t, alice.token, { direction: "inbound", recipient_email: to, title: "Send me your photos" });
      const res = await finalize(pkg.id);
      expect(res.status).toBe(200);
      const body = await res.json();
      // The email is queued with the finalize and sent in the background.
      expect(body).toMatchObject({ status: "active", direction: "inbound", file_count: 0, files: [], email_error: null });
      expect(["queued", "sent"]).toContain(body.links[0].mail_state);
      expect(body.magic_link).toMatch(LINK);
      const mail = await smtp.waitForMail(mailTo(to));
      expect(mail.parsed.subject).toContain("Send me your photos");
      expect(mail.parsed.text).toContain(body.magic_link);
      expect(mail.parsed.text).toMatch(/upload/i);
    });

    it("answers 409 when finalized twice and keeps the first link", async () => {
      const pkg = await createPackage(t, alice.token);
      await addFile(t, alice.token, pkg.id, "x.txt", "x");
      const first = await finalize(pkg.id);
      expect(first.status).toBe(200);
      const { magic_link, expires_at } = await first.json();
      const second = await finalize(pkg.id);
      expect(second.status).toBe(409);
      const err = await second.json();
      expect(err.detail).toBeTruthy();
      expect(JSON.stringify(err)).not.toContain("/l/");
      const secret = LINK.exec(magic_link)![1]!;
      const resolved = await packageByLinkSecret(t.running.services, secret);
      expect(resolved?.id).toBe(pkg.id);
      expect((await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json()).expires_at).toBe(expires_at);
    });

    it("mints a link, sets the expiry and emails the recipient with everything they need", async () => {
      const to = `cfo-${crypto.randomBytes(4).toString("hex")}@acme.test`;
      const pkg = await createPackage(t, alice.token, {
        title: "Q4 financials",
        recipient_email: to,
        recipient_name: "Acme CFO",
        message: "Here are the numbers.\nCall me with questions.",
        ttl_days: 14,
      });
      await addFile(t, alice.token, pkg.id, "Q4-report.pdf", "%PDF-"); // 5 B
      await addFile(t, alice.token, pkg.id, "Q4-spreadsheet.xlsx", Buffer.alloc(1500, 1)); // 1.5 KiB
      t.clock.advance(60_000);

      const res = await finalize(pkg.id);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({
        id: pkg.id,
        status: "active",
        magic_link_state: "active",
        file_count: 2,
        total_size: 1505,
        email_error: null,
        revoked_at: null,
      });
      expect(["queued", "sent"]).toContain(body.links[0].mail_state);
      expect(body.email_sent).toBe(body.links[0].mail_state === "sent");
      expect(body.files.map((f: { name: string }) => f.name).sort()).toEqual(["Q4-report.pdf", "Q4-spreadsheet.xlsx"]);
      expect(body.finalized_at).toBe(t.clock.now().toISOString());
      expect(Date.parse(body.expires_at) - Date.parse(body.finalized_at)).toBe(14 * 86_400_000);
      expect(body.magic_link).toMatch(LINK);
      const secret = LINK.exec(body.magic_link)![1]!;

      // The link resolves server-side; only its hash is stored.
      const resolved = await packageByLinkSecret(t.running.services, secret);
      expect(resolved?.id).toBe(pkg.id);
      expect(await packageByLinkSecret(t.running.services, secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A"))).toBeUndefined();
      const row = await t.running.services.db("packages").where({ id: pkg.id }).first();
      expect(row.link_hash).toBe(crypto.createHash("sha256").update(secret).digest("hex"));
      for (const [col, value] of Object.entries(row)) {
        expect(String(value), `column ${col}`).not.toContain(secret);
      }
      for (const table of ["files", "users", "api_tokens"]) {
        const rows = await t.running.services.db(table).select();
        expect(JSON.stringify(rows), table).not.toContain(secret);
      }

      // The email, received by a real SMTP server.
      const mail = await smtp.waitForMail(mailTo(to));
      expect(mail.envelope.to).toEqual([to]);
      expect(mail.parsed.from?.text).toContain("noreply@files.example.test");
      expect(mail.parsed.to && !Array.isArray(mail.parsed.to) ? mail.parsed.to.text : "").toContain(to);
      expect(mail.parsed.subject).toContain("Q4 financials");
      expect(mail.parsed.subject).toContain(alice.user.name);
      const exp = new Date(body.expires_at);
      const expDate = `${exp.getUTCDate()} ${MONTHS[exp.getUTCMonth()]} ${exp.getUTCFullYear()}`;
      const expTime = `${String(exp.getUTCHours()).padStart(2, "0")}:${String(exp.getUTCMinutes()).padStart(2, "0")}`;
      const text = mail.parsed.text ?? "";
      const html = typeof mail.parsed.html === "string" ? mail.parsed.html : "";
      for (const [part, content] of [
        ["text", text],
        ["html", html],
      ] as const) {
        expect(content, part).toContain("Acme CFO");
        expect(content, part).toContain(alice.user.email);
        expect(content, part).toContain(alice.user.name);
        expect(content, part).toContain("Q4 financials");
        expect(content, part).toContain("Here are the numbers.");
        expect(content, part).toContain("Call me with questions.");
        expect(content, part).toMatch(/Q4-report\.pdf.{0,40}5 B/s);
        expect(content, part).toMatch(/Q4-spreadsheet\.xlsx.{0,40}1\.5 KiB/s);
        expect(content, part).toContain(body.magic_link);
        expect(content, part).toContain(expDate);
        expect(content, part).toContain(expTime);
      }
      expect(html).toContain(`href="${body.magic_link}"`);
    });

    it("HTML-escapes user content in the email", async () => {
      const to = `xss-${crypto.randomBytes(4).toString("hex")}@acme.test`;
      const pkg = await createPackage(t, alice.token, {
        title: "<script>alert(1)</script>",
        recipient_email: to,
        recipient_name: "<i>Eve</i> & co",
        message: "Look: <img src=x onerror=\"alert(2)\"> & 'quotes'",
      });
      // Uploads refuse `<` and `>` now; a row from before that rule can still hold them.
      await addFileWithLegacyName(t, alice.token, pkg.id, "<b onmouseover=alert(3)>.txt", "x");
      expect((await finalize(pkg.id)).status).toBe(200);
      const mail = await smtp.waitForMail(mailTo(to));
      const html = typeof mail.parsed.html === "string" ? mail.parsed.html : "";
      expect(html).not.toContain("<script");
      expect(html).not.toContain("<img");
      expect(html).not.toContain("<i>");
      expect(html).not.toContain("<b ");
      expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
      expect(html).toContain("&lt;img src=x onerror=");
      expect(html).toContain("&lt;i&gt;Eve&lt;/i&gt; &amp; co");
      expect(html).toContain("&lt;b onmouseover=alert(3)&gt;.txt");
      // the text part carries the same content unescaped
      expect(mail.parsed.text).toContain("<script>alert(1)</script>");
      expect(mail.parsed.subject).toContain("<script>alert(1)</script>");
    });

    it("keeps a package active when the SMTP server cannot be reached", async () => {
      const port = await closedPort();
      const down = await startTestServer(kind, { env: { SF_SMTP_URL: `smtp://127.0.0.1:${port}` } });
      try {
        const u = await down.createUser();
        const pkg = await createPackage(down, u.token);
        await addFile(down, u.token, pkg.id, "a.txt", "a");
        const res = await down.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: u.token });
        expect(res.status).toBe(200);
        const body = await res.json();
        expect(body.status).toBe("active");
        expect(body.email_sent).toBe(false);
        expect(body.links[0].mail_state).toBe("queued");
        expect(body.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
        // The first attempt fails in the background; the email stays queued for a retry, with the reason.
        let after = await (await down.fetch(`/packages/${pkg.id}`, { token: u.token })).json();
        await until(async () => {
          after = await (await down.fetch(`/packages/${pkg.id}`, { token: u.token })).json();
          return after.links[0].mail_attempts >= 1;
        });
        expect(after).toMatchObject({ status: "active", magic_link_state: "active" });
        expect(after.links[0].mail_state).toBe("queued");
        expect(typeof after.links[0].mail_error).toBe("string");
        expect(after.links[0].mail_error.length).toBeGreaterThan(0);
        expect(await packageByLinkSecret(down.running.services, body.magic_link.split("/l/")[1])).toMatchObject({ id: pkg.id });
        expect((await down.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: u.token })).status).toBe(409);
      } finally {
        await down.close();
      }
    });

    it("writes an .eml file to <dataDir>/outbox when no SMTP server is configured", async () => {
      const local = await startTestServer(kind);
      try {
        const u = await local.createUser();
        const pkg = await createPackage(local, u.token, { recipient_email: "outbox@acme.test", title: "Outbox test" });
        await addFile(local, u.token, pkg.id, "a.txt", "a");
        const res = await local.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: u.token });
        expect(res.status).toBe(200);
        const body = await res.json();
        expect(body).toMatchObject({ email_error: null });
        const outbox = path.join(local.dataDir, "outbox");
        const emls = async () => (await fs.readdir(outbox).catch(() => [])).filter((f) => f.endsWith(".eml"));
        await until(async () => (await emls()).length > 0);
        const files = await emls();
        expect(files).toHaveLength(1);
        const parsed = await simpleParser(await fs.readFile(path.join(outbox, files[0]!)));
        expect(parsed.subject).toContain("Outbox test");
        expect(parsed.text).toContain(body.magic_link);
        expect(JSON.stringify(parsed.to)).toContain("outbox@acme.test");
      } finally {
        await local.close();
      }
    });
  });

  describe("revoke", () => {
    it("revokes an active package once; a draft or a revoked package answers 409", async () => {
      const pkg = await createPackage(t, alice.token);
      const draft = await t.fetch(`/packages/${pkg.id}/revoke`, { method: "POST", token: alice.token });
      expect(draft.status).toBe(409);
      expect((await draft.json()).detail).toBeTruthy();

      await addFile(t, alice.token, pkg.id, "r.txt", "r");
      const { magic_link } = await (await finalize(pkg.id)).json();
      t.clock.advance(5000);
      const res = await t.fetch(`/packages/${pkg.id}/revoke`, { method: "POST", token: alice.token });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({ id: pkg.id, status: "revoked", magic_link_state: "revoked", revoked_at: t.clock.now().toISOString() });
      expect(body.files).toHaveLength(1);
      expect(body).not.toHaveProperty("magic_link");

      const twice = await t.fetch(`/packages/${pkg.id}/revoke`, { method: "POST", token: alice.token });
      expect(twice.status).toBe(409);
      const got = await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json();
      expect(got).toMatchObject({ status: "revoked", magic_link_state: "revoked", revoked_at: body.revoked_at });
      // the link still resolves to the package, which callers then see as revoked
      expect((await packageByLinkSecret(t.running.services, magic_link.split("/l/")[1]))?.status).toBe("revoked");
    });
  });

  describe("delete", () => {
    it("deletes the package, its file rows and their stored bytes", async () => {
      const pkg = await createPackage(t, alice.token);
      await addFile(t, alice.token, pkg.id, "d1.bin", crypto.randomBytes(4096));
      await addFile(t, alice.token, pkg.id, "dir/d2.bin", crypto.randomBytes(100));
      const { magic_link } = await (await finalize(pkg.id)).json();
      const db = t.running.services.db;
      const keys = (await db("files").where({ package_id: pkg.id }).select("storage_key")).map((r: { storage_key: string }) => r.storage_key);
      expect(keys).toHaveLength(2);
      for (const k of keys) expect(await exists(blobPath(t, k))).toBe(true);

      const res = await t.fetch(`/packages/${pkg.id}`, { method: "DELETE", token: alice.token });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      expect(await db("packages").where({ id: pkg.id }).first()).toBeUndefined();
      expect(await db("files").where({ package_id: pkg.id })).toEqual([]);
      for (const k of keys) expect(await exists(blobPath(t, k))).toBe(false);
      expect(await packageByLinkSecret(t.running.services, magic_link.split("/l/")[1])).toBeUndefined();
      expect((await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).status).toBe(404);
      expect((await t.fetch(`/packages/${pkg.id}`, { method: "DELETE", token: alice.token })).status).toBe(404);
    });

    it("deletes a package of 600 files, bytes and all (seen in the send bench: 500 on SQLite, whose compound SELECT stops at 500 terms)", async () => {
      const pkg = await createPackage(t, alice.token);
      const names = Array.from({ length: 600 }, (_, i) => `many/f${i}.txt`);
      for (let i = 0; i < names.length; i += 20) {
        await Promise.all(names.slice(i, i + 20).map((n) => addFile(t, alice.token, pkg.id, n, n)));
      }
      const db = t.running.services.db;
      const keys = (await db("files").where({ package_id: pkg.id }).select("storage_key")).map((r: { storage_key: string }) => r.storage_key);
      expect(keys).toHaveLength(600);
      const res = await t.fetch(`/packages/${pkg.id}`, { method: "DELETE", token: alice.token });
      expect(res.status, await res.clone().text()).toBe(204);
      expect(await db("files").where({ package_id: pkg.id })).toEqual([]);
      for (const k of [keys[0]!, keys[599]!]) expect(await exists(blobPath(t, k))).toBe(false);
      expect(await db("blob_deletions").whereIn("key", keys)).toEqual([]);
    }, 120_000);

    it("deletes a draft without files", async () => {
      const pkg = await createPackage(t, alice.token);
      expect((await t.fetch(`/packages/${pkg.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
      expect((await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).status).toBe(404);
    });
  });

  describe("access control", () => {
    let pkgId: string;
    let fileId: string;
    let activeId: string;

    beforeAll(async () => {
      const pkg = await createPackage(t, alice.token, { title: "Alice's secret" });
      pkgId = pkg.id;
      fileId = (await addFile(t, alice.token, pkgId, "secret.txt", "top secret")).id;
      const active = await createPackage(t, alice.token, { title: "Alice's active" });
      activeId = active.id;
      await addFile(t, alice.token, activeId, "a.txt", "a");
      expect((await finalize(activeId)).status).toBe(200);
    });

    const routes = (id: string, fid: string) =>
      [
        ["GET", `/packages/${id}`],
        ["DELETE", `/packages/${id}`],
        ["POST", `/packages/${id}/finalize`],
        ["POST", `/packages/${id}/revoke`],
        ["GET", `/packages/${id}/events`],
        ["POST", `/packages/${id}/files`],
        ["GET", `/packages/${id}/files/${fid}`],
        ["DELETE", `/packages/${id}/files/${fid}`],
      ] as const;

    const call = (method: string, p: string, token?: string) => {
      if (p.endsWith("/files")) {
        const form = new FormData();
        form.append("file", new Blob(["intruder"]), "intruder.txt");
        return t.fetch(p, { method, ...(token ? { token } : {}), body: form });
      }
      if (method === "POST" && p === "/packages") return t.fetch(p, { method, ...(token ? { token } : {}), json: valid });
      return t.fetch(p, { method, ...(token ? { token } : {}) });
    };

    it("answers 403 to another user on every package and file route, changing nothing", async () => {
      for (const id of [pkgId, activeId]) {
        for (const [method, p] of routes(id, fileId)) {
          const res = await call(method, p, bob.token);
          expect(res.status, `${method} ${p}`).toBe(403);
          const body = await res.json();
          expect(body.detail, `${method} ${p}`).toBeTruthy();
          expect(JSON.stringify(body)).not.toContain("top secret");
        }
      }
      const still = await (await t.fetch(`/packages/${pkgId}`, { token: alice.token })).json();
      expect(still).toMatchObject({ status: "draft", file_count: 1, title: "Alice's secret" });
      expect(still.files.map((f: { name: string }) => f.name)).toEqual(["secret.txt"]);
      const dl = await t.fetch(`/packages/${pkgId}/files/${fileId}`, { token: alice.token });
      expect(await dl.text()).toBe("top secret");
      expect((await (await t.fetch(`/packages/${activeId}`, { token: alice.token })).json()).status).toBe("active");
    });

    it("answers 404 for an unknown package id on every route", async () => {
      for (const [method, p] of routes(MISSING, fileId)) {
        const res = await call(method, p, alice.token);
        expect(res.status, `${method} ${p}`).toBe(404);
        expect((await res.json()).detail).toBeTruthy();
      }
    });

    it("answers 404 for an unknown file id, or a file of another package", async () => {
      const other = await createPackage(t, alice.token);
      for (const [pid, fid] of [
        [pkgId, MISSING],
        [other.id, fileId],
      ]) {
        for (const method of ["GET", "DELETE"]) {
          const res = await t.fetch(`/packages/${pid}/files/${fid}`, { method, token: alice.token });
          expect(res.status, `${method} ${pid}/${fid}`).toBe(404);
        }
      }
      expect((await t.fetch(`/packages/${pkgId}/files/${fileId}`, { token: alice.token })).status).toBe(200);
    });

    it("answers 422 for a malformed package or file id", async () => {
      for (const bad of ["not-a-uuid", "123", `${MISSING}x`]) {
        for (const [method, p] of routes(bad, fileId)) {
          const res = await call(method, p, alice.token);
          expect(res.status, `${method} ${p}`).toBe(422);
          expect((await res.json()).detail).toBeTruthy();
        }
      }
      for (const method of ["GET", "DELETE"]) {
        const res = await t.fetch(`/packages/${pkgId}/files/nope`, { method, token: alice.token });
        expect(res.status, method).toBe(422);
      }
    });

    it("answers 401 without a token (or with a bad one) on every route", async () => {
      const all = [["GET", "/packages"], ["POST", "/packages"], ...routes(pkgId, fileId)] as const;
      for (const token of [undefined, "sf_" + "A".repeat(43)]) {
        for (const [method, p] of all) {
          const res = await call(method, p, token);
          expect(res.status, `${method} ${p}`).toBe(401);
          expect((await res.json()).detail).toBeTruthy();
        }
      }
      expect((await t.fetch(`/packages/${pkgId}`, { token: alice.token })).status).toBe(200);
    });
  });

  it("stores no uploads for rejected requests (sanity: blobs match file rows)", async () => {
    const rows = await t.running.services.db("files").select("storage_key");
    const blobs = new Set<string>();
    const walk = async (d: string): Promise<void> => {
      for (const e of await fs.readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(path.join(d, e.name));
        else blobs.add(e.name);
      }
    };
    await walk(path.join(t.dataDir, "blobs"));
    await until(async () => (await filesUnder(path.join(t.dataDir, "tmp"))).length === 0, 5000, "tmp to be empty");
    expect([...blobs].sort()).toEqual(rows.map((r: { storage_key: string }) => r.storage_key).sort());
  });

  it("uploads through fetch's FormData keep the name and bytes (sanity for the helpers)", async () => {
    const pkg = await createPackage(t, alice.token);
    const res = await uploadFile(t, alice.token, pkg.id, "hello.txt", "hello");
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: "hello.txt", size: 5, sha256: sha256("hello") });
  });
});
