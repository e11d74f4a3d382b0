import crypto from "node:crypto";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { until } from "@speedyfiles/test-utils/uploads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { createPackage, filesUnder, sha256, stalledTusPatch } from "@speedyfiles/test-utils/uploads";
import { expectError } from "@speedyfiles/test-utils/expect";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { requestFiles, shareFiles } from "@speedyfiles/test-utils/links";

const MiB = 1024 * 1024;
const b64 = (s: string) => Buffer.from(s).toString("base64");
const TUS = { "Tus-Resumable": "1.0.0" };

/** `filename <b64>,sha256 <b64>,…` as tus wants its metadata. */
function tusMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(",");
}

async function create(t: TestServer, token: string | undefined, base: string, size: number, meta: Record<string, string>, body?: Buffer) {
  return t.fetch(base, {
    method: "POST",
    ...(token ? { token } : {}),
    headers: {
      ...TUS,
      "Upload-Length": String(size),
      "Upload-Metadata": tusMetadata(meta),
      ...(body ? { "Content-Type": "application/offset+octet-stream" } : {}),
    },
    ...(body ? { body: new Uint8Array(body) } : {}),
  });
}

function patch(t: TestServer, token: string | undefined, location: string, offset: number, body: Buffer, contentType = "application/offset+octet-stream") {
  return fetch(`${t.url}${location}`, {
    method: "PATCH",
    headers: { ...TUS, ...(token ? { Authorization: `Bearer ${token}` } : {}), "Upload-Offset": String(offset), "Content-Type": contentType },
    body: new Uint8Array(body),
  });
}

