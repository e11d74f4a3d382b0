import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { expectError } from "@speedyfiles/test-utils/expect";
import { addFile, createPackage, postPackage, sha256, until } from "@speedyfiles/test-utils/uploads";
import { secretOf } from "@speedyfiles/test-utils/links";
import { setCookieOf } from "@speedyfiles/test-utils/web";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { deliverDue } from "../src/jobs/webhook-worker.js";
import { startReceiver } from "@speedyfiles/test-utils/receiver";
import { migrationSource } from "../src/db/migrations/index.js";
import { openDatabase, closeDatabase, migrate } from "../src/db/knex.js";

// Delivery controls: a link per recipient, max_downloads, a password, receipts to the
// sender, extending and resending. Real server, real SMTP, both databases.

const MiB = 1024 * 1024;
type User = Awaited<ReturnType<TestServer["createUser"]>>;

interface Finalized {
  id: string;
  magic_link: string;
  email_sent: boolean;
  links: { id: string; recipient_email: string; magic_link: string; expires_at: string; email_sent: boolean; mail_state: string | null; download_count: number }[];
}

interface Detail {
  download_count: number;
  max_downloads?: number | null;
  password_protected?: boolean;
  links: { id: string; recipient_email: string; state: string; download_count: number; first_download_at: string | null; used_up: boolean; mail_state: string | null }[];
}

