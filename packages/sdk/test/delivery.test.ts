import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { GoneError, PermissionError, RateLimitError, SpeedyFiles } from "../src/index.js";
import { sha256, tmpDir } from "./helpers/tmp.js";

// Delivery controls through the SDK: several recipients, a download limit and a password.

describe.each(DATABASES)("delivery controls through the SDK (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let dir: string;
  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_LINK_MAX_PASSWORD_FAILURES: "2" } });
    dir = await tmpDir();
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it("send({ to: [...], max_downloads, password }) → one link each; links.get and downloadAll take { password }", async () => {
    const { token, user } = await t.createUser();
    // No retries: a 429 with Retry-After would otherwise be waited out.
    const sf = new SpeedyFiles({ baseUrl: t.url, token, retry: { retries: 0 } });
    const q4 = path.join(dir, "q4");
    await fs.mkdir(q4, { recursive: true });
    await fs.writeFile(path.join(q4, "report.pdf"), "%PDF numbers");
    await fs.writeFile(path.join(q4, "sheet.csv"), "a,b\n1,2\n");

    const r = await sf.send({
      files: [q4],
      to: ["cfo@acme.com", { email: "audit@acme.com", name: "Audit" }],
      max_downloads: 1,
      password: "quarterly secret",
    });
    expect(r.package.links.map((l) => [l.recipient_email, l.recipient_name])).toEqual([
      ["cfo@acme.com", null],
      ["audit@acme.com", "Audit"],
    ]);
    expect(r.package).toMatchObject({ max_downloads: 1, password_protected: true, notify_on_download: true });
    // Links name SF_PUBLIC_URL (a placeholder port in tests): point them at this server.
    const local = <T extends { magic_link: string }>(l: T): T => ({ ...l, magic_link: l.magic_link.replace(/^https?:\/\/[^/]+/, t.url) });
    const [cfo, audit] = r.package.links.map(local);

    // Without the password: PermissionError with its code; with a wrong one as well.
    await expect(sf.links.get(cfo!.magic_link)).rejects.toMatchObject({ status: 403, code: "link_password_required" });
    await expect(sf.links.get(cfo!.magic_link, { password: "not the one" })).rejects.toBeInstanceOf(PermissionError);
    const view = await sf.links.get(cfo!.magic_link, { password: "quarterly secret" });
    expect(view.files.map((f) => f.name).sort()).toEqual(["q4/report.pdf", "q4/sheet.csv"]);

    const out = path.join(dir, "cfo");
    const got = await sf.downloadAll(cfo!.magic_link, out, { password: "quarterly secret" });
    expect(got.files.map((f) => f.name).sort()).toEqual(["q4/report.pdf", "q4/sheet.csv"]);
    expect(sha256(await fs.readFile(path.join(out, "q4/report.pdf")))).toBe(sha256("%PDF numbers"));

    // max_downloads 1: the CFO's link is used up; the auditor's is not.
    await expect.poll(async () => (await sf.packages.get(r.package.id)).links[0]?.used_up, { timeout: 5000 }).toBe(true);
    await expect(sf.links.get(cfo!.magic_link, { password: "quarterly secret" })).rejects.toMatchObject({ code: "download_limit_reached" });
    await expect(sf.links.get(cfo!.magic_link, { password: "quarterly secret" })).rejects.toBeInstanceOf(GoneError);
    await sf.downloadAll(audit!.magic_link, path.join(dir, "audit"), { password: "quarterly secret" });

    // Both receipts reached the sender.
    for (const who of ["cfo@acme.com", "audit@acme.com"]) {
      await smtp.waitForMail((m) => m.envelope.to.includes(user.email) && (m.parsed.text ?? "").includes(who) && /downloaded/.test(m.parsed.subject ?? ""));
    }

    // Owner side: extend, raise the limit, revoke one link, resend.
    const extended = await sf.packages.update(r.package.id, { ttl_days: 30, max_downloads: 2 });
    expect(extended.links.map((l) => l.used_up)).toEqual([false, false]);
    expect((await sf.packages.revokeLink(r.package.id, cfo!.id)).state).toBe("revoked");
    const again = await sf.packages.resend(r.package.id);
    again.links = again.links.map(local);
    expect(again.links.map((l) => l.recipient_email)).toEqual(["audit@acme.com"]);
    await expect(sf.links.get(audit!.magic_link, { password: "quarterly secret" })).rejects.toMatchObject({ code: "link_replaced" });
    expect((await sf.links.get(again.links[0]!.magic_link, { password: "quarterly secret" })).title).toBe("q4");

    // Wrong passwords are counted per package, over every link and every resend: the wrong one
    // tried on the CFO's link above was the first of two, so one more and then 429
    // (RateLimitError), the right one included.
    const link = again.links[0]!.magic_link;
    await expect(sf.links.get(link, { password: "guess one" })).rejects.toMatchObject({ code: "link_password_wrong" });
    await expect(sf.links.get(link, { password: "guess two" })).rejects.toBeInstanceOf(RateLimitError);
    await expect(sf.links.get(link, { password: "quarterly secret" })).rejects.toBeInstanceOf(RateLimitError);
  });

  it("one recipient as a string keeps the seed's recipient_email shape", async () => {
    const { token } = await t.createUser();
    const sf = new SpeedyFiles({ baseUrl: t.url, token });
    const f = path.join(dir, "one.txt");
    await fs.writeFile(f, "one");
    const r = await sf.send({ files: [f], to: "cfo@acme.com", recipient_name: "Acme CFO", notify_on_download: false });
    expect(r.package).toMatchObject({ recipient_email: "cfo@acme.com", recipient_name: "Acme CFO", notify_on_download: false, max_downloads: null, password_protected: false });
    expect(r.magic_link).toBe(r.package.links[0]!.magic_link);
  });
});
