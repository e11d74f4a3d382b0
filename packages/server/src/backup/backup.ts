import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Knex } from "knex";
import type { Config } from "../config.js";
import { heldFilesAfter, type HeldFile } from "../db/files.js";
import { instanceId } from "../db/instance.js";
import { closeDatabase, openDatabase, pingDatabase } from "../db/knex.js";
import { DatabaseUnavailable } from "../db/open.js";
import { backupSqlite, openSqliteCopy, sqliteFileOf, withExportedSnapshot } from "../db/snapshot.js";
import { holdDeletions, type DeletionHold } from "../storage/deletion-hold.js";
import { MARKER_NAME } from "../storage/local.js";
import { formatBytes } from "../util/format-bytes.js";
import { redactUrl, urlSecrets } from "../util/redact-url.js";
import { VERSION } from "../version.js";
import { recordBackupEvent } from "./audit.js";
import { copyHashed, entriesOf, exists, hashStream, readFile, type Hashed } from "./copy.js";
import { FORMAT, FORMAT_VERSION, writeManifest, type FileEntry, type Manifest, type MissingBlob } from "./manifest.js";
import { runPgTool } from "./pg-tools.js";
import { openBlobAccess, type BlobAccess } from "./stores.js";

/** The backup cannot start (its folder, its database): nothing was written. */
export class BackupRefused extends Error {}

/** Rows read at once. */
const PAGE = 500;
/** Snapshots taken at most, when blobs the previous one referred to were deleted meanwhile. */
const ATTEMPTS = 3;
/** The blob list, an entry a line, while the blobs are copied (the manifest is written from it at the end). */
const LIST_FILE = ".blobs.ndjson";

export interface BackupReport {
  /** Every blob the snapshot refers to is in the backup (or, on S3, in the bucket). */
  complete: boolean;
  manifest: Omit<Manifest, "blobs">;
}

type Print = (line: string) => void;

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** What one pass over the snapshot's rows found. */
interface Pass {
  instanceId: string;
  database: FileEntry & { kind: "sqlite" | "postgres" };
  fileCount: number;
  blobCount: number;
  blobBytes: number;
  missing: (MissingBlob & { gone: boolean })[];
}

/** Where the backup's blobs come from and go to, for one pass. */
interface Copying {
  target: string;
  blobs: BlobAccess;
  hold: DeletionHold | undefined;
  list: fs.WriteStream;
  progress: Print;
  /** Set when the pass cannot succeed any more (pg_dump failed): the copy stops at the next file. */
  stopped?: Error;
}

const within = (parent: string, child: string) => {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
};

/**
 * `speedyfiles-server backup <dir>`: a consistent snapshot of the database (SQLite's online backup
 * API, or pg_dump on an exported snapshot), the blobs its rows refer to (local disk: copied, each
 * SHA-256 checked against the files table; S3: each object's presence and size checked), and
 * `manifest.json`, written last. Safe while the server runs: deletions of local blobs are held for
 * the duration (storage/deletion-hold.ts); if a blob the snapshot refers to went anyway (deleted
 * just before the hold, by a transaction that had not committed at the snapshot), a new snapshot is
 * taken, up to ATTEMPTS times. `print` gets the summary lines, `progress` the lines along the way.
 */