function head(t: TestServer, token: string | undefined, location: string) {
  return fetch(`${t.url}${location}`, { method: "HEAD", headers: { ...TUS, ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
}

describe.each(DATABASES)("tus uploads (%s)", (kind) => {
  let t: TestServer;
  let token: string;

  beforeAll(async () => {
    t = await startTestServer(kind, { env: { SF_MAX_FILE_BYTES: String(64 * MiB), SF_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" } });
    token = (await t.createUser()).token;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("OPTIONS advertises tus 1.0 and its extensions", async () => {
    const pkg = await createPackage(t, token);
    const res = await t.fetch(`/packages/${pkg.id}/uploads`, { method: "OPTIONS" });
    expect(res.status).toBe(204);
    expect(res.headers.get("tus-version")).toBe("1.0.0");
    expect(res.headers.get("tus-extension")?.split(",").sort()).toEqual(["creation", "creation-with-upload", "expiration", "termination"]);
    expect(res.headers.get("tus-max-size")).toBe(String(64 * MiB));
    // No CORS for other origins (the API is same-origin).
    const cross = await t.fetch(`/packages/${pkg.id}/uploads`, { method: "OPTIONS", headers: { Origin: "https://evil.example" } });
    expect(cross.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("creates, reports the offset, takes chunks, and adds the file with its SHA-256 at the last byte", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(5 * MiB + 123);
    const res = await create(t, token, `/packages/${pkg.id}/uploads`, bytes.length, { filename: "big.bin", sha256: sha256(bytes), content_type: "application/x-test" });
    expect(res.status).toBe(201);
    const location = res.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^/api/v1/packages/${pkg.id}/uploads/[0-9a-f-]{36}$`));
    expect(res.headers.get("upload-expires")).toBeTruthy();

    let h = await head(t, token, location);
    expect(h.status).toBe(200);
    expect(h.headers.get("upload-offset")).toBe("0");
    expect(h.headers.get("upload-length")).toBe(String(bytes.length));

    const first = await patch(t, token, location, 0, bytes.subarray(0, 2 * MiB));
    expect(first.status).toBe(204);
    expect(first.headers.get("upload-offset")).toBe(String(2 * MiB));
    h = await head(t, token, location);
    expect(h.headers.get("upload-offset")).toBe(String(2 * MiB));

    // A PATCH at the wrong offset is 409 and writes nothing.
    await expectError(await patch(t, token, location, MiB, bytes.subarray(MiB, 2 * MiB)), 409, "upload_offset_mismatch");
    // The wrong content type is 415.
    await expectError(await patch(t, token, location, 2 * MiB, bytes.subarray(2 * MiB), "application/octet-stream"), 415);
    h = await head(t, token, location);
    expect(h.headers.get("upload-offset")).toBe(String(2 * MiB));

    // The package cannot be finalized while the upload is unfinished.
    await expectError(await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token }), 409, "uploads_unfinished");

    const last = await patch(t, token, location, 2 * MiB, bytes.subarray(2 * MiB));
    expect(last.status).toBe(200);
    const file = (await last.json()) as { id: string; sha256: string; size: number; name: string; content_type: string };
    expect(file).toMatchObject({ name: "big.bin", size: bytes.length, sha256: sha256(bytes), content_type: "application/x-test" });

    const dl = await t.fetch(`/packages/${pkg.id}/files/${file.id}`, { token });
    expect(sha256(Buffer.from(await dl.arrayBuffer()))).toBe(sha256(bytes));
    // Nothing of the upload is left in the tus store.
    expect(await filesUnder(path.join(t.dataDir, "uploads"))).toEqual([]);
    // A client that lost the last answer learns it on HEAD.
    h = await head(t, token, location);
    expect(h.headers.get("upload-offset")).toBe(String(bytes.length));
    expect(h.headers.get("speedyfiles-file-id")).toBe(file.id);
    expect((await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token })).status).toBe(200);
  });

  it("checks the name, the size and the limits at creation, before any byte (413, 422, 409)", async () => {
    const pkg = await createPackage(t, token);
    const huge = await expectError(await create(t, token, `/packages/${pkg.id}/uploads`, 64 * MiB + 1, { filename: "huge.bin" }), 413, "limit_exceeded");
    expect(huge.detail).toBe(`File is larger than the limit of ${64 * MiB} bytes`); // as multipart says
    await expectError(await create(t, token, `/packages/${pkg.id}/uploads`, 10, { filename: "../etc/passwd" }), 422, "file_name_invalid");
    await expectError(await create(t, token, `/packages/${pkg.id}/uploads`, 10, { content_type: "text/plain" }), 422, "file_name_invalid");
    await expectError(await create(t, token, `/packages/${pkg.id}/uploads`, 10, { filename: "a.txt", sha256: "xyz" }), 422);
    expect((await create(t, token, `/packages/${pkg.id}/uploads`, 10, { filename: "a.txt" })).status).toBe(201);
    await expectError(await create(t, token, `/packages/${pkg.id}/uploads`, 10, { filename: "A.TXT" }), 409, "file_name_taken");
    expect(await filesUnder(path.join(t.dataDir, "uploads"))).toHaveLength(2); // a.txt and its .json
  });

  it("another or no Tus-Resumable version is 412 tus_version_unsupported, on creation, HEAD and PATCH", async () => {
    const pkg = await createPackage(t, token);
    const base = `/packages/${pkg.id}/uploads`;
    const post = (version?: string) =>
      t.fetch(base, {
        method: "POST",
        token,
        headers: { ...(version ? { "Tus-Resumable": version } : {}), "Upload-Length": "10", "Upload-Metadata": tusMetadata({ filename: "v.txt" }) },
      });
    await expectError(await post("0.2.2"), 412, "tus_version_unsupported");
    await expectError(await post(), 412, "tus_version_unsupported");
    const location = (await create(t, token, base, 10, { filename: "v.txt" })).headers.get("location")!;
    const old = { Authorization: `Bearer ${token}`, "Tus-Resumable": "0.2.2" };
    expect((await fetch(`${t.url}${location}`, { method: "HEAD", headers: old })).status).toBe(412);
    const res = await fetch(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...old, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: "0123456789",
    });
    await expectError(res, 412, "tus_version_unsupported");
    expect((await head(t, token, location)).headers.get("upload-offset")).toBe("0");
  });

  it("a checksum mismatch at the last byte is 422 and leaves nothing behind", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(1000);
    const res = await create(t, token, `/packages/${pkg.id}/uploads`, bytes.length, { filename: "x.bin", sha256: "0".repeat(64) });
    const location = res.headers.get("location")!;
    await expectError(await patch(t, token, location, 0, bytes), 422, "checksum_mismatch");
    const detail = (await (await t.fetch(`/packages/${pkg.id}`, { token })).json()) as { files: unknown[] };
    expect(detail.files).toEqual([]);
    expect((await head(t, token, location)).status).toBe(404);
  });

  it("creation-with-upload: the whole file in the POST", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(4096);
    const res = await create(t, token, `/packages/${pkg.id}/uploads`, bytes.length, { filename: "one.bin" }, bytes);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
  });

  it("termination removes the bytes; another user's upload is 403; no token is 401", async () => {
    const pkg = await createPackage(t, token);
    const res = await create(t, token, `/packages/${pkg.id}/uploads`, 100, { filename: "gone.bin" });
    const location = res.headers.get("location")!;
    await patch(t, token, location, 0, Buffer.alloc(50));
    const other = (await t.createUser()).token;
    await expectError(await patch(t, other, location, 50, Buffer.alloc(50)), 403, "package_forbidden");
    await expectError(await patch(t, undefined, location, 50, Buffer.alloc(50)), 401);
    const del = await fetch(`${t.url}${location}`, { method: "DELETE", headers: { ...TUS, Authorization: `Bearer ${token}` } });
    expect(del.status).toBe(204);
    expect((await head(t, token, location)).status).toBe(404);
    const id = location.split("/").pop()!;
    expect((await filesUnder(path.join(t.dataDir, "uploads"))).filter((f) => f.includes(id))).toEqual([]);
  });

  it("a tus header that is no number (Upload-Length on a DELETE or HEAD) is 422 validation_failed, and the upload stays", async () => {
    const pkg = await createPackage(t, token);
    const res = await create(t, token, `/packages/${pkg.id}/uploads`, 100, { filename: "odd-headers.bin" });
    const location = res.headers.get("location")!;
    await patch(t, token, location, 0, Buffer.alloc(10));
    for (const method of ["DELETE", "HEAD"]) {
      const answer = await fetch(`${t.url}${location}`, { method, headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Length": '{"a":{"a":1}}' } });
      if (method === "HEAD") expect({ method, status: answer.status }).toEqual({ method, status: 422 });
      else await expectError(answer, 422, "validation_failed");
    }
    const still = await head(t, token, location);
    expect(still.headers.get("upload-offset")).toBe("10");
  });

  it("an unfinished upload expires: the sweeper removes its bytes, and deleting the package removes them too", async () => {
    const pkg = await createPackage(t, token);
    const location = (await create(t, token, `/packages/${pkg.id}/uploads`, 100, { filename: "late.bin" })).headers.get("location")!;
    await patch(t, token, location, 0, Buffer.alloc(10));
    const id = location.split("/").pop()!;
    t.clock.advance(25 * 3_600_000);
    await expectError(await patch(t, token, location, 10, Buffer.alloc(10)), 410, "upload_expired");
    await sweepOnce(t.running.services);
    expect((await filesUnder(path.join(t.dataDir, "uploads"))).filter((f) => f.includes(id))).toEqual([]);
    // finalize works again once the expired upload is gone
    await t.fetch(`/packages/${pkg.id}/uploads`, { method: "OPTIONS" });

    const pkg2 = await createPackage(t, token);
    const loc2 = (await create(t, token, `/packages/${pkg2.id}/uploads`, 100, { filename: "del.bin" })).headers.get("location")!;
    await patch(t, token, loc2, 0, Buffer.alloc(10));
    expect((await t.fetch(`/packages/${pkg2.id}`, { method: "DELETE", token })).status).toBe(204);
    const id2 = loc2.split("/").pop()!;
    expect((await filesUnder(path.join(t.dataDir, "uploads"))).filter((f) => f.includes(id2))).toEqual([]);
  });

  it("through an inbound link: no token, the file is recorded as a link upload (audit, package.uploaded webhook)", async () => {
    const owner = await t.createUser();
    const hook = await t.fetch("/webhooks", { method: "POST", token: owner.token, json: { url: "http://127.0.0.1:9/hook", events: ["package.uploaded"] } });
    expect(hook.status).toBe(201);
    const s = await requestFiles(t, owner.token);
    const base = `/links/${s.secret}/uploads`;
    expect((await t.fetch(base, { method: "OPTIONS" })).headers.get("tus-version")).toBe("1.0.0");
    const bytes = crypto.randomBytes(300_000);
    const res = await create(t, undefined, base, bytes.length, { filename: "scan.pdf", sha256: sha256(bytes) });
    expect(res.status).toBe(201);
    const location = res.headers.get("location")!;
    expect(location).toBe(`/api/v1/links/${s.secret}/uploads/${location.split("/").pop()}`);
    expect((await patch(t, undefined, location, 0, bytes.subarray(0, 100_000))).status).toBe(204);
    expect(Number((await head(t, undefined, location)).headers.get("upload-offset"))).toBe(100_000);
    const last = await patch(t, undefined, location, 100_000, bytes.subarray(100_000));
    expect(last.status).toBe(200);
    const file = (await last.json()) as { id: string };
    const db = t.running.services.db;
    expect(await db("package_events").where({ package_id: s.id, type: "upload" }).select("file_id", "file_name")).toEqual([{ file_id: file.id, file_name: "scan.pdf" }]);
    const events = await db("webhook_events").where({ package_id: s.id, type: "package.uploaded" }).select("payload");
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.payload as string).data.file).toMatchObject({ id: file.id, name: "scan.pdf", sha256: sha256(bytes) });
    // The owner's uploads route does not reach a link's upload through another package id.
    const other = await createPackage(t, owner.token);
    expect((await head(t, owner.token, `/api/v1/packages/${other.id}/uploads/${location.split("/").pop()}`)).status).toBe(404);
  });

  it("an upload id through a link that takes no uploads is 409 link_not_inbound on creation, HEAD, PATCH and DELETE", async () => {
    const owner = await t.createUser();
    const s = await shareFiles(t, owner.token, [["a.txt", "hello"]]);
    const base = `/api/v1/links/${s.secret}/uploads`;
    const created = await create(t, undefined, `/links/${s.secret}/uploads`, 5, { filename: "b.txt" });
    await expectError(created, 409, "link_not_inbound");
    const location = `${base}/${crypto.randomUUID()}`;
    expect((await head(t, undefined, location)).status).toBe(409);
    await expectError(await patch(t, undefined, location, 0, Buffer.from("hello")), 409, "link_not_inbound");
    await expectError(await fetch(`${t.url}${location}`, { method: "DELETE", headers: TUS }), 409, "link_not_inbound");
  });

  it("a PATCH without Content-Length (chunked) that brings more than the upload's length is 413, and nothing past the length is kept", async () => {
    const pkg = await createPackage(t, token);
    const location = (await create(t, token, `/packages/${pkg.id}/uploads`, 100, { filename: "over.bin" })).headers.get("location")!;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(150));
        c.close();
      },
    });
    const res = await fetch(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body,
      duplex: "half",
    } as RequestInit);
    await expectError(res, 413, "limit_exceeded");
    expect(Number((await head(t, token, location)).headers.get("upload-offset"))).toBeLessThanOrEqual(100);
  });

  it("a client that goes away mid-PATCH keeps what arrived, and resuming costs no re-read of it", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(6 * MiB);
    const location = (await create(t, token, `/packages/${pkg.id}/uploads`, bytes.length, { filename: "cut.bin" })).headers.get("location")!;
    const id = location.split("/").pop()!;
    const rebuiltBefore = t.running.services.uploads.stats.rebuiltBytes;
    const req = http.request(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Content-Length": String(bytes.length) },
    });
    req.on("error", () => undefined);
    req.write(bytes.subarray(0, 3 * MiB));
    const stored = path.join(t.dataDir, "uploads", id);
    await until(
      async () =>
        (await import("node:fs/promises")).stat(stored).then(
          (st) => st.size >= 2 * MiB,
          () => false,
        ),
      10_000,
      "2 MiB on disk",
    );
    req.destroy();
    // The cut write ends where it stopped; its offset is what HEAD says once the lock is free.
    let offset = 0;
    await until(
      async () => {
        const h = await head(t, token, location);
        offset = Number(h.headers.get("upload-offset"));
        return h.status === 200 && offset >= 2 * MiB;
      },
      10_000,
      "the offset",
    );
    const last = await patch(t, token, location, offset, bytes.subarray(offset));
    expect(last.status).toBe(200);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
    expect(t.running.services.uploads.stats.rebuiltBytes).toBe(rebuiltBefore);
  });

  it("a stalled PATCH lets go at once when its owner comes back: HEAD answers the stored offset, the upload resumes", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(2 * MiB);
    const location = (await create(t, token, `/packages/${pkg.id}/uploads`, bytes.length, { filename: "stalled.bin", sha256: sha256(bytes) })).headers.get("location")!;
    const stored = path.join(t.dataDir, "uploads", location.split("/").pop()!);
    const stalled = await stalledTusPatch(t.url, token, location, bytes, 64 * 1024, stored);

    // Another user (and no one) cannot make it let go: refused as before, the stalled request goes on.
    const other = (await t.createUser()).token;
    expect((await head(t, other, location)).status).toBe(403);
    expect((await head(t, undefined, location)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(stalled.isClosed()).toBe(false);

    // The owner's HEAD: at once, not 423 after the lock's wait.
    const started = Date.now();
    const h = await fetch(`${t.url}${location}`, { method: "HEAD", headers: { ...TUS, Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
    expect(h.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(h.headers.get("upload-offset")).toBe(String(64 * 1024));
    // The stale request is over: answered with what it stored, its connection closed.
    await stalled.closed;
    expect(stalled.answer()).toMatch(/^HTTP\/1\.1 204 [\s\S]*upload-offset: 65536\r\n/i);

    const last = await patch(t, token, location, 64 * 1024, bytes.subarray(64 * 1024));
    expect(last.status).toBe(200);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
  });

  it("a stalled PATCH lets go when its owner PATCHes again from the stored offset", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(2 * MiB);
    const location = (await create(t, token, `/packages/${pkg.id}/uploads`, bytes.length, { filename: "stalled2.bin", sha256: sha256(bytes) })).headers.get("location")!;
    const stored = path.join(t.dataDir, "uploads", location.split("/").pop()!);
    const stalled = await stalledTusPatch(t.url, token, location, bytes, 64 * 1024, stored);
    const started = Date.now();
    const last = await fetch(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": String(64 * 1024), "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(64 * 1024)),
      signal: AbortSignal.timeout(10_000),
    });
    expect(last.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
    await stalled.closed;
  });

  it("a refused creation leaves nothing behind: no row, no bytes, the name free (too many bytes, bad metadata, limits)", async () => {
    const pkg = await createPackage(t, token);
    const base = `/packages/${pkg.id}/uploads`;
    const db = t.running.services.db;
    const rows = () =>
      db("uploads")
        .where({ package_id: pkg.id })
        .count<{ n: number | string }[]>({ n: "*" })
        .then((r) => Number(r[0]!.n));
    const filesBefore = await filesUnder(path.join(t.dataDir, "uploads"));

    // Creation-with-upload whose body is longer than its Upload-Length.
    const over = await create(t, token, base, 4, { filename: "four.txt" }, Buffer.from("0123456789"));
    await expectError(over, 413, "limit_exceeded");
    expect(over.headers.get("location")).toBeNull();
    expect(await rows()).toBe(0);
    expect(await filesUnder(path.join(t.dataDir, "uploads"))).toEqual(filesBefore);

    // Malformed metadata, a bad name, a size over the limit: refused before anything is kept.
    const malformed = await t.fetch(base, { method: "POST", token, headers: { ...TUS, "Upload-Length": "4", "Upload-Metadata": "filename !!!not-base64" } });
    expect(malformed.status).toBeGreaterThanOrEqual(400);
    expect(malformed.status).toBeLessThan(500);
    await expectError(await create(t, token, base, 4, { filename: "../four.txt" }, Buffer.from("0123")), 422, "file_name_invalid");
    await expectError(await create(t, token, base, 64 * MiB + 1, { filename: "four.txt" }, Buffer.from("0123")), 413, "limit_exceeded");
    expect(await rows()).toBe(0);
    expect(await filesUnder(path.join(t.dataDir, "uploads"))).toEqual(filesBefore);

    // The name is free, and the package can be finalized.
    const again = await create(t, token, base, 4, { filename: "four.txt" }, Buffer.from("0123"));
    expect(again.status).toBe(201);
    expect((await t.fetch(`/packages/${pkg.id}/finalize`, { method: "POST", token })).status).toBe(200);
  });

  it("a creation-with-upload whose client goes away before the answer leaves nothing behind", async () => {
    const pkg = await createPackage(t, token);
    const db = t.running.services.db;
    const filesBefore = await filesUnder(path.join(t.dataDir, "uploads"));
    const socket = net.connect(Number(new URL(t.url).port), "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.on("error", () => undefined);
    socket.write(
      `POST /api/v1/packages/${pkg.id}/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nTus-Resumable: 1.0.0\r\n` +
        `Upload-Length: 1000\r\nUpload-Metadata: filename ${b64("cut.txt")}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 1000\r\n\r\n`,
    );
    socket.write(Buffer.alloc(100));
    await until(async () => (await db("uploads").where({ package_id: pkg.id }).first("id")) !== undefined, 10_000, "the upload's row");
    socket.destroy();
    await until(
      async () =>
        (await db("uploads").where({ package_id: pkg.id }).first("id")) === undefined && (await filesUnder(path.join(t.dataDir, "uploads"))).length === filesBefore.length,
      10_000,
      "the cut creation to be gone",
    );
    expect(await filesUnder(path.join(t.dataDir, "uploads"))).toEqual(filesBefore);
    expect((await create(t, token, `/packages/${pkg.id}/uploads`, 3, { filename: "cut.txt" }, Buffer.from("abc"))).status).toBe(201);
  });

  it("an unfinished upload keeps its room: a multipart upload meanwhile cannot take it (413)", async () => {
    const small = await startTestServer(kind, { env: { SF_MAX_PACKAGE_BYTES: String(1000) } });
    try {
      const u = await small.createUser();
      const pkg = await createPackage(small, u.token);
      expect((await create(small, u.token, `/packages/${pkg.id}/uploads`, 800, { filename: "big.bin" })).status).toBe(201);
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(300)]), "other.bin");
      await expectError(await small.fetch(`/packages/${pkg.id}/files`, { method: "POST", token: u.token, body: form }), 413, "limit_exceeded");
      // The same rule at creation: 800 reserved, 300 more does not fit.
      await expectError(await create(small, u.token, `/packages/${pkg.id}/uploads`, 300, { filename: "more.bin" }), 413, "limit_exceeded");
    } finally {
      await small.close();
    }
  });
});
