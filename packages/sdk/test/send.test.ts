import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { AbortError, PayloadTooLargeError, SpeedyFiles, SpeedyFilesError, type SendProgress } from "../src/index.js";
import { bytes, sha256, tmpDir } from "./helpers/tmp.js";

async function fresh(t: TestServer): Promise<SpeedyFiles> {
  const { token } = await t.createUser();
  return new SpeedyFiles({ baseUrl: t.url, token });
}

async function allPackages(sf: SpeedyFiles) {
  const out = [];
  for await (const p of sf.packages.iterate()) out.push(p);
  return out;
}

describe.each(DATABASES)("send() and request() (%s)", (kind) => {
  let t: TestServer;
  let dir: string;
  beforeAll(async () => {
    t = await startTestServer(kind);
    dir = await tmpDir();
  });
  afterAll(async () => {
    await t?.close();
  });

  it("sends a directory: nested and hidden files kept, file links followed, directory links skipped", async () => {
    const sf = await fresh(t);
    const root = path.join(dir, "release");
    await fs.mkdir(path.join(root, "bin/x64"), { recursive: true });
    await fs.mkdir(path.join(dir, "elsewhere"), { recursive: true });
    await fs.writeFile(path.join(root, "README.md"), "# release\n");
    await fs.writeFile(path.join(root, ".hidden"), "secret-ish");
    await fs.writeFile(path.join(root, "bin/x64/app"), bytes(1_500_000, 2));
    await fs.writeFile(path.join(dir, "elsewhere/target.txt"), "linked content");
    await fs.writeFile(path.join(dir, "elsewhere/inner.txt"), "should not appear");
    await fs.symlink(path.join(dir, "elsewhere/target.txt"), path.join(root, "link-to-file.txt"));
    await fs.symlink(path.join(dir, "elsewhere"), path.join(root, "link-to-dir"));
    await fs.symlink(root, path.join(root, "bin/loop")); // a cycle is skipped too

    const events: SendProgress[] = [];
    const r = await sf.send({
      files: [root],
      to: "qa@acme.com",
      recipient_name: "QA",
      message: "Build 42",
      ttl_days: 3,
      concurrency: 2,
      onProgress: (p) => events.push(p),
    });
    const names = r.package.files.map((f) => f.name).sort();
    expect(names).toEqual(["release/.hidden", "release/README.md", "release/bin/x64/app", "release/link-to-file.txt"]);
    expect(r.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    expect(r.expires_at).toBe(r.package.expires_at);
    expect(r.package).toMatchObject({
      status: "active",
      direction: "outbound",
      title: "release",
      recipient_email: "qa@acme.com",
      recipient_name: "QA",
      message: "Build 42",
      ttl_days: 3,
      file_count: 4,
    });
    const days = (Date.parse(r.expires_at) - Date.parse(r.package.finalized_at!)) / 86_400_000;
    expect(days).toBeCloseTo(3, 3);
    expect(r.package.files.find((f) => f.name === "release/link-to-file.txt")!.sha256).toBe(sha256("linked content"));

    const total = 10 + 10 + 1_500_000 + 14;
    expect(events.at(-1)).toMatchObject({ bytes: total, totalBytes: total });
    const done = events.filter((e) => e.phase === "done");
    expect(done.map((e) => e.file).sort()).toEqual(names);
    expect(done.every((e) => e.uploaded && e.fileBytes === e.fileSize)).toBe(true);
    for (const e of events) expect(e.bytes).toBeLessThanOrEqual(total);

    const stored = await sf.packages.get(r.package.id);
    expect(stored.status).toBe("active");
    expect(stored.files.map((f) => f.name).sort()).toEqual(names);
  });

  it("sends single files; the title defaults to the file name", async () => {
    const sf = await fresh(t);
    const a = path.join(dir, "Q4-report.pdf");
    await fs.writeFile(a, "%PDF-1.7");
    const r = await sf.send({ files: [a], to: "cfo@acme.com" });
    expect(r.package.title).toBe("Q4-report.pdf");
    expect(r.package.ttl_days).toBe(7);
    expect(r.package.files.map((f) => f.name)).toEqual(["Q4-report.pdf"]);
    const r2 = await sf.send({ files: [a], to: "cfo@acme.com", title: "Custom", concurrency: 1 });
    expect(r2.package.title).toBe("Custom");
    const b = path.join(dir, "Q4-sheet.xlsx");
    await fs.writeFile(b, "cells");
    const r3 = await sf.send({ files: [a, b], to: "cfo@acme.com" });
    expect(r3.package.title).toBe("2 files");
  });

  it("nothing to send → SpeedyFilesError, and no draft is created", async () => {
    const sf = await fresh(t);
    const empty = await fs.mkdtemp(path.join(dir, "empty-"));
    await expect(sf.send({ files: [empty], to: "a@b.co" })).rejects.toBeInstanceOf(SpeedyFilesError);
    await expect(sf.send({ files: [path.join(dir, "missing")], to: "a@b.co" })).rejects.toThrow(/ENOENT/);
    expect(await allPackages(sf)).toEqual([]);
  });

  it("abort mid-send → AbortError and the draft it created is deleted", async () => {
    const sf = await fresh(t);
    const src = path.join(dir, "abort-me");
    await fs.mkdir(src);
    for (let i = 0; i < 3; i++) await fs.writeFile(path.join(src, `part-${i}.bin`), Buffer.alloc(15_000_000, i));
    const ac = new AbortController();
    const err = await sf
      .send({
        files: [src],
        to: "a@b.co",
        signal: ac.signal,
        onProgress: (p) => {
          if (p.bytes > 5_000_000) ac.abort();
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(await allPackages(sf)).toEqual([]);
  });

  it("an already-aborted signal creates nothing that stays", async () => {
    const sf = await fresh(t);
    const a = path.join(dir, "tiny.txt");
    await fs.writeFile(a, "x");
    const err = await sf.send({ files: [a], to: "a@b.co", signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(await allPackages(sf)).toEqual([]);
  });

  it("request() makes an active inbound package with a link", async () => {
    const sf = await fresh(t);
    const r = await sf.request({ from: "supplier@vendor.com", recipient_name: "Supplier", title: "Invoices please", message: "PDFs only", ttl_days: 5 });
    expect(r.magic_link).toMatch(/\/l\/[A-Za-z0-9_-]{43}$/);
    expect(r.package).toMatchObject({
      direction: "inbound",
      status: "active",
      title: "Invoices please",
      recipient_email: "supplier@vendor.com",
      recipient_name: "Supplier",
      message: "PDFs only",
      ttl_days: 5,
      files: [],
    });
    const list = await sf.packages.list({ direction: "inbound", status: "active" });
    expect(list.items.map((p) => p.id)).toEqual([r.package.id]);
    expect(list.items[0]!.magic_link_state).toBe("active");

    const r2 = await sf.request({ from: "x@y.co" });
    expect(r2.package.title).toMatch(/^Files for /);
    expect(r2.package.ttl_days).toBe(7);
  });

  it("a request() the server refuses leaves nothing behind", async () => {
    const sf = await fresh(t);
    await expect(sf.request({ from: "not-an-email" })).rejects.toMatchObject({ status: 422 });
    expect(await allPackages(sf)).toEqual([]);
  });
});

describe.each(DATABASES)("send() failure cleans up (%s)", (kind) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_MAX_FILE_BYTES: "100000" } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("one file over SF_MAX_FILE_BYTES → PayloadTooLargeError and the draft is deleted", async () => {
    const sf = await fresh(t);
    const src = await tmpDir();
    await fs.mkdir(path.join(src, "batch"));
    for (let i = 0; i < 5; i++) await fs.writeFile(path.join(src, "batch", `small-${i}.txt`), `small ${i}`);
    await fs.writeFile(path.join(src, "batch", "big.bin"), Buffer.alloc(120_000, 3));
    const err = await sf.send({ files: [path.join(src, "batch")], to: "a@b.co", concurrency: 3 }).catch((e: unknown) => e);
    expect(err, String(err)).toBeInstanceOf(PayloadTooLargeError);
    expect(err).toMatchObject({ status: 413, code: "limit_exceeded", method: "POST" });
    expect((err as PayloadTooLargeError).detail).toMatch(/\S/);
    expect(await allPackages(sf)).toEqual([]);
    // Files under the limit still go.
    const ok = await sf.send({ files: [path.join(src, "batch", "small-0.txt")], to: "a@b.co" });
    expect(ok.package.file_count).toBe(1);
  });

  it("a file announced far over the limit: typed error, draft deleted", async () => {
    const sf = await fresh(t);
    const src = await tmpDir();
    await fs.mkdir(path.join(src, "batch"));
    await fs.writeFile(path.join(src, "batch", "ok.txt"), "fine");
    await fs.writeFile(path.join(src, "batch", "huge.bin"), Buffer.alloc(4_000_000, 3));
    const err = await sf.send({ files: [path.join(src, "batch")], to: "a@b.co" }).catch((e: unknown) => e);
    // The server answers 413 on Content-Length alone and reads and discards the rest of the body
    // (up to 64 MiB), so the client always gets to read the answer instead of an EPIPE.
    expect(err, String(err)).toBeInstanceOf(PayloadTooLargeError);
    expect(await allPackages(sf)).toEqual([]);
  });

  it("a streamed file over the limit (size unknown up front) is a 413 too", async () => {
    const sf = await fresh(t);
    const pkg = await sf.packages.create({ title: "x", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 });
    const { Readable } = await import("node:stream");
    const chunks = function* () {
      for (let i = 0; i < 40; i++) yield Buffer.alloc(10_000, i);
    };
    const err = await sf.uploadFile(pkg.id, Readable.from(chunks()), { name: "s.bin" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((await sf.packages.get(pkg.id)).files).toEqual([]);
  });
});