export async function runBackup(config: Readonly<Config>, dir: string, print: Print, progress: Print): Promise<BackupReport> {
  const target = path.resolve(dir);
  if (within(config.dataDir, target))
    throw new BackupRefused(`the backup folder ${target} is inside the data folder ${config.dataDir}: choose a folder elsewhere (on another disk, ideally)`);
  if ((await entriesOf(target)).length > 0) {
    throw new BackupRefused(`${target} is not empty: back up into a new folder (one named by the date, say), so that no earlier backup is overwritten`);
  }
  const sqliteFile = sqliteFileOf(config.databaseUrl);
  if (config.databaseUrl.startsWith("sqlite://") && !sqliteFile) throw new BackupRefused("an in-memory database (sqlite://:memory:) cannot be backed up");
  if (sqliteFile && !(await exists(sqliteFile))) throw new BackupRefused(`there is no database at ${sqliteFile} (SF_DATABASE_URL, SF_DATA_DIR)`);
  await fsp.mkdir(target, { recursive: true, mode: 0o700 });

  const blobs = openBlobAccess(config);
  let hold: DeletionHold | undefined;
  let finished = false;
  try {
    hold = blobs.kind === "local" ? await holdDeletions(config.dataDir) : undefined;
    let pass: Pass | undefined;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const list = fs.createWriteStream(path.join(target, LIST_FILE), { mode: 0o600 });
      const copying: Copying = { target, blobs, hold, list, progress };
      try {
        pass = sqliteFile ? await sqlitePass(sqliteFile, copying) : await postgresPass(config.databaseUrl, copying);
      } finally {
        await new Promise<void>((resolve) => list.end(() => resolve()));
      }
      const gone = pass.missing.filter((m) => m.gone).length;
      if (gone === 0 || attempt === ATTEMPTS) break;
      progress(
        `backup: ${gone} blob${gone === 1 ? "" : "s"} the snapshot refers to ${gone === 1 ? "was" : "were"} deleted as it was taken (a purge or delete in progress); taking a new snapshot (attempt ${attempt + 1} of ${ATTEMPTS})`,
      );
    }
    const p = pass!;
    const secretKey = config.secretKey ? null : await copyAlong(path.join(config.dataDir, "secret.key"), target, "secret.key");
    const marker = blobs.kind === "local" ? await copyAlong(path.join(config.dataDir, "blobs", MARKER_NAME), target, `blobs/${MARKER_NAME}`) : null;
    const manifest: Omit<Manifest, "blobs"> = {
      format: FORMAT,
      format_version: FORMAT_VERSION,
      server_version: VERSION,
      created_at: new Date().toISOString(),
      instance_id: p.instanceId,
      database: p.database,
      storage: config.storage === "s3" && config.s3 ? { kind: "s3", bucket: config.s3.bucket, prefix: config.s3.prefix } : { kind: "local" },
      secret_key: secretKey,
      marker,
      file_count: p.fileCount,
      blob_count: p.blobCount,
      blob_bytes: p.blobBytes,
      missing: p.missing.map(({ gone: _gone, ...m }) => m),
    };
    await writeManifest(target, manifest, linesOf(path.join(target, LIST_FILE)));
    await fsp.rm(path.join(target, LIST_FILE), { force: true });
    finished = true;
    summarize(manifest, target, blobs, print);
    await recordBackupEvent(config.databaseUrl, "backup.created", {
      folder: target,
      database: manifest.database.kind,
      storage: manifest.storage.kind,
      file_count: manifest.file_count,
      blob_count: manifest.blob_count,
      blob_bytes: manifest.blob_bytes,
      missing: manifest.missing.length,
    }).catch((err: Error) => progress(`backup: could not record the backup in the audit trail: ${err.message}`));
    return { complete: manifest.missing.length === 0, manifest };
  } finally {
    await hold?.release();
    blobs.close();
    // A backup that failed leaves no half-written folder (it was empty or new: all in it is ours).
    if (!finished) for (const n of await entriesOf(target)) await fsp.rm(path.join(target, n), { recursive: true, force: true });
  }
}

function summarize(m: Omit<Manifest, "blobs">, target: string, blobs: BlobAccess, print: Print): void {
  const db = m.database.kind === "sqlite" ? "SQLite online backup" : "pg_dump, custom format";
  print(`backup: database (${db}): ${m.database.file}, ${formatBytes(m.database.size)}, instance ${m.instance_id}`);
  const how =
    blobs.kind === "local"
      ? `copied from ${blobs.where}, each SHA-256 checked against the files table`
      : `checked present with their sizes in ${blobs.where} (not copied: keep bucket versioning on)`;
  print(`backup: ${plural(m.file_count, "file")} in ${plural(m.blob_count, "stored blob")} (${formatBytes(m.blob_bytes)}) ${how}`);
  if (m.secret_key) print("backup: the mail-sealing key secret.key is in the backup too: keep the folder as private as the data folder");
  if (m.missing.length > 0) {
    print(`backup: INCOMPLETE: ${m.missing.length} blob${m.missing.length === 1 ? "" : "s"} the database refers to could not be backed up:`);
    for (const x of m.missing) print(`  blob ${x.key} (file ${x.file_id}, package ${x.package_id}, ${formatBytes(x.size)}): ${x.reason}`);
  }
  print(`backup: written to ${target} (manifest.json last). Restore with: speedyfiles-server restore ${target}`);
}