describe.each(DATABASES)("delivery controls (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let owner: User;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, {
      env: { SF_SMTP_URL: smtp.url, SF_LINK_MAX_PASSWORD_FAILURES: "3", SF_MAX_TTL_DAYS: "30", SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" },
    });
    owner = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  const linkApi = (magicLink: string) => `${t.api}/links/${secretOf(magicLink)}`;

  /** An outbound package with `files`, finalized; the finalize answer. */
  async function send(body: Record<string, unknown>, files: [string, Buffer | string][]): Promise<Finalized> {
    const pkg = await createPackage(t, owner.token, { title: `Q4 ${crypto.randomBytes(3).toString("hex")}`, ...body });
    for (const [name, bytes] of files) {
      t.clock.advance(1000);
      await addFile(t, owner.token, pkg.id, name, bytes);
    }
    const res = await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: owner.token });
    expect(res.status).toBe(200);
    return (await res.json()) as Finalized;
  }

  async function detail(id: string): Promise<Detail> {
    const res = await t.fetch(`/packages/${id}`, { token: owner.token });
    expect(res.status).toBe(200);
    return (await res.json()) as Detail;
  }

  async function fileIds(api: string, headers: Record<string, string> = {}): Promise<Record<string, string>> {
    const res = await fetch(api, { headers });
    expect(res.status).toBe(200);
    const v = (await res.json()) as { files: { id: string; name: string }[] };
    return Object.fromEntries(v.files.map((f) => [f.name, f.id]));
  }

  const holds = async () => Number(((await t.running.services.db("link_download_holds").count({ n: "*" })) as { n: number | string }[])[0]!.n);

  it("gives each recipient their own link, email, count and audit trail; revoking one leaves the other", async () => {
    const fin = await send({ recipient_email: undefined, recipients: [{ email: "cfo@acme.test", name: "Acme CFO" }, { email: "audit@acme.test" }] }, [
      ["a.txt", "alpha"],
      ["b.txt", "bravo!"],
    ]);
    expect(fin.links.map((l) => l.recipient_email)).toEqual(["cfo@acme.test", "audit@acme.test"]);
    const [cfo, audit] = fin.links as [Finalized["links"][0], Finalized["links"][0]];
    expect(cfo.magic_link).not.toBe(audit.magic_link);
    expect(fin.magic_link).toBe(cfo.magic_link); // the one-recipient field keeps working
    // Each email is queued with the finalize and sent in the background.
    for (const l of fin.links) expect(["queued", "sent"]).toContain(l.mail_state);

    // Each recipient's email carries their own link, not the other's.
    const cfoMail = await smtp.waitForMail((m) => m.envelope.to.includes("cfo@acme.test") && (m.parsed.text ?? "").includes(fin.links[0]!.magic_link));
    expect(cfoMail.parsed.text).not.toContain(audit.magic_link);
    const auditMail = await smtp.waitForMail((m) => m.envelope.to.includes("audit@acme.test") && (m.parsed.text ?? "").includes(audit.magic_link));
    expect(auditMail.parsed.text).not.toContain(cfo.magic_link);
    await until(async () => (await detail(fin.id)).links.every((l) => l.mail_state === "sent"), 5000, "both emails sent");

    // Viewing the page or the JSON never counts.
    const ids = await fileIds(linkApi(cfo.magic_link));
    expect((await fetch(`${t.url}/l/${secretOf(cfo.magic_link)}`)).status).toBe(200);
    expect((await detail(fin.id)).download_count).toBe(0);

    // The CFO takes a.txt twice, the auditor the zip once.
    for (let i = 0; i < 2; i++) {
      t.clock.advance(1000);
      const r = await fetch(`${linkApi(cfo.magic_link)}/files/${ids["a.txt"]}`);
      expect(await r.text()).toBe("alpha");
      await until(async () => (await detail(fin.id)).download_count === i + 1, 5000, "download counted");
    }
    t.clock.advance(1000);
    const zip = await fetch(`${linkApi(audit.magic_link)}/archive`);
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();
    await until(async () => (await detail(fin.id)).links.map((l) => l.download_count).join() === "2,1", 5000, "three downloads counted per link");
    expect((await detail(fin.id)).download_count).toBe(3);

    const d = await detail(fin.id);
    expect(d.links.map((l) => [l.recipient_email, l.download_count, l.state])).toEqual([
      ["cfo@acme.test", 2, "active"],
      ["audit@acme.test", 1, "active"],
    ]);
    expect(d.links.every((l) => l.first_download_at !== null)).toBe(true);
    // The list's search finds a package by any of its recipients.
    const found = (await (await t.fetch(`/packages?q=audit%40acme`, { token: owner.token })).json()) as { items: { id: string }[] };
    expect(found.items.map((p) => p.id)).toContain(fin.id);

    const events = (await (await t.fetch(`/packages/${fin.id}/events`, { token: owner.token })).json()) as { type: string; link_id: string; recipient_email: string }[];
    expect(events.map((e) => [e.type, e.recipient_email, e.link_id])).toEqual([
      ["archive_download", "audit@acme.test", audit.id],
      ["file_download", "cfo@acme.test", cfo.id],
      ["file_download", "cfo@acme.test", cfo.id],
    ]);

    // One receipt per recipient, over real SMTP, however many downloads they made.
    const receipt = (who: string) => (m: ReceivedMail) =>
      m.envelope.to.includes(owner.user.email) && /downloaded/.test(m.parsed.subject ?? "") && (m.parsed.text ?? "").includes(who);
    await smtp.waitForMail(receipt("cfo@acme.test"));
    await smtp.waitForMail(receipt("audit@acme.test"));
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages.filter(receipt("cfo@acme.test")).length).toBe(1);
    expect(smtp.messages.filter(receipt("audit@acme.test")).length).toBe(1);

    // Revoking the CFO's link leaves the auditor's working.
    const rv = await t.fetch(`/packages/${fin.id}/links/${cfo.id}/revoke`, { method: "POST", token: owner.token });
    expect(rv.status).toBe(200);
    expect(((await rv.json()) as { state: string }).state).toBe("revoked");
    await expectError(await fetch(linkApi(cfo.magic_link)), 410, "link_revoked");
    await expectError(await fetch(`${linkApi(cfo.magic_link)}/files/${ids["a.txt"]}`), 410, "link_revoked");
    expect((await fetch(linkApi(audit.magic_link))).status).toBe(200);
    expect(await (await fetch(`${linkApi(audit.magic_link)}/files/${ids["b.txt"]}`)).text()).toBe("bravo!");
    expect((await detail(fin.id)).links.map((l) => l.state)).toEqual(["revoked", "active"]);
    // Again: nothing changes; another package's link id, or none: 404.
    await expectError(await t.fetch(`/packages/${fin.id}/links/${cfo.id}/revoke`, { method: "POST", token: owner.token }), 409, "link_revoked");
    await expectError(await t.fetch(`/packages/${fin.id}/links/${crypto.randomUUID()}/revoke`, { method: "POST", token: owner.token }), 404, "link_not_found");
    const stranger = await t.createUser();
    await expectError(await t.fetch(`/packages/${fin.id}/links/${audit.id}/revoke`, { method: "POST", token: stranger.token }), 403, "package_forbidden");
  });

  it("recipients are checked: not both shapes, no duplicates, 1–50, inbound takes one and no limits", async () => {
    const base = { title: "x", direction: "outbound", ttl_days: 3 };
    const r = (body: Record<string, unknown>) => postPackage(t, owner.token, { ...base, ...body });
    await expectError(await r({ recipient_email: "a@x.test", recipients: [{ email: "b@x.test" }] }), 422, "validation_failed");
    await expectError(await r({}), 422, "validation_failed");
    await expectError(await r({ recipients: [{ email: "a@x.test" }, { email: "A@x.test" }] }), 422, "validation_failed");
    await expectError(await r({ recipients: [] }), 422, "validation_failed");
    await expectError(await r({ recipients: Array.from({ length: 51 }, (_, i) => ({ email: `r${i}@x.test` })) }), 422, "validation_failed");
    expect((await r({ recipients: Array.from({ length: 50 }, (_, i) => ({ email: `r${i}@x.test` })) })).status).toBe(201);
    await expectError(await r({ recipient_email: "a@x.test", max_downloads: 0 }), 422, "validation_failed");
    await expectError(await r({ recipient_email: "a@x.test", max_downloads: 1001 }), 422, "validation_failed");
    await expectError(await r({ recipient_email: "a@x.test", password: "short77" }), 422, "validation_failed");
    await expectError(await r({ recipient_email: "a@x.test", password: "x".repeat(129) }), 422, "validation_failed");
    await expectError(await r({ direction: "inbound", recipients: [{ email: "a@x.test" }, { email: "b@x.test" }] }), 422, "validation_failed");
    await expectError(await r({ direction: "inbound", recipient_email: "a@x.test", password: "long enough" }), 422, "validation_failed");
    await expectError(await r({ direction: "inbound", recipient_email: "a@x.test", max_downloads: 2 }), 422, "validation_failed");
  });

  it("max_downloads 1: an aborted first attempt does not count, the complete one does, the next is 410", async () => {
    const big = crypto.randomBytes(32 * MiB);
    const fin = await send({ recipient_email: "cfo@acme.test", max_downloads: 1 }, [
      ["big.bin", big],
      ["small.txt", "small"],
    ]);
    const api = linkApi(fin.magic_link);
    const ids = await fileIds(api);
    const url = `${api}/files/${ids["big.bin"]}`;

    // A first attempt, cut off after the first chunk: its hold is released, nothing counted.
    const ac = new AbortController();
    const first = await fetch(url, { signal: ac.signal });
    expect(first.status).toBe(200);
    await first.body!.getReader().read();
    ac.abort();
    // The server learns of the abort at its next write, which under a loaded CI machine can take a while.
    await until(
      async () => (await holds()) === 0,
      20_000,
      `the aborted download's hold to be released (${JSON.stringify(await t.running.services.db("link_download_holds").select())} ${JSON.stringify(await t.running.services.db("link_file_downloads").select())})`,
    );
    expect((await detail(fin.id)).links[0]!.download_count).toBe(0);

    // HEAD and a range short of the end do not count either.
    expect((await fetch(url, { method: "HEAD" })).status).toBe(200);
    const part = await fetch(url, { headers: { Range: "bytes=0-9" } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(big.subarray(0, 10));

    // Two at once: while the first holds the last allowed download, the second is refused.
    const a = await fetch(url);
    const readerA = a.body!.getReader();
    await readerA.read();
    await expectError(await fetch(url), 409, "download_in_progress");
    const hash = crypto.createHash("sha256");
    let got = 0;
    for (;;) {
      const { done, value } = await readerA.read();
      if (done) break;
      got += value.length;
      hash.update(value);
    }
    expect(got).toBeGreaterThan(0);
    await until(async () => (await detail(fin.id)).links[0]!.download_count === 1, 5000, "the complete download to count");

    // The second complete download of that file: 410. The other file still works, once.
    await expectError(await fetch(url), 410, "download_limit_reached");
    expect((await fetch(url, { method: "HEAD" })).status).toBe(410);
    await expectError(await fetch(`${api}/archive`), 410, "download_limit_reached");
    const view = (await (await fetch(api)).json()) as { max_downloads: number; used_up_file_ids: string[] };
    expect(view).toMatchObject({ max_downloads: 1, used_up_file_ids: [ids["big.bin"]] });
    const page = await (await fetch(`${t.url}/l/${secretOf(fin.magic_link)}`)).text();
    expect(page).toContain("Already downloaded");
    expect(page).toContain("downloaded once with this link");

    expect(await (await fetch(`${api}/files/${ids["small.txt"]}`)).text()).toBe("small");
    // Every file used up: the link itself answers 410, page and JSON alike.
    await until(async () => (await fetch(api)).status === 410, 5000, "the link to be used up");
    await expectError(await fetch(api), 410, "download_limit_reached");
    const usedUpPage = await fetch(`${t.url}/l/${secretOf(fin.magic_link)}`);
    expect(usedUpPage.status).toBe(410);
    expect(await usedUpPage.text()).toContain("they can allow more downloads");
    const d = await detail(fin.id);
    expect(d.links[0]).toMatchObject({ download_count: 2, used_up: true });

    // The sender hears once that the link is used up.
    const usedUp = (m: ReceivedMail) =>
      m.envelope.to.includes(owner.user.email) && /Downloads used up/.test(m.parsed.subject ?? "") && (m.parsed.subject ?? "").includes(d.links[0]!.recipient_email);
    await smtp.waitForMail(usedUp);

    // Raising the limit brings the link back.
    const patched = await t.fetch(`/packages/${fin.id}`, { method: "PATCH", token: owner.token, json: { max_downloads: 2 } });
    expect(patched.status).toBe(200);
    expect((await patched.json()) as Detail).toMatchObject({ max_downloads: 2, links: [{ used_up: false }] });
    expect(await (await fetch(`${api}/files/${ids["small.txt"]}`)).text()).toBe("small");
  });

  it("max_downloads 1 under a race: of eight complete downloads at once exactly one is served and counted", async () => {
    const bytes = crypto.randomBytes(4 * MiB);
    const fin = await send({ recipient_email: "cfo@acme.test", max_downloads: 1 }, [["race.bin", bytes]]);
    const api = linkApi(fin.magic_link);
    const ids = await fileIds(api);
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const r = await fetch(`${api}/files/${ids["race.bin"]}`);
        const body = Buffer.from(await r.arrayBuffer());
        return {
          status: r.status,
          ok: r.status === 200 && sha256(body) === sha256(bytes),
          code: r.status === 200 ? undefined : (JSON.parse(body.toString()) as { code: string }).code,
        };
      }),
    );
    expect(answers.filter((a) => a.status === 200)).toEqual([{ status: 200, ok: true, code: undefined }]);
    for (const a of answers.filter((x) => x.status !== 200)) expect(["409 download_in_progress", "410 download_limit_reached"]).toContain(`${a.status} ${a.code}`);
    await until(async () => (await detail(fin.id)).links[0]!.download_count === 1, 5000, "the one download to count");
    // The count commits first and the hold goes in the statement after it: wait for both.
    await until(async () => (await holds()) === 0, 10_000, "the served download's hold to go");
    await new Promise((r) => setTimeout(r, 200));
    expect((await detail(fin.id)).download_count).toBe(1);
  });

  it("a ranged request counts when it carried the file's last byte (a resumed download)", async () => {
    const fin = await send({ recipient_email: "cfo@acme.test", max_downloads: 1 }, [["r.txt", "0123456789"]]);
    const api = linkApi(fin.magic_link);
    const url = `${api}/files/${(await fileIds(api))["r.txt"]}`;
    const head = await fetch(url, { headers: { Range: "bytes=0-4" } });
    expect([head.status, await head.text()]).toEqual([206, "01234"]);
    const tail = await fetch(url, { headers: { Range: "bytes=5-" } });
    expect([tail.status, await tail.text()]).toEqual([206, "56789"]);
    await until(async () => (await detail(fin.id)).links[0]!.download_count === 1, 5000, "the resumed download to count");
    await expectError(await fetch(url, { headers: { Range: "bytes=0-4" } }), 410, "download_limit_reached");
  });

  it("the zip counts once for every file in it", async () => {
    const fin = await send({ recipient_email: "cfo@acme.test", max_downloads: 1 }, [
      ["one.txt", "1"],
      ["two.txt", "22"],
    ]);
    const api = linkApi(fin.magic_link);
    const ids = await fileIds(api);
    const zip = await fetch(`${api}/archive`);
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();
    await until(async () => (await fetch(api)).status === 410, 5000, "the zip to use up both files");
    await expectError(await fetch(`${api}/files/${ids["one.txt"]}`), 410, "download_limit_reached");
  });

  it("password: missing and wrong are 403, wrong ones are counted (then 429), the right one opens files, JSON and archive", async () => {
    const fin = await send({ recipient_email: "cfo@acme.test", password: "correct horse battery" }, [
      ["a.txt", "alpha"],
      ["b.txt", "bravo"],
    ]);
    const api = linkApi(fin.magic_link);
    const right = { "X-Link-Password": "correct horse battery" };
    const ids = await fileIds(api, right);
    await expectError(await fetch(api), 403, "link_password_required");
    await expectError(await fetch(`${api}/files/${ids["a.txt"]}`), 403, "link_password_required");
    await expectError(await fetch(`${api}/archive`), 403, "link_password_required");
    expect(await (await fetch(`${api}/files/${ids["a.txt"]}`, { headers: right })).text()).toBe("alpha");
    const zip = await fetch(`${api}/archive`, { headers: right });
    expect(zip.status).toBe(200);
    await zip.arrayBuffer();

    // Never returned, stored as scrypt.
    const d = await detail(fin.id);
    expect(d.password_protected).toBe(true);
    expect(JSON.stringify(d)).not.toContain("correct horse");
    const row = await t.running.services.db("packages").where({ id: fin.id }).first("password_hash");
    expect(row.password_hash).toMatch(/^scrypt\$/);
    // The recipient's email says a password is needed, never what it is.
    const mail = await smtp.waitForMail((m) => (m.parsed.text ?? "").includes(fin.magic_link));
    expect(mail.parsed.text).toContain("asks for a password");
    expect(mail.raw.toString()).not.toContain("correct horse");

    // Wrong passwords count per link (3 here): the 4th request is 429, even with the right one.
    // Right ones in flight at once never count (a browser fetching several files together).
    await expectError(await fetch(api, { headers: { "X-Link-Password": "wrong-0-guess" } }), 403, "link_password_wrong");
    const together = await Promise.all(Array.from({ length: 6 }, () => fetch(`${api}/files/${ids["b.txt"]}`, { headers: right })));
    expect(await Promise.all(together.map(async (r) => `${r.status} ${await r.text()}`))).toEqual(Array(6).fill("200 bravo"));
    for (let i = 1; i < 3; i++) await expectError(await fetch(api, { headers: { "X-Link-Password": `wrong-${i}-guess` } }), 403, "link_password_wrong");
    const limited = await fetch(api, { headers: right });
    await expectError(limited, 429, "rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("password: printable ASCII only (a header cannot carry other characters); spaces and symbols work through X-Link-Password", async () => {
    const base = { title: "Q4", recipient_email: "cfo@acme.test", direction: "outbound", ttl_days: 7 };
    expect((await postPackage(t, owner.token, { ...base, password: "plain-ascii" })).status).toBe(201);
    for (const password of ["pässwörd12€", "tab\there-pass", " leading-space", "trailing-space "]) {
      const e = await expectError(await postPackage(t, owner.token, { ...base, password }), 422, "validation_failed");
      expect(e.errors?.[0]?.path ?? e.detail).toMatch(/password/);
    }
    const pw = `a ~!@#$%^&*()_+{}|:"<>?[];',./\\\` x`;
    const fin = await send({ recipient_email: "cfo@acme.test", password: pw }, [["a.txt", "alpha"]]);
    const ids = await fileIds(linkApi(fin.magic_link), { "X-Link-Password": pw });
    expect(await (await fetch(`${linkApi(fin.magic_link)}/files/${ids["a.txt"]}`, { headers: { "X-Link-Password": pw } })).text()).toBe("alpha");
  });

  it("password page: a form, then an HttpOnly cookie scoped to that link for at most 12 hours", async () => {
    const fin = await send({ recipient_email: "cfo@acme.test", password: "open sesame 42" }, [["a.txt", "alpha"]]);
    const secret = secretOf(fin.magic_link);
    const page = `${t.url}/l/${secret}`;
    const ask = await fetch(page);
    expect(ask.status).toBe(200);
    const html = await ask.text();
    expect(html).toContain('type="password"');
    expect(html).not.toContain("a.txt");

    const post = (password: string) =>
      fetch(page, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ password }) });
    const wrong = await post("not it at all");
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).toContain("not right");
    expect(setCookieOf(wrong, "sf_link")).toBeUndefined();

    const ok = await post("open sesame 42");
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe(`/l/${secret}`);
    const lines = ok.headers.getSetCookie().filter((l) => l.startsWith("sf_link="));
    expect(lines.map((l) => /Path=([^;]+)/i.exec(l)![1]).sort()).toEqual([`/api/v1/links/${secret}`, `/l/${secret}`]);
    for (const l of lines) {
      expect(l).toMatch(/HttpOnly/i);
      expect(l).toMatch(/SameSite=Lax/i);
      expect(Number(/Max-Age=(\d+)/i.exec(l)![1])).toBeLessThanOrEqual(12 * 3600);
      expect(l).not.toContain("open");
    }
    const cookie = lines[0]!.split(";")[0]!;
    const opened = await fetch(page, { headers: { Cookie: cookie } });
    expect(opened.status).toBe(200);
    expect(await opened.text()).toContain("a.txt");
    const v = (await (await fetch(linkApi(fin.magic_link), { headers: { Cookie: cookie } })).json()) as { files: { id: string }[] };
    expect(await (await fetch(`${linkApi(fin.magic_link)}/files/${v.files[0]!.id}`, { headers: { Cookie: cookie } })).text()).toBe("alpha");
    // A forged or stale cookie opens nothing; nor does another link's.
    await expectError(
      await fetch(linkApi(fin.magic_link), { headers: { Cookie: `sf_link=${Math.floor(Date.now() / 1000) + 3600}.${"A".repeat(43)}` } }),
      403,
      "link_password_required",
    );
    t.clock.advance(12 * 3600 * 1000 + 1000);
    await expectError(await fetch(linkApi(fin.magic_link), { headers: { Cookie: cookie } }), 403, "link_password_required");
  });

  it("PATCH extends a link and revives an expired one only while its files are not purged", async () => {
    const a = await send({ recipient_email: "cfo@acme.test", ttl_days: 1 }, [["a.txt", "alpha"]]);
    const b = await send({ recipient_email: "cfo@acme.test", ttl_days: 1 }, [["b.txt", "bravo"]]);
    const patch = (id: string, json: Record<string, unknown>) => t.fetch(`/packages/${id}`, { method: "PATCH", token: owner.token, json });

    await expectError(await patch(a.id, { ttl_days: 31 }), 422, "validation_failed"); // SF_MAX_TTL_DAYS=30
    await expectError(await patch(a.id, { expires_at: new Date(t.clock.now().getTime() + 31 * 86_400_000).toISOString() }), 422, "validation_failed");
    await expectError(await patch(a.id, { expires_at: new Date(t.clock.now().getTime() - 1000).toISOString() }), 422, "validation_failed");
    await expectError(await patch(a.id, { ttl_days: 2, expires_at: new Date().toISOString() }), 422, "validation_failed");
    await expectError(await patch(a.id, {}), 422, "validation_failed");

    t.clock.advanceDays(2);
    await expectError(await fetch(linkApi(a.magic_link)), 410, "link_expired");
    await expectError(await fetch(linkApi(b.magic_link)), 410, "link_expired");

    // a: extended before the sweeper ran. b: the sweeper expired and purged it first.
    const revived = await patch(a.id, { ttl_days: 7 });
    expect(revived.status).toBe(200);
    const body = (await revived.json()) as { status: string; expires_at: string; magic_link_state: string; ttl_days: number };
    expect(body).toMatchObject({ status: "active", magic_link_state: "active", ttl_days: 7, expires_at: new Date(t.clock.now().getTime() + 7 * 86_400_000).toISOString() });
    expect((await t.running.services.db("packages").where({ id: a.id }).first("ttl_days")).ttl_days).toBe(7);
    await sweepOnce(t.running.services);
    expect((await fetch(linkApi(a.magic_link))).status).toBe(200);
    await expectError(await patch(b.id, { ttl_days: 7 }), 410, "package_purged");
    await expectError(await fetch(linkApi(b.magic_link)), 410, "link_expired");

    // An expired (swept, not yet purged) package comes back too.
    const c = await send({ recipient_email: "cfo@acme.test", ttl_days: 1 }, [["c.txt", "charlie"]]);
    t.clock.advanceDays(2);
    await t.running.services.db("packages").where({ id: c.id }).update({ status: "expired" });
    const until = new Date(t.clock.now().getTime() + 3 * 86_400_000).toISOString();
    expect((await (await patch(c.id, { expires_at: until })).json()) as { status: string; expires_at: string }).toMatchObject({ status: "active", expires_at: until });
    expect((await fetch(linkApi(c.magic_link))).status).toBe(200);

    // Revoked: 409.
    await t.fetch(`/packages/${c.id}/revoke`, { method: "POST", token: owner.token });
    await expectError(await patch(c.id, { ttl_days: 3 }), 409, "package_not_active");
  });

  it("resend mails every live recipient a fresh link (the old one answers link_replaced), 3 an hour", async () => {
    const fin = await send({ recipients: [{ email: "r1@acme.test" }, { email: "r2@acme.test" }, { email: "r3@acme.test" }], recipient_email: undefined }, [["a.txt", "alpha"]]);
    const [l1, l2, l3] = fin.links as [Finalized["links"][0], Finalized["links"][0], Finalized["links"][0]];
    const ids = await fileIds(linkApi(l1.magic_link));
    await (await fetch(`${linkApi(l1.magic_link)}/files/${ids["a.txt"]}`)).text();
    await until(async () => (await detail(fin.id)).links[0]!.download_count === 1, 5000, "download counted");
    await t.fetch(`/packages/${fin.id}/links/${l3.id}/revoke`, { method: "POST", token: owner.token });

    const res = await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: owner.token });
    expect(res.status).toBe(200);
    const again = (await res.json()) as Finalized;
    expect(again.links.map((l) => l.recipient_email)).toEqual(["r1@acme.test", "r2@acme.test"]);
    expect(again.links[0]!.magic_link).not.toBe(l1.magic_link);
    expect(again.links[0]!.download_count).toBe(1); // the count stays with the recipient
    await smtp.waitForMail((m) => m.envelope.to.includes("r2@acme.test") && (m.parsed.text ?? "").includes(again.links[1]!.magic_link));
    await expectError(await fetch(linkApi(l1.magic_link)), 410, "link_replaced");
    await expectError(await fetch(linkApi(l2.magic_link)), 410, "link_replaced");
    await expectError(await fetch(linkApi(l3.magic_link)), 410, "link_revoked");
    expect((await fetch(linkApi(again.links[1]!.magic_link))).status).toBe(200);

    expect((await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: owner.token })).status).toBe(200);
    expect((await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: owner.token })).status).toBe(200);
    await expectError(await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: owner.token }), 429, "rate_limited");

    // Only an active package is sent again.
    const draft = await createPackage(t, owner.token, {});
    await expectError(await t.fetch(`/packages/${draft.id}/resend`, { method: "POST", token: owner.token }), 409, "package_not_active");
  });

  it("resend: another user's attempts (403) do not use the owner's budget", async () => {
    const fin = await send({ recipient_email: "cfo@acme.test" }, [["a.txt", "alpha"]]);
    const stranger = await t.createUser();
    for (let i = 0; i < 5; i++) await expectError(await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: stranger.token }), 403, "package_forbidden");
    expect((await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: owner.token })).status).toBe(200);
  });

  it("revoking every recipient's link revokes the package; resend then answers 409 without using the budget; revoking twice is 409", async () => {
    const fin = await send({ recipients: [{ email: "x1@acme.test" }, { email: "x2@acme.test" }], recipient_email: undefined }, [["a.txt", "alpha"]]);
    const [l1, l2] = fin.links as [Finalized["links"][0], Finalized["links"][0]];
    const revoke = (linkId: string) => t.fetch(`/packages/${fin.id}/links/${linkId}/revoke`, { method: "POST", token: owner.token });
    expect((await revoke(l1.id)).status).toBe(200);
    await expectError(await revoke(l1.id), 409, "link_revoked");
    expect(((await (await t.fetch(`/packages/${fin.id}`, { token: owner.token })).json()) as { status: string }).status).toBe("active");
    expect((await revoke(l2.id)).status).toBe(200);
    expect(((await (await t.fetch(`/packages/${fin.id}`, { token: owner.token })).json()) as { status: string }).status).toBe("revoked");
    // The finalize's two emails leave in the background; then nothing more is queued or sent.
    await smtp.waitForMails(2, (m) => m.envelope.to.includes("x1@acme.test") || m.envelope.to.includes("x2@acme.test"));
    const mailStates = async () => (await t.running.services.db("mail_outbox").where({ package_id: fin.id }).select("state")).map((r: { state: string }) => r.state);
    await until(async () => (await mailStates()).join() === "sent,sent", 5000, "both emails recorded as sent");
    const before = smtp.messages.length;
    for (let i = 0; i < 4; i++) {
      const e = await expectError(await t.fetch(`/packages/${fin.id}/resend`, { method: "POST", token: owner.token }), 409, "package_not_active");
      expect(e.detail).toMatch(/revoked/);
    }
    expect(await mailStates()).toEqual(["sent", "sent"]);
    expect(smtp.messages.length).toBe(before);

    // Links all revoked on a package still marked active (rows from before this rule): 409 too, and no resend used.
    const old = await send({ recipient_email: "x3@acme.test" }, [["a.txt", "alpha"]]);
    await t.running.services.db("package_links").where({ package_id: old.id }).update({ revoked_at: t.clock.now().toISOString() });
    for (let i = 0; i < 4; i++) {
      const e = await expectError(await t.fetch(`/packages/${old.id}/resend`, { method: "POST", token: owner.token }), 409, "package_not_active");
      expect(e.detail).toMatch(/revoked/);
    }
    await t.running.services.db("package_links").where({ package_id: old.id }).update({ revoked_at: null });
    expect((await t.fetch(`/packages/${old.id}/resend`, { method: "POST", token: owner.token })).status).toBe(200);
  });

  it("package.downloaded webhooks name the recipient's link; the package shape is unchanged", async () => {
    const receiver = await startReceiver();
    try {
      const hook = await t.fetch("/webhooks", { method: "POST", token: owner.token, json: { url: receiver.url, events: ["package.downloaded"] } });
      expect(hook.status).toBe(201);
      const fin = await send({ recipients: [{ email: "w1@acme.test" }, { email: "w2@acme.test" }], recipient_email: undefined }, [["w.txt", "web"]]);
      const ids = await fileIds(linkApi(fin.links[1]!.magic_link));
      await (await fetch(`${linkApi(fin.links[1]!.magic_link)}/files/${ids["w.txt"]}`)).text();
      await until(async () => (await detail(fin.id)).download_count === 1, 5000, "download counted");
      await deliverDue(t.running.services);
      await until(() => receiver.received.length > 0, 5000, "the webhook");
      const event = JSON.parse(receiver.received[0]!.body) as { type: string; data: { link: unknown; file: { name: string }; package: Record<string, unknown> } };
      expect(event.type).toBe("package.downloaded");
      expect(event.data.link).toEqual({ id: fin.links[1]!.id, recipient_email: "w2@acme.test" });
      expect(event.data.file.name).toBe("w.txt");
      expect(event.data.package).toMatchObject({ id: fin.id, recipient_email: "w1@acme.test", download_count: 1 });
    } finally {
      await receiver.close();
    }
  });

  it("notify_on_download false: no receipts", async () => {
    const fin = await send({ recipient_email: "quiet@acme.test", notify_on_download: false, max_downloads: 1 }, [["q.txt", "quiet"]]);
    const ids = await fileIds(linkApi(fin.magic_link));
    await (await fetch(`${linkApi(fin.magic_link)}/files/${ids["q.txt"]}`)).text();
    await until(async () => (await fetch(linkApi(fin.magic_link))).status === 410, 5000, "used up");
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages.filter((m) => m.envelope.to.includes(owner.user.email) && (m.parsed.text ?? "").includes("quiet@acme.test"))).toEqual([]);
    // Nothing was queued for the owner either (mail leaves in the background): only the recipient's link.
    expect((await t.running.services.db("mail_outbox").where({ package_id: fin.id }).select("kind")).map((r: { kind: string }) => r.kind)).toEqual(["package_link"]);
  });
});

