import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { sf, tempDir } from "./helpers.js";
import { baseEnv, BIN, Pty } from "./proc.js";

// Delivery controls as a sender uses them: `sf send ./q4 --to cfo@acme.com --to audit@acme.com
// --max-downloads 1 --password-stdin` works end to end and the sender receives both receipts.

describe.each(DATABASES)("sf delivery controls (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let work: string;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    work = await tempDir("sf-delivery-");
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("send to two recipients with --max-downloads 1 --password-stdin; each downloads with --password-stdin; both receipts arrive", async () => {
    const u = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: u.token };
    const q4 = path.join(work, "q4");
    await fs.mkdir(q4, { recursive: true });
    await fs.writeFile(path.join(q4, "report.pdf"), "%PDF-1.7 numbers");
    await fs.writeFile(path.join(q4, "sheet.csv"), "q,revenue\n4,100\n");

    const sent = await sf(["send", q4, "--to", "cfo@acme.com", "--to", "audit@acme.com", "--max-downloads", "1", "--password-stdin"], {
      env,
      stdin: "board only 2026\n",
    });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stderr).toContain("2 recipients");
    expect(sent.stderr).toContain("each file at most once per recipient, password protected");
    const lines = sent.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    expect(lines.map((l) => l[0])).toEqual(["cfo@acme.com", "audit@acme.com"]);
    const links = Object.fromEntries(lines.map(([who, link]) => [who!, link!.replace(/^https?:\/\/[^/]+/, t.url)]));
    expect(links["cfo@acme.com"]).not.toBe(links["audit@acme.com"]);
    expect(sent.stdout).not.toContain("board only");

    // Without the password (not a terminal): a clear error, nothing written.
    const none = await sf(["download", links["cfo@acme.com"]!, "-o", path.join(work, "none")], {});
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/password/i);
    const wrong = await sf(["download", links["cfo@acme.com"]!, "-o", path.join(work, "none"), "--password-stdin"], { stdin: "not the password" });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/password is wrong/i);

    for (const who of ["cfo@acme.com", "audit@acme.com"]) {
      const dest = path.join(work, who);
      const r = await sf(["download", links[who]!, "-o", dest, "--password-stdin"], { stdin: "board only 2026\n" });
      expect(r.code, r.stderr).toBe(0);
      expect(await fs.readFile(path.join(dest, "q4/report.pdf"), "utf8")).toBe("%PDF-1.7 numbers");
      expect(await fs.readFile(path.join(dest, "q4/sheet.csv"), "utf8")).toBe("q,revenue\n4,100\n");
    }

    // Both receipts reach the sender, over real SMTP, and each link is now used up.
    const receipt = (who: string) => (m: ReceivedMail) => m.envelope.to.includes(u.user.email) && /downloaded/.test(m.parsed.subject ?? "") && (m.parsed.text ?? "").includes(who);
    await smtp.waitForMail(receipt("cfo@acme.com"));
    await smtp.waitForMail(receipt("audit@acme.com"));
    const again = await sf(["download", links["cfo@acme.com"]!, "-o", path.join(work, "again"), "--password-stdin"], { stdin: "board only 2026" });
    expect(again.code).toBe(4); // 410: not found / gone
    expect(again.stderr).toMatch(/downloaded as many times/);

    // The owner sees per-recipient counts; extends, resends and revokes one recipient.
    const id = JSON.parse((await sf(["packages", "list", "--json"], { env })).stdout)[0].id as string;
    const show = await sf(["packages", "show", id], { env });
    expect(show.code, show.stderr).toBe(0);
    // The EMAIL column: each recipient's email was sent (in the background, long before the downloads).
    expect(show.stdout).toMatch(/cfo@acme\.com\s+used up\s+sent\s+2/);
    expect(show.stdout).toMatch(/audit@acme\.com\s+used up\s+sent\s+2/);
    const ext = await sf(["packages", "extend", id, "--days", "7", "--json"], { env });
    expect(ext.code, ext.stderr).toBe(0);
    expect(Date.parse(JSON.parse(ext.stdout).expires_at) - t.clock.now().getTime()).toBe(7 * 86_400_000);
    const raised = await sf(["packages", "update", id, "--max-downloads", "2"], { env });
    expect(raised.code, raised.stderr).toBe(0);
    const revoked = await sf(["packages", "revoke", id, "--recipient", "cfo@acme.com"], { env });
    expect(revoked.code, revoked.stderr).toBe(0);
    const resent = await sf(["packages", "resend", id], { env });
    expect(resent.code, resent.stderr).toBe(0);
    // The new link's email is queued (sent in the background), or already sent.
    expect(resent.stderr).toMatch(/Email to audit@acme\.com (queued|sent)\./);
    expect(resent.stdout.trim()).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    const events = await sf(["packages", "events", id], { env });
    expect(events.stdout).toContain("audit@acme.com");
  });

  it("packages update --max-downloads none removes the limit (as docs/delivery-controls.md shows)", async () => {
    const u = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: u.token };
    const f = path.join(work, "limit.txt");
    await fs.writeFile(f, "limited");
    const sent = await sf(["send", f, "--to", "a@acme.com", "--max-downloads", "1"], { env });
    expect(sent.code, sent.stderr).toBe(0);
    const id = JSON.parse((await sf(["packages", "list", "--json"], { env })).stdout)[0].id as string;
    const r = await sf(["packages", "update", id, "--max-downloads", "none", "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).max_downloads ?? null).toBeNull();
    const bad = await sf(["packages", "update", id, "--max-downloads", "lots"], { env });
    expect(bad.code).toBe(2);
  });

  it("packages extend --days over the limit names --days, not ttl_days; send refuses a non-ASCII password", async () => {
    const u = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: u.token };
    const f = path.join(work, "extend.txt");
    await fs.writeFile(f, "extend me");
    expect((await sf(["send", f, "--to", "a@acme.com"], { env })).code).toBe(0);
    const id = JSON.parse((await sf(["packages", "list", "--json"], { env })).stdout)[0].id as string;
    const r = await sf(["packages", "extend", id, "--days", "400"], { env });
    expect(r.code).toBe(5); // 422
    expect(r.stderr).toContain("--days must be at most 365");
    expect(r.stderr).not.toContain("ttl_days");
    const pw = await sf(["send", f, "--to", "a@acme.com", "--password-stdin"], { env, stdin: "pässwörd12€" });
    expect(pw.code).toBe(2);
    expect(pw.stderr).toMatch(/password.*(ASCII|accents)/i);
  });

  it("rejects bad delivery flags before anything is sent", async () => {
    const u = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: u.token };
    const f = path.join(work, "one.txt");
    await fs.writeFile(f, "one");
    const short = await sf(["send", f, "--to", "a@acme.com", "--password-stdin"], { env, stdin: "short" });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("8 to 128 characters");
    const tooMany = await sf(["send", f, "--to", "a@acme.com", "--max-downloads", "1001"], { env });
    expect(tooMany.code).toBe(2);
    const prompt = await sf(["send", f, "--to", "a@acme.com", "--password"], { env });
    expect(prompt.code).toBe(2);
    expect(prompt.stderr).toContain("--password-stdin");
    expect(JSON.parse((await sf(["packages", "list", "--json"], { env })).stdout)).toEqual([]);
  });

  it("on a terminal: --password asks twice without echo, and sf download asks for it when the link needs one", async () => {
    const u = await t.createUser();
    const home = await tempDir("sf-delivery-tty-");
    const env = { ...baseEnv(home), TERM: "xterm-256color", SF_URL: t.url, SF_TOKEN: u.token };
    const f = path.join(work, "tty.txt");
    await fs.writeFile(f, "typed at a terminal");
    const send = new Pty(`${process.execPath} ${BIN} send ${f} --to cfo@acme.com --password --no-progress`, env);
    await send.expect(/Password for the recipients: $/);
    send.type("terminal secret 1\r");
    await send.expect(/Again, to be sure: $/);
    send.type("terminal secret 1\r");
    expect(await send.done).toBe(0);
    expect(send.text).not.toContain("terminal secret");
    const link = /https?:\/\/\S+\/l\/[A-Za-z0-9_-]{43}/.exec(send.text)![0].replace(/^https?:\/\/[^/]+/, t.url);

    const dest = path.join(home, "got");
    const dl = new Pty(`${process.execPath} ${BIN} download ${link} -o ${dest} --no-progress`, env);
    await dl.expect(/Password for this link: $/);
    dl.type("terminal secret 1\r");
    expect(await dl.done).toBe(0);
    expect(dl.text).not.toContain("terminal secret");
    expect(await fs.readFile(path.join(dest, "tty.txt"), "utf8")).toBe("typed at a terminal");
  });

  it("on a terminal: sf download asks again after a wrong password (3 tries in all)", async () => {
    const u = await t.createUser();
    const home = await tempDir("sf-delivery-tty2-");
    const env = { ...baseEnv(home), TERM: "xterm-256color", SF_URL: t.url, SF_TOKEN: u.token };
    const f = path.join(work, "retry.txt");
    await fs.writeFile(f, "second try");
    const sent = await sf(["send", f, "--to", "cfo@acme.com", "--password-stdin"], { env: { SF_URL: t.url, SF_TOKEN: u.token }, stdin: "right password 2" });
    expect(sent.code, sent.stderr).toBe(0);
    const link = sent.stdout.trim().replace(/^https?:\/\/[^/]+/, t.url);

    const dest = path.join(home, "got");
    const dl = new Pty(`${process.execPath} ${BIN} download ${link} -o ${dest} --no-progress`, env);
    await dl.expect(/Password for this link: $/);
    dl.type("wrong password 1\r");
    await dl.expect(/wrong.*\n.*Password for this link: $/is);
    dl.type("right password 2\r");
    expect(await dl.done).toBe(0);
    expect(await fs.readFile(path.join(dest, "retry.txt"), "utf8")).toBe("second try");

    const dl3 = new Pty(`${process.execPath} ${BIN} download ${link} -o ${path.join(home, "no")} --no-progress`, env);
    for (let i = 0, from = 0; i < 3; i++, from = dl3.raw.length) {
      await dl3.expect(/Password for this link: $/, 20_000, from);
      dl3.type(`nope nope ${i}\r`);
    }
    expect(await dl3.done).toBe(3);
  });
});
