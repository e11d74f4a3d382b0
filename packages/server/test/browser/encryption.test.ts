import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import type { Browser, BrowserContext, Download, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { blobPath, postPackage, sha256, until } from "@speedyfiles/test-utils/uploads";
import { finalize, secretOf } from "@speedyfiles/test-utils/links";
import { launchChromium, watchProblems } from "@speedyfiles/test-utils/browser";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { SpeedyFiles } from "../../../sdk/src/index.js";
import { ScryptRecipient } from "../../../sdk/src/encryption/scrypt.js";

const MiB = 1024 * 1024;
const BUILT = fileURLToPath(new URL("../../dist/assets/", import.meta.url));
const WRONG_KEY_SENTENCE = "The key in this link does not open these files. Check that you have the whole link the sender gave you.";

type User = Awaited<ReturnType<TestServer["createUser"]>>;
type Key = { identity: string } | { passphrase: string };
interface PlainFile {
  name: string;
  /** The plaintext on disk. */
  path: string;
  size: number;
  sha256: string;
  /** Upload these bytes as the file's ciphertext instead of encrypting `path` (a hostile sender). */
  cipher?: string;
}

const b64 = (u: Uint8Array) => Buffer.from(u).toString("base64");
const opaqueName = () => `${crypto.randomBytes(16).toString("hex")}.age`;

function encrypterFor(key: Key, recipient?: string): Encrypter {
  const e = new Encrypter();
  // The SDK's scrypt recipient (Node's scrypt, off the event loop): age-encryption's setPassphrase
  // would hold this process, and the server in it, for a second per file.
  if ("passphrase" in key) e.addRecipient(new ScryptRecipient(key.passphrase));
  else e.addRecipient(recipient!);
  return e;
}

/** `dir/name` on disk: `size` bytes of a known pattern (a seeded block, each MiB numbered), hashed as written. */
async function patternFile(dir: string, name: string, size: number): Promise<PlainFile> {
  const p = path.join(dir, name);
  await fsp.mkdir(path.dirname(p), { recursive: true });
  const base = crypto.createHash("sha512").update(name).digest();
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += base.length) base.copy(block, i);
  const hash = crypto.createHash("sha256");
  const out = fs.openSync(p, "w");
  for (let off = 0, n = 0; off < size; off += MiB, n++) {
    block.writeUInt32BE(n, 0);
    const part = block.subarray(0, Math.min(MiB, size - off));
    hash.update(part);
    fs.writeSync(out, part);
  }
  fs.closeSync(out);
  return { name, path: p, size, sha256: hash.digest("hex") };
}

/** An age file of `plain` on disk, written as it is encrypted (never whole in memory). */
async function encryptToDisk(e: Encrypter, plain: string, out: string): Promise<void> {
  const stream = await e.encrypt(Readable.toWeb(fs.createReadStream(plain)) as ReadableStream<Uint8Array>);
  const fh = await fsp.open(out, "w");
  try {
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) await fh.write(chunk);
  } finally {
    await fh.close();
  }
}

/**
 * An encrypted outbound package made as a sender's client makes one (the wire format in the
 * contract): create with `encryption` and `sealed_message`, each file's ciphertext uploaded under
 * an opaque name with its sealed entry, finalize. Returns the link without its key.
 */
async function sendEncrypted(
  t: TestServer,
  token: string,
  work: string,
  files: PlainFile[],
  key: Key,
  opts: { title: string; message?: string; recipient?: string; password?: string },
) {
  const e = encrypterFor(key, opts.recipient);
  const res = await postPackage(t, token, {
    title: opts.title,
    recipient_email: "cfo@acme.test",
    direction: "outbound",
    ttl_days: 14,
    encryption: { scheme: "passphrase" in key ? "age-scrypt" : "age-x25519" },
    ...(opts.message ? { sealed_message: b64(await e.encrypt(opts.message)) } : {}),
    ...(opts.password ? { password: opts.password } : {}),
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  const pkg = (await res.json()) as { id: string };
  const stored: { id: string; name: string; storage: string }[] = [];
  for (const f of files) {
    const entry = JSON.stringify({ name: f.name, size: f.size, content_type: "application/octet-stream", sha256: f.sha256 });
    const cipher = f.cipher ?? path.join(work, opaqueName());
    if (f.cipher === undefined) await encryptToDisk(e, f.path, cipher);
    const form = new FormData();
    form.append("sealed", b64(await e.encrypt(entry)));
    form.append("file", await fs.openAsBlob(cipher), opaqueName());
    const up = await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token, body: form });
    if (up.status !== 201) throw new Error(`upload: ${up.status} ${await up.text()}`);
    if (f.cipher === undefined) await fsp.rm(cipher);
    const body = (await up.json()) as { id: string; name: string };
    stored.push({ id: body.id, name: body.name, storage: cipher });
  }
  const secret = await finalize(t, token, pkg.id);
  return { id: pkg.id, secret, page: `${t.url}/l/${secret}`, files: stored };
}

