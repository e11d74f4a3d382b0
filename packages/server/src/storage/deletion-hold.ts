import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import Database from "better-sqlite3";
import { tryExclusiveLock } from "../db/instance-lock.js";

/**
 * While `speedyfiles-server backup` copies the blobs of local disk, deletions wait: a blob the
 * backup's database snapshot refers to may be deleted by the running server (a package deleted or
 * purged after the snapshot) before the backup reaches it. During a hold, LocalBlobStore.delete
 * moves the blob into `<dataDir>/backup-hold/blobs/` instead of removing it (a rename: no copy),
 * where the backup still finds it; the backup removes what was held when it ends.
 *
 * The hold is an operating-system lock (SQLite's, as db/instance-lock.ts) on
 * `<dataDir>/backup-hold/lock`: the backup holds it exclusively; a delete takes it shared for as
 * long as it deletes. So a delete is either wholly before the hold began (the backup waited for
 * it) or sees the hold. The lock goes with the process however it ends: a backup that crashed
 * holds nothing, and what it left held is removed by the next sweep (releaseLeftovers).
 */
const HOLD_DIR = "backup-hold";
const LOCK_FILE = "lock";
/** One backup at a time: held for the whole backup, so a second one is refused at once. */
const BACKUP_LOCK_FILE = "backup-lock";
const HELD_DIR = "blobs";

const holdDir = (dataDir: string) => path.join(dataDir, HOLD_DIR);
const lockFile = (dataDir: string) => path.join(holdDir(dataDir), LOCK_FILE);
const heldDir = (dataDir: string) => path.join(holdDir(dataDir), HELD_DIR);

/** Another backup holds deletions on this data folder. */
export class HoldBusy extends Error {}

export interface DeletionHold {
  /** Where a blob deleted during the hold is kept until the hold ends. */
  heldPath(key: string): string;
  /** Removes what was held (its deletion was wanted), then ends the hold. */
  release(): Promise<void>;
}

/**
 * Holds the deletions of the local blob store in `dataDir`, waiting up to `waitMs` for deletes in
 * progress to finish. Throws HoldBusy when another backup holds them.
 */
export async function holdDeletions(dataDir: string, waitMs = 30_000): Promise<DeletionHold> {
  await fsp.mkdir(heldDir(dataDir), { recursive: true, mode: 0o700 });
  const releaseBackup = tryExclusiveLock(path.join(holdDir(dataDir), BACKUP_LOCK_FILE));
  if (!releaseBackup) throw new HoldBusy("another backup is running on this data folder (it holds the blobs' deletions): wait for it to finish, then run this again");
  const lock = new Database(lockFile(dataDir), { timeout: waitMs });
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)");
    // The first write takes the exclusive lock once every shared one (a delete in progress) is
    // released, and EXCLUSIVE locking mode keeps it until the connection closes.
    lock.exec("BEGIN EXCLUSIVE");
    lock.exec("DELETE FROM holder");
    lock.prepare("INSERT INTO holder (pid) VALUES (?)").run(process.pid);
    lock.exec("COMMIT");
  } catch (err) {
    lock.close();
    releaseBackup();
    if ((err as { code?: string }).code === "SQLITE_BUSY") throw new HoldBusy(`deletions kept the blob store busy for ${waitMs / 1000} s: run the backup again`);
    throw err;
  }
  return {
    heldPath: (key) => path.join(heldDir(dataDir), key),
    async release() {
      try {
        await removeHeld(dataDir);
      } finally {
        lock.close();
        releaseBackup();
      }
    },
  };
}

/**
 * Runs `fn` with the hold's shared lock taken (`held` false), or without it when a backup holds
 * deletions (`held` true). No lock file (no backup ever ran here): `fn(false)` at once.
 */
async function withHoldState<T>(dataDir: string, fn: (held: boolean) => Promise<T>): Promise<T> {
  if (!fs.existsSync(lockFile(dataDir))) return fn(false);
  let lock: Database.Database | undefined;
  let held = false;
  try {
    lock = new Database(lockFile(dataDir), { timeout: 0, fileMustExist: true });
    lock.exec("BEGIN");
    // Any read takes the shared lock, kept until the transaction ends.
    lock.prepare("SELECT count(*) FROM sqlite_master").get();
  } catch (err) {
    if ((err as { code?: string }).code === "SQLITE_BUSY") held = true;
    // Anything else (a damaged lock file): no backup can be holding through it either.
  }
  try {
    return await fn(held);
  } finally {
    if (lock?.inTransaction) lock.exec("COMMIT");
    lock?.close();
  }
}

/**
 * Deletes the blob `file` (named `key`), or, while a backup holds deletions, moves it aside where
 * the backup still finds it. Missing already: nothing to do.
 */
export async function deleteOrHold(dataDir: string, key: string, file: string): Promise<void> {
  await withHoldState(dataDir, async (held) => {
    if (!held) {
      await fsp.rm(file, { force: true });
      return;
    }
    await fsp.rename(file, path.join(heldDir(dataDir), key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  });
}

/** Removes every held blob. */
async function removeHeld(dataDir: string): Promise<number> {
  let names: string[];
  try {
    names = await fsp.readdir(heldDir(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  for (const name of names) await fsp.rm(path.join(heldDir(dataDir), name), { force: true });
  return names.length;
}

/**
 * What a backup left held when it ended without releasing (killed), or what a delete moved aside
 * just as a hold ended: removed when no backup holds deletions. Run with the store's start and
 * sweeps; resolves with how many blobs went.
 */
export async function releaseLeftovers(dataDir: string): Promise<number> {
  return withHoldState(dataDir, async (held) => (held ? 0 : removeHeld(dataDir)));
}
