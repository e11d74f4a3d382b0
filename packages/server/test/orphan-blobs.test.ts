// Bytes stored by a process that died before its database commit belong to no row: the sweeper
// finds such blobs in the store (local disk or S3) and removes them once they are older than the
// grace period, never a blob a row refers to, one younger than the grace, or an unfinished
// resumable upload's bytes.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASES, startTestServer, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { addFile, blobPath, createPackage, exists, sha256 } from "@speedyfiles/test-utils/uploads";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { instanceId } from "../src/db/instance.js";
import { sweepOnce } from "../src/jobs/sweeper.js";
import { removeOrphanBlobs } from "../src/services/orphan-blobs.js";

const HOUR = 3_600_000;
/**
 * An age past the default grace (SF_UPLOAD_EXPIRY_HOURS 24 + 24 = 48 h) by an hour: a blob dated
 * exactly 48 h back is not older than the grace when the sweep runs in the same millisecond.
 */
const OLD = 49;

/** Everything the server logs, as text. */
class LogCapture {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

const STORES = ["local", "s3"] as const;

describe.each(DATABASES.flatMap((db) => STORES.map((store) => [db, store] as const)))("orphaned blobs (%s, %s)", (kind, store) => {
  let s3: S3Server | undefined;
  let t: TestServer;
  let token: string;
  const log = new LogCapture();

  beforeAll(async () => {
    if (store === "s3") s3 = await startS3rver();
    t = await startTestServer(kind, { logStream: log, ...(s3 ? { s3: { server: s3 } } : {}) });
    token = (await t.createUser()).token;
  });
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
  });

  /** Is a blob in the store? */
  const stored = async (key: string): Promise<boolean> => (s3 && t.s3 ? (await s3.objects(t.s3.prefix)).includes(`${t.s3.prefix}${key}`) : exists(blobPath(t, key)));
  /** Makes a stored blob look `hours` old (its file's mtime; s3rver reports the same as LastModified). */
  const age = async (key: string, hours: number) => {
    const when = new Date(Date.now() - hours * HOUR);
    const file = s3 && t.s3 ? path.join(s3.dir, s3.bucket, ...`${t.s3.prefix}${key}._S3rver_object`.split("/")) : blobPath(t, key);
    await fs.utimes(file, when, when);
  };
  /** Bytes stored with no row, as a crash between the store's write and the commit leaves them. */
  const orphan = async () => (await t.running.services.storage.put(Readable.from([crypto.randomBytes(1000)]))).key;

  it("the sweeper removes a blob no row refers to once older than the grace, and nothing else", async () => {
    const db = t.running.services.db;
    const pkg = await createPackage(t, token);
    const bytes = [crypto.randomBytes(3000), crypto.randomBytes(5000)];
    const files = [await addFile(t, token, pkg.id, "a.bin", bytes[0]!), await addFile(t, token, pkg.id, "b.bin", bytes[1]!)];
    const keyOf = async (id: string) => ((await db("files").where({ id }).first()) as { storage_key: string }).storage_key;
    const referenced = [await keyOf(files[0]!.id), await keyOf(files[1]!.id)];

    const oldOrphans = [await orphan(), await orphan()];
    const youngOrphan = await orphan();
    // A blob whose rows are gone and whose deletion is queued (retried later): its queue owns it.
    const queued = await orphan();
    await db("blob_deletions").insert({ key: queued, attempts: 1, next_at: new Date(Date.now() + 24 * HOUR).toISOString(), created_at: new Date().toISOString() });
    for (const key of [...referenced, ...oldOrphans, queued]) await age(key, OLD);
    await age(youngOrphan, 2);

    // An unfinished resumable upload, its bytes as old: never a blob of the store's.
    const created = await t.fetch(`/packages/${pkg.id}/uploads`, {
      method: "POST",
      token,
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "20", "Upload-Metadata": `filename ${Buffer.from("resumable.bin").toString("base64")}` },
    });
    expect(created.status).toBe(201);
    const uploadUrl = `${t.url}${created.headers.get("location")}`;
    const patched = await fetch(uploadUrl, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(Buffer.from("first ten ")),
    });
    expect(patched.status).toBe(204);

    for (const key of [...referenced, ...oldOrphans, youngOrphan, queued]) expect(await stored(key)).toBe(true);
    // The listing pages through the store (two keys a request on S3), with blobs only.
    const listed: string[] = [];
    for await (const b of t.running.services.storage.listBlobs!({ pageSize: 2 })) listed.push(b.key);
    expect(listed.sort()).toEqual([...referenced, ...oldOrphans, youngOrphan, queued].sort());
    await sweepOnce(t.running.services);

    for (const key of oldOrphans) expect(await stored(key), "an orphan older than the grace").toBe(false);
    expect(await stored(youngOrphan), "an orphan younger than the grace").toBe(true);
    expect(await stored(queued), "a blob whose deletion is queued").toBe(true);
    for (const [i, f] of files.entries()) {
      expect(await stored(referenced[i]!)).toBe(true);
      const res = await t.fetch(`/packages/${pkg.id}/files/${f.id}`, { token });
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(bytes[i]!));
    }
    // The resumable upload goes on where it was, and completes.
    const head = await fetch(uploadUrl, { method: "HEAD", headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0" } });
    expect(head.headers.get("upload-offset")).toBe("10");
    const rest = await fetch(uploadUrl, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0", "Upload-Offset": "10", "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(Buffer.from("then ten. ")),
    });
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as { sha256: string }).sha256).toBe(sha256("first ten then ten. "));

    const lines = log.text.split("\n").filter((l) => l.includes('"orphans"'));
    expect(lines.length, "an info line with the count of removed orphans").toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, orphans: 2 });
  });
});

