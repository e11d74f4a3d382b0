import crypto from "node:crypto";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config.js";
import { instanceId } from "../db/instance.js";
import { holdInstanceLock } from "../db/instance-lock.js";
import { closeDatabase, openDatabase } from "../db/knex.js";
import { countUserTables, inspectSqliteFile, sqliteFileOf } from "../db/snapshot.js";
import { formatBytes } from "../util/format-bytes.js";
import { recordBackupEvent } from "./audit.js";
import { copyHashed, entriesOf, exists, fsyncDir, hashStream, readFile, type Hashed } from "./copy.js";
import { readManifest, type Manifest } from "./manifest.js";
import { runPgTool } from "./pg-tools.js";
import { openBlobAccess } from "./stores.js";

/** The restore did not happen (the reason in words); the target is as it was. */
export class RestoreRefused extends Error {}

type Print = (line: string) => void;

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

const STAGING_PREFIX = ".restore-";
/** Entries an empty data folder may hold: a file system's own, and what an interrupted restore left. */
const ignorable = (name: string) => name === "lost+found" || name.startsWith(STAGING_PREFIX);

/** A rename done while putting the restore in place, and how to take it back. */
type Undo = () => Promise<void>;

/**
 * `speedyfiles-server restore <dir>`: brings a backup back into SF_DATA_DIR (and, for SQLite, the
 * database file SF_DATABASE_URL names), which must be empty unless `force`. Everything is first
 * copied into a staging folder inside the data folder, each SHA-256 checked against the manifest
 * (S3: each object checked present with its size), then renamed into place, the database last: a
 * refused or failed restore leaves the target as it was. PostgreSQL: the dump is restored with
 * pg_restore in one transaction into the database SF_DATABASE_URL names, which must have no
 * tables. `force`: a data folder that is not empty has its contents moved into
 * `replaced-by-restore-<time>/` first (never deleted).
 */
export async function runRestore(config: Readonly<Config>, dir: string, opts: { force: boolean }, print: Print, progress: Print): Promise<void> {
  const source = path.resolve(dir);
  const m = await readManifest(source).catch((err: Error) => {
    throw new RestoreRefused(err.message);
  });
  const sqliteFile = sqliteFileOf(config.databaseUrl);
  const kind = config.databaseUrl.startsWith("sqlite://") ? "sqlite" : "postgres";
  if (kind === "sqlite" && !sqliteFile) throw new RestoreRefused("cannot restore into an in-memory database (sqlite://:memory:)");
  if (m.database.kind !== kind) {
    throw new RestoreRefused(
      `the backup holds a ${m.database.kind === "sqlite" ? "SQLite" : "PostgreSQL"} database, and SF_DATABASE_URL names a ${kind === "sqlite" ? "SQLite" : "PostgreSQL"} one`,
    );
  }
  if (m.storage.kind !== config.storage) {
    throw new RestoreRefused(
      m.storage.kind === "local"
        ? "the backup holds local-disk blobs and SF_STORAGE is s3: restore with SF_STORAGE=local, then move the bytes with speedyfiles-server storage migrate --to s3"
        : "the backup's blobs are in an S3 bucket and SF_STORAGE is local: restore with the bucket's SF_STORAGE=s3 and SF_S3_* settings",
    );
  }

  const dataDir = config.dataDir;
  const present = (await entriesOf(dataDir)).filter((n) => !ignorable(n));
  const dbPresent = sqliteFile !== undefined && (await exists(sqliteFile));
  if (!opts.force && (present.length > 0 || dbPresent)) {
    throw new RestoreRefused(
      `the data folder ${dataDir} is not empty (${[...present.slice(0, 5), ...(dbPresent && !present.length ? [sqliteFile] : [])].join(", ")}${present.length > 5 ? ", …" : ""}): ` +
        "restore into an empty SF_DATA_DIR, or add --force to move what is there aside first (into replaced-by-restore-<time>/)",
    );
  }
  if (kind === "postgres") await requireEmptyDatabase(config.databaseUrl);
  const db = m.database.kind === "sqlite" ? "SQLite" : "PostgreSQL";
  print(
    `restore: backup of instance ${m.instance_id} taken ${m.created_at} (server ${m.server_version}): ${db} database ${formatBytes(m.database.size)}, ${plural(m.blob_count, "blob")} (${formatBytes(m.blob_bytes)})`,
  );
  if (m.missing.length > 0) {
    print(
      `restore: the backup is incomplete: ${plural(m.missing.length, "blob")} its database refers to ${m.missing.length === 1 ? "is" : "are"} not in it (manifest.json, "missing"); check will name them`,
    );
  }
  // What a refused restore takes back: a data folder it made, a lock file it made.
  const madeDataDir = !(await exists(dataDir));
  const lockFile = sqliteFile ? `${sqliteFile}.instance-lock` : undefined;
  const madeLockFile = lockFile !== undefined && !(await exists(lockFile));
  await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (sqliteFile) await fsp.mkdir(path.dirname(sqliteFile), { recursive: true });
  // No server may start on the SQLite database while it is being put in place (nor run on it now).
  let releaseLock: () => void;
  try {
    releaseLock = holdInstanceLock(config.databaseUrl);
  } catch (err) {
    if (madeDataDir) await fsp.rmdir(dataDir).catch(() => undefined);
    throw err;
  }
  let restored = false;
  for (const n of await entriesOf(dataDir)) if (n.startsWith(STAGING_PREFIX)) await fsp.rm(path.join(dataDir, n), { recursive: true, force: true });
  const staging = path.join(dataDir, `${STAGING_PREFIX}${crypto.randomBytes(6).toString("hex")}`);
  try {
    await fsp.mkdir(staging, { mode: 0o700 });
    await stage(config, m, source, staging, progress);
    print(
      `restore: every SHA-256 matches the manifest (the database${m.storage.kind === "local" ? `, ${plural(m.blob_count, "blob")}` : ""}${m.secret_key ? ", secret.key" : ""})`,
    );
    if (m.storage.kind === "s3") print(`restore: the bucket holds all ${plural(m.blob_count, "object")} with their sizes (check --sha256 reads them)`);
    if (kind === "postgres") {
      await runPgTool("pg_restore", config.databaseUrl, ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", path.join(source, m.database.file)]).catch(
        (err: Error) => {
          throw new RestoreRefused(`${err.message} (the database was left as it was: pg_restore ran in one transaction)`);
        },
      );
      await checkRestoredInstance(config.databaseUrl, m);
    }
    const aside = opts.force ? path.join(dataDir, `replaced-by-restore-${new Date().toISOString().replace(/[:.]/g, "-")}`) : undefined;
    await putInPlace(staging, dataDir, sqliteFile, aside, path.basename(staging));
    if (aside && (await exists(aside))) print(`restore: what the data folder held before is in ${aside}: remove it once the restored server is checked`);
    await recordBackupEvent(config.databaseUrl, "backup.restored", {
      folder: source,
      backup_created_at: m.created_at,
      server_version: m.server_version,
      blob_count: m.blob_count,
    }).catch((err: Error) => progress(`restore: could not record the restore in the audit trail: ${err.message}`));
    const where = sqliteFile ? ` (database ${sqliteFile})` : "";
    print(`restore: restored into ${dataDir}${where}. Start the server on it (speedyfiles-server serve), then run: speedyfiles-server check`);
    restored = true;
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
    releaseLock();
    if (!restored) {
      if (madeLockFile) for (const f of [lockFile, `${lockFile}-journal`]) await fsp.rm(f, { force: true });
      if (madeDataDir) await fsp.rmdir(dataDir).catch(() => undefined);
    }
  }
}

