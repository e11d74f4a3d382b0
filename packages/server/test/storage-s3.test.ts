import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { addFile, createPackage, sha256, until, uploadFile } from "@speedyfiles/test-utils/uploads";
import { finalize, shareFiles } from "@speedyfiles/test-utils/links";
import { expectError, expectValidationError } from "@speedyfiles/test-utils/expect";
import { sweepOnce } from "../src/jobs/sweeper.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** Over one 8 MiB part: lib-storage makes it a real multipart upload. */
const big = crypto.randomBytes(9 * MiB + 12345);

type User = Awaited<ReturnType<TestServer["createUser"]>>;

/** The storage key of a file, from the database. */
async function storageKey(t: TestServer, fileId: string): Promise<string> {
  return (await t.running.services.db("files").where({ id: fileId }).first()).storage_key as string;
}

/** The multipart uploads our server started under its prefix, and those it asked s3rver to abort. */
function multipartRequests(s3: S3Server, bucket: string, prefix: string) {
  const mine = s3.requests().filter((r) => r.includes(` /${bucket}/${prefix}`) || r.includes(` /${bucket}/${encodeURIComponent(prefix)}`));
  return {
    started: mine.filter((r) => /^POST \S+\?uploads/.test(r)).length,
    aborted: mine.filter((r) => /^DELETE \S+\?uploadId=/.test(r)).length,
    completed: mine.filter((r) => /^POST \S+\?uploadId=/.test(r)).length,
    parts: mine.filter((r) => /^PUT \S+\?partNumber=\d+&uploadId=\S+ 200$/.test(r)).length,
  };
}

/**
 * An upload written by hand: the multipart head, then `write(n)` random bytes at a time, then
 * `end()` (the closing boundary). Announces `announce` bytes of file, or is chunked.
 */
