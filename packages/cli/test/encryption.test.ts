// End-to-end encryption as a person at the command line uses it: the built `sf` in its own process
// sends a folder encrypted (key in the link, or a passphrase), the recipient's `sf download` opens
// it, the server's email and disk hold neither the key nor a plaintext name, every way a key can be
// missing or wrong (or a file tampered with) says so and writes nothing, inbound requests round
// trip, and Debian's `age` opens a ciphertext fetched straight from the API.
import { execFile, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { generateIdentity } from "@speedyfiles/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { sf, tempDir } from "./helpers.js";
import { baseEnv, BIN, Pty, runSf, startSf, waitUntil, type Run } from "./proc.js";

// Asynchronous: the test server answers from this very process, so a blocking child would hang both.
const run = promisify(execFile);

/** Appears in every plaintext name, content and message of these tests, and must never reach the server. */
const MARKER = "zebracorn";

/** A folder whose names and contents carry the marker: `<root>/<name>/…`. */
async function secretTree(root: string, name: string): Promise<{ dir: string; files: Record<string, Buffer> }> {
  const dir = path.join(root, name);
  const files: Record<string, Buffer> = {
    [`${MARKER}-plan.txt`]: Buffer.from(`the ${MARKER} plan\n`),
    [`sub/${MARKER}-numbers.bin`]: Buffer.concat([Buffer.from(MARKER), crypto.randomBytes(200_000)]),
    "sub/empty.txt": Buffer.alloc(0),
  };
  for (const [rel, data] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fs.writeFile(path.join(dir, rel), data);
  }
  return { dir, files };
}

/** Every file under `dir` (relative paths), [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

async function expectSameTree(got: string, want: Record<string, Buffer>): Promise<void> {
  expect((await filesUnder(got)).sort()).toEqual(Object.keys(want).sort());
  for (const [rel, data] of Object.entries(want)) expect((await fs.readFile(path.join(got, rel))).equals(data), rel).toBe(true);
}

/** `data` encrypted to an age recipient by Debian's `age` (an age v1 file, binary). */
async function ageEncrypt(recipient: string, data: Buffer | string): Promise<Buffer> {
  const child = spawn("age", ["-r", recipient], { stdio: ["pipe", "pipe", "pipe"] });
  const chunks: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => chunks.push(c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
    child.stdin.end(data);
  });
  if (code !== 0) throw new Error(`age exited ${code}`);
  return Buffer.concat(chunks);
}

/**
 * A TCP proxy to `target` that lets the answers through slowly (64 KiB every 20 ms, about 3 MiB/s),
 * so a download is still running when the test interrupts it.
 */