// A database that is not the store's own (restored from an old backup, a wrong SF_DATABASE_URL, a
// staging instance with an empty database on production's data folder or bucket and prefix) sees
// every blob of the store as an orphan: its sweep must remove none of them.
describe.each(DATABASES.flatMap((db) => STORES.map((store) => [db, store] as const)))("a database that is not the store's own (%s, %s)", (kind, store) => {
  let s3: S3Server | undefined;
  let a: TestServer;
  let b: TestServer | undefined;
  let otherDir: string;
  let token: string;
  const logB = new LogCapture();

  beforeAll(async () => {
    if (store === "s3") s3 = await startS3rver();
    a = await startTestServer(kind, s3 ? { s3: { server: s3 } } : {});
    token = (await a.createUser()).token;
    otherDir = await fs.mkdtemp(path.join(os.tmpdir(), "sf-other-db-"));
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await s3?.stop();
    if (otherDir) await fs.rm(otherDir, { recursive: true, force: true });
  });

  const stored = async (key: string): Promise<boolean> => (s3 && a.s3 ? (await s3.objects(a.s3.prefix)).includes(`${a.s3.prefix}${key}`) : exists(blobPath(a, key)));
  const age = async (key: string, hours: number) => {
    const when = new Date(Date.now() - hours * HOUR);
    const file = s3 && a.s3 ? path.join(s3.dir, s3.bucket, ...`${a.s3.prefix}${key}._S3rver_object`.split("/")) : blobPath(a, key);
    await fs.utimes(file, when, when);
  };
  /** Adds `n` files to A, their blobs made two days old; resolves with their storage keys. */
  const oldFiles = async (n: number): Promise<string[]> => {
    const pkg = await createPackage(a, token);
    const keys: string[] = [];
    for (let i = 0; i < n; i++) {
      const f = await addFile(a, token, pkg.id, `f${i}.bin`, crypto.randomBytes(200));
      const key = ((await a.running.services.db("files").where({ id: f.id }).first()) as { storage_key: string }).storage_key;
      await age(key, OLD);
      keys.push(key);
    }
    return keys;
  };
  const warnings = () =>
    logB.text
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown })
      .filter((l) => l.level === 40);

  it("a fresh database's sweep on another's store removes nothing and warns; the store's own database still removes a real orphan", async () => {
    const few = await oldFiles(3);
    // A's first sweep finds nothing to remove (and marks the store as its database's).
    await sweepOnce(a.running.services);
    for (const key of few) expect(await stored(key)).toBe(true);

    // Server B: a fresh, empty database, on A's data folder (local) or A's bucket and prefix (S3).
    b = await startTestServer(kind, {
      logStream: logB,
      ...(s3 && a.s3 ? { s3: { server: s3, prefix: a.s3.prefix } } : { dataDir: a.dataDir }),
      ...(kind === "sqlite" ? { env: { SF_DATABASE_URL: `sqlite://${path.join(otherDir, "b.db")}` } } : {}),
    });
    const idA = await instanceId(a.running.services.db);
    const idB = await instanceId(b.running.services.db);
    expect(idB).not.toBe(idA);
    await sweepOnce(b.running.services);
    for (const key of few) expect(await stored(key), "a blob of A's, swept by B (three: under the share guard's count)").toBe(true);
    const mismatch = warnings().find((w) => w.msg.includes("belongs to another database"));
    expect(mismatch, "a warning naming both databases").toBeDefined();
    expect(mismatch!.msg).toContain(idA);
    expect(mismatch!.msg).toContain(idB);

    // No marker (as before the first sweep of a version that writes it) and more of A's files:
    // the share guard alone holds B back, and B does not claim the store.
    const many = [...few, ...(await oldFiles(22))];
    if (s3 && a.s3) await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${a.s3.prefix}.speedyfiles-store` }));
    else await fs.rm(path.join(a.dataDir, "blobs", ".speedyfiles-store"));
    expect(await removeOrphanBlobs(b.running.services)).toBe(0);
    for (const key of many) expect(await stored(key), "a blob of A's, swept by B without a marker").toBe(true);
    const guard = warnings().find((w) => w.unreferenced !== undefined);
    expect(guard, "a warning with the counts").toMatchObject({ unreferenced: 25, listed: 25 });
    expect(await b.running.services.storage.readMarker!()).toBeUndefined();

    // The store's own database removes a real orphan, and nothing else.
    const real = (await a.running.services.storage.put(Readable.from([crypto.randomBytes(100)]))).key;
    await age(real, OLD);
    expect(await removeOrphanBlobs(a.running.services)).toBe(1);
    expect(await stored(real)).toBe(false);
    for (const key of many) expect(await stored(key)).toBe(true);
    expect(await a.running.services.storage.readMarker!()).toContain(idA);
  });
});