function startUpload(t: TestServer, token: string, packageId: string, announce: number | "chunked") {
  const boundary = `----sfs3${crypto.randomBytes(8).toString("hex")}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="partial.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const headers: Record<string, string | number> = { "Content-Type": `multipart/form-data; boundary=${boundary}`, Authorization: `Bearer ${token}` };
  if (announce !== "chunked") headers["Content-Length"] = head.length + announce + tail.length;
  let req!: http.ClientRequest;
  const answer = new Promise<{ status: number; body: string } | "cut">((resolve) => {
    req = http.request(`${t.api}/packages/${packageId}/files`, { method: "POST", headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolve("cut"));
    });
    req.on("error", () => resolve("cut"));
  });
  req.write(head);
  const block = crypto.randomBytes(MiB);
  return {
    req,
    answer,
    async write(total: number) {
      for (let written = 0; written < total && !req.destroyed; ) {
        const n = Math.min(MiB, total - written);
        written += n;
        if (!req.write(block.subarray(0, n))) await new Promise((r) => req.once("drain", r));
      }
    },
    end: () => req.end(tail),
  };
}

describe.each(DATABASES)("S3 storage (s3rver) (%s)", (kind) => {
  let s3: S3Server;
  let t: TestServer;
  let alice: User;
  const objects = () => s3.objects(t.s3!.prefix);

  beforeAll(async () => {
    s3 = await startS3rver();
    t = await startTestServer(kind, { s3: { server: s3 }, env: { SF_MAX_FILE_BYTES: String(20 * MiB) } });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
  });

  it("stores an upload (multipart above one part) as one object and serves it back, whole and by Range", async () => {
    const pkg = await createPackage(t, alice.token);
    const f = await addFile(t, alice.token, pkg.id, "big.bin", big);
    expect(f.sha256).toBe(sha256(big));
    const key = await storageKey(t, f.id);
    expect(await objects()).toEqual([`${t.s3!.prefix}${key}`]);
    expect(multipartRequests(s3, s3.bucket, t.s3!.prefix).completed).toBe(1);
    expect(sha256(await s3.getObject(`${t.s3!.prefix}${key}`))).toBe(sha256(big));

    const whole = await t.fetch(`/packages/${pkg.id}/files/${f.id}`, { token: alice.token });
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-length")).toBe(String(big.length));
    expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(big));

    // A range across the boundary of the first part.
    const start = 8 * MiB - 10;
    const part = await t.fetch(`/packages/${pkg.id}/files/${f.id}`, { token: alice.token, headers: { Range: `bytes=${start}-${start + 19}` } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes ${start}-${start + 19}/${big.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(big.subarray(start, start + 20));
    const tailRange = await t.fetch(`/packages/${pkg.id}/files/${f.id}`, { token: alice.token, headers: { Range: "bytes=-5" } });
    expect(Buffer.from(await tailRange.arrayBuffer())).toEqual(big.subarray(big.length - 5));

    // delete removes the object
    expect((await t.fetch(`/packages/${pkg.id}/files/${f.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
    expect(await objects()).toEqual([]);
  });

  it("a client that goes away mid-upload leaves no object, and the multipart upload is aborted", async () => {
    const pkg = await createPackage(t, alice.token);
    const before = multipartRequests(s3, s3.bucket, t.s3!.prefix);
    const up = startUpload(t, alice.token, pkg.id, 18 * MiB);
    await up.write(12 * MiB);
    // The first 8 MiB part is in the store: then the client goes away.
    await until(() => multipartRequests(s3, s3.bucket, t.s3!.prefix).parts > before.parts, 10_000, "a stored part");
    up.req.destroy();
    expect(await up.answer).toBe("cut");
    await until(() => multipartRequests(s3, s3.bucket, t.s3!.prefix).aborted > before.aborted, 10_000, "the abort request");
    const after = multipartRequests(s3, s3.bucket, t.s3!.prefix);
    // Every multipart upload the server started was completed or aborted.
    expect(after.started).toBe(after.completed + after.aborted);
    expect(await objects()).toEqual([]);
    expect(await t.running.services.db("files").where({ package_id: pkg.id })).toEqual([]);
  });

  it("an upload refused over the size limit or for a wrong checksum leaves no object", async () => {
    const pkg = await createPackage(t, alice.token);
    const before = multipartRequests(s3, s3.bucket, t.s3!.prefix);
    // Chunked: nothing announced, so the limit (20 MiB) trips on the bytes themselves, after parts were stored.
    const up = startUpload(t, alice.token, pkg.id, "chunked");
    await up.write(22 * MiB);
    up.end();
    const answer = await up.answer;
    expect(answer).not.toBe("cut");
    expect((answer as { status: number }).status).toBe(413);
    expect(JSON.parse((answer as { body: string }).body).code).toBe("limit_exceeded");
    const after = multipartRequests(s3, s3.bucket, t.s3!.prefix);
    expect(after.aborted).toBe(before.aborted + 1);
    expect(after.started).toBe(after.completed + after.aborted);
    expect(await objects()).toEqual([]);

    // The bytes arrive whole, into one object, and only then turn out to be wrong: it is removed.
    const wrong = await uploadFile(t, alice.token, pkg.id, "big.bin", big, { sha256: sha256("something else") });
    await expectError(wrong, 422, "checksum_mismatch");
    expect(await objects()).toEqual([]);
    expect(await t.running.services.db("files").where({ package_id: pkg.id })).toEqual([]);
  });

  it("the sweeper's purge removes the objects of a revoked package", async () => {
    const s = await shareFiles(t, alice.token, [
      ["a.txt", "alpha"],
      ["big.bin", big],
    ]);
    const keys = await Promise.all(s.files.map((f) => storageKey(t, f.id)));
    expect(await objects()).toEqual(keys.map((k) => `${t.s3!.prefix}${k}`).sort());
    expect((await t.fetch(`/packages/${s.id}/revoke`, { method: "POST", token: alice.token })).status).toBe(200);
    expect((await sweepOnce(t.running.services)).purged).toBe(1);
    expect(await objects()).toEqual([]);
  });

  it("anonymous /health calls in a row share one bucket check for a few seconds", async () => {
    const heads = () => s3.requests().filter((r) => new RegExp(`^HEAD /${s3.bucket}/? `).test(r)).length;
    await t.fetch("/health");
    const before = heads();
    for (let i = 0; i < 10; i++) expect((await t.fetch("/health")).status).toBe(200);
    expect(heads() - before).toBeLessThanOrEqual(1);
  });

  it("/health checks the bucket: a missing bucket is 503 with storage unreachable", async () => {
    const ok = await t.fetch("/health");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: "ok", storage: "ok" });
    const other = await startTestServer(kind, { s3: { server: s3 }, env: { SF_S3_BUCKET: "no-such-bucket" } });
    try {
      const res = await other.fetch("/health");
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "unavailable", database: "ok", storage: "unreachable" });
      // Said in words (the start-up warning and storage migrate show it), not "UnknownError".
      await expect(other.running.services.storage.check()).rejects.toThrow(/^bucket no-such-bucket does not exist/);
    } finally {
      await other.close();
    }
  });
});

