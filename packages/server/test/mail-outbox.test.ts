import crypto from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { mailRetryDelayMs } from "../src/jobs/mail-worker.js";
import { seal, sealingKey, unseal } from "../src/mail/sealing.js";
import { createPgDatabase, DATABASES, startTestServer, TestClock, type DbKind, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { addFile, createPackage, postPackage, until } from "@speedyfiles/test-utils/uploads";

/** A loopback port nothing listens on (yet): connections are refused until a test SMTP server takes it. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Quick retries, so a test sees several attempts within a second or two. */
const FAST = { SF_MAIL_RETRY_BASE_SECONDS: "0.1", SF_MAIL_RETRY_MAX_SECONDS: "0.3", SF_MAIL_POLL_MS: "50" };

const mailTo = (to: string) => (m: ReceivedMail) => m.envelope.to.includes(to);

interface LinkState {
  id: string;
  recipient_email: string;
  mail_state: "queued" | "sent" | "failed" | null;
  mail_attempts: number;
  mail_error: string | null;
}

async function linksOf(t: TestServer, token: string, id: string): Promise<LinkState[]> {
  const res = await t.fetch(`/packages/${id}`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { links: LinkState[] }).links;
}

/** A finalized outbound package with one file for `to` (one or several recipients). */
async function sendPackage(t: TestServer, token: string, to: string[]) {
  const created = await postPackage(t, token, { title: `For ${to.join(", ")}`, recipients: to.map((email) => ({ email })), direction: "outbound", ttl_days: 14 });
  expect(created.status).toBe(201);
  const pkg = (await created.json()) as { id: string };
  await addFile(t, token, pkg.id, "a.txt", "hello");
  const res = await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token });
  expect(res.status).toBe(200);
  return { id: pkg.id, answer: (await res.json()) as { email_sent: boolean; links: (LinkState & { magic_link: string; email_sent: boolean })[] } };
}

/** Every value of every row of the mail table, as one string (to look for a secret in it). */
async function mailTableText(t: TestServer): Promise<string> {
  return JSON.stringify(await t.running.services.db("mail_outbox").select());
}

describe("mail outbox: pure parts", () => {
  it("backs off exponentially up to the cap", () => {
    const c = { mailRetryBaseSeconds: 30, mailRetryMaxSeconds: 3600 };
    expect([1, 2, 3, 4, 7, 8, 20].map((n) => mailRetryDelayMs(c, n))).toEqual([30_000, 60_000, 120_000, 240_000, 1_920_000, 3_600_000, 3_600_000]);
  });

  it("seals with AES-256-GCM: opens with the same key and row only, and hides the text", () => {
    const k = sealingKey(crypto.randomBytes(32));
    const sealed = seal(k, "the secret link /l/abc", "row-1");
    expect(sealed).not.toContain("secret");
    expect(unseal(k, sealed, "row-1")).toBe("the secret link /l/abc");
    expect(() => unseal(k, sealed, "row-2")).toThrow();
    expect(() => unseal(sealingKey(crypto.randomBytes(32)), sealed, "row-1")).toThrow();
    const tampered = sealed.slice(0, -2) + (sealed.endsWith("A") ? "BA" : "AA");
    expect(() => unseal(k, tampered, "row-1")).toThrow();
  });

  it("reads SF_SECRET_KEY as hex or base64 of 32 bytes, and the mail settings", () => {
    const key = crypto.randomBytes(32);
    expect(loadConfig({ SF_SECRET_KEY: key.toString("hex") }).secretKey).toEqual(key);
    expect(loadConfig({ SF_SECRET_KEY: key.toString("base64") }).secretKey).toEqual(key);
    expect(() => loadConfig({ SF_SECRET_KEY: "too-short" })).toThrow(/SF_SECRET_KEY must be 32 bytes/);
    const c = loadConfig({});
    expect(c).toMatchObject({ secretKey: null, mailMaxAttempts: 20, mailGiveUpHours: 48, mailRetryBaseSeconds: 30, mailRetryMaxSeconds: 3600 });
    expect(loadConfig({ SF_MAIL_RETRY_BASE_SECONDS: "0.5" }).mailRetryBaseSeconds).toBe(0.5);
    expect(() => loadConfig({ SF_MAIL_MAX_ATTEMPTS: "0" })).toThrow(/SF_MAIL_MAX_ATTEMPTS/);
  });
});

