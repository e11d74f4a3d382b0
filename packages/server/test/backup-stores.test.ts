import crypto from "node:crypto";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgDatabase, DATABASES, startTestServer, type DbKind, type TestServer } from "@speedyfiles/test-utils/server";
import { startS3rver, type S3Server } from "@speedyfiles/test-utils/s3";
import { serverProcess } from "@speedyfiles/test-utils/process";
import { blobPath, exists, sha256 } from "@speedyfiles/test-utils/uploads";
import { shareFiles, type Shared } from "@speedyfiles/test-utils/links";
import { loadConfig } from "../src/config.js";
import { runBackup } from "../src/backup/backup.js";
import { runRestore } from "../src/backup/restore.js";
import { runPgTool } from "../src/backup/pg-tools.js";
import { holdDeletions } from "../src/storage/deletion-hold.js";
import { sweepOnce } from "../src/jobs/sweeper.js";

const SLOW = 180_000;
const run = promisify(execFile);
const mkdtemp = (name: string) => fs.mkdtemp(path.join(os.tmpdir(), `sf-${name}-`));

function lines() {
  const out: string[] = [];
  return { print: (l: string) => out.push(l), text: () => out.join("\n") };
}

async function storageKey(t: TestServer, fileId: string): Promise<string> {
  return ((await t.running.services.db("files").where({ id: fileId }).first()) as { storage_key: string }).storage_key;
}

const SERVER_DIR = fileURLToPath(new URL("../", import.meta.url));