/**
 * An encrypted package sent the way `sf send --encrypt` sends one (the SDK's `send`) of a file or a
 * folder (named with the folder's name first). Returns the page without the key, and the key.
 */
async function sendWithSdk(
  t: TestServer,
  token: string,
  file: string,
  opts: { title: string; message?: string; encrypt: true | { passphrase: string }; password?: string; max_downloads?: number },
) {
  const sf = new SpeedyFiles({ baseUrl: t.url, token });
  const sent = await sf.send({ files: [file], to: "cfo@acme.test", ...opts });
  const [link, key] = sent.magic_link.split("#") as [string, string | undefined];
  const secret = secretOf(link);
  if (opts.encrypt === true && key !== sent.key) throw new Error("the link's key is not the send's");
  return { id: sent.package.id, secret, page: `${t.url}/l/${secret}`, key };
}

/** Every request the browser makes, the service worker's included: method, URL, headers and body. */
function recordRequests(context: BrowserContext): { all: string[]; fromWorker: string[] } {
  const all: string[] = [];
  const fromWorker: string[] = [];
  const seen = (r: Request) => {
    const line = `${r.method()} ${r.url()} ${JSON.stringify(r.headers())} ${r.postData() ?? ""}`;
    all.push(line);
    if (r.serviceWorker()) fromWorker.push(line);
  };
  context.on("request", seen);
  return { all, fromWorker };
}

/** The page has opened the sealed entries: every row shows its real name. */
async function opened(page: Page): Promise<string[]> {
  await page.waitForSelector('#encrypted[data-opened="yes"]', { timeout: 30_000 });
  return page.locator("#e2e-files .file .name").allTextContents();
}

/** Waits until `n` files of the upload queue are done with (uploaded or failed); none may have failed. */
async function settled(page: Page, n: number): Promise<void> {
  await page.waitForFunction((n) => document.querySelectorAll('#queue li[data-state="uploaded"], #queue li[data-state="failed"]').length === n, n, { timeout: 60_000 });
  expect(await page.locator('#queue li[data-state="failed"] .state').allTextContents()).toEqual([]);
}

async function downloadRow(page: Page, name: string): Promise<Download> {
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 30_000 }),
    page.locator(".file", { hasText: name }).getByRole("button", { name: "Download" }).click(),
  ]);
  return download;
}

/** Clicks a row's Download and waits until the row says how it ended (saved or failed); its state text. */
async function downloadEnds(page: Page, name: string): Promise<string> {
  const row = page.locator(".file", { hasText: name });
  await row.getByRole("button", { name: "Download" }).click();
  await row.locator(":scope[data-state='saved'], :scope[data-state='failed']").waitFor({ timeout: 30_000 });
  return (await row.locator(".state").textContent()) ?? "";
}

/** A hostile ciphertext whose age header never ends: one stanza line of `size` bytes, no newline. */
async function endlessHeader(dir: string, size: number): Promise<string> {
  const p = path.join(dir, opaqueName());
  const out = fs.openSync(p, "w");
  fs.writeSync(out, "age-encryption.org/v1\n-> X25519 ");
  const block = Buffer.alloc(MiB, "A");
  for (let off = 0; off < size; off += MiB) fs.writeSync(out, block);
  fs.closeSync(out);
  return p;
}

/** A hostile ciphertext with a well-formed age header of `n` X25519 stanzas (none for any real key). */
async function manyStanzas(dir: string, n: number): Promise<string> {
  const b64 = (k: number) => crypto.randomBytes(k).toString("base64").replace(/=+$/, "");
  let header = "age-encryption.org/v1\n";
  for (let i = 0; i < n; i++) header += `-> X25519 ${b64(32)}\n${b64(32)}\n`;
  header += `--- ${b64(32)}\n`;
  const p = path.join(dir, opaqueName());
  await fsp.writeFile(p, Buffer.concat([Buffer.from(header), crypto.randomBytes(16 + 1000)]));
  return p;
}

/** The resident memory of every process under this one (the browser's included), in bytes. */
async function descendantsRss(): Promise<number> {
  const parent = new Map<number, number>();
  for (const name of await fsp.readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fsp.readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parent.set(Number(name), ppid);
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  let rss = 0;
  for (const pid of parent.keys()) {
    if (!under(pid)) continue;
    const status = await fsp.readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  }
  return rss;
}

async function sha256File(p: string): Promise<string> {
  const h = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(p)) h.update(chunk as Buffer);
  return h.digest("hex");
}

