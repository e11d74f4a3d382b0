import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { Decrypter, Encrypter, Stanza } from "age-encryption";
import { beforeAll, describe, expect, it } from "vitest";
import { AgeEncryptTransform, DecryptionError, generateIdentity, SpeedyFilesError, identityToRecipient, openView, splitLinkKey } from "../src/index.js";
import { sealBytes, sealEntry } from "../src/encryption/index.js";
import { ScryptIdentity, ScryptRecipient } from "../src/encryption/scrypt.js";
import { prepareEncrypted } from "../src/encryption/upload.js";
import type { PackageFile } from "../src/index.js";
import { bytes, sha256, tmpDir } from "./helpers/tmp.js";

const run = promisify(execFile);
const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536];

/** `input` in pieces of `piece` bytes, each in one buffer used again and again (as a file's ring of buffers is). */
async function* reused(input: Buffer, piece: number): AsyncGenerator<Buffer> {
  const buf = Buffer.alloc(piece);
  for (let i = 0; i < input.length; i += piece) {
    const n = input.copy(buf, 0, i, Math.min(input.length, i + piece));
    yield buf.subarray(0, n);
  }
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

describe("keys", () => {
  it("a fresh X25519 identity in age's own spelling, and its recipient", async () => {
    const { identity, recipient } = await generateIdentity();
    expect(identity).toMatch(/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/);
    expect(recipient).toMatch(/^age1[02-9ac-hj-np-z]{58}$/);
    expect(await identityToRecipient(identity)).toBe(recipient);
    expect((await generateIdentity()).identity).not.toBe(identity);
  });

  it("splitLinkKey: the link without its # part, and the identity in it", async () => {
    const { identity } = await generateIdentity();
    const link = "https://files.example.com/l/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
    expect(splitLinkKey(`${link}#${identity}`)).toEqual({ link, identity });
    // Lowercased by a chat program: still the same key.
    expect(splitLinkKey(`${link}#${identity.toLowerCase()}`)).toEqual({ link, identity });
    expect(splitLinkKey(link)).toEqual({ link, identity: undefined });
    expect(splitLinkKey(`${link}#`)).toEqual({ link, identity: undefined });
  });

  it("splitLinkKey: a fragment that is not an identity (cut short, one letter changed) is key_malformed", async () => {
    const { identity } = await generateIdentity();
    const link = "https://files.example.com/l/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
    const changed = identity.slice(0, 20) + (identity[20] === "Q" ? "P" : "Q") + identity.slice(21);
    for (const bad of [identity.slice(0, -3), changed, "hello", "AGE-SECRET-KEY-PQ-1ABC"]) {
      const err = (() => {
        try {
          splitLinkKey(`${link}#${bad}`);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DecryptionError);
      expect(err).toMatchObject({ code: "key_malformed" });
      // The message never repeats what was given.
      expect((err as Error).message).not.toContain(bad);
    }
    await expect(identityToRecipient(changed)).rejects.toMatchObject({ code: "key_malformed" });
  });
});

describe("the encrypting upload transform (x25519)", () => {
  let dir: string;
  let identity: string;
  let recipient: string;
  let keyFile: string;
  beforeAll(async () => {
    dir = await tmpDir("sdk-age-");
    ({ identity, recipient } = await generateIdentity());
    keyFile = path.join(dir, "key.txt");
    await fs.writeFile(keyFile, `${identity}\n`, { mode: 0o600 });
  });

  it.each(SIZES)("%i bytes: outputSize is exact, two runs make the same bytes, and both age-encryption and Debian's age decrypt them", async (size) => {
    const plain = bytes(size, size + 7);
    const t = await AgeEncryptTransform.create({ recipient });
    const first = await collect(t.apply(reused(plain, 1000)));
    // Another run with the input in other pieces: the very same ciphertext.
    const second = await collect(t.apply(reused(plain, 65536 + 3)));
    expect(first.length).toBe(t.outputSize(size));
    expect(second.equals(first)).toBe(true);

    const dec = new Decrypter();
    dec.addIdentity(identity);
    expect(Buffer.from(await dec.decrypt(first)).equals(plain)).toBe(true);

    const file = path.join(dir, `x-${size}.age`);
    await fs.writeFile(file, first);
    const { stdout } = await run("age", ["-d", "-i", keyFile, file], { encoding: "buffer", maxBuffer: 1024 * 1024 });
    expect(sha256(stdout)).toBe(sha256(plain));
  });

  it("another transform of the same file makes other bytes (a fresh file key and nonce per file)", async () => {
    const plain = bytes(1000);
    const a = await collect((await AgeEncryptTransform.create({ recipient })).apply(reused(plain, 100)));
    const b = await collect((await AgeEncryptTransform.create({ recipient })).apply(reused(plain, 100)));
    expect(a.equals(b)).toBe(false);
    expect(a.includes(plain.subarray(0, 32))).toBe(false);
  });

  it("a changed byte anywhere in the payload fails decryption", async () => {
    const plain = bytes(3 * 65536 + 5);
    const t = await AgeEncryptTransform.create({ recipient });
    const out = await collect(t.apply(reused(plain, 4096)));
    out[out.length - 70_000]! ^= 1;
    const dec = new Decrypter();
    dec.addIdentity(identity);
    await expect(dec.decrypt(out)).rejects.toThrow();
  });

  it("the post-quantum and malformed recipients are refused (Debian's age could not open them)", async () => {
    await expect(AgeEncryptTransform.create({ recipient: "age1pq1xyz" })).rejects.toThrow(/X25519/);
    await expect(AgeEncryptTransform.create({ recipient: recipient.slice(0, -1) })).rejects.toThrow(/X25519/);
  });
});

describe("the encrypting upload transform (passphrase)", () => {
  it("65537 bytes: exact size, the same bytes twice, opened by age-encryption and by Debian's age with the passphrase typed on a terminal", async () => {
    const dir = await tmpDir("sdk-age-");
    const passphrase = `pass ${crypto.randomBytes(6).toString("hex")}`;
    const plain = bytes(65537, 3);
    const t = await AgeEncryptTransform.create({ passphrase });
    const first = await collect(t.apply(reused(plain, 777)));
    expect(first.length).toBe(t.outputSize(plain.length));
    expect((await collect(t.apply(reused(plain, 65536)))).equals(first)).toBe(true);
    expect(first.subarray(0, 200).toString("latin1")).toContain("-> scrypt ");

    const dec = new Decrypter();
    dec.addPassphrase(passphrase);
    expect(Buffer.from(await dec.decrypt(first)).equals(plain)).toBe(true);

    // age reads a passphrase only from a terminal: `script` gives it one and types for us.
    const file = path.join(dir, "p.age");
    const out = path.join(dir, "p.out");
    await fs.writeFile(file, first);
    await run("sh", ["-c", `printf '%s\\n' "$PASS" | script -qec "age -d -o '${out}' '${file}'" /dev/null`], { env: { ...process.env, PASS: passphrase } });
    expect(sha256(await fs.readFile(out))).toBe(sha256(plain));
    const wrong = path.join(dir, "wrong.out");
    await expect(run("sh", ["-c", `printf 'not it\\n' | script -qec "age -d -o '${wrong}' '${file}'" /dev/null`])).rejects.toMatchObject({
      stdout: expect.stringMatching(/incorrect passphrase/),
    });
    await expect(fs.stat(wrong)).rejects.toThrow();
  }, 60_000);
});

describe("age scrypt on Node's own scrypt (the passphrase mode)", () => {
  const entry = { name: "a.txt", size: 1, content_type: "text/plain", sha256: "0".repeat(64) };
  /** Runs `work` while a 10 ms timer ticks; the longest gap between two ticks (or since the start). */
  async function longestGap(work: () => Promise<unknown>): Promise<number> {
    let last = performance.now();
    let gap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    }, 10);
    try {
      await work();
      gap = Math.max(gap, performance.now() - last);
    } finally {
      clearInterval(timer);
    }
    return gap;
  }
  /** The stanza of a passphrase age file (`-> scrypt <salt> <logN>`, its body on one line). */
  const parseStanzas = (file: Uint8Array): Stanza[] => {
    const [, salt, logN, body] = /^-> scrypt (\S+) (\d+)\n(\S+)\n/m.exec(Buffer.from(file).toString("latin1"))!;
    return [new Stanza(["scrypt", salt!, logN!], Buffer.from(body!, "base64"))];
  };
  const stanzaOf = async (passphrase: string): Promise<Stanza> => parseStanzas(Buffer.from(await sealBytes({ passphrase }, "x"), "base64"))[0]!;

  it("sending and opening with a passphrase leave the event loop free: a 10 ms timer keeps ticking", async () => {
    const passphrase = `pass ${crypto.randomBytes(6).toString("hex")}`;
    let sealed = "";
    // What send() does per file: the sealed entry and the file's header, side by side.
    const send = await longestGap(async () => {
      [sealed] = await Promise.all([sealEntry({ passphrase }, entry), AgeEncryptTransform.create({ passphrase })]);
    });
    const view = { encryption: { scheme: "age-scrypt" as const }, sealed_message: sealed, message: null, files: [] };
    let message: string | null = null;
    const open = await longestGap(async () => {
      ({ message } = await openView(view, { passphrase }));
    });
    expect(message).toBe(JSON.stringify(entry));
    expect(send).toBeLessThan(200);
    expect(open).toBeLessThan(200);
  }, 60_000);

  it("the stanza is age's: one scrypt stanza, a 16-byte salt, work factor 18; age-encryption opens it", async () => {
    const passphrase = `pass ${crypto.randomBytes(6).toString("hex")}`;
    const sealed = Buffer.from(await sealBytes({ passphrase }, "hello"), "base64");
    const header = sealed.toString("latin1");
    expect(header.match(/^-> /gm)).toHaveLength(1);
    expect(header).toMatch(/^-> scrypt [A-Za-z0-9+/]{22} 18\n/m);
    const dec = new Decrypter();
    dec.addPassphrase(passphrase);
    expect(await dec.decrypt(sealed, "text")).toBe("hello");
  }, 60_000);

  it("the identity opens what age-encryption's setPassphrase made and what Debian's `age -p` made; another passphrase opens neither", async () => {
    const dir = await tmpDir("sdk-age-");
    const passphrase = `pass ${crypto.randomBytes(6).toString("hex")}`;
    const plain = bytes(70_000, 9);
    const enc = new Encrypter();
    enc.setPassphrase(passphrase);
    const theirs = await enc.encrypt(plain);
    // age asks twice on a terminal: `script` gives it one and types for us.
    const input = path.join(dir, "plain");
    const debian = path.join(dir, "debian.age");
    await fs.writeFile(input, plain);
    await run("sh", ["-c", `printf '%s\\n%s\\n' "$PASS" "$PASS" | script -qec "age -p -o '${debian}' '${input}'" /dev/null`], { env: { ...process.env, PASS: passphrase } });
    for (const file of [theirs, await fs.readFile(debian)]) {
      expect(Buffer.from(file).toString("latin1")).toMatch(/^-> scrypt /m);
      const dec = new Decrypter();
      dec.addIdentity(new ScryptIdentity(passphrase));
      expect(Buffer.from(await dec.decrypt(file)).equals(plain)).toBe(true);
      expect(await new ScryptIdentity("not it").unwrapFileKey(parseStanzas(file))).toBeNull();
    }
  }, 60_000);

  it("a work factor over 20, a stanza that is not alone, a bad salt, count or body are refused without a scrypt", async () => {
    const passphrase = "right one";
    const good = await stanzaOf(passphrase);
    const [, salt, logN] = good.args as [string, string, string];
    const id = new ScryptIdentity(passphrase);
    expect(await id.unwrapFileKey([good])).toHaveLength(16);
    const cases: [string, Stanza[], RegExp][] = [
      ["logN 21", [new Stanza(["scrypt", salt, "21"], good.body)], /the work factor is too high/],
      ["logN 64", [new Stanza(["scrypt", salt, "64"], good.body)], /the work factor is too high/],
      ["not alone", [good, new Stanza(["X25519", salt], good.body)], /not the only one/],
      ["logN 018", [new Stanza(["scrypt", salt, "018"], good.body)], /invalid scrypt stanza/],
      ["no logN", [new Stanza(["scrypt", salt], good.body)], /invalid scrypt stanza/],
      ["a 15-byte salt", [new Stanza(["scrypt", Buffer.alloc(15).toString("base64").replace(/=+$/, ""), logN], good.body)], /invalid scrypt stanza/],
      ["a padded salt", [new Stanza(["scrypt", `${salt}==`, logN], good.body)], /invalid scrypt stanza/],
      ["a 31-byte body", [new Stanza(["scrypt", salt, logN], good.body.subarray(0, 31))], /invalid scrypt stanza/],
    ];
    for (const [what, stanzas, why] of cases) {
      const started = performance.now();
      await expect(id.unwrapFileKey(stanzas), what).rejects.toThrow(why);
      // Refused before scrypt runs (logN 21 alone would take seconds and 2 GiB).
      expect(performance.now() - started, what).toBeLessThan(100);
    }
    // Another kind of file: not this identity's business.
    expect(await id.unwrapFileKey([new Stanza(["X25519", salt], good.body)])).toBeNull();
    // Through openView, a message with logN 21 is not a SpeedyFiles file: tampered.
    const file = Buffer.from(await sealBytes({ passphrase }, "hi"), "base64")
      .toString("latin1")
      .replace(/^(-> scrypt \S+) 18$/m, "$1 21");
    const view = { encryption: { scheme: "age-scrypt" as const }, sealed_message: Buffer.from(file, "latin1").toString("base64"), message: null, files: [] };
    await expect(openView(view, { passphrase })).rejects.toMatchObject({ code: "tampered" });
  }, 60_000);

  it("the recipient refuses a work factor age would not open", () => {
    expect(() => new ScryptRecipient("p", 21)).toThrow(/work factor/);
    expect(() => new ScryptRecipient("p", 0)).toThrow(/work factor/);
  });
});

describe("the sender's side of the name rules", () => {
  it("an encrypted upload refuses, before reading a byte, a name the server would refuse (it sees only an opaque one)", async () => {
    const { recipient } = await generateIdentity();
    for (const name of ["../escaped.txt", "CON.txt", "a\u202etxt.exe", "report."]) {
      const err = await prepareEncrypted(Buffer.from("x"), name, undefined, { recipient }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(SpeedyFilesError);
      expect((err as Error).message, name).toMatch(/cannot be sent/);
      // A bidi control is written out, not obeyed by the terminal that shows the message.
      expect((err as Error).message).not.toMatch(/\u202e/);
    }
    const ok = await prepareEncrypted(Buffer.from("x"), "cafe\u0301.txt", undefined, { recipient });
    expect(ok.meta.name).toBe("caf\u00e9.txt");
    await ok.cleanup();
  });
});

describe("openView", () => {
  const file = (over: Partial<PackageFile>): PackageFile => ({
    id: crypto.randomUUID(),
    name: `${crypto.randomBytes(16).toString("hex")}.age`,
    size: 300,
    sha256: "a".repeat(64),
    content_type: "application/octet-stream",
    created_at: new Date().toISOString(),
    sealed: null,
    ...over,
  });
  const meta = (name: string) => ({ name, size: 12, content_type: "text/plain", sha256: sha256(name) });

  it("opens the message and every file's entry; the server's values move to ciphertext", async () => {
    const { identity, recipient } = await generateIdentity();
    const f1 = file({ sealed: await sealEntry({ recipient }, meta("q4/report.pdf")) });
    const f2 = file({ sealed: await sealEntry({ recipient }, meta("notes.txt")) });
    const view = {
      encryption: { scheme: "age-x25519" as const },
      sealed_message: await sealBytes({ recipient }, "Quarterly, see notes"),
      message: null,
      files: [f1, f2],
      title: "t",
    };
    const opened = await openView(view, { identity });
    expect(opened.message).toBe("Quarterly, see notes");
    expect(opened.title).toBe("t");
    expect(opened.files.map((f) => f.name)).toEqual(["q4/report.pdf", "notes.txt"]);
    expect(opened.files[0]).toMatchObject({
      id: f1.id,
      size: 12,
      content_type: "text/plain",
      sha256: sha256("q4/report.pdf"),
      ciphertext: { name: f1.name, size: 300, sha256: f1.sha256 },
    });
    // A view that is not encrypted comes back as it is.
    const plain = { encryption: null, sealed_message: null, message: "hi", files: [file({ name: "a.txt" })] };
    expect(await openView(plain, undefined)).toBe(plain);
  });

  it("no key, the wrong key, a passphrase for a key package, a swapped or broken entry: each its DecryptionError", async () => {
    const { identity, recipient } = await generateIdentity();
    const other = await generateIdentity();
    const good = await sealEntry({ recipient }, meta("a.txt"));
    const view = {
      encryption: { scheme: "age-x25519" as const },
      sealed_message: null,
      message: null,
      files: [file({ sealed: good }), file({ sealed: await sealEntry({ recipient }, meta("b.txt")) })],
    };
    await expect(openView(view, undefined)).rejects.toMatchObject({ name: "DecryptionError", code: "key_missing" });
    await expect(openView(view, { passphrase: "x" })).rejects.toMatchObject({ code: "key_missing" });
    await expect(openView(view, { identity: other.identity })).rejects.toMatchObject({ code: "key_wrong" });
    await expect(openView(view, { identity: "AGE-SECRET-KEY-1NOPE" })).rejects.toMatchObject({ code: "key_malformed" });

    // The second entry swapped for one made with another key: the first opened, so it is tampering.
    const swapped = { ...view, files: [view.files[0]!, file({ sealed: await sealEntry({ recipient: other.recipient }, meta("b.txt")) })] };
    await expect(openView(swapped, { identity })).rejects.toMatchObject({ code: "tampered", file: swapped.files[1]!.name });
    // One byte of an entry changed.
    const raw = Buffer.from(good, "base64");
    raw[raw.length - 3]! ^= 1;
    const flipped = { ...view, files: [view.files[0]!, file({ sealed: raw.toString("base64") })] };
    await expect(openView(flipped, { identity })).rejects.toMatchObject({ code: "tampered" });
    // Two entries naming the same file, an entry that is not the four fields, no entry at all.
    await expect(openView({ ...view, files: [view.files[0]!, file({ sealed: good })] }, { identity })).rejects.toMatchObject({ code: "tampered" });
    await expect(openView({ ...view, files: [view.files[0]!, file({ sealed: await sealBytes({ recipient }, '{"name":"x"}') })] }, { identity })).rejects.toMatchObject({
      code: "tampered",
    });
    await expect(openView({ ...view, files: [view.files[0]!, file({ sealed: null })] }, { identity })).rejects.toMatchObject({ code: "tampered" });
  });

  it("a decrypted name the server's rules refuse is tampered, with a sentence naming the stored file and why", async () => {
    const { identity, recipient } = await generateIdentity();
    const cases: [string, RegExp][] = [
      ["../escaped.txt", /\. or \.\. segments/],
      ["/etc/passwd", /relative path/],
      ["C:evil.txt", /drive letter/],
      ["a\\b.txt", /backslash/],
      ["a\u202etxt.exe", /control characters/],
      ["x\u0000y", /control characters/],
      ["CON.txt", /device name/],
      ["a<b>.txt", /"<"/],
      ["x|y", /"\|"/],
      ["report.", /ends in a dot or a space/],
      ["dir /x", /ends in a dot or a space/],
      ["a//b", /empty path segment/],
      ["c".repeat(256), /longer than 255 bytes/],
    ];
    for (const [name, why] of cases) {
      const f = file({ sealed: await sealEntry({ recipient }, meta(name)) });
      const view = { encryption: { scheme: "age-x25519" as const }, sealed_message: null, message: null, files: [f] };
      const err = await openView(view, { identity }).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(DecryptionError);
      expect(err, name).toMatchObject({ code: "tampered", file: f.name });
      expect((err as Error).message, name).toContain(`stored as ${f.name}`);
      expect((err as Error).message, name).toMatch(why);
    }
    // A name the rules accept comes back in NFC, as the server stores names.
    const nfd = file({ sealed: await sealEntry({ recipient }, meta("cafe\u0301/r\u00e9sum\u00e9.txt")) });
    const ok = await openView({ encryption: { scheme: "age-x25519" as const }, sealed_message: null, message: null, files: [nfd] }, { identity });
    expect(ok.files[0]!.name).toBe("caf\u00e9/r\u00e9sum\u00e9.txt");
  });

  it("names that would land on one path (NFC-equal, equal but for case, a file named like another's folder) are tampered", async () => {
    const { identity, recipient } = await generateIdentity();
    const pairs: [string, string, RegExp][] = [
      ["caf\u00e9.txt", "cafe\u0301.txt", /equal after NFC/],
      ["Report.pdf", "report.PDF", /differ only in case/],
      ["a", "a/b", /folder "a"/],
      ["a/b/c.txt", "A/b", /folder "A\/b"|folder "a\/b"/],
      ["x/y.txt", "X", /folder/],
    ];
    for (const [one, two, why] of pairs) {
      const files = [file({ sealed: await sealEntry({ recipient }, meta(one)) }), file({ sealed: await sealEntry({ recipient }, meta(two)) })];
      const err = await openView({ encryption: { scheme: "age-x25519" as const }, sealed_message: null, message: null, files }, { identity }).catch((e: unknown) => e);
      expect(err, `${one} + ${two}`).toMatchObject({ name: "DecryptionError", code: "tampered", file: files[1]!.name });
      expect((err as Error).message, `${one} + ${two}`).toMatch(why);
      expect((err as Error).message).toContain(`stored as ${files[1]!.name}`);
    }
    // Folders shared by several files are fine.
    const files = await Promise.all(["q4/a.txt", "q4/sub/b.txt", "q4/sub/c.txt", "q4b"].map(async (n) => file({ sealed: await sealEntry({ recipient }, meta(n)) })));
    const opened = await openView({ encryption: { scheme: "age-x25519" as const }, sealed_message: null, message: null, files }, { identity });
    expect(opened.files.map((f) => f.name)).toEqual(["q4/a.txt", "q4/sub/b.txt", "q4/sub/c.txt", "q4b"]);
  });

  it("a sealed entry or message too long for the server, or whose header has no end or too many recipients, is not a valid age file", async () => {
    const { identity, recipient } = await generateIdentity();
    const good = await sealEntry({ recipient }, meta("a.txt"));
    const header = Buffer.from(good, "base64").toString("latin1");
    const stanza = header.slice(header.indexOf("-> "), header.indexOf("--- "));
    // 65 copies of a real stanza, then the rest of the file.
    const many = Buffer.from(header.replace(stanza, stanza.repeat(65)), "latin1").toString("base64");
    const endless = Buffer.from(`age-encryption.org/v1\n-> X25519 ${"A".repeat(6000)}`).toString("base64");
    const cases: [string, string, RegExp][] = [
      ["a line without end", endless, /ends before its header does/],
      ["over 8192 characters", good + "A".repeat(8192), /longer than the 8192 characters/],
    ];
    for (const [what, sealed, why] of cases) {
      const f = file({ sealed });
      const view = { encryption: { scheme: "age-x25519" as const }, sealed_message: null, message: null, files: [f] };
      const err = await openView(view, { identity }).catch((e: unknown) => e);
      expect(err, what).toMatchObject({ name: "DecryptionError", code: "tampered", file: f.name });
      expect((err as Error).message, what).toMatch(/stored as .* is not a valid age file/);
      expect((err as Error).message, what).toMatch(why);
    }
    const long = { encryption: { scheme: "age-x25519" as const }, sealed_message: `${await sealBytes({ recipient }, "hi")}${"A".repeat(16384)}`, message: null, files: [] };
    await expect(openView(long, { identity })).rejects.toThrow(/the message is not a valid age file \(it is longer than the 16384/);
    // 65 stanzas fit in a message's 16384 characters (not in an entry's 8192).
    expect(many.length).toBeLessThan(16384);
    await expect(openView({ ...long, sealed_message: many }, { identity })).rejects.toThrow(/the message is not a valid age file \(its header names more than 64 recipients/);
  });

  it("passphrase packages: passphrase_needed without one, passphrase_wrong for another", async () => {
    const view = { encryption: { scheme: "age-scrypt" as const }, sealed_message: await sealBytes({ passphrase: "right one" }, "hello"), message: null, files: [] };
    await expect(openView(view, undefined)).rejects.toMatchObject({ code: "passphrase_needed" });
    const { identity } = await generateIdentity();
    await expect(openView(view, { identity })).rejects.toMatchObject({ code: "passphrase_needed" });
    await expect(openView(view, { passphrase: "wrong one" })).rejects.toMatchObject({ code: "passphrase_wrong" });
    expect((await openView(view, { passphrase: "right one" })).message).toBe("hello");
  }, 30_000);
});