describe.each(DATABASES)("wrong link passwords count per address too (%s)", (kind) => {
  it("four wrong passwords spread over two links lock the address out of a third link", async () => {
    const t = await startTestServer(kind, { env: { SF_LINK_MAX_FAILURES_PER_IP: "4", SF_LINK_MAX_PASSWORD_FAILURES: "100" } });
    try {
      const owner = await t.createUser();
      const links: string[] = [];
      for (let i = 0; i < 3; i++) {
        const pkg = await createPackage(t, owner.token, { password: `password number ${i}` });
        await addFile(t, owner.token, pkg.id, "a.txt", "alpha");
        const fin = (await (await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: owner.token })).json()) as { magic_link: string };
        links.push(`${t.api}/links/${secretOf(fin.magic_link)}`);
      }
      // Right passwords and missing ones are not failures.
      expect((await fetch(links[2]!, { headers: { "X-Link-Password": "password number 2" } })).status).toBe(200);
      for (let i = 0; i < 3; i++) await expectError(await fetch(links[2]!), 403, "link_password_required");
      for (const l of [links[0]!, links[0]!, links[1]!, links[1]!])
        await expectError(await fetch(l, { headers: { "X-Link-Password": "a wrong guess" } }), 403, "link_password_wrong");
      await expectError(await fetch(links[2]!, { headers: { "X-Link-Password": "password number 2" } }), 429, "rate_limited");
    } finally {
      await t.close();
    }
  });
});

