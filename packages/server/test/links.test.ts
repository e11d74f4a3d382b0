import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, TestClock, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { expectError } from "@speedyfiles/test-utils/expect";
import { addFile, blobPath, createPackage, exists, filesUnder, sha256, until, uploadRaw } from "@speedyfiles/test-utils/uploads";
import { finalize, requestFiles, shareFiles, unknownSecret, uploadToLink, type Shared } from "@speedyfiles/test-utils/links";
import { addFileWithLegacyName } from "@speedyfiles/test-utils/legacy-names";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { insertFile } from "../src/db/files.js";
import { Readable } from "node:stream";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const HOSTILE = "<img src=x onerror=alert(1)>.txt";
/** unzip reads UTF-8 names only in a UTF-8 locale. */
const UNZIP_ENV = { ...process.env, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };

type User = Awaited<ReturnType<TestServer["createUser"]>>;

/** Everything the server logs, as text. */
class LogCapture {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

/** RFC 5987 `filename*=UTF-8''…` decoded. */
function filenameStar(disposition: string | null): string | undefined {
  const m = /filename\*=UTF-8''([^;\s]+)/i.exec(disposition ?? "");
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/** The headers every recipient page and link answer carries: the URL holds a secret. */
function expectPrivateHeaders(res: Response): void {
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  expect(res.headers.get("cache-control")).toMatch(/\bno-store\b/);
  expect(res.headers.get("x-robots-tag")).toMatch(/\bnoindex\b/);
}

function expectPageHeaders(res: Response): void {
  expectPrivateHeaders(res);
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  const csp = res.headers.get("content-security-policy");
  expect(csp).toBeTruthy();
  expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
  expect(csp).toMatch(/script-src 'self'/);
  expect(csp).toMatch(/default-src 'none'/);
}

/** No inline script or style: with the CSP they would not run anyway, and they must not be needed. */
function expectNoInlineCode(html: string): void {
  for (const tag of html.match(/<script\b[^>]*>/gi) ?? []) expect(tag).toMatch(/\bsrc=/);
  expect(html).not.toMatch(/<style\b/i);
  expect(html).not.toMatch(/\sstyle=/i);
  for (const tag of html.match(/<[a-z][^>]*>/gi) ?? []) expect(tag).not.toMatch(/\son[a-z]+\s*=/i);
}

describe.each(DATABASES)("recipient links (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let log: LogCapture;
  let alice: User;
  let bob: User;
  let work: string;
  /** Every link secret minted in this block, to look for in the server log at the end. */
  const secrets: string[] = [];
  const track = (s: Shared) => (secrets.push(s.secret), s);

  beforeAll(async () => {
    smtp = await startTestSmtp();
    log = new LogCapture();
    // A generous lookup limit: this block requests many dead links on purpose. The limiter has
    // its own blocks below, with the default and a low limit.
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url, SF_LINK_MAX_FAILURES_PER_IP: "100000" }, logStream: log });
    alice = await t.createUser();
    bob = await t.createUser();
    work = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-links-"));
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  const events = async (id: string, token = alice.token) => {
    const res = await t.fetch(`/packages/${id}/events`, { token });
    expect(res.status).toBe(200);
    return (await res.json()) as { type: string; file_id: string | null; file_name: string | null; client_address: string | null; user_agent: string | null; created_at: string }[];
  };
  const detail = async (id: string, token = alice.token) => {
    const res = await t.fetch(`/packages/${id}`, { token });
    expect(res.status).toBe(200);
    return (await res.json()) as { download_count: number; file_count: number; status: string; completed_at: string | null; files: { id: string; name: string; sha256: string }[] };
  };

  describe("outbound: the recipient downloads", () => {
    let s: Shared;
    const a = crypto.randomBytes(100_000);
    const b = Buffer.from("second file\n");

    beforeAll(async () => {
      s = track(
        await shareFiles(
          t,
          alice.token,
          [
            ["report.bin", a],
            ["notes/readme.txt", b],
          ],
          { title: "Q4 numbers", message: "For the board" },
        ),
      );
    });

    it("GET /links/{link} shows the package as its recipient sees it, with no token", async () => {
      const res = await fetch(s.api);
      expect(res.status).toBe(200);
      expectPrivateHeaders(res);
      const v = await res.json();
      expect(v).toMatchObject({
        title: "Q4 numbers",
        message: "For the board",
        direction: "outbound",
        sender_name: alice.user.name,
        sender_email: alice.user.email,
        file_count: 2,
        total_size: a.length + b.length,
        completed_at: null,
      });
      expect(v.files.map((f: { name: string; sha256: string; size: number }) => [f.name, f.size, f.sha256])).toEqual([
        ["report.bin", a.length, sha256(a)],
        ["notes/readme.txt", b.length, sha256(b)],
      ]);
    });

    it("downloads each file byte for byte as an attachment, with its ETag", async () => {
      for (const [f, bytes] of [
        [s.files[0]!, a],
        [s.files[1]!, b],
      ] as const) {
        const res = await fetch(`${s.api}/files/${f.id}`);
        expect(res.status).toBe(200);
        expect(sha256(await bytesOf(res))).toBe(sha256(bytes));
        expect(res.headers.get("content-length")).toBe(String(bytes.length));
        expect(res.headers.get("etag")).toBe(`"${sha256(bytes)}"`);
        expect(res.headers.get("accept-ranges")).toBe("bytes");
        expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
        expect(res.headers.get("x-content-type-options")).toBe("nosniff");
        expectPrivateHeaders(res);
      }
      // A name with folders is saved under its last segment.
      const res = await fetch(`${s.api}/files/${s.files[1]!.id}`);
      expect(filenameStar(res.headers.get("content-disposition"))).toBe("readme.txt");
      await res.arrayBuffer();
    });

    it("answers a Range with 206 and exactly those bytes", async () => {
      const url = `${s.api}/files/${s.files[0]!.id}`;
      const cases: [string, number, number][] = [
        ["bytes=0-9", 0, 9],
        ["bytes=1000-1999", 1000, 1999],
        ["bytes=99990-", 99990, 99999],
        ["bytes=-7", a.length - 7, a.length - 1],
        ["bytes=99000-200000", 99000, a.length - 1],
      ];
      for (const [range, start, end] of cases) {
        const res = await fetch(url, { headers: { Range: range } });
        expect({ range, status: res.status }).toEqual({ range, status: 206 });
        expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${a.length}`);
        expect(res.headers.get("content-length")).toBe(String(end - start + 1));
        expect((await bytesOf(res)).equals(a.subarray(start, end + 1))).toBe(true);
      }
    });

    it("answers an unsatisfiable Range with 416, the size, and no bytes of the file", async () => {
      const url = `${s.api}/files/${s.files[0]!.id}`;
      for (const range of [`bytes=${a.length}-`, `bytes=${a.length + 10}-${a.length + 20}`, "bytes=-0"]) {
        const res = await fetch(url, { headers: { Range: range } });
        expect(res.headers.get("content-range")).toBe(`bytes */${a.length}`);
        await expectError(res, 416);
      }
    });

    it("If-Range: the current ETag resumes (206), a stale one gets the whole current file (200)", async () => {
      const url = `${s.api}/files/${s.files[0]!.id}`;
      const fresh = await fetch(url, { headers: { Range: "bytes=50000-", "If-Range": `"${sha256(a)}"` } });
      expect(fresh.status).toBe(206);
      expect((await bytesOf(fresh)).equals(a.subarray(50000))).toBe(true);

      const stale = await fetch(url, { headers: { Range: "bytes=50000-", "If-Range": `"${"0".repeat(64)}"` } });
      expect(stale.status).toBe(200);
      expect(stale.headers.get("content-range")).toBeNull();
      expect((await bytesOf(stale)).equals(a)).toBe(true);

      const dated = await fetch(url, { headers: { Range: "bytes=50000-", "If-Range": "Thu, 01 Jan 1970 00:00:00 GMT" } });
      expect(dated.status).toBe(200);
      expect((await bytesOf(dated)).equals(a)).toBe(true);
    });

    it("If-None-Match with the ETag is 304 without a body", async () => {
      const res = await fetch(`${s.api}/files/${s.files[1]!.id}`, { headers: { "If-None-Match": `"${sha256(b)}"` } });
      expect(res.status).toBe(304);
      expect((await bytesOf(res)).length).toBe(0);
    });

    it("a file id of another package is 404 through this link", async () => {
      const other = track(await shareFiles(t, bob.token, [["bob.txt", "bob's secret"]]));
      const res = await fetch(`${s.api}/files/${other.files[0]!.id}`);
      const body = await expectError(res, 404);
      expect(JSON.stringify(body)).not.toContain("bob's secret");
      await expectError(await fetch(`${s.api}/files/${crypto.randomUUID()}`), 404);
    });

    it("the zip holds every file under its package name, byte for byte", async () => {
      const res = await fetch(`${s.api}/archive`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/zip");
      expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
      expect(filenameStar(res.headers.get("content-disposition"))).toBe("Q4-numbers.zip");
      expectPrivateHeaders(res);
      const zip = await bytesOf(res);
      expect(res.headers.get("content-length")).toBe(String(zip.length));
      const file = path.join(work, `small-${kind}.zip`);
      await fsp.writeFile(file, zip);
      await run("unzip", ["-t", file], { env: UNZIP_ENV });
      const { stdout } = await run("unzip", ["-Z1", file], { env: UNZIP_ENV });
      expect(stdout.trim().split("\n")).toEqual(["report.bin", "notes/readme.txt"]);
      const p1 = await run("unzip", ["-p", file, "report.bin"], { env: UNZIP_ENV, encoding: "buffer", maxBuffer: 10 * MiB });
      expect(sha256(p1.stdout)).toBe(sha256(a));
      const p2 = await run("unzip", ["-p", file, "notes/readme.txt"], { env: UNZIP_ENV, encoding: "buffer" });
      expect(p2.stdout.equals(b)).toBe(true);
    });
  });

  it("a zip whose file's bytes are gone (deleted while it streams) is cut off, and the server stays up", async () => {
    // The owner deleting the package while a recipient's zip streams removes the blobs the zip
    // has yet to open: the read stream's error was nobody's, and it took the whole process down.
    const s = await shareFiles(t, alice.token, [
      ["first.bin", crypto.randomBytes(64 * 1024)],
      ["second.bin", crypto.randomBytes(64 * 1024)],
    ]);
    const key = (await t.running.services.db("files").where({ id: s.files[1]!.id }).first()).storage_key as string;
    await fsp.rm(blobPath(t, key));
    const res = await fetch(`${s.api}/archive`);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    // Still serving.
    expect((await fetch(`${t.url}/api/v1/health`)).status).toBe(200);
    expect((await fetch(`${s.api}/files/${s.files[0]!.id}`)).status).toBe(200);
  });

  it("a download that ends after its package was deleted is not recorded, and nothing fails", async () => {
    // The count, the event and the webhook of a download are written when its last byte is out:
    // by then the owner may have deleted the package. Writing them anyway broke the package's
    // foreign keys (an error, and on PostgreSQL a deadlock with the deletion, which answered 500).
    const s = await shareFiles(t, alice.token, [["big.bin", crypto.randomBytes(32 * MiB)]]);
    const from = log.text.length;
    const res = await fetch(`${s.api}/files/${s.files[0]!.id}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    expect((await t.fetch(`/packages/${s.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
    let bytes = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
    expect(bytes).toBeGreaterThan(0);
    // Recorded (or not) just after the last byte.
    await new Promise((r) => setTimeout(r, 300));
    const errors = log.text
      .slice(from)
      .split("\n")
      .filter((l) => /"level":(50|60)/.test(l));
    expect(errors).toEqual([]);
    expect((await t.fetch(`/packages/${s.id}`, { token: alice.token })).status).toBe(404);
  });

  it("link downloads ending while their package is deleted never make the deletion fail", { timeout: 60_000 }, async () => {
    for (let round = 0; round < 8; round++) {
      const s = await shareFiles(t, alice.token, [
        ["a.bin", crypto.randomBytes(256 * 1024)],
        ["b.bin", crypto.randomBytes(256 * 1024)],
      ]);
      const downloads = Array.from({ length: 6 }, (_, i) =>
        fetch(i % 3 === 2 ? `${s.api}/archive` : `${s.api}/files/${s.files[i % 2]!.id}`).then(
          (r) => r.arrayBuffer().then(() => r.status),
          () => 0,
        ),
      );
      await new Promise((r) => setTimeout(r, round * 3));
      const del = await t.fetch(`/packages/${s.id}`, { method: "DELETE", token: alice.token });
      expect(del.status).toBe(204);
      for (const status of await Promise.all(downloads)) expect([0, 200, 404, 410]).toContain(status);
    }
  });

  it("a zip whose central directory passes 64 KiB is whole: its Content-Length is what is sent, and it extracts", { timeout: 60_000 }, async () => {
    // 300 files with 220-byte names: a central directory of ~80 KiB. yazl counted a zip64 end
    // record for that size that it never wrote, so the answer promised 76 bytes too many and
    // every client saw the download cut short.
    const pkg = await createPackage(t, alice.token, { title: "Many files" });
    const names = Array.from({ length: 300 }, (_, i) => `${"long-folder-name-".repeat(6)}/${"x".repeat(100)}-${String(i).padStart(3, "0")}.txt`);
    const queue = names.map((n, i) => [n, i] as const);
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await addFile(t, alice.token, pkg.id, next[0], `file ${next[1]}`);
      }),
    );
    const secret = await finalize(t, alice.token, pkg.id);
    const res = await fetch(`${t.api}/links/${secret}/archive`);
    expect(res.status).toBe(200);
    const declared = Number(res.headers.get("content-length"));
    const zip = await bytesOf(res);
    expect(zip.length).toBe(declared);
    const file = path.join(work, `many-${kind}.zip`);
    await fsp.writeFile(file, zip);
    await run("unzip", ["-t", file], { env: UNZIP_ENV });
    const { stdout } = await run("unzip", ["-Z1", file], { env: UNZIP_ENV, maxBuffer: 10 * MiB });
    expect(stdout.trim().split("\n").sort()).toEqual([...names].sort());
  });

  it("a zip of more than 1,000 files starts at once and streams its rows a page at a time, whole", { timeout: 60_000 }, async () => {
    const pkg = await createPackage(t, alice.token, { title: "Very many files" });
    // 1,200 files written through the store and the files repository (1,200 uploads would only be slower).
    const { storage, db } = t.running.services;
    const names: string[] = [];
    for (let i = 0; i < 1200; i++) {
      const name = `batch-${String(i % 7)}/f-${String(i).padStart(4, "0")}.txt`;
      const body = Buffer.from(`content ${i}`);
      const blob = await storage.put(Readable.from([body]));
      await insertFile(db, {
        id: crypto.randomUUID(),
        package_id: pkg.id,
        name,
        size: body.length,
        sha256: sha256(body),
        content_type: "text/plain",
        storage_key: blob.key,
        created_at: new Date(Date.now() + (i % 3)).toISOString(),
        sealed: null,
      });
      names.push(name);
    }
    const secret = await finalize(t, alice.token, pkg.id);
    const res = await fetch(`${t.api}/links/${secret}/archive`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBeNull();
    const file = path.join(work, `streamed-${kind}.zip`);
    await fsp.writeFile(file, await bytesOf(res));
    await run("unzip", ["-t", file], { env: UNZIP_ENV, maxBuffer: 10 * MiB });
    const { stdout } = await run("unzip", ["-Z1", file], { env: UNZIP_ENV, maxBuffer: 10 * MiB });
    expect(stdout.trim().split("\n").sort()).toEqual([...names].sort());
    const one = await run("unzip", ["-p", file, "batch-3/f-0010.txt"], { env: UNZIP_ENV });
    expect(one.stdout).toBe("content 10");
  });

  describe("hostile names and text", () => {
    let s: Shared;
    const names = [HOSTILE, "quote\"and'apostrophe;x.txt", "Résumé – 2026 ✓.pdf", "%41%2e%2e.txt"];

    beforeAll(async () => {
      const pkg = await createPackage(t, alice.token, { title: "</title><script>alert('t')</script>", message: "<b onmouseover=alert(2)>hi</b>" });
      const files = [];
      for (const [i, name] of names.entries()) {
        t.clock.advance(1000);
        // Uploads refuse `<`, `>` and `"` now (Windows cannot store them); rows from before that
        // rule can still hold them, and must still be escaped.
        if (/[<>"]/.test(name)) {
          files.push(await addFileWithLegacyName(t, alice.token, pkg.id, name, `content ${i}`));
          continue;
        }
        // filename* by hand: fetch's FormData would send some characters percent-encoded.
        const star = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
        const res = await uploadRaw(t, alice.token, pkg.id, `filename*=UTF-8''${star}`, `content ${i}`);
        expect(res.status).toBe(201);
        files.push(await res.json());
      }
      expect(files.map((f) => f.name)).toEqual(names);
      const secret = await finalize(t, alice.token, pkg.id);
      s = track({ id: pkg.id, secret, page: `${t.url}/l/${secret}`, api: `${t.api}/links/${secret}`, files });
    });

    it("Content-Disposition carries the exact name, safely quoted, without a line break", async () => {
      for (const [i, f] of s.files.entries()) {
        const res = await fetch(`${s.api}/files/${f.id}`);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(`content ${i}`);
        const cd = res.headers.get("content-disposition")!;
        expect(cd).not.toMatch(/[\r\n]/);
        expect(filenameStar(cd)).toBe(names[i]);
        // The quoted ASCII fallback has no quote, backslash or semicolon that could end it early.
        const fallback = /filename="([^"]*)"/.exec(cd);
        expect(fallback, cd).not.toBeNull();
        expect(fallback![1]).not.toMatch(/[\\;%]/);
        expect(cd.match(/"/g)!.length).toBe(2);
      }
    });

    it("the page shows names, title and message as text, never as markup", async () => {
      const res = await fetch(s.page);
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).not.toContain("<img");
      expect(html).not.toContain("<script>alert");
      expect(html).not.toContain("<b onmouseover");
      expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;.txt");
      expect(html).toContain("&lt;/title&gt;&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;");
      expect(html).toContain("&lt;b onmouseover=alert(2)&gt;hi&lt;/b&gt;");
      expect(html).toContain("quote&quot;and&#39;apostrophe;x.txt");
      expect(html).toContain("Résumé – 2026 ✓.pdf");
      expectNoInlineCode(html);
    });

    it("the zip keeps the names exactly", async () => {
      const file = path.join(work, `hostile-${kind}.zip`);
      await fsp.writeFile(file, await bytesOf(await fetch(`${s.api}/archive`)));
      await run("unzip", ["-t", file], { env: UNZIP_ENV });
      const { stdout } = await run("unzip", ["-Z1", file], { env: UNZIP_ENV });
      expect(stdout.replace(/\n$/, "").split("\n")).toEqual(names);
    });
  });

  describe("the link page", () => {
    it("outbound: file list with download links, sender, expiry; private headers, strict CSP, no inline code", async () => {
      const s = track(
        await shareFiles(
          t,
          alice.token,
          [
            ["a.txt", "a"],
            ["b.txt", "bb"],
          ],
          { title: "Contracts" },
        ),
      );
      const res = await fetch(s.page);
      expect(res.status).toBe(200);
      expectPageHeaders(res);
      const html = await res.text();
      expectNoInlineCode(html);
      expect(html).toContain("<h1>Contracts</h1>");
      expect(html).toContain(alice.user.email);
      for (const f of s.files) expect(html).toContain(`href="/api/v1/links/${s.secret}/files/${f.id}"`);
      expect(html).toContain(`href="/api/v1/links/${s.secret}/archive"`);
      expect(html).toMatch(/<time datetime="\d{4}-\d\d-\d\dT/);
      // Every asset it references is served from our own origin.
      for (const m of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
        const asset = await fetch(`${t.url}${m[1]}`);
        expect({ asset: m[1], status: asset.status }).toEqual({ asset: m[1], status: 200 });
        await asset.arrayBuffer();
      }
    });

    it("inbound: an upload form with a script from /assets, no inline code", async () => {
      const s = track(await requestFiles(t, alice.token));
      const res = await fetch(s.page);
      expect(res.status).toBe(200);
      expectPageHeaders(res);
      const html = await res.text();
      expectNoInlineCode(html);
      expect(html).toContain('id="file-input"');
      expect(html).toContain('<script src="/assets/upload.js" type="module"></script>');
      expect(html).toContain(`data-api="/api/v1/links/${s.secret}"`);
      const js = await fetch(`${t.url}/assets/upload.js`);
      expect(js.status).toBe(200);
      expect(js.headers.get("content-type")).toMatch(/javascript/);
      // The page's script uses the pages' one upload queue, which uploads with XMLHttpRequest.
      expect(await js.text()).toContain('from "./upload-queue.js"');
      const queue = await fetch(`${t.url}/assets/upload-queue.js`);
      expect(queue.status).toBe(200);
      expect(await queue.text()).toContain("XMLHttpRequest");
    });
  });

  describe("dead links never give a byte", () => {
    const secretBytes = "TOP-SECRET-PAYLOAD-0123456789";

    /** Every recipient request against a dead link: each answers `status` and no byte of the package. */
    async function expectDead(s: Shared, status: 404 | 410, title: string) {
      const fileId = s.files[0]?.id ?? crypto.randomUUID();
      const api = [
        fetch(s.api),
        fetch(`${s.api}/files/${fileId}`),
        fetch(`${s.api}/files/${fileId}`, { headers: { Range: "bytes=0-3" } }),
        fetch(`${s.api}/archive`),
        uploadToLink(s.api, "late.txt", "too late"),
        fetch(`${s.api}/complete`, { method: "POST" }),
      ];
      for (const res of await Promise.all(api)) {
        expectPrivateHeaders(res);
        const body = await expectError(res, status);
        expect(JSON.stringify(body)).not.toContain(secretBytes);
        expect(JSON.stringify(body)).not.toContain(title);
      }
      const page = await fetch(s.page);
      expect(page.status).toBe(status);
      expectPageHeaders(page);
      const html = await page.text();
      expect(html).not.toContain(secretBytes);
      expect(html).not.toContain(title);
      expect(html).not.toContain(alice.user.email);
      expect(html).toMatch(status === 410 ? /no longer active/ : /not found/i);
      return html;
    }

    it("revoked → 410 everywhere, and the sweeper then removes the bytes", async () => {
      const s = track(await shareFiles(t, alice.token, [["secret.txt", secretBytes]], { title: "Revoked title" }));
      expect(await (await fetch(`${s.api}/files/${s.files[0]!.id}`)).text()).toBe(secretBytes);
      const rev = await t.fetch(`/packages/${s.id}/revoke`, { method: "POST", token: alice.token });
      expect(rev.status).toBe(200);
      await expectDead(s, 410, "Revoked title");

      const key = (await t.running.services.db("files").where({ id: s.files[0]!.id }).first()).storage_key as string;
      expect(await exists(blobPath(t, key))).toBe(true);
      const swept = await sweepOnce(t.running.services);
      expect(swept.purged).toBeGreaterThanOrEqual(1);
      expect(await exists(blobPath(t, key))).toBe(false);
      await expectDead(s, 410, "Revoked title");
    });

    it("deleted → 410 everywhere (the link existed), bytes gone", async () => {
      const s = track(await shareFiles(t, alice.token, [["secret.txt", secretBytes]], { title: "Deleted title" }));
      const key = (await t.running.services.db("files").where({ id: s.files[0]!.id }).first()).storage_key as string;
      const del = await t.fetch(`/packages/${s.id}`, { method: "DELETE", token: alice.token });
      expect(del.status).toBe(204);
      expect(await exists(blobPath(t, key))).toBe(false);
      await expectDead(s, 410, "Deleted title");
    });

    it("unknown → 404, also for malformed secrets", async () => {
      const fake: Shared = { id: "", secret: unknownSecret(), page: "", api: "", files: [] };
      fake.page = `${t.url}/l/${fake.secret}`;
      fake.api = `${t.api}/links/${fake.secret}`;
      const html = await expectDead(fake, 404, "no title");
      expect(html).toContain("Link not found");
      for (const bad of ["short", "x".repeat(44), "%2e%2e", "a".repeat(42) + "!"]) {
        await expectError(await fetch(`${t.api}/links/${bad}`), 404);
        const page = await fetch(`${t.url}/l/${bad}`, { redirect: "manual" });
        // A client normalizes `/l/%2e%2e` to `/`, which sends a visitor to the sign-in page.
        expect({ bad, status: page.status }).toEqual({ bad, status: bad === "%2e%2e" ? 303 : 404 });
        await page.arrayBuffer();
      }
    });

    it("a draft has no link; a link of an inbound request is not a download link", async () => {
      const s = track(await requestFiles(t, alice.token, { title: "Inbound" }));
      const up = await uploadToLink(s.api, "given.txt", secretBytes);
      expect(up.status).toBe(201);
      const f = await up.json();
      const res = await fetch(`${s.api}/files/${f.id}`);
      const body = await expectError(res, 403);
      expect(JSON.stringify(body)).not.toContain(secretBytes);
      await expectError(await fetch(`${s.api}/archive`), 403);
    });
  });

  describe("audit: downloads and uploads are events", () => {
    it("each file download and zip download is an event with the client address; download_count counts them", async () => {
      const bytes = crypto.randomBytes(5000);
      const s = track(
        await shareFiles(
          t,
          alice.token,
          [
            ["one.bin", bytes],
            ["two.txt", "two"],
          ],
          { title: "Audit trail" },
        ),
      );
      expect((await detail(s.id)).download_count).toBe(0);
      // Looking at the page or the view is not a download.
      await (await fetch(s.page)).text();
      await (await fetch(s.api)).json();
      expect(await events(s.id)).toEqual([]);

      const ua = { "User-Agent": "audit-test/1.0" };
      const urls = [`${s.api}/files/${s.files[0]!.id}`, `${s.api}/files/${s.files[1]!.id}`, `${s.api}/files/${s.files[0]!.id}`, `${s.api}/archive`];
      for (const [i, url] of urls.entries()) {
        t.clock.advance(1000);
        const res = await fetch(url, { headers: ua });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        // A download is recorded once its last byte has gone out, a moment after the client has it.
        await until(async () => (await events(s.id)).length === i + 1, 5000, `download ${i + 1} recorded`);
      }

      const ev = await events(s.id);
      expect(ev.map((e) => [e.type, e.file_name])).toEqual([
        ["archive_download", null],
        ["file_download", "one.bin"],
        ["file_download", "two.txt"],
        ["file_download", "one.bin"],
      ]);
      for (const e of ev) {
        expect(e.client_address).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
        expect(e.user_agent).toBe("audit-test/1.0");
        expect(new Date(e.created_at).toISOString()).toBe(e.created_at);
      }
      expect(ev[1]!.file_id).toBe(s.files[0]!.id);
      expect((await detail(s.id)).download_count).toBe(4);
      // The list of packages says the same.
      const list = await (await t.fetch("/packages?q=Audit%20trail", { token: alice.token })).json();
      expect(list.items.find((p: { id: string }) => p.id === s.id).download_count).toBe(4);
    });

    it("a download counts when its last byte is sent: a stopped one does not, its resumption to the end does, once", async () => {
      // Large enough that a stopped download cannot have been written whole into loopback's socket buffers.
      const bytes = crypto.randomBytes(32 * 1024 * 1024);
      const s = track(await shareFiles(t, alice.token, [["resume.bin", bytes]]));
      const url = `${s.api}/files/${s.files[0]!.id}`;
      const stopped = await fetch(url);
      const reader = stopped.body!.getReader();
      await reader.read();
      await reader.cancel();
      // A range that does not reach the end is part of a download, not one.
      const head = await fetch(url, { headers: { Range: "bytes=0-2499" } });
      expect(head.status).toBe(206);
      await head.arrayBuffer();
      await new Promise((r) => setTimeout(r, 200));
      expect((await detail(s.id)).download_count).toBe(0);

      const resumed = await fetch(url, { headers: { Range: "bytes=2500-", "If-Range": `"${sha256(bytes)}"` } });
      expect(resumed.status).toBe(206);
      await resumed.arrayBuffer();
      await until(async () => (await detail(s.id)).download_count === 1);

      const stale = await fetch(url, { headers: { Range: "bytes=2500-", "If-Range": '"stale"' } });
      expect(stale.status).toBe(200);
      expect((await bytesOf(stale)).equals(bytes)).toBe(true);
      await until(async () => (await detail(s.id)).download_count === 2);
      expect((await events(s.id)).map((e) => e.type)).toEqual(["file_download", "file_download"]);
    });

    it("a HEAD or a 304 sends no file and is no download", async () => {
      const bytes = Buffer.from("head-me");
      const s = track(
        await shareFiles(t, alice.token, [
          ["h.txt", bytes],
          ["i.txt", "i"],
        ]),
      );
      for (const url of [`${s.api}/files/${s.files[0]!.id}`, `${s.api}/archive`]) {
        const head = await fetch(url, { method: "HEAD" });
        expect(head.status).not.toBe(206);
        expect((await bytesOf(head)).length).toBe(0);
      }
      const cached = await fetch(`${s.api}/files/${s.files[0]!.id}`, { headers: { "If-None-Match": `"${sha256(bytes)}"` } });
      expect(cached.status).toBe(304);
      expect(await events(s.id)).toEqual([]);
      expect((await detail(s.id)).download_count).toBe(0);
    });

    it("another user cannot read a package's events", async () => {
      const s = track(await shareFiles(t, alice.token, [["x.txt", "x"]]));
      await expectError(await t.fetch(`/packages/${s.id}/events`, { token: bob.token }), 403);
      await expectError(await t.fetch(`/packages/${s.id}/events`), 401);
    });
  });

  describe("inbound: the recipient uploads", () => {
    it("uploads two files, the owner sees them and gets an email listing them when the recipient is done", async () => {
      const s = track(await requestFiles(t, alice.token, { title: "Tax documents", recipient_name: "Carol", recipient_email: "carol@client.test" }));
      const view = await (await fetch(s.api)).json();
      expect(view).toMatchObject({ direction: "inbound", title: "Tax documents", file_count: 0, files: [], completed_at: null, sender_email: alice.user.email });

      const one = crypto.randomBytes(70_000);
      const two = Buffer.from("W-2 form\n");
      t.clock.advance(1000);
      const r1 = await uploadToLink(s.api, "scans/passport.pdf", one, { "User-Agent": "carol-browser" });
      expect(r1.status).toBe(201);
      const f1 = await r1.json();
      expect(f1).toMatchObject({ name: "scans/passport.pdf", size: one.length, sha256: sha256(one) });
      t.clock.advance(1000);
      const r2 = await uploadToLink(s.api, "w2.txt", two, { "User-Agent": "carol-browser" });
      expect(r2.status).toBe(201);

      const after = await (await fetch(s.api)).json();
      expect(after.files.map((f: { name: string }) => f.name)).toEqual(["scans/passport.pdf", "w2.txt"]);
      expect(after.total_size).toBe(one.length + two.length);

      // The owner downloads what arrived, byte for byte.
      const d = await detail(s.id);
      expect(d.status).toBe("active");
      expect(d.file_count).toBe(2);
      const own = await t.fetch(`/packages/${s.id}/files/${f1.id}`, { token: alice.token });
      expect(own.status).toBe(200);
      expect((await bytesOf(own)).equals(one)).toBe(true);

      t.clock.advance(1000);
      const done = await fetch(`${s.api}/complete`, { method: "POST", headers: { "User-Agent": "carol-browser" } });
      expect(done.status).toBe(200);
      expectPrivateHeaders(done);
      const body = await done.json();
      expect(body.email_sent).toBe(true);
      expect(body.completed_at).toEqual(expect.any(String));
      expect(body.files).toHaveLength(2);

      const mail = await smtp.waitForMail((m) => m.envelope.to.includes(alice.user.email) && /Tax documents/.test(m.parsed.subject ?? ""));
      expect(mail.parsed.subject).toContain("Carol");
      expect(mail.parsed.text).toContain("scans/passport.pdf");
      expect(mail.parsed.text).toContain("w2.txt");
      expect(mail.parsed.text).toContain("carol@client.test");
      expect(mail.parsed.html).toContain("scans/passport.pdf");
      expect(mail.raw.toString()).not.toContain(s.secret);

      expect((await detail(s.id)).completed_at).toBe(body.completed_at);
      const ev = await events(s.id);
      expect(ev.map((e) => [e.type, e.file_name])).toEqual([
        ["complete", null],
        ["upload", "w2.txt"],
        ["upload", "scans/passport.pdf"],
      ]);
      for (const e of ev) {
        expect(e.client_address).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
        expect(e.user_agent).toBe("carol-browser");
      }
      // Uploads are not downloads.
      expect((await detail(s.id)).download_count).toBe(0);

      // The page says it was already sent.
      const page = await (await fetch(s.page)).text();
      expect(page).toContain("You already sent files");
      expect(page).toContain("scans/passport.pdf");
    });

    it("an upload to an outbound link is 409 and nothing is stored", async () => {
      const s = track(await shareFiles(t, alice.token, [["orig.txt", "orig"]]));
      const before = await filesUnder(path.join(t.dataDir, "blobs"));
      const res = await uploadToLink(s.api, "intruder.txt", crypto.randomBytes(50_000));
      await expectError(res, 409);
      expect(await filesUnder(path.join(t.dataDir, "blobs"))).toEqual(before);
      expect((await detail(s.id)).file_count).toBe(1);
      expect(await events(s.id)).toEqual([]);
    });

    it("complete on an outbound link is 409 and sends no mail", async () => {
      const s = track(await shareFiles(t, alice.token, [["orig.txt", "orig"]], { title: "Outbound-no-complete" }));
      await expectError(await fetch(`${s.api}/complete`, { method: "POST" }), 409);
      expect((await detail(s.id)).completed_at).toBeNull();
      await new Promise((r) => setTimeout(r, 200));
      expect(smtp.messages.filter((m) => /Outbound-no-complete/.test(m.parsed.subject ?? "") && m.envelope.to.includes(alice.user.email))).toEqual([]);
      // Nothing was queued for the owner either (mail leaves in the background): only the recipient's link.
      expect((await t.running.services.db("mail_outbox").where({ package_id: s.id }).select("kind")).map((r: { kind: string }) => r.kind)).toEqual(["package_link"]);
    });

    it("names are checked like the owner's uploads: traversal and duplicates are refused, nothing stored", async () => {
      const s = track(await requestFiles(t, alice.token));
      expect((await uploadToLink(s.api, "same.txt", "1")).status).toBe(201);
      const before = await filesUnder(path.join(t.dataDir, "blobs"));
      await expectError(await uploadToLink(s.api, "same.txt", "2"), 409);
      for (const bad of ["../escape.txt", "/etc/passwd", "a/../../b.txt", "C:\\win.txt"]) {
        const res = await uploadToLink(s.api, bad, "x");
        expect({ bad, status: res.status }).toEqual({ bad, status: 422 });
        await res.arrayBuffer();
      }
      expect(await filesUnder(path.join(t.dataDir, "blobs"))).toEqual(before);
      expect((await detail(s.id)).file_count).toBe(1);
    });

    it("a revoked request takes no more files", async () => {
      const s = track(await requestFiles(t, alice.token));
      expect((await t.fetch(`/packages/${s.id}/revoke`, { method: "POST", token: alice.token })).status).toBe(200);
      await expectError(await uploadToLink(s.api, "late.txt", "late"), 410);
      expect((await detail(s.id)).file_count).toBe(0);
    });
  });

  describe("many files: the zip streams", () => {
    it("a zip of 150 files passes unzip -t and every entry has its name and bytes", async () => {
      const pkg = await createPackage(t, alice.token, { title: "Many files" });
      const files: [string, Buffer][] = [];
      for (let i = 0; i < 150; i++) {
        const name = i % 10 === 0 ? `dir-${i % 3}/sub/file-${i}.dat` : i % 7 === 0 ? `naïve-${i}.txt` : `file-${String(i).padStart(3, "0")}.dat`;
        files.push([name, crypto.randomBytes(i === 0 ? 0 : (i * 7919) % 40_000)]);
      }
      // Eight uploads at a time.
      const queue = [...files];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let f = queue.shift(); f; f = queue.shift()) await addFile(t, alice.token, pkg.id, f[0], f[1]);
        }),
      );
      const secret = await finalize(t, alice.token, pkg.id);
      secrets.push(secret);

      const res = await fetch(`${t.api}/links/${secret}/archive`);
      expect(res.status).toBe(200);
      const zipPath = path.join(work, `many-${kind}.zip`);
      const zip = await bytesOf(res);
      expect(res.headers.get("content-length")).toBe(String(zip.length));
      await fsp.writeFile(zipPath, zip);

      const test = await run("unzip", ["-t", zipPath], { env: UNZIP_ENV, maxBuffer: 10 * MiB });
      expect(test.stdout).toMatch(/No errors detected/);
      const listed = (await run("unzip", ["-Z1", zipPath], { env: UNZIP_ENV })).stdout.trim().split("\n");
      expect([...listed].sort()).toEqual(files.map((f) => f[0]).sort());

      const out = path.join(work, `many-${kind}`);
      await run("unzip", ["-q", zipPath, "-d", out], { env: UNZIP_ENV });
      for (const [name, bytes] of files) {
        const got = await fsp.readFile(path.join(out, name));
        expect({ name, sha: sha256(got) }).toEqual({ name, sha: sha256(bytes) });
      }
      // And unzip -p for one entry in a folder.
      const p = await run("unzip", ["-p", zipPath, "dir-0/sub/file-30.dat"], { env: UNZIP_ENV, encoding: "buffer", maxBuffer: 10 * MiB });
      expect(p.stdout.equals(files[30]![1])).toBe(true);
    });

    it("a zip of 200 files (256 MiB) streams with flat memory", { timeout: 180_000 }, async () => {
      const dir = path.join(work, `big-${kind}`);
      await fsp.mkdir(dir);
      const count = 200;
      const each = Math.ceil((256 * MiB) / count);
      const pkg = await createPackage(t, alice.token, { title: "Big archive" });
      // Generated on disk, uploaded straight from disk (openAsBlob), so the test holds no copy.
      const chunk = crypto.randomBytes(each);
      const names: string[] = [];
      for (let i = 0; i < count; i++) {
        const name = `part-${String(i).padStart(3, "0")}.bin`;
        chunk.writeUInt32BE(i, 0); // every file different
        await fsp.writeFile(path.join(dir, name), chunk);
        names.push(name);
      }
      const queue = [...names];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let n = queue.shift(); n; n = queue.shift()) {
            const form = new FormData();
            form.append("file", await fs.openAsBlob(path.join(dir, n)), n);
            const res = await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token: alice.token, body: form });
            expect(res.status).toBe(201);
            await res.arrayBuffer();
          }
        }),
      );
      await fsp.rm(dir, { recursive: true, force: true });
      const secret = await finalize(t, alice.token, pkg.id);
      secrets.push(secret);

      const base = process.memoryUsage().rss;
      let peak = base;
      const res = await fetch(`${t.api}/links/${secret}/archive`);
      expect(res.status).toBe(200);
      const declared = Number(res.headers.get("content-length"));
      expect(declared).toBeGreaterThan(count * each);
      let received = 0;
      let tail = Buffer.alloc(0);
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
        tail = Buffer.concat([tail, Buffer.from(value)]).subarray(-98);
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      expect(received).toBe(declared);
      // It ends with a zip64 end-of-central-directory record listing every entry, its locator,
      // and the classic record pointing to them.
      expect(tail.readUInt32LE(0)).toBe(0x06064b50);
      expect(Number(tail.readBigUInt64LE(32))).toBe(count);
      expect(tail.readUInt32LE(56)).toBe(0x07064b50);
      expect(tail.readUInt32LE(76)).toBe(0x06054b50);
      const growth = peak - base;
      expect(growth, `rss grew by ${(growth / MiB).toFixed(1)} MiB while streaming ${(received / MiB).toFixed(0)} MiB`).toBeLessThan(96 * MiB);
    });
  });

  it("no link secret ever reaches the server log", async () => {
    expect(secrets.length).toBeGreaterThan(10);
    // The access log line of the last request is written when its response finishes.
    await until(() => log.text.includes("/links/[redacted]"), 5000, "redacted link paths in the log");
    expect(log.text).toContain("/l/[redacted]");
    for (const s of secrets) expect(log.text.includes(s), `secret ${s.slice(0, 6)}… in the log`).toBe(false);
  });
});

