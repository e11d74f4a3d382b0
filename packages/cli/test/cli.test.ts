import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { makeTree, sf, tempDir } from "./helpers.js";

const sha = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");

describe.each(DATABASES)("sf against the real server (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let work: string;
  let tree: string;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    work = await tempDir("sf-cli-");
    tree = await makeTree(work);
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** A fresh HOME-like config dir and a user; env for config-file mode. */
  async function loggedIn() {
    const u = await t.createUser();
    const env = { XDG_CONFIG_HOME: await tempDir("sf-xdg-") };
    const r = await sf(["login", "--url", t.url, "--email", u.user.email, "--password-stdin"], { env, stdin: `${u.password}\n` });
    expect(r.code, r.stderr).toBe(0);
    return { ...u, env };
  }

  describe("login, whoami, logout", () => {
    it("logs in with --password-stdin, saves a 0600 config under a profile and uses it", async () => {
      const u = await t.createUser();
      const xdg = await tempDir("sf-xdg-");
      const env = { XDG_CONFIG_HOME: xdg };
      const r = await sf(["login", "--url", t.url, "--email", u.user.email, "--password-stdin", "--profile", "work"], { env, stdin: `${u.password}\n` });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`Logged in to ${t.url} as ${u.user.email} (profile work)`);

      const file = path.join(xdg, "speedyfiles", "config.json");
      expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
      expect((await fs.stat(path.dirname(file))).mode & 0o777).toBe(0o700);
      const config = JSON.parse(await fs.readFile(file, "utf8"));
      expect(config.profiles.work).toMatchObject({ url: t.url, email: u.user.email });
      expect(config.profiles.work.token).toMatch(/^sf_[A-Za-z0-9_-]{43}$/);

      // The default profile is empty; the named one works.
      expect((await sf(["whoami"], { env })).code).toBe(3);
      const who = await sf(["whoami", "--profile", "work"], { env });
      expect(who.code, who.stderr).toBe(0);
      expect(who.stdout.trim()).toBe(u.user.email);
      const tokens = await sf(["tokens", "list", "--json", "--profile", "work"], { env });
      expect(JSON.parse(tokens.stdout).map((x: { name: string }) => x.name)).toContain("sf on testhost");
    });

    it("logs in with an existing token from stdin (--with-token)", async () => {
      const u = await t.createUser();
      const env = { XDG_CONFIG_HOME: await tempDir("sf-xdg-") };
      const r = await sf(["login", "--url", t.url, "--with-token"], { env, stdin: `${u.token}\n` });
      expect(r.code, r.stderr).toBe(0);
      expect((await sf(["whoami"], { env })).stdout.trim()).toBe(u.user.email);
    });

    it("refuses a wrong password (3, without telling you to run sf login), a bad token (3/2) and a missing terminal (2)", async () => {
      const u = await t.createUser();
      const env = { XDG_CONFIG_HOME: await tempDir("sf-xdg-") };
      const bad = await sf(["login", "--url", t.url, "--email", u.user.email, "--password-stdin"], { env, stdin: "wrong\n" });
      expect(bad.code).toBe(3);
      expect(bad.stderr).toBe(`error: wrong email or password for ${t.url} (401)\n`);
      const revoked = await sf(["login", "--url", t.url, "--with-token"], { env, stdin: `sf_${"A".repeat(43)}` });
      expect(revoked.code).toBe(3);
      expect((await sf(["login", "--url", t.url, "--with-token"], { env, stdin: "nope" })).code).toBe(2);
      const noTty = await sf(["login", "--url", t.url], { env });
      expect(noTty.code).toBe(2);
      expect(noTty.stderr).toContain("--password-stdin");
      await expect(fs.stat(path.join(env.XDG_CONFIG_HOME, "speedyfiles", "config.json"))).rejects.toThrow();
    });

    it("logout revokes the token on the server and removes it locally", async () => {
      const { env } = await loggedIn();
      const file = path.join(env.XDG_CONFIG_HOME, "speedyfiles", "config.json");
      const token = JSON.parse(await fs.readFile(file, "utf8")).profiles.default.token as string;
      const r = await sf(["logout"], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(await fs.readFile(file, "utf8")).profiles).toEqual({});
      const after = await sf(["whoami"], { env: { SF_URL: t.url, SF_TOKEN: token } });
      expect(after.code).toBe(3);
      expect(after.stderr).toContain("SF_TOKEN");
      expect((await sf(["logout"], { env })).code).toBe(3);
    });

    it("a 401 says to run sf login", async () => {
      const { env } = await loggedIn();
      const file = path.join(env.XDG_CONFIG_HOME, "speedyfiles", "config.json");
      const config = JSON.parse(await fs.readFile(file, "utf8"));
      config.profiles.default.token = `sf_${"B".repeat(43)}`;
      await fs.writeFile(file, JSON.stringify(config));
      const r = await sf(["whoami"], { env });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^error: .*run `sf login`\n$/);
    });
  });

  describe("precedence: flags → SF_URL/SF_TOKEN → config", () => {
    it("uses env over config, and never sends a saved token to another server", async () => {
      const a = await loggedIn();
      const b = await t.createUser();
      // SF_TOKEN beats the saved token.
      const who = await sf(["whoami"], { env: { ...a.env, SF_TOKEN: b.token } });
      expect(who.stdout.trim()).toBe(b.user.email);
      // A --url other than the profile's: the saved token stays home.
      const other = await sf(["whoami", "--url", "http://127.0.0.1:59999"], { env: a.env });
      expect(other.code).toBe(3);
      expect(other.stderr).toContain("the saved token is for");
      // CI mode: SF_URL + SF_TOKEN, no config at all (an unreadable config path is never touched).
      const ci = await sf(["whoami"], { env: { SF_URL: t.url, SF_TOKEN: b.token, XDG_CONFIG_HOME: "/nonexistent/x" } });
      expect(ci.stdout.trim()).toBe(b.user.email);
      // --url beats SF_URL.
      const flag = await sf(["whoami", "--url", t.url], { env: { SF_URL: "http://127.0.0.1:59999", SF_TOKEN: b.token } });
      expect(flag.code, flag.stderr).toBe(0);
    });

    it("network failures exit 1 with a hint", async () => {
      // SF_RETRY_WINDOW=0: at once (a server that stays away is tried for 30 s by default).
      const r = await sf(["whoami"], { env: { SF_URL: "http://127.0.0.1:59999", SF_TOKEN: `sf_${"C".repeat(43)}`, SF_RETRY_WINDOW: "0" } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: cannot reach the SpeedyFiles server at http:\/\/127\.0\.0\.1:59999 \(ECONNREFUSED\) — check the URL/);
    });
  });

  describe("send", () => {
    it("CI mode --json: only the final JSON on stdout, files with sha256, and the mail arrives", async () => {
      const u = await t.createUser();
      const env = { SF_URL: t.url, SF_TOKEN: u.token };
      const to = `cfo-${crypto.randomBytes(3).toString("hex")}@acme.com`;
      const r = await sf(["send", tree, "--to", to, "--ttl", "3", "--title", "Q1", "--message", "see attached", "--json"], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe("");
      const out = JSON.parse(r.stdout);
      // The email is queued by the finalize and sent in the background (awaited below).
      expect(out).toMatchObject({ title: "Q1", recipient_email: to, status: "active", email_error: null });
      expect(["queued", "sent"]).toContain(out.links[0].mail_state);
      expect(out.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
      expect(new Date(out.expires_at).getTime() - Date.now()).toBeGreaterThan(2.9 * 86_400_000);
      const byName = Object.fromEntries(out.files.map((f: { name: string; sha256: string }) => [f.name, f.sha256]));
      expect(byName).toEqual({
        "out/.hidden": sha("dotfile\n"),
        "out/a.txt": sha("hello\n"),
        "out/sub/b.bin": sha(Buffer.alloc(2_500_000, 7)),
        "out/sub/deeper/c.json": sha(JSON.stringify({ ok: true })),
      });
      const mail = await smtp.waitForMail((m) => m.envelope.to.includes(to));
      expect(mail.parsed.text).toContain(out.magic_link);
    });

    it("without a TTY: a plain line per finished file on stderr, the link last on stdout", async () => {
      const { env } = await loggedIn();
      // The same directory twice would give two files the same name: a usage error, nothing created.
      const r = await sf(["send", tree, tree, "--to", "cfo@acme.com"], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('two files would both be named "out/.hidden"');
      const ok = await sf(["send", tree, "--to", "cfo@acme.com", "--concurrency", "2"], { env });
      expect(ok.code, ok.stderr).toBe(0);
      const lines = ok.stderr.trim().split("\n");
      expect(lines.filter((l) => /^sent \d\/4 out\//.test(l))).toHaveLength(4);
      expect(lines).toContainEqual(expect.stringMatching(/^Sent 4 files \(2\.4 MiB\) in /));
      expect(ok.stderr).not.toContain("\x1b"); // no colour or cursor movement when piped
      expect(ok.stdout).toMatch(/^http:\/\/\S+\/l\/[A-Za-z0-9_-]{43}\n$/);
    });

    it("--no-progress prints no progress, `-` reads stdin with --filename", async () => {
      const { env } = await loggedIn();
      const data = crypto.randomBytes(300_000);
      const r = await sf(["send", "-", "--filename", "logs/app.log", "--to", "qa@acme.com", "--json"], { env, stdin: data });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.files).toEqual([expect.objectContaining({ name: "logs/app.log", size: data.length, sha256: sha(data) })]);
      expect((await sf(["send", "-", "--to", "qa@acme.com"], { env, stdin: "x" })).code).toBe(2);
      const quiet = await sf(["send", path.join(tree, "a.txt"), "--to", "qa@acme.com", "--no-progress"], { env });
      expect(quiet.stderr).not.toMatch(/^sent /m);
      expect(quiet.stdout).toMatch(/\/l\//);
    });

    it("exit codes: missing path 2, bad email 2 (in the flag's name), no login 3, unknown flag 2", async () => {
      const { env } = await loggedIn();
      const missing = await sf(["send", path.join(work, "nope"), "--to", "a@b.co"], { env });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe(`error: cannot read ${path.join(work, "nope")}: no such file or directory\n`);
      const badEmail = await sf(["send", tree, "--to", "not-an-email"], { env });
      expect(badEmail.code).toBe(2);
      expect(badEmail.stderr).toBe('error: --to must be an email address (got "not-an-email")\n');
      expect((await sf(["send", tree, "--to", "a@b.co"], { env: { XDG_CONFIG_HOME: await tempDir("sf-xdg-") } })).code).toBe(3);
      const flag = await sf(["send", tree, "--to", "a@b.co", "--bogus"], { env });
      expect(flag.code).toBe(2);
      expect(flag.stderr).toContain("unknown option '--bogus'");
      expect((await sf(["send", tree], { env })).code).toBe(2);
      expect((await sf(["send", tree, "--to", "a@b.co", "--ttl", "zero"], { env })).code).toBe(2);
      // Nothing was left behind by the failed sends.
      const list = await sf(["packages", "list", "--json"], { env });
      expect(JSON.parse(list.stdout)).toEqual([]);
    });

    it("Ctrl-C aborts the uploads, deletes the draft and exits 130", async () => {
      const { env } = await loggedIn();
      const stdin = new PassThrough();
      const ac = new AbortController();
      stdin.write(crypto.randomBytes(1024 * 1024));
      const pending = sf(["send", "-", "--filename", "endless.bin", "--to", "qa@acme.com"], { env, stdin, signal: ac.signal });
      // Let the draft be created and bytes flow, then "press Ctrl-C".
      const sf2 = await import("@speedyfiles/sdk");
      const client = new sf2.SpeedyFiles({
        baseUrl: t.url,
        token: JSON.parse(await fs.readFile(path.join(env.XDG_CONFIG_HOME, "speedyfiles/config.json"), "utf8")).profiles.default.token,
      });
      for (let i = 0; i < 100 && (await client.packages.list({ status: "draft" })).total === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await client.packages.list({ status: "draft" })).total).toBe(1);
      ac.abort();
      const r = await pending;
      stdin.destroy();
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(/error: interrupted: uploads stopped, the unfinished package was deleted/);
      expect((await client.packages.list()).total).toBe(0);
    });
  });

  describe("request, packages, tokens", () => {
    it("request --from makes a finalized inbound package and prints its upload link", async () => {
      const { env } = await loggedIn();
      const r = await sf(["request", "--from", "vendor@example.com", "--title", "Invoices", "--ttl", "2"], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^http:\/\/\S+\/l\/[A-Za-z0-9_-]{43}\n$/);
      const list = JSON.parse((await sf(["packages", "list", "--direction", "inbound", "--json"], { env })).stdout);
      expect(list).toEqual([expect.objectContaining({ title: "Invoices", direction: "inbound", status: "active", recipient_email: "vendor@example.com" })]);
    });

    it("packages list (--json array, --all, filters), show, revoke, delete", async () => {
      const { env } = await loggedIn();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await sf(["send", path.join(tree, "a.txt"), "--to", "x@acme.com", "--title", `p${i}`, "--json"], { env });
        ids.push(JSON.parse(r.stdout).id);
      }
      const first = await sf(["packages", "list", "--limit", "2", "--json"], { env });
      expect(JSON.parse(first.stdout)).toHaveLength(2);
      const all = await sf(["packages", "list", "--all", "--json"], { env });
      expect(
        JSON.parse(all.stdout)
          .map((p: { id: string }) => p.id)
          .sort(),
      ).toEqual([...ids].sort());
      const plain = await sf(["packages", "list", "--limit", "2"], { env });
      expect(plain.stdout.trim().split("\n")).toHaveLength(2);
      expect(plain.stdout.split("\n")[0]!.split("\t")).toHaveLength(8);
      expect(plain.stderr).toContain("Showing 2 of 3");
      expect((await sf(["packages", "list", "--status", "bogus"], { env })).code).toBe(2);

      const show = await sf(["packages", "show", ids[0]!], { env });
      expect(show.stdout).toContain("title      p0");
      expect(show.stdout).toContain("a.txt\t6 B");
      expect(show.stdout).not.toContain(sha("hello\n")); // only with --wide
      expect((await sf(["packages", "show", ids[0]!, "--wide"], { env })).stdout).toContain(sha("hello\n"));
      expect((await sf(["packages", "show", crypto.randomUUID()], { env })).code).toBe(4);

      expect((await sf(["packages", "revoke", ids[0]!], { env })).code).toBe(0);
      expect(JSON.parse((await sf(["packages", "list", "--status", "revoked", "--json"], { env })).stdout)).toHaveLength(1);

      const noYes = await sf(["packages", "delete", ids[1]!], { env });
      expect(noYes.code).toBe(2);
      expect(noYes.stderr).toContain("--yes");
      expect((await sf(["packages", "delete", ids[1]!, "--yes"], { env })).code).toBe(0);
      expect((await sf(["packages", "delete", ids[1]!, "--yes"], { env })).code).toBe(4);
    });

    it("another user's package is forbidden (3)", async () => {
      const a = await loggedIn();
      const b = await loggedIn();
      const id = JSON.parse((await sf(["send", path.join(tree, "a.txt"), "--to", "x@acme.com", "--json"], { env: a.env })).stdout).id;
      const r = await sf(["packages", "show", id], { env: b.env });
      expect(r.code).toBe(3);
    });

    it("tokens create prints the raw token once; revoke makes it fail", async () => {
      const { env } = await loggedIn();
      const c = await sf(["tokens", "create", "ci", "--expires-in-days", "30"], { env });
      expect(c.code, c.stderr).toBe(0);
      const token = c.stdout.trim();
      expect(token).toMatch(/^sf_[A-Za-z0-9_-]{43}$/);
      expect(c.stderr).toContain("shown only this once");
      const list = JSON.parse((await sf(["tokens", "list", "--json"], { env })).stdout) as { id: string; name: string; expires_at: string | null }[];
      const ci = list.find((x) => x.name === "ci")!;
      expect(ci.expires_at).not.toBeNull();
      expect(JSON.stringify(list)).not.toContain(token);
      expect((await sf(["whoami"], { env: { SF_URL: t.url, SF_TOKEN: token } })).code).toBe(0);
      expect((await sf(["tokens", "revoke", ci.id], { env })).code).toBe(0);
      expect((await sf(["whoami"], { env: { SF_URL: t.url, SF_TOKEN: token } })).code).toBe(3);
    });
  });

  describe("download", () => {
    it("downloads every file by package id, verified; a second run skips; a changed file is a conflict (5)", async () => {
      const { env } = await loggedIn();
      const sent = JSON.parse((await sf(["send", tree, "--to", "x@acme.com", "--json"], { env })).stdout);
      const dest = await tempDir("sf-dl-");
      const r = await sf(["download", sent.id, "-o", dest], { env });
      expect(r.code, r.stderr).toBe(0);
      for (const f of ["a.txt", ".hidden", "sub/b.bin", "sub/deeper/c.json"]) {
        expect((await fs.readFile(path.join(dest, "out", f))).equals(await fs.readFile(path.join(tree, f)))).toBe(true);
      }
      expect(r.stderr).toContain("checksums verified");
      const again = await sf(["download", sent.id, "-o", dest, "--json"], { env });
      expect(JSON.parse(again.stdout).files.every((f: { skipped: boolean }) => f.skipped)).toBe(true);
      await fs.appendFile(path.join(dest, "out/a.txt"), "changed");
      expect((await sf(["download", sent.id, "-o", dest], { env })).code).toBe(5);
      expect((await sf(["download", sent.id, "-o", dest, "--force"], { env })).code).toBe(0);
      expect(await fs.readFile(path.join(dest, "out/a.txt"), "utf8")).toBe("hello\n");
    });

    it("resumes from a .part file", async () => {
      const { env } = await loggedIn();
      const big = crypto.randomBytes(3_000_000);
      const src = path.join(work, "resume.bin");
      await fs.writeFile(src, big);
      const sent = JSON.parse((await sf(["send", src, "--to", "x@acme.com", "--json"], { env })).stdout);
      const dest = await tempDir("sf-dl-");
      await fs.writeFile(path.join(dest, "resume.bin.part"), big.subarray(0, 1_000_000));
      const r = await sf(["download", sent.id, "-o", dest], { env });
      expect(r.code, r.stderr).toBe(0);
      expect((await fs.readFile(path.join(dest, "resume.bin"))).equals(big)).toBe(true);
      await expect(fs.stat(path.join(dest, "resume.bin.part"))).rejects.toThrow();
    });

    it("downloads by magic link with no login; a dead link is 4; an upload link is 5; garbage is a usage error", async () => {
      const { env } = await loggedIn();
      const sent = JSON.parse((await sf(["send", tree, "--to", "x@acme.com", "--json"], { env })).stdout) as { id: string; magic_link: string };
      const link = sent.magic_link.replace(/^https?:\/\/[^/]+/, t.url);
      const dest = await tempDir("sf-dl-link-");
      // The recipient has no account: an empty HOME and no SF_* variables.
      const r = await sf(["download", link, "-o", dest, "--json"], { env: {} });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { id: string | null; files: { name: string; sha256: string }[] };
      expect(out.id).toBeNull();
      for (const f of ["a.txt", ".hidden", "sub/b.bin", "sub/deeper/c.json"]) {
        expect((await fs.readFile(path.join(dest, "out", f))).equals(await fs.readFile(path.join(tree, f)))).toBe(true);
      }
      // The owner sees the downloads in the audit trail.
      // Recorded once each last byte went out: a moment after the client has it.
      let show = { download_count: 0 };
      for (let i = 0; i < 50 && show.download_count < 4; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        show = JSON.parse((await sf(["packages", "show", sent.id, "--json"], { env })).stdout) as { download_count: number };
      }
      expect(show.download_count).toBe(4);

      expect((await sf(["packages", "revoke", sent.id], { env })).code).toBe(0);
      const dead = await sf(["download", link, "-o", await tempDir("sf-dl-dead-")], { env: {} });
      expect(dead.code).toBe(4);
      expect(dead.stderr).toMatch(/^error: .*revoked/m);

      const req = JSON.parse((await sf(["request", "--from", "y@acme.com", "--json"], { env })).stdout) as { magic_link: string };
      const up = await sf(["download", req.magic_link.replace(/^https?:\/\/[^/]+/, t.url), "-o", dest], { env: {} });
      expect(up.code).toBe(5);
      expect(up.stderr).toContain("upload link");

      expect((await sf(["download", `${t.url}/l/${"A".repeat(43)}`], { env: {} })).code).toBe(4);
      expect((await sf(["download", "not-an-id"], { env })).code).toBe(2);
    });
  });
});