/** PostgreSQL: the target database must be new (no tables): a restore never mixes with rows already there. */
async function requireEmptyDatabase(databaseUrl: string): Promise<void> {
  const db = openDatabase(databaseUrl);
  try {
    const tables = await countUserTables(db);
    if (tables > 0) {
      throw new RestoreRefused(`the database SF_DATABASE_URL names has ${tables} tables: restore into a new, empty database (createdb), then point SF_DATABASE_URL at it`);
    }
  } finally {
    await closeDatabase(db);
  }
}

async function checkRestoredInstance(databaseUrl: string, m: Manifest): Promise<void> {
  const db = openDatabase(databaseUrl);
  try {
    const id = await instanceId(db);
    if (id !== m.instance_id) throw new RestoreRefused(`the restored database is instance ${id}, the manifest says ${m.instance_id}`);
  } finally {
    await closeDatabase(db);
  }
}

const hashMismatch = (what: string, got: Hashed, want: { size: number; sha256: string }) =>
  `${what}: the backup's copy (${got.size} bytes) hashes to ${got.sha256}; the manifest says ${want.size} bytes, ${want.sha256}`;

/** Copies one file of the backup into staging, checked; a problem in words, or undefined. */
async function stageFile(from: string, to: string, want: { size: number; sha256: string }, what: string): Promise<string | undefined> {
  const fh = await fsp.open(from, "r").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (!fh) return `${what}: missing from the backup`;
  try {
    const got = await copyHashed(readFile(fh), to);
    return got.size === want.size && got.sha256 === want.sha256 ? undefined : hashMismatch(what, got, want);
  } finally {
    await fh.close();
  }
}