describe.each(DATABASES)("expiry and the sweeper, on a clock the test controls (%s)", (kind) => {
  let t: TestServer;
  let clock: TestClock;
  let alice: User;

  beforeAll(async () => {
    clock = new TestClock();
    t = await startTestServer(kind, { clock, env: { SF_RETENTION_DAYS: "2", SF_LINK_MAX_FAILURES_PER_IP: "100000" } });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
  });

  const storageKey = async (fileId: string) => (await t.running.services.db("files").where({ id: fileId }).first()).storage_key as string;

  it("a link works until the last millisecond before expires_at and is 410 from expires_at on; bytes go after the retention", async () => {
    const bytes = Buffer.from("expiring content");
    const s = await shareFiles(
      t,
      alice.token,
      [
        ["e.txt", bytes],
        ["f.txt", "f"],
      ],
      { ttl_days: 1, title: "Expiring" },
    );
    const inbound = await requestFiles(t, alice.token, { ttl_days: 1 });
    const d = await (await t.fetch(`/packages/${s.id}`, { token: alice.token })).json();
    const expiresAt = Date.parse(d.expires_at);
    expect(expiresAt - clock.now().getTime()).toBe(86_400_000);

    clock.advance(expiresAt - clock.now().getTime() - 1);
    expect((await fetch(s.api)).status).toBe(200);
    const last = await fetch(`${s.api}/files/${s.files[0]!.id}`);
    expect(last.status).toBe(200);
    expect((await bytesOf(last)).equals(bytes)).toBe(true);
    expect((await fetch(`${s.api}/archive`)).status).toBe(200);
    expect((await fetch(s.page)).status).toBe(200);

    clock.advance(1);
    expect(clock.now().getTime()).toBe(expiresAt);
    await expectError(await fetch(s.api), 410);
    await expectError(await fetch(`${s.api}/files/${s.files[0]!.id}`), 410);
    await expectError(await fetch(`${s.api}/files/${s.files[0]!.id}`, { headers: { Range: "bytes=0-1" } }), 410);
    await expectError(await fetch(`${s.api}/archive`), 410);
    const page = await fetch(s.page);
    expect(page.status).toBe(410);
    expect(await page.text()).not.toContain("Expiring");
    // The inbound request made at the same time expired at the same instant.
    await expectError(await uploadToLink(inbound.api, "late.txt", "late"), 410);
    // Even before the sweeper ran, the owner sees it as expired.
    expect((await (await t.fetch(`/packages/${s.id}`, { token: alice.token })).json()).status).toBe("expired");

    const key = await storageKey(s.files[0]!.id);
    expect(await sweepOnce(t.running.services)).toEqual({ expired: 2, purged: 0 });
    expect(await exists(blobPath(t, key))).toBe(true);

    // SF_RETENTION_DAYS=2: the bytes stay until two days after the expiry, to the millisecond.
    clock.advance(2 * 86_400_000 - 1);
    expect((await sweepOnce(t.running.services)).purged).toBe(0);
    expect(await exists(blobPath(t, key))).toBe(true);
    await expectError(await fetch(`${s.api}/files/${s.files[0]!.id}`), 410);

    clock.advance(1);
    // The outbound package's bytes go; the inbound request keeps whatever was sent to its owner.
    expect((await sweepOnce(t.running.services)).purged).toBe(1);
    expect(await exists(blobPath(t, key))).toBe(false);
    expect(await exists(blobPath(t, await storageKey(s.files[1]!.id)))).toBe(false);
    await expectError(await fetch(`${s.api}/files/${s.files[0]!.id}`), 410);
    await expectError(await fetch(s.api), 410);
    // A second pass has nothing left to do.
    expect(await sweepOnce(t.running.services)).toEqual({ expired: 0, purged: 0 });
  });

  it("a revoked package's bytes go once the retention has passed since the revocation", async () => {
    const s = await shareFiles(t, alice.token, [["r.txt", "revoked"]], { ttl_days: 30 });
    expect((await t.fetch(`/packages/${s.id}/revoke`, { method: "POST", token: alice.token })).status).toBe(200);
    const key = await storageKey(s.files[0]!.id);
    clock.advanceDays(1);
    await sweepOnce(t.running.services);
    expect(await exists(blobPath(t, key))).toBe(true);
    clock.advanceDays(1);
    await sweepOnce(t.running.services);
    expect(await exists(blobPath(t, key))).toBe(false);
    await expectError(await fetch(`${s.api}/files/${s.files[0]!.id}`), 410);
  });
});