/** The lines of a file, one at a time. */
async function* linesOf(file: string): AsyncIterable<string> {
  for await (const line of createInterface({ input: fs.createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) if (line !== "") yield line;
}

/** Copies a small file of the data folder into the backup when it exists. */
async function copyAlong(from: string, target: string, name: string): Promise<FileEntry | null> {
  const fh = await fsp.open(from, "r").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (!fh) return null;
  try {
    const got = await copyHashed(readFile(fh), path.join(target, name));
    return { file: name, ...got };
  } finally {
    await fh.close();
  }
}

async function sqlitePass(liveFile: string, c: Copying): Promise<Pass> {
  const file = path.join(c.target, "database.sqlite");
  const part = `${file}.part`;
  await fsp.rm(part, { force: true });
  await backupSqlite(liveFile, part);
  const copy = openSqliteCopy(part);
  let pass: Omit<Pass, "database">;
  try {
    pass = await copyBlobs(copy, c);
  } finally {
    await copy.destroy();
  }
  await fsp.chmod(part, 0o600);
  const hashed = await hashStream(readFile(part));
  await fsp.rename(part, file);
  return { ...pass, database: { kind: "sqlite", file: "database.sqlite", ...hashed } };
}

/**
 * pg_dump runs on a snapshot exported by the transaction the blob list is read in: both see the
 * same committed state. It runs while the blobs are copied.
 */
async function postgresPass(databaseUrl: string, c: Copying): Promise<Pass> {
  const file = path.join(c.target, "database.pgdump");
  const part = `${file}.part`;
  const db = openDatabase(databaseUrl);
  try {
    await pingDatabase(db).catch((err: unknown) => {
      let reason = (err as Error)?.message ?? String(err);
      for (const secret of urlSecrets(databaseUrl)) reason = reason.split(secret).join("***");
      throw new DatabaseUnavailable(redactUrl(databaseUrl), reason);
    });
    const pass = await withExportedSnapshot(db, async (trx, snapshot) => {
      const dump = runPgTool("pg_dump", databaseUrl, ["--format=custom", `--snapshot=${snapshot}`, `--file=${part}`]).catch((err: Error) => {
        c.stopped = err;
        throw err;
      });
      const [dumped, copied] = await Promise.allSettled([dump, copyBlobs(trx, c)]);
      if (dumped.status === "rejected") throw dumped.reason;
      if (copied.status === "rejected") throw copied.reason;
      return copied.value;
    });
    await fsp.chmod(part, 0o600);
    const hashed = await hashStream(readFile(part));
    await fsp.rename(part, file);
    return { ...pass, database: { kind: "postgres", file: "database.pgdump", ...hashed } };
  } finally {
    await fsp.rm(part, { force: true });
    await closeDatabase(db);
  }
}

/** Every blob the rows of `db` refer to: copied (local disk) or checked (S3), listed in `c.list`. */
async function copyBlobs(db: Knex, c: Copying): Promise<Omit<Pass, "database">> {
  const pass: Omit<Pass, "database"> = { instanceId: await instanceId(db), fileCount: 0, blobCount: 0, blobBytes: 0, missing: [] };
  let after: HeldFile | undefined;
  let lastKey = "";
  for (;;) {
    const rows = await heldFilesAfter(db, after, PAGE);
    for (const row of rows) {
      if (c.stopped) throw c.stopped;
      pass.fileCount++;
      if (row.storage_key === lastKey) continue;
      lastKey = row.storage_key;
      const problem = c.blobs.kind === "local" ? await copyLocalBlob(row, c) : await checkBucketBlob(row, c.blobs);
      if (problem) {
        pass.missing.push({ key: row.storage_key, file_id: row.id, package_id: row.package_id, size: row.size, ...problem });
        continue;
      }
      pass.blobCount++;
      pass.blobBytes += row.size;
      if (!c.list.write(`${JSON.stringify({ key: row.storage_key, size: row.size, sha256: row.sha256 })}\n`)) {
        await new Promise<void>((resolve) => c.list.once("drain", () => resolve()));
      }
      if (pass.blobCount % 1000 === 0) c.progress(`backup: ${pass.blobCount} blobs (${formatBytes(pass.blobBytes)}) so far`);
    }
    if (rows.length < PAGE) break;
    after = rows.at(-1);
  }
  return pass;
}

type Problem = { reason: string; gone: boolean } | undefined;

/** The first of `files` that exists, opened for reading. */
async function openFirst(files: string[]): Promise<fsp.FileHandle | undefined> {
  for (const f of files) {
    const fh = await fsp.open(f, "r").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (fh) return fh;
  }
  return undefined;
}

const mismatch = (got: Hashed, row: HeldFile) => `the stored bytes (${got.size} bytes) hash to ${got.sha256}; the files table says ${row.size} bytes, ${row.sha256}`;

/**
 * Copies one local blob into `<backup>/blobs/<2 hex>/<key>`, from its place or, deleted during
 * the hold, from where the hold keeps it. A copy an earlier pass made and checked is kept.
 */
async function copyLocalBlob(row: HeldFile, c: Copying): Promise<Problem> {
  const key = row.storage_key;
  const dest = path.join(c.target, "blobs", key.slice(0, 2), key);
  const had = await fsp.stat(dest).catch(() => undefined);
  if (had?.size === row.size) return undefined;
  const fh = await openFirst([c.blobs.filePath!(key), ...(c.hold ? [c.hold.heldPath(key)] : [])]);
  if (!fh) return { reason: `not in ${c.blobs.where}`, gone: true };
  let got: Hashed;
  try {
    got = await copyHashed(readFile(fh), dest);
  } finally {
    await fh.close();
  }
  if (got.size === row.size && got.sha256 === row.sha256) return undefined;
  await fsp.rm(dest, { force: true });
  return { reason: mismatch(got, row), gone: false };
}

/** One object in the bucket: there, with the recorded size. */
async function checkBucketBlob(row: HeldFile, blobs: BlobAccess): Promise<Problem> {
  const size = await blobs.size(row.storage_key);
  if (size === undefined) return { reason: `not in ${blobs.where}`, gone: true };
  if (size !== row.size) return { reason: `the object has ${size} bytes; the files table says ${row.size}`, gone: false };
  return undefined;
}
