import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { expectError, expectValidationError } from "@speedyfiles/test-utils/expect";
import { addFile, blobPath, createPackage, exists, postPackage, sha256, uploadFile } from "@speedyfiles/test-utils/uploads";
import { requestFiles, shareFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { sweepOnce } from "../src/jobs/sweeper.js";

// Defects found by attacking the first release; each test here failed before its fix.

describe.each(DATABASES)("what an attacker tried (%s)", (kind) => {
  let smtp: TestSmtp;
  let t: TestServer;
  let alice: Awaited<ReturnType<TestServer["createUser"]>>;
  const clock = new TestClock();

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { clock, env: { SF_SMTP_URL: smtp.url, SF_LINK_MAX_FAILURES_PER_IP: "100000" } });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  const mailsTo = (to: string) => smtp.messages.filter((m) => m.envelope.to.includes(to));

  it("an inbound link's 'done' emails the owner only when files arrived since the last one, and is rate-limited", async () => {
    const owner = await t.createUser();
    const link = await requestFiles(t, owner.token);
    expect((await uploadToLink(link.api, "w2.pdf", "w2")).status).toBe(201);
    const done = () => fetch(`${link.api}/complete`, { method: "POST" });

    const first = await done();
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ new_files: 1, email_sent: true });
    await smtp.waitForMail((m) => m.envelope.to.includes(owner.user.email));
    for (let i = 0; i < 5; i++) {
      const again = await done();
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ new_files: 0, email_sent: false });
    }
    expect((await uploadToLink(link.api, "w3.pdf", "w3")).status).toBe(201);
    expect(await (await done()).json()).toMatchObject({ new_files: 1, email_sent: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo(owner.user.email)).toHaveLength(2);

    // Ten calls within ten minutes, then 429 with Retry-After.
    for (let i = 0; i < 3; i++) expect((await done()).status).toBe(200);
    const limited = await done();
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    await expectError(limited, 429, "rate_limited");
    expect(mailsTo(owner.user.email)).toHaveLength(2);
  });

  it("revoking (or letting expire) an inbound link keeps what the recipient sent; only deleting removes it", async () => {
    const owner = await t.createUser();
    const link = await requestFiles(t, owner.token, { ttl_days: 1 });
    const bytes = crypto.randomBytes(4096);
    const up = await uploadToLink(link.api, "contract-signed.pdf", bytes);
    expect(up.status).toBe(201);
    const file = (await up.json()) as { id: string };
    const key = (await t.running.services.db("files").where({ id: file.id }).first()).storage_key as string;
    expect((await t.fetch(`/packages/${link.id}/revoke`, { method: "POST", token: owner.token })).status).toBe(200);

    clock.advanceDays(30);
    await sweepOnce(t.running.services);
    expect(await exists(blobPath(t, key))).toBe(true);
    const got = await t.fetch(`/packages/${link.id}/files/${file.id}`, { token: owner.token });
    expect(got.status).toBe(200);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(bytes));

    expect((await t.fetch(`/packages/${link.id}`, { method: "DELETE", token: owner.token })).status).toBe(204);
    expect(await exists(blobPath(t, key))).toBe(false);
  });

  it("a finalize racing the deletion of the last file never ends active with no files, nor emails a deleted file", async () => {
    const owner = await t.createUser();
    for (let i = 0; i < 20; i++) {
      const to = `race-${i}-${crypto.randomBytes(3).toString("hex")}@acme.test`;
      const pkg = await createPackage(t, owner.token, { direction: "outbound", recipient_email: to });
      const f = await addFile(t, owner.token, pkg.id, "only.txt", `only ${i}`);
      const [fin, del] = await Promise.all([
        t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: owner.token }),
        t.fetch(`/packages/${pkg.id}/files/${f.id}`, { method: "DELETE", token: owner.token }),
      ]);
      const after = (await (await t.fetch(`/packages/${pkg.id}`, { token: owner.token })).json()) as { status: string; file_count: number };
      const outcome = { fin: fin.status, del: del.status, status: after.status, files: after.file_count };
      // Either the finalize won (the file stays, the delete is refused) or the delete did (nothing to finalize).
      expect([
        { fin: 200, del: 409, status: "active", files: 1 },
        { fin: 422, del: 204, status: "draft", files: 0 },
      ]).toContainEqual(outcome);
      await fin.arrayBuffer();
      await del.arrayBuffer();
      if (fin.status === 200) {
        const mail = await smtp.waitForMail((m) => m.envelope.to.includes(to));
        expect(mail.parsed.text).toContain("only.txt");
      }
    }
  });

  it("control and bidi characters in a package's text get 422 on both databases (NUL used to be a 500 on PostgreSQL)", async () => {
    const bad = ["a\u0000b", "a\u0007b", "invoice\u202Efdp.exe", "a\u2066b", "a\u0085b"];
    for (const field of ["title", "recipient_name", "message"]) {
      for (const value of bad) {
        await expectValidationError(
          await postPackage(t, alice.token, { title: "ok", recipient_email: "x@acme.test", direction: "outbound", ttl_days: 1, [field]: value }),
          `/body/${field}`,
        );
      }
    }
    for (const value of bad) {
      await expectValidationError(await t.fetch(`/packages?q=${encodeURIComponent(value)}`, { token: alice.token }), "/query/q");
    }
    // A message keeps its lines and tabs.
    const ok = await postPackage(t, alice.token, { title: "Lines", recipient_email: "x@acme.test", direction: "outbound", ttl_days: 1, message: "Hi,\r\n\tsee below\n" });
    expect(ok.status).toBe(201);
    expect((await ok.json()).message).toBe("Hi,\r\n\tsee below");
    expect((await t.fetch("/packages?q=Lines", { token: alice.token })).status).toBe(200);
  });

  it("refuses names a recipient's disk cannot hold beside the others: a file and a folder of one name, or names differing only in case", async () => {
    const pkg = await createPackage(t, alice.token, { direction: "outbound" });
    expect((await uploadFile(t, alice.token, pkg.id, "dir/inner.txt", "inner")).status).toBe(201);
    expect((await uploadFile(t, alice.token, pkg.id, "Report.txt", "report")).status).toBe(201);
    for (const name of ["dir", "DIR", "Dir/inner.TXT", "REPORT.txt", "report.txt", "Report.txt/x", "dir/inner.txt/deeper"]) {
      const res = await uploadFile(t, alice.token, pkg.id, name, "clash");
      const body = await expectError(res, 409, "file_name_taken");
      expect(body.detail).toMatch(/already in this package|cannot hold both/);
    }
    // Composed and decomposed forms of one name are one name.
    expect((await uploadFile(t, alice.token, pkg.id, "caf\u00e9.txt", "nfc")).status).toBe(201);
    await expectError(await uploadFile(t, alice.token, pkg.id, "cafe\u0301.txt", "nfd"), 409, "file_name_taken");
    // Nothing of the refused uploads was kept.
    const detail = (await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json()) as { files: { name: string }[] };
    expect(detail.files.map((f) => f.name).sort()).toEqual(["Report.txt", "café.txt", "dir/inner.txt"]);
    // Siblings that only share a prefix are fine.
    expect((await uploadFile(t, alice.token, pkg.id, "dir2/inner.txt", "x")).status).toBe(201);
    expect((await uploadFile(t, alice.token, pkg.id, "dir.txt", "x")).status).toBe(201);
  });

  it("a page number JavaScript reads as a number but is not a whole number gets 422, not page 1", async () => {
    for (const page of ["1e999", "Infinity", "1e3", "0x10", "1.5", "-1", "1 ", " 2"]) {
      await expectValidationError(await t.fetch(`/packages?page=${encodeURIComponent(page)}`, { token: alice.token }), "/query/page");
    }
    for (const perPage of ["1e1", "NaN"]) {
      await expectValidationError(await t.fetch(`/packages?per_page=${perPage}`, { token: alice.token }), "/query/per_page");
    }
    const ok = await t.fetch("/packages?page=2&per_page=5", { token: alice.token });
    expect(await ok.json()).toMatchObject({ page: 2, per_page: 5 });
  });

  it("a disabled user's links answer 410 while they are disabled, and work again when re-enabled", async () => {
    const admin = await t.createUser({ role: "admin" });
    const carol = await t.createUser();
    const out = await shareFiles(t, carol.token, [["a.txt", "a"]]);
    const inbound = await requestFiles(t, carol.token);
    const setDisabled = async (disabled: boolean) =>
      expect((await t.fetch(`/admin/users/${carol.user.id}`, { method: "PATCH", token: admin.token, json: { disabled } })).status).toBe(200);

    await setDisabled(true);
    await expectError(await fetch(out.api), 410, "link_unavailable");
    await expectError(await fetch(`${out.api}/files/${out.files[0]!.id}`), 410, "link_unavailable");
    await expectError(await fetch(`${out.api}/archive`), 410, "link_unavailable");
    await expectError(await uploadToLink(inbound.api, "x.txt", "x"), 410, "link_unavailable");
    const page = await fetch(out.page);
    expect(page.status).toBe(410);
    expect(await page.text()).not.toContain("a.txt");

    await setDisabled(false);
    expect((await fetch(`${out.api}/files/${out.files[0]!.id}`)).status).toBe(200);
    expect((await uploadToLink(inbound.api, "x.txt", "x")).status).toBe(201);
  });
});