describe.each(DATABASES)("upload limits through an inbound link (%s)", (kind) => {
  let t: TestServer;
  let alice: User;
  beforeAll(async () => {
    t = await startTestServer(kind, {
      env: { SF_MAX_FILE_BYTES: "1024", SF_MAX_PACKAGE_BYTES: "2500", SF_MAX_FILES_PER_PACKAGE: "3", SF_LINK_MAX_FAILURES_PER_IP: "100000" },
    });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
  });

  const stored = () => filesUnder(path.join(t.dataDir, "blobs"));
  const leftovers = () => filesUnder(path.join(t.dataDir, "tmp"));
  const count = async (id: string) => (await (await t.fetch(`/packages/${id}`, { token: alice.token })).json()).file_count as number;

  it("SF_MAX_FILE_BYTES: exactly the limit is stored, one byte more is 413 and nothing is kept", async () => {
    const s = await requestFiles(t, alice.token);
    const exact = crypto.randomBytes(1024);
    const ok = await uploadToLink(s.api, "exact.bin", exact);
    expect(ok.status).toBe(201);
    expect((await ok.json()).sha256).toBe(sha256(exact));
    const before = await stored();

    for (const size of [1025, 5 * MiB]) {
      const res = await uploadToLink(s.api, `too-big-${size}.bin`, crypto.randomBytes(size));
      const body = await expectError(res, 413);
      expect(body.detail).toMatch(/1024/);
    }
    expect(await stored()).toEqual(before);
    await until(async () => (await leftovers()).length === 0, 5000, "no partial upload left in tmp/");
    expect(await count(s.id)).toBe(1);
    const view = await (await fetch(s.api)).json();
    expect(view.files.map((f: { name: string }) => f.name)).toEqual(["exact.bin"]);
    // The recipient can go on after a refusal.
    expect((await uploadToLink(s.api, "next.bin", crypto.randomBytes(10))).status).toBe(201);
  });

  it("the package's byte and file limits apply to the recipient too", async () => {
    const s = await requestFiles(t, alice.token);
    for (const n of ["a", "b"]) expect((await uploadToLink(s.api, `${n}.bin`, crypto.randomBytes(1000))).status).toBe(201);
    const before = await stored();
    // 500 bytes left in the package: 600 is refused.
    await expectError(await uploadToLink(s.api, "c.bin", crypto.randomBytes(600)), 413);
    expect(await stored()).toEqual(before);
    expect((await uploadToLink(s.api, "c.bin", crypto.randomBytes(500))).status).toBe(201);
    // Three files is the maximum.
    await expectError(await uploadToLink(s.api, "d.bin", "d"), 413);
    expect(await count(s.id)).toBe(3);
  });
});