/** holdDeletions taken by a child process (as `backup` does), until `release` ends it. */
async function holdInAnotherProcess(dataDir: string): Promise<{ release: () => Promise<void> }> {
  const dir = await mkdtemp("holder");
  const script = path.join(dir, "hold.mts");
  const module = pathToFileURL(path.join(SERVER_DIR, "src/storage/deletion-hold.ts")).href;
  await fs.writeFile(
    script,
    `import { holdDeletions } from ${JSON.stringify(module)};\n` +
      `const hold = await holdDeletions(${JSON.stringify(dataDir)});\n` +
      `process.stdout.write("held\\n");\n` +
      `process.stdin.resume();\n` +
      `process.stdin.on("end", async () => { await hold.release(); process.exit(0); });\n`,
  );
  const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: SERVER_DIR, stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      if (c.toString().includes("held")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the holding process exited (${code})`)));
  });
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      child.stdin!.end();
      await exited;
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

describe.each(DATABASES)("deletions wait while a backup holds them (%s, local disk)", (kind: DbKind) => {
  let t: TestServer;
  let token: string;

  beforeAll(async () => {
    t = await startTestServer(kind);
    token = (await t.createUser()).token;
  });
  afterAll(async () => {
    await t?.close();
  });

  it(
    "a package deleted while another process holds deletions has its blob moved aside, where the backup finds it; a second backup meanwhile refuses; the release removes it",
    async () => {
      // The hold in a process of its own, as `backup` takes it: the server's delete sees it through the operating system's lock.
      const holder = await holdInAnotherProcess(t.dataDir);
      try {
        const shared = await shareFiles(t, token, [["report.pdf", "the quarterly numbers"]]);
        const key = await storageKey(t, shared.files[0]!.id);
        expect((await t.fetch(`/packages/${shared.id}`, { method: "DELETE", token })).status).toBe(204);
        expect(await exists(blobPath(t, key))).toBe(false);
        const heldPath = path.join(t.dataDir, "backup-hold", "blobs", key);
        expect(await fs.readFile(heldPath, "utf8")).toBe("the quarterly numbers");

        const second = serverProcess(["backup", path.join(await mkdtemp("second"), "bk")], {
          SF_DATA_DIR: t.dataDir,
          SF_LOG_LEVEL: "warn",
          ...(kind === "postgres" ? { SF_DATABASE_URL: t.running.services.config.databaseUrl } : {}),
        });
        expect(await second.code).toBe(1);
        expect(second.stderr()).toBe(
          "speedyfiles-server: another backup is running on this data folder (it holds the blobs' deletions): wait for it to finish, then run this again\n",
        );

        await holder.release();
        expect(await exists(heldPath)).toBe(false);

        // No hold: a delete removes at once.
        const next = await shareFiles(t, token, [["b.txt", "bee"]]);
        const nextKey = await storageKey(t, next.files[0]!.id);
        expect((await t.fetch(`/packages/${next.id}`, { method: "DELETE", token })).status).toBe(204);
        expect(await exists(blobPath(t, nextKey))).toBe(false);
        expect(await exists(path.join(t.dataDir, "backup-hold", "blobs", nextKey))).toBe(false);
      } finally {
        await holder.release();
      }
    },
    SLOW,
  );

  it(
    "a hold in this process works the same way (the backup's own deletes)",
    async () => {
      const hold = await holdDeletions(t.dataDir);
      try {
        const shared = await shareFiles(t, token, [["c.txt", "sea"]]);
        const key = await storageKey(t, shared.files[0]!.id);
        expect((await t.fetch(`/packages/${shared.id}`, { method: "DELETE", token })).status).toBe(204);
        expect(await fs.readFile(hold.heldPath(key), "utf8")).toBe("sea");
      } finally {
        await hold.release();
      }
    },
    SLOW,
  );

  it(
    "what a killed backup left held is removed by the next sweep",
    async () => {
      const held = path.join(t.dataDir, "backup-hold", "blobs", crypto.randomUUID());
      await fs.mkdir(path.dirname(held), { recursive: true });
      await fs.writeFile(held, "left behind");
      // The lock file exists (an earlier hold made it) and nobody holds it.
      expect(await exists(path.join(t.dataDir, "backup-hold", "lock"))).toBe(true);
      await sweepOnce(t.running.services);
      expect(await exists(held)).toBe(false);
    },
    SLOW,
  );
});

describe.each(DATABASES)("backup and check with S3 storage (%s)", (kind: DbKind) => {
  let s3: S3Server;
  let t: TestServer;
  let token: string;
  let shared: Shared;
  let keys: string[];
  let env: Record<string, string>;
  const scratch: string[] = [];
  const dbs: Awaited<ReturnType<typeof createPgDatabase>>[] = [];

  beforeAll(async () => {
    s3 = await startS3rver();
    const dataDir = await mkdtemp("s3-data");
    scratch.push(dataDir);
    const pg = kind === "postgres" ? await createPgDatabase() : undefined;
    if (pg) dbs.push(pg);
    t = await startTestServer(kind, { dataDir, s3: { server: s3 }, ...(pg ? { databaseUrl: pg.url } : {}) });
    token = (await t.createUser()).token;
    shared = await shareFiles(t, token, [
      ["one.txt", "one"],
      ["two.bin", crypto.randomBytes(5000)],
      ["three.bin", crypto.randomBytes(7000)],
    ]);
    keys = await Promise.all(shared.files.map((f) => storageKey(t, f.id)));
    env = { SF_DATA_DIR: dataDir, SF_LOG_LEVEL: "warn", ...s3.env({ prefix: t.s3!.prefix }), ...(pg ? { SF_DATABASE_URL: pg.url } : {}) };
  });
  afterAll(async () => {
    await t?.close();
    await s3?.stop();
    for (const db of dbs) await db.drop();
    for (const d of scratch) await fs.rm(d, { recursive: true, force: true });
  });

  it(
    "check passes on a healthy instance; a backup writes the database and the manifest, no blobs; check names a lost object and another size",
    async () => {
      const healthy = serverProcess(["check", "--sha256"], env);
      expect(await healthy.code).toBe(0);
      expect(healthy.stdout()).toContain(`blobs in s3://${s3.bucket}/${t.s3!.prefix}`);
      expect(healthy.stdout()).toContain(
        "check: 3 files in 3 stored blobs (11.7 KiB): 3 present with the recorded size and SHA-256, 0 missing, 0 with another size, 0 with another SHA-256",
      );
      expect(healthy.stdout().trim().split("\n").at(-1)).toBe("check: consistent");

      const dir = path.join(await mkdtemp("s3-backup"), "bk");
      scratch.push(path.dirname(dir));
      const out = lines();
      const report = await runBackup(loadConfig(env), dir, out.print, out.print);
      expect(report.complete).toBe(true);
      expect(out.text()).toContain(
        `backup: 3 files in 3 stored blobs (11.7 KiB) checked present with their sizes in s3://${s3.bucket}/${t.s3!.prefix} (not copied: keep bucket versioning on)`,
      );
      expect(report.manifest.storage).toEqual({ kind: "s3", bucket: s3.bucket, prefix: t.s3!.prefix });
      expect(await exists(path.join(dir, "blobs"))).toBe(false);

      const prefix = t.s3!.prefix;
      const lost = await s3.getObject(`${prefix}${keys[0]}`);
      const other = await s3.getObject(`${prefix}${keys[1]}`);
      const stray = crypto.randomUUID();
      await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${keys[0]}` }));
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${keys[1]}`, Body: other.subarray(10) }));
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${stray}`, Body: "stray" }));
      try {
        const broken = serverProcess(["check"], env);
        expect(await broken.code).toBe(1);
        const text = broken.stdout();
        expect(text).toContain("1 present with the recorded size, 1 missing, 1 with another size");
        expect(text).toContain(
          `  missing: blob ${keys[0]} of file ${shared.files[0]!.id} (package ${shared.id}): not in s3://${s3.bucket}/${prefix} (the files table says 3 bytes)`,
        );
        expect(text).toContain(`  size: blob ${keys[1]} of file ${shared.files[1]!.id} (package ${shared.id}): 4990 bytes stored; the files table says 5000`);
        expect(text).toContain(`  unreferenced: blob ${stray}, written `);

        // A restore of the backup checks the bucket: an object it lists is gone, so nothing is restored.
        const target = path.join(await mkdtemp("s3-restore"), "data");
        scratch.push(path.dirname(target));
        const db = kind === "postgres" ? await createPgDatabase() : undefined;
        if (db) dbs.push(db);
        const targetEnv = { ...env, SF_DATA_DIR: target, ...(db ? { SF_DATABASE_URL: db.url } : {}) };
        const r = lines();
        await expect(runRestore(loadConfig(targetEnv), dir, { force: false }, r.print, r.print)).rejects.toThrow(
          `blob ${keys[0]}: not in s3://${s3.bucket}/${prefix} (with bucket versioning, restore its last version first)`,
        );
        expect(await exists(target)).toBe(false);

        // The object back (as from the bucket's versions): the restore goes through.
        await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${keys[0]}`, Body: lost }));
        await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${keys[1]}`, Body: other }));
        const ok = lines();
        await runRestore(loadConfig(targetEnv), dir, { force: false }, ok.print, ok.print);
        // (Mail off: the restored instance's queued mail is not this test's business.)
        const t2 = await startTestServer(kind, { dataDir: target, mail: false, s3: { server: s3, prefix }, ...(db ? { databaseUrl: db.url } : {}) });
        try {
          for (const f of shared.files) {
            const res = await fetch(`${t2.api}/links/${shared.secret}/files/${f.id}`);
            expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(f.sha256);
          }
        } finally {
          await t2.close();
        }
      } finally {
        await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${prefix}${stray}` }));
      }
    },
    SLOW,
  );
});

describe.runIf(DATABASES.includes("postgres"))("PostgreSQL: the documented pg_dump → pg_restore recipe, then check", () => {
  let t: TestServer;
  let pg: Awaited<ReturnType<typeof createPgDatabase>>;
  let scratch: Awaited<ReturnType<typeof createPgDatabase>>;
  let dir: string;

  beforeAll(async () => {
    pg = await createPgDatabase();
    scratch = await createPgDatabase();
    dir = await mkdtemp("pg-recipe");
    t = await startTestServer("postgres", { dataDir: path.join(dir, "data"), databaseUrl: pg.url });
    const { token } = await t.createUser();
    await shareFiles(t, token, [
      ["a.txt", "alpha"],
      ["b.bin", crypto.randomBytes(4096)],
    ]);
  });
  afterAll(async () => {
    await t?.close();
    await pg?.drop();
    await scratch?.drop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it(
    "pg_dump of the running database, pg_restore into a new one, and check on it with the same blobs: consistent",
    async () => {
      const dump = path.join(dir, "database.pgdump");
      await run("pg_dump", ["--format=custom", `--file=${dump}`, pg.url]);
      await run("pg_restore", ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", `--dbname=${scratch.url}`, dump]);
      const check = serverProcess(["check"], { SF_DATA_DIR: path.join(dir, "data"), SF_DATABASE_URL: scratch.url, SF_LOG_LEVEL: "warn" });
      expect(await check.code).toBe(0);
      expect(check.stdout()).toContain("check: 2 files in 2 stored blobs");
      expect(check.stdout().trim().split("\n").at(-1)).toBe("check: consistent");
    },
    SLOW,
  );

  it(
    "restore refuses a database that already has tables",
    async () => {
      const bk = path.join(dir, "bk");
      const out = lines();
      expect((await runBackup(loadConfig({ SF_DATA_DIR: path.join(dir, "data"), SF_DATABASE_URL: pg.url }), bk, out.print, out.print)).complete).toBe(true);
      const target = path.join(dir, "restored");
      await expect(runRestore(loadConfig({ SF_DATA_DIR: target, SF_DATABASE_URL: scratch.url }), bk, { force: true }, out.print, out.print)).rejects.toThrow(
        /the database SF_DATABASE_URL names has \d+ tables: restore into a new, empty database \(createdb\)/,
      );
      expect(await exists(target)).toBe(false);
    },
    SLOW,
  );

  it(
    "pg_dump's failure is one line without the password, which never goes on its command line",
    async () => {
      const url = new URL(pg.url);
      url.password = "s3cret-Pa55";
      url.pathname = "/sf_no_such_database";
      const err = (await runPgTool("pg_dump", url.toString(), ["--format=custom", `--file=${path.join(dir, "x.pgdump")}`]).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/^pg_dump failed \(exit code 1\): .*sf_no_such_database/);
      expect(err.message).not.toContain("s3cret-Pa55");
    },
    SLOW,
  );
});
