import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pgLib from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type DbKind, type TestServer } from "@speedyfiles/test-utils/server";
import { serverProcess } from "@speedyfiles/test-utils/process";
import { blobPath, createPackage, exists, filesUnder, sha256 } from "@speedyfiles/test-utils/uploads";
import { requestFiles, shareFiles, uploadToLink } from "@speedyfiles/test-utils/links";
import { loadConfig } from "../src/config.js";
import { runRestore } from "../src/backup/restore.js";
import { runCheck } from "../src/backup/check.js";
import { sweepOnce } from "../src/jobs/sweeper.js";

const MiB = 1024 * 1024;
/** Each command is a child process of its own (a few seconds each on a busy machine). */
const SLOW = 180_000;
const TUS = { "Tus-Resumable": "1.0.0" };
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A file the instance holds, how to download it, and what its bytes hash to. */
interface Held {
  id: string;
  packageId: string;
  sha256: string;
  /** The recipient's link secret, for outbound packages. */
  secret?: string;
}

/** A resumable upload in two PATCHes; resolves with the file it made. */
async function tusUpload(t: TestServer, token: string, packageId: string, name: string, bytes: Buffer): Promise<string> {
  const created = await t.fetch(`/packages/${packageId}/uploads`, {
    method: "POST",
    token,
    headers: { ...TUS, "Upload-Length": String(bytes.length), "Upload-Metadata": `filename ${b64(name)},sha256 ${b64(sha256(bytes))}` },
  });
  expect(created.status).toBe(201);
  const location = created.headers.get("location")!;
  const half = Math.floor(bytes.length / 2);
  for (const [offset, part] of [
    [0, bytes.subarray(0, half)],
    [half, bytes.subarray(half)],
  ] as const) {
    const res = await fetch(`${t.url}${location}`, {
      method: "PATCH",
      headers: { ...TUS, Authorization: `Bearer ${token}`, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(part),
    });
    // 204 for a chunk, 200 with the file for the last one.
    expect([200, 204]).toContain(res.status);
  }
  const detail = (await (await t.fetch(`/packages/${packageId}`, { token })).json()) as { files: { id: string; name: string }[] };
  return detail.files.find((f) => f.name === name)!.id;
}

/** Downloads every file through a server's API (owner route, and the link for shared ones) and checks its SHA-256. */
async function expectServed(t: TestServer, token: string, files: Held[]): Promise<void> {
  for (const f of files) {
    const own = await t.fetch(`/packages/${f.packageId}/files/${f.id}`, { token });
    expect(own.status).toBe(200);
    expect(sha256(Buffer.from(await own.arrayBuffer()))).toBe(f.sha256);
    if (f.secret) {
      const viaLink = await fetch(`${t.api}/links/${f.secret}/files/${f.id}`);
      expect(viaLink.status).toBe(200);
      expect(sha256(Buffer.from(await viaLink.arrayBuffer()))).toBe(f.sha256);
    }
  }
}

async function storageKey(t: TestServer, fileId: string): Promise<string> {
  return ((await t.running.services.db("files").where({ id: fileId }).first()) as { storage_key: string }).storage_key;
}

/** Runs the command in-process, through the same function as the command line, collecting its lines. */
function lines() {
  const out: string[] = [];
  return { out, print: (l: string) => out.push(l), text: () => out.join("\n") };
}

const mkdtemp = (name: string) => fs.mkdtemp(path.join(os.tmpdir(), `sf-${name}-`));

describe.each(DATABASES)("backup, restore and check (%s, local disk)", (kind: DbKind) => {
  let t: TestServer;
  let dataDir: string;
  let pg: Awaited<ReturnType<typeof createPgDatabase>> | undefined;
  let token: string;
  let env: Record<string, string>;
  let backupDir: string;
  let unfinishedUpload: string;
  const files: Held[] = [];
  const scratch: string[] = [];
  const dbs: Awaited<ReturnType<typeof createPgDatabase>>[] = [];

  /** An empty place to restore into: a data folder that does not exist yet, and for PostgreSQL a new empty database. */
  async function emptyTarget(): Promise<{ dataDir: string; env: Record<string, string>; databaseUrl?: string }> {
    const root = await mkdtemp("restore");
    scratch.push(root);
    const target = path.join(root, "data");
    const db = kind === "postgres" ? await createPgDatabase() : undefined;
    if (db) dbs.push(db);
    return { dataDir: target, env: { SF_DATA_DIR: target, SF_LOG_LEVEL: "warn", ...(db ? { SF_DATABASE_URL: db.url } : {}) }, ...(db ? { databaseUrl: db.url } : {}) };
  }

  beforeAll(async () => {
    dataDir = await mkdtemp("backup-data");
    pg = kind === "postgres" ? await createPgDatabase() : undefined;
    t = await startTestServer(kind, { dataDir, ...(pg ? { databaseUrl: pg.url } : {}) });
    token = (await t.createUser()).token;
    env = { SF_DATA_DIR: dataDir, SF_LOG_LEVEL: "warn", ...(pg ? { SF_DATABASE_URL: pg.url } : {}) };
    // Several files through the multipart upload, one of them 9 MiB, shared by a link.
    const shared = await shareFiles(t, token, [
      ["a.txt", "first file\n"],
      ["big.bin", crypto.randomBytes(9 * MiB + 1)],
      ["c.bin", crypto.randomBytes(1000)],
    ]);
    for (const f of shared.files) files.push({ id: f.id, packageId: shared.id, sha256: f.sha256, secret: shared.secret });
    // A resumable (tus) upload.
    const draft = await createPackage(t, token);
    const tusBytes = crypto.randomBytes(3 * MiB + 17);
    files.push({ id: await tusUpload(t, token, draft.id, "resumable.bin", tusBytes), packageId: draft.id, sha256: sha256(tusBytes) });
    // An inbound file, uploaded by an outside person through the request link.
    const inbound = await requestFiles(t, token);
    const outside = crypto.randomBytes(200_000);
    const up = await uploadToLink(inbound.api, "from-outside.pdf", outside);
    expect(up.status).toBe(201);
    files.push({ id: ((await up.json()) as { id: string }).id, packageId: inbound.id, sha256: sha256(outside) });
    // A resumable upload still unfinished at the backup: not in it (its client starts it again).
    const unfinished = await t.fetch(`/packages/${draft.id}/uploads`, {
      method: "POST",
      token,
      headers: { ...TUS, "Upload-Length": "100", "Upload-Metadata": `filename ${b64("later.bin")}`, "Content-Type": "application/offset+octet-stream" },
      body: new Uint8Array(50),
    });
    expect(unfinished.status).toBe(201);
    unfinishedUpload = unfinished.headers.get("location")!;
    // A purged package: its rows stay, its bytes are gone on purpose (not a missing blob).
    const gone = await shareFiles(t, token, [["revoked.txt", "revoked"]]);
    await t.fetch(`/packages/${gone.id}/revoke`, { method: "POST", token });
    expect((await sweepOnce(t.running.services)).purged).toBe(1);
    backupDir = path.join(await mkdtemp("backups"), "2026-12-08");
    scratch.push(path.dirname(backupDir));
  });

  afterAll(async () => {
    await t?.close();
    await pg?.drop();
    for (const db of dbs) await db.drop();
    for (const d of [dataDir, ...scratch]) if (d) await fs.rm(d, { recursive: true, force: true });
  });

  it(
    "backs up while the server runs and serves; restores into an empty data folder; a server started on it serves every file with its SHA-256",
    async () => {
      const backup = serverProcess(["backup", backupDir], env);
      // The server keeps serving while the backup runs.
      const served = (async () => {
        for (let i = 0; i < 5; i++) await expectServed(t, token, files.slice(0, 1));
      })();
      const [code] = await Promise.all([backup.code, served]);
      expect(backup.stderr()).toBe("");
      expect(code).toBe(0);
      const out = backup.stdout();
      expect(out).toContain(`backup: database (${kind === "sqlite" ? "SQLite online backup" : "pg_dump, custom format"})`);
      expect(out).toContain("backup: 5 files in 5 stored blobs");
      expect(out).toContain("each SHA-256 checked against the files table");
      expect(out).toContain(`Restore with: speedyfiles-server restore ${backupDir}`);
      const manifest = JSON.parse(await fs.readFile(path.join(backupDir, "manifest.json"), "utf8")) as {
        instance_id: string;
        blobs: { key: string; sha256: string; size: number }[];
        missing: unknown[];
        database: { kind: string; file: string };
        secret_key: unknown;
      };
      expect(manifest.database).toMatchObject({ kind, file: kind === "sqlite" ? "database.sqlite" : "database.pgdump" });
      expect(manifest.missing).toEqual([]);
      expect(manifest.secret_key).not.toBeNull();
      expect(manifest.blobs.map((b) => b.sha256).sort()).toEqual(files.map((f) => f.sha256).sort());
      for (const b of manifest.blobs) expect(sha256(await fs.readFile(path.join(backupDir, "blobs", b.key.slice(0, 2), b.key)))).toBe(b.sha256);
      // One self-contained database file (no -wal beside it), the blobs, the key, the manifest; nothing else.
      expect((await fs.readdir(backupDir)).sort()).toEqual(["blobs", manifest.database.file, "manifest.json", "secret.key"].sort());

      // The backup is in the instance's audit trail (no actor: a command line), never a secret.
      const recorded = (await t.running.services.db("audit_events").where({ type: "backup.created" })) as { actor_user_id: string | null; data: string }[];
      expect(recorded).toHaveLength(1);
      expect(recorded[0]!.actor_user_id).toBeNull();
      expect(JSON.parse(recorded[0]!.data)).toEqual({ folder: backupDir, database: kind, storage: "local", file_count: 5, blob_count: 5, blob_bytes: 12_783_941, missing: 0 });

      const target = await emptyTarget();
      const restore = serverProcess(["restore", backupDir], target.env);
      expect(await restore.code).toBe(0);
      expect(restore.stdout()).toContain("restore: every SHA-256 matches the manifest (the database, 5 blobs, secret.key)");
      expect(restore.stdout()).toContain(`restore: restored into ${target.dataDir}`);
      const check = serverProcess(["check"], target.env);
      expect(await check.code).toBe(0);
      expect(check.stdout()).toContain("check: 5 files in 5 stored blobs (12.2 MiB): 5 present with the recorded size, 0 missing, 0 with another size");
      expect(check.stdout()).toContain("; 1 file of purged packages has no bytes, as intended");
      expect(check.stdout().trim().split("\n").at(-1)).toBe("check: consistent");

      const t2 = await startTestServer(kind, { dataDir: target.dataDir, mail: false, ...(target.databaseUrl ? { databaseUrl: target.databaseUrl } : {}) });
      try {
        // The same instance: the same token works, every file downloads with its SHA-256.
        await expectServed(t2, token, files);
        // The restore is in the restored instance's audit trail; the backup's own event came after its snapshot.
        const types = ((await t2.running.services.db("audit_events").whereIn("type", ["backup.created", "backup.restored"]).select("type")) as { type: string }[]).map(
          (r) => r.type,
        );
        expect(types).toEqual(["backup.restored"]);
        // The unfinished upload's bytes were not in the backup: the restored server says so, no 500.
        const head = await fetch(`${t2.url}${unfinishedUpload}`, { method: "HEAD", headers: { ...TUS, Authorization: `Bearer ${token}` } });
        expect(head.status).toBe(404);
      } finally {
        await t2.close();
      }
    },
    SLOW,
  );

  it(
    "restore refuses a data folder that is not empty, and a backup whose blob or database was changed, leaving the target as it was",
    async () => {
      const busy = await mkdtemp("busy");
      scratch.push(busy);
      await fs.writeFile(path.join(busy, "keep.txt"), "mine");
      const refused = serverProcess(["restore", backupDir], { ...(await emptyTarget()).env, SF_DATA_DIR: busy });
      expect(await refused.code).toBe(1);
      expect(refused.stderr()).toContain(`speedyfiles-server: the data folder ${busy} is not empty (keep.txt): restore into an empty SF_DATA_DIR, or add --force`);
      expect(await filesUnder(busy)).toEqual(["keep.txt"]);

      // A blob of the backup changed (same size, other bytes): refused, naming it; nothing restored.
      const tampered = `${backupDir}-tampered`;
      scratch.push(tampered);
      await fs.cp(backupDir, tampered, { recursive: true });
      const manifest = JSON.parse(await fs.readFile(path.join(tampered, "manifest.json"), "utf8")) as { blobs: { key: string; size: number }[] };
      const victim = manifest.blobs.find((b) => b.size === 1000)!;
      await fs.writeFile(path.join(tampered, "blobs", victim.key.slice(0, 2), victim.key), crypto.randomBytes(1000));
      const target = await emptyTarget();
      const bad = serverProcess(["restore", tampered], target.env);
      expect(await bad.code).toBe(1);
      expect(bad.stderr()).toContain("the backup does not match its manifest; nothing was restored:");
      expect(bad.stderr()).toMatch(new RegExp(`blob ${victim.key}: the backup's copy \\(1000 bytes\\) hashes to [0-9a-f]{64}; the manifest says 1000 bytes`));
      expect(await exists(target.dataDir)).toBe(false);

      // The database file changed: refused the same way (in-process, through the same function).
      await fs.cp(backupDir, tampered, { recursive: true, force: true });
      const dbFile = path.join(tampered, kind === "sqlite" ? "database.sqlite" : "database.pgdump");
      const bytes = await fs.readFile(dbFile);
      bytes[bytes.length - 10] = (bytes[bytes.length - 10]! + 1) % 256;
      await fs.writeFile(dbFile, bytes);
      const out = lines();
      await expect(runRestore(loadConfig(target.env), tampered, { force: false }, out.print, out.print)).rejects.toThrow(
        new RegExp(`the database${kind === "postgres" ? " dump" : ""}: the backup's copy \\(\\d+ bytes\\) hashes to`),
      );
      expect(await exists(target.dataDir)).toBe(false);
      if (target.databaseUrl) {
        // The database stayed empty.
        const c = new pgLib.Client({ connectionString: target.databaseUrl });
        await c.connect();
        const { rows } = await c.query("select count(*)::int as n from pg_tables where schemaname = 'public'");
        await c.end();
        expect(rows[0].n).toBe(0);
      }
    },
    SLOW,
  );

  it(
    "restore --force moves what the data folder holds aside and restores",
    async () => {
      const target = await emptyTarget();
      await fs.mkdir(target.dataDir, { recursive: true });
      await fs.writeFile(path.join(target.dataDir, "old.txt"), "older");
      const out = lines();
      await runRestore(loadConfig(target.env), backupDir, { force: true }, out.print, out.print);
      const aside = (await fs.readdir(target.dataDir)).find((n) => n.startsWith("replaced-by-restore-"))!;
      expect(await fs.readFile(path.join(target.dataDir, aside, "old.txt"), "utf8")).toBe("older");
      expect(out.text()).toContain(`restore: what the data folder held before is in ${path.join(target.dataDir, aside)}`);
      const check = lines();
      expect(await runCheck(loadConfig(target.env), { sha256: true }, check.print, check.print)).toBe(true);
      expect(check.text()).toContain("5 present with the recorded size and SHA-256");
    },
    SLOW,
  );

  it(
    "check names a missing blob, another size, another SHA-256 (--sha256) and blobs no row refers to; backup of such a store says which blob it lacks and exits 1",
    async () => {
      const healthy = serverProcess(["check"], env);
      expect(await healthy.code).toBe(0);
      expect(healthy.stdout()).toContain("check: 5 files in 5 stored blobs");
      expect(healthy.stdout()).toContain("check: every stored blob is referred to by a row");

      const [missing, shorter, changed] = [files[0]!, files[2]!, files[4]!];
      const keys = { missing: await storageKey(t, missing.id), shorter: await storageKey(t, shorter.id), changed: await storageKey(t, changed.id) };
      const saved = new Map<string, Buffer>();
      for (const k of Object.values(keys)) saved.set(k, await fs.readFile(blobPath(t, k)));
      const stray = crypto.randomUUID();
      try {
        await fs.rm(blobPath(t, keys.missing));
        await fs.writeFile(blobPath(t, keys.shorter), saved.get(keys.shorter)!.subarray(1));
        await fs.writeFile(blobPath(t, keys.changed), crypto.randomBytes(saved.get(keys.changed)!.length));
        await fs.mkdir(path.dirname(blobPath(t, stray)), { recursive: true });
        await fs.writeFile(blobPath(t, stray), "nobody's");

        const check = serverProcess(["check"], env);
        expect(await check.code).toBe(1);
        const text = check.stdout();
        expect(text).toContain("check: 5 files in 5 stored blobs (12.2 MiB): 3 present with the recorded size, 1 missing, 1 with another size");
        expect(text).toContain(`check: 1 stored blob no row refers to (8 B; 1 younger than SF_ORPHAN_GRACE_HOURS, maybe an upload finishing)`);
        expect(text).toContain(`  unreferenced: blob ${stray}, written `);
        expect(text).toContain("check: NOT consistent, 2 problems:");
        expect(text).toContain(
          `  missing: blob ${keys.missing} of file ${missing.id} (package ${missing.packageId}): not in ${path.join(dataDir, "blobs")} (the files table says 11 bytes)`,
        );
        expect(text).toContain(`  size: blob ${keys.shorter} of file ${shorter.id} (package ${shorter.packageId}): 999 bytes stored; the files table says 1000`);
        expect(text).not.toContain(keys.changed);

        const deep = lines();
        expect(await runCheck(loadConfig(env), { sha256: true }, deep.print, deep.print)).toBe(false);
        expect(deep.text()).toContain("2 present with the recorded size and SHA-256, 1 missing, 1 with another size, 1 with another SHA-256");
        expect(deep.text()).toMatch(
          new RegExp(
            `SHA-256: blob ${keys.changed} of file ${changed.id} \\(package ${changed.packageId}\\): the stored bytes hash to [0-9a-f]{64}; the files table says ${changed.sha256}`,
          ),
        );

        // A backup now: the missing blob is named (after new snapshots, in case a delete was in flight), the changed one too.
        const dir = path.join(path.dirname(backupDir), "incomplete");
        const backup = serverProcess(["backup", dir], env);
        expect(await backup.code).toBe(1);
        expect(backup.stderr()).toContain("taking a new snapshot (attempt 3 of 3)");
        expect(backup.stdout()).toContain("backup: INCOMPLETE: 3 blobs the database refers to could not be backed up:");
        expect(backup.stdout()).toContain(`  blob ${keys.missing} (file ${missing.id}, package ${missing.packageId}, 11 B): not in ${path.join(dataDir, "blobs")}`);
        expect(backup.stdout()).toMatch(new RegExp(`blob ${keys.changed} .*: the stored bytes \\(\\d+ bytes\\) hash to [0-9a-f]{64}; the files table says`));
        const m = JSON.parse(await fs.readFile(path.join(dir, "manifest.json"), "utf8")) as { missing: { key: string }[]; blobs: unknown[] };
        expect(m.missing.map((x) => x.key).sort()).toEqual(Object.values(keys).sort());
        expect(m.blobs).toHaveLength(2);
      } finally {
        for (const [k, bytes] of saved) await fs.writeFile(blobPath(t, k), bytes);
        await fs.rm(blobPath(t, stray), { force: true });
      }
    },
    SLOW,
  );

  it(
    "refuses to back up into a folder that is not empty, or inside the data folder",
    async () => {
      const refused = serverProcess(["backup", backupDir], env);
      expect(await refused.code).toBe(1);
      expect(refused.stderr()).toBe(
        `speedyfiles-server: ${backupDir} is not empty: back up into a new folder (one named by the date, say), so that no earlier backup is overwritten\n`,
      );
      const inside = serverProcess(["backup", path.join(dataDir, "bk")], env);
      expect(await inside.code).toBe(1);
      expect(inside.stderr()).toContain("is inside the data folder");
      expect(await exists(path.join(dataDir, "bk"))).toBe(false);
    },
    SLOW,
  );
});
