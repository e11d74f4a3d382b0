import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { blobPath, filesUnder, postPackage, rawMultipart, sha256 } from "@speedyfiles/test-utils/uploads";
import { expectError, expectUnauthorized, expectValidationError } from "@speedyfiles/test-utils/expect";
import { finalize } from "@speedyfiles/test-utils/links";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { signedIn } from "@speedyfiles/test-utils/web";

/**
 * End-to-end encryption as the server sees it: it takes, keeps and returns what the client
 * sealed (age files, base64) and never reads it; every file of an encrypted package carries its
 * sealed manifest entry, and nothing is stored for one that does not.
 */

const TUS = { "Tus-Resumable": "1.0.0" };
const b64 = (s: string) => Buffer.from(s).toString("base64");
/** A string the plaintext holds and no ciphertext may. */
const MARKER = `plaintext-marker-${crypto.randomBytes(6).toString("hex")}`;

interface Keys {
  identity: string;
  recipient: string;
}

async function newKeys(): Promise<Keys> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

async function seal(recipient: string, plaintext: Uint8Array | string): Promise<Uint8Array> {
  const e = new Encrypter();
  e.addRecipient(recipient);
  return e.encrypt(plaintext);
}

async function open(identity: string, ciphertext: Uint8Array): Promise<string> {
  const d = new Decrypter();
  d.addIdentity(identity);
  return d.decrypt(ciphertext, "text");
}

/** An encrypted file as a client makes it: the ciphertext, an opaque name and the sealed entry. */
async function encryptedFile(keys: Keys, name: string, content: string) {
  const ciphertext = Buffer.from(await seal(keys.recipient, content));
  const entry = { name, size: Buffer.byteLength(content), content_type: "text/plain", sha256: sha256(content) };
  const sealed = Buffer.from(await seal(keys.recipient, JSON.stringify(entry))).toString("base64");
  return { ciphertext, sealed, opaqueName: `${crypto.randomBytes(16).toString("hex")}.age`, entry };
}

/** A multipart upload with the `sealed` field before the file part (or after it). */
function multipart(url: string, name: string, bytes: Buffer, opts: { sealed?: string; sealedAfter?: boolean; token?: string } = {}) {
  const form = new FormData();
  if (opts.sealed !== undefined && !opts.sealedAfter) form.append("sealed", opts.sealed);
  form.append("file", new Blob([new Uint8Array(bytes)]), name);
  if (opts.sealed !== undefined && opts.sealedAfter) form.append("sealed", opts.sealed);
  return fetch(url, { method: "POST", body: form, headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} });
}

/** A tus creation carrying the whole file (creation-with-upload). */
function tusUpload(url: string, name: string, bytes: Buffer, opts: { sealed?: string; token?: string } = {}) {
  const meta = [`filename ${b64(name)}`, `content_type ${b64("application/octet-stream")}`, ...(opts.sealed !== undefined ? [`sealed ${b64(opts.sealed)}`] : [])];
  return fetch(url, {
    method: "POST",
    headers: {
      ...TUS,
      ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
      "Upload-Length": String(bytes.length),
      "Upload-Metadata": meta.join(","),
      "Content-Type": "application/offset+octet-stream",
    },
    body: new Uint8Array(bytes),
  });
}

const base = { title: "Q4 financials", recipient_email: "cfo@acme.test", direction: "outbound", ttl_days: 14 };

