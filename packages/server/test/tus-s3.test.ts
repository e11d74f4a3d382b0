import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { createPackage, filesUnder, sha256, until } from "@speedyfiles/test-utils/uploads";
import { expectError } from "@speedyfiles/test-utils/expect";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { requestFiles } from "@speedyfiles/test-utils/links";

const MiB = 1024 * 1024;
const TUS = { "Tus-Resumable": "1.0.0" };
const tusMetadata = (meta: Record<string, string>) =>
  Object.entries(meta)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}`)
    .join(",");

function create(t: TestServer, token: string, packageId: string, size: number, meta: Record<string, string>) {
  return t.fetch(`/packages/${packageId}/uploads`, {
    method: "POST",
    token,
    headers: { ...TUS, "Upload-Length": String(size), "Upload-Metadata": tusMetadata(meta) },
  });
}

function patch(t: TestServer, token: string, location: string, offset: number, body: Buffer) {
  return fetch(`${t.url}${location}`, {
    method: "PATCH",
    headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
    body: new Uint8Array(body),
  });
}

function head(t: TestServer, token: string, location: string) {
  return fetch(`${t.url}${location}`, { method: "HEAD", headers: { ...TUS, Authorization: `Bearer ${token}` } });
}

/** The chunk objects of an upload in the bucket. */
const chunkObjects = (t: TestServer, id: string) => t.s3!.server.objects(`${t.s3!.prefix}tus/${id}/`);
const chunkRows = async (t: TestServer, id: string) => (await t.running.services.db("upload_chunks").where({ upload_id: id }).select("offset")).length;

describe.each(DATABASES)("tus uploads on S3 (s3rver) (%s)", (kind) => {
  let s3: S3Server;
  let t: TestServer;
  let token: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    s3 = await startS3rver();
    t = await startTestServer(kind, { s3: { server: s3 }, env: { SF_MAX_FILE_BYTES: String(64 * MiB) } });
    token = (await t.createUser()).token;
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await t?.close();
    await s3?.stop();
  });

  it("several PATCHes go to chunk objects in the bucket (none on local disk); the file is added with the right SHA-256 and downloads byte-identical", async () => {
    const pkg = await createPackage(t, token);
    // Over one 8 MiB piece in the first PATCH: it is stored as two objects.
    const bytes = crypto.randomBytes(13 * MiB + 4321);
    const created = await create(t, token, pkg.id, bytes.length, { filename: "big.bin", sha256: sha256(bytes) });
    expect(created.status).toBe(201);
    const location = created.headers.get("location")!;
    const id = location.split("/").pop()!;
    const cuts = [0, 9 * MiB + 7, 11 * MiB, bytes.length];

    for (let i = 0; i < 2; i++) {
      const res = await patch(t, token, location, cuts[i]!, bytes.subarray(cuts[i], cuts[i + 1]));
      expect(res.status).toBe(204);
      expect(res.headers.get("upload-offset")).toBe(String(cuts[i + 1]));
    }
    expect(await chunkObjects(t, id)).toEqual([
      `${t.s3!.prefix}tus/${id}/0000000000000000`,
      `${t.s3!.prefix}tus/${id}/${String(8 * MiB).padStart(16, "0")}`,
      `${t.s3!.prefix}tus/${id}/${String(9 * MiB + 7).padStart(16, "0")}`,
    ]);
    expect(await filesUnder(path.join(t.dataDir, "uploads"))).toEqual([]);
    expect((await head(t, token, location)).headers.get("upload-offset")).toBe(String(11 * MiB));

    const last = await patch(t, token, location, cuts[2]!, bytes.subarray(cuts[2]));
    expect(last.status).toBe(200);
    const file = (await last.json()) as { id: string; sha256: string; size: number };
    expect(file.sha256).toBe(sha256(bytes));
    expect(file.size).toBe(bytes.length);
    const got = await t.fetch(`/packages/${pkg.id}/files/${file.id}`, { token });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    // The pieces and their records are gone; the file is one object of its own.
    expect(await chunkObjects(t, id)).toEqual([]);
    expect(await chunkRows(t, id)).toBe(0);
    const key = (await t.running.services.db("files").where({ id: file.id }).first()).storage_key as string;
    expect((await s3.getObject(`${t.s3!.prefix}${key}`)).equals(bytes)).toBe(true);
  });

  it("a creation that carries the whole file (creation-with-upload), and an upload through an inbound link, end as files", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(100_000);
    const res = await t.fetch(`/packages/${pkg.id}/uploads`, {
      method: "POST",
      token,
      headers: { ...TUS, "Upload-Length": String(bytes.length), "Upload-Metadata": tusMetadata({ filename: "one.bin" }), "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes),
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { sha256: string }).sha256).toBe(sha256(bytes));

    const shared = await requestFiles(t, token);
    const viaLink = await t.fetch(`/links/${shared.secret}/uploads`, {
      method: "POST",
      headers: { ...TUS, "Upload-Length": String(bytes.length), "Upload-Metadata": tusMetadata({ filename: "from-them.bin" }) },
    });
    expect(viaLink.status).toBe(201);
    const location = viaLink.headers.get("location")!;
    const first = await fetch(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(0, 50_000)),
    });
    expect(first.status).toBe(204);
    expect(await chunkObjects(t, location.split("/").pop()!)).toHaveLength(1);
    const last = await fetch(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, "Upload-Offset": "50000", "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(bytes.subarray(50_000)),
    });
    expect(last.status).toBe(200);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
    expect(await t.s3!.server.objects(`${t.s3!.prefix}tus/`)).toEqual([]);
  });

  it("a PATCH cut mid-way keeps the pieces stored before the cut; resumed from HEAD's offset, the file is right", async () => {
    const pkg = await createPackage(t, token);
    const bytes = crypto.randomBytes(20 * MiB);
    const location = (await create(t, token, pkg.id, bytes.length, { filename: "cut.bin" })).headers.get("location")!;
    const id = location.split("/").pop()!;
    const req = http.request(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Content-Length": String(bytes.length) },
    });
    req.on("error", () => undefined);
    req.write(bytes.subarray(0, 12 * MiB));
    // The first 8 MiB piece is in the bucket: then the client goes away.
    await until(async () => (await chunkRows(t, id)) >= 1, 10_000, "a stored piece");
    req.destroy();
    let offset = 0;
    await until(
      async () => {
        const h = await head(t, token, location);
        offset = Number(h.headers.get("upload-offset"));
        return h.status === 200 && (await t.running.services.db("uploads").where({ id }).first()).locked_by === null && offset >= 8 * MiB;
      },
      10_000,
      "the offset",
    );
    expect(offset).toBeLessThanOrEqual(12 * MiB);
    const last = await patch(t, token, location, offset, bytes.subarray(offset));
    expect(last.status).toBe(200);
    expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
    expect(await chunkObjects(t, id)).toEqual([]);
  });

  it("termination, expiry (the sweeper) and deleting the package remove the chunk objects", async () => {
    const pkg = await createPackage(t, token);
    const location = (await create(t, token, pkg.id, 100, { filename: "gone.bin" })).headers.get("location")!;
    const id = location.split("/").pop()!;
    expect((await patch(t, token, location, 0, Buffer.alloc(50, 1))).status).toBe(204);
    expect(await chunkObjects(t, id)).toHaveLength(1);
    const del = await fetch(`${t.url}${location}`, { method: "DELETE", headers: { ...TUS, Authorization: `Bearer ${token}` } });
    expect(del.status).toBe(204);
    expect((await head(t, token, location)).status).toBe(404);
    expect(await chunkObjects(t, id)).toEqual([]);
    expect(await chunkRows(t, id)).toBe(0);

    const late = (await create(t, token, pkg.id, 100, { filename: "late.bin" })).headers.get("location")!;
    const lateId = late.split("/").pop()!;
    expect((await patch(t, token, late, 0, Buffer.alloc(10))).status).toBe(204);
    expect(await chunkObjects(t, lateId)).toHaveLength(1);
    t.clock.advance(25 * 3_600_000);
    await expectError(await patch(t, token, late, 10, Buffer.alloc(10)), 410, "upload_expired");
    await sweepOnce(t.running.services);
    expect(await chunkObjects(t, lateId)).toEqual([]);

    const pkg2 = await createPackage(t, token);
    const loc2 = (await create(t, token, pkg2.id, 100, { filename: "del.bin" })).headers.get("location")!;
    const id2 = loc2.split("/").pop()!;
    expect((await patch(t, token, loc2, 0, Buffer.alloc(10))).status).toBe(204);
    expect(await chunkObjects(t, id2)).toHaveLength(1);
    expect((await t.fetch(`/packages/${pkg2.id}`, { method: "DELETE", token })).status).toBe(204);
    expect(await chunkObjects(t, id2)).toEqual([]);
  });

  it("a restart between PATCHes (a new server on the same database and bucket) resumes; the SHA-256 is rebuilt from the pieces and is right", async () => {
    // SQLite's database lives in the data dir; on PostgreSQL the second server has a data dir of its own (another machine).
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    if (pg) cleanups.push(pg.drop);
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-tus-s3-"));
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const prefix = `r-${crypto.randomBytes(4).toString("hex")}/`;
    const a = await startTestServer(kind, { s3: { server: s3, prefix }, dataDir, ...(pg ? { databaseUrl: pg.url } : {}) });
    let aClosed = false;
    cleanups.push(() => (aClosed ? Promise.resolve() : a.close()));
    const { token: tk } = await a.createUser();
    const pkg = await createPackage(a, tk);
    const bytes = crypto.randomBytes(10 * MiB + 99);
    const location = (await create(a, tk, pkg.id, bytes.length, { filename: "restart.bin", sha256: sha256(bytes) })).headers.get("location")!;
    const id = location.split("/").pop()!;
    expect((await patch(a, tk, location, 0, bytes.subarray(0, 9 * MiB))).status).toBe(204);
    // In the bucket (an 8 MiB piece and a 1 MiB one), not in the data dir.
    expect(await s3.objects(`${prefix}tus/${id}/`)).toHaveLength(2);
    expect(await filesUnder(path.join(dataDir, "uploads"))).toEqual([]);
    await a.close();
    aClosed = true;

    const otherDir = pg ? await fs.mkdtemp(path.join(os.tmpdir(), "sf-tus-s3-b-")) : dataDir;
    if (pg) cleanups.push(() => fs.rm(otherDir, { recursive: true, force: true }));
    const b = await startTestServer(kind, { s3: { server: s3, prefix }, dataDir: otherDir, ...(pg ? { databaseUrl: pg.url } : {}) });
    cleanups.push(() => b.close());
    expect((await head(b, tk, location)).headers.get("upload-offset")).toBe(String(9 * MiB));
    expect((await patch(b, tk, location, 9 * MiB, bytes.subarray(9 * MiB, 10 * MiB))).status).toBe(204);
    // The hash state was rebuilt once, from the 9 MiB stored before the restart.
    expect(b.running.services.uploads.stats.rebuiltBytes).toBe(9 * MiB);
    const last = await patch(b, tk, location, 10 * MiB, bytes.subarray(10 * MiB));
    expect(last.status).toBe(200);
    const file = (await last.json()) as { id: string; sha256: string };
    expect(file.sha256).toBe(sha256(bytes));
    expect(b.running.services.uploads.stats.rebuiltBytes).toBe(9 * MiB);
    const got = await b.fetch(`/packages/${pkg.id}/files/${file.id}`, { token: tk });
    expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);
    expect(await s3.objects(`${prefix}tus/${id}/`)).toEqual([]);
    expect(await filesUnder(path.join(otherDir, "uploads"))).toEqual([]);
  }, 60_000);
  // Two servers sharing one database need PostgreSQL (SQLite is one process): registered only there.
  if (kind === "postgres")
    it("two live servers with their own data dirs (two machines) take turns on one upload", async () => {
      const pg = await createPgDatabase();
      cleanups.push(pg.drop);
      const prefix = `two-${crypto.randomBytes(4).toString("hex")}/`;
      const [a, b] = [
        await startTestServer(kind, { s3: { server: s3, prefix }, databaseUrl: pg.url }),
        await startTestServer(kind, { s3: { server: s3, prefix }, databaseUrl: pg.url }),
      ];
      cleanups.push(
        () => a.close(),
        () => b.close(),
      );
      expect(a.dataDir).not.toBe(b.dataDir);
      const { token: tk } = await a.createUser();
      const pkg = await createPackage(a, tk);
      const bytes = crypto.randomBytes(3 * MiB + 1);
      const location = (await create(a, tk, pkg.id, bytes.length, { filename: "turns.bin" })).headers.get("location")!;
      const servers = [a, b, a, b];
      for (let i = 0; i < 3; i++) {
        const s = servers[i]!;
        expect((await head(s, tk, location)).headers.get("upload-offset")).toBe(String(i * MiB));
        expect((await patch(s, tk, location, i * MiB, bytes.subarray(i * MiB, (i + 1) * MiB))).status).toBe(204);
      }
      const last = await patch(b, tk, location, 3 * MiB, bytes.subarray(3 * MiB));
      expect(last.status).toBe(200);
      expect(((await last.json()) as { sha256: string }).sha256).toBe(sha256(bytes));
    }, 60_000);
  // Two servers sharing one database need PostgreSQL (SQLite is one process): registered only there.
  if (kind === "postgres")
    it("the last PATCH repeated on another server while the first is still copying the pieces into the file answers the same file", async () => {
      const pg = await createPgDatabase();
      cleanups.push(pg.drop);
      const prefix = `rep-${crypto.randomBytes(4).toString("hex")}/`;
      const env = { SF_MAX_FILE_BYTES: String(256 * MiB) };
      const [a, b] = [
        await startTestServer(kind, { s3: { server: s3, prefix }, databaseUrl: pg.url, env }),
        await startTestServer(kind, { s3: { server: s3, prefix }, databaseUrl: pg.url, env }),
      ];
      cleanups.push(
        () => a.close(),
        () => b.close(),
      );
      const { token: tk } = await a.createUser();
      const pkg = await createPackage(a, tk);
      const bytes = crypto.randomBytes(96 * MiB);
      const location = (await create(a, tk, pkg.id, bytes.length, { filename: "copying.bin" })).headers.get("location")!;
      const id = location.split("/").pop()!;
      const finishing = patch(a, tk, location, 0, bytes);
      // Every byte recorded, the file not yet added: A is copying the pieces into the file's object.
      await until(
        async () => {
          const sum = await a.running.services.db("upload_chunks").where({ upload_id: id }).sum({ n: "size" }).first();
          return Number(sum?.n ?? 0) === bytes.length;
        },
        30_000,
        "all pieces recorded",
      );
      expect((await a.running.services.db("uploads").where({ id }).first()).completed_at).toBeNull();
      // A client whose stall timer fired asks again with an empty PATCH at the end, reaching B.
      const again = await patch(b, tk, location, bytes.length, Buffer.alloc(0));
      const first = await finishing;
      expect(first.status).toBe(200);
      const file = (await first.json()) as { id: string; sha256: string };
      expect(file.sha256).toBe(sha256(bytes));
      expect(again.status).toBe(200);
      expect(((await again.json()) as { id: string }).id).toBe(file.id);
    }, 120_000);
});