describe.each(DATABASES)("mail outbox (%s)", (kind: DbKind) => {
  it("queues the email while SMTP is down, then delivers it exactly once when it is back; no secret stays in the database", async () => {
    const port = await freePort();
    const t = await startTestServer(kind, { clock: new TestClock({ ticking: true }), env: { SF_SMTP_URL: `smtp://127.0.0.1:${port}`, ...FAST } });
    let smtp: TestSmtp | undefined;
    try {
      const u = await t.createUser();
      const to = `down-${crypto.randomBytes(4).toString("hex")}@acme.test`;
      const { id, answer } = await sendPackage(t, u.token, [to]);
      expect(answer.links[0]!.mail_state).toBe("queued");
      expect(answer.email_sent).toBe(false);
      const secret = answer.links[0]!.magic_link.split("/l/")[1]!;
      // Queued: sealed at rest, the secret nowhere in the clear.
      expect(await mailTableText(t)).not.toContain(secret);

      // Attempts fail and are recorded, with the reason; the email stays queued.
      await until(async () => (await linksOf(t, u.token, id))[0]!.mail_attempts >= 2, 10_000, "two failed attempts");
      const failing = (await linksOf(t, u.token, id))[0]!;
      expect(failing.mail_state).toBe("queued");
      expect(failing.mail_error).toMatch(/ECONNREFUSED|connect/i);
      expect(failing.mail_error).not.toContain(secret);

      smtp = await startTestSmtp({ port });
      const mail = await smtp.waitForMail(mailTo(to), 10_000);
      expect(mail.parsed.text).toContain(answer.links[0]!.magic_link);
      await until(async () => (await linksOf(t, u.token, id))[0]!.mail_state === "sent", 10_000, "sent");
      const sent = (await linksOf(t, u.token, id))[0]!;
      expect(sent.mail_error).toBeNull();
      expect(sent.mail_attempts).toBeGreaterThanOrEqual(3);
      // Exactly once, however many passes ran meanwhile.
      await new Promise((r) => setTimeout(r, 500));
      expect(smtp.messages.filter(mailTo(to))).toHaveLength(1);
      // Sent: the body is gone, the metadata stays; no trace of the secret in any column.
      const rows = await t.running.services.db("mail_outbox").select();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ state: "sent", body: null, key_id: null, recipient: to, kind: "package_link" });
      expect(await mailTableText(t)).not.toContain(secret);
    } finally {
      await t.close();
      await smtp?.close();
    }
  });

  it('finalize with {"notify_recipients": false} queues no email: the links are in the answer only, mail_state null', async () => {
    const smtp = await startTestSmtp();
    const t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    try {
      const u = await t.createUser();
      const quiet = `quiet-${crypto.randomBytes(4).toString("hex")}@acme.test`;
      const pkg = await createPackage(t, u.token, { recipient_email: quiet });
      await addFile(t, u.token, pkg.id, "a.txt", "hello");
      const bad = await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: u.token, json: { notify_recipients: "no" } });
      expect(bad.status).toBe(422);
      const res = await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: u.token, json: { notify_recipients: false } });
      expect(res.status).toBe(200);
      const answer = (await res.json()) as { magic_link: string; links: LinkState[] };
      expect(answer.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
      expect(answer.links[0]!.mail_state).toBeNull();
      expect(await mailTableText(t)).not.toContain(quiet);
      // A package finalized after it, with mail: once that email arrived, the worker had its turn at both.
      const loud = `loud-${crypto.randomBytes(4).toString("hex")}@acme.test`;
      const other = await createPackage(t, u.token, { recipient_email: loud });
      await addFile(t, u.token, other.id, "b.txt", "hello");
      expect((await t.fetch(`/packages/${other.id}/finalize`, { method: "POST", token: u.token, json: { notify_recipients: true } })).status).toBe(200);
      await smtp.waitForMail(mailTo(loud), 15_000);
      expect(smtp.messages.filter(mailTo(quiet))).toEqual([]);
      expect((await linksOf(t, u.token, pkg.id))[0]!.mail_state).toBeNull();
    } finally {
      await t.close();
      await smtp.close();
    }
  });

  it("answers finalize at once while a slow SMTP server takes seconds, and sends the email after", async () => {
    const smtp = await startTestSmtp({ delayMs: 2500 });
    const t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    try {
      const u = await t.createUser();
      const to = `slow-${crypto.randomBytes(4).toString("hex")}@acme.test`;
      const pkg = await createPackage(t, u.token, { recipient_email: to });
      await addFile(t, u.token, pkg.id, "a.txt", "hello");
      const started = Date.now();
      const res = await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: u.token });
      const took = Date.now() - started;
      expect(res.status).toBe(200);
      expect(took).toBeLessThan(1500);
      expect(((await res.json()) as { links: LinkState[] }).links[0]!.mail_state).toBe("queued");
      // Other requests are not held either while the worker waits for the server.
      const t0 = Date.now();
      expect((await t.fetch(`/packages/${pkg.id}`, { token: u.token })).status).toBe(200);
      expect(Date.now() - t0).toBeLessThan(1000);
      await smtp.waitForMail(mailTo(to), 15_000);
      await until(async () => (await linksOf(t, u.token, pkg.id))[0]!.mail_state === "sent", 5000, "sent");
    } finally {
      await t.close();
      await smtp.close();
    }
  });

  it("gives up after SF_MAIL_MAX_ATTEMPTS: failed, with the reason, its body wiped", async () => {
    const port = await freePort();
    const t = await startTestServer(kind, { clock: new TestClock({ ticking: true }), env: { SF_SMTP_URL: `smtp://127.0.0.1:${port}`, SF_MAIL_MAX_ATTEMPTS: "3", ...FAST } });
    try {
      const u = await t.createUser();
      const { id, answer } = await sendPackage(t, u.token, ["never@acme.test"]);
      const secret = answer.links[0]!.magic_link.split("/l/")[1]!;
      await until(async () => (await linksOf(t, u.token, id))[0]!.mail_state === "failed", 10_000, "failed");
      const link = (await linksOf(t, u.token, id))[0]!;
      expect(link.mail_attempts).toBe(3);
      expect(link.mail_error).toMatch(/ECONNREFUSED|connect/i);
      const [row] = await t.running.services.db("mail_outbox").select();
      expect(row).toMatchObject({ state: "failed", attempts: 3, body: null, key_id: null, next_attempt_at: null });
      expect(row.failed_at).not.toBeNull();
      expect(await mailTableText(t)).not.toContain(secret);
      // A resend queues a fresh email for the new link.
      const again = await t.fetch(`/packages/${id}/resend`, { method: "POST", token: u.token });
      expect(again.status).toBe(200);
      expect(((await again.json()) as { links: LinkState[] }).links[0]!.mail_state).toBe("queued");
    } finally {
      await t.close();
    }
  });

  it("a resend replaces the email still queued for the old link (only the new link is sent)", async () => {
    const port = await freePort();
    const t = await startTestServer(kind, { clock: new TestClock({ ticking: true }), env: { SF_SMTP_URL: `smtp://127.0.0.1:${port}`, ...FAST } });
    let smtp: TestSmtp | undefined;
    try {
      const u = await t.createUser();
      const to = `resend-${crypto.randomBytes(4).toString("hex")}@acme.test`;
      const { id, answer } = await sendPackage(t, u.token, [to]);
      const res = await t.fetch(`/packages/${id}/resend`, { method: "POST", token: u.token });
      expect(res.status).toBe(200);
      const fresh = ((await res.json()) as { links: { magic_link: string }[] }).links[0]!.magic_link;
      smtp = await startTestSmtp({ port });
      const mail = await smtp.waitForMail(mailTo(to), 10_000);
      expect(mail.parsed.text).toContain(fresh);
      await until(async () => (await linksOf(t, u.token, id))[0]!.mail_state === "sent", 10_000, "sent");
      await new Promise((r) => setTimeout(r, 400));
      expect(smtp.messages.filter(mailTo(to))).toHaveLength(1);
      expect(mail.parsed.text).not.toContain(answer.links[0]!.magic_link);
      const states = (await t.running.services.db("mail_outbox").select("state")).map((r: { state: string }) => r.state).sort();
      expect(states).toEqual(["cancelled", "sent"]);
      expect(await mailTableText(t)).not.toContain(fresh.split("/l/")[1]!);
    } finally {
      await t.close();
      await smtp?.close();
    }
  });
});

