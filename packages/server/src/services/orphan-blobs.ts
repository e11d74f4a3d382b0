import { queuedBlobDeletionKeys } from "../db/blob-deletions.js";
import { storageKeysInUse } from "../db/files.js";
import { instanceId } from "../db/instance.js";
import type { ListedBlob } from "../storage/blob-store.js";
import type { Services } from "./context.js";

/** Keys looked up in the database at once. */
const BATCH = 500;
/** A listing of the whole store is not cheap (a request per 1,000 objects on S3): once an hour per process at most. */
const SCAN_EVERY_MS = 60 * 60_000;

const lastScan = new WeakMap<Services, number>();

/**
 * The share guard: when more than this many old blobs have no row, and they are more than
 * GUARD_SHARE of the blobs listed, the sweep removes none and warns. Crashes between a store's
 * write and its commit are rare, and leave a blob each: a store whose unreferenced blobs are many
 * and a sizeable part of it is far likelier looked at through the wrong database (an old backup,
 * another instance's) than full of real orphans. A small store is still cleaned (a handful of
 * orphans, whatever their share), and a large one's few orphans too.
 */
export const GUARD_COUNT = 20;
export const GUARD_SHARE = 0.05;

/** The marker's content: which database the store belongs to. */
function markerText(instance: string): string {
  return `${JSON.stringify({ instance, written_at: new Date().toISOString(), by: "speedyfiles orphan sweep" })}\n`;
}

/** The instance id a marker names ("unreadable" for one that is not ours or is damaged). */
function markerInstance(text: string): string {
  try {
    const id = (JSON.parse(text) as { instance?: unknown }).instance;
    return typeof id === "string" && id !== "" ? id : "unreadable";
  } catch {
    return "unreadable";
  }
}

/**
 * Lists the store and calls `orphan` for each blob older than `cutoff` that no row refers to (in
 * batches of keys looked up together); `orphan` answers false to stop. Resolves with how many
 * blobs were listed. Also what `speedyfiles-server check` reports unreferenced blobs with.
 */
export async function eachOrphan(s: Pick<Services, "db" | "storage">, cutoff: number, orphan: (blob: ListedBlob) => Promise<boolean>): Promise<number> {
  let listed = 0;
  let going = true;
  let batch: ListedBlob[] = [];
  const settle = async () => {
    const blobs = batch;
    batch = [];
    const keys = blobs.map((b) => b.key);
    const [inFiles, queued] = await Promise.all([storageKeysInUse(s.db, keys), queuedBlobDeletionKeys(s.db, keys)]);
    for (const blob of blobs) {
      if (inFiles.has(blob.key) || queued.has(blob.key)) continue;
      if (!(going = await orphan(blob))) return;
    }
  };
  if (!s.storage.listBlobs) return 0;
  for await (const blob of s.storage.listBlobs()) {
    listed++;
    if (!going || blob.modifiedAt.getTime() >= cutoff) continue;
    batch.push(blob);
    if (batch.length >= BATCH) await settle();
  }
  if (batch.length > 0 && going) await settle();
  return listed;
}

/**
 * Removes stored blobs that no row refers to and that are older than `SF_ORPHAN_GRACE_HOURS`:
 * what a crash between the store's write and the database commit left (the bytes are durable
 * before the row is written, so that no row ever points at missing bytes). A blob younger than
 * the grace is never touched, as its commit may still be on its way. Referring rows: `files`
 * (every file, purged packages' too) and `blob_deletions` (bytes whose deletion is queued and
 * retried by its own job). The store is listed a page at a time and looked up in batches, so
 * memory stays flat whatever its size. Ages are the store's own times (file mtime, S3
 * LastModified) against the real clock. Returns how many blobs were removed; the sweeper logs it.
 *
 * Two guards keep a database that is not the store's own from emptying it:
 * - the store's marker names the database it belongs to (written by the first sweep that finds
 *   none and passes the share guard): a store whose marker names another database is left alone;
 * - the share guard (GUARD_COUNT, GUARD_SHARE): a first pass counts the unreferenced old blobs,
 *   and too many of them remove none. The second pass, which removes, checks each blob again and
 *   stops at what the guard allows.
 */
export async function removeOrphanBlobs(s: Services): Promise<number> {
  if (!s.storage.listBlobs) return 0;
  const store = s.storage.markerLocation ?? "the blob store";
  const databaseInstance = await instanceId(s.db);
  const marker = s.storage.readMarker ? await s.storage.readMarker() : undefined;
  const mismatch = (storeInstance: string) =>
    s.logger.warn(
      { store, storeInstance, databaseInstance },
      `the blob store belongs to another database: its marker (${store}) names instance ${storeInstance}, this database is instance ${databaseInstance}. ` +
        "No orphaned blobs are removed. If SF_DATABASE_URL, SF_DATA_DIR or SF_S3_BUCKET/SF_S3_PREFIX point at the wrong place, correct them; " +
        "if this database is the store's own (restored or moved on purpose), delete the marker and the next sweep writes this database's",
    );
  if (marker !== undefined && markerInstance(marker) !== databaseInstance) {
    mismatch(markerInstance(marker));
    return 0;
  }
  const cutoff = Date.now() - s.config.orphanGraceHours * 3_600_000;
  let unreferenced = 0;
  const listed = await eachOrphan(s, cutoff, async () => {
    unreferenced++;
    return true;
  });
  const allowed = Math.max(GUARD_COUNT, Math.floor(listed * GUARD_SHARE));
  if (unreferenced > allowed) {
    s.logger.warn(
      { store, unreferenced, listed, databaseInstance },
      `${unreferenced} of the ${listed} blobs in ${store} are older than the grace and no row of this database refers to them: ` +
        `more than ${GUARD_COUNT} and more than ${GUARD_SHARE * 100}% of the store, so none are removed. ` +
        "Check that SF_DATABASE_URL is this store's database (not an old backup, not another instance's); if these blobs are really unwanted, remove them by hand",
    );
    return 0;
  }
  if (marker === undefined && s.storage.readMarker && s.storage.writeMarker) {
    await s.storage.writeMarker(markerText(databaseInstance));
    // Read back: another database's sweep may have written its marker first.
    const written = await s.storage.readMarker();
    const owner = written === undefined ? databaseInstance : markerInstance(written);
    if (owner !== databaseInstance) {
      mismatch(owner);
      return 0;
    }
  }
  if (unreferenced === 0) return 0;
  let removed = 0;
  await eachOrphan(s, cutoff, async ({ key }) => {
    await s.storage.delete(key);
    return ++removed < allowed;
  });
  return removed;
}

/** removeOrphanBlobs at most once per SCAN_EVERY_MS in this process (the first sweep after start always). */
export async function removeOrphanBlobsWhenDue(s: Services): Promise<number> {
  const last = lastScan.get(s);
  if (last !== undefined && Date.now() - last < SCAN_EVERY_MS) return 0;
  lastScan.set(s, Date.now());
  return removeOrphanBlobs(s);
}