describe.each(DATABASES)("migrating to per-recipient links (%s)", (kind) => {
  it("a link emailed before the upgrade keeps working, with its downloads", async () => {
    // A database on the migrations before per-recipient links; then the full list, as an upgrade runs.
    const pgDb = kind === "postgres" ? await createPgDatabase() : undefined;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-mig-"));
    const fresh = pgDb ? pgDb.url : `sqlite://${path.join(dir, "db.sqlite")}`;
    const db = openDatabase(fresh);
    try {
      const before = (await migrationSource.getMigrations([])).filter((n) => n < "20261130000000");
      await db.migrate.latest({
        migrationSource: { ...migrationSource, getMigrations: async () => before },
      });
      const secret = crypto.randomBytes(32).toString("base64url");
      const now = new Date().toISOString();
      await db("users").insert({ id: crypto.randomUUID(), email: "old@x.test", name: "Old", role: "user", password_hash: "x", created_at: now, updated_at: now });
      const owner = (await db("users").first("id")) as { id: string };
      const pkgId = crypto.randomUUID();
      await db("packages").insert({
        id: pkgId,
        owner_id: owner.id,
        title: "Before",
        recipient_email: "cfo@old.test",
        direction: "outbound",
        status: "active",
        ttl_days: 7,
        link_hash: sha256(secret),
        created_at: now,
        finalized_at: now,
        expires_at: new Date(Date.now() + 86_400_000).toISOString(),
        download_count: 2,
      });
      await migrate(db);
      const link = await db("package_links").where({ package_id: pkgId }).first();
      expect(link).toMatchObject({ recipient_email: "cfo@old.test", link_hash: sha256(secret) });
      expect(Number(link.download_count)).toBe(2);
      await closeDatabase(db);

      const t1 = await startTestServer(kind, { databaseUrl: fresh, dataDir: dir });
      try {
        const res = await fetch(`${t1.api}/links/${secret}`);
        expect(res.status).toBe(200);
        expect(((await res.json()) as { title: string }).title).toBe("Before");
      } finally {
        await t1.close();
      }
    } finally {
      await db.destroy().catch(() => undefined);
      await pgDb?.drop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