describe.each(DATABASES)("S3 presigned downloads (%s)", (kind) => {
  const PRESIGN_SECONDS = 3;
  let s3: S3Server;
  let t: TestServer;
  let alice: User;

  beforeAll(async () => {
    s3 = await startS3rver();
    t = await startTestServer(kind, { s3: { server: s3, presign: true, presignSeconds: PRESIGN_SECONDS } });
    alice = await t.createUser();
  });
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
  });

  /** One curl of a URL: status, headers (lower-case names) and body. */
  async function curl(url: string, extra: string[] = []) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-curl-"));
    try {
      await run("curl", ["-sS", "-D", path.join(dir, "h"), "-o", path.join(dir, "b"), ...extra, url]);
      const head = await fs.readFile(path.join(dir, "h"), "latin1");
      const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)![1]);
      const headers = Object.fromEntries(
        head
          .split("\r\n")
          .slice(1)
          .filter((l) => l.includes(":"))
          .map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
      return { status, headers, body: await fs.readFile(path.join(dir, "b")) };
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  const events = async (id: string) => ((await (await t.fetch(`/packages/${id}/events`, { token: alice.token })).json()) as { type: string }[]).map((e) => e.type);

  it("owner and link downloads answer 302 to a presigned URL that curl downloads, by Range too, after the same checks; HEAD answers directly", async () => {
    const name = "Résumé «final».txt";
    const text = Buffer.from(`${"hello S3 ".repeat(1000)}end`);
    const pkg = await createPackage(t, alice.token);
    const up = await uploadFile(t, alice.token, pkg.id, name, text, { type: "text/plain" });
    expect(up.status).toBe(201);
    const small = (await up.json()) as { id: string; content_type: string };
    expect(small.content_type).toMatch(/^text\/plain/);
    const large = await addFile(t, alice.token, pkg.id, "big.bin", big);
    const secret = await finalize(t, alice.token, pkg.id);
    const s = { id: pkg.id, api: `${t.api}/links/${secret}` };

    // the owner
    const owner = await t.fetch(`/packages/${s.id}/files/${large.id}`, { token: alice.token, redirect: "manual" });
    expect(owner.status).toBe(302);
    expect(owner.headers.get("cache-control")).toBe("no-store");
    const location = owner.headers.get("location")!;
    expect(location.startsWith(`${s3.endpoint}/${s3.bucket}/${t.s3!.prefix}`)).toBe(true);
    expect(location).toContain(`X-Amz-Expires=${PRESIGN_SECONDS}`);
    const got = await curl(location);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(sha256(big));
    expect(got.headers["content-disposition"]).toBe(`attachment; filename="big.bin"; filename*=UTF-8''big.bin`);
    const ranged = await curl(location, ["-r", `${8 * MiB - 5}-${8 * MiB + 4}`]);
    expect(ranged.status).toBe(206);
    expect(ranged.body).toEqual(big.subarray(8 * MiB - 5, 8 * MiB + 5));

    // no token: no redirect
    await expectError(await t.fetch(`/packages/${s.id}/files/${large.id}`, { redirect: "manual" }), 401);

    // the recipient, with the name and type set through the presigned response headers
    const link = await fetch(`${s.api}/files/${small.id}`, { redirect: "manual" });
    expect(link.status).toBe(302);
    const viaLink = await curl(link.headers.get("location")!);
    expect(viaLink.body).toEqual(text);
    expect(viaLink.headers["content-disposition"]).toBe(`attachment; filename="R_sum_ _final_.txt"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%C2%ABfinal%C2%BB.txt`);
    expect(viaLink.headers["content-type"]).toBe(small.content_type);
    // fetch follows the redirect like a browser does
    const followed = await fetch(`${s.api}/files/${small.id}`);
    expect(Buffer.from(await followed.arrayBuffer())).toEqual(text);

    // Counted when the redirect is handed out: 2 so far; the URL serves the whole file, so a
    // request for a range short of the end counts as one too, and so does a resumed tail.
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(2);
    expect((await fetch(`${s.api}/files/${small.id}`, { redirect: "manual", headers: { Range: "bytes=0-9" } })).status).toBe(302);
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(3);
    expect((await fetch(`${s.api}/files/${small.id}`, { redirect: "manual", headers: { Range: "bytes=10-" } })).status).toBe(302);
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(4);
    // a range past the end is still our 416, not a redirect
    await expectError(await fetch(`${s.api}/files/${small.id}`, { redirect: "manual", headers: { Range: `bytes=${text.length + 10}-` } }), 416);

    // HEAD answers the headers itself
    const head = await fetch(`${s.api}/files/${large.id}`, { method: "HEAD", redirect: "manual" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(big.length));
    expect(head.headers.get("location")).toBeNull();
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(4);

    // the zip still streams through the server
    const zip = await fetch(`${s.api}/archive`, { redirect: "manual" });
    expect(zip.status).toBe(200);
    expect(zip.headers.get("content-type")).toBe("application/zip");
    const zipBytes = Buffer.from(await zip.arrayBuffer());
    expect(zipBytes.subarray(0, 2).toString()).toBe("PK");
    expect(zipBytes.includes(big.subarray(0, 4096))).toBe(true);
  });

  it("a ranged request answered by a presigned URL of the whole object counts as a whole download: max_downloads 1 lets one through, the next is 410", async () => {
    const body = "the whole file, not just its first byte";
    const s = await shareFiles(t, alice.token, [["limited.txt", body]], { max_downloads: 1 });
    const url = `${s.api}/files/${s.files[0]!.id}`;
    const first = await fetch(url, { redirect: "manual", headers: { Range: "bytes=0-0" } });
    expect(first.status).toBe(302);
    // The URL handed out serves every byte: that is what was given away.
    expect((await curl(first.headers.get("location")!)).body.toString()).toBe(body);
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(1);
    await expectError(await fetch(url, { redirect: "manual", headers: { Range: "bytes=0-0" } }), 410, "download_limit_reached");
    await expectError(await fetch(url, { redirect: "manual" }), 410, "download_limit_reached");
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(1);
  });

  it("?redirect=never: the link's bytes come from the server itself (the page's decrypting worker cannot follow a redirect to the bucket), counted once sent; the plain request still redirects; another value is 422", async () => {
    const s = await shareFiles(t, alice.token, [["same-origin.bin", big]]);
    const url = `${s.api}/files/${s.files[0]!.id}`;
    expect((await fetch(url, { redirect: "manual" })).status).toBe(302);
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(1);

    const direct = await fetch(`${url}?redirect=never`, { redirect: "manual" });
    expect(direct.status).toBe(200);
    expect(direct.headers.get("location")).toBeNull();
    expect(direct.headers.get("content-length")).toBe(String(big.length));
    expect(direct.headers.get("etag")).toBe(`"${sha256(big)}"`);
    expect(direct.headers.get("content-disposition")).toBe(`attachment; filename="same-origin.bin"; filename*=UTF-8''same-origin.bin`);
    expect(sha256(Buffer.from(await direct.arrayBuffer()))).toBe(sha256(big));
    await until(async () => (await events(s.id)).filter((e) => e === "file_download").length === 2);

    // A range is that range (not the whole object a presigned URL would serve): short of the end,
    // it is no complete download; HEAD never is.
    const part = await fetch(`${url}?redirect=never`, { redirect: "manual", headers: { Range: `bytes=${8 * MiB - 5}-${8 * MiB + 4}` } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(big.subarray(8 * MiB - 5, 8 * MiB + 5));
    const head = await fetch(`${url}?redirect=never`, { method: "HEAD", redirect: "manual" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(big.length));
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(2);

    for (const bad of ["always", "", "NEVER"]) {
      await expectValidationError(await fetch(`${url}?redirect=${bad}`, { redirect: "manual" }), "/query/redirect");
    }
    await expectValidationError(await fetch(`${url}?redirect=never&redirect=never`, { redirect: "manual" }), "/query/redirect");
    expect((await events(s.id)).filter((e) => e === "file_download")).toHaveLength(2);
  });

  it("a presigned URL handed out keeps working after the link is revoked, until SF_S3_PRESIGN_SECONDS (as docs/deployment.md says), then stops", async () => {
    const s = await shareFiles(t, alice.token, [["short.txt", "short-lived"]]);
    const res = await fetch(`${s.api}/files/${s.files[0]!.id}`, { redirect: "manual" });
    const location = res.headers.get("location")!;
    expect((await curl(location)).body.toString()).toBe("short-lived");
    expect((await t.fetch(`/packages/${s.id}/revoke`, { method: "POST", token: alice.token })).status).toBe(200);
    expect((await fetch(`${s.api}/files/${s.files[0]!.id}`, { redirect: "manual" })).status).toBe(410);
    // The store knows nothing of the revoke: the URL already handed out still works.
    expect((await curl(location)).body.toString()).toBe("short-lived");
    await new Promise((r) => setTimeout(r, (PRESIGN_SECONDS + 1.5) * 1000));
    const late = await curl(location);
    expect(late.status).toBe(403);
    expect(late.body.toString()).toContain("expired");
  });
});

describe.each(DATABASES)("S3 store failing (%s)", (kind) => {
  it("a store that goes away mid-upload ends the upload with a 500 at once, records nothing, and /health says so", async () => {
    const s3 = await startS3rver();
    const t = await startTestServer(kind, { s3: { server: s3 } });
    try {
      const alice = await t.createUser();
      const pkg = await createPackage(t, alice.token);
      const up = startUpload(t, alice.token, pkg.id, 40 * MiB);
      await up.write(10 * MiB);
      await s3.stop();
      const writing = up.write(30 * MiB).then(() => up.end());
      const answer = await up.answer;
      void writing.catch(() => undefined);
      expect(answer).not.toBe("cut");
      expect((answer as { status: number }).status).toBe(500);
      expect(JSON.parse((answer as { body: string }).body).code).toBe("internal_error");
      expect(await t.running.services.db("files").where({ package_id: pkg.id })).toEqual([]);
      const health = await t.fetch("/health");
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ storage: "unreachable" });
    } finally {
      await t.close();
      await s3.stop();
    }
  });
});

describe.each(DATABASES)("S3 store unreachable when bytes are deleted (%s)", (kind) => {
  it("deleting a package or a draft's file while the store is down answers 204, and the sweeper deletes the objects once it is back", async () => {
    const s3 = await startS3rver();
    const t = await startTestServer(kind, { s3: { server: s3 } });
    try {
      const alice = await t.createUser();
      const objects = () => s3.objects(t.s3!.prefix);
      const shared = await shareFiles(t, alice.token, [
        ["a.txt", "alpha"],
        ["b.txt", "beta"],
      ]);
      const draft = await createPackage(t, alice.token);
      const kept = await addFile(t, alice.token, draft.id, "kept.txt", "kept");
      const dropped = await addFile(t, alice.token, draft.id, "dropped.txt", "dropped");
      const keyOf = async (id: string) => `${t.s3!.prefix}${await storageKey(t, id)}`;
      const keptKey = await keyOf(kept.id);
      expect(await objects()).toHaveLength(4);

      await s3.pause();
      expect((await t.fetch(`/packages/${shared.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
      expect((await t.fetch(`/packages/${draft.id}/files/${dropped.id}`, { method: "DELETE", token: alice.token })).status).toBe(204);
      // Still down at the next sweep: nothing lost, nothing thrown.
      t.clock.advance(60 * 60 * 1000);
      await sweepOnce(t.running.services);

      // Recorded in the database, so a restart of the server loses none of them.
      expect(await t.running.services.db("blob_deletions")).toHaveLength(3);

      await s3.resume();
      expect(await objects()).toHaveLength(4);
      t.clock.advance(60 * 60 * 1000);
      await sweepOnce(t.running.services);
      expect(await objects()).toEqual([keptKey]);
      expect(await t.running.services.db("blob_deletions")).toEqual([]);
    } finally {
      await t.close();
      await s3.stop();
    }
  });
});