/** Everything the manifest lists, copied into `staging` and checked; refuses with every problem found. */
async function stage(config: Readonly<Config>, m: Manifest, source: string, staging: string, progress: Print): Promise<void> {
  const problems: string[] = [];
  const add = (p: string | undefined) => {
    if (p) problems.push(p);
  };
  const dbFile = path.join(source, m.database.file);
  if (m.database.kind === "sqlite") {
    const to = path.join(staging, "database.sqlite");
    const p = await stageFile(dbFile, to, m.database, "the database");
    add(p);
    if (!p) {
      const report = inspectSqliteFile(to);
      if (report.check !== "ok") add(`the database: SQLite's check says: ${report.check}`);
      else if (report.instanceId !== m.instance_id) add(`the database is instance ${String(report.instanceId)}, the manifest says ${m.instance_id}`);
    }
  } else {
    const got = await hashStream(readFile(dbFile)).catch(() => undefined);
    if (!got) add("the database dump: missing from the backup");
    else if (got.size !== m.database.size || got.sha256 !== m.database.sha256) add(hashMismatch("the database dump", got, m.database));
  }
  if (m.secret_key) add(await stageFile(path.join(source, m.secret_key.file), path.join(staging, "secret.key"), m.secret_key, "secret.key"));
  if (m.storage.kind === "local") {
    await fsp.mkdir(path.join(staging, "blobs"), { mode: 0o700 });
    if (m.marker) add(await stageFile(path.join(source, m.marker.file), path.join(staging, m.marker.file), m.marker, "the store's marker"));
    let done = 0;
    for (const b of m.blobs) {
      const rel = path.join("blobs", b.key.slice(0, 2), b.key);
      add(await stageFile(path.join(source, rel), path.join(staging, rel), b, `blob ${b.key}`));
      if (++done % 1000 === 0) progress(`restore: ${done} of ${m.blobs.length} blobs copied and checked`);
    }
    const dirs = new Set(m.blobs.map((b) => b.key.slice(0, 2)));
    for (const d of dirs) await fsyncDir(path.join(staging, "blobs", d)).catch(() => undefined);
  } else {
    if (config.s3 && (config.s3.bucket !== m.storage.bucket || config.s3.prefix !== m.storage.prefix)) {
      progress(`restore: the backup's objects were in s3://${m.storage.bucket}/${m.storage.prefix}; looking for them in s3://${config.s3.bucket}/${config.s3.prefix}`);
    }
    const blobs = openBlobAccess(config);
    try {
      for (const b of m.blobs) {
        const size = await blobs.size(b.key);
        if (size === undefined) add(`blob ${b.key}: not in ${blobs.where} (with bucket versioning, restore its last version first)`);
        else if (size !== b.size) add(`blob ${b.key}: the object has ${size} bytes; the manifest says ${b.size}`);
      }
    } finally {
      blobs.close();
    }
  }
  await fsyncDir(staging);
  if (problems.length > 0) {
    const shown = problems.slice(0, 50).map((p) => `  ${p}`);
    if (problems.length > 50) shown.push(`  … and ${problems.length - 50} more`);
    throw new RestoreRefused(`the backup does not match its manifest; nothing was restored:\n${shown.join("\n")}`);
  }
}

/** Renames `from` to `to`; when they are on different file systems, copies through a temp name beside `to`. */
async function move(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    const fh = await fsp.open(from, "r");
    try {
      await copyHashed(readFile(fh), to);
    } finally {
      await fh.close();
    }
    await fsp.rm(from, { force: true });
  }
}

/**
 * The staged restore put in place: what `force` moves aside first, then the blobs, the key, the
 * SQLite database last. A step that fails takes back the ones before it.
 */
async function putInPlace(staging: string, dataDir: string, sqliteFile: string | undefined, aside: string | undefined, stagingName: string): Promise<void> {
  const undo: Undo[] = [];
  const step = async (from: string, to: string) => {
    await move(from, to);
    undo.push(() => move(to, from));
  };
  try {
    if (aside) {
      const lockName = sqliteFile ? `${path.basename(sqliteFile)}.instance-lock` : "";
      const moving = (await entriesOf(dataDir)).filter((n) => n !== stagingName && n !== "lost+found" && n !== lockName && !n.startsWith(`${lockName}-`));
      const outside = sqliteFile && path.dirname(sqliteFile) !== dataDir ? ["", "-wal", "-shm"].map((s) => `${sqliteFile}${s}`) : [];
      if (moving.length > 0 || outside.length > 0) {
        await fsp.mkdir(aside, { mode: 0o700 });
        undo.push(() => fsp.rmdir(aside).catch(() => undefined));
        for (const n of moving) await step(path.join(dataDir, n), path.join(aside, n));
        for (const f of outside) if (await exists(f)) await step(f, path.join(aside, path.basename(f)));
      }
    }
    if (await exists(path.join(staging, "blobs"))) await step(path.join(staging, "blobs"), path.join(dataDir, "blobs"));
    if (await exists(path.join(staging, "secret.key"))) await step(path.join(staging, "secret.key"), path.join(dataDir, "secret.key"));
    if (sqliteFile) {
      await fsp.mkdir(path.dirname(sqliteFile), { recursive: true });
      await step(path.join(staging, "database.sqlite"), sqliteFile);
      await fsyncDir(path.dirname(sqliteFile));
    }
    await fsyncDir(dataDir);
  } catch (err) {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    throw err;
  }
}