async function slowProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      upstream.pause();
      const send = async () => {
        for (let i = 0; i < chunk.length; i += 64 * 1024) {
          if (client.destroyed) return;
          client.write(chunk.subarray(i, i + 64 * 1024));
          await new Promise((r) => setTimeout(r, 20));
        }
        upstream.resume();
      };
      void send();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${own}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.each(DATABASES)("sf end-to-end encryption (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let work: string;
  let sender: Record<string, string>;
  let recipient: Record<string, string>;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    work = await tempDir("sf-e2e-enc-");
    const u = await t.createUser();
    sender = { ...baseEnv(path.join(work, "sender-home")), SF_URL: t.url, SF_TOKEN: u.token };
    // The recipient has no account and no config: only the link.
    recipient = baseEnv(path.join(work, "recipient-home"));
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  /** The link as this test reaches the server (the public URL may name another host). */
  const local = (link: string) => link.replace(/^https?:\/\/[^/]+/, t.url);
  const ok = (r: Run) => expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);

  /** Every blob the server stored, read from its data folder. */
  async function storedBlobs(): Promise<Buffer[]> {
    const root = path.join(t.dataDir, "blobs");
    return Promise.all((await filesUnder(root)).map((f) => fs.readFile(path.join(root, f))));
  }

  it("send --encrypt a folder: the printed full link opens it with sf download; the email has no key and no name; the disk holds no plaintext", async () => {
    const to = `cfo-${crypto.randomBytes(3).toString("hex")}@acme.com`;
    const { dir, files } = await secretTree(work, `${MARKER}-q4`);
    const sent = await runSf(["send", dir, "--to", to, "--encrypt", "--message", `read the ${MARKER} first`], { env: sender });
    ok(sent);
    const link = sent.stdout.trim();
    expect(link).toMatch(/\/l\/[A-Za-z0-9_-]{43}#AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(sent.stderr).toContain("encrypted end to end");
    expect(sent.stderr).toContain("The server's email carries the link without the key: send the link yourself, whole, another way.");
    const key = link.slice(link.indexOf("#") + 1);
    expect(sent.stderr).not.toContain(key);

    // The recipient's email: the link without its key, no name, no message, and where the key comes from.
    const mail = await smtp.waitForMail((m) => m.envelope.to.includes(to));
    const raw = mail.raw.toString("utf8");
    expect(raw).not.toContain(MARKER);
    expect(raw).not.toContain("AGE-SECRET-KEY-1");
    expect(raw).not.toContain(key.slice(16, 40));
    expect(mail.parsed.text).toContain(link.slice(0, link.indexOf("#")));
    expect(mail.parsed.text).toMatch(/#AGE-SECRET-KEY-/);
    // What the server keeps on disk is ciphertext only.
    for (const blob of await storedBlobs()) expect(blob.includes(MARKER)).toBe(false);

    const out = path.join(work, "got-x25519");
    const got = await runSf(["download", local(link), "-o", out], { env: recipient });
    ok(got);
    // The names and the message are shown decrypted before the download starts.
    expect(got.stderr).toContain(`read the ${MARKER} first`);
    expect(got.stderr).toContain(`${MARKER}-q4/${MARKER}-plan.txt`);
    expect(got.stderr).toMatch(/Encrypted end to end \(key in the link\)/);
    await expectSameTree(path.join(out, `${MARKER}-q4`), files);

    // --list: the decrypted names, one a line.
    const list = await runSf(["download", local(link), "--list"], { env: recipient });
    ok(list);
    expect(
      list.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t")[0]),
    ).toEqual(
      Object.keys(files)
        .map((f) => `${MARKER}-q4/${f}`)
        .sort(),
    );
  });

  it("--json carries each recipient's full link; Debian's age opens a ciphertext fetched from the API with the link's key", async () => {
    const { dir, files } = await secretTree(work, "for-age");
    const sent = await runSf(["send", dir, "--to", "a@acme.com", "--to", "b@acme.com", "--encrypt", "--json"], { env: sender });
    ok(sent);
    const json = JSON.parse(sent.stdout) as {
      magic_link: string;
      links: { recipient_email: string; magic_link: string }[];
      files: { id: string; name: string; size: number }[];
      encryption: { scheme: string };
    };
    expect(json.encryption.scheme).toBe("age-x25519");
    expect(json.links).toHaveLength(2);
    const keys = json.links.map((l) => l.magic_link.split("#")[1]);
    for (const k of keys) expect(k).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    // One package, one key: every recipient's link carries it.
    expect(keys[0]).toBe(keys[1]);
    expect(json.magic_link).toBe(json.links[0]!.magic_link);
    // The names in the JSON are the opened ones.
    expect(json.files.map((f) => f.name).sort()).toEqual(
      Object.keys(files)
        .map((f) => `for-age/${f}`)
        .sort(),
    );

    // The API's file URL serves the ciphertext; age -d -i <the fragment as a key file> opens it.
    const link = local(json.links[1]!.magic_link);
    const secret = /\/l\/([A-Za-z0-9_-]{43})#/.exec(link)![1]!;
    const view = (await (await fetch(`${t.api}/links/${secret}`)).json()) as { files: { id: string; name: string; size: number }[] };
    const plan = json.files.find((f) => f.name.endsWith(`${MARKER}-numbers.bin`))!;
    const stored = view.files.find((f) => f.id === plan.id)!;
    expect(stored.name).toMatch(/^[0-9a-f]{32}\.age$/);
    const cipher = path.join(work, "numbers.age");
    await run("curl", ["-sSf", "-o", cipher, `${t.api}/links/${secret}/files/${stored.id}`]);
    expect((await fs.stat(cipher)).size).toBe(stored.size);
    const keyFile = path.join(work, "key.txt");
    await fs.writeFile(keyFile, `${keys[0]}\n`, { mode: 0o600 });
    const plain = (await run("age", ["-d", "-i", keyFile, cipher], { encoding: "buffer" })).stdout;
    expect(plain.equals(files[`sub/${MARKER}-numbers.bin`]!)).toBe(true);
  });

  it("--notify none: the server emails nobody; the printed full link is the only copy", async () => {
    const quiet = `quiet-${crypto.randomBytes(3).toString("hex")}@acme.com`;
    const { dir, files } = await secretTree(work, "unmailed");
    const sent = await runSf(["send", dir, "--to", quiet, "--encrypt", "--notify", "none"], { env: sender });
    ok(sent);
    expect(sent.stderr).toContain("The server sent no email: send the link yourself, whole.");
    expect(sent.stderr).not.toMatch(/Email to/);
    const link = sent.stdout.trim();
    expect(link).toMatch(/#AGE-SECRET-KEY-1/);
    // A package sent after it, with mail: once its email arrived, the mail worker had its turn at both.
    const canary = `canary-${crypto.randomBytes(3).toString("hex")}@acme.com`;
    const plainFile = path.join(work, "canary.txt");
    await fs.writeFile(plainFile, "nothing secret");
    ok(await runSf(["send", plainFile, "--to", canary], { env: sender }));
    await smtp.waitForMail((m) => m.envelope.to.includes(canary));
    expect(smtp.messages.filter((m) => m.envelope.to.includes(quiet))).toEqual([]);
    const bad = await runSf(["send", dir, "--to", quiet, "--notify", "some"], { env: sender });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--notify takes all or none (got "some")');

    const out = path.join(work, "unmailed-got");
    ok(await runSf(["download", local(link), "-o", out], { env: recipient }));
    await expectSameTree(path.join(out, "unmailed"), files);
  });

  it("--passphrase-stdin: the emailed link works as is with the passphrase; a wrong one exits 3 and writes nothing", async () => {
    const to = `pp-${crypto.randomBytes(3).toString("hex")}@acme.com`;
    const { dir, files } = await secretTree(work, "by-passphrase");
    const passphrase = `correct horse ${MARKER} staple`;
    const sent = await runSf(["send", dir, "--to", to, "--encrypt", "--passphrase-stdin"], { env: sender, input: `${passphrase}\n` });
    ok(sent);
    const link = sent.stdout.trim();
    expect(link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    expect(sent.stderr).toContain("Encrypted end to end with your passphrase: the emailed link works as is");
    expect(sent.stderr).not.toContain(passphrase);

    const mail = await smtp.waitForMail((m) => m.envelope.to.includes(to));
    expect(mail.raw.toString("utf8")).not.toContain(MARKER);
    expect(mail.parsed.text).toContain(link);
    for (const blob of await storedBlobs()) expect(blob.includes(passphrase)).toBe(false);

    const wrongOut = path.join(work, "pp-wrong");
    const wrong = await runSf(["download", local(link), "-o", wrongOut, "--passphrase-stdin"], { env: recipient, input: "not the passphrase\n" });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("error: wrong passphrase: it does not open this package; nothing was written");
    expect(await filesUnder(wrongOut)).toEqual([]);

    // Without a terminal and without --passphrase-stdin: says how to give it.
    const none = await runSf(["download", local(link), "-o", wrongOut], { env: recipient });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/encrypted with a passphrase: pipe it in with --passphrase-stdin/);

    const out = path.join(work, "pp-got");
    const got = await runSf(["download", local(link), "-o", out, "--passphrase-stdin"], { env: recipient, input: `${passphrase}\n` });
    ok(got);
    expect(got.stderr).toMatch(/Encrypted end to end \(passphrase\)/);
    await expectSameTree(path.join(out, "by-passphrase"), files);
  });

  it("a link without its key, with a malformed or a wrong key, or a tampered file: each exits non-zero with its sentence and writes no file", async () => {
    const { dir } = await secretTree(work, "to-break");
    const sent = await runSf(["send", dir, "--to", "x@acme.com", "--encrypt"], { env: sender });
    ok(sent);
    const link = local(sent.stdout.trim());
    const bare = link.slice(0, link.indexOf("#"));
    const out = path.join(work, "broken");

    const missing = await runSf(["download", bare, "-o", out], { env: recipient });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("the link has no key: the full link ends with #AGE-SECRET-KEY-1…, a part the emailed link leaves out");
    expect(await filesUnder(out)).toEqual([]);

    const malformed = await runSf(["download", `${bare}#not-a-key`, "-o", out], { env: recipient });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("is not an age key (AGE-SECRET-KEY-1…)");

    const other = (await generateIdentity()).identity;
    const wrong = await runSf(["download", `${bare}#${other}`, "-o", out], { env: recipient });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("the key in the link does not open this package");
    expect(wrong.stderr).not.toContain(other);
    expect(await filesUnder(out)).toEqual([]);

    // Flip one byte in the middle of the largest file's stored ciphertext.
    const secret = /\/l\/([A-Za-z0-9_-]{43})/.exec(link)![1]!;
    const view = (await (await fetch(`${t.api}/links/${secret}`)).json()) as { files: { sha256: string; size: number }[] };
    const big = view.files.reduce((a, b) => (a.size >= b.size ? a : b));
    const root = path.join(t.dataDir, "blobs");
    let tampered = false;
    for (const f of await filesUnder(root)) {
      const data = await fs.readFile(path.join(root, f));
      if (crypto.createHash("sha256").update(data).digest("hex") !== big.sha256) continue;
      data[Math.floor(data.length / 2)]! ^= 0x01;
      await fs.writeFile(path.join(root, f), data);
      tampered = true;
    }
    expect(tampered).toBe(true);
    const broken = await runSf(["download", link, "-o", out], { env: recipient });
    expect(broken.code, broken.stderr).toBe(1);
    expect(broken.stderr).toMatch(/numbers\.bin/);
    expect(broken.stderr).toContain("was changed after it was encrypted");
    expect(broken.stderr).toContain("nothing was written");
    expect(broken.stderr).not.toContain("AGE-SECRET-KEY");
    // The other files may have arrived whole and checked; the tampered one left nothing, not even a part.
    expect((await filesUnder(out)).filter((f) => f.includes("numbers"))).toEqual([]);
  });

  it("sf request --encrypt → sf upload encrypts → sf download <id> opens it with the config's identity; a profile with none or another one says so", async () => {
    const home = path.join(work, "requester");
    const u = await t.createUser();
    const env = baseEnv(home);
    ok(await runSf(["login", "--url", t.url, "--email", u.user.email, "--password-stdin"], { env, input: `${u.password}\n` }));

    const req = await runSf(["request", "--from", "alice@example.com", "--title", "Scans", "--encrypt", "--json"], { env });
    ok(req);
    const r = JSON.parse(req.stdout) as { id: string; magic_link: string; encryption: { scheme: string; recipient: string } };
    expect(r.encryption.scheme).toBe("age-x25519");
    expect(r.encryption.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    const cfgFile = path.join(home, ".config", "speedyfiles", "config.json");
    expect((await fs.stat(cfgFile)).mode & 0o777).toBe(0o600);
    const cfg = JSON.parse(await fs.readFile(cfgFile, "utf8")) as { identities: Record<string, string> };
    expect(cfg.identities.default).toMatch(/^AGE-SECRET-KEY-1/);
    // A second request keeps the same identity.
    const again = JSON.parse((await runSf(["request", "--from", "bob@example.com", "--encrypt", "--json"], { env })).stdout) as typeof r;
    expect(again.encryption.recipient).toBe(r.encryption.recipient);

    const { dir, files } = await secretTree(work, "scans");
    const up = await runSf(["upload", local(r.magic_link), dir, "--done"], { env: recipient });
    ok(up);
    expect(up.stderr).toContain("Encrypted end to end: each file, its name and size are encrypted here");
    for (const blob of await storedBlobs()) expect(blob.includes(MARKER)).toBe(false);

    const out = path.join(work, "scans-got");
    const got = await runSf(["download", r.id, "-o", out], { env });
    ok(got);
    await expectSameTree(path.join(out, "scans"), files);

    // Another profile (same server, no identity): clear words, exit 3, nothing written.
    const other = await runSf(["download", r.id, "-o", path.join(work, "scans-other"), "--profile", "work"], {
      env: { ...env, SF_URL: t.url, SF_TOKEN: u.token },
    });
    expect(other.code).toBe(3);
    expect(other.stderr).toContain(`encrypted end to end to ${r.encryption.recipient}`);
    expect(other.stderr).toContain("holds no identity for profile work");
    expect(await filesUnder(path.join(work, "scans-other"))).toEqual([]);

    // A profile whose identity is another one: names both public halves, never a secret key.
    const stranger = await generateIdentity();
    const withOther = JSON.parse(await fs.readFile(cfgFile, "utf8")) as { identities: Record<string, string> };
    withOther.identities.work = stranger.identity;
    await fs.writeFile(cfgFile, JSON.stringify(withOther), { mode: 0o600 });
    const mismatch = await runSf(["download", r.id, "-o", path.join(work, "scans-other"), "--profile", "work"], {
      env: { ...env, SF_URL: t.url, SF_TOKEN: u.token },
    });
    expect(mismatch.code).toBe(3);
    expect(mismatch.stderr).toContain(`but the identity in ${cfgFile} (profile work) is ${stranger.recipient}`);
    expect(mismatch.stderr).not.toContain("AGE-SECRET-KEY");
    expect(await filesUnder(path.join(work, "scans-other"))).toEqual([]);
  });

  it("a link password and a passphrase without a terminal: --password-stdin with --passphrase-file, to send and to download", async () => {
    const { dir, files } = await secretTree(work, "both-secrets");
    const passphrase = `file ${MARKER} passphrase`;
    const password = "link-password-42";
    const ppFile = path.join(work, "pp.txt");
    await fs.writeFile(ppFile, `${passphrase}\nsecond line ignored\n`, { mode: 0o600 });
    const sent = await runSf(["send", dir, "--to", "both@acme.com", "--encrypt", "--password-stdin", "--passphrase-file", ppFile], {
      env: sender,
      input: `${password}\n`,
    });
    ok(sent);
    expect(sent.stderr).toContain("Encrypted end to end with your passphrase");
    expect(sent.stderr).not.toContain(passphrase);
    const link = local(sent.stdout.trim());

    // --passphrase-stdin alone: the link's password is missing; the hint names the way to give both.
    const out = path.join(work, "both-got");
    const hint = await runSf(["download", link, "-o", out, "--passphrase-stdin"], { env: recipient, input: `${passphrase}\n` });
    expect(hint.code).toBe(2);
    expect(hint.stderr).toContain("this link needs a password: pipe it in with --password-stdin and give the passphrase with --passphrase-file <path>");
    expect(await filesUnder(out)).toEqual([]);

    const got = await runSf(["download", link, "-o", out, "--password-stdin", "--passphrase-file", ppFile], { env: recipient, input: password });
    ok(got);
    expect(got.stderr).toMatch(/Encrypted end to end \(passphrase\)/);
    await expectSameTree(path.join(out, "both-secrets"), files);
  });

  it("a sealed message with C1, bidi and line-separator characters: shown escaped by sf download and --list, and \\uXXXX in --list --json", async () => {
    const { identity, recipient: to } = await generateIdentity();
    const message = `colour\u009b32m green\u001b[31m red \u202eexe.txt\u2066 x\u2028y\u0085z\u200f end`;
    const api = `${t.api}`;
    const auth = { authorization: `Bearer ${sender.SF_TOKEN}` };
    const created = await fetch(`${api}/packages`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        title: "hostile message",
        ttl_days: 1,
        direction: "outbound",
        recipients: [{ email: "h@acme.com" }],
        encryption: { scheme: "age-x25519" },
        sealed_message: (await ageEncrypt(to, message)).toString("base64"),
      }),
    });
    expect(created.status).toBe(201);
    const pkg = (await created.json()) as { id: string };
    const plain = Buffer.from("plain text\n");
    const entry = { name: "note.txt", size: plain.length, content_type: "text/plain", sha256: crypto.createHash("sha256").update(plain).digest("hex") };
    const form = new FormData();
    form.append("sealed", (await ageEncrypt(to, JSON.stringify(entry))).toString("base64"));
    form.append("file", new Blob([new Uint8Array(await ageEncrypt(to, plain))]), `${crypto.randomBytes(16).toString("hex")}.age`);
    expect((await fetch(`${api}/packages/${pkg.id}/files`, { method: "POST", headers: auth, body: form })).status).toBe(201);
    const fin = await fetch(`${api}/packages/${pkg.id}/finalize`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ notify_recipients: false }),
    });
    expect(fin.status).toBe(200);
    const link = `${local(((await fin.json()) as { magic_link: string }).magic_link)}#${identity}`;

    const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
    const out = path.join(work, "hostile-got");
    const got = await runSf(["download", link, "-o", out], { env: recipient });
    ok(got);
    expect(got.stderr).toContain("colour");
    expect(got.stderr).toContain(" end");
    expect(got.stderr.replace(/\n/g, "")).not.toMatch(raw);
    expect(await fs.readFile(path.join(out, "note.txt"), "utf8")).toBe("plain text\n");

    const list = await runSf(["download", link, "--list"], { env: recipient });
    ok(list);
    expect(list.stderr).toContain("colour");
    expect(`${list.stdout}${list.stderr}`.replace(/\n/g, "")).not.toMatch(raw);

    const json = await runSf(["download", link, "--list", "--json"], { env: recipient });
    ok(json);
    expect(json.stdout.replace(/\n/g, "")).not.toMatch(raw);
    expect(json.stdout).toContain("\\u009b32m");
    expect(json.stdout).toContain("\\u202e");
    expect(json.stdout).toContain("\\u2028");
    // Escaped, not lost: a JSON reader gets the message as it was sealed.
    expect((JSON.parse(json.stdout) as { message: string }).message).toBe(message);
  });

  it("Ctrl-C during an encrypted download says the unfinished files start over, exits 130, and leaves no plaintext at the target", async () => {
    const dir = path.join(work, "slow");
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, "big.bin"), crypto.randomBytes(12 * 1024 * 1024));
    const sent = await runSf(["send", dir, "--to", "slow@acme.com", "--encrypt", "--notify", "none"], { env: sender });
    ok(sent);
    const proxy = await slowProxy(t.url);
    try {
      const link = sent.stdout.trim().replace(/^https?:\/\/[^/]+/, proxy.url);
      const out = path.join(work, "slow-got");
      const p = startSf(["download", link, "-o", out], recipient);
      p.child.stdin.end();
      const decrypting = async () => {
        const names = await fs.readdir(path.join(out, "slow")).catch(() => [] as string[]);
        const part = names.find((n) => /^\.sf-[0-9a-f]{16}\.decrypting$/.test(n));
        return part ? (await fs.stat(path.join(out, "slow", part)).catch(() => ({ size: 0 }))).size > 256 * 1024 : false;
      };
      await waitUntil(decrypting, 30_000, () => `no .decrypting file grew; stderr: ${p.out.stderr}`);
      p.child.kill("SIGINT");
      const r = await p.done;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toContain("error: interrupted: run the same command again to start the unfinished files over");
      expect(r.stderr).not.toContain("to resume");
      expect(await filesUnder(out)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it("on a terminal, --passphrase asks twice without echo, and the passphrase is not shown", async () => {
    const { dir, files } = await secretTree(work, "typed");
    const passphrase = `typed ${MARKER} words`;
    const pty = new Pty(`${process.execPath} ${BIN} send ${dir} --to t@acme.com --encrypt --passphrase`, { ...sender, TERM: "xterm-256color" });
    await pty.expect(/Passphrase for the files[^:]*: $/);
    pty.type(`${passphrase}\r`);
    await pty.expect(/Again, to be sure: $/);
    pty.type(`${passphrase}\r`);
    expect(await pty.done, pty.text.slice(-600)).toBe(0);
    // Neither whole nor in part (the progress display does show the sender's own file names).
    expect(pty.text).not.toContain(passphrase);
    expect(pty.text).not.toContain(`${MARKER} words`);
    expect(pty.text).not.toContain(`typed ${MARKER}`);
    const link = /(https?:\/\/\S+\/l\/[A-Za-z0-9_-]{43})/.exec(pty.text)![1]!;

    const out = path.join(work, "typed-got");
    const got = await runSf(["download", local(link), "-o", out, "--passphrase-stdin"], { env: recipient, input: passphrase });
    ok(got);
    await expectSameTree(path.join(out, "typed"), files);
  });
  it("on a terminal, a wrong passphrase is asked again (3 tries in all); the third wrong one exits 3 and writes nothing", { timeout: 240_000 }, async () => {
    const { dir, files } = await secretTree(work, "retyped");
    const passphrase = `retyped ${MARKER} words`;
    const sent = await runSf(["send", dir, "--to", "r@acme.com", "--encrypt", "--passphrase-stdin", "--notify", "none"], { env: sender, input: passphrase });
    ok(sent);
    const link = local(sent.stdout.trim());
    const env = { ...recipient, TERM: "xterm-256color" };

    const out = path.join(work, "retyped-got");
    const pty = new Pty(`${process.execPath} ${BIN} download ${link} -o ${out}`, env);
    await pty.expect(/Passphrase of the files: $/);
    pty.type("not it at all\r");
    await pty.expect(/That passphrase is wrong; try again\.\r?\nPassphrase of the files: $/, 60_000);
    pty.type(`${passphrase}\r`);
    expect(await pty.done).toBe(0);
    expect(pty.text).not.toContain(passphrase);
    await expectSameTree(path.join(out, "retyped"), files);

    const badOut = path.join(work, "retyped-bad");
    const bad = new Pty(`${process.execPath} ${BIN} download ${link} -o ${badOut}`, env);
    for (let i = 0; i < 3; i++) {
      await bad.expect(new RegExp(`(Passphrase of the files: [^]*){${i + 1}}$`), 60_000);
      bad.type(`wrong guess ${i}\r`);
    }
    expect(await bad.done).toBe(3);
    expect(bad.text.split("That passphrase is wrong; try again.").length - 1).toBe(2);
    expect(bad.text).toContain("error: wrong passphrase: it does not open this package; nothing was written");
    expect(await filesUnder(badOut)).toEqual([]);
  });
});

