// Errors in the user's words, and the commands around them: flags named in errors, id prefixes,
// pages that are not SpeedyFiles, hints, sf upload, sf packages events, the download header,
// tables that fit.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { SpeedyFiles } from "@speedyfiles/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { makeTree, sf, tempDir } from "./helpers.js";
import { fakePackage } from "@speedyfiles/test-utils/fixtures";

/** A small HTTP server answering `handler`; closed after the file's tests. */
async function fake(handler: http.RequestListener): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fakes.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
const fakes: http.Server[] = [];
afterAll(async () => {
  for (const s of fakes) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const html: http.RequestListener = (_req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end("<!doctype html><title>Welcome to nginx!</title>");
};

const pkg = (id: string, title: string) => {
  // A list item: a package without its files.
  const { files: _files, ...item } = fakePackage({ id, title, status: "active", magic_link_state: "active" });
  return item;
};

describe("without a real server", () => {
  const TOKEN = `sf_${"W".repeat(43)}`;

  it("flags are checked, in their own names, before any directory is walked", async () => {
    const env = { SF_URL: "http://127.0.0.1:9", SF_TOKEN: TOKEN };
    const missing = "/definitely/not/here";
    const to = await sf(["send", missing, "--to", "cfo at acme"], { env });
    expect(to).toMatchObject({ code: 2, stderr: 'error: --to must be an email address (got "cfo at acme")\n' });
    expect((await sf(["send", missing, "--to", "a@b.co", "--ttl", "400"], { env })).stderr).toBe("error: --ttl must be at most 365\n");
    expect((await sf(["send", missing, "--to", "a@b.co", "--title", " "], { env })).stderr).toBe("error: --title must not be empty\n");
    expect((await sf(["request", "--from", "nobody"], { env })).stderr).toBe('error: --from must be an email address (got "nobody")\n');
    expect((await sf(["tokens", "create", "x".repeat(101)], { env })).stderr).toBe("error: <name> must be at most 100 characters long (got 101)\n");
  });

  it("an HTML page where the API should be: named, with the URL, exit 1", async () => {
    const f = await fake(html);
    const r = await sf(["whoami"], { env: { SF_URL: f.url, SF_TOKEN: TOKEN } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: not a SpeedyFiles server? got text/html from ${f.url}/api/v1/me (HTTP 200) — check the URL (--url, SF_URL or \`sf login\`)\n`);
  });

  it("sf login checks /api/v1/health right after the URL: a wrong server is named before any password is read", async () => {
    const f = await fake(html);
    const xdg = await tempDir("sf-xdg-");
    const r = await sf(["login", "--url", f.url, "--email", "a@b.co", "--password-stdin"], { env: { XDG_CONFIG_HOME: xdg }, stdin: "pw\n" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: not a SpeedyFiles server\? got text\/html from http:\/\/127\.0\.0\.1:\d+\/api\/v1\/health \(HTTP 200\)/);
    expect(f.seen).toEqual(["GET /api/v1/health"]);
  });

  it("a unique id prefix is enough; an ambiguous one lists the candidates; too short or unknown is said so", async () => {
    const A = "0b6f5c1e-2a11-4a7b-9a39-3f0c1c368a55";
    const B = "0b6f9d00-1111-4222-8333-444455556666";
    const C = "7e3a0c4d-1111-4222-8333-444455556666";
    const f = await fake((req, res) => {
      const u = new URL(req.url!, "http://x");
      res.setHeader("content-type", "application/json");
      if (u.pathname === "/api/v1/packages") {
        // As the server does: id_prefix filters, one page says it all.
        const prefix = u.searchParams.get("id_prefix") ?? "";
        const items = [pkg(A, "Q4 report"), pkg(B, "Q3 report"), pkg(C, "Invoices")].filter((p) => p.id.startsWith(prefix));
        return res.end(JSON.stringify({ items, total: items.length, page: 1, per_page: Number(u.searchParams.get("per_page")), next_cursor: null }));
      }
      const m = /^\/api\/v1\/packages\/([0-9a-f-]{36})$/.exec(u.pathname);
      if (m) return res.end(JSON.stringify({ ...pkg(m[1]!, "x"), files: [] }));
      res.statusCode = 404;
      res.end(JSON.stringify({ detail: "no" }));
    });
    const env = { SF_URL: f.url, SF_TOKEN: TOKEN };
    const one = await sf(["packages", "show", "7e3a0c4d"], { env });
    expect(one.code, one.stderr).toBe(0);
    expect(f.seen).toContain(`GET /api/v1/packages/${C}`);
    // One lookup by prefix, not a walk through every page.
    expect(f.seen.filter((r) => r.startsWith("GET /api/v1/packages?"))).toEqual(["GET /api/v1/packages?id_prefix=7e3a0c4d&per_page=100"]);

    const amb = await sf(["packages", "show", "0b6f"], { env });
    expect(amb.code).toBe(2);
    expect(amb.stderr.split("\n")).toEqual([
      'error: package id "0b6f" is ambiguous, it could be any of 2 packages (give more characters):',
      `  ${A}  active  Q4 report`,
      `  ${B}  active  Q3 report`,
      "",
    ]);
    expect((await sf(["packages", "show", "0b6f5"], { env })).code).toBe(0);
    expect((await sf(["packages", "show", "0b6"], { env })).stderr).toBe('error: package id "0b6" is too short: give at least 4 characters\n');
    const none = await sf(["packages", "show", "ffff"], { env });
    expect(none).toMatchObject({ code: 4, stderr: 'error: no package id starts with "ffff"\n' });
    expect((await sf(["packages", "show", "not-hex!"], { env })).code).toBe(2);
  });

  it("429 says once when to try again", async () => {
    const f = await fake((req, res) => {
      if (req.url === "/api/v1/health") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ status: "ok", database: "ok", storage: "ok", version: "1" }));
      }
      res.writeHead(429, { "content-type": "application/json", "retry-after": "900" });
      res.end(JSON.stringify({ detail: "Too many failed attempts; try again later" }));
    });
    const r = await sf(["login", "--url", f.url, "--email", "a@b.co", "--password-stdin"], { env: { XDG_CONFIG_HOME: await tempDir("sf-xdg-") }, stdin: "pw" });
    expect(r.stderr).toBe("error: Too many failed attempts; try again in 15 min (429)\n");
  });

  it("FORCE_COLOR colours even when piped; FORCE_COLOR=0 never", async () => {
    const env = { SF_URL: "http://127.0.0.1:9", SF_TOKEN: TOKEN };
    expect((await sf(["send", "x", "--to", "bad"], { env: { ...env, FORCE_COLOR: "1" } })).stderr).toContain("\x1b[31merror:\x1b[39m");
    expect((await sf(["send", "x", "--to", "bad"], { env: { ...env, FORCE_COLOR: "0" } })).stderr).not.toContain("\x1b[");
  });
});

describe.each(DATABASES)("with the real server (%s)", (kind) => {
  let t: TestServer;
  let work: string;
  let owner: { token: string; env: Record<string, string> };

  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_MAX_TTL_DAYS: "30" } });
    work = await tempDir("sf-words-");
    const u = await t.createUser();
    owner = { token: u.token, env: { SF_URL: t.url, SF_TOKEN: u.token } };
  });
  afterAll(async () => {
    await t?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  it("a field the server refuses is named by its flag, and nothing is left behind", async () => {
    const { token } = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: token };
    const file = path.join(work, "a.txt");
    await fs.writeFile(file, "a");
    const r = await sf(["send", file, "--to", "a@b.co", "--ttl", "60"], { env });
    expect(r).toMatchObject({ code: 5, stderr: "error: --ttl must be at most 30 on this server\n" });
    expect((await new SpeedyFiles({ baseUrl: t.url, token }).packages.list()).total).toBe(0);
  });

  it("sf login takes host:port and finds the server (https first, then http)", async () => {
    const u = await t.createUser();
    const xdg = await tempDir("sf-xdg-");
    const hostPort = new URL(t.url).host;
    const r = await sf(["login", "--url", hostPort, "--email", u.user.email, "--password-stdin"], { env: { XDG_CONFIG_HOME: xdg }, stdin: u.password });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Using ${t.url}: it has no TLS`);
    expect(r.stderr).toContain(`Logged in to ${t.url} as ${u.user.email}`);
    expect((await sf(["whoami"], { env: { XDG_CONFIG_HOME: xdg } })).stdout.trim()).toBe(u.user.email);
    const closed = await new Promise<number>((resolve) => {
      const s = http.createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const nobody = await sf(["login", "--url", `127.0.0.1:${closed}`, "--with-token"], { env: { XDG_CONFIG_HOME: xdg }, stdin: `sf_${"A".repeat(43)}` });
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toBe(
      `error: no SpeedyFiles server at 127.0.0.1:${closed} (https://127.0.0.1:${closed}: cannot connect (ECONNREFUSED); http://127.0.0.1:${closed}: cannot connect (ECONNREFUSED)) — check the host and port\n`,
    );
  });

  it("ids: the 8 characters of the list are enough for show, events, download and tokens revoke", async () => {
    const file = path.join(work, "report.pdf");
    await fs.writeFile(file, "%PDF");
    const sent = JSON.parse((await sf(["send", file, "--to", "x@acme.com", "--json"], { env: owner.env })).stdout) as { id: string };
    const listed = await sf(["packages", "list"], { env: owner.env, ttyColumns: 200 });
    const short = sent.id.slice(0, 8);
    expect(listed.stdout.split("\n")[1]!.startsWith(`${short}  `)).toBe(true);
    expect((await sf(["packages", "show", short], { env: owner.env })).stdout).toContain(`id         ${sent.id}`);
    const out = await tempDir("sf-dl-");
    const dl = await sf(["download", short, "-o", out], { env: owner.env });
    expect(dl.code, dl.stderr).toBe(0);
    expect(await fs.readFile(path.join(out, "report.pdf"), "utf8")).toBe("%PDF");

    const created = JSON.parse((await sf(["tokens", "create", "ci", "--json"], { env: owner.env })).stdout) as { id: string; token: string };
    const revoked = await sf(["tokens", "revoke", created.id.slice(0, 8)], { env: owner.env });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await sf(["whoami"], { env: { SF_URL: t.url, SF_TOKEN: created.token } })).code).toBe(3);
  });

  it("sf download <link> shows sender, title, message, expiry and files first; --list only lists", async () => {
    const tree = await makeTree(work, "shared");
    const sent = JSON.parse(
      (await sf(["send", tree, "--to", "x@acme.com", "--title", "Release 42", "--message", "Notes inside.\nCall me.", "--json"], { env: owner.env })).stdout,
    ) as {
      id: string;
      magic_link: string;
      expires_at: string;
    };
    const link = sent.magic_link.replace(/^https?:\/\/[^/]+/, t.url);

    const list = await sf(["download", link, "--list"], { env: {} });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim().split("\n")).toEqual(["shared/.hidden\t8 B", "shared/a.txt\t6 B", "shared/sub/b.bin\t2.4 MiB", "shared/sub/deeper/c.json\t11 B"]);
    expect(list.stderr).toMatch(
      /^"Release 42" from \S+ <\S+@example\.com>\n {2}Notes inside\.\n {2}Call me\.\nExpires \d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d \(in 7 days\)\n4 files, 2\.4 MiB\n$/,
    );
    const json = JSON.parse((await sf(["download", link, "--list", "--json"], { env: {} })).stdout) as { title: string; files: unknown[] };
    expect(json).toMatchObject({ title: "Release 42", message: "Notes inside.\nCall me.", expires_at: sent.expires_at });
    expect(json.files).toHaveLength(4);
    // Nothing was downloaded by --list.
    expect(JSON.parse((await sf(["packages", "show", sent.id, "--json"], { env: owner.env })).stdout).download_count).toBe(0);

    const out = await tempDir("sf-dl-");
    const dl = await sf(["download", link, "-o", out], { env: {} });
    expect(dl.code, dl.stderr).toBe(0);
    expect(dl.stderr).toMatch(/^"Release 42" from .*\n(.*\n){3}4 files, 2\.4 MiB:\n {2}shared\/\.hidden +8 B\n {2}shared\/a\.txt +6 B\n/);

    // The server records a download once its last byte has left, which can be a moment after the
    // client has it all: ask until the four are there (seen as three under load).
    let rows: string[][] = [];
    for (let i = 0; i < 50 && rows.length < 4; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      const events = await sf(["packages", "events", sent.id.slice(0, 8)], { env: owner.env });
      expect(events.code, events.stderr).toBe(0);
      rows = events.stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t"));
    }
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      expect(r[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d$/);
      expect(r[1]).toBe("download");
    }
    expect(rows.map((r) => r[2]).sort()).toEqual(["shared/.hidden", "shared/a.txt", "shared/sub/b.bin", "shared/sub/deeper/c.json"]);
  });

  it("sf upload: the other half of sf request, resumable, then --done; the owner sees it all", async () => {
    const req = JSON.parse((await sf(["request", "--from", "vendor@example.com", "--title", "Invoices", "--message", "PDFs please", "--json"], { env: owner.env })).stdout) as {
      id: string;
      magic_link: string;
    };
    const link = req.magic_link.replace(/^https?:\/\/[^/]+/, t.url);
    const dir = path.join(work, "invoices");
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, "jan.pdf"), crypto.randomBytes(300_000));
    await fs.writeFile(path.join(dir, "feb.pdf"), crypto.randomBytes(200_000));

    const up = await sf(["upload", link, dir], { env: {} });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/^"Invoices": \S+ <\S+> asks you for files\n {2}PDFs please\nOpen until /);
    expect(up.stderr).toMatch(/^uploaded 1\/2 invoices\//m);
    expect(up.stderr).toContain("When you have sent everything: sf upload <link> --done");

    // Again, with one more file and --done: only the new file goes, then the owner is told.
    await fs.writeFile(path.join(dir, "mar.pdf"), crypto.randomBytes(100_000));
    const again = await sf(["upload", link, dir, "--done", "--json"], { env: {} });
    expect(again.code, again.stderr).toBe(0);
    const res = JSON.parse(again.stdout) as { files: { name: string; skipped: boolean }[]; completed: boolean };
    expect(res.completed).toBe(true);
    expect(res.files.filter((f) => !f.skipped).map((f) => f.name)).toEqual(["invoices/mar.pdf"]);

    const owned = await new SpeedyFiles({ baseUrl: t.url, token: owner.token }).packages.get(req.id);
    expect(owned.files.map((f) => f.name).sort()).toEqual(["invoices/feb.pdf", "invoices/jan.pdf", "invoices/mar.pdf"]);
    expect(owned.completed_at).not.toBeNull();
    const events = (await sf(["packages", "events", req.id, "--json"], { env: owner.env })).stdout;
    expect((JSON.parse(events) as { type: string }[]).map((e) => e.type).sort()).toEqual(["complete", "upload", "upload", "upload"]);

    // The wrong way round is said plainly, both ways.
    const out = JSON.parse((await sf(["send", path.join(dir, "jan.pdf"), "--to", "x@acme.com", "--json"], { env: owner.env })).stdout) as { magic_link: string };
    const wrong = await sf(["upload", out.magic_link.replace(/^https?:\/\/[^/]+/, t.url), path.join(dir, "jan.pdf")], { env: {} });
    expect(wrong).toMatchObject({ code: 5, stderr: "error: this is a download link: it has files for you and takes none (use `sf download <link>`)\n" });
    expect((await sf(["download", link], { env: {} })).stderr).toContain("use `sf upload <link> <files…>`");
  });

  it("tables fit the terminal: long titles cut in the middle, dates with their zone", async () => {
    const { token } = await t.createUser();
    const env = { SF_URL: t.url, SF_TOKEN: token };
    const file = path.join(work, "x.txt");
    await fs.writeFile(file, "x");
    const title = "Quarterly financial statements for the board, final version 7";
    await sf(["send", file, "--to", "someone.with.a.long.address@example.com", "--title", title], { env });
    const r = await sf(["packages", "list"], { env, ttyColumns: 120 });
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(119);
    expect(lines[1]).toMatch(/Quarterly.*….*version 7/);
    expect(lines[1]).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d$/);
  });
});