describe.skipIf(!DATABASES.includes("postgres"))("mail outbox with two servers on one PostgreSQL database", () => {
  let db: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    db = await createPgDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it("sends every queued email exactly once when SMTP comes back, both servers polling", async () => {
    const port = await freePort();
    const env = { SF_SMTP_URL: `smtp://127.0.0.1:${port}`, SF_SECRET_KEY: crypto.randomBytes(32).toString("base64"), ...FAST };
    const a = await startTestServer("postgres", { databaseUrl: db.url, clock: new TestClock({ ticking: true }), env });
    const b = await startTestServer("postgres", { databaseUrl: db.url, clock: new TestClock({ ticking: true }), env });
    let smtp: TestSmtp | undefined;
    try {
      const u = await a.createUser();
      const recipients: string[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const to = [`two-${i}-a-${crypto.randomBytes(3).toString("hex")}@acme.test`, `two-${i}-b-${crypto.randomBytes(3).toString("hex")}@acme.test`];
        recipients.push(...to);
        // Half through each server: each one's worker is woken for its own, both poll for all.
        const { id } = await sendPackage(i % 2 ? b : a, u.token, to);
        ids.push(id);
      }
      await until(async () => (await linksOf(b, u.token, ids[0]!))[0]!.mail_attempts >= 1, 10_000, "a failed attempt");
      smtp = await startTestSmtp({ port });
      await smtp.waitForMails(recipients.length, (m) => recipients.some((r) => m.envelope.to.includes(r)), 15_000);
      for (const id of ids) {
        await until(async () => (await linksOf(a, u.token, id)).every((l) => l.mail_state === "sent"), 10_000, "sent");
      }
      await new Promise((r) => setTimeout(r, 700));
      for (const r of recipients) expect(smtp.messages.filter(mailTo(r)), r).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
      await smtp?.close();
    }
  });
});