describe("sf encryption flags that cannot work together", () => {
  it("are refused before anything is read or sent, each with its sentence (exit 2)", async () => {
    const env = { SF_URL: "http://127.0.0.1:9", SF_TOKEN: `sf_${"A".repeat(43)}` };
    const dir = await tempDir("sf-enc-flags-");
    try {
      await fs.writeFile(path.join(dir, "a.txt"), "a");
      await fs.writeFile(path.join(dir, "empty"), "\nnot the first line\n");
      const cases: [string[], string, string?][] = [
        [["send", dir, "--to", "a@acme.com", "--passphrase-stdin"], "--passphrase-stdin sets the passphrase of an encrypted package: add --encrypt", "pw"],
        [["send", dir, "--to", "a@acme.com", "--encrypt", "--passphrase", "--passphrase-stdin"], "--passphrase and --passphrase-stdin cannot be used together"],
        [["send", dir, "--to", "a@acme.com", "--encrypt", "--passphrase"], "--passphrase asks on a terminal; without one use --passphrase-stdin"],
        [["send", dir, "--to", "a@acme.com", "--encrypt", "--passphrase-stdin"], "the passphrase must be at least 8 characters long (got 5)", "short"],
        [
          ["send", dir, "--to", "a@acme.com", "--encrypt", "--passphrase-stdin", "--password-stdin"],
          "--passphrase-stdin and --password-stdin both read stdin: give the passphrase with --passphrase-file <path>",
          "long enough",
        ],
        [["send", dir, "--to", "a@acme.com", "--encrypt", "--passphrase-file", path.join(dir, "empty")], "--passphrase-file: the first line of", "long enough"],
        [["send", dir, "--to", "a@acme.com", "--encrypt", "--passphrase-file", path.join(dir, "missing")], "--passphrase-file: cannot read"],
        [
          ["send", dir, "--to", "a@acme.com", "--encrypt", "--passphrase-stdin", "--passphrase-file", path.join(dir, "a.txt")],
          "--passphrase-stdin and --passphrase-file cannot be used together",
        ],
        [["send", dir, "--to", "a@acme.com", "--passphrase-file", path.join(dir, "a.txt")], "--passphrase-file sets the passphrase of an encrypted package: add --encrypt"],
        [
          ["download", "https://files.example.com/l/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--password-stdin", "--passphrase-stdin"],
          "give the passphrase with --passphrase-file <path>",
          "pw",
        ],
        [
          ["download", "https://files.example.com/l/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--passphrase-file", path.join(dir, "empty")],
          "--passphrase-file: the first line of",
        ],
        [["send", dir, "--to", "a@acme.com", "--encrypt", "--idempotency-key", "release-1.2.3"], "--idempotency-key cannot be used with --encrypt"],
        [["request", "--from", "a@acme.com", "--encrypt", "--message", "hi"], "an encrypted request carries no message"],
        [["download", "https://files.example.com/l/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA#AGE-SECRET-KEY-1NOPE"], "is not an age key"],
      ];
      for (const [argv, says, stdin] of cases) {
        const r = await sf(argv, { env, ...(stdin !== undefined ? { stdin } : {}) });
        expect(r.code, `${argv.join(" ")}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(says);
        expect(r.stderr).not.toContain("AGE-SECRET-KEY-1NOPE");
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
