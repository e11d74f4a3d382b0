import { queuedBlobDeletionKeys } from "../db/blob-deletions.js";
import { storageKeysInUse } from "../db/files.js";
import type { Services } from "./context.js";

/** Keys looked up in the database at once. */
const BATCH = 500;
/** A listing of the whole store is not cheap (a request per 1,000 objects on S3): once an hour per process at most. */
const SCAN_EVERY_MS = 60 * 60_000;

const lastScan = new WeakMap<Services, number>();

/**
 * Removes stored blobs that no row refers to and that are older than `SF_ORPHAN_GRACE_HOURS`:
 * what a crash between the store's write and the database commit left (the bytes are durable
 * before the row is written, so that no row ever points at missing bytes). A blob younger than
 * the grace is never touched, as its commit may still be on its way. Referring rows: `files`
 * (every file, purged packages' too) and `blob_deletions` (bytes whose deletion is queued and
 * retried by its own job). The store is listed a page at a time and looked up in batches, so
 * memory stays flat whatever its size. Ages are the store's own times (file mtime, S3
 * LastModified) against the real clock. Returns how many blobs were removed; the sweeper logs it.
 */
export async function removeOrphanBlobs(s: Services): Promise<number> {
  if (!s.storage.listBlobs) return 0;
  const cutoff = Date.now() - s.config.orphanGraceHours * 3_600_000;
  let removed = 0;
  let batch: string[] = [];
  const settle = async () => {
    const keys = batch;
    batch = [];
    const [inFiles, queued] = await Promise.all([storageKeysInUse(s.db, keys), queuedBlobDeletionKeys(s.db, keys)]);
    for (const key of keys) {
      if (inFiles.has(key) || queued.has(key)) continue;
      await s.storage.delete(key);
      removed++;
    }
  };
  for await (const blob of s.storage.listBlobs()) {
    if (blob.modifiedAt.getTime() >= cutoff) continue;
    batch.push(blob.key);
    if (batch.length >= BATCH) await settle();
  }
  if (batch.length > 0) await settle();
  return removed;
}

/** removeOrphanBlobs at most once per SCAN_EVERY_MS in this process (the first sweep after start always). */
export async function removeOrphanBlobsWhenDue(s: Services): Promise<number> {
  const last = lastScan.get(s);
  if (last !== undefined && Date.now() - last < SCAN_EVERY_MS) return 0;
  lastScan.set(s, Date.now());
  return removeOrphanBlobs(s);
}
