import crypto from "node:crypto";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startTestSmtp, type TestSmtp } from "@speedyfiles/test-utils/smtp";
import { filesUnder, sha256, until } from "@speedyfiles/test-utils/uploads";
import { requestFiles, shareFiles, unknownSecret } from "@speedyfiles/test-utils/links";
import { ConflictError, completeLink, downloadAll, getLink, GoneError, NotFoundError, parseLink, SpeedyFilesError, uploadToLink } from "../../sdk/src/index.js";

type User = Awaited<ReturnType<TestServer["createUser"]>>;

describe.each(DATABASES)("SDK against a magic link (%s)", (kind) => {
  let t: TestServer;
  let smtp: TestSmtp;
  let alice: User;
  let work: string;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    t = await startTestServer(kind, { env: { SF_SMTP_URL: smtp.url } });
    alice = await t.createUser();
    work = await fsp.mkdtemp(path.join(os.tmpdir(), "sf-sdk-links-"));
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  const events = async (id: string) => (await (await t.fetch(`/packages/${id}/events`, { token: alice.token })).json()) as { type: string; file_name: string | null }[];
  const fresh = async (name: string) => {
    const dir = path.join(work, `${name}-${crypto.randomBytes(3).toString("hex")}`);
    await fsp.mkdir(dir);
    return dir;
  };

  it("parseLink and getLink take the page URL from the email", async () => {
    const s = await shareFiles(t, alice.token, [["a.txt", "a"]], { title: "Parsed" });
    expect(parseLink(s.page)).toEqual({ baseUrl: t.url, secret: s.secret });
    expect(parseLink(s.api)).toEqual({ baseUrl: t.url, secret: s.secret });
    expect(parseLink(s.secret, t.url)).toEqual({ baseUrl: t.url, secret: s.secret });
    const view = await getLink(s.page);
    expect(view).toMatchObject({ title: "Parsed", direction: "outbound", file_count: 1, sender_email: alice.user.email });
  });

  it("downloadAll gets every file byte-identical, folders kept, and each is a download event", async () => {
    const files: [string, Buffer][] = [
      ["big.bin", crypto.randomBytes(3 * 1024 * 1024 + 17)],
      ["docs/readme.md", Buffer.from("# hello\n")],
      ["docs/deep/nested/data.csv", Buffer.from("a,b\n1,2\n")],
      ["empty.txt", Buffer.alloc(0)],
      ["Résumé ✓.txt", Buffer.from("unicode name")],
    ];
    const s = await shareFiles(t, alice.token, files);
    const dir = await fresh("all");
    const progress: { file: string; phase: string; bytes: number; totalBytes: number }[] = [];
    const result = await downloadAll(s.page, dir, { concurrency: 2, onProgress: (p) => progress.push(p) });

    expect(result.view.file_count).toBe(files.length);
    expect(result.files.map((f) => f.name).sort()).toEqual(files.map((f) => f[0]).sort());
    for (const [name, bytes] of files) {
      const got = await fsp.readFile(path.join(dir, name));
      expect({ name, sha: sha256(got), size: got.length }).toEqual({ name, sha: sha256(bytes), size: bytes.length });
    }
    // Nothing else: no .part left behind.
    expect(await filesUnder(dir)).toEqual(files.map((f) => f[0]).sort());
    const total = files.reduce((n, f) => n + f[1].length, 0);
    expect(progress.filter((p) => p.phase === "done")).toHaveLength(files.length);
    expect(progress.at(-1)!.bytes).toBe(total);
    expect(progress.every((p) => p.totalBytes === total)).toBe(true);

    // A download is recorded once its last byte has gone out, a moment after the client has it.
    await until(async () => (await events(s.id)).length === files.length, 5000, "every download recorded");
    const ev = await events(s.id);
    expect(
      ev
        .filter((e) => e.type === "file_download")
        .map((e) => e.file_name)
        .sort(),
    ).toEqual(files.map((f) => f[0]).sort());
  });

  it("downloadAll resumes from a .part file: only the rest is fetched, the result is byte-identical", async () => {
    // Large enough that a stopped download cannot have been written whole into loopback's socket buffers.
    const bytes = crypto.randomBytes(32 * 1024 * 1024);
    const s = await shareFiles(t, alice.token, [
      ["video.bin", bytes],
      ["small.txt", "small"],
    ]);
    // A first attempt, stopped: not a download.
    const first = await fetch(`${s.api}/files/${s.files[0]!.id}`);
    const reader = first.body!.getReader();
    await reader.read();
    await reader.cancel();

    const dir = await fresh("resume");
    const half = 16 * 1024 * 1024 + 3;
    await fsp.writeFile(path.join(dir, "video.bin.part"), bytes.subarray(0, half));
    const starts: number[] = [];
    await downloadAll(s.page, dir, {
      concurrency: 1,
      onProgress: (p) => {
        if (p.file === "video.bin" && p.phase === "download" && starts.length === 0) starts.push(p.fileBytes);
      },
    });
    expect(starts).toEqual([half]);
    expect(sha256(await fsp.readFile(path.join(dir, "video.bin")))).toBe(sha256(bytes));
    expect(await fsp.readFile(path.join(dir, "small.txt"), "utf8")).toBe("small");
    expect(await filesUnder(dir)).toEqual(["small.txt", "video.bin"]);
    // The stopped attempt was no download; the resumed one that reached the end is the one.
    await until(async () => (await events(s.id)).length >= 2, 5000, "both downloads recorded");
    const ev = await events(s.id);
    expect(ev.filter((e) => e.file_name === "video.bin")).toHaveLength(1);
  });

  it("a .part that does not belong to the file (stale) is replaced, and the result is still byte-identical", async () => {
    const bytes = crypto.randomBytes(100_000);
    const s = await shareFiles(t, alice.token, [["f.bin", bytes]]);
    const dir = await fresh("stale");
    // Longer than the file: the server answers 416 and the SDK starts over.
    await fsp.writeFile(path.join(dir, "f.bin.part"), crypto.randomBytes(200_000));
    await downloadAll(s.page, dir);
    expect(sha256(await fsp.readFile(path.join(dir, "f.bin")))).toBe(sha256(bytes));
    expect(await filesUnder(dir)).toEqual(["f.bin"]);
  });

  it("downloadAll rejects a dead link with GoneError and writes nothing", async () => {
    const s = await shareFiles(t, alice.token, [["gone.txt", "you will not get this"]]);
    expect((await t.fetch(`/packages/${s.id}/revoke`, { method: "POST", token: alice.token })).status).toBe(200);
    const dir = await fresh("gone");
    const err = await downloadAll(s.page, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoneError);
    expect((err as GoneError).status).toBe(410);
    expect((err as GoneError).detail).toMatch(/revoked/);
    expect(await filesUnder(dir)).toEqual([]);
    await expect(getLink(s.page)).rejects.toBeInstanceOf(GoneError);

    // An expired link too, on the server's clock.
    const e = await shareFiles(t, alice.token, [["exp.txt", "expired"]], { ttl_days: 1 });
    t.clock.advanceDays(1);
    await expect(downloadAll(e.page, dir)).rejects.toBeInstanceOf(GoneError);
    expect(await filesUnder(dir)).toEqual([]);

    // A link that never existed is NotFoundError.
    await expect(downloadAll(`${t.url}/l/${unknownSecret()}`, dir)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("uploadToLink + completeLink on an inbound link: the owner gets the files and an email listing them", async () => {
    const s = await requestFiles(t, alice.token, { title: "SDK upload request", recipient_name: "Dave", recipient_email: "dave@client.test" });
    const onDisk = path.join(work, "contract-signed.pdf");
    const pdf = crypto.randomBytes(1_500_000);
    await fsp.writeFile(onDisk, pdf);
    const progress: number[] = [];
    const up1 = await uploadToLink(s.page, onDisk, { onProgress: (p) => progress.push(p.bytes) });
    expect(up1).toMatchObject({ name: "contract-signed.pdf", size: pdf.length, sha256: sha256(pdf) });
    expect(progress.at(-1)).toBe(pdf.length);
    const up2 = await uploadToLink(s.page, Buffer.from("id card scan"), { name: "scans/id.txt", contentType: "text/plain" });
    expect(up2).toMatchObject({ name: "scans/id.txt", content_type: "text/plain" });

    const done = await completeLink(s.page);
    expect(done.email_sent).toBe(true);
    expect(done.files.map((f) => f.name)).toEqual(["contract-signed.pdf", "scans/id.txt"]);
    expect(done.completed_at).toEqual(expect.any(String));

    const mail = await smtp.waitForMail((m) => m.envelope.to.includes(alice.user.email) && /SDK upload request/.test(m.parsed.subject ?? ""));
    expect(mail.parsed.text).toContain("contract-signed.pdf");
    expect(mail.parsed.text).toContain("scans/id.txt");
    expect(mail.parsed.text).toContain("Dave");

    for (const [f, bytes] of [
      [up1, pdf],
      [up2, Buffer.from("id card scan")],
    ] as const) {
      const res = await t.fetch(`/packages/${s.id}/files/${f.id}`, { token: alice.token });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    }
    expect((await events(s.id)).map((e) => e.type).sort()).toEqual(["complete", "upload", "upload"]);
  });

  it("the SDK refuses the wrong direction: upload/complete on an outbound link (409), downloadAll on an inbound one", async () => {
    const out = await shareFiles(t, alice.token, [["o.txt", "o"]]);
    await expect(uploadToLink(out.page, Buffer.from("x"), { name: "x.txt" })).rejects.toBeInstanceOf(ConflictError);
    await expect(completeLink(out.page)).rejects.toBeInstanceOf(ConflictError);
    const inb = await requestFiles(t, alice.token);
    const dir = await fresh("inbound");
    const err = await downloadAll(inb.page, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpeedyFilesError);
    expect((err as Error).message).toMatch(/upload link/);
    expect(await filesUnder(dir)).toEqual([]);
  });
});