describe.each(DATABASES)("link lookup rate limit (%s)", (kind) => {
  describe("SF_LINK_MAX_FAILURES_PER_IP=5", () => {
    let t: TestServer;
    let alice: User;
    beforeAll(async () => {
      t = await startTestServer(kind, { env: { SF_LINK_MAX_FAILURES_PER_IP: "5", SF_LINK_WINDOW_SECONDS: "600" } });
      alice = await t.createUser();
    });
    afterAll(async () => {
      await t?.close();
    });

    it("after 5 failed lookups the next request from that address is 429 with Retry-After, even for a valid link", async () => {
      const s = await shareFiles(t, alice.token, [
        ["v.txt", "valid bytes"],
        ["w.txt", "w"],
      ]);
      // Successes before do not count.
      for (let i = 0; i < 10; i++) expect((await fetch(s.api)).status).toBe(200);

      // Pages and the API share one counter.
      for (let i = 0; i < 5; i++) {
        const secret = unknownSecret();
        const res = i % 2 === 0 ? await fetch(`${t.api}/links/${secret}`) : await fetch(`${t.url}/l/${secret}`);
        expect({ i, status: res.status }).toEqual({ i, status: 404 });
        await res.arrayBuffer();
      }

      for (const url of [s.api, `${s.api}/files/${s.files[0]!.id}`, `${s.api}/archive`]) {
        const res = await fetch(url);
        const retryAfter = res.headers.get("retry-after");
        expect(retryAfter, url).toMatch(/^\d+$/);
        expect(Number(retryAfter)).toBeGreaterThan(0);
        expect(Number(retryAfter)).toBeLessThanOrEqual(600);
        const body = await expectError(res, 429);
        expect(JSON.stringify(body)).not.toContain("valid bytes");
      }
      const up = await uploadToLink(s.api, "x.txt", "x");
      await expectError(up, 429);

      // The page answers with a page, not JSON.
      const page = await fetch(s.page);
      expect(page.status).toBe(429);
      expect(page.headers.get("retry-after")).toMatch(/^\d+$/);
      expectPageHeaders(page);
      const html = await page.text();
      expect(html).toContain("Slow down");
      expect(html).not.toContain("valid bytes");

      // The owner's API is not affected.
      expect((await t.fetch(`/packages/${s.id}`, { token: alice.token })).status).toBe(200);
    });
  });

  describe("default limits", () => {
    let t: TestServer;
    let alice: User;
    beforeAll(async () => {
      t = await startTestServer(kind);
      alice = await t.createUser();
    });
    afterAll(async () => {
      await t?.close();
    });

    it("a valid link answers 300 requests in a row without a 429", async () => {
      const bytes = crypto.randomBytes(3000);
      const s = await shareFiles(t, alice.token, [
        ["a.bin", bytes],
        ["b.txt", "b"],
      ]);
      const statuses = new Map<number, number>();
      for (let i = 0; i < 300; i++) {
        const url = [s.api, `${s.api}/files/${s.files[0]!.id}`, s.page, `${s.api}/archive`][i % 4]!;
        const res = await fetch(url, i % 8 === 1 ? { headers: { Range: "bytes=100-199" } } : {});
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        await res.arrayBuffer();
      }
      expect(Object.fromEntries(statuses)).toEqual({ 200: 300 - 38, 206: 38 });
    });

    it("downloads the recipient cancels do not count as failed lookups", async () => {
      const s = await shareFiles(t, alice.token, [
        ["big.bin", crypto.randomBytes(8 * MiB)],
        ["small.txt", "s"],
      ]);
      // More cancelled downloads than the default limit of failures (30).
      for (let i = 0; i < 40; i++) {
        const ac = new AbortController();
        const res = await fetch(i % 2 ? `${s.api}/archive` : `${s.api}/files/${s.files[0]!.id}`, { signal: ac.signal });
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        await reader.read();
        ac.abort();
        await reader.cancel().catch(() => undefined);
      }
      // Let the server notice the closed connections.
      await new Promise((r) => setTimeout(r, 300));
      const res = await fetch(s.api);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    });
  });
});