describe.each(DATABASES)("an encrypted package in a real browser (%s)", (kind) => {
  let t: TestServer;
  let alice: User;
  let browser: Browser;
  let work: string;
  const log: string[] = [];

  /** An encrypted request from Alice to Carol, finalized: its id and its link's secret. */
  const encryptedRequest = async (title: string, recipient: string): Promise<{ id: string; secret: string }> => {
    const res = await postPackage(t, alice.token, {
      title,
      recipient_email: "carol@client.test",
      direction: "inbound",
      ttl_days: 14,
      encryption: { scheme: "age-x25519", recipient },
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    return { id, secret: await finalize(t, alice.token, id) };
  };
  /** A fresh browser context on `url`: its requests recorded, the page's problems watched. */
  const openPage = async (url: string) => {
    const context = await browser.newContext();
    const requests = recordRequests(context);
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(url);
    return { context, requests, page, problems };
  };

  beforeAll(async () => {
    // The bundles are build output: without them the pages cannot decrypt, and this says so.
    for (const f of ["decrypt-sw.js", "e2e/encrypted-link.js", "e2e/encrypted-upload.js"]) {
      if (!fs.existsSync(path.join(BUILT, f)))
        throw new Error(`packages/server/dist/assets/${f} is missing: run \`pnpm -r build\` first (the encrypted pages' scripts are bundled at build)`);
    }
    t = await startTestServer(kind, { logStream: { write: (line: string) => void log.push(line) } });
    alice = await t.createUser({ email: "alice@speedyfiles.test" });
    await t.running.services.db("users").where({ id: alice.user.id }).update({ name: "Alice Example" });
    browser = await launchChromium();
    work = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-e2e-browser-"));
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  it("key in the link (sent with the SDK): the page shows the real names and the message, and downloads decrypt through the service worker; no request carries the key", async () => {
    const src = path.join(await fsp.mkdtemp(path.join(work, "send-")), "q4");
    const report = await patternFile(src, "Q4 report.pdf", 340_000);
    const notes = await patternFile(src, "notes/board meeting.txt", 1234);
    const s = await sendWithSdk(t, alice.token, src, { title: "Q4 financials", message: "Numbers for the board.\n<b>Call me</b>", encrypt: true });
    const identity = s.key!;
    expect(identity).toMatch(/^AGE-SECRET-KEY-1/);
    const view = (await (await fetch(`${t.api}/links/${s.secret}`)).json()) as { files: { name: string }[] };
    expect(view.files.every((f) => /^[0-9a-f]{32}\.age$/.test(f.name))).toBe(true);

    // The server's page never holds the key (the fragment is not sent) nor a plaintext name.
    const html = await (await fetch(s.page)).text();
    expect(html).not.toContain(identity);
    expect(html).not.toContain("Q4 report");
    expect(html).not.toContain("Numbers for the board");

    const context = await browser.newContext({ acceptDownloads: true });
    const requests = recordRequests(context);
    const page = await context.newPage();
    const problems = watchProblems(page);
    const res = await page.goto(`${s.page}#${identity}`);
    expect(res!.status()).toBe(200);
    const csp = res!.headers()["content-security-policy"]!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("worker-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(res!.headers()["referrer-policy"]).toBe("no-referrer");
    expect(await page.locator("#e2e-notice").textContent()).toBe("Encrypted end to end: the server cannot read these files; your browser decrypts them.");
    expect(await page.locator("h1").textContent()).toBe("Q4 financials");
    expect(await page.locator("main").textContent()).toContain("Alice Example");

    expect((await opened(page)).sort()).toEqual(["q4/Q4 report.pdf", "q4/notes/board meeting.txt"]);
    expect(await page.locator("#e2e-message").textContent()).toBe("Numbers for the board.\n<b>Call me</b>");
    expect(await page.locator("main b, main img").count()).toBe(0);
    expect(await page.getByRole("link", { name: /zip/ }).count()).toBe(0);

    const one = await downloadRow(page, "Q4 report");
    expect(one.suggestedFilename()).toBe("Q4 report.pdf");
    expect(await sha256File(await one.path())).toBe(report.sha256);
    const nested = await downloadRow(page, "board meeting");
    expect(nested.suggestedFilename()).toBe("board meeting.txt");
    expect(await sha256File(await nested.path())).toBe(notes.sha256);
    await page.waitForFunction(() => document.querySelectorAll('#e2e-files li[data-state="saved"]').length === 2);

    // The worker fetched the ciphertext (so its requests are recorded too), and nothing the
    // browser sent, nor anything the server logged, holds the key.
    expect(requests.fromWorker.some((r) => r.includes(`/api/v1/links/${s.secret}/files/`))).toBe(true);
    const secretPart = identity.slice("AGE-SECRET-KEY-1".length);
    for (const line of [...requests.all, ...log]) {
      expect(line).not.toContain(secretPart);
      expect(line.toLowerCase()).not.toContain(secretPart.toLowerCase());
    }
    // Nor did the server see a plaintext name: the downloads' addresses carry none.
    for (const line of log) expect(line).not.toMatch(/Q4(%20| )report|board(%20| )meeting/);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("a wrong or missing key: a clear sentence, no download offered; /decrypt/ without the worker is a harmless 404", async () => {
    const identity = await generateX25519Identity();
    const other = await generateX25519Identity();
    const file = await patternFile(work, "contract.pdf", 5000);
    const s = await sendEncrypted(t, alice.token, work, [file], { identity }, { title: "Contract", recipient: await identityToRecipient(identity) });
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const problems = watchProblems(page, [404]);
    let downloads = 0;
    page.on("download", () => downloads++);

    await page.goto(`${s.page}#${other}`);
    await page.locator('#e2e-status[data-kind="warn"]').waitFor({ timeout: 15_000 });
    expect(await page.locator("#e2e-status").textContent()).toBe(WRONG_KEY_SENTENCE);
    expect(await page.getByRole("button", { name: "Download" }).count()).toBe(0);
    expect(await page.locator("#e2e-files .name").allTextContents()).toEqual(["Encrypted file"]);

    await page.goto(s.page);
    await page.locator('#e2e-status[data-kind="warn"]').waitFor();
    expect(await page.locator("#e2e-status").textContent()).toBe("This link has no key. Ask the sender for the full link: it ends with #AGE-SECRET-KEY-…");
    // Only the fragment changes: the page starts again with the new one.
    await page.goto(`${s.page}#${other.slice(0, 40)}`);
    await page.locator("#e2e-status", { hasText: "The key at the end of this link is incomplete or damaged." }).waitFor();
    expect(await page.getByRole("button", { name: "Download" }).count()).toBe(0);

    // What the worker does not know reaches the server, which answers a page, never a file.
    const miss = await fetch(`${t.url}/decrypt/${"0".repeat(32)}`);
    expect(miss.status).toBe(404);
    expect(miss.headers.get("content-type")).toMatch(/^text\/html/);
    expect(miss.headers.get("content-disposition")).toBeNull();
    const missPage = await page.goto(`${t.url}/decrypt/${"1".repeat(32)}`);
    expect(missPage!.status()).toBe(404);
    expect(await page.locator("h1").textContent()).toBe("Nothing to download here");
    await page.waitForTimeout(300);
    expect(downloads).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("passphrase mode behind a link password: the server checks the password, the typed passphrase (never submitted) opens the files, the worker downloads with the link's cookie", async () => {
    const passphrase = "correct horse battery staple";
    const linkPassword = "open-sesame-2027";
    const file = await patternFile(await fsp.mkdtemp(path.join(work, "send-")), "budget 2027.xlsx", 70_000);
    const s = await sendWithSdk(t, alice.token, file.path, { title: "Budget", message: "Draft budget", encrypt: { passphrase }, password: linkPassword });
    expect(s.key).toBeUndefined();
    const context = await browser.newContext({ acceptDownloads: true });
    const requests = recordRequests(context);
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(s.page);
    await page.getByLabel("Password").fill(linkPassword);
    await page.getByRole("button", { name: "Open" }).click();
    await page.getByLabel("Passphrase").waitFor();
    await page.getByLabel("Passphrase").fill("not the passphrase");
    await page.getByRole("button", { name: "Decrypt" }).click();
    await page.locator('#e2e-status[data-kind="warn"]').waitFor({ timeout: 30_000 });
    expect(await page.locator("#e2e-status").textContent()).toBe("That passphrase does not open these files. Check it and try again.");

    await page.getByLabel("Passphrase").fill(passphrase);
    await page.getByRole("button", { name: "Decrypt" }).click();
    expect(await opened(page)).toEqual(["budget 2027.xlsx"]);
    expect(await page.locator("#e2e-message").textContent()).toBe("Draft budget");
    expect(await page.locator("#passphrase-form").isHidden()).toBe(true);
    const d = await downloadRow(page, "budget 2027.xlsx");
    expect(await sha256File(await d.path())).toBe(file.sha256);
    expect(page.url()).toBe(s.page);
    // The link password went to the server (its form); the passphrase never did.
    expect(requests.all.some((r) => r.includes(linkPassword))).toBe(true);
    for (const line of [...requests.all, ...log]) expect(line).not.toContain(passphrase);
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);

  it("key in the link behind a link password: the password form keeps the key (a wrong password first, then the right one), the page opens with it and a download decrypts; no request carries the key", async () => {
    const linkPassword = "open-sesame-2027";
    const file = await patternFile(await fsp.mkdtemp(path.join(work, "send-")), "minutes.txt", 60_000);
    const s = await sendWithSdk(t, alice.token, file.path, { title: "Minutes", encrypt: true, password: linkPassword });
    const identity = s.key!;
    const context = await browser.newContext({ acceptDownloads: true });
    const requests = recordRequests(context);
    const page = await context.newPage();
    const problems = watchProblems(page, [403]);
    await page.goto(`${s.page}#${identity}`);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Open" }).click();
    await page.locator("#password-error").waitFor();
    await page.getByLabel("Password").fill(linkPassword);
    await page.getByRole("button", { name: "Open" }).click();
    expect(await opened(page)).toEqual(["minutes.txt"]);
    expect(page.url()).toBe(`${s.page}#${identity}`);
    const d = await downloadRow(page, "minutes.txt");
    expect(await sha256File(await d.path())).toBe(file.sha256);
    const secretPart = identity.slice("AGE-SECRET-KEY-1".length);
    expect(requests.all.some((r) => r.includes(linkPassword))).toBe(true);
    for (const line of [...requests.all, ...log]) expect(line.toLowerCase()).not.toContain(secretPart.toLowerCase());
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("decrypted names that break the server's rules, or clash with each other: the row says the description is not acceptable and offers no download; the other files still download", async () => {
    const identity = await generateX25519Identity();
    const dir = await fsp.mkdtemp(path.join(work, "names-"));
    const fine = await patternFile(dir, "fine.txt", 3000);
    const named = async (name: string, i: number) => ({ ...(await patternFile(dir, `f${i}.bin`, 100 + i)), name });
    const bad = ["CON.txt", "a\u202etxt.exe", 'x"y.txt', "report.", "caf\u00e9.txt", "cafe\u0301.txt", "data", "data/x.txt", "Budget.xlsx", "budget.XLSX"];
    const files = [fine, ...(await Promise.all(bad.map(named)))];
    const s = await sendEncrypted(t, alice.token, work, files, { identity }, { title: "Names", recipient: await identityToRecipient(identity) });
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${s.page}#${identity}`);
    const shown = await opened(page);
    expect(shown).toHaveLength(files.length);
    // No name is shown with its bidi override or control characters working.
    for (const n of shown) expect(n).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    expect(await page.locator('#e2e-files li[data-state="refused"]').count()).toBe(bad.length);
    expect(await page.getByRole("button", { name: "Download" }).count()).toBe(1);
    const refusal = async (name: string) =>
      (await page
        .locator('#e2e-files li[data-state="refused"]')
        .filter({ has: page.locator(".name").getByText(name, { exact: true }) })
        .locator(".state")
        .textContent()) ?? "";
    expect(await refusal("CON.txt")).toMatch(/^This file's description is not acceptable: .*device name.*Not offered for download; tell the sender\.$/);
    expect(await refusal("a\\u202etxt.exe")).toContain("control characters");
    expect(await refusal('x"y.txt')).toContain("Windows does not allow");
    expect(await refusal("report.")).toContain("ends in a dot");
    expect(await refusal("data/x.txt")).toContain('clashes with "data"');
    expect(await refusal("budget.XLSX")).toContain('clashes with "Budget.xlsx"');
    expect(await page.locator('#e2e-files li[data-state="refused"] .state', { hasText: "clashes with" }).count()).toBe(6);
    const d = await downloadRow(page, "fine.txt");
    expect(await sha256File(await d.path())).toBe(fine.sha256);
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);

  it("a hostile ciphertext header (never ending, or more than 64 stanzas): the worker and the in-memory path fail at once, the browser's memory stays flat", async () => {
    const identity = await generateX25519Identity();
    const dir = await fsp.mkdtemp(path.join(work, "hostile-"));
    const endless = { ...(await patternFile(dir, "endless.bin", 1000)), cipher: await endlessHeader(dir, 160 * MiB) };
    const stanzas = { ...(await patternFile(dir, "stanzas.bin", 1000)), cipher: await manyStanzas(dir, 65) };
    const fine = await patternFile(dir, "fine.bin", 5000);
    const s = await sendEncrypted(t, alice.token, work, [endless, stanzas, fine], { identity }, { title: "Hostile", recipient: await identityToRecipient(identity) });
    const CHANGED = /changed after it was encrypted/;
    for (const serviceWorkers of ["allow", "block"] as const) {
      const context = await browser.newContext({ acceptDownloads: true, serviceWorkers });
      const page = await context.newPage();
      await page.goto(`${s.page}#${identity}`);
      expect((await opened(page)).sort()).toEqual(["endless.bin", "fine.bin", "stanzas.bin"]);
      const before = await descendantsRss();
      let peak = before;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await descendantsRss());
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const started = Date.now();
      expect(await downloadEnds(page, "endless.bin"), serviceWorkers).toMatch(CHANGED);
      const took = Date.now() - started;
      sampling = false;
      await sampler;
      expect(peak - before, `${serviceWorkers}: ${(before / MiB).toFixed(0)} MiB before, ${(peak / MiB).toFixed(0)} MiB at most, ${took} ms`).toBeLessThan(60 * MiB);
      // 65 stanzas none of which is for this key would read as a wrong key without the cap.
      expect(await downloadEnds(page, "stanzas.bin"), serviceWorkers).toMatch(CHANGED);
      const d = await downloadRow(page, "fine.bin");
      expect(await sha256File(await d.path())).toBe(fine.sha256);
      await context.close();
    }
  }, 120_000);

  it("inbound: a recipient age-encryption refuses (a damaged checksum): each file fails with a clear sentence, nothing is sent", async () => {
    const recipient = await identityToRecipient(await generateX25519Identity());
    const req = await encryptedRequest("Damaged key", recipient);
    // A row from before the server checked the checksum: the last character changed.
    const last = recipient.at(-1) === "q" ? "p" : "q";
    await t.running.services
      .db("packages")
      .where({ id: req.id })
      .update({ encryption_recipient: recipient.slice(0, -1) + last });
    const { context, requests, page, problems } = await openPage(`${t.url}/l/${req.secret}`);
    await page.setInputFiles("#file-input", [{ name: "W-2 2026.pdf", mimeType: "application/pdf", buffer: Buffer.from("PLAINTEXT-MARKER-W2") }]);
    await page.locator('#queue li[data-state="failed"]').waitFor({ timeout: 15_000 });
    expect(await page.locator("#queue li .state").allTextContents()).toEqual(["failed: this request's key is not valid; ask the sender for a new link"]);
    expect(requests.all.filter((r) => r.includes("/uploads") || r.includes("/files"))).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("inbound: a file name the server's rules refuse is refused before anything is encrypted or sent", async () => {
    const req = await encryptedRequest("Names in", await identityToRecipient(await generateX25519Identity()));
    const { context, requests, page, problems } = await openPage(`${t.url}/l/${req.secret}`);
    await page.setInputFiles("#file-input", [{ name: 'evil"name\u202efdp.exe', mimeType: "application/octet-stream", buffer: Buffer.from("x") }]);
    await page.locator('#queue li[data-state="failed"]').waitFor({ timeout: 15_000 });
    expect(await page.locator("#queue li .state").textContent()).toBe("failed: File name contains control characters");
    expect(requests.all.filter((r) => r.includes("/uploads") || r.includes("/files"))).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("a download limit: a file fetched once through the worker is marked as used up after a reload; the other still downloads", async () => {
    const src = path.join(await fsp.mkdtemp(path.join(work, "send-")), "pair");
    const first = await patternFile(src, "first.txt", 4000);
    const second = await patternFile(src, "second.txt", 5000);
    const s = await sendWithSdk(t, alice.token, src, { title: "Once", encrypt: true, max_downloads: 1 });
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${s.page}#${s.key}`);
    expect((await opened(page)).sort()).toEqual(["pair/first.txt", "pair/second.txt"]);
    expect(await page.locator("#limit").textContent()).toBe("Each file can be downloaded once with this link.");
    const d = await downloadRow(page, "first.txt");
    expect(await sha256File(await d.path())).toBe(first.sha256);
    // The server counts a download once its last byte has gone out, which can be just after the
    // browser has saved it: wait for the count before the reload that shows it.
    await until(
      async () => ((await (await fetch(`${t.url}/api/v1/links/${s.secret}`)).json()) as { used_up_file_ids?: string[] }).used_up_file_ids?.length === 1,
      10_000,
      "the download counted",
    );
    await page.reload();
    await opened(page);
    expect(await page.locator(".file", { hasText: "first.txt" }).locator(".used-up").textContent()).toBe("Already downloaded");
    expect(await page.locator(".file", { hasText: "first.txt" }).getByRole("button").count()).toBe(0);
    const other = await downloadRow(page, "second.txt");
    expect(await sha256File(await other.path())).toBe(second.sha256);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("a tampered ciphertext (one byte flipped on the server's disk): the download fails, no complete file, the page says so", async () => {
    const identity = await generateX25519Identity();
    const file = await patternFile(work, "payroll.csv", 3 * MiB);
    const s = await sendEncrypted(t, alice.token, work, [file], { identity }, { title: "Payroll", recipient: await identityToRecipient(identity) });
    const row = await t.running.services.db("files").where({ id: s.files[0]!.id }).first("storage_key");
    const blob = blobPath(t, row.storage_key as string);
    const fh = await fsp.open(blob, "r+");
    const at = 2 * MiB + 17; // in the payload, past the header: the stream starts, then fails
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0x01;
    await fh.write(b, 0, 1, at);
    await fh.close();

    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    await page.goto(`${s.page}#${identity}`);
    await opened(page);
    const d = await downloadRow(page, "payroll.csv");
    expect(await d.failure()).not.toBeNull();
    await expect(d.path()).rejects.toThrow();
    await page.locator('#e2e-files li[data-state="failed"]').waitFor({ timeout: 15_000 });
    expect(await page.locator("#e2e-files .state").textContent()).toContain("changed after it was encrypted");
    await context.close();
  }, 60_000);

  it("a file whose sealed SHA-256 does not match its plaintext: every byte decrypts, yet the download fails at its end", async () => {
    const identity = await generateX25519Identity();
    const file = await patternFile(work, "ledger.csv", 300_000);
    const lying = { ...file, sha256: crypto.createHash("sha256").update("something else").digest("hex") };
    const s = await sendEncrypted(t, alice.token, work, [lying], { identity }, { title: "Ledger", recipient: await identityToRecipient(identity) });
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    await page.goto(`${s.page}#${identity}`);
    await opened(page);
    const d = await downloadRow(page, "ledger.csv");
    expect(await d.failure()).not.toBeNull();
    await expect(d.path()).rejects.toThrow();
    await page.locator('#e2e-files li[data-state="failed"]').waitFor({ timeout: 15_000 });
    await context.close();
  }, 60_000);

  it("without service workers: the page says so and decrypts a small file in memory", async () => {
    const identity = await generateX25519Identity();
    const file = await patternFile(work, "small.bin", 200_000);
    const s = await sendEncrypted(t, alice.token, work, [file], { identity }, { title: "Small", recipient: await identityToRecipient(identity) });
    const context = await browser.newContext({ acceptDownloads: true, serviceWorkers: "block" });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${s.page}#${identity}`);
    expect(await opened(page)).toEqual(["small.bin"]);
    await page.locator("#e2e-fallback").waitFor();
    const notice = await page.locator("#e2e-fallback").textContent();
    expect(notice).toContain("decrypted in memory");
    expect(notice).toContain("256 MiB");
    expect(notice).toContain(`sf download '${s.page}#${identity}'`);
    const d = await downloadRow(page, "small.bin");
    expect(d.suggestedFilename()).toBe("small.bin");
    expect(await sha256File(await d.path())).toBe(file.sha256);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("inbound: a file uploaded through the page of an encrypted request is stored as ciphertext that the requester's identity opens", async () => {
    const identity = await generateX25519Identity();
    const pkg = await encryptedRequest("Tax documents", await identityToRecipient(identity));
    const { context, requests, page, problems } = await openPage(`${t.url}/l/${pkg.secret}`);
    expect(await page.locator("#e2e-notice").textContent()).toContain("your browser encrypts each file for Alice Example");
    const w2 = crypto.randomBytes(180_000);
    const marker = Buffer.from("PLAINTEXT-MARKER-W2");
    const bytes = Buffer.concat([marker, w2]);
    await page.setInputFiles("#file-input", [{ name: "W-2 2026.pdf", mimeType: "application/pdf", buffer: bytes }]);
    await settled(page, 1);
    expect(await page.locator("#received .file .name").allTextContents()).toEqual(["W-2 2026.pdf"]);
    // A file of several tus chunks (the encrypting stream is read once, chunk by chunk).
    const scans = await patternFile(work, "scans.zip", 20 * MiB);
    await page.setInputFiles("#file-input", scans.path);
    await settled(page, 2);

    // The server holds opaque names and ciphertext; the requester's identity opens all of it.
    const detail = (await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json()) as { files: { id: string; name: string; sealed: string; size: number }[] };
    expect(detail.files).toHaveLength(2);
    const d = new Decrypter();
    d.addIdentity(identity);
    const entries = await Promise.all(detail.files.map(async (f) => JSON.parse(await d.decrypt(new Uint8Array(Buffer.from(f.sealed, "base64")), "text"))));
    const big = detail.files[entries.findIndex((e) => e.sha256 === scans.sha256)]!;
    expect(entries.find((e) => e.sha256 === scans.sha256)).toEqual({
      name: "scans.zip",
      size: scans.size,
      content_type: "application/zip",
      sha256: scans.sha256,
    });
    const bigRow = await t.running.services.db("files").where({ id: big.id }).first("storage_key");
    const plain = await d.decrypt(Readable.toWeb(fs.createReadStream(blobPath(t, bigRow.storage_key as string))) as ReadableStream<Uint8Array>);
    const h = crypto.createHash("sha256");
    for await (const chunk of plain as unknown as AsyncIterable<Uint8Array>) h.update(chunk);
    expect(h.digest("hex")).toBe(scans.sha256);
    const f = detail.files.find((x) => x.id !== big.id)!;
    expect(f.name).toMatch(/^[0-9a-f]{32}\.age$/);
    const row = await t.running.services.db("files").where({ id: f.id }).first("storage_key");
    const stored = await fsp.readFile(blobPath(t, row.storage_key as string));
    expect(stored.includes(marker)).toBe(false);
    expect(stored.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    expect(Buffer.from(await d.decrypt(new Uint8Array(stored))).equals(bytes)).toBe(true);
    const entry = JSON.parse(await d.decrypt(new Uint8Array(Buffer.from(f.sealed, "base64")), "text"));
    expect(entry).toEqual({ name: "W-2 2026.pdf", size: bytes.length, content_type: "application/pdf", sha256: sha256(bytes) });
    // Not a byte of plaintext went out: every request body the page sent is ciphertext or JSON.
    for (const line of requests.all) expect(line).not.toContain("PLAINTEXT-MARKER");
    // A reload lists it without its name (the server does not know it).
    await page.reload();
    expect(await page.locator("#received .file .name").allTextContents()).toEqual(["Encrypted file", "Encrypted file"]);
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  it("inbound: every connection cut in the middle of an encrypted upload: it goes on from what the server holds, and the stored file decrypts to the exact bytes", async () => {
    const identity = await generateX25519Identity();
    const pkg = await encryptedRequest("Footage", await identityToRecipient(identity));
    const file = await patternFile(work, "footage.bin", 40 * MiB);
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = watchProblems(page);
    // A slow uplink, so the cut lands in the middle of a chunk.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 8 * MiB });
    await page.goto(`${t.url}/l/${pkg.secret}`);
    await page.setInputFiles("#file-input", file.path);
    const uploads = path.join(t.dataDir, "uploads");
    const partSize = async () => {
      const names = (await fsp.readdir(uploads).catch(() => [])).filter((n) => !n.endsWith(".json"));
      const sizes = await Promise.all(names.map(async (n) => (await fsp.stat(path.join(uploads, n))).size));
      return Math.max(0, ...sizes);
    };
    await until(async () => (await partSize()) > 20 * MiB, 30_000, "20 MiB to arrive");
    t.running.server.closeAllConnections();
    await settled(page, 1);
    const detail = (await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json()) as { files: { id: string }[] };
    expect(detail.files).toHaveLength(1);
    const row = await t.running.services.db("files").where({ id: detail.files[0]!.id }).first("storage_key");
    const d = new Decrypter();
    d.addIdentity(identity);
    const plain = await d.decrypt(Readable.toWeb(fs.createReadStream(blobPath(t, row.storage_key as string))) as ReadableStream<Uint8Array>);
    const h = crypto.createHash("sha256");
    for await (const chunk of plain as unknown as AsyncIterable<Uint8Array>) h.update(chunk);
    expect(h.digest("hex")).toBe(file.sha256);
    // The same upload went on (no fresh encryption from zero was needed for a cut inside a chunk).
    expect(await t.running.services.db("uploads").where({ package_id: pkg.id }).count<{ n: number }[]>({ n: "*" })).toEqual([{ n: 1 }]);
    const unexpected = problems.filter((p) => !/net::ERR_(CONNECTION_RESET|EMPTY_RESPONSE|CONNECTION_CLOSED)|status of 409/.test(p));
    expect(unexpected).toEqual([]);
    await context.close();
  }, 120_000);

  it("a 300 MiB file decrypts through the service worker to the exact bytes (streamed: the worker never holds it)", async () => {
    const src = await fsp.mkdtemp(path.join(work, "send-"));
    const big = await patternFile(src, "footage.mov", 300 * MiB);
    const s = await sendWithSdk(t, alice.token, big.path, { title: "Footage", encrypt: true });
    const identity = s.key!;
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${s.page}#${identity}`);
    expect(await opened(page)).toEqual(["footage.mov"]);
    // The browser's memory, sampled while the download runs: flat, not the file's size.
    const before = await descendantsRss();
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await descendantsRss());
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const d = await downloadRow(page, "footage.mov");
    const saved = await d.path();
    sampling = false;
    await sampler;
    // Measured about 100 MiB above the start (buffers, garbage not yet collected); holding the
    // file would add at least its 300 MiB.
    expect(peak - before, `browser memory: ${(before / MiB).toFixed(0)} MiB before, ${(peak / MiB).toFixed(0)} MiB at most during the download`).toBeLessThan(200 * MiB);
    expect((await fsp.stat(saved)).size).toBe(big.size);
    expect(await sha256File(saved)).toBe(big.sha256);
    await page.waitForSelector('#e2e-files li[data-state="saved"]');
    expect(problems).toEqual([]);
    await context.close();
    await fsp.rm(src, { recursive: true });
  }, 120_000);
});

describe.each(DATABASES)("an encrypted package with downloads offloaded to presigned S3 URLs (%s)", (kind) => {
  let s3: S3Server;
  let t: TestServer;
  let alice: User;
  let browser: Browser;
  let work: string;

  beforeAll(async () => {
    s3 = await startS3rver();
    t = await startTestServer(kind, { s3: { server: s3, presign: true } });
    alice = await t.createUser({ email: "alice@speedyfiles.test" });
    browser = await launchChromium();
    work = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-e2e-presign-"));
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await s3?.stop();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  it("the page asks for the ciphertext from our own origin (?redirect=never), never the bucket: the worker and the in-memory path both decrypt", async () => {
    const src = path.join(await fsp.mkdtemp(path.join(work, "send-")), "offloaded");
    const a = await patternFile(src, "a.bin", 700_000);
    const b = await patternFile(src, "b.txt", 4321);
    const s = await sendWithSdk(t, alice.token, src, { title: "Offloaded", encrypt: true });
    // The plain download is a redirect to the bucket (the page cannot follow it: another origin).
    const view = (await (await fetch(`${t.api}/links/${s.secret}`)).json()) as { files: { id: string }[] };
    const plain = await fetch(`${t.api}/links/${s.secret}/files/${view.files[0]!.id}`, { redirect: "manual" });
    expect(plain.status).toBe(302);
    for (const serviceWorkers of ["allow", "block"] as const) {
      const context = await browser.newContext({ acceptDownloads: true, serviceWorkers });
      const requests = recordRequests(context);
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${s.page}#${s.key}`);
      expect((await opened(page)).sort()).toEqual(["offloaded/a.bin", "offloaded/b.txt"]);
      for (const f of [a, b]) {
        const d = await downloadRow(page, path.basename(f.name));
        expect(await sha256File(await d.path()), serviceWorkers).toBe(f.sha256);
      }
      const fetched = requests.all.filter((r) => r.includes(`/api/v1/links/${s.secret}/files/`));
      expect(fetched, serviceWorkers).toHaveLength(2);
      for (const r of fetched) expect(r).toMatch(/\/files\/[^ ?]+\?redirect=never /);
      expect(requests.all.some((r) => r.includes(s3.endpoint))).toBe(false);
      expect(problems).toEqual([]);
      await context.close();
    }
  }, 90_000);
});
