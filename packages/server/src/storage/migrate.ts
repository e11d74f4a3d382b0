import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Knex } from "knex";
import type { Config } from "../config.js";
import { isPostgres } from "../db/knex.js";
import { tryAdvisoryLock, tryExclusiveLock } from "../db/instance-lock.js";
import { countFiles, fileCopiesAfter, type FileCopy } from "../db/files.js";
import { LocalBlobStore } from "./local.js";
import { S3BlobStore } from "./s3.js";

export interface MigrationSummary {
  /** Files whose bytes were copied (and verified) in this run. */
  copied: number;
  copiedBytes: number;
  /** Files already in the bucket with the right size and SHA-256 (an earlier run copied them). */
  skipped: number;
  /** Files of purged packages: their bytes were deleted on purpose, nothing to copy. */
  purged: number;
  /** Files whose local bytes are missing or do not hash to the recorded SHA-256 (nothing left in the bucket for them). */
  failed: { fileId: string; reason: string }[];
  total: number;
}

/** Another `storage migrate` holds the lock on this database. */
export class MigrationLocked extends Error {}

/** Stopped by its signal (Ctrl-C): `message` says how far it got, and that a rerun resumes. */
export class MigrationInterrupted extends Error {}

/** Any fixed number: the PostgreSQL advisory lock one `storage migrate` holds while it runs. */
const STORAGE_MIGRATE_LOCK = 7_305_119_403;

/**
 * One `storage migrate` at a time per database: on PostgreSQL a session advisory lock (on a
 * connection of its own, held until release), on SQLite an operating-system lock on
 * `<database>.storage-migrate-lock` (not the server's instance lock: the copy is meant to run
 * while the server still serves). Both go away with the process, however it ends.
 */
export async function lockStorageMigration(db: Knex, databaseUrl: string): Promise<() => Promise<void>> {
  const busy = () => new MigrationLocked("another storage migrate is already running on this database: wait for it to finish (or stop it), then run this again");
  if (isPostgres(db)) {
    const release = await tryAdvisoryLock(db, STORAGE_MIGRATE_LOCK);
    if (!release) throw busy();
    return release;
  }
  const file = databaseUrl.slice("sqlite://".length);
  if (file === ":memory:") return async () => undefined;
  const release = tryExclusiveLock(`${path.resolve(file)}.storage-migrate-lock`);
  if (!release) throw busy();
  return async () => release();
}

const PAGE = 500;
const MiB = 1024 * 1024;

function human(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}

/**
 * `speedyfiles-server storage migrate --to s3`: copies every file's bytes from the local store
 * (`SF_DATA_DIR/blobs`) to the bucket under the same storage key, so the database needs no
 * change. Resumable: an object already there with the file's size and our `sha256` metadata is
 * skipped. Each copy is hashed on the way and compared with the SHA-256 the files table
 * recorded at upload; a mismatch removes the object and is reported. Switches nothing: the
 * servers keep using what SF_STORAGE says until restarted with SF_STORAGE=s3.
 */
export async function migrateToS3(db: Knex, config: Readonly<Config>, print: (line: string) => void, signal?: AbortSignal): Promise<MigrationSummary> {
  if (!config.s3) throw new Error("no bucket configured");
  const local = new LocalBlobStore(config.dataDir);
  const s3 = new S3BlobStore(config.s3, { maxFileBytes: config.maxFileBytes });
  try {
    await s3.check().catch((err: unknown) => {
      throw new Error(`cannot reach the bucket ${config.s3!.bucket}: ${(err as Error)?.message ?? String(err)}`);
    });
    const total = await countFiles(db);
    const summary: MigrationSummary = { copied: 0, copiedBytes: 0, skipped: 0, purged: 0, failed: [], total };
    print(`copying the bytes of ${total} files from ${config.dataDir}/blobs to s3://${config.s3.bucket}/${config.s3.prefix}`);
    let done = 0;
    let after = "";
    for (;;) {
      const rows: FileCopy[] = await fileCopiesAfter(db, after, PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        done++;
        const size = Number(row.size);
        const at = `[${done}/${total}]`;
        const stopped = () =>
          new MigrationInterrupted(
            `storage migrate: interrupted at file ${done}/${total} (${summary.copied} copied, ${summary.skipped} already in the bucket); ` +
              "the copy in progress was aborted, nothing was switched: run the same command again to resume (files already copied are skipped)",
          );
        if (signal?.aborted) throw stopped();
        let outcome: Awaited<ReturnType<typeof migrateOne>>;
        try {
          outcome = await migrateOne(local, s3, { ...row, size }, signal);
        } catch (err) {
          if (signal?.aborted) throw stopped();
          throw err;
        }
        if (signal?.aborted && outcome !== "skipped" && outcome !== "copied") throw stopped();
        if (outcome === "skipped") summary.skipped++;
        else if (outcome === "copied") {
          summary.copied++;
          summary.copiedBytes += size;
        } else if (row.purged_at !== null && outcome.missing) summary.purged++;
        else summary.failed.push({ fileId: row.id, reason: outcome.reason });
        const what = typeof outcome === "string" ? outcome : row.purged_at !== null && outcome.missing ? "purged, nothing to copy" : `FAILED: ${outcome.reason}`;
        print(`${at} ${row.storage_key} ${human(size)} ${what}`);
      }
      after = rows[rows.length - 1]!.storage_key;
    }
    return summary;
  } finally {
    s3.close();
  }
}

/** The SHA-256 (hex) of a local file: one sequential read. */
async function hashFile(file: string, signal?: AbortSignal): Promise<string> {
  const hash = crypto.createHash("sha256");
  await pipeline(fs.createReadStream(file, { highWaterMark: MiB }), hash, { signal });
  return hash.digest("hex");
}

/**
 * One file. The local bytes are hashed *before* anything is sent: the object's `sha256` metadata
 * (what a later run trusts to skip it) is only ever written for bytes already found to match the
 * files table, so no crash can leave a corrupt object that a rerun would skip. The cost is a
 * second sequential read of each copied file (the upload hashes again on the way, in case the
 * file changed in between); files already in the bucket are not read at all.
 */
async function migrateOne(
  local: LocalBlobStore,
  s3: S3BlobStore,
  row: { id: string; storage_key: string; size: number; sha256: string },
  signal?: AbortSignal,
): Promise<"copied" | "skipped" | { reason: string; missing: boolean }> {
  const there = await s3.head(row.storage_key);
  if (there && there.size === row.size && there.sha256 === row.sha256) return "skipped";
  const file = local.filePath(row.storage_key);
  const stat = await fsp.stat(file).catch(() => undefined);
  if (!stat) return { reason: `the local file ${file} is missing`, missing: true };
  if (stat.size !== row.size) return { reason: `the local file has ${stat.size} bytes, the files table says ${row.size}`, missing: false };
  const before = await hashFile(file, signal);
  if (before !== row.sha256) return { reason: `the local bytes hash to ${before}, the files table says ${row.sha256}`, missing: false };
  const hash = crypto.createHash("sha256");
  const source = fs.createReadStream(file, { highWaterMark: MiB });
  source.on("data", (c) => hash.update(c as Buffer));
  const put = await s3.putAs(row.storage_key, source, { sha256: row.sha256 }, signal);
  const got = hash.digest("hex");
  if (got !== row.sha256 || put.size !== row.size) {
    // Changed between the two reads: never leave an object that does not match its record.
    await s3.delete(row.storage_key);
    return { reason: `the local bytes changed while being copied (they now hash to ${got}, the files table says ${row.sha256})`, missing: false };
  }
  return "copied";
}