describe.each(DATABASES)("end-to-end encryption on the server (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let alice: { token: string; user: { email: string }; password: string };
  let bob: { token: string };
  let keys: Keys;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    alice = await t.createUser();
    bob = await t.createUser();
    keys = await newKeys();
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  async function create(body: Record<string, unknown>) {
    const res = await postPackage(t, alice.token, { ...base, ...body });
    expect(res.status, await res.clone().text()).toBe(201);
    return (await res.json()) as { id: string; encryption: unknown; sealed_message: string | null; message: string | null };
  }

  /** Blobs, unfinished uploads on disk and rows: what an upload may leave behind. */
  async function leftovers(packageId: string) {
    const { db } = t.running.services;
    return {
      blobs: await filesUnder(path.join(t.dataDir, "blobs")),
      uploadFiles: await filesUnder(path.join(t.dataDir, "uploads")),
      files: Number(((await db("files").where({ package_id: packageId }).count({ n: "*" }).first()) as { n: number | string }).n),
      uploads: Number(((await db("uploads").where({ package_id: packageId }).count({ n: "*" }).first()) as { n: number | string }).n),
    };
  }

  describe("creating a package", () => {
    it("takes each valid shape and returns encryption and sealed_message on create, get and list", async () => {
      const sealedMessage = Buffer.from(await seal(keys.recipient, MARKER)).toString("base64");
      const shapes: [Record<string, unknown>, unknown][] = [
        [{ encryption: { scheme: "age-x25519" }, sealed_message: sealedMessage }, { scheme: "age-x25519" }],
        [{ encryption: { scheme: "age-x25519", recipient: keys.recipient } }, { scheme: "age-x25519", recipient: keys.recipient }],
        [{ encryption: { scheme: "age-scrypt" } }, { scheme: "age-scrypt" }],
        [
          { direction: "inbound", encryption: { scheme: "age-x25519", recipient: keys.recipient } },
          { scheme: "age-x25519", recipient: keys.recipient },
        ],
        [{ message: "plain words" }, null],
      ];
      for (const [body, encryption] of shapes) {
        const created = await create(body);
        const sealed = (body.sealed_message as string | undefined) ?? null;
        expect(created).toMatchObject({ encryption, sealed_message: sealed });
        const got = await (await t.fetch(`/packages/${created.id}`, { token: alice.token })).json();
        expect(got).toMatchObject({ encryption, sealed_message: sealed, message: body.message ?? null });
        const list = await (await t.fetch(`/packages?id_prefix=${created.id.slice(0, 8)}`, { token: alice.token })).json();
        expect(list.items.find((p: { id: string }) => p.id === created.id)).toMatchObject({ encryption, sealed_message: sealed });
      }
      // The message is stored as given: the recipient's key opens it.
      const [first] = shapes;
      expect(await open(keys.identity, Buffer.from(first![0].sealed_message as string, "base64"))).toBe(MARKER);
    });

    it("refuses fields that do not go together, with 422 naming the field, and creates nothing", async () => {
      const { db } = t.running.services;
      const before = await db("packages").count({ n: "*" }).first();
      const cases: [Record<string, unknown>, string][] = [
        [{ encryption: { scheme: "age-x25519" }, message: "in the clear" }, "/body/message"],
        [{ sealed_message: "YWdl" }, "/body/sealed_message"],
        [{ direction: "inbound", encryption: { scheme: "age-scrypt" } }, "/body/encryption/scheme"],
        [{ direction: "inbound", encryption: { scheme: "age-x25519" } }, "/body/encryption/recipient"],
        [{ encryption: { scheme: "age-scrypt", recipient: keys.recipient } }, "/body/encryption/recipient"],
        [{ encryption: { scheme: "age-x25519" }, sealed_message: "YWd" }, "/body/sealed_message"],
        [{ encryption: { scheme: "age-x25519", recipient: "age1notakey" } }, "/body/encryption/recipient"],
        [{ encryption: { scheme: "rot13" } }, "/body/encryption/scheme"],
        [{ encryption: { scheme: "age-x25519", key: "AGE-SECRET-KEY-1" } }, "/body/encryption"],
      ];
      for (const [body, field] of cases) {
        await expectValidationError(await postPackage(t, alice.token, { ...base, ...body }), field);
      }
      expect(await db("packages").count({ n: "*" }).first()).toEqual(before);
    });

    it("answers 401 without a token or with a wrong one", async () => {
      const body = { ...base, encryption: { scheme: "age-x25519" } };
      await expectUnauthorized(await t.fetch("/packages", { method: "POST", json: body }));
      await expectUnauthorized(await t.fetch("/packages", { method: "POST", token: `sf_${"A".repeat(43)}`, json: body }));
    });
  });

  describe("the owner's uploads", () => {
    it("multipart: keeps the sealed entry with the file, stores only ciphertext, and returns both everywhere", async () => {
      const pkg = await create({ encryption: { scheme: "age-x25519" } });
      const f = await encryptedFile(keys, `reports/${MARKER}.txt`, `${MARKER} the numbers`);
      const res = await multipart(`${t.api}/packages/${pkg.id}/files`, f.opaqueName, f.ciphertext, { sealed: f.sealed, token: alice.token });
      expect(res.status).toBe(201);
      const file = await res.json();
      expect(file).toMatchObject({ name: f.opaqueName, size: f.ciphertext.length, sha256: sha256(f.ciphertext), sealed: f.sealed });
      const detail = await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json();
      expect(detail.files).toEqual([file]);
      expect(JSON.parse(await open(keys.identity, Buffer.from(detail.files[0].sealed, "base64")))).toEqual(f.entry);
      // The stored blob is the ciphertext: no plaintext in it, and the key opens it.
      const { db } = t.running.services;
      const row = await db("files").where({ id: file.id }).first("storage_key");
      const stored = await fs.readFile(blobPath(t, row.storage_key));
      expect(stored.equals(f.ciphertext)).toBe(true);
      expect(stored.includes(MARKER)).toBe(false);
      expect(await open(keys.identity, stored)).toBe(`${MARKER} the numbers`);
      // The link's view has it too, with the package's encryption.
      const secret = await finalize(t, alice.token, pkg.id);
      const view = await (await t.fetch(`/links/${secret}`)).json();
      expect(view).toMatchObject({ encryption: { scheme: "age-x25519" }, sealed_message: null, message: null });
      expect(view.files).toEqual([file]);
    });

    it("tus: keeps the sealed entry with the upload until its last byte, then with the file", async () => {
      const pkg = await create({ encryption: { scheme: "age-scrypt" } });
      const f = await encryptedFile(keys, "big.txt", `${MARKER} resumable`);
      const half = Math.floor(f.ciphertext.length / 2);
      const res = await fetch(`${t.api}/packages/${pkg.id}/uploads`, {
        method: "POST",
        headers: {
          ...TUS,
          Authorization: `Bearer ${alice.token}`,
          "Upload-Length": String(f.ciphertext.length),
          "Upload-Metadata": `filename ${b64(f.opaqueName)},sealed ${b64(f.sealed)}`,
        },
      });
      expect(res.status).toBe(201);
      const location = res.headers.get("location")!;
      const { db } = t.running.services;
      expect(
        (
          await db("uploads")
            .where({ id: location.split("/").pop() })
            .first("sealed")
        ).sealed,
      ).toBe(f.sealed);
      const patch = (from: number, to: number) =>
        fetch(`${t.url}${location}`, {
          method: "PATCH",
          headers: { ...TUS, Authorization: `Bearer ${alice.token}`, "Upload-Offset": String(from), "Content-Type": "application/offset+octet-stream" },
          body: new Uint8Array(f.ciphertext.subarray(from, to)),
        });
      expect((await patch(0, half)).status).toBe(204);
      const last = await patch(half, f.ciphertext.length);
      expect(last.status).toBe(200);
      const file = await last.json();
      expect(file).toMatchObject({ name: f.opaqueName, size: f.ciphertext.length, sha256: sha256(f.ciphertext), sealed: f.sealed });
      const detail = await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json();
      expect(detail.files).toEqual([file]);
    });

    it("refuses a file of an encrypted package without its sealed entry (sealed_required), leaving nothing behind", async () => {
      const pkg = await create({ encryption: { scheme: "age-x25519" } });
      const f = await encryptedFile(keys, "a.txt", MARKER);
      const before = await leftovers(pkg.id);
      await expectValidationError(await multipart(`${t.api}/packages/${pkg.id}/files`, f.opaqueName, f.ciphertext, { token: alice.token }), "/body/sealed", "sealed_required");
      await expectValidationError(
        await tusUpload(`${t.api}/packages/${pkg.id}/uploads`, f.opaqueName, f.ciphertext, { token: alice.token }),
        "/header/Upload-Metadata/sealed",
        "sealed_required",
      );
      expect(await leftovers(pkg.id)).toEqual(before);
      expect(before).toMatchObject({ files: 0, uploads: 0 });
      // The name is free: the same file with its entry goes in.
      expect((await multipart(`${t.api}/packages/${pkg.id}/files`, f.opaqueName, f.ciphertext, { sealed: f.sealed, token: alice.token })).status).toBe(201);
    });

    it("refuses a sealed entry on a plain package, one too long, one not base64, and one after the file part", async () => {
      const plain = await create({});
      const enc = await create({ encryption: { scheme: "age-x25519" } });
      const f = await encryptedFile(keys, "a.txt", MARKER);
      const before = { plain: await leftovers(plain.id), enc: await leftovers(enc.id) };
      const long = "A".repeat(8196);
      const multi = (id: string, sealed: string, sealedAfter = false) =>
        multipart(`${t.api}/packages/${id}/files`, f.opaqueName, f.ciphertext, { sealed, sealedAfter, token: alice.token });
      const tus = (id: string, sealed: string) => tusUpload(`${t.api}/packages/${id}/uploads`, f.opaqueName, f.ciphertext, { sealed, token: alice.token });
      await expectValidationError(await multi(plain.id, f.sealed), "/body/sealed", "validation_failed");
      await expectValidationError(await tus(plain.id, f.sealed), "/header/Upload-Metadata/sealed", "validation_failed");
      for (const bad of [long, "not base64!", "YWd"]) {
        await expectValidationError(await multi(enc.id, bad), "/body/sealed", "validation_failed");
        await expectValidationError(await tus(enc.id, bad), "/header/Upload-Metadata/sealed", "validation_failed");
      }
      // After the file part: too late (the file started without it).
      await expectValidationError(await multi(enc.id, f.sealed, true), "/body/sealed", "sealed_required");
      await expectValidationError(await multi(plain.id, f.sealed, true), "/body/sealed", "validation_failed");
      expect({ plain: await leftovers(plain.id), enc: await leftovers(enc.id) }).toEqual(before);
      // 8192 characters is the limit, not over it.
      const edge = await multipart(`${t.api}/packages/${enc.id}/files`, "edge.age", f.ciphertext, { sealed: "A".repeat(8192), token: alice.token });
      expect(edge.status).toBe(201);
    });

    it("answers 401 without a token and 403 to another user, storing nothing", async () => {
      const pkg = await create({ encryption: { scheme: "age-x25519" } });
      const f = await encryptedFile(keys, "a.txt", MARKER);
      const before = await leftovers(pkg.id);
      const files = `${t.api}/packages/${pkg.id}/files`;
      const uploads = `${t.api}/packages/${pkg.id}/uploads`;
      await expectUnauthorized(await multipart(files, f.opaqueName, f.ciphertext, { sealed: f.sealed }));
      await expectUnauthorized(await tusUpload(uploads, f.opaqueName, f.ciphertext, { sealed: f.sealed }));
      await expectError(await multipart(files, f.opaqueName, f.ciphertext, { sealed: f.sealed, token: bob.token }), 403, "package_forbidden");
      await expectError(await tusUpload(uploads, f.opaqueName, f.ciphertext, { sealed: f.sealed, token: bob.token }), 403, "package_forbidden");
      expect(await leftovers(pkg.id)).toEqual(before);
    });
  });

  describe("an encrypted inbound link", () => {
    it("takes multipart and tus uploads with their sealed entries, refuses them without, and the owner reads them", async () => {
      const pkg = await create({ direction: "inbound", title: "Send me your documents", encryption: { scheme: "age-x25519", recipient: keys.recipient } });
      const secret = await finalize(t, alice.token, pkg.id);
      const view = await (await t.fetch(`/links/${secret}`)).json();
      expect(view).toMatchObject({ direction: "inbound", encryption: { scheme: "age-x25519", recipient: keys.recipient }, sealed_message: null });
      const recipient = view.encryption.recipient as string;
      const a = await encryptedFile({ identity: "", recipient }, `passport ${MARKER}.pdf`, `${MARKER} scan`);
      const b = await encryptedFile({ identity: "", recipient }, "payslip.pdf", `${MARKER} payslip`);

      const before = await leftovers(pkg.id);
      await expectValidationError(await multipart(`${t.api}/links/${secret}/files`, a.opaqueName, a.ciphertext), "/body/sealed", "sealed_required");
      await expectValidationError(await tusUpload(`${t.api}/links/${secret}/uploads`, a.opaqueName, a.ciphertext), "/header/Upload-Metadata/sealed", "sealed_required");
      expect(await leftovers(pkg.id)).toEqual(before);

      const viaMultipart = await multipart(`${t.api}/links/${secret}/files`, a.opaqueName, a.ciphertext, { sealed: a.sealed });
      expect(viaMultipart.status).toBe(201);
      expect(await viaMultipart.json()).toMatchObject({ name: a.opaqueName, sealed: a.sealed });
      const viaTus = await tusUpload(`${t.api}/links/${secret}/uploads`, b.opaqueName, b.ciphertext, { sealed: b.sealed });
      expect(viaTus.status).toBe(201);
      expect(await viaTus.json()).toMatchObject({ name: b.opaqueName, sealed: b.sealed });

      const detail = await (await t.fetch(`/packages/${pkg.id}`, { token: alice.token })).json();
      const entries = await Promise.all(detail.files.map(async (f: { sealed: string }) => JSON.parse(await open(keys.identity, Buffer.from(f.sealed, "base64")))));
      expect(entries.sort((x, y) => x.name.localeCompare(y.name))).toEqual([b.entry, a.entry].sort((x, y) => x.name.localeCompare(y.name)));
      for (const f of detail.files as { id: string }[]) {
        const dl = await t.fetch(`/packages/${pkg.id}/files/${f.id}`, { token: alice.token });
        const bytes = new Uint8Array(await dl.arrayBuffer());
        expect(Buffer.from(bytes).includes(MARKER)).toBe(false);
        expect(await open(keys.identity, bytes)).toContain(MARKER);
      }
    });

    it("a plain inbound link refuses a sealed entry", async () => {
      const pkg = await create({ direction: "inbound", title: "Plain request" });
      const secret = await finalize(t, alice.token, pkg.id);
      const f = await encryptedFile(keys, "a.txt", MARKER);
      const before = await leftovers(pkg.id);
      await expectValidationError(await multipart(`${t.api}/links/${secret}/files`, f.opaqueName, f.ciphertext, { sealed: f.sealed }), "/body/sealed");
      await expectValidationError(await tusUpload(`${t.api}/links/${secret}/uploads`, f.opaqueName, f.ciphertext, { sealed: f.sealed }), "/header/Upload-Metadata/sealed");
      expect(await leftovers(pkg.id)).toEqual(before);
      const plain = await multipart(`${t.api}/links/${secret}/files`, "notes.txt", Buffer.from("plain"));
      expect(plain.status).toBe(201);
      expect(await plain.json()).toMatchObject({ name: "notes.txt", sealed: null });
    });
  });

  it("keeps a raw multipart body's sealed field (as curl sends it)", async () => {
    const pkg = await create({ encryption: { scheme: "age-x25519" } });
    const f = await encryptedFile(keys, "a.txt", MARKER);
    const m = rawMultipart(`filename="${f.opaqueName}"`, f.ciphertext, [`Content-Disposition: form-data; name="sealed"\r\n\r\n${f.sealed}`]);
    const res = await t.fetch(`/packages/${pkg.id}/files`, { method: "POST", token: alice.token, headers: { "Content-Type": m.contentType }, body: new Uint8Array(m.body) });
    expect(res.status).toBe(201);
    expect((await res.json()).sealed).toBe(f.sealed);
  });

  /** An encrypted outbound package with one file, finalized; its mail's recipient is `to`. */
  async function sendEncrypted(to: string, encryption: Record<string, unknown>) {
    const sealedMessage = Buffer.from(await seal(keys.recipient, `${MARKER} in the message`)).toString("base64");
    const pkg = await create({ recipient_email: to, encryption, sealed_message: sealedMessage });
    const f = await encryptedFile(keys, `${MARKER}-budget.xlsx`, `${MARKER} numbers`);
    const up = await multipart(`${t.api}/packages/${pkg.id}/files`, f.opaqueName, f.ciphertext, { sealed: f.sealed, token: alice.token });
    expect(up.status).toBe(201);
    const fin = await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token: alice.token });
    expect(fin.status).toBe(200);
    const answer = (await fin.json()) as { magic_link: string; encryption: unknown; sealed_message: string | null };
    // The finalize answer (FinalizedPackage) carries them too; its link has no key (the server has none).
    expect(answer).toMatchObject({ encryption, sealed_message: sealedMessage });
    expect(answer.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    const secret = answer.magic_link.split("/l/")[1]!;
    return { pkg, secret, file: f, sealedMessage };
  }

  /** Everything a mail carries that a person or a program could read. */
  const mailText = (m: ReceivedMail) => [m.raw.toString("utf8"), m.parsed.subject ?? "", m.parsed.text ?? "", String(m.parsed.html ?? "")].join("\n");

  describe("the zip", () => {
    it("is not offered for an encrypted package: GET and HEAD answer 409 package_encrypted", async () => {
      const { secret } = await sendEncrypted("zip@acme.test", { scheme: "age-x25519" });
      const get = await t.fetch(`/links/${secret}/archive`);
      const body = await expectError(get, 409, "package_encrypted");
      expect(body.detail).toMatch(/encrypted end to end.*one by one/);
      const head = await t.fetch(`/links/${secret}/archive`, { method: "HEAD" });
      expect(head.status).toBe(409);
      // The files themselves download as they are (ciphertext), as always.
      const view = await (await t.fetch(`/links/${secret}`)).json();
      const file = await t.fetch(`/links/${secret}/files/${view.files[0].id}`);
      expect(file.status).toBe(200);
      expect(Buffer.from(await file.arrayBuffer()).includes(MARKER)).toBe(false);
    });
  });

  describe("mail", () => {
    it("an encrypted package's email has no message, no file names and no key, and says where the key comes from", async () => {
      const { secret, file, sealedMessage } = await sendEncrypted("cfo-x25519@acme.test", { scheme: "age-x25519" });
      const mail = await smtp.waitForMail((m) => m.envelope.to.includes("cfo-x25519@acme.test"));
      const all = mailText(mail);
      expect(all).not.toContain(MARKER);
      expect(all).not.toContain(sealedMessage.slice(0, 40));
      expect(all).not.toContain(file.opaqueName);
      expect(all).not.toContain(file.sealed.slice(0, 40));
      expect(all).not.toContain(keys.identity);
      expect(all).not.toMatch(/\/l\/[A-Za-z0-9_-]{43}#/);
      const text = mail.parsed.text ?? "";
      expect(text).toContain(`/l/${secret}`);
      expect(text).toMatch(/Download: \S+\/l\/[A-Za-z0-9_-]{43}\n/);
      expect(text).toContain("Files (1, ");
      expect(text).toContain(
        "These files are encrypted end to end. The key that opens them is not in this email: the sender gives you the full link (it ends with #AGE-SECRET-KEY-",
      );
      expect(text).not.toContain("Message:");
    });

    it("a passphrase package's email says the passphrase comes from the sender and the link works as is", async () => {
      const { secret } = await sendEncrypted("cfo-scrypt@acme.test", { scheme: "age-scrypt" });
      const mail = await smtp.waitForMail((m) => m.envelope.to.includes("cfo-scrypt@acme.test"));
      expect(mailText(mail)).not.toContain(MARKER);
      const text = mail.parsed.text ?? "";
      expect(text).toContain(`/l/${secret}\n`);
      expect(text).toContain("These files are encrypted end to end. You need the passphrase the sender gives you; this link works as is.");
      expect(text).not.toContain("AGE-SECRET-KEY");
    });

    it("a plain package's email still lists its names and message", async () => {
      const pkg = await create({ recipient_email: "cfo-plain@acme.test", message: `plain ${MARKER}` });
      const up = await multipart(`${t.api}/packages/${pkg.id}/files`, "budget.xlsx", Buffer.from("plain bytes"), { token: alice.token });
      expect(up.status).toBe(201);
      await finalize(t, alice.token, pkg.id);
      const mail = await smtp.waitForMail((m) => m.envelope.to.includes("cfo-plain@acme.test"));
      const text = mail.parsed.text ?? "";
      expect(text).toContain(`Message:\n  plain ${MARKER}`);
      expect(text).toMatch(/Files \(1, [^)]+\):\n {2}- budget\.xlsx \(/);
      expect(mailText(mail)).not.toContain("encrypted");
    });

    it("an encrypted request's email says uploads are encrypted, and the owner's notice names no file", async () => {
      const pkg = await create({
        direction: "inbound",
        title: "Your papers",
        recipient_email: "uploader@acme.test",
        encryption: { scheme: "age-x25519", recipient: keys.recipient },
      });
      const secret = await finalize(t, alice.token, pkg.id);
      const request = await smtp.waitForMail((m) => m.envelope.to.includes("uploader@acme.test"));
      expect(request.parsed.text).toContain("Files you upload through this link are encrypted end to end");
      expect(request.parsed.text).toContain(`/l/${secret}\n`);
      const f = await encryptedFile(keys, `${MARKER}-passport.pdf`, `${MARKER} scan`);
      expect((await multipart(`${t.api}/links/${secret}/files`, f.opaqueName, f.ciphertext, { sealed: f.sealed })).status).toBe(201);
      expect((await t.fetch(`/links/${secret}/complete`, { method: "POST" })).status).toBe(200);
      const notice = await smtp.waitForMail((m) => m.envelope.to.includes(alice.user.email) && (m.parsed.subject ?? "").includes("Your papers"));
      const all = mailText(notice);
      expect(all).not.toContain(MARKER);
      expect(all).not.toContain(f.opaqueName);
      expect(notice.parsed.text).toContain("Files (1, ");
      expect(notice.parsed.text).toContain("encrypted end to end: sf download decrypts them");
    });
  });

  describe("the owner's package page", () => {
    it("says how the package is encrypted and that the names are opaque, and offers no uploader that would not encrypt", async () => {
      const web = await signedIn(t, alice.user.email, alice.password);
      const x25519 = await create({ encryption: { scheme: "age-x25519" } });
      const page = await (await web.get(`/packages/${x25519.id}`)).text();
      expect(page).toContain("Encrypted end to end (age, key in the link)");
      expect(page).toContain("The names shown are opaque");
      expect(page).not.toContain('id="uploader"');
      const scrypt = await create({ encryption: { scheme: "age-scrypt" } });
      expect(await (await web.get(`/packages/${scrypt.id}`)).text()).toContain("Encrypted end to end (age, passphrase)");
      const plain = await create({});
      const plainPage = await (await web.get(`/packages/${plain.id}`)).text();
      expect(plainPage).not.toContain("Encrypted end to end");
      expect(plainPage).toContain('id="uploader"');
    });
  });
});
